//! Backend `opencl`: a case on an OpenCL device (`opencl` builds). The device is the one the plan
//! chose for the case ([`crate::scenario::DeviceCase`]: the scenario's `device` selects them, each
//! its own case), found again by name ([`crate::machine::opencl::find`]); its name is in the
//! case's notes. A device the plan named that is not here, or a selector that matched none, makes
//! the case `unavailable`; an f64 kernel on a device without fp64 makes it `unsupported`.
//!
//! Starting a case (its `setup`, never a sample) makes the context, a queue with profiling
//! enabled, builds the workload's program from its `.cl` file (compiled in with
//! `include_str!`), allocates the device buffers and runs the kernel once, so that no JIT
//! compilation (PoCL compiles again for each work-group size) falls into a sample. Each run
//! then uploads the inputs (`transfer_in`), launches the kernel once (`kernel`: device time from
//! the launch's profiling event) and reads the output back (`transfer_out`); the sample's `ns`
//! is the host clock around all three, so the headline time includes the transfers. Host
//! buffers are ordinary (pageable) memory. Transfers are timed on the host around blocking
//! commands; the kernel's device time sits inside the host time between them, so the phases
//! never sum to more than the sample.

use super::{Backend, BackendError, CaseJob, Session};

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

/// The most work-items a `pi_monte_carlo` launch uses: each counts a contiguous block of
/// samples and writes one partial count, which the host sums.
pub const PI_ITEMS: u64 = 1 << 16;

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

    use super::{PI_ITEMS, PROGRAMS};
    use crate::backend::{BackendError, CaseJob, Sample, Session};
    use crate::clock::Clock;
    use crate::machine::opencl as probe;
    use crate::scenario::{CaseSpec, DeviceCase};
    use crate::strategy::opencl::TILE;
    use crate::workload::device::{fp64_refusal, Device, HISTOGRAM_PARTIAL_BYTES};
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
        /// `initial` is never written: the first step reads it into `work[0]`, later steps go back
        /// and forth between `work[0]` and `work[1]` (`steps[0]`, then `steps[1]`, `steps[2]`,
        /// `steps[1]`, ...).
        Nbody {
            mass: Buffer<f64>,
            initial: Buffer<f64>,
            work: [Buffer<f64>; 2],
            steps: [ClKernel; 3],
            count: u64,
        },
        /// `count` fills `partial` (a row per work-group, or with global atomics one row that
        /// `zero` clears first), `merge` sums its rows into `counts`.
        Histogram {
            items: Buffer<u32>,
            partial: Buffer<u32>,
            counts: Buffer<u64>,
            count: ClKernel,
            merge: ClKernel,
            zero: bool,
        },
    }

    /// One run's phases, nanoseconds.
    #[derive(Default)]
    struct Phases {
        transfer_in: u64,
        kernel: u64,
        transfer_out: u64,
    }

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
        /// The case's cancellation flag, checked between runs (a launched kernel runs to its end).
        cancel: Arc<AtomicBool>,
    }

    fn setup(what: &str) -> impl Fn(ocl::Error) -> BackendError + '_ {
        move |e| BackendError::Setup { what: what.to_string(), why: e.to_string() }
    }

    fn failed(e: ocl::Error) -> BackendError {
        BackendError::Failed(format!("OpenCL: {e}"))
    }

    /// The device the case was planned for ([`CaseSpec::device`]), or the first one for a case
    /// planned without one (a plan from before devices were chosen).
    fn pick(spec: &CaseSpec) -> Result<(ocl::Platform, ocl::Device), BackendError> {
        match &spec.device {
            None => probe::first_device().map_err(BackendError::NoDevice),
            Some(DeviceCase { target: None, choice, .. }) => {
                Err(BackendError::NoDevice(probe::no_device_reason(choice, None)))
            }
            Some(DeviceCase { target: Some(t), choice, .. }) => {
                match probe::find(t).map_err(BackendError::NoDevice)? {
                    Some(found) => Ok(found),
                    None => Err(BackendError::NoDevice(probe::no_device_reason(choice, Some(t)))),
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

    pub(super) fn start<'a>(job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let began = Instant::now();
        let (platform, device) = pick(job.spec)?;
        let platform_name = platform.name().unwrap_or_default();
        let described = probe::describe(&platform_name, &device).map_err(setup("the OpenCL device"))?;
        let name = described.name.clone();
        let mut host = job.instance.kernel();
        let Some(view) = host.device() else {
            return Err(BackendError::Unavailable(format!("`{}` has no device kernel", job.spec.workload)));
        };
        let workload = view.workload();
        if view.computes_in_f64() {
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
        let source = PROGRAMS
            .iter()
            .find(|(w, _)| *w == workload)
            .map(|(_, s)| *s)
            .ok_or_else(|| BackendError::Unavailable(format!("no OpenCL program for `{workload}`")))?;
        let program = ocl::Program::builder()
            .src(source)
            .devices(device)
            .build(&context)
            .map_err(setup("the OpenCL program"))?;
        let mut notes = Vec::new();
        let job_state = match view {
            Device::Triad { a, b, c, scalar } => {
                let n = a.len();
                let buffer =
                    |what| Buffer::<f64>::builder().queue(queue.clone()).len(n).build().map_err(setup(what));
                let (da, db, dc) = (buffer("buffer a")?, buffer("buffer b")?, buffer("buffer c")?);
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
                let partial = Buffer::<u64>::builder()
                    .queue(queue.clone())
                    .len(items as usize)
                    .build()
                    .map_err(setup("the partial counts"))?;
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
                let buffer = Buffer::<u32>::builder()
                    .queue(queue.clone())
                    .len(image.len())
                    .build()
                    .map_err(setup("the image"))?;
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
            Device::Matmul { c, a, b, n } => {
                let buffer = |what| {
                    Buffer::<f64>::builder().queue(queue.clone()).len(c.len()).build().map_err(setup(what))
                };
                let (dc, da, db) = (buffer("matrix c")?, buffer("matrix a")?, buffer("matrix b")?);
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
                let buffer = |len: usize, what| {
                    Buffer::<f64>::builder().queue(queue.clone()).len(len).build().map_err(setup(what))
                };
                let dmass = buffer(n, "the masses")?;
                let dinitial = buffer(state.len(), "the initial state")?;
                let work = [buffer(state.len(), "state a")?, buffer(state.len(), "state b")?];
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
                let dcounts = Buffer::<u64>::builder()
                    .queue(queue.clone())
                    .len(counts.len())
                    .build()
                    .map_err(setup("the bins"))?;
                let ditems = Buffer::<u32>::builder()
                    .queue(queue.clone())
                    .len(items.len().max(1))
                    .build()
                    .map_err(setup("the items"))?;
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
                let partial = Buffer::<u32>::builder()
                    .queue(queue.clone())
                    .len((groups * bins) as usize)
                    .build()
                    .map_err(setup("the partial histograms"))?;
                let count = if in_local {
                    ClKernel::builder()
                        .program(&program)
                        .name("histogram_local")
                        .queue(queue.clone())
                        .global_work_size((groups * group) as usize)
                        .local_work_size(group as usize)
                        .arg(&ditems)
                        .arg(n)
                        .arg(bins as u32)
                        .arg(per_group)
                        .arg_local::<u32>(bins as usize)
                        .arg(&partial)
                        .build()
                } else {
                    ClKernel::builder()
                        .program(&program)
                        .name("histogram_global")
                        .queue(queue.clone())
                        .global_work_size(n as usize)
                        .arg(&ditems)
                        .arg(n)
                        .arg(&partial)
                        .build()
                }
                .map_err(setup("the histogram kernel"))?;
                let merge = ClKernel::builder()
                    .program(&program)
                    .name("histogram_merge")
                    .queue(queue.clone())
                    .global_work_size(bins as usize)
                    .arg(&dcounts)
                    .arg(&partial)
                    .arg(groups as u32)
                    .arg(bins as u32)
                    .build()
                    .map_err(setup("the histogram merge kernel"))?;
                notes.push(if in_local {
                    format!(
                        "histogram: {groups} work-groups of {group} count into local memory with local \
                         atomics, then a kernel merges their {groups} partial histograms"
                    )
                } else {
                    format!(
                        "histogram: {bins} bins do not fit in the device's {} of local memory: every \
                         item is counted with a global atomic",
                        crate::units::format_bytes(local)
                    )
                });
                Job::Histogram { items: ditems, partial, counts: dcounts, count, merge, zero: !in_local }
            }
        };
        let mut session = Cl {
            host: Some(host),
            instance: job.instance,
            queue,
            job: job_state,
            spec: job.spec,
            clock: job.clock,
            setup_ns: 0,
            device: name,
            notes,
            cancel: job.config.cancel.clone(),
        };
        // One run here, so that the first sample compiles nothing (PoCL builds the kernel for its
        // work-group size at the first launch).
        session
            .run()
            .map_err(|e| BackendError::Setup { what: "the first run".into(), why: e.to_string() })?;
        session.setup_ns = began.elapsed().as_nanos() as u64;
        Ok(Box::new(session))
    }

    impl Cl<'_> {
        /// One run: upload, kernel, download into the host kernel's output.
        fn run(&mut self) -> Result<Phases, BackendError> {
            let mut phases = Phases::default();
            let view =
                self.host.as_mut().expect("a host kernel outside `verify`").device().expect("a device view");
            let queue = &self.queue;
            let upload = |phases: &mut Phases, writes: &mut dyn FnMut() -> ocl::Result<()>| {
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
                    Job::Nbody { mass, initial, work, steps, count },
                    Device::Nbody { state: out, initial: hi, mass: hm, .. },
                ) => {
                    upload(&mut phases, &mut || {
                        mass.write(hm).enq()?;
                        initial.write(hi).enq()
                    })?;
                    let order: Vec<&ClKernel> = (0..*count)
                        .map(|k| if k == 0 { &steps[0] } else { &steps[1 + (k as usize + 1) % 2] })
                        .collect();
                    phases.kernel = launch(&order)?;
                    // Step k (from 0) writes work[k % 2].
                    let last = &work[((*count - 1) % 2) as usize];
                    download(&mut phases, &mut || last.read(&mut *out).enq())?;
                }
                (
                    Job::Histogram { items, partial, counts, count, merge, zero },
                    Device::Histogram { counts: out, items: hi, .. },
                ) => {
                    upload(&mut phases, &mut || items.write(hi).enq())?;
                    if *zero {
                        let mut event = Event::empty();
                        partial.cmd().fill(0, None).enew(&mut event).enq().map_err(failed)?;
                        event.wait_for().map_err(|e| failed(e.into()))?;
                        phases.kernel = device_ns(&event)?;
                    }
                    phases.kernel += launch(&[&*count, &*merge])?;
                    download(&mut phases, &mut || counts.read(&mut *out).enq())?;
                }
                _ => unreachable!("the device view's workload does not change within a case"),
            }
            Ok(phases)
        }

        /// Fills the device output with values no run produces, for `verify`'s fresh run.
        fn spoil(&mut self) -> Result<(), BackendError> {
            match &self.job {
                Job::Triad { a: out, .. } | Job::Matmul { c: out, .. } => {
                    out.cmd().fill(f64::NAN, None).enq().map_err(failed)?
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
            let mut total = Phases::default();
            let mut error = None;
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
