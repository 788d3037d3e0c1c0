// The empty kernel: its launch-to-completion time is the launch latency, measured at setup and
// reported beside every case (short kernels are compared with it).

extern "C" __global__ void empty() {}
