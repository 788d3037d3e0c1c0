// stream_triad in f32 (`opencl-f32`): a = b + s * c, one element per work-item. No fp64: it runs
// on devices without it. The host rounds b, c and s to f32 and widens a back for the check.
#pragma OPENCL FP_CONTRACT OFF

__kernel void triad_f32(__global float *a, __global const float *b, __global const float *c, const float s,
                        const ulong n) {
    size_t i = get_global_id(0);
    if (i < n) {
        a[i] = b[i] + s * c[i];
    }
}
