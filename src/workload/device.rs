//! What a device backend (OpenCL) needs of a case's kernel: the inputs it uploads and the output
//! it fills, named per workload so that the device code can stay in the backend.
//!
//! A kernel that has a device version answers [`super::Kernel::device`] with one of these; the
//! backend writes its result into the borrowed output, and the kernel's own
//! [`super::Kernel::verify`] checks it against the sequential reference like every other run.

use super::Unsupported;
use crate::strategy::Strategy;

/// Whether `workload`'s device kernel (which computes in f64) can run on the device the
/// `opencl` backend would choose: `Err` when that device has no fp64. With no device at all the
/// backend reports the case `unavailable` before this is asked.
pub fn fp64_support(workload: &'static str, strategy: &dyn Strategy) -> Result<(), Unsupported> {
    match crate::machine::opencl::chosen() {
        Ok(gpu) if gpu.fp64 == Some(false) => Err(Unsupported::new(
            workload,
            strategy,
            format!("the OpenCL device {} has no fp64, and `{workload}` computes in f64", gpu.name),
        )),
        _ => Ok(()),
    }
}

/// One case's device view: inputs borrowed from the prepared instance, the output from the kernel.
pub enum Device<'a> {
    /// `a = b + scalar * c`, in f64.
    Triad { a: &'a mut [f64], b: &'a [f64], c: &'a [f64], scalar: f64 },
    /// Hits of `samples` points drawn with the counter-based generator from `seed` (sample `i`
    /// uses counters `2i` and `2i + 1`, see `pi_monte_carlo`).
    Pi { seed: u64, samples: u64, inside: &'a mut Option<u64> },
    /// `c = a * b`, `n` x `n` row-major f64 matrices.
    Matmul { c: &'a mut [f64], a: &'a [f64], b: &'a [f64], n: u64 },
    /// Escape counts of a `width` x `width` image, row-major: pixel `(x, y)` is
    /// `c = re_min + (x + 0.5) * re_step + i * (im_max - (y + 0.5) * im_step)`.
    Mandelbrot {
        image: &'a mut [u32],
        width: u64,
        max_iter: u32,
        re_min: f64,
        re_step: f64,
        im_max: f64,
        im_step: f64,
    },
}

impl Device<'_> {
    /// The workload's name, which picks the device program.
    pub fn workload(&self) -> &'static str {
        match self {
            Device::Triad { .. } => "stream_triad",
            Device::Pi { .. } => "pi_monte_carlo",
            Device::Mandelbrot { .. } => "mandelbrot",
            Device::Matmul { .. } => "matmul",
        }
    }
}
