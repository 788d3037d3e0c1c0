//! Backend `opencl`: a case on an OpenCL device (`opencl` builds). The device is the one the plan
//! chose for the case ([`crate::scenario::DeviceCase`]: the scenario's `device` selects them, each
//! its own case), found again by name ([`crate::machine::opencl::find`]); its name is in the
//! case's notes. A device the plan named that is not here, or a selector that matched none, makes
//! the case `unavailable`; an f64 kernel on a device without fp64 makes it `unsupported`.
//!
//! Starting a case (its `setup`, never a sample) makes the context, a queue with profiling
//! enabled, builds the workload's program from its `.cl` file (compiled in with
//! `include_str!`), allocates the device buffers, uploads the inputs and runs the kernels once,
//! so that no JIT compilation (PoCL compiles again for each work-group size) falls into a
//! sample. Each run then uploads the inputs (`transfer_in`), launches the kernels (`kernel`:
//! device time from the launches' profiling events) and reads the output back
//! (`transfer_out`); the sample's `ns` is the host clock around all three, so the headline time
//! includes the transfers. Host buffers are ordinary (pageable) memory. Transfers are timed on
//! the host around blocking commands; the kernels' device time sits inside the host time
//! between them, so the phases never sum to more than the sample. The scenario's device
//! settings change this ([`crate::scenario::device`]), and each case's notes say how it ran:
//! - `cache = "cold"` (the default): before each sample, outside it, the device writes a buffer
//!   of twice its reported global-memory cache (at most a quarter of its memory and
//!   [`FLUSH_LIMIT`]), as nvbench flushes L2, so that no sample finds the last one's data in
//!   the cache; `"warm"` leaves the cache as the last sample left it;
//! - `resident = true`: the inputs are uploaded once, in the setup; the samples have no
//!   `transfer_in`, and the headline is kernels and download only.
//!
//! Launch latency: the setup times [`LATENCY_LAUNCHES`] launches of an empty kernel, each from
//! enqueue to completion on the host, and notes the median. A workload whose kernels take less
//! than [`LATENCY_RATIO`] times that is timed in batches, as the runner batches short CPU
//! kernels: the session asks the runner for [`batch`] runs per sample
//! ([`Session::min_batch`](super::Session::min_batch)), each a whole run of upload, kernels and
//! download, and every figure (the sample and each phase, the kernel's own profiling events
//! summed) is their mean. The flush precedes the sample, so only its first run starts cold.

pub use super::device_rules::{batch, flush_bytes, FLUSH_LIMIT, LATENCY_RATIO, MAX_BATCH};
use super::{Backend, BackendError, CaseJob, Session};
use crate::scenario::{DeviceChoice, DeviceTarget};

pub struct OpenClBackend;

/// This backend's name, as the `opencl` strategy gives it.
pub const NAME: &str = "opencl";

/// Each workload's program, compiled in.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("stream_triad", include_str!("opencl/stream_triad.cl")),
    ("pi_monte_carlo", include_str!("opencl/pi_monte_carlo.cl")),
    ("mandelbrot", include_str!("opencl/mandelbrot.cl")),
    ("matmul", include_str!("opencl/matmul.cl")),
    ("nbody", include_str!("opencl/nbody.cl")),
    ("histogram", include_str!("opencl/histogram.cl")),
];

/// The f32 programs of `opencl-f32`, by workload: no fp64 in them.
pub const F32_PROGRAMS: &[(&str, &str)] = &[
    ("stream_triad", include_str!("opencl/stream_triad_f32.cl")),
    ("matmul", include_str!("opencl/matmul_f32.cl")),
];

/// The kernel whose launches measure the launch latency.
pub const EMPTY_PROGRAM: &str = "__kernel void empty(void) {}\n";

/// The most work-items a `pi_monte_carlo` launch uses: each counts a contiguous block of
/// samples and writes one partial count, which the host sums.
pub const PI_ITEMS: u64 = 1 << 16;

/// Timed launches of the empty kernel for the launch latency (after a few untimed ones).
pub const LATENCY_LAUNCHES: usize = 31;

/// Why no device here is `target` (or, with none, matches `choice`): the words of an
/// `unavailable` case, naming the devices there are.
pub fn no_device_reason(choice: &DeviceChoice, target: Option<&DeviceTarget>) -> String {
    use crate::machine::opencl::{listed, unavailable_reason};
    let here = match listed() {
        Ok(found) if !found.is_empty() => {
            let names: Vec<String> = found
                .iter()
                .map(|g| format!("{} ({})", g.name, g.kind.as_deref().unwrap_or("other")))
                .collect();
            format!("the OpenCL devices here are {}", names.join(", "))
        }
        found => unavailable_reason(found).unwrap_or_default(),
    };
    let matching = match listed() {
        Ok(found) => found.iter().any(|g| choice.matches(&g.name, g.kind.as_deref())),
        Err(_) => false,
    };
    match target {
        Some(t) => format!("the OpenCL device {} the plan chose is not on this machine: {here}", t.label()),
        // The plan was made from a machine description without this machine's devices.
        None if matching => format!(
            "the plan lists no OpenCL device for `device = \"{choice}\"` (it was made without probing this \
             machine's devices, e.g. for a described machine), though {here}"
        ),
        None => format!("no OpenCL device matches `device = \"{choice}\"`: {here}"),
    }
}

impl Backend for OpenClBackend {
    fn name(&self) -> &'static str {
        NAME
    }
    fn summary(&self) -> &'static str {
        "an OpenCL device: upload, kernel, download, each a phase of every sample"
    }
    fn availability(&self) -> Result<(), BackendError> {
        if !cfg!(feature = "opencl") {
            return Err(BackendError::Unavailable("built without the opencl feature".into()));
        }
        crate::machine::opencl::chosen()
            .as_ref()
            .map(|_| ())
            .map_err(|why| BackendError::Unavailable(why.clone()))
    }
    #[cfg(not(feature = "opencl"))]
    fn start<'a>(&self, _job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        Err(BackendError::Unavailable("built without the opencl feature".into()))
    }
    #[cfg(feature = "opencl")]
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        device::start(job)
    }
}

#[cfg(feature = "opencl")]
mod device {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use ocl::enums::{DeviceInfo, DeviceInfoResult, ProfilingInfo};
    use ocl::{Buffer, Event, Kernel as ClKernel, Queue};

    use super::{
        batch, flush_bytes, EMPTY_PROGRAM, F32_PROGRAMS, FLUSH_LIMIT, LATENCY_LAUNCHES, LATENCY_RATIO,
        PI_ITEMS, PROGRAMS,
    };
    use crate::backend::{BackendError, CaseJob, Sample, Session};
    use crate::clock::Clock;
    use crate::machine::opencl as probe;
    use crate::scenario::{Cache, CaseSpec, DeviceCase};
    use crate::strategy::opencl::TILE;
    use crate::units::{format_bytes, format_ns};
    use crate::workload::device::{fp64_refusal, Device, Precision, HISTOGRAM_PARTIAL_BYTES};
    use crate::workload::{Instance, Kernel, Verification};

    /// The device side of one case: its buffers and the kernels bound to them.
    // One per case, made once and never moved in a sample: the variants' sizes do not matter.
    #[allow(clippy::large_enum_variant)]
    enum Job {
        Triad {
            a: Buffer<f64>,
            b: Buffer<f64>,
            c: Buffer<f64>,
            kernel: ClKernel,
        },
        /// `opencl-f32`: `hb` and `hc` are the inputs rounded to f32 once, in the setup; the output
        /// is read into `ha` and widened into the host kernel's.
        TriadF32 {
            a: Buffer<f32>,
            b: Buffer<f32>,
            c: Buffer<f32>,
            kernel: ClKernel,
            ha: Vec<f32>,
            hb: Vec<f32>,
            hc: Vec<f32>,
        },
        Pi {
            partial: Buffer<u64>,
            host: Vec<u64>,
            kernel: ClKernel,
        },
        Mandelbrot {
            image: Buffer<u32>,
            kernel: ClKernel,
        },
        Matmul {
            a: Buffer<f64>,
            b: Buffer<f64>,
            c: Buffer<f64>,
            kernel: ClKernel,
        },
        /// As [`Job::TriadF32`], for `c = a * b`.
        MatmulF32 {
            a: Buffer<f32>,
            b: Buffer<f32>,
            c: Buffer<f32>,
            kernel: ClKernel,
            ha: Vec<f32>,
            hb: Vec<f32>,
            hc: Vec<f32>,
        },
        /// `initial` is never written: the first step reads it into `work[0]`, later steps go back
        /// and forth between `work[0]` and `work[1]` ([`nbody_order`]).
        Nbody {
            mass: Buffer<f64>,
            initial: Buffer<f64>,
            work: [Buffer<f64>; 2],
            steps: [ClKernel; 3],
            count: u64,
        },
        /// `kernels` fill `partial` (a row per work-group; or, with global atomics, one row that a
        /// kernel clears first) and merge its rows into `counts`.
        Histogram {
            items: Buffer<u32>,
            partial: Buffer<u32>,
            counts: Buffer<u64>,
            kernels: Vec<ClKernel>,
        },
    }

    /// The step kernels of `count` nbody steps, in order: step `k` writes `work[k % 2]`.
    fn nbody_order(steps: &[ClKernel; 3], count: u64) -> Vec<&ClKernel> {
        (0..count as usize).map(|k| if k == 0 { &steps[0] } else { &steps[1 + (k + 1) % 2] }).collect()
    }

    use crate::backend::device_rules::Phases;

    pub(super) struct Cl<'a> {
        /// `None` only inside `verify`, between dropping the last output and making the fresh one.
        host: Option<Box<dyn Kernel + 'a>>,
        instance: &'a dyn Instance,
        queue: Queue,
        job: Job,
        spec: &'a CaseSpec,
        clock: Arc<dyn Clock>,
        setup_ns: u64,
        device: String,
        /// What the case's notes say about how it ran, beyond the device.
        notes: Vec<String>,
        /// Inputs uploaded once in the setup: no run uploads them.
        resident: bool,
        /// For a cold cache: the buffer written before each sample, and the value last written.
        flush: Option<(Buffer<u64>, u64)>,
        /// Runs of the kernels per batch; 1: no batch (see the module's documentation).
        batch: u64,
        /// The case's cancellation flag, checked between runs (a launched kernel runs to its end).
        cancel: Arc<AtomicBool>,
    }

    fn setup(what: &str) -> impl Fn(ocl::Error) -> BackendError + '_ {
        move |e| BackendError::Setup {
            what: what.to_string(),
            why: crate::machine::opencl::one_line(&e.to_string()),
        }
    }

    fn failed(e: ocl::Error) -> BackendError {
        BackendError::Failed(format!("OpenCL: {}", crate::machine::opencl::one_line(&e.to_string())))
    }

    /// The device the case was planned for ([`CaseSpec::device`]), or the first one for a case
    /// planned without one (a plan from before devices were chosen).
    fn pick(spec: &CaseSpec) -> Result<(ocl::Platform, ocl::Device), BackendError> {
        match &spec.device {
            None => probe::first_device().map_err(BackendError::NoDevice),
            Some(DeviceCase { target: None, choice, .. }) => {
                Err(BackendError::NoDevice(super::no_device_reason(choice, None)))
            }
            Some(DeviceCase { target: Some(t), choice, .. }) => {
                match probe::find(&t.name, t.ordinal).map_err(BackendError::NoDevice)? {
                    Some(found) => Ok(found),
                    None => Err(BackendError::NoDevice(super::no_device_reason(choice, Some(t)))),
                }
            }
        }
    }

    /// An integer property of the device (0 where it does not say).
    fn info(device: &ocl::Device, what: DeviceInfo) -> u64 {
        match device.info(what) {
            Ok(DeviceInfoResult::LocalMemSize(n)) => n,
            Ok(DeviceInfoResult::MaxWorkGroupSize(n)) => n as u64,
            _ => 0,
        }
    }

    /// The median host time from enqueueing an empty kernel to its completion, over
    /// [`LATENCY_LAUNCHES`] launches after three untimed ones.
    fn launch_latency(
        context: &ocl::Context,
        device: ocl::Device,
        queue: &Queue,
    ) -> Result<u64, BackendError> {
        let program = ocl::Program::builder()
            .src(EMPTY_PROGRAM)
            .devices(device)
            .build(context)
            .map_err(setup("the empty kernel's program"))?;
        let kernel = ClKernel::builder()
            .program(&program)
            .name("empty")
            .queue(queue.clone())
            .global_work_size(1)
            .build()
            .map_err(setup("the empty kernel"))?;
        let mut times = Vec::with_capacity(LATENCY_LAUNCHES);
        for i in 0..LATENCY_LAUNCHES + 3 {
            let t = Instant::now();
            // SAFETY: the empty kernel takes no argument and touches no memory.
            unsafe { kernel.cmd().enq().map_err(setup("launching the empty kernel"))? };
            queue.finish().map_err(setup("launching the empty kernel"))?;
            if i >= 3 {
                times.push(t.elapsed().as_nanos() as u64);
            }
        }
        times.sort_unstable();
        Ok(times[times.len() / 2])
    }

    /// A device buffer of `len` values of `T` on `queue`: `unsupported` with the sizes when it is
    /// larger than the device allocates in one piece (`CL_DEVICE_MAX_MEM_ALLOC_SIZE`), which the
    /// driver would otherwise refuse with an error, or a GPU with less memory than the host fail.
    fn buffer<T: ocl::OclPrm>(queue: &Queue, len: usize, what: &str) -> Result<Buffer<T>, BackendError> {
        let bytes = (len.max(1) as u64).saturating_mul(std::mem::size_of::<T>() as u64);
        let device = queue.device();
        if let Ok(DeviceInfoResult::MaxMemAllocSize(most)) = device.info(DeviceInfo::MaxMemAllocSize) {
            if bytes > most {
                return Err(BackendError::Unsupported(format!(
                    "{what} needs {}, and the OpenCL device {} allocates at most {} in one buffer",
                    format_bytes(bytes),
                    device.name().unwrap_or_default().trim(),
                    format_bytes(most)
                )));
            }
        }
        Buffer::<T>::builder().queue(queue.clone()).len(len.max(1)).build().map_err(setup(what))
    }

    pub(super) fn start<'a>(job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let began = Instant::now();
        let (platform, device) = pick(job.spec)?;
        let platform_name = platform.name().unwrap_or_default();
        let described = probe::describe(&platform_name, &device).map_err(setup("the OpenCL device"))?;
        let settings = job.spec.device.clone().unwrap_or(DeviceCase {
            choice: Default::default(),
            target: None,
            cache: Cache::default(),
            resident: false,
        });
        let f32 = job.strategy.name() == "opencl-f32";
        let mut host = job.instance.kernel();
        let Some(view) = host.device() else {
            return Err(BackendError::Unavailable(format!("`{}` has no device kernel", job.spec.workload)));
        };
        let workload = view.workload();
        if !f32 && view.computes_in_f64() {
            if let Some(why) = fp64_refusal(workload, &described) {
                return Err(BackendError::Unsupported(why));
            }
        }
        let context = ocl::Context::builder()
            .platform(platform)
            .devices(device)
            .build()
            .map_err(setup("an OpenCL context"))?;
        let queue = Queue::new(&context, device, Some(ocl::flags::QUEUE_PROFILING_ENABLE))
            .map_err(setup("an OpenCL queue"))?;
        let source = if f32 { F32_PROGRAMS } else { PROGRAMS }
            .iter()
            .find(|(w, _)| *w == workload)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                BackendError::Unavailable(format!(
                    "no OpenCL {}program for `{workload}`",
                    if f32 { "f32 " } else { "" }
                ))
            })?;
        let program = ocl::Program::builder()
            .src(source)
            .devices(device)
            .build(&context)
            .map_err(setup("the OpenCL program"))?;
        let mut notes = Vec::new();
        let job_state = match view {
            Device::Triad { a, b, c, scalar, .. } if f32 => {
                let n = a.len();
                let (hb, hc): (Vec<f32>, Vec<f32>) =
                    (b.iter().map(|&x| x as f32).collect(), c.iter().map(|&x| x as f32).collect());
                let (da, db, dc) = (
                    buffer::<f32>(&queue, n, "buffer a")?,
                    buffer::<f32>(&queue, n, "buffer b")?,
                    buffer::<f32>(&queue, n, "buffer c")?,
                );
                db.write(&hb[..]).enq().map_err(setup("uploading b"))?;
                dc.write(&hc[..]).enq().map_err(setup("uploading c"))?;
                let kernel = ClKernel::builder()
                    .program(&program)
                    .name("triad_f32")
                    .queue(queue.clone())
                    .global_work_size(n)
                    .arg(&da)
                    .arg(&db)
                    .arg(&dc)
                    .arg(scalar as f32)
                    .arg(n as u64)
                    .build()
                    .map_err(setup("the triad kernel"))?;
                Job::TriadF32 { a: da, b: db, c: dc, kernel, ha: vec![0.0; n], hb, hc }
            }
            Device::Triad { a, b, c, scalar, .. } => {
                let n = a.len();
                let (da, db, dc) = (
                    buffer::<f64>(&queue, n, "buffer a")?,
                    buffer::<f64>(&queue, n, "buffer b")?,
                    buffer::<f64>(&queue, n, "buffer c")?,
                );
                db.write(b).enq().map_err(setup("uploading b"))?;
                dc.write(c).enq().map_err(setup("uploading c"))?;
                let kernel = ClKernel::builder()
                    .program(&program)
                    .name("triad")
                    .queue(queue.clone())
                    .global_work_size(n)
                    .arg(&da)
                    .arg(&db)
                    .arg(&dc)
                    .arg(scalar)
                    .arg(n as u64)
                    .build()
                    .map_err(setup("the triad kernel"))?;
                Job::Triad { a: da, b: db, c: dc, kernel }
            }
            Device::Pi { seed, samples, .. } => {
                let items = samples.clamp(1, PI_ITEMS);
                let per_item = samples.div_ceil(items);
                let partial = buffer::<u64>(&queue, items as usize, "the partial counts")?;
                let kernel = ClKernel::builder()
                    .program(&program)
                    .name("pi")
                    .queue(queue.clone())
                    .global_work_size(items as usize)
                    .arg(&partial)
                    .arg(seed)
                    .arg(samples)
                    .arg(per_item)
                    .build()
                    .map_err(setup("the pi kernel"))?;
                Job::Pi { partial, host: vec![0; items as usize], kernel }
            }
            Device::Mandelbrot { image, width, max_iter, re_min, re_step, im_max, im_step } => {
                let buffer = buffer::<u32>(&queue, image.len(), "the image")?;
                let side = width as usize;
                let kernel = ClKernel::builder()
                    .program(&program)
                    .name("mandelbrot")
                    .queue(queue.clone())
                    .global_work_size((side, side))
                    .arg(&buffer)
                    .arg(width)
                    .arg(max_iter)
                    .arg(re_min)
                    .arg(re_step)
                    .arg(im_max)
                    .arg(im_step)
                    .build()
                    .map_err(setup("the mandelbrot kernel"))?;
                Job::Mandelbrot { image: buffer, kernel }
            }
            Device::Matmul { c, a, b, n, .. } if f32 => {
                let len = c.len();
                let (ha, hb): (Vec<f32>, Vec<f32>) =
                    (a.iter().map(|&x| x as f32).collect(), b.iter().map(|&x| x as f32).collect());
                let (dc, da, db) = (
                    buffer::<f32>(&queue, len, "matrix c")?,
                    buffer::<f32>(&queue, len, "matrix a")?,
                    buffer::<f32>(&queue, len, "matrix b")?,
                );
                da.write(&ha[..]).enq().map_err(setup("uploading a"))?;
                db.write(&hb[..]).enq().map_err(setup("uploading b"))?;
                let side = n as usize;
                let kernel = ClKernel::builder()
                    .program(&program)
                    .name("matmul_naive_f32")
                    .queue(queue.clone())
                    .global_work_size((side, side))
                    .arg(&dc)
                    .arg(&da)
                    .arg(&db)
                    .arg(n)
                    .build()
                    .map_err(setup("the matmul kernel"))?;
                Job::MatmulF32 { a: da, b: db, c: dc, kernel, ha, hb, hc: vec![0.0; len] }
            }
            Device::Matmul { c, a, b, n, .. } => {
                let len = c.len();
                let (dc, da, db) = (
                    buffer::<f64>(&queue, len, "matrix c")?,
                    buffer::<f64>(&queue, len, "matrix a")?,
                    buffer::<f64>(&queue, len, "matrix b")?,
                );
                da.write(a).enq().map_err(setup("uploading a"))?;
                db.write(b).enq().map_err(setup("uploading b"))?;
                let side = n as usize;
                let mut kernel = ClKernel::builder();
                if job.strategy.name() == "opencl-tiled" {
                    // Whole tiles: the work-items past the matrix's edge load zeros.
                    let tiles = side.div_ceil(TILE) * TILE;
                    kernel
                        .name("matmul_tiled")
                        .global_work_size((tiles, tiles))
                        .local_work_size((TILE, TILE));
                } else {
                    kernel.name("matmul_naive").global_work_size((side, side));
                }
                let kernel = kernel
                    .program(&program)
                    .queue(queue.clone())
                    .arg(&dc)
                    .arg(&da)
                    .arg(&db)
                    .arg(n)
                    .build()
                    .map_err(setup("the matmul kernel"))?;
                Job::Matmul { a: da, b: db, c: dc, kernel }
            }
            Device::Nbody { state, initial, mass, steps, dt, softening2 } => {
                let n = mass.len();
                let dmass = buffer::<f64>(&queue, n, "the masses")?;
                let dinitial = buffer::<f64>(&queue, state.len(), "the initial state")?;
                let work = [
                    buffer::<f64>(&queue, state.len(), "state a")?,
                    buffer::<f64>(&queue, state.len(), "state b")?,
                ];
                dmass.write(mass).enq().map_err(setup("uploading the masses"))?;
                dinitial.write(initial).enq().map_err(setup("uploading the initial state"))?;
                let step = |out: &Buffer<f64>, from: &Buffer<f64>| {
                    ClKernel::builder()
                        .program(&program)
                        .name("nbody_step")
                        .queue(queue.clone())
                        .global_work_size(n)
                        .arg(out)
                        .arg(from)
                        .arg(&dmass)
                        .arg(n as u64)
                        .arg(dt)
                        .arg(softening2)
                        .build()
                        .map_err(setup("the nbody kernel"))
                };
                let kernels =
                    [step(&work[0], &dinitial)?, step(&work[1], &work[0])?, step(&work[0], &work[1])?];
                Job::Nbody { mass: dmass, initial: dinitial, work, steps: kernels, count: steps }
            }
            Device::Histogram { counts, items, bins } => {
                let n = items.len() as u64;
                let dcounts = buffer::<u64>(&queue, counts.len(), "the bins")?;
                let ditems = buffer::<u32>(&queue, items.len(), "the items")?;
                ditems.write(items).enq().map_err(setup("uploading the items"))?;
                // Work-groups of up to 256 work-items; local memory for the bins, with room to
                // spare for what the compiler keeps there itself.
                let group = info(&device, DeviceInfo::MaxWorkGroupSize).clamp(1, 256);
                let local = info(&device, DeviceInfo::LocalMemSize);
                let in_local = 4 * bins + 1024 <= local;
                let (groups, per_group) = if in_local {
                    // At least 16 items per work-item, and no more partial rows than fit in
                    // HISTOGRAM_PARTIAL_BYTES.
                    let most = (HISTOGRAM_PARTIAL_BYTES / (4 * bins)).max(1);
                    let groups = n.div_ceil(group * 16).clamp(1, most);
                    let per_group = n.div_ceil(groups).max(1);
                    (n.div_ceil(per_group).max(1), per_group)
                } else {
                    (1, n)
                };
                // A bin counts at most one group's items in 32 bits.
                if per_group > u32::MAX as u64 {
                    return Err(BackendError::Unsupported(format!(
                        "{per_group} items per work-group overflow the device's 32-bit counters; \
                         give fewer items or more bins"
                    )));
                }
                let partial = buffer::<u32>(&queue, (groups * bins) as usize, "the partial histograms")?;
                let kernel = |name: &str| {
                    let mut k = ClKernel::builder();
                    k.program(&program).name(name).queue(queue.clone());
                    k
                };
                let mut kernels = Vec::new();
                if in_local {
                    kernels.push(
                        kernel("histogram_local")
                            .global_work_size((groups * group) as usize)
                            .local_work_size(group as usize)
                            .arg(&ditems)
                            .arg(n)
                            .arg(bins as u32)
                            .arg(per_group)
                            .arg_local::<u32>(bins as usize)
                            .arg(&partial)
                            .build()
                            .map_err(setup("the histogram kernel"))?,
                    );
                } else {
                    kernels.push(
                        kernel("histogram_zero")
                            .global_work_size(bins as usize)
                            .arg(&partial)
                            .build()
                            .map_err(setup("the histogram's clearing kernel"))?,
                    );
                    kernels.push(
                        kernel("histogram_global")
                            .global_work_size(n as usize)
                            .arg(&ditems)
                            .arg(n)
                            .arg(&partial)
                            .build()
                            .map_err(setup("the histogram kernel"))?,
                    );
                }
                kernels.push(
                    kernel("histogram_merge")
                        .global_work_size(bins as usize)
                        .arg(&dcounts)
                        .arg(&partial)
                        .arg(groups as u32)
                        .arg(bins as u32)
                        .build()
                        .map_err(setup("the histogram merge kernel"))?,
                );
                notes.push(if in_local {
                    format!(
                        "histogram: {groups} work-groups of {group} count into local memory with local \
                         atomics, then a kernel merges their {groups} partial histograms"
                    )
                } else {
                    format!(
                        "histogram: {bins} bins do not fit in the device's {} of local memory: every \
                         item is counted with a global atomic",
                        format_bytes(local)
                    )
                });
                Job::Histogram { items: ditems, partial, counts: dcounts, kernels }
            }
        };
        let latency = launch_latency(&context, device, &queue)?;
        let (cache, memory) = (described.cache_bytes.unwrap_or(0), described.memory_bytes);
        let flush = match settings.cache {
            Cache::Warm => {
                notes.push(
                    "cache warm: nothing is flushed between samples, so a sample may find the last \
                     one's data in the device's cache"
                        .into(),
                );
                None
            }
            Cache::Cold if flush_bytes(cache, memory) == 0 => {
                notes.push(
                    "cache cold, but the device reports no global-memory cache: nothing to flush".into(),
                );
                None
            }
            Cache::Cold => {
                // Never more than the device allocates in one buffer.
                let most = match device.info(DeviceInfo::MaxMemAllocSize) {
                    Ok(DeviceInfoResult::MaxMemAllocSize(n)) => n,
                    _ => u64::MAX,
                };
                let bytes = flush_bytes(cache, memory).min(most / 8 * 8);
                let capped = if bytes < 2 * cache {
                    format!(
                        ", capped at a quarter of its memory and {}: the cache may not be wholly cold",
                        format_bytes(FLUSH_LIMIT)
                    )
                } else {
                    String::new()
                };
                // Without residency the upload follows the flush and goes through the cache, so
                // "cold" describes the sample's start, not what the kernel finds: said.
                // (Pi and mandelbrot upload nothing.)
                let upload = if settings.resident || matches!(workload, "pi_monte_carlo" | "mandelbrot") {
                    ""
                } else {
                    "; the upload that follows writes the inputs through the cache, so the kernel may find \
                     them there (`resident = true` measures the kernel from a cold cache)"
                };
                notes.push(format!(
                    "cache cold: before each sample, outside it, the device writes {} (twice its {} \
                     global-memory cache{capped}){upload}",
                    format_bytes(bytes),
                    format_bytes(cache)
                ));
                Some((buffer::<u64>(&queue, (bytes / 8) as usize, "the cache flush")?, 0))
            }
        };
        if settings.resident {
            notes.push(
                "resident: the inputs were uploaded once, in the setup; samples have no transfer_in, \
                 and the headline is the kernels and the download"
                    .into(),
            );
        }
        if f32 {
            notes.push(
                "computed in f32: the inputs rounded to f32 once on the host in the setup, the output \
                 widened to f64 in transfer_out and held to the workload's f32 tolerance"
                    .into(),
            );
        }
        let mut session = Cl {
            host: Some(host),
            instance: job.instance,
            queue,
            job: job_state,
            spec: job.spec,
            clock: job.clock,
            setup_ns: 0,
            device: described.name.clone(),
            notes,
            resident: settings.resident,
            flush,
            batch: 1,
            cancel: job.config.cancel.clone(),
        };
        // One run here, so that the first sample compiles nothing (PoCL builds the kernel for its
        // work-group size at the first launch), and a second to time the kernels warm.
        let first_run =
            |e: BackendError| BackendError::Setup { what: "the first run".into(), why: e.to_string() };
        session.run().map_err(first_run)?;
        let kernel_ns = session.run().map_err(first_run)?.kernel;
        session.batch = batch(kernel_ns, latency);
        session.notes.push(format!(
            "launch latency of an empty kernel: {} (median of {LATENCY_LAUNCHES} launches, enqueue to \
             completion on the host); OpenCL does not expose the device's clock, so no throttling is checked",
            format_ns(latency as f64)
        ));
        if session.batch > 1 {
            session.notes.push(format!(
                "short kernels ({} a run, under {LATENCY_RATIO:.0}x the launch latency): each sample times {} \
                 whole runs back to back (upload, kernels, download) and every figure is their mean; the \
                 cache is flushed before each sample, so only its first run starts cold",
                format_ns(kernel_ns as f64),
                session.batch,
            ));
        }
        session.setup_ns = began.elapsed().as_nanos() as u64;
        Ok(Box::new(session))
    }

    impl Cl<'_> {
        /// One run: upload (unless resident), kernels, download into the host kernel's output.
        fn run(&mut self) -> Result<Phases, BackendError> {
            let mut phases = Phases::default();
            let resident = self.resident;
            let view =
                self.host.as_mut().expect("a host kernel outside `verify`").device().expect("a device view");
            let queue = &self.queue;
            let upload = |phases: &mut Phases, writes: &mut dyn FnMut() -> ocl::Result<()>| {
                if resident {
                    return Ok(());
                }
                let t = Instant::now();
                writes().map_err(failed)?;
                queue.finish().map_err(failed)?;
                phases.transfer_in = t.elapsed().as_nanos() as u64;
                Ok::<(), BackendError>(())
            };
            let download = |phases: &mut Phases, read: &mut dyn FnMut() -> ocl::Result<()>| {
                let t = Instant::now();
                read().map_err(failed)?;
                phases.transfer_out = t.elapsed().as_nanos() as u64;
                Ok::<(), BackendError>(())
            };
            match (&mut self.job, view) {
                (Job::Triad { a, b, c, kernel }, Device::Triad { a: out, b: hb, c: hc, .. }) => {
                    upload(&mut phases, &mut || {
                        b.write(hb).enq()?;
                        c.write(hc).enq()
                    })?;
                    phases.kernel = launch(&[&*kernel])?;
                    download(&mut phases, &mut || a.read(&mut *out).enq())?;
                }
                (Job::TriadF32 { a, b, c, kernel, ha, hb, hc }, Device::Triad { a: out, precision, .. }) => {
                    *precision = Precision::F32;
                    upload(&mut phases, &mut || {
                        b.write(&hb[..]).enq()?;
                        c.write(&hc[..]).enq()
                    })?;
                    phases.kernel = launch(&[&*kernel])?;
                    download(&mut phases, &mut || {
                        a.read(&mut ha[..]).enq()?;
                        out.iter_mut().zip(ha.iter()).for_each(|(o, x)| *o = *x as f64);
                        Ok(())
                    })?;
                }
                (Job::Pi { partial, host, kernel }, Device::Pi { inside, .. }) => {
                    // Nothing to upload: the seed and counts are the kernel's arguments.
                    phases.kernel = launch(&[&*kernel])?;
                    download(&mut phases, &mut || partial.read(&mut host[..]).enq())?;
                    *inside = Some(host.iter().sum());
                }
                (Job::Mandelbrot { image, kernel }, Device::Mandelbrot { image: out, .. }) => {
                    // Nothing to upload: the window is the kernel's arguments.
                    phases.kernel = launch(&[&*kernel])?;
                    download(&mut phases, &mut || image.read(&mut *out).enq())?;
                }
                (Job::Matmul { a, b, c, kernel }, Device::Matmul { c: out, a: ha, b: hb, .. }) => {
                    upload(&mut phases, &mut || {
                        a.write(ha).enq()?;
                        b.write(hb).enq()
                    })?;
                    phases.kernel = launch(&[&*kernel])?;
                    download(&mut phases, &mut || c.read(&mut *out).enq())?;
                }
                (
                    Job::MatmulF32 { a, b, c, kernel, ha, hb, hc },
                    Device::Matmul { c: out, precision, .. },
                ) => {
                    *precision = Precision::F32;
                    upload(&mut phases, &mut || {
                        a.write(&ha[..]).enq()?;
                        b.write(&hb[..]).enq()
                    })?;
                    phases.kernel = launch(&[&*kernel])?;
                    download(&mut phases, &mut || {
                        c.read(&mut hc[..]).enq()?;
                        out.iter_mut().zip(hc.iter()).for_each(|(o, x)| *o = *x as f64);
                        Ok(())
                    })?;
                }
                (
                    Job::Nbody { mass, initial, work, steps, count },
                    Device::Nbody { state: out, initial: hi, mass: hm, .. },
                ) => {
                    upload(&mut phases, &mut || {
                        mass.write(hm).enq()?;
                        initial.write(hi).enq()
                    })?;
                    phases.kernel = launch(&nbody_order(steps, *count))?;
                    // Step k (from 0) writes work[k % 2].
                    let last = &work[((*count - 1) % 2) as usize];
                    download(&mut phases, &mut || last.read(&mut *out).enq())?;
                }
                (
                    Job::Histogram { items, counts, kernels, .. },
                    Device::Histogram { counts: out, items: hi, .. },
                ) => {
                    upload(&mut phases, &mut || items.write(hi).enq())?;
                    phases.kernel = launch(&kernels.iter().collect::<Vec<_>>())?;
                    download(&mut phases, &mut || counts.read(&mut *out).enq())?;
                }
                _ => unreachable!("the device view's workload does not change within a case"),
            }
            Ok(phases)
        }

        /// Writes the flush buffer (a cold cache), with a value no earlier flush wrote.
        fn flush(&mut self) -> Result<(), BackendError> {
            if let Some((buffer, round)) = &mut self.flush {
                *round = round.wrapping_add(1);
                buffer.cmd().fill(*round, None).enq().map_err(failed)?;
                self.queue.finish().map_err(failed)?;
            }
            Ok(())
        }

        /// Fills the device output with values no run produces, for `verify`'s fresh run.
        fn spoil(&mut self) -> Result<(), BackendError> {
            match &self.job {
                Job::Triad { a: out, .. } | Job::Matmul { c: out, .. } => {
                    out.cmd().fill(f64::NAN, None).enq().map_err(failed)?
                }
                Job::TriadF32 { a: out, .. } | Job::MatmulF32 { c: out, .. } => {
                    out.cmd().fill(f32::NAN, None).enq().map_err(failed)?
                }
                Job::Nbody { work, .. } => {
                    for out in work {
                        out.cmd().fill(f64::NAN, None).enq().map_err(failed)?
                    }
                }
                Job::Pi { partial, .. } => partial.cmd().fill(0, None).enq().map_err(failed)?,
                // No escape count is u32::MAX (the host image's sentinel too).
                Job::Mandelbrot { image, .. } => image.cmd().fill(u32::MAX, None).enq().map_err(failed)?,
                // More than any bin can hold: a merge that skips a bin leaves it wrong.
                Job::Histogram { counts, partial, .. } => {
                    counts.cmd().fill(u64::MAX, None).enq().map_err(failed)?;
                    partial.cmd().fill(u32::MAX, None).enq().map_err(failed)?
                }
            }
            self.queue.finish().map_err(failed)
        }
    }

    /// The device time of a finished command, from its profiling event.
    fn device_ns(event: &Event) -> Result<u64, BackendError> {
        let at = |info| -> Result<u64, BackendError> {
            event.profiling_info(info).and_then(|r| r.time().map_err(Into::into)).map_err(failed)
        };
        Ok(at(ProfilingInfo::End)?.saturating_sub(at(ProfilingInfo::Start)?))
    }

    /// Launches `kernels` in order on the in-order queue, waits for the last, and returns the
    /// sum of their device times from the profiling events.
    fn launch(kernels: &[&ClKernel]) -> Result<u64, BackendError> {
        let mut events = Vec::with_capacity(kernels.len());
        for kernel in kernels {
            let mut event = Event::empty();
            // SAFETY: the kernel's buffers are this session's and sized for its global work size.
            unsafe { kernel.cmd().enew(&mut event).enq().map_err(failed)? };
            events.push(event);
        }
        if let Some(last) = events.last() {
            last.wait_for().map_err(|e| failed(e.into()))?;
        }
        events.iter().map(device_ns).sum()
    }

    impl Session for Cl<'_> {
        fn setup_ns(&self) -> u64 {
            self.setup_ns
        }

        fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError> {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(BackendError::Cancelled);
            }
            // Outside the sample: the flush, so that the sample's (first) run starts cold.
            self.flush()?;
            let (clock, cancel) = (self.clock.clone(), self.cancel.clone());
            let spec = self.spec;
            let (ns, total) =
                crate::backend::device_rules::time_runs(&*clock, spec, index, runs, &cancel, &mut || {
                    self.run()
                })?;
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
            let mut notes = vec![format!(
                "ran on the OpenCL device {}; host buffers are pageable; the kernel phase is device time \
                 from profiling events, the transfers host time around blocking copies",
                self.device
            )];
            notes.extend(self.notes.iter().cloned());
            notes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_is_compiled_in_with_its_kernel() {
        let program = |w: &str| PROGRAMS.iter().find(|(name, _)| *name == w).map(|(_, s)| *s).unwrap();
        assert!(program("stream_triad").contains("__kernel void triad("));
        let pi = program("pi_monte_carlo");
        assert!(pi.contains("__kernel void pi("));
        // The count must match the CPU's bit for bit: no fused multiply-add, the same generator.
        assert!(pi.contains("#pragma OPENCL FP_CONTRACT OFF"));
        assert!(pi.contains("0x9E3779B97F4A7C15UL") && pi.contains("0xBF58476D1CE4E5B9UL"));
        for (w, _) in PROGRAMS {
            assert!(crate::workload::find(w).is_some(), "{w}");
        }
    }

    #[test]
    fn f32_programs_need_no_fp64_and_name_their_kernels() {
        for (w, source) in F32_PROGRAMS {
            assert!(PROGRAMS.iter().any(|(p, _)| p == w), "{w}");
            assert!(!source.contains("double") && !source.contains("cl_khr_fp64"), "{w}");
        }
        let f32 = |w: &str| F32_PROGRAMS.iter().find(|(name, _)| *name == w).map(|(_, s)| *s).unwrap();
        assert!(f32("stream_triad").contains("__kernel void triad_f32("));
        assert!(f32("matmul").contains("__kernel void matmul_naive_f32("));
        // Integers only: the histogram runs on a device without fp64 too.
        let histogram = PROGRAMS.iter().find(|(w, _)| *w == "histogram").unwrap().1;
        assert!(!histogram.contains("double") && !histogram.contains("cl_khr_fp64"));
    }

    #[test]
    fn the_flush_is_twice_the_cache_within_the_memory_and_the_limit() {
        const MIB: u64 = 1 << 20;
        assert_eq!(flush_bytes(50 * MIB, 140 << 30), 100 * MIB, "an H200-sized L2");
        assert_eq!(flush_bytes(480 * MIB, 5 << 30), FLUSH_LIMIT, "PoCL's reported host cache");
        assert_eq!(flush_bytes(4 * MIB, 8 * MIB), 2 * MIB, "a quarter of a tiny device's memory");
        assert_eq!(flush_bytes(0, 1 << 30), 0, "no cache reported: no flush");
        assert_eq!(flush_bytes(1001, 1 << 30) % 8, 0, "whole u64 words");
    }

    #[test]
    fn kernels_shorter_than_a_hundred_launch_latencies_are_batched() {
        // 5 us launches: a kernel of 1 ms runs alone, one of 10 us in batches of 50.
        assert_eq!(batch(1_000_000, 5_000), 1);
        assert_eq!(batch(500_000, 5_000), 1);
        assert_eq!(batch(10_000, 5_000), 50);
        assert_eq!(batch(499_999, 5_000), 2);
        assert_eq!(batch(0, 5_000), MAX_BATCH, "a kernel too short to time");
        assert_eq!(batch(10, 1_000_000), MAX_BATCH);
        assert_eq!(batch(1, 0), 1, "no latency to hide");
    }

    #[test]
    fn availability_says_why_not() {
        let said = OpenClBackend.availability().map_err(|e| e.to_string());
        if cfg!(feature = "opencl") {
            match crate::machine::opencl::chosen() {
                Ok(_) => assert_eq!(said, Ok(())),
                Err(why) => assert_eq!(said, Err(why.clone())),
            }
        } else {
            assert_eq!(said, Err("built without the opencl feature".into()));
        }
    }

    #[test]
    fn only_workloads_with_a_device_kernel_support_opencl() {
        let tiled = crate::strategy::find("opencl-tiled").unwrap();
        let with_tiles: Vec<&str> = crate::workload::WORKLOADS
            .iter()
            .filter(|w| w.support(tiled).is_ok())
            .map(|w| w.name())
            .collect();
        assert!(with_tiles.is_empty() || with_tiles == ["matmul"], "{with_tiles:?}");
        let opencl = crate::strategy::find("opencl").unwrap();
        let mut supported: Vec<&str> = crate::workload::WORKLOADS
            .iter()
            .filter(|w| w.support(opencl).is_ok())
            .map(|w| w.name())
            .collect();
        let mut programs: Vec<&str> = PROGRAMS.iter().map(|(w, _)| *w).collect();
        supported.sort();
        programs.sort();
        // On a device without fp64 the f64 kernels are unsupported; never the other way round.
        assert!(supported.iter().all(|w| programs.contains(w)), "{supported:?}");
        if crate::machine::opencl::chosen().as_ref().map_or(true, |g| g.fp64 != Some(false)) {
            assert_eq!(supported, programs);
        }
    }
}
