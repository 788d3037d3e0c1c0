//! What a device backend (OpenCL) needs of a case's kernel: the inputs it uploads and the output
//! it fills, named per workload so that the device code can stay in the backend.
//!
//! A kernel that has a device version answers [`super::Kernel::device`] with one of these; the
//! backend writes its result into the borrowed output, and the kernel's own
//! [`super::Kernel::verify`] checks it against the sequential reference like every other run.

use super::Unsupported;
use crate::machine::Gpu;
use crate::strategy::Strategy;

/// Whether `strategy` is a device backend's plain strategy (`opencl`, `cuda`): one kernel per
/// workload, which every workload with a [`Device`] view supports. Variants such as the tiled
/// ones are matched by the workloads that have their kernel.
pub fn plain(strategy: &dyn Strategy) -> bool {
    matches!(strategy.name(), "opencl" | "cuda")
}

/// Whether `workload`'s device kernel (which computes in f64) can run on the device the
/// strategy's backend would choose: `Err` when that OpenCL device has no fp64 (every device a
/// CUDA 12 driver supports has it). With no device at all the backend reports the case
/// `unavailable` before this is asked.
pub fn fp64_support(workload: &'static str, strategy: &dyn Strategy) -> Result<(), Unsupported> {
    if strategy.backend() == crate::backend::cuda::NAME {
        return Ok(());
    }
    fp64_support_on(crate::machine::opencl::chosen(), workload, strategy)
}

/// [`fp64_support`] on a given device (or the reason there is none).
fn fp64_support_on(
    device: &Result<Gpu, String>,
    workload: &'static str,
    strategy: &dyn Strategy,
) -> Result<(), Unsupported> {
    match device {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_f64_kernel_is_unsupported_only_on_a_device_without_fp64() {
        let opencl = crate::strategy::find("opencl").unwrap();
        let gpu = |fp64| Gpu {
            name: "Tiny GPU".into(),
            api: "opencl".into(),
            memory_bytes: 1 << 30,
            platform: None,
            kind: Some("gpu".into()),
            compute_units: Some(4),
            cache_bytes: None,
            max_work_group_size: Some(256),
            version: None,
            fp64: Some(fp64),
            cuda: None,
        };
        let why = fp64_support_on(&Ok(gpu(false)), "stream_triad", opencl).unwrap_err();
        assert_eq!(why.reason, "the OpenCL device Tiny GPU has no fp64, and `stream_triad` computes in f64");
        assert!(fp64_support_on(&Ok(gpu(true)), "stream_triad", opencl).is_ok());
        // No device: the backend says `unavailable` first, with the loader's reason.
        assert!(fp64_support_on(&Err("no OpenCL device: none".into()), "stream_triad", opencl).is_ok());
    }
}
