// pi_monte_carlo: the CPU version's counter-based generator (splitmix64's finaliser applied to
// seed + k * GAMMA; sample i uses counters 2i and 2i + 1), so the hit count is bit-exact.
// Work-item g counts the samples [g * per_item, (g + 1) * per_item) and writes partial[g].
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
// x * x + y * y must round twice, as on the CPU: no fused multiply-add.
#pragma OPENCL FP_CONTRACT OFF

#define GAMMA 0x9E3779B97F4A7C15UL

ulong mix64(ulong z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

__kernel void pi(__global ulong *partial, const ulong seed, const ulong samples, const ulong per_item) {
    size_t g = get_global_id(0);
    ulong start = (ulong)g * per_item;
    ulong end = min(start + per_item, samples);
    const double scale = 1.0 / 9007199254740992.0; // 2^-53
    ulong counter = seed + (2 * start) * GAMMA;
    ulong inside = 0;
    for (ulong i = start; i < end; i++) {
        double x = (double)(mix64(counter) >> 11) * scale;
        double y = (double)(mix64(counter + GAMMA) >> 11) * scale;
        counter += 2 * GAMMA;
        inside += (x * x + y * y <= 1.0) ? 1 : 0;
    }
    partial[g] = inside;
}
