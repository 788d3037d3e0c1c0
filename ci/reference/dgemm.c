/* The yardstick for parlab's matmul: OpenBLAS dgemm (Debian's libopenblas-dev) on the same
 * inputs as parlab's matmul (a_k = 2 u(seed, k) - 1, b_k = 2 u(seed, n^2 + k) - 1, with u the
 * splitmix64 counter stream's top 53 bits), row-major C = A * B, 2 n^3 FLOP per run.
 * Not a product path: ci/reference/yardsticks.sh runs it beside parlab in one sitting.
 * Build: gcc -O3 -march=native dgemm.c -o dgemm -lopenblas
 * Run:   OMP_NUM_THREADS=2 ./dgemm [n] [repetitions] [seed]
 *        (OpenBLAS reads OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS)                              */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const uint64_t GAMMA = 0x9E3779B97F4A7C15ULL;

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double unit(uint64_t seed, uint64_t k) {
    return (double)(mix64(seed + k * GAMMA) >> 11) * (1.0 / 9007199254740992.0);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2048;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 42;
    uint64_t nn = (uint64_t)n * n;
    double *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) { fprintf(stderr, "out of memory\n"); return 1; }
    for (uint64_t k = 0; k < nn; k++) {
        a[k] = 2.0 * unit(seed, k) - 1.0;
        b[k] = 2.0 * unit(seed, nn + k) - 1.0;
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        t = now() - t;
        if (t < best) best = t;
    }
    /* One element against its dot product, so a wrong call cannot pass unnoticed. */
    double want = 0.0;
    for (long k = 0; k < n; k++) want += a[(n / 2) * n + k] * b[k * n + n / 3];
    double got = c[(n / 2) * n + n / 3], err = got > want ? got - want : want - got;
    if (err > 8.0 * n * 2.220446049250313e-16 * n) { fprintf(stderr, "wrong result\n"); return 1; }
    printf("threads=%d n=%ld best_s=%.6f GFLOP/s=%.2f\n", openblas_get_num_threads(), n, best,
           2.0 * n * n * n / best / 1e9);
    free(a); free(b); free(c);
    return 0;
}
