/* OSU-style yardstick for parlab's MPI `ping_pong` and `bandwidth` (written for parlab, in the
 * manner of the OSU micro-benchmarks' osu_latency and osu_bw, not copied from them).
 *
 *   mpirun -n 2 --bind-to core osu latency   [-i SMALL] [-I LARGE] SIZE...
 *   mpirun -n 2 --bind-to core osu bandwidth [-i SMALL] [-I LARGE] [-w WINDOW] SIZE...
 *
 * latency: rank 0 sends its message (MPI_Send) from one buffer and receives the answer into
 * another (MPI_Recv), as osu_latency's s_buf and r_buf; rank 1 receives into its buffer and
 * sends that back. The one-way latency is
 * half the round trip, averaged over the timed iterations.
 * bandwidth: rank 0 posts WINDOW (64) MPI_Isend of SIZE bytes from consecutive pieces of one
 * buffer, waits for all, then receives a 4-byte acknowledgement; rank 1 posts WINDOW MPI_Irecv
 * into consecutive, distinct pieces of its buffer (pending receives may not share a buffer),
 * waits for all, and sends the acknowledgement. Bandwidth = bytes of the messages / time.
 * Iterations: osu_latency's defaults, SMALL (10000) up to 8 KiB and LARGE (1000) above, for
 * both (osu_bw's own counts are lower; -i and -I set them, as mpi-yardstick.sh does); 1% of them
 * (at least one) are untimed warm-up first. These are parlab's layouts, so that the ratio
 * compares the libraries' paths and parlab's own overhead, not buffer placement.
 *
 * Rank 0 prints one line per size:
 *   latency size=8 iterations=10000 one_way_ns=312.4
 *   bandwidth size=8 window=64 iterations=10000 bytes_per_s=1.234e+08
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LARGE_MESSAGE 8192
#define ACK_BYTES 4

static void usage(void) {
    fprintf(stderr, "usage: osu latency|bandwidth [-i SMALL] [-I LARGE] [-w WINDOW] SIZE...\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
}

static long parse(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1) usage();
    return v;
}

static void *filled(size_t bytes, int value) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "osu: cannot allocate %zu bytes\n", bytes);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    memset(p, value, bytes); /* touched now: no page faults in the timed loop */
    return p;
}

static double latency(int rank, size_t size, long iters, long skip) {
    char *send = filled(size, rank == 0 ? 'a' : 0);
    char *buf = filled(size, 0);
    double start = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    for (long i = 0; i < skip + iters; i++) {
        if (i == skip) start = MPI_Wtime();
        if (rank == 0) {
            MPI_Send(send, (int)size, MPI_CHAR, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)size, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(buf, (int)size, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, (int)size, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
        }
    }
    double elapsed = MPI_Wtime() - start;
    free(send);
    free(buf);
    return elapsed * 1e9 / (2.0 * iters);
}

static double bandwidth(int rank, size_t size, long window, long iters, long skip) {
    char *bufs = filled(size * window, rank == 0 ? 'a' : 0);
    MPI_Request *reqs = malloc(sizeof(MPI_Request) * window);
    char ack[ACK_BYTES] = {0};
    double start = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    for (long i = 0; i < skip + iters; i++) {
        if (i == skip) start = MPI_Wtime();
        if (rank == 0) {
            for (long j = 0; j < window; j++)
                MPI_Isend(bufs + j * size, (int)size, MPI_CHAR, 1, 0, MPI_COMM_WORLD, &reqs[j]);
            MPI_Waitall((int)window, reqs, MPI_STATUSES_IGNORE);
            MPI_Recv(ack, ACK_BYTES, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            for (long j = 0; j < window; j++)
                MPI_Irecv(bufs + j * size, (int)size, MPI_CHAR, 0, 0, MPI_COMM_WORLD, &reqs[j]);
            MPI_Waitall((int)window, reqs, MPI_STATUSES_IGNORE);
            MPI_Send(ack, ACK_BYTES, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
        }
    }
    double elapsed = MPI_Wtime() - start;
    free(reqs);
    free(bufs);
    return (double)size * window * iters / elapsed;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (ranks != 2) {
        if (rank == 0) fprintf(stderr, "osu: runs on exactly 2 ranks, not %d\n", ranks);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (argc < 3) usage();
    int is_latency = strcmp(argv[1], "latency") == 0;
    if (!is_latency && strcmp(argv[1], "bandwidth") != 0) usage();
    long small = 10000, large = 1000, window = 64;
    int a = 2;
    for (; a < argc && argv[a][0] == '-'; a += 2) {
        if (a + 1 >= argc) usage();
        if (strcmp(argv[a], "-i") == 0) small = parse(argv[a + 1]);
        else if (strcmp(argv[a], "-I") == 0) large = parse(argv[a + 1]);
        else if (strcmp(argv[a], "-w") == 0) window = parse(argv[a + 1]);
        else usage();
    }
    if (a == argc) usage();
    for (; a < argc; a++) {
        size_t size = (size_t)parse(argv[a]);
        long iters = size > LARGE_MESSAGE ? large : small;
        long skip = iters / 100 > 0 ? iters / 100 : 1;
        if (is_latency) {
            double ns = latency(rank, size, iters, skip);
            if (rank == 0) printf("latency size=%zu iterations=%ld one_way_ns=%.1f\n", size, iters, ns);
        } else {
            double bps = bandwidth(rank, size, window, iters, skip);
            if (rank == 0)
                printf("bandwidth size=%zu window=%ld iterations=%ld bytes_per_s=%.4e\n", size, window,
                       iters, bps);
        }
        fflush(stdout);
    }
    MPI_Finalize();
    return 0;
}
