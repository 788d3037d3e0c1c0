// matmul in f32 (`opencl-f32`), naive: C = A * B for n x n row-major matrices, one work-item per
// element of C from global memory, products summed in f32. No fp64: it runs on devices without
// it. Held to the workload's f32 tolerance, so the compiler may contract into fused multiply-adds.

__kernel void matmul_naive_f32(__global float *c, __global const float *a, __global const float *b,
                               const ulong n) {
    size_t j = get_global_id(0);
    size_t i = get_global_id(1);
    if (i >= n || j >= n) {
        return;
    }
    float sum = 0.0f;
    for (ulong k = 0; k < n; k++) {
        sum += a[i * n + k] * b[k * n + j];
    }
    c[i * n + j] = sum;
}
