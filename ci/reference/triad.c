/* The yardstick for parlab's stream_triad: a plain C triad with OpenMP, STREAM byte counting.
 * Not a product path: ci/reference/yardsticks.sh runs it beside parlab in one sitting.
 * Build: gcc -O3 -march=native -fopenmp triad.c -o triad
 * Run:   OMP_NUM_THREADS=2 ./triad [elements per array] [repetitions]                      */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000000L;
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) { fprintf(stderr, "out of memory\n"); return 1; }
    const double s = 3.0;
    /* First touch by the threads that will use each page, as STREAM does. */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) { a[i] = 0.0; b[i] = 1.0 + (double)(i % 1024) * 0.5; c[i] = 2.0 + (double)(i % 512); }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        t = omp_get_wtime() - t;
        if (t < best) best = t;
    }
    /* Check one element so the compiler cannot drop the loop. */
    if (a[n / 2] != b[n / 2] + s * c[n / 2]) { fprintf(stderr, "wrong result\n"); return 1; }
    printf("threads=%d n=%ld best_s=%.6f GB/s=%.2f\n", omp_get_max_threads(), n, best, 24.0 * n / best / 1e9);
    free(a); free(b); free(c);
    return 0;
}
