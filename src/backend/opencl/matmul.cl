// matmul, naive: C = A * B for n x n row-major f64 matrices, one work-item per element of C,
// reading A's row and B's column straight from global memory (no local-memory tiling).
// Verified with the workload's tolerance, so the compiler may contract into fused multiply-adds.
#pragma OPENCL EXTENSION cl_khr_fp64 : enable

__kernel void matmul_naive(__global double *c, __global const double *a, __global const double *b,
                           const ulong n) {
    size_t j = get_global_id(0);
    size_t i = get_global_id(1);
    if (i >= n || j >= n) {
        return;
    }
    double sum = 0.0;
    for (ulong k = 0; k < n; k++) {
        sum += a[i * n + k] * b[k * n + j];
    }
    c[i * n + j] = sum;
}
