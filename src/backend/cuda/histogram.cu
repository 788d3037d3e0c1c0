// histogram: counts of bin numbers, in two kernels.
//
// `histogram_shared`: block g counts the items [g * per_group, (g + 1) * per_group) into `bins`
// counters in shared memory (dynamic, 4 * bins bytes) with shared-memory atomics (only the
// block's threads contend for them), then writes them out as row g of `partial`, which nobody
// else writes: no global atomic. `histogram_merge`: a thread per bin sums that bin's column of
// `partial` into a 64-bit count. Per block the counts fit in 32 bits: the host keeps
// `per_group` below 2^32.
//
// Where the bins do not fit in shared memory, `histogram_global` counts every item with a global
// atomic into one row of 32-bit counters (zeroed first; the host keeps the item count below
// 2^32), which `histogram_merge` then widens with `groups` = 1. Integers only.

extern "C" __global__ void histogram_shared(const unsigned int *items, const unsigned long long n,
                                            const unsigned int bins, const unsigned long long per_group,
                                            unsigned int *partial) {
    extern __shared__ unsigned int local_bins[];
    for (unsigned int b = threadIdx.x; b < bins; b += blockDim.x) {
        local_bins[b] = 0;
    }
    __syncthreads();
    unsigned long long start = (unsigned long long)blockIdx.x * per_group;
    unsigned long long end = start + per_group < n ? start + per_group : n;
    for (unsigned long long k = start + threadIdx.x; k < end; k += blockDim.x) {
        atomicAdd(&local_bins[items[k]], 1u);
    }
    __syncthreads();
    for (unsigned int b = threadIdx.x; b < bins; b += blockDim.x) {
        partial[(unsigned long long)blockIdx.x * bins + b] = local_bins[b];
    }
}

extern "C" __global__ void histogram_global(const unsigned int *items, const unsigned long long n,
                                            unsigned int *partial) {
    unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k < n) {
        atomicAdd(&partial[items[k]], 1u);
    }
}

extern "C" __global__ void histogram_merge(unsigned long long *counts, const unsigned int *partial,
                                           const unsigned int groups, const unsigned int bins) {
    unsigned long long b = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= bins) {
        return;
    }
    unsigned long long sum = 0;
    for (unsigned int g = 0; g < groups; g++) {
        sum += partial[(unsigned long long)g * bins + b];
    }
    counts[b] = sum;
}
