// nbody: one step of all-pairs gravity, a thread per body. Body i sums the accelerations of every
// body j in index order (j == i included: its distance is 0, so it adds 0) with the CPU's scalar
// loop operation for operation, then moves: v += a * dt, p += v * dt. Each body is six doubles
// (x, y, z, vx, vy, vz). A step reads `in` and writes `out`: no thread may see a body moved
// before every force is summed. The first step reads the initial state, which no step writes.
// Compiled with --fmad=false: each product and sum rounds on its own, as on the CPU (sqrt and
// the division are IEEE-rounded in double precision).

extern "C" __global__ void nbody_step(double *out, const double *in, const double *mass,
                                      const unsigned long long n, const double dt, const double softening2) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) {
        return;
    }
    const double px = in[6 * i], py = in[6 * i + 1], pz = in[6 * i + 2];
    double ax = 0.0, ay = 0.0, az = 0.0;
    for (unsigned long long j = 0; j < n; j++) {
        double dx = in[6 * j] - px;
        double dy = in[6 * j + 1] - py;
        double dz = in[6 * j + 2] - pz;
        double r2 = dx * dx + dy * dy + dz * dz + softening2;
        double s = mass[j] / (r2 * sqrt(r2));
        ax += s * dx;
        ay += s * dy;
        az += s * dz;
    }
    double vx = in[6 * i + 3] + ax * dt;
    double vy = in[6 * i + 4] + ay * dt;
    double vz = in[6 * i + 5] + az * dt;
    out[6 * i] = px + vx * dt;
    out[6 * i + 1] = py + vy * dt;
    out[6 * i + 2] = pz + vz * dt;
    out[6 * i + 3] = vx;
    out[6 * i + 4] = vy;
    out[6 * i + 5] = vz;
}
