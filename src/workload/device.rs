//! What a device backend (OpenCL, CUDA) needs of a case's kernel: the inputs it uploads and the output
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

/// Whether `workload`'s device kernel (which computes in f64) can run on a device of the
/// strategy's backend here: `Err` when no OpenCL device has fp64 (every device a CUDA 12 driver
/// supports has it). Each case checks its own device as it starts (a device without fp64 makes
/// that case `unsupported`, [`fp64_refusal`]); with no device at all the backend reports the
/// case `unavailable` before this is asked.
pub fn fp64_support(workload: &'static str, strategy: &dyn Strategy) -> Result<(), Unsupported> {
    if strategy.backend() == "cuda" {
        return Ok(());
    }
    fp64_support_on(crate::machine::opencl::listed(), workload, strategy)
}

/// [`fp64_support`] on given devices (or the reason there are none).
fn fp64_support_on(
    devices: &Result<Vec<Gpu>, String>,
    workload: &'static str,
    strategy: &dyn Strategy,
) -> Result<(), Unsupported> {
    match devices {
        Ok(found) if !found.is_empty() && found.iter().all(|g| g.fp64 == Some(false)) => {
            let names: Vec<&str> = found.iter().map(|g| g.name.as_str()).collect();
            Err(Unsupported::new(
                workload,
                strategy,
                format!(
                    "no OpenCL device here has fp64 ({}), and `{workload}` computes in f64",
                    names.join(", ")
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Why a kernel of `workload` computing in f64 cannot run on `device`, where it has no fp64: the
/// reason of an `unsupported` case.
pub fn fp64_refusal(workload: &str, device: &Gpu) -> Option<String> {
    (device.fp64 == Some(false))
        .then(|| format!("the OpenCL device {} has no fp64, and `{workload}` computes in f64", device.name))
}

/// The most bytes of per-work-group partial histograms a `histogram` device case keeps: the
/// backend makes fewer work-groups where the bins are many.
pub const HISTOGRAM_PARTIAL_BYTES: u64 = 32 << 20;

/// The precision a device run computed in: the workload's verify holds the output to the
/// tolerance of that precision. A backend's f32 variant (`opencl-f32`) sets it to `F32` in the
/// views that have it ([`Device::Triad`], [`Device::Matmul`]); it stays `F64` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F64,
    /// Inputs rounded to f32 on the host (outside the samples), computed and returned in f32,
    /// widened back to f64 for the check.
    F32,
}

/// One case's device view: inputs borrowed from the prepared instance, the output from the kernel.
pub enum Device<'a> {
    /// `a = b + scalar * c`, in f64 (or f32 where the backend sets `precision`).
    Triad { a: &'a mut [f64], b: &'a [f64], c: &'a [f64], scalar: f64, precision: &'a mut Precision },
    /// Hits of `samples` points drawn with the counter-based generator from `seed` (sample `i`
    /// uses counters `2i` and `2i + 1`, see `pi_monte_carlo`).
    Pi { seed: u64, samples: u64, inside: &'a mut Option<u64> },
    /// `c = a * b`, `n` x `n` row-major f64 matrices (computed in f32 where the backend sets
    /// `precision`).
    Matmul { c: &'a mut [f64], a: &'a [f64], b: &'a [f64], n: u64, precision: &'a mut Precision },
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
    /// `steps` steps of all-pairs gravity from `initial` into `state`, in f64: each body is six
    /// values (position x, y, z, then velocity), row-major. A step sums, for body `i`, over every
    /// body `j` in index order (`j == i` included: its distance is 0), with
    /// `d = p_j - p_i`, `r2 = d.x*d.x + d.y*d.y + d.z*d.z + softening2` and
    /// `a += (mass_j / (r2 * sqrt(r2))) * d`; then `v += a * dt` and `p += v * dt`.
    Nbody { state: &'a mut [f64], initial: &'a [f64], mass: &'a [f64], steps: u64, dt: f64, softening2: f64 },
    /// `counts[b]` = how many of `items` equal `b`, for `b < bins` (every item is below `bins`).
    Histogram { counts: &'a mut [u64], items: &'a [u32], bins: u64 },
}

impl Device<'_> {
    /// The workload's name, which picks the device program.
    pub fn workload(&self) -> &'static str {
        match self {
            Device::Triad { .. } => "stream_triad",
            Device::Pi { .. } => "pi_monte_carlo",
            Device::Mandelbrot { .. } => "mandelbrot",
            Device::Matmul { .. } => "matmul",
            Device::Nbody { .. } => "nbody",
            Device::Histogram { .. } => "histogram",
        }
    }

    /// Whether the workload's device kernel computes in f64 (a device without fp64 cannot run
    /// it); a strategy's f32 variant computes in f32 whatever this says.
    pub fn computes_in_f64(&self) -> bool {
        !matches!(self, Device::Histogram { .. })
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
        let why = fp64_support_on(&Ok(vec![gpu(false)]), "stream_triad", opencl).unwrap_err();
        assert_eq!(
            why.reason,
            "no OpenCL device here has fp64 (Tiny GPU), and `stream_triad` computes in f64"
        );
        assert!(fp64_support_on(&Ok(vec![gpu(true)]), "stream_triad", opencl).is_ok());
        // One device with fp64 is enough for the pair; the other's cases say so as they start.
        assert!(fp64_support_on(&Ok(vec![gpu(false), gpu(true)]), "stream_triad", opencl).is_ok());
        assert_eq!(
            fp64_refusal("stream_triad", &gpu(false)).unwrap(),
            "the OpenCL device Tiny GPU has no fp64, and `stream_triad` computes in f64"
        );
        assert_eq!(fp64_refusal("stream_triad", &gpu(true)), None);
        // No device: the backend says `unavailable` first, with the loader's reason.
        assert!(fp64_support_on(&Err("no OpenCL device: none".into()), "stream_triad", opencl).is_ok());
        assert!(fp64_support_on(&Ok(Vec::new()), "stream_triad", opencl).is_ok());
    }
    /// Fills the view's output as an f32 device would compute it (inputs rounded to f32, f32
    /// arithmetic) and says so, or only sets the precision (`compute` false).
    fn as_f32_device(view: Device<'_>, compute: bool, precision_is: Precision) {
        match view {
            Device::Triad { a, b, c, scalar, precision } => {
                if compute {
                    for i in 0..a.len() {
                        a[i] = (b[i] as f32 + scalar as f32 * c[i] as f32) as f64;
                    }
                }
                *precision = precision_is;
            }
            Device::Matmul { c, a, b, n, precision } => {
                let n = n as usize;
                if compute {
                    for i in 0..n {
                        for j in 0..n {
                            let sum: f32 = (0..n).map(|k| a[i * n + k] as f32 * b[k * n + j] as f32).sum();
                            c[i * n + j] = sum as f64;
                        }
                    }
                }
                *precision = precision_is;
            }
            _ => unreachable!("only the triad and matmul have f32 variants"),
        }
    }

    #[test]
    fn an_f32_run_is_held_to_the_stated_f32_tolerance_and_no_looser() {
        use crate::workload::ParamValue;
        for (name, size) in [("stream_triad", 1000), ("matmul", 24)] {
            let w = crate::workload::find(name).unwrap();
            let mut params = crate::workload::default_params(w);
            if name == "stream_triad" {
                // Not a power of two: the f32 results round differently from the f64 ones.
                params.0.insert("scalar".into(), ParamValue::Float(0.1));
            }
            let instance = w.prepare(size, &params, 7).unwrap();
            let mut kernel = instance.kernel();
            as_f32_device(kernel.device().unwrap(), true, Precision::F32);
            let v = kernel.verify();
            assert!(v.passed, "{name}: {}", v.detail);
            // The same output held to the f64 check fails: the stated f32 tolerance let it pass.
            as_f32_device(kernel.device().unwrap(), false, Precision::F64);
            assert!(!kernel.verify().passed, "{name}: f32 results pass the f64 check");
            // An error far past the f32 tolerance fails it.
            let mut kernel = instance.kernel();
            as_f32_device(kernel.device().unwrap(), true, Precision::F32);
            match kernel.device().unwrap() {
                Device::Triad { a: out, .. } | Device::Matmul { c: out, .. } => out[3] += 0.5,
                _ => unreachable!(),
            }
            assert!(!kernel.verify().passed, "{name}: an error of 0.5 passed");
        }
    }
}
