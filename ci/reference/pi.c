/* The yardstick for parlab's pi_monte_carlo: the same counter-based splitmix64 RNG in plain C with
 * OpenMP. Sample i takes x from counter 2i and y from counter 2i + 1 (counter k is
 * mix64(seed + k * GAMMA)), each the top 53 bits scaled to [0, 1), and counts x*x + y*y <= 1,
 * so the hit count equals parlab's for the same seed (parlab's default seed is 42).
 * Not a product path: ci/reference/yardsticks.sh runs it beside parlab in one sitting.
 * Build: gcc -O3 -march=native -ffp-contract=off -fopenmp pi.c -o pi
 *        (-ffp-contract=off: no FMA in x*x + y*y, as in parlab, so the counts agree exactly)
 * Run:   OMP_NUM_THREADS=2 ./pi [samples] [repetitions] [seed]                                   */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const uint64_t GAMMA = 0x9E3779B97F4A7C15ULL;

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000000L;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 42;
    const double scale = 1.0 / 9007199254740992.0; /* 2^-53 */
    double best = 1e30;
    long hits = 0;
    for (int r = 0; r < reps; r++) {
        long inside = 0;
        double t = omp_get_wtime();
#pragma omp parallel for schedule(static) reduction(+ : inside)
        for (long i = 0; i < n; i++) {
            uint64_t c = seed + (uint64_t)(2 * i) * GAMMA;
            double x = (double)(mix64(c) >> 11) * scale;
            double y = (double)(mix64(c + GAMMA) >> 11) * scale;
            inside += x * x + y * y <= 1.0;
        }
        t = omp_get_wtime() - t;
        if (t < best) best = t;
        hits = inside;
    }
    printf("threads=%d n=%ld hits=%ld best_s=%.6f Msamples/s=%.1f\n", omp_get_max_threads(), n, hits, best,
           n / best / 1e6);
    return 0;
}
