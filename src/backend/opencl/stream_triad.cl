// stream_triad: a = b + s * c, one element per work-item, in f64.
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF

__kernel void triad(__global double *a, __global const double *b, __global const double *c,
                    const double s, const ulong n) {
    size_t i = get_global_id(0);
    if (i < n) {
        a[i] = b[i] + s * c[i];
    }
}
