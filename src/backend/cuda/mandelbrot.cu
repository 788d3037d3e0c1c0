// mandelbrot: one thread per pixel, the CPU's scalar loop operation for operation, so the escape
// counts are exact. The row's imaginary part and the column's real part are computed as the CPU
// computes them, from the steps the host passes (RE_SPAN / w, IM_SPAN / w). Compiled with
// --fmad=false: each product rounds on its own, as on the CPU.

extern "C" __global__ void mandelbrot(unsigned int *image, const unsigned long long width,
                                      const unsigned int max_iter, const double re_min,
                                      const double re_step, const double im_max, const double im_step) {
    unsigned long long x = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned long long y = (unsigned long long)blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= width) {
        return;
    }
    double im = im_max - ((double)y + 0.5) * im_step;
    double re = re_min + ((double)x + 0.5) * re_step;
    double zr = 0.0, zi = 0.0;
    unsigned int n = 0;
    while (n < max_iter && zr * zr + zi * zi <= 4.0) {
        double t = zr * zr - zi * zi + re;
        zi = 2.0 * zr * zi + im;
        zr = t;
        n++;
    }
    image[y * width + x] = n;
}
