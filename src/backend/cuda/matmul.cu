// matmul: C = A * B for n x n row-major f64 matrices. Verified with the workload's tolerance, so
// NVRTC may contract into fused multiply-adds (its default).

// Naive: one thread per element of C, reading A's row and B's column straight from global
// memory (no shared-memory tiling).
extern "C" __global__ void matmul_naive(double *c, const double *a, const double *b,
                                        const unsigned long long n) {
    unsigned long long j = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned long long i = (unsigned long long)blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= n || j >= n) {
        return;
    }
    double sum = 0.0;
    for (unsigned long long k = 0; k < n; k++) {
        sum += a[i * n + k] * b[k * n + j];
    }
    c[i * n + j] = sum;
}

// Tiled: each block of TILE x TILE threads computes a TILE x TILE block of C, staging TILE x TILE
// blocks of A and B in shared memory so that each global element is read once per block instead
// of once per product. The grid covers whole tiles; threads outside the matrix load zeros and
// write nothing. TILE is TILE in backend/cuda.rs.
#define TILE 16

extern "C" __global__ void __launch_bounds__(TILE * TILE)
matmul_tiled(double *c, const double *a, const double *b, const unsigned long long n) {
    __shared__ double ta[TILE][TILE];
    __shared__ double tb[TILE][TILE];
    unsigned int lj = threadIdx.x;
    unsigned int li = threadIdx.y;
    unsigned long long j = (unsigned long long)blockIdx.x * TILE + lj;
    unsigned long long i = (unsigned long long)blockIdx.y * TILE + li;
    double sum = 0.0;
    for (unsigned long long k0 = 0; k0 < n; k0 += TILE) {
        ta[li][lj] = (i < n && k0 + lj < n) ? a[i * n + k0 + lj] : 0.0;
        tb[li][lj] = (k0 + li < n && j < n) ? b[(k0 + li) * n + j] : 0.0;
        __syncthreads();
        for (int k = 0; k < TILE; k++) {
            sum += ta[li][k] * tb[k][lj];
        }
        __syncthreads();
    }
    if (i < n && j < n) {
        c[i * n + j] = sum;
    }
}
