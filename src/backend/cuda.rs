//! Backend `cuda`: a case on an NVIDIA GPU through the CUDA driver API (`cuda` builds). The
//! device is ordinal 0 ([`crate::machine::cuda::chosen`]); its name is in the case's notes.
//!
//! Nothing is linked at build time: `cudarc` loads `libcuda` and `libnvrtc` when a case starts,
//! and a missing one makes the case `unavailable` with the reason (see [`crate::machine::cuda`]).
//!
//! Starting a case (its `setup`, never a sample) makes the context and a stream, compiles the
//! workload's CUDA C (`cuda/*.cu`, compiled in with `include_str!`) with NVRTC into a CUBIN for
//! the device's compute capability, loads it, allocates the device buffers, measures the launch
//! latency of an empty kernel and runs the case's kernel once, so that no compilation or first
//! launch falls into a sample. Each run then uploads the inputs (`transfer_in`), launches the
//! kernel once (`kernel`: device time between two CUDA events around the launch) and reads the
//! output back (`transfer_out`); the sample's `ns` is the host clock around all three, so the
//! headline time includes the transfers. Host buffers are the workload's own, ordinary
//! (pageable) memory, as the CPU strategies use: the driver stages pageable copies through a
//! pinned buffer of its own, so transfers run below the bus's pinned speed. Transfers are timed
//! on the host around copies followed by a stream synchronisation.
//!
//! Where NVML is installed, the SM clock is read at the start and the end of each case and a
//! case that ran under 75% of the default clock is flagged (nvbench's rule); `stream_triad`
//! reports its kernel-only bandwidth as a fraction of the memory's theoretical peak.

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

    use cudarc::driver::sys::CUevent_flags;
    use cudarc::driver::{
        CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtrMut, DriverError, LaunchConfig,
        PushKernelArg,
    };
    use cudarc::nvrtc::Ptx;

    use super::{Shape, BLOCK, EMPTY, LATENCY_LAUNCHES, PI_BLOCK, TILE};
    use crate::backend::{BackendError, CaseJob, Sample, Session};
    use crate::clock::Clock;
    use crate::machine::cuda::{driver_error, sm_clock_mhz};
    use crate::machine::Gpu;
    use crate::scenario::CaseSpec;
    use crate::workload::device::Device;
    use crate::workload::{Instance, Kernel, Verification};

    /// The device side of one case: its buffers, its kernel and the kernel's scalar arguments.
    enum Job {
        Triad { a: CudaSlice<f64>, b: CudaSlice<f64>, c: CudaSlice<f64>, scalar: f64, n: u64 },
        Pi { partial: CudaSlice<u64>, host: Vec<u64>, seed: u64, samples: u64, per_item: u64 },
        Mandelbrot { image: CudaSlice<u32>, width: u64, max_iter: u32, window: [f64; 4] },
        Matmul { a: CudaSlice<f64>, b: CudaSlice<f64>, c: CudaSlice<f64>, n: u64 },
    }

    /// One run's phases, nanoseconds.
    #[derive(Default)]
    struct Phases {
        transfer_in: u64,
        kernel: u64,
        transfer_out: u64,
    }

    pub(super) struct Cu<'a> {
        /// `None` only inside `verify`, between dropping the last output and making the fresh one.
        host: Option<Box<dyn Kernel + 'a>>,
        instance: &'a dyn Instance,
        job: Job,
        function: CudaFunction,
        shape: LaunchConfig,
        before: CudaEvent,
        after: CudaEvent,
        stream: Arc<CudaStream>,
        _context: Arc<CudaContext>,
        spec: &'a CaseSpec,
        clock: Arc<dyn Clock>,
        setup_ns: u64,
        gpu: Gpu,
        compiled: String,
        latency_ns: f64,
        /// The kernel phase of every timed run (not warm-up runs), for the bandwidth note.
        kernel_ns: Vec<f64>,
        /// NVML's SM clock once setup was done.
        clock_at_start: Option<u32>,
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

    pub(super) fn start<'a>(job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let began = Instant::now();
        let gpu = crate::machine::cuda::chosen().clone().map_err(BackendError::Unavailable)?;
        let info = gpu.cuda.clone().expect("a CUDA device has its CUDA fields");
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
        let empty = load(empty, "loading the empty kernel")?
            .load_function("empty")
            .map_err(setup("the empty kernel"))?;
        let event =
            || context.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(setup("a CUDA event"));
        let (before, after) = (event()?, event()?);
        let shape_error = |why| BackendError::Setup { what: "the launch shape".into(), why };
        let tiled = job.strategy.name() == "cuda-tiled";
        let (job_state, kernel, shape) = match view {
            Device::Triad { a, b, c, scalar } => {
                let n = a.len();
                // SAFETY: `a` is written whole by every run before it is read back; `b` and `c`
                // are uploaded here and at every run.
                let alloc = || {
                    let buffer = unsafe { stream.alloc::<f64>(n) };
                    buffer.map_err(setup("the device buffers"))
                };
                let (da, mut db, mut dc) = (alloc()?, alloc()?, alloc()?);
                stream.memcpy_htod(b, &mut db).map_err(setup("uploading b"))?;
                stream.memcpy_htod(c, &mut dc).map_err(setup("uploading c"))?;
                let shape = super::linear(n as u64, BLOCK).map_err(shape_error)?;
                (Job::Triad { a: da, b: db, c: dc, scalar, n: n as u64 }, "triad", shape)
            }
            Device::Pi { seed, samples, .. } => {
                let layout = super::pi_layout(samples);
                let partial =
                    stream.alloc_zeros::<u64>(layout.blocks as usize).map_err(setup("the partial counts"))?;
                let shape = Shape { grid: (layout.blocks, 1, 1), block: (PI_BLOCK, 1, 1) };
                let host = vec![0; layout.blocks as usize];
                (Job::Pi { partial, host, seed, samples, per_item: layout.per_item }, "pi", shape)
            }
            Device::Mandelbrot { image, width, max_iter, re_min, re_step, im_max, im_step } => {
                let buffer = stream.alloc_zeros::<u32>(image.len()).map_err(setup("the image"))?;
                let shape = super::square(width, TILE).map_err(shape_error)?;
                let window = [re_min, re_step, im_max, im_step];
                (Job::Mandelbrot { image: buffer, width, max_iter, window }, "mandelbrot", shape)
            }
            Device::Matmul { c, a, b, n } => {
                let len = c.len();
                let alloc = || stream.alloc_zeros::<f64>(len).map_err(setup("the device matrices"));
                let (dc, mut da, mut db) = (alloc()?, alloc()?, alloc()?);
                stream.memcpy_htod(a, &mut da).map_err(setup("uploading a"))?;
                stream.memcpy_htod(b, &mut db).map_err(setup("uploading b"))?;
                let shape = super::square(n, TILE).map_err(shape_error)?;
                let kernel = if tiled { "matmul_tiled" } else { "matmul_naive" };
                (Job::Matmul { a: da, b: db, c: dc, n }, kernel, shape)
            }
        };
        let function = module.load_function(kernel).map_err(setup("the kernel"))?;
        stream.synchronize().map_err(setup("the uploads"))?;
        let latency_ns = launch_latency(&stream, &empty).map_err(setup("timing the empty kernel"))?;
        let compiled =
            format!("compiled by NVRTC {nvrtc} with {}", super::nvrtc_options(workload, arch).join(" "));
        let mut session = Cu {
            host: Some(host),
            instance: job.instance,
            job: job_state,
            function,
            shape: config(shape),
            before,
            after,
            stream,
            _context: context,
            spec: job.spec,
            clock: job.clock,
            setup_ns: 0,
            gpu,
            compiled,
            latency_ns,
            kernel_ns: Vec::new(),
            clock_at_start: None,
            cancel: job.config.cancel.clone(),
        };
        // One run here, so that the first sample loads nothing lazily (the driver may finish
        // loading a module at its first launch).
        session
            .run()
            .map_err(|e| BackendError::Setup { what: "the first run".into(), why: e.to_string() })?;
        session.setup_ns = began.elapsed().as_nanos() as u64;
        session.clock_at_start = sm_clock_mhz(&info.pci_bus_id);
        Ok(Box::new(session))
    }

    /// The median over [`LATENCY_LAUNCHES`] of launching the empty kernel and waiting for it,
    /// host time, after one untimed launch.
    fn launch_latency(stream: &Arc<CudaStream>, empty: &CudaFunction) -> Result<f64, DriverError> {
        let one = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (1, 1, 1), shared_mem_bytes: 0 };
        let mut times = Vec::with_capacity(LATENCY_LAUNCHES);
        for i in 0..=LATENCY_LAUNCHES {
            let t = Instant::now();
            // SAFETY: the empty kernel takes no arguments.
            unsafe { stream.launch_builder(empty).launch(one)? };
            stream.synchronize()?;
            if i > 0 {
                times.push(t.elapsed().as_nanos() as f64);
            }
        }
        Ok(super::median_of(&times).unwrap_or(0.0))
    }

    /// Fills `buffer` with the byte `value`, on `stream`.
    fn fill<T>(stream: &Arc<CudaStream>, buffer: &mut CudaSlice<T>, value: u8) -> Result<(), DriverError> {
        let bytes = buffer.num_bytes();
        let (ptr, _done) = buffer.device_ptr_mut(stream);
        // SAFETY: `ptr` is `bytes` bytes of this case's memory; every pattern written here is a
        // valid f64 (all ones: a NaN), u32 or u64.
        unsafe { cudarc::driver::result::memset_d8_async(ptr, value, bytes, stream.cu_stream()) }
    }

    impl Cu<'_> {
        /// Launches the kernel once between the two events, waits, and returns its device time.
        fn launch(&mut self) -> Result<u64, BackendError> {
            let stream = &self.stream;
            self.before.record(stream).map_err(failed)?;
            let mut call = stream.launch_builder(&self.function);
            match &mut self.job {
                Job::Triad { a, b, c, scalar, n } => call.arg(a).arg(&*b).arg(&*c).arg(&*scalar).arg(&*n),
                Job::Pi { partial, seed, samples, per_item, .. } => {
                    call.arg(partial).arg(&*seed).arg(&*samples).arg(&*per_item)
                }
                Job::Mandelbrot { image, width, max_iter, window } => call
                    .arg(image)
                    .arg(&*width)
                    .arg(&*max_iter)
                    .arg(&window[0])
                    .arg(&window[1])
                    .arg(&window[2])
                    .arg(&window[3]),
                Job::Matmul { a, b, c, n } => call.arg(c).arg(&*a).arg(&*b).arg(&*n),
            };
            // SAFETY: the arguments match the kernel's parameters in order and type (see
            // `cuda/*.cu`), and the buffers are sized for the launch's shape.
            let launched = unsafe { call.launch(self.shape) };
            launched.map_err(failed)?;
            self.after.record(stream).map_err(failed)?;
            self.after.synchronize().map_err(failed)?;
            let ms = self.before.elapsed_ms(&self.after).map_err(failed)?;
            Ok((ms as f64 * 1e6).round() as u64)
        }

        /// One run: upload, kernel, download into the host kernel's output.
        fn run(&mut self) -> Result<Phases, BackendError> {
            let mut phases = Phases::default();
            let mut host = self.host.take().expect("a host kernel outside `verify`");
            let result = (|| -> Result<(), BackendError> {
                let view = host.device().expect("a device view");
                let stream = self.stream.clone();
                // Inputs first (nothing to upload for pi and mandelbrot: their inputs are the
                // kernel's arguments).
                let t = Instant::now();
                match (&mut self.job, &view) {
                    (Job::Triad { b, c, .. }, Device::Triad { b: hb, c: hc, .. }) => {
                        stream.memcpy_htod(*hb, b).map_err(failed)?;
                        stream.memcpy_htod(*hc, c).map_err(failed)?;
                    }
                    (Job::Matmul { a, b, .. }, Device::Matmul { a: ha, b: hb, .. }) => {
                        stream.memcpy_htod(*ha, a).map_err(failed)?;
                        stream.memcpy_htod(*hb, b).map_err(failed)?;
                    }
                    (Job::Pi { .. }, Device::Pi { .. })
                    | (Job::Mandelbrot { .. }, Device::Mandelbrot { .. }) => {}
                    _ => unreachable!("the device view's workload does not change within a case"),
                }
                // A copy from pageable memory may return before its DMA is done.
                stream.synchronize().map_err(failed)?;
                if matches!(self.job, Job::Triad { .. } | Job::Matmul { .. }) {
                    phases.transfer_in = t.elapsed().as_nanos() as u64;
                }
                phases.kernel = self.launch()?;
                let t = Instant::now();
                match (&mut self.job, view) {
                    (Job::Triad { a, .. }, Device::Triad { a: out, .. })
                    | (Job::Matmul { c: a, .. }, Device::Matmul { c: out, .. }) => {
                        stream.memcpy_dtoh(&*a, out).map_err(failed)?
                    }
                    (Job::Pi { partial, host, .. }, Device::Pi { inside, .. }) => {
                        stream.memcpy_dtoh(&*partial, host.as_mut_slice()).map_err(failed)?;
                        stream.synchronize().map_err(failed)?;
                        *inside = Some(host.iter().sum());
                    }
                    (Job::Mandelbrot { image, .. }, Device::Mandelbrot { image: out, .. }) => {
                        stream.memcpy_dtoh(&*image, out).map_err(failed)?
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
                // All ones: NaN, which no triad or product of finite inputs gives.
                Job::Triad { a: out, .. } | Job::Matmul { c: out, .. } => fill(&stream, out, 0xFF),
                // Zero counts: a block that writes nothing loses its hits.
                Job::Pi { partial, .. } => fill(&stream, partial, 0),
                // u32::MAX: no escape count (the host image's sentinel too).
                Job::Mandelbrot { image, .. } => fill(&stream, image, 0xFF),
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
            let mut total = Phases::default();
            let mut error = None;
            let mut kernels = Vec::new();
            let clock = self.clock.clone();
            let ns = clock.measure(self.spec, index, &mut || {
                for _ in 0..runs {
                    if self.cancel.load(Ordering::Relaxed) {
                        error = Some(BackendError::Cancelled);
                        return;
                    }
                    match self.run() {
                        Ok(p) => {
                            total.transfer_in += p.transfer_in;
                            total.kernel += p.kernel;
                            total.transfer_out += p.transfer_out;
                            kernels.push(p.kernel as f64);
                        }
                        Err(e) => {
                            error = Some(e);
                            return;
                        }
                    }
                }
            });
            if let Some(e) = error {
                return Err(e);
            }
            if index != usize::MAX {
                self.kernel_ns.extend(kernels);
            }
            let phases = vec![
                ("transfer_in".into(), total.transfer_in),
                ("kernel".into(), total.kernel),
                ("transfer_out".into(), total.transfer_out),
            ];
            Ok(Sample { ns, phases, ..Sample::default() })
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

        fn notes(&self) -> Vec<String> {
            let cuda = self.gpu.cuda.as_ref().expect("a CUDA device");
            let mut notes = vec![
                format!(
                    "ran on the CUDA device {} (ordinal {}, compute capability {}, driver {}); host buffers \
                     are pageable; the kernel phase is device time between CUDA events, the transfers host \
                     time around copies and a stream synchronisation",
                    self.gpu.name, cuda.ordinal, cuda.compute_capability, cuda.driver_version
                ),
                format!(
                    "empty-kernel launch latency {} (median of {LATENCY_LAUNCHES} launch-and-wait round trips); \
                     kernel {}",
                    crate::units::format_ns(self.latency_ns),
                    self.compiled
                ),
            ];
            if self.clock_at_start.is_none() {
                notes.push(
                    "the SM clock was not recorded: NVML (libnvidia-ml) is not available, so a throttled \
                     run cannot be flagged"
                        .into(),
                );
            }
            notes
        }

        fn end_notes(&mut self) -> Vec<String> {
            let cuda = self.gpu.cuda.as_ref().expect("a CUDA device");
            let mut notes = Vec::new();
            let end = sm_clock_mhz(&cuda.pci_bus_id);
            notes.extend(crate::machine::cuda::clock_note(self.clock_at_start, end, cuda.sm_clock_khz));
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
