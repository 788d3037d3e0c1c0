// stream_triad: a = b + s * c, one element per thread, in f64. Compiled with --fmad=false: the
// product rounds before the sum, as on the CPU, so the result matches it bit for bit.

extern "C" __global__ void triad(double *a, const double *b, const double *c, const double s,
                                 const unsigned long long n) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        a[i] = b[i] + s * c[i];
    }
}
