//! Backend `cuda`: a case on an NVIDIA GPU through the CUDA driver API (`cuda` builds). The device
//! is the one the plan chose for the case ([`crate::scenario::DeviceCase`]: the scenario's
//! `device` selects them, each its own case), found again by name
//! ([`crate::machine::cuda::find`]); its name is in the case's notes. A device the plan named
//! that is not here, or a selector that matched none, makes the case `unavailable`.
//!
//! Nothing is linked at build time: `cudarc` loads `libcuda` and `libnvrtc` when a case starts,
//! and a missing one makes the case `unavailable` with the reason (see [`crate::machine::cuda`]).
//!
//! Starting a case (its `setup`, never a sample) makes the context and a stream, compiles the
//! workload's CUDA C (`cuda/*.cu`, compiled in with `include_str!`) with NVRTC into a CUBIN for
//! the device's compute capability, loads it, allocates the device buffers, uploads the inputs,
//! measures the launch latency of an empty kernel and runs the kernels twice (the second run
//! times them warm), so that no compilation or first launch falls into a sample. Each run then
//! uploads the inputs (`transfer_in`), launches the kernels (`kernel`: device time between two
//! CUDA events around them) and reads the output back (`transfer_out`); the sample's `ns` is
//! the host clock around all three, so the headline time includes the transfers. Host buffers
//! are the workload's own, ordinary (pageable) memory, as the CPU strategies use: the driver
//! stages pageable copies through a pinned buffer of its own, so transfers run below the bus's
//! pinned speed. Transfers are timed on the host around copies followed by a stream
//! synchronisation. The scenario's device settings change this ([`crate::scenario::device`]),
//! and each case's notes say how it ran:
//! - `cache = "cold"` (the default): before each sample, outside it, the device writes a buffer
//!   of twice its L2 (at most a quarter of its memory and [`FLUSH_LIMIT`]), as nvbench flushes
//!   it, so that no sample finds the last one's data in the L2; `"warm"` leaves it;
//! - `resident = true`: the inputs are uploaded once, in the setup; the samples have no
//!   `transfer_in`, and the headline is kernels and download only.
//!
//! Launch latency: the setup times [`LATENCY_LAUNCHES`] launches of an empty kernel, each from
//! launch to completion on the host, and notes the median. A workload whose kernels take less
//! than [`LATENCY_RATIO`] times that is timed in batches, as the `opencl` backend does: the
//! session asks the runner for [`batch`] runs per sample
//! ([`Session::min_batch`](super::Session::min_batch)), each a whole run of upload, kernels and
//! download, and every figure (the sample and each phase, the events around each run's kernels
//! summed) is their mean. The flush precedes the sample, so only its first run starts cold.
//!
//! Where NVML is installed, the SM clock is read at the start and the end of each case and a
//! case that ran under 75% of the default clock is flagged (nvbench's rule); `stream_triad`
//! reports its kernel-only bandwidth as a fraction of the memory's theoretical peak.

pub use super::device_rules::{batch, flush_bytes, FLUSH_LIMIT, LATENCY_RATIO, MAX_BATCH};
use super::{Backend, BackendError, CaseJob, Session};

pub struct CudaBackend;

/// This backend's name, as the `cuda` strategies give it.
pub const NAME: &str = "cuda";

/// Each workload's program, compiled in.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("stream_triad", include_str!("cuda/stream_triad.cu")),
    ("pi_monte_carlo", include_str!("cuda/pi_monte_carlo.cu")),
    ("mandelbrot", include_str!("cuda/mandelbrot.cu")),
    ("matmul", include_str!("cuda/matmul.cu")),
    ("nbody", include_str!("cuda/nbody.cu")),
    ("histogram", include_str!("cuda/histogram.cu")),
];

/// The empty kernel whose launch latency each case measures at setup.
pub const EMPTY: &str = include_str!("cuda/empty.cu");

/// Threads per block of the one-dimensional kernels.
pub const BLOCK: u32 = 256;
/// The edge of the square blocks of the two-dimensional kernels, and of `cuda-tiled`'s tiles
/// (`TILE` in `cuda/matmul.cu`).
pub const TILE: u32 = 16;
/// Threads per block of `pi_monte_carlo` (`PI_BLOCK` in `cuda/pi_monte_carlo.cu`).
pub const PI_BLOCK: u32 = 256;
/// At most this many `pi_monte_carlo` threads (4096 blocks: several waves even on the largest
/// GPUs); each counts a contiguous run of samples, and each block writes one partial count.
pub const PI_THREADS: u64 = 1 << 20;
/// Empty-kernel launches timed at setup; the note gives their median.
pub const LATENCY_LAUNCHES: usize = 200;

/// The largest grid in x and in y or z (CUDA's limits since compute capability 3.0).
const MAX_GRID_X: u64 = (1 << 31) - 1;
const MAX_GRID_YZ: u64 = 65_535;

/// A kernel launch's shape: blocks in the grid and threads in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
}

/// One thread per element of `n`, `block` threads a block.
pub fn linear(n: u64, block: u32) -> Result<Shape, String> {
    let blocks = n.max(1).div_ceil(block as u64);
    if blocks > MAX_GRID_X {
        return Err(format!(
            "{n} elements need {blocks} blocks of {block}, over CUDA's limit of {MAX_GRID_X}"
        ));
    }
    Ok(Shape { grid: (blocks as u32, 1, 1), block: (block, 1, 1) })
}

/// One thread per element of a `side` x `side` grid (x the column, y the row), in square blocks
/// of `tile` x `tile` that cover whole tiles.
pub fn square(side: u64, tile: u32) -> Result<Shape, String> {
    let blocks = side.max(1).div_ceil(tile as u64);
    if blocks > MAX_GRID_YZ {
        return Err(format!(
            "a side of {side} needs {blocks} blocks of {tile} in y, over CUDA's limit of {MAX_GRID_YZ}"
        ));
    }
    Ok(Shape { grid: (blocks as u32, blocks as u32, 1), block: (tile, tile, 1) })
}

/// How `pi_monte_carlo`'s samples are spread: `blocks` blocks of [`PI_BLOCK`] threads, thread
/// `g` counting the samples `[g * per_item, (g + 1) * per_item)` that are below `samples`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiLayout {
    pub blocks: u32,
    pub per_item: u64,
}

/// The layout of `samples` samples: at most [`PI_THREADS`] threads, as few samples each as
/// cover them all.
pub fn pi_layout(samples: u64) -> PiLayout {
    let threads = samples.clamp(1, PI_THREADS);
    let blocks = threads.div_ceil(PI_BLOCK as u64);
    let per_item = samples.div_ceil(blocks * PI_BLOCK as u64);
    PiLayout { blocks: blocks as u32, per_item }
}

/// How `histogram`'s items are counted: `groups` blocks of [`BLOCK`] threads, block `g`
/// counting the items `[g * per_group, (g + 1) * per_group)` into its row of partial counts in
/// shared memory; or, where the bins do not fit in `shared_bytes`, every item with a global
/// atomic into one row (`groups` = 1, `per_group` = all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramLayout {
    pub shared: bool,
    pub groups: u64,
    pub per_group: u64,
}

/// The layout of `items` items into `bins` bins on a device with `shared_bytes` of shared memory
/// per block: at least 16 items a thread, and no more partial rows than `partial_bytes` hold.
pub fn histogram_layout(items: u64, bins: u64, shared_bytes: u64, partial_bytes: u64) -> HistogramLayout {
    let bins = bins.max(1);
    if 4 * bins > shared_bytes {
        return HistogramLayout { shared: false, groups: 1, per_group: items };
    }
    let most = (partial_bytes / (4 * bins)).max(1);
    let groups = items.div_ceil(BLOCK as u64 * 16).clamp(1, most);
    let per_group = items.div_ceil(groups).max(1);
    HistogramLayout { shared: true, groups: items.div_ceil(per_group).max(1), per_group }
}

/// NVRTC's options for `workload`'s program on a device of compute capability `major.minor`:
/// a CUBIN for that device (so that the driver need not JIT PTX, which fails when NVRTC is newer
/// than the driver), and no fused multiply-add where the result must match the CPU's bit for bit.
pub fn nvrtc_options(workload: &str, (major, minor): (u32, u32)) -> Vec<String> {
    let mut options = vec![format!("--gpu-architecture=sm_{major}{minor}")];
    // matmul is checked with a tolerance: contraction is allowed there, as in the OpenCL kernel.
    if workload != "matmul" {
        options.push("--fmad=false".into());
    }
    options
}

/// `"9.0"` as `(9, 0)`.
pub fn compute_capability(text: &str) -> Result<(u32, u32), String> {
    let parse = || -> Option<(u32, u32)> {
        let (major, minor) = text.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    parse().ok_or_else(|| format!("`{text}` is not a compute capability (major.minor)"))
}

/// The program of `workload`, or `None` when it has no CUDA kernel.
pub fn program(workload: &str) -> Option<&'static str> {
    PROGRAMS.iter().find(|(w, _)| *w == workload).map(|(_, s)| *s)
}

/// The case note on `stream_triad`'s kernel-only bandwidth: `bytes` moved per run, the kernel
/// phase of each run measured, and the device's theoretical peak where the driver reports one.
pub fn bandwidth_note(bytes: f64, kernel_ns: &[f64], peak: Option<f64>) -> Option<String> {
    let median = median_of(kernel_ns)?;
    if median <= 0.0 {
        return None;
    }
    let achieved = bytes / (median * 1e-9);
    Some(match peak {
        Some(peak) => format!(
            "device bandwidth (kernel phase only, median): {:.1} GB/s, {:.0}% of the theoretical peak of \
             {:.1} GB/s (2 x memory clock x bus width / 8)",
            achieved / 1e9,
            100.0 * achieved / peak,
            peak / 1e9
        ),
        None => format!(
            "device bandwidth (kernel phase only, median): {:.1} GB/s; the driver reports no memory clock \
             or bus width, so there is no peak to compare with",
            achieved / 1e9
        ),
    })
}

/// The median of `values` in any order; `None` when empty.
fn median_of(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(crate::stats::median(&sorted)).filter(|m| !m.is_nan())
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        NAME
    }
    fn summary(&self) -> &'static str {
        "an NVIDIA GPU through the CUDA driver: upload, kernel, download, each a phase of every sample"
    }
    fn availability(&self) -> Result<(), BackendError> {
        if !cfg!(feature = "cuda") {
            return Err(BackendError::Unavailable("built without the cuda feature".into()));
        }
        crate::machine::cuda::chosen().as_ref().map_err(|why| BackendError::Unavailable(why.clone()))?;
        crate::machine::cuda::nvrtc_library().map_err(BackendError::Unavailable)
    }
    #[cfg(not(feature = "cuda"))]
    fn start<'a>(&self, _job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        Err(BackendError::Unavailable("built without the cuda feature".into()))
    }
    #[cfg(feature = "cuda")]
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        device::start(job)
    }
}

/// Why no CUDA device here is `target` (or, with none, matches `choice`): the words of an
/// `unavailable` case, naming the devices there are.
pub fn no_device_reason(
    choice: &crate::scenario::DeviceChoice,
    target: Option<&crate::scenario::DeviceTarget>,
) -> String {
    no_device_reason_among(crate::machine::cuda::listed(), choice, target)
}

/// [`no_device_reason`] among `devices` (or the reason there are none).
fn no_device_reason_among(
    devices: &Result<Vec<crate::machine::Gpu>, String>,
    choice: &crate::scenario::DeviceChoice,
    target: Option<&crate::scenario::DeviceTarget>,
) -> String {
    let here = match devices {
        Ok(found) if !found.is_empty() => {
            let names: Vec<&str> = found.iter().map(|g| g.name.as_str()).collect();
            format!("the CUDA devices here are {}", names.join(", "))
        }
        found => crate::machine::cuda::unavailable_reason(found).unwrap_or_default(),
    };
    let matching =
        devices.as_ref().is_ok_and(|found| found.iter().any(|g| choice.matches(&g.name, g.kind.as_deref())));
    match target {
        Some(t) => format!("the CUDA device {} the plan chose is not on this machine: {here}", t.label()),
        // The plan was made from a machine description without this machine's devices.
        None if matching => format!(
            "the plan lists no CUDA device for `device = \"{choice}\"` (it was made without probing this \
             machine's devices, e.g. for a described machine), though {here}"
        ),
        None => format!("no CUDA device matches `device = \"{choice}\"`: {here}"),
    }
}

/// Compiles `source` with NVRTC and `options` into a CUBIN; `Err` has NVRTC's log. Needs
/// NVRTC, not a GPU (see [`crate::machine::cuda::nvrtc_library`]).
#[cfg(feature = "cuda")]
pub fn compile(source: &str, name: &str, options: &[String]) -> Result<Vec<u8>, String> {
    use cudarc::nvrtc::{result, sys};
    use std::ffi::{CStr, CString};
    crate::machine::cuda::nvrtc_library()?;
    let src = CString::new(source).map_err(|_| format!("{name} has a NUL byte"))?;
    let cname = CString::new(name).map_err(|_| format!("{name} has a NUL byte"))?;
    let prog = result::create_program(&src, Some(cname.as_c_str())).map_err(|e| format!("NVRTC: {e:?}"))?;
    // SAFETY: `prog` was just created and is destroyed once, below; `src` and `cname` outlive it.
    let out = unsafe {
        match result::compile_program(prog, options) {
            Err(e) => {
                let log = result::get_program_log(prog)
                    .map(|l| CStr::from_ptr(l.as_ptr()).to_string_lossy().trim().to_string())
                    .unwrap_or_default();
                Err(format!("NVRTC could not compile {name} ({}): {e:?}: {log}", options.join(" ")))
            }
            Ok(()) => {
                let mut size = 0usize;
                let cubin = sys::nvrtcGetCUBINSize(prog, &mut size).result().and_then(|()| {
                    let mut bytes = vec![0u8; size];
                    sys::nvrtcGetCUBIN(prog, bytes.as_mut_ptr().cast()).result().map(|()| bytes)
                });
                cubin.map_err(|e| format!("NVRTC compiled {name} but gave no CUBIN: {e:?}"))
            }
        }
    };
    // SAFETY: created above, not destroyed before.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

/// NVRTC's version, `"major.minor"`.
#[cfg(feature = "cuda")]
pub fn nvrtc_version() -> Result<String, String> {
    crate::machine::cuda::nvrtc_library()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: writes two ints.
    let code = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    code.result().map_err(|e| format!("NVRTC: {e:?}"))?;
    Ok(format!("{major}.{minor}"))
}

#[cfg(feature = "cuda")]
mod device {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
    use cudarc::driver::{
        CudaContext, CudaEvent, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtrMut, DriverError,
        LaunchConfig, PushKernelArg,
    };
    use cudarc::nvrtc::Ptx;

    use super::{Shape, BLOCK, EMPTY, LATENCY_LAUNCHES, LATENCY_RATIO, PI_BLOCK, TILE};
    use crate::backend::{BackendError, CaseJob, Sample, Session};
    use crate::clock::Clock;
    use crate::machine::cuda::{driver_error, sm_clock_mhz};
    use crate::machine::Gpu;
    use crate::scenario::{Cache, CaseSpec, DeviceCase};
    use crate::units::{format_bytes, format_ns};
    use crate::workload::device::{Device, HISTOGRAM_PARTIAL_BYTES};
    use crate::workload::{Instance, Kernel, Verification};

    /// One kernel launch of a run: the function, its shape and its arguments (each pushed by
    /// reference when the launch is made).
    struct Launch {
        function: CudaFunction,
        shape: LaunchConfig,
    }

    /// The device side of one case: its buffers and the launches of one run.
    enum Job {
        Triad {
            a: CudaSlice<f64>,
            b: CudaSlice<f64>,
            c: CudaSlice<f64>,
            scalar: f64,
            n: u64,
            launch: Launch,
        },
        Pi {
            partial: CudaSlice<u64>,
            host: Vec<u64>,
            seed: u64,
            samples: u64,
            per_item: u64,
            launch: Launch,
        },
        Mandelbrot {
            image: CudaSlice<u32>,
            width: u64,
            max_iter: u32,
            window: [f64; 4],
            launch: Launch,
        },
        Matmul {
            a: CudaSlice<f64>,
            b: CudaSlice<f64>,
            c: CudaSlice<f64>,
            n: u64,
            launch: Launch,
        },
        /// `initial` is never written: the first step reads it into `work[0]`, step k (from 0)
        /// writes `work[k % 2]` from the other.
        Nbody {
            mass: CudaSlice<f64>,
            initial: CudaSlice<f64>,
            work: [CudaSlice<f64>; 2],
            n: u64,
            steps: u64,
            dt: f64,
            softening2: f64,
            launch: Launch,
        },
        /// `count` fills `partial` (a row per block in shared memory, or with global atomics one
        /// row, cleared first when `zero`), `merge` sums its rows into `counts`.
        Histogram {
            items: CudaSlice<u32>,
            partial: CudaSlice<u32>,
            counts: CudaSlice<u64>,
            n: u64,
            bins: u32,
            per_group: u64,
            groups: u32,
            zero: bool,
            count: Launch,
            merge: Launch,
        },
    }

    impl Job {
        /// Enqueues one run's kernels on `stream`, in order.
        fn enqueue(&mut self, stream: &CudaStream) -> Result<(), DriverError> {
            // SAFETY (every launch below): the arguments match the kernel's parameters in order and
            // type (see `cuda/*.cu`), and the buffers are sized for the launch's shape.
            unsafe {
                match self {
                    Job::Triad { a, b, c, scalar, n, launch } => {
                        let mut call = stream.launch_builder(&launch.function);
                        call.arg(a).arg(&*b).arg(&*c).arg(&*scalar).arg(&*n).launch(launch.shape)?;
                    }
                    Job::Pi { partial, seed, samples, per_item, launch, .. } => {
                        let mut call = stream.launch_builder(&launch.function);
                        call.arg(partial).arg(&*seed).arg(&*samples).arg(&*per_item).launch(launch.shape)?;
                    }
                    Job::Mandelbrot { image, width, max_iter, window, launch } => {
                        let mut call = stream.launch_builder(&launch.function);
                        call.arg(image).arg(&*width).arg(&*max_iter);
                        for w in window.iter() {
                            call.arg(w);
                        }
                        call.launch(launch.shape)?;
                    }
                    Job::Matmul { a, b, c, n, launch } => {
                        let mut call = stream.launch_builder(&launch.function);
                        call.arg(c).arg(&*a).arg(&*b).arg(&*n).launch(launch.shape)?;
                    }
                    Job::Nbody { mass, initial, work, n, steps, dt, softening2, launch } => {
                        let [w0, w1] = work;
                        for k in 0..*steps {
                            let (out, from) = match k {
                                0 => (&mut *w0, &*initial),
                                k if k % 2 == 1 => (&mut *w1, &*w0),
                                _ => (&mut *w0, &*w1),
                            };
                            let mut call = stream.launch_builder(&launch.function);
                            call.arg(out).arg(from).arg(&*mass).arg(&*n).arg(&*dt).arg(&*softening2);
                            call.launch(launch.shape)?;
                        }
                    }
                    Job::Histogram {
                        items,
                        partial,
                        counts,
                        n,
                        bins,
                        per_group,
                        groups,
                        zero,
                        count,
                        merge,
                    } => {
                        if *zero {
                            fill(stream, partial, 0)?;
                        }
                        let mut call = stream.launch_builder(&count.function);
                        call.arg(&*items).arg(&*n);
                        if !*zero {
                            call.arg(&*bins).arg(&*per_group);
                        }
                        call.arg(&mut *partial).launch(count.shape)?;
                        let mut call = stream.launch_builder(&merge.function);
                        call.arg(counts).arg(&*partial).arg(&*groups).arg(&*bins).launch(merge.shape)?;
                    }
                }
            }
            Ok(())
        }
    }

    use crate::backend::device_rules::Phases;

    pub(super) struct Cu<'a> {
        /// `None` only inside `verify`, between dropping the last output and making the fresh one.
        host: Option<Box<dyn Kernel + 'a>>,
        instance: &'a dyn Instance,
        job: Job,
        before: CudaEvent,
        after: CudaEvent,
        stream: Arc<CudaStream>,
        _module: Arc<CudaModule>,
        _context: Arc<CudaContext>,
        spec: &'a CaseSpec,
        clock: Arc<dyn Clock>,
        setup_ns: u64,
        gpu: Gpu,
        /// What the case's notes say about how it ran, beyond the device.
        notes: Vec<String>,
        /// Inputs uploaded once in the setup: runs upload nothing.
        resident: bool,
        /// For a cold cache: the buffer written before each sample, and the byte last written.
        flush: Option<(CudaSlice<u8>, u8)>,
        /// Runs of the kernels per batch; 1: no batch (see the module's documentation).
        batch: u64,
        /// The kernel phase of every timed run (not warm-up runs), for the bandwidth note.
        kernel_ns: Vec<f64>,
        /// NVML's SM clock once setup was done.
        clock_at_start: Option<u32>,
        /// The lowest SM clock read right after a sample (outside it).
        clock_low: Option<u32>,
        /// The case's cancellation flag, checked between runs (a launched kernel runs to its end).
        cancel: Arc<AtomicBool>,
    }

    fn setup(what: &'static str) -> impl Fn(DriverError) -> BackendError {
        move |e| BackendError::Setup { what: what.to_string(), why: driver_error(e) }
    }

    fn failed(e: DriverError) -> BackendError {
        BackendError::Failed(format!("CUDA: {}", driver_error(e)))
    }

    fn config(shape: Shape) -> LaunchConfig {
        LaunchConfig { grid_dim: shape.grid, block_dim: shape.block, shared_mem_bytes: 0 }
    }

    /// The device the case was planned for ([`CaseSpec::device`]), or device 0 for a case
    /// planned without one (a plan from before devices were chosen).
    fn pick(spec: &CaseSpec) -> Result<Gpu, BackendError> {
        use super::no_device_reason;
        use crate::machine::cuda::{chosen, find};
        match &spec.device {
            None => chosen().clone().map_err(BackendError::NoDevice),
            Some(DeviceCase { target: None, choice, .. }) => {
                Err(BackendError::NoDevice(no_device_reason(choice, None)))
            }
            Some(DeviceCase { target: Some(t), choice, .. }) => {
                match find(&t.name, t.ordinal).map_err(BackendError::NoDevice)? {
                    Some(found) => Ok(found),
                    None => Err(BackendError::NoDevice(no_device_reason(choice, Some(t)))),
                }
            }
        }
    }

    /// `len` elements of `T` on `stream`, zeroed (at least one: the driver refuses empty buffers).
    fn buffer<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        stream: &Arc<CudaStream>,
        len: usize,
        what: &'static str,
    ) -> Result<CudaSlice<T>, BackendError> {
        stream.alloc_zeros::<T>(len.max(1)).map_err(|e| {
            // Out of device memory is what this device cannot hold, not a failure of the case.
            if e.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
                let bytes = (len.max(1) as u64).saturating_mul(std::mem::size_of::<T>() as u64);
                BackendError::Unsupported(format!(
                    "{what} needs {}, more than the CUDA device has free beside the case's other buffers",
                    crate::units::format_bytes(bytes)
                ))
            } else {
                setup(what)(e)
            }
        })
    }

    /// `host` copied into a new device buffer on `stream`.
    fn upload<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        stream: &Arc<CudaStream>,
        host: &[T],
        what: &'static str,
    ) -> Result<CudaSlice<T>, BackendError> {
        let mut device = buffer::<T>(stream, host.len(), what)?;
        stream.memcpy_htod(host, &mut device.slice_mut(..host.len())).map_err(setup(what))?;
        Ok(device)
    }

    pub(super) fn start<'a>(job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let began = Instant::now();
        let gpu = pick(job.spec)?;
        let info = gpu.cuda.clone().expect("a CUDA device has its CUDA fields");
        let settings = job.spec.device.clone().unwrap_or(DeviceCase {
            choice: Default::default(),
            target: None,
            cache: Cache::default(),
            resident: false,
        });
        let arch = super::compute_capability(&info.compute_capability)
            .map_err(|why| BackendError::Setup { what: "the device's architecture".into(), why })?;
        let mut host = job.instance.kernel();
        let Some(view) = host.device() else {
            return Err(BackendError::Unavailable(format!("`{}` has no device kernel", job.spec.workload)));
        };
        let workload = view.workload();
        let source = super::program(workload)
            .ok_or_else(|| BackendError::Unavailable(format!("no CUDA program for `{workload}`")))?;
        let nvrtc = super::nvrtc_version().map_err(BackendError::Unavailable)?;
        let compile = |source: &str, name: &str, workload: &str| {
            super::compile(source, name, &super::nvrtc_options(workload, arch))
                .map_err(|why| BackendError::Setup { what: format!("the CUDA program {name}"), why })
        };
        let cubin = compile(source, &format!("{workload}.cu"), workload)?;
        let empty = compile(EMPTY, "empty.cu", "empty")?;

        let context = CudaContext::new(info.ordinal).map_err(setup("a CUDA context"))?;
        // SAFETY: every buffer of the case is used on its one stream only, in order, so cudarc
        // need not order streams with events (whose records would add to each launch).
        unsafe { context.disable_event_tracking() };
        let stream = context.new_stream().map_err(setup("a CUDA stream"))?;
        let load = |bytes: Vec<u8>, what: &'static str| {
            context.load_module(Ptx::from_binary(bytes)).map_err(setup(what))
        };
        let module = load(cubin, "loading the CUDA program")?;
        let empty_module = load(empty, "loading the empty kernel")?;
        let empty = empty_module.load_function("empty").map_err(setup("the empty kernel"))?;
        let function = |name: &str| module.load_function(name).map_err(setup("the kernel"));
        let event =
            || context.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(setup("a CUDA event"));
        let (before, after) = (event()?, event()?);
        let shape_error = |why| BackendError::Setup { what: "the launch shape".into(), why };
        let tiled = job.strategy.name() == "cuda-tiled";
        let mut notes = Vec::new();
        let job_state = match view {
            Device::Triad { a, b, c, scalar, .. } => {
                let n = a.len();
                let da = buffer::<f64>(&stream, n, "the device buffers")?;
                let (db, dc) = (upload(&stream, b, "uploading b")?, upload(&stream, c, "uploading c")?);
                let shape = config(super::linear(n as u64, BLOCK).map_err(shape_error)?);
                let launch = Launch { function: function("triad")?, shape };
                Job::Triad { a: da, b: db, c: dc, scalar, n: n as u64, launch }
            }
            Device::Pi { seed, samples, .. } => {
                let layout = super::pi_layout(samples);
                let partial = buffer::<u64>(&stream, layout.blocks as usize, "the partial counts")?;
                let shape = config(Shape { grid: (layout.blocks, 1, 1), block: (PI_BLOCK, 1, 1) });
                let launch = Launch { function: function("pi")?, shape };
                let host = vec![0; layout.blocks as usize];
                Job::Pi { partial, host, seed, samples, per_item: layout.per_item, launch }
            }
            Device::Mandelbrot { image, width, max_iter, re_min, re_step, im_max, im_step } => {
                let buffer = buffer::<u32>(&stream, image.len(), "the image")?;
                let shape = config(super::square(width, TILE).map_err(shape_error)?);
                let launch = Launch { function: function("mandelbrot")?, shape };
                let window = [re_min, re_step, im_max, im_step];
                Job::Mandelbrot { image: buffer, width, max_iter, window, launch }
            }
            Device::Matmul { c, a, b, n, .. } => {
                let dc = buffer::<f64>(&stream, c.len(), "the device matrices")?;
                let (da, db) = (upload(&stream, a, "uploading a")?, upload(&stream, b, "uploading b")?);
                let shape = config(super::square(n, TILE).map_err(shape_error)?);
                let kernel = if tiled { "matmul_tiled" } else { "matmul_naive" };
                Job::Matmul { a: da, b: db, c: dc, n, launch: Launch { function: function(kernel)?, shape } }
            }
            Device::Nbody { state, initial, mass, steps, dt, softening2 } => {
                let n = mass.len() as u64;
                let dmass = upload(&stream, mass, "uploading the masses")?;
                let dinitial = upload(&stream, initial, "uploading the initial state")?;
                let work = [
                    buffer::<f64>(&stream, state.len(), "state a")?,
                    buffer::<f64>(&stream, state.len(), "state b")?,
                ];
                if steps == 0 {
                    return Err(BackendError::Unsupported(
                        "an n-body run of no steps has nothing to launch".into(),
                    ));
                }
                let shape = config(super::linear(n, BLOCK).map_err(shape_error)?);
                let launch = Launch { function: function("nbody_step")?, shape };
                Job::Nbody { mass: dmass, initial: dinitial, work, n, steps, dt, softening2, launch }
            }
            Device::Histogram { counts, items, bins } => {
                let n = items.len() as u64;
                let dcounts = buffer::<u64>(&stream, counts.len(), "the bins")?;
                let ditems = upload(&stream, items, "uploading the items")?;
                let shared = context
                    .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK)
                    .map_err(setup("the device's shared memory"))?
                    .max(0) as u64;
                let layout = super::histogram_layout(n, bins, shared, HISTOGRAM_PARTIAL_BYTES);
                // A bin counts at most one block's items (or, with global atomics, all of them) in
                // 32 bits.
                if layout.per_group > u32::MAX as u64 || bins > u32::MAX as u64 {
                    return Err(BackendError::Unsupported(format!(
                        "{} items per block overflow the device's 32-bit counters; give fewer items or more bins",
                        layout.per_group
                    )));
                }
                let partial =
                    buffer::<u32>(&stream, (layout.groups * bins) as usize, "the partial histograms")?;
                let bins32 = bins as u32;
                let (count, zero) = if layout.shared {
                    let shape = LaunchConfig {
                        grid_dim: (layout.groups as u32, 1, 1),
                        block_dim: (BLOCK, 1, 1),
                        shared_mem_bytes: 4 * bins32,
                    };
                    notes.push(format!(
                        "histogram: {} blocks of {BLOCK} threads count into shared memory with shared-memory \
                         atomics, then a kernel merges their {} partial histograms",
                        layout.groups, layout.groups
                    ));
                    (Launch { function: function("histogram_shared")?, shape }, false)
                } else {
                    let shape = config(super::linear(n, BLOCK).map_err(shape_error)?);
                    notes.push(format!(
                        "histogram: {bins} bins do not fit in the device's {} of shared memory per block: every \
                         item is counted with a global atomic",
                        format_bytes(shared)
                    ));
                    (Launch { function: function("histogram_global")?, shape }, true)
                };
                let merge_shape = config(super::linear(bins, BLOCK).map_err(shape_error)?);
                let merge = Launch { function: function("histogram_merge")?, shape: merge_shape };
                Job::Histogram {
                    items: ditems,
                    partial,
                    counts: dcounts,
                    n,
                    bins: bins32,
                    per_group: layout.per_group,
                    groups: layout.groups as u32,
                    zero,
                    count,
                    merge,
                }
            }
        };
        stream.synchronize().map_err(setup("the uploads"))?;
        let latency_ns = launch_latency(&stream, &empty).map_err(setup("timing the empty kernel"))?;
        let flush = match settings.cache {
            Cache::Warm => {
                notes.push(
                    "cache warm: nothing is flushed between samples, so a sample may find the last one's \
                     data in the device's L2"
                        .into(),
                );
                None
            }
            Cache::Cold => {
                let l2 = gpu.cache_bytes.unwrap_or(0);
                match super::flush_bytes(l2, gpu.memory_bytes) {
                    0 => {
                        notes.push("cache cold, but the device reports no L2: nothing to flush".into());
                        None
                    }
                    bytes => {
                        let capped =
                            if bytes < 2 * l2 { ", capped: the L2 may not be wholly cold" } else { "" };
                        // Without residency the upload follows the flush through the L2: said.
                        let upload = if settings.resident
                            || matches!(workload, "pi_monte_carlo" | "mandelbrot")
                        {
                            ""
                        } else {
                            "; the upload that follows writes the inputs through the L2, so the kernel may find \
                             them there (`resident = true` measures the kernel from a cold L2)"
                        };
                        notes.push(format!(
                            "cache cold: before each sample, outside it, the device writes {} (twice its {} \
                             L2{capped}), as nvbench flushes it{upload}",
                            format_bytes(bytes),
                            format_bytes(l2)
                        ));
                        Some((buffer::<u8>(&stream, bytes as usize, "the cache flush")?, 0))
                    }
                }
            }
        };
        if settings.resident {
            notes.push(
                "resident: the inputs were uploaded once, in the setup; samples have no transfer_in, and the \
                 headline is the kernels and the download"
                    .into(),
            );
        }
        notes.push(format!(
            "kernel compiled by NVRTC {nvrtc} with {}; empty-kernel launch latency {} (median of \
             {LATENCY_LAUNCHES} launch-and-wait round trips)",
            super::nvrtc_options(workload, arch).join(" "),
            format_ns(latency_ns as f64)
        ));
        let mut session = Cu {
            host: Some(host),
            instance: job.instance,
            job: job_state,
            before,
            after,
            stream,
            _module: module,
            _context: context,
            spec: job.spec,
            clock: job.clock,
            setup_ns: 0,
            gpu,
            notes,
            resident: settings.resident,
            flush,
            batch: 1,
            kernel_ns: Vec::new(),
            clock_at_start: None,
            clock_low: None,
            cancel: job.config.cancel.clone(),
        };
        // One run here, so that the first sample loads nothing lazily (the driver may finish
        // loading a module at its first launch), and a second to time the kernels warm.
        let first_run =
            |e: BackendError| BackendError::Setup { what: "the first run".into(), why: e.to_string() };
        session.run().map_err(first_run)?;
        let kernel_ns = session.run().map_err(first_run)?.kernel;
        session.batch = super::batch(kernel_ns, latency_ns);
        if session.batch > 1 {
            session.notes.push(format!(
                "short kernels ({} a run, under {LATENCY_RATIO:.0}x the launch latency): each sample times {} \
                 whole runs back to back (upload, kernels, download) and every figure is their mean; the \
                 L2 is flushed before each sample, so only its first run starts cold",
                format_ns(kernel_ns as f64),
                session.batch,
            ));
        }
        session.setup_ns = began.elapsed().as_nanos() as u64;
        session.clock_at_start = sm_clock_mhz(&info.pci_bus_id);
        Ok(Box::new(session))
    }

    /// The median over [`LATENCY_LAUNCHES`] of launching the empty kernel and waiting for it,
    /// host time, after three untimed launches; nanoseconds.
    fn launch_latency(stream: &Arc<CudaStream>, empty: &CudaFunction) -> Result<u64, DriverError> {
        let one = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (1, 1, 1), shared_mem_bytes: 0 };
        let mut times = Vec::with_capacity(LATENCY_LAUNCHES);
        for i in 0..LATENCY_LAUNCHES + 3 {
            let t = Instant::now();
            // SAFETY: the empty kernel takes no arguments and touches no memory.
            unsafe { stream.launch_builder(empty).launch(one)? };
            stream.synchronize()?;
            if i >= 3 {
                times.push(t.elapsed().as_nanos() as u64);
            }
        }
        times.sort_unstable();
        Ok(times[times.len() / 2])
    }

    /// Fills `buffer` with the byte `value`, on `stream`.
    fn fill<T>(stream: &CudaStream, buffer: &mut CudaSlice<T>, value: u8) -> Result<(), DriverError> {
        let bytes = buffer.num_bytes();
        let (ptr, _done) = buffer.device_ptr_mut(stream);
        // SAFETY: `ptr` is `bytes` bytes of this case's memory; every pattern written here is a
        // valid f64 (all ones: a NaN), u8, u32 or u64.
        unsafe { cudarc::driver::result::memset_d8_async(ptr, value, bytes, stream.cu_stream()) }
    }

    impl Cu<'_> {
        /// Enqueues `runs` runs of the kernels between the two events, waits, and returns their
        /// device time.
        fn timed(&mut self, runs: u64) -> Result<u64, BackendError> {
            self.before.record(&self.stream).map_err(failed)?;
            for _ in 0..runs {
                self.job.enqueue(&self.stream).map_err(failed)?;
            }
            self.after.record(&self.stream).map_err(failed)?;
            self.after.synchronize().map_err(failed)?;
            let ms = self.before.elapsed_ms(&self.after).map_err(failed)?;
            Ok((ms as f64 * 1e6).round() as u64)
        }

        /// Writes the flush buffer (a cold L2), with a byte the last flush did not write.
        fn flush(&mut self) -> Result<(), BackendError> {
            if let Some((buffer, round)) = &mut self.flush {
                *round = round.wrapping_add(1);
                fill(&self.stream, buffer, *round).map_err(failed)?;
                self.stream.synchronize().map_err(failed)?;
            }
            Ok(())
        }

        /// One run: upload (unless resident), kernels, download into the host kernel's output.
        fn run(&mut self) -> Result<Phases, BackendError> {
            let mut phases = Phases::default();
            let mut host = self.host.take().expect("a host kernel outside `verify`");
            let result = (|| -> Result<(), BackendError> {
                let view = host.device().expect("a device view");
                let stream = self.stream.clone();
                let t = Instant::now();
                let uploaded = if self.resident {
                    false
                } else {
                    // Nothing to upload for pi and mandelbrot: their inputs are the kernel's arguments.
                    match (&mut self.job, &view) {
                        (Job::Triad { b, c, .. }, Device::Triad { b: hb, c: hc, .. }) => {
                            stream.memcpy_htod(*hb, &mut b.slice_mut(..hb.len())).map_err(failed)?;
                            stream.memcpy_htod(*hc, &mut c.slice_mut(..hc.len())).map_err(failed)?;
                            true
                        }
                        (Job::Matmul { a, b, .. }, Device::Matmul { a: ha, b: hb, .. }) => {
                            stream.memcpy_htod(*ha, &mut a.slice_mut(..ha.len())).map_err(failed)?;
                            stream.memcpy_htod(*hb, &mut b.slice_mut(..hb.len())).map_err(failed)?;
                            true
                        }
                        (Job::Nbody { mass, initial, .. }, Device::Nbody { mass: hm, initial: hi, .. }) => {
                            stream.memcpy_htod(*hm, &mut mass.slice_mut(..hm.len())).map_err(failed)?;
                            stream.memcpy_htod(*hi, &mut initial.slice_mut(..hi.len())).map_err(failed)?;
                            true
                        }
                        (Job::Histogram { items, .. }, Device::Histogram { items: hi, .. }) => {
                            stream.memcpy_htod(*hi, &mut items.slice_mut(..hi.len())).map_err(failed)?;
                            true
                        }
                        _ => false,
                    }
                };
                if uploaded {
                    // A copy from pageable memory may return before its DMA is done.
                    stream.synchronize().map_err(failed)?;
                    phases.transfer_in = t.elapsed().as_nanos() as u64;
                }
                phases.kernel = self.timed(1)?;
                let t = Instant::now();
                match (&mut self.job, view) {
                    (Job::Triad { a, .. }, Device::Triad { a: out, .. })
                    | (Job::Matmul { c: a, .. }, Device::Matmul { c: out, .. }) => {
                        stream.memcpy_dtoh(&a.slice(..out.len()), out).map_err(failed)?
                    }
                    (Job::Pi { partial, host, .. }, Device::Pi { inside, .. }) => {
                        stream.memcpy_dtoh(&*partial, host.as_mut_slice()).map_err(failed)?;
                        stream.synchronize().map_err(failed)?;
                        *inside = Some(host.iter().sum());
                    }
                    (Job::Mandelbrot { image, .. }, Device::Mandelbrot { image: out, .. }) => {
                        stream.memcpy_dtoh(&image.slice(..out.len()), out).map_err(failed)?
                    }
                    (Job::Nbody { work, steps, .. }, Device::Nbody { state: out, .. }) => {
                        let last = &work[((*steps - 1) % 2) as usize];
                        stream.memcpy_dtoh(&last.slice(..out.len()), out).map_err(failed)?
                    }
                    (Job::Histogram { counts, .. }, Device::Histogram { counts: out, .. }) => {
                        stream.memcpy_dtoh(&counts.slice(..out.len()), out).map_err(failed)?
                    }
                    _ => unreachable!("the device view's workload does not change within a case"),
                }
                stream.synchronize().map_err(failed)?;
                phases.transfer_out = t.elapsed().as_nanos() as u64;
                Ok(())
            })();
            self.host = Some(host);
            result.map(|()| phases)
        }

        /// Fills the device output with values no run produces, for `verify`'s fresh run.
        fn spoil(&mut self) -> Result<(), BackendError> {
            let stream = self.stream.clone();
            let filled = match &mut self.job {
                // All ones: NaN, which no triad, product or step of finite inputs gives.
                Job::Triad { a: out, .. } | Job::Matmul { c: out, .. } => fill(&stream, out, 0xFF),
                Job::Nbody { work, .. } => {
                    fill(&stream, &mut work[0], 0xFF).and(fill(&stream, &mut work[1], 0xFF))
                }
                // Zero counts: a block that writes nothing loses its hits.
                Job::Pi { partial, .. } => fill(&stream, partial, 0),
                // u32::MAX: no escape count (the host image's sentinel too).
                Job::Mandelbrot { image, .. } => fill(&stream, image, 0xFF),
                // More than any bin can hold: a merge that skips a bin leaves it wrong.
                Job::Histogram { counts, partial, .. } => {
                    fill(&stream, counts, 0xFF).and(fill(&stream, partial, 0xFF))
                }
            };
            filled.map_err(failed)?;
            stream.synchronize().map_err(failed)
        }
    }

    impl Session for Cu<'_> {
        fn setup_ns(&self) -> u64 {
            self.setup_ns
        }

        fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError> {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(BackendError::Cancelled);
            }
            // Outside the sample: the flush, so that the sample's (first) run starts with the L2 cold.
            self.flush()?;
            let (clock, cancel) = (self.clock.clone(), self.cancel.clone());
            let spec = self.spec;
            let (ns, total) =
                crate::backend::device_rules::time_runs(&*clock, spec, index, runs, &cancel, &mut || {
                    self.run()
                })?;
            let kernel = total.kernel;
            if index != usize::MAX {
                self.kernel_ns.push(kernel as f64 / runs.max(1) as f64);
                // Right after the sample's work, outside its time: a reading after verification
                // would see a clock lowered for want of work.
                if let Some(cuda) = self.gpu.cuda.as_ref() {
                    if let Some(mhz) = sm_clock_mhz(&cuda.pci_bus_id) {
                        self.clock_low = Some(self.clock_low.map_or(mhz, |low| low.min(mhz)));
                    }
                }
            }
            Ok(crate::backend::device_rules::sample(ns, total, self.resident))
        }

        fn verify(&mut self) -> Result<Verification, BackendError> {
            let last = self.host.as_ref().expect("a host kernel outside `verify`").verify();
            if !last.passed {
                return Ok(last);
            }
            // A fresh host output and a spoiled device output, then one more untimed run: a
            // kernel that skips part of its work cannot pass on what earlier runs left behind.
            self.host = None;
            self.host = Some(self.instance.kernel());
            self.spoil()?;
            self.run()?;
            let checked = self.host.as_ref().expect("just made").verify();
            Ok(match checked {
                v if v.passed => last,
                v => Verification::fail(format!(
                    "a fresh run failed where the last sample passed: {}",
                    v.detail
                )),
            })
        }

        fn min_batch(&self) -> u64 {
            self.batch
        }

        fn notes(&self) -> Vec<String> {
            let cuda = self.gpu.cuda.as_ref().expect("a CUDA device");
            let mut notes = vec![format!(
                "ran on the CUDA device {} (ordinal {}, compute capability {}, driver {}); host buffers are \
                 pageable; the kernel phase is device time between CUDA events recorded around the launches \
                 (it includes the few microseconds the host takes to submit them), the transfers host time \
                 around copies and a stream synchronisation",
                self.gpu.name, cuda.ordinal, cuda.compute_capability, cuda.driver_version
            )];
            notes.extend(self.notes.iter().cloned());
            if self.clock_at_start.is_none() {
                notes.push(
                    "the SM clock was not recorded: NVML (libnvidia-ml) is not available, so a throttled run \
                     cannot be flagged"
                        .into(),
                );
            }
            notes
        }

        fn end_notes(&mut self) -> Vec<String> {
            let cuda = self.gpu.cuda.as_ref().expect("a CUDA device");
            let mut notes = Vec::new();
            notes.extend(crate::machine::cuda::clock_note(
                self.clock_at_start,
                self.clock_low,
                cuda.sm_clock_khz,
            ));
            if let Job::Triad { n, .. } = self.job {
                let bytes = (3 * 8 * n) as f64;
                notes.extend(super::bandwidth_note(bytes, &self.kernel_ns, cuda.peak_bandwidth_bytes_per_s));
            }
            notes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_is_compiled_in_with_its_kernel() {
        assert!(program("stream_triad").unwrap().contains("extern \"C\" __global__ void triad("));
        let pi = program("pi_monte_carlo").unwrap();
        assert!(pi.contains("pi(unsigned long long *partial"));
        // The count must match the CPU's bit for bit: the same generator, the same block size.
        assert!(pi.contains("0x9E3779B97F4A7C15ULL") && pi.contains("0xBF58476D1CE4E5B9ULL"));
        assert!(pi.contains(&format!("#define PI_BLOCK {PI_BLOCK}\n")));
        let matmul = program("matmul").unwrap();
        assert!(matmul.contains("matmul_naive(") && matmul.contains("matmul_tiled("));
        assert!(matmul.contains(&format!("#define TILE {TILE}\n")));
        assert!(program("mandelbrot").unwrap().contains("__global__ void mandelbrot("));
        assert!(EMPTY.contains("__global__ void empty()"));
        for (w, _) in PROGRAMS {
            assert!(crate::workload::find(w).is_some(), "{w}");
        }
        assert_eq!(program("nothing"), None);
    }

    #[test]
    fn nvrtc_compiles_for_the_device_and_without_contraction_where_the_cpu_is_matched() {
        assert_eq!(nvrtc_options("pi_monte_carlo", (9, 0)), ["--gpu-architecture=sm_90", "--fmad=false"]);
        assert_eq!(nvrtc_options("stream_triad", (8, 6)), ["--gpu-architecture=sm_86", "--fmad=false"]);
        assert_eq!(nvrtc_options("mandelbrot", (12, 0)), ["--gpu-architecture=sm_120", "--fmad=false"]);
        assert_eq!(nvrtc_options("matmul", (9, 0)), ["--gpu-architecture=sm_90"]);
        assert_eq!(compute_capability("9.0"), Ok((9, 0)));
        assert_eq!(compute_capability("12.1"), Ok((12, 1)));
        assert!(compute_capability("9").is_err() && compute_capability("x.y").is_err());
    }

    #[test]
    fn launch_shapes_cover_every_element_within_cudas_limits() {
        assert_eq!(linear(1, 256), Ok(Shape { grid: (1, 1, 1), block: (256, 1, 1) }));
        assert_eq!(linear(256, 256).unwrap().grid.0, 1);
        assert_eq!(linear(257, 256).unwrap().grid.0, 2);
        // 64 Mi elements: 262144 blocks.
        assert_eq!(linear(64 << 20, 256).unwrap().grid.0, 262_144);
        assert!(linear(((1u64 << 31) - 1) * 256, 256).is_ok());
        assert!(linear(((1u64 << 31) - 1) * 256 + 1, 256).unwrap_err().contains("over CUDA's limit"));
        assert_eq!(square(29, 16), Ok(Shape { grid: (2, 2, 1), block: (16, 16, 1) }));
        assert_eq!(square(4096, 16).unwrap().grid, (256, 256, 1));
        assert_eq!(square(65_535 * 16, 16).unwrap().grid.1, 65_535);
        assert!(square(65_535 * 16 + 1, 16).is_err());
        for side in [1u64, 15, 16, 17, 37, 1000] {
            let s = square(side, TILE).unwrap();
            assert!(s.grid.0 as u64 * TILE as u64 >= side && (s.grid.0 as u64 - 1) * (TILE as u64) < side);
        }
    }

    #[test]
    fn the_pi_layout_counts_every_sample_once() {
        for samples in
            [1u64, 2, 255, 256, 257, 200_003, 1 << 20, (1 << 20) + 1, 50_000_000, 1 << 30, 1_000_000_007]
        {
            let l = pi_layout(samples);
            let threads = l.blocks as u64 * PI_BLOCK as u64;
            assert!(threads <= PI_THREADS.max(PI_BLOCK as u64), "{samples}: {l:?}");
            // Thread g counts [g * per_item, min((g + 1) * per_item, samples)), as the kernel does.
            let counted: u64 = (0..threads)
                .map(|g| {
                    let start = g * l.per_item;
                    (start + l.per_item).min(samples).saturating_sub(start)
                })
                .sum();
            assert_eq!(counted, samples, "{samples}: {l:?}");
            // No thread count smaller would do: per_item is as small as it can be.
            assert!((l.per_item - 1) * threads < samples, "{samples}: {l:?}");
        }
        assert_eq!(pi_layout(1 << 30), PiLayout { blocks: 4096, per_item: 1024 });
    }

    #[test]
    fn the_histogram_layout_counts_every_item_once_in_32_bits() {
        let partial = 32 << 20;
        for (items, bins) in
            [(1u64, 1u64), (100, 10), (4096, 256), (1_000_003, 1000), (1 << 30, 16), (1 << 26, 12_000)]
        {
            let l = histogram_layout(items, bins, 48 << 10, partial);
            assert!(l.shared, "{items} {bins}: {l:?}");
            assert!(l.groups * l.per_group >= items && (l.groups - 1) * l.per_group < items.max(1), "{l:?}");
            assert!(l.groups * 4 * bins <= partial.max(4 * bins), "{l:?}");
            assert!(l.per_group <= u32::MAX as u64, "{l:?}");
            // About 16 items a thread (rounding the groups up may leave a few less).
            assert!(2 * l.per_group >= 16 * BLOCK as u64 || l.groups == 1, "{items} {bins}: {l:?}");
        }
        // 16384 bins are 64 KiB of counters: more than 48 KiB of shared memory.
        let global = histogram_layout(1000, 16_384, 48 << 10, partial);
        assert_eq!(global, HistogramLayout { shared: false, groups: 1, per_group: 1000 });
    }

    #[test]
    fn the_flush_is_twice_the_l2_within_limits_and_short_kernels_are_batched() {
        // H200: 60 MiB of L2, 141 GB of memory.
        assert_eq!(flush_bytes(60 << 20, 141 << 30), 120 << 20);
        assert_eq!(flush_bytes(400 << 20, 141 << 30), FLUSH_LIMIT);
        assert_eq!(flush_bytes(40 << 20, 64 << 20), 16 << 20);
        assert_eq!(flush_bytes(0, 1 << 30), 0);
        // A 5 us launch latency: kernels under 500 us are batched up to 500 us, at most 1000 runs.
        assert_eq!(batch(500_000, 5_000), 1);
        assert_eq!(batch(499_999, 5_000), 2);
        assert_eq!(batch(10_000, 5_000), 50);
        assert_eq!(batch(0, 5_000), MAX_BATCH);
    }

    #[test]
    fn triad_bandwidth_is_a_fraction_of_the_peak() {
        // 24 MiB in 10 us is 2516.6 GB/s; of a 4917 GB/s peak, 51%.
        let peak = crate::machine::cuda::peak_bandwidth(3_201_000, 6144);
        let note = bandwidth_note(24.0 * 1048576.0, &[10_000.0, 9_000.0, 11_000.0], peak).unwrap();
        assert_eq!(
            note,
            "device bandwidth (kernel phase only, median): 2516.6 GB/s, 51% of the theoretical peak of \
             4916.7 GB/s (2 x memory clock x bus width / 8)"
        );
        let none = bandwidth_note(24.0, &[10.0], None).unwrap();
        assert!(none.contains("no peak to compare with"), "{none}");
        assert_eq!(bandwidth_note(24.0, &[], peak), None);
    }

    #[test]
    fn a_missing_device_is_named_with_the_devices_here() {
        use crate::scenario::{DeviceChoice, DeviceTarget};
        let gpu = |name: &str| crate::machine::Gpu {
            name: name.into(),
            api: "cuda".into(),
            memory_bytes: 1 << 30,
            platform: None,
            kind: Some("gpu".into()),
            compute_units: Some(4),
            cache_bytes: None,
            max_work_group_size: Some(1024),
            version: None,
            fp64: Some(true),
            cuda: None,
        };
        let here = Ok(vec![gpu("NVIDIA H200"), gpu("NVIDIA H200")]);
        let choice = |c: &str| DeviceChoice::parse(c).unwrap();
        assert_eq!(
            no_device_reason_among(&here, &choice("radeon"), None),
            "no CUDA device matches `device = \"radeon\"`: the CUDA devices here are NVIDIA H200, NVIDIA H200"
        );
        let gone = DeviceTarget { name: "NVIDIA H200".into(), ordinal: 2 };
        assert_eq!(
            no_device_reason_among(&here, &choice("all"), Some(&gone)),
            "the CUDA device NVIDIA H200 #3 the plan chose is not on this machine: the CUDA devices here are \
             NVIDIA H200, NVIDIA H200"
        );
        assert!(
            no_device_reason_among(&here, &choice("gpu"), None).starts_with("the plan lists no CUDA device")
        );
        let none = Err("the CUDA driver library (libcuda.so) is not installed".to_string());
        assert_eq!(
            no_device_reason_among(&none, &choice("gpu"), None),
            "no CUDA device matches `device = \"gpu\"`: no CUDA device: the CUDA driver library (libcuda.so) is \
             not installed"
        );
    }

    #[test]
    fn availability_says_why_not() {
        let said = CudaBackend.availability().map_err(|e| e.to_string());
        if cfg!(feature = "cuda") {
            match crate::machine::cuda::chosen() {
                Ok(_) => assert_eq!(said, crate::machine::cuda::nvrtc_library()),
                Err(why) => assert_eq!(said, Err(why.clone())),
            }
        } else {
            assert_eq!(said, Err("built without the cuda feature".into()));
        }
    }

    #[test]
    fn only_workloads_with_a_cuda_kernel_support_cuda() {
        let tiled = crate::strategy::find("cuda-tiled").unwrap();
        let with_tiles: Vec<&str> = crate::workload::WORKLOADS
            .iter()
            .filter(|w| w.support(tiled).is_ok())
            .map(|w| w.name())
            .collect();
        assert_eq!(with_tiles, ["matmul"]);
        let cuda = crate::strategy::find("cuda").unwrap();
        let mut supported: Vec<&str> =
            crate::workload::WORKLOADS.iter().filter(|w| w.support(cuda).is_ok()).map(|w| w.name()).collect();
        let mut programs: Vec<&str> = PROGRAMS.iter().map(|(w, _)| *w).collect();
        supported.sort();
        programs.sort();
        assert_eq!(supported, programs);
    }
}
