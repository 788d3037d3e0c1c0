// pi_monte_carlo: the CPU version's counter-based generator (splitmix64's finaliser applied to
// seed + k * GAMMA; sample i uses counters 2i and 2i + 1), so the hit count is bit-exact.
// Compiled with --fmad=false: x * x + y * y must round twice, as on the CPU.
// Thread g counts the samples [g * per_item, (g + 1) * per_item); each block sums its threads'
// counts in shared memory and writes partial[blockIdx.x], which the host sums.

#define GAMMA 0x9E3779B97F4A7C15ULL
// Threads per block: a power of two, for the halving sum (PI_BLOCK in backend/cuda.rs).
#define PI_BLOCK 256

__device__ unsigned long long mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

extern "C" __global__ void __launch_bounds__(PI_BLOCK)
pi(unsigned long long *partial, const unsigned long long seed, const unsigned long long samples,
   const unsigned long long per_item) {
    __shared__ unsigned long long counts[PI_BLOCK];
    unsigned long long g = (unsigned long long)blockIdx.x * PI_BLOCK + threadIdx.x;
    unsigned long long start = g * per_item;
    unsigned long long end = start + per_item < samples ? start + per_item : samples;
    const double scale = 1.0 / 9007199254740992.0; // 2^-53
    unsigned long long counter = seed + (2 * start) * GAMMA;
    unsigned long long inside = 0;
    for (unsigned long long i = start; i < end; i++) {
        double x = (double)(mix64(counter) >> 11) * scale;
        double y = (double)(mix64(counter + GAMMA) >> 11) * scale;
        counter += 2 * GAMMA;
        inside += (x * x + y * y <= 1.0) ? 1 : 0;
    }
    counts[threadIdx.x] = inside;
    __syncthreads();
    for (unsigned int half = PI_BLOCK / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            counts[threadIdx.x] += counts[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = counts[0];
    }
}
