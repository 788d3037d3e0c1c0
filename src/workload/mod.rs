//! Workloads: the problems parlab measures strategies on.
//!
//! A workload is a unit struct in [`WORKLOADS`] implementing [`Workload`]: its parameters and
//! their validation, a deterministic seeded input ([`Workload::prepare`]), a sequential
//! reference and a verifier (in the [`Instance`] and [`Kernel`] it returns), its throughput unit
//! and its memory need. Adding one is one file plus one line in [`WORKLOADS`].
//!
//! The three levels keep timing honest: `prepare` builds the input once per size (shared by all
//! strategies), `Instance::kernel` allocates one case's output, and only [`Kernel::run`] is
//! timed. The reference is computed lazily, outside the timed region, by the verifier.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::ranks::{RankShare, Ranks};
use crate::remote::wire::{DONE_HEADER, LEN_BYTES, MAX_FRAME};
use crate::remote::{Coordinator, JobSpec, Share, Split};
use crate::strategy::{Exec, Family, Strategy, StrategyParams};

/// One case as far as its memory is concerned: what [`Workload::case_memory_bytes`] is asked
/// about when the plan is built.
#[derive(Debug, Clone, Copy)]
pub struct CaseShape {
    pub family: Family,
    pub strategy: &'static str,
    pub workers: usize,
    /// The `chunk` the case runs with (the workload's or the strategy's), if any.
    pub chunk: Option<usize>,
    /// The sequential baseline runs every kernel as one task.
    pub sequential: bool,
    /// The strategy's `capacity` tunable (`[strategy.NAME] capacity`), if any.
    pub capacity: Option<usize>,
}

impl CaseShape {
    /// The most tasks any executor splits `items` into for a kernel whose grain is `grain`: one
    /// per worker for the static strategies, one per grain (or per `chunk`) for the others.
    pub fn max_tasks(&self, items: u64, grain: u64) -> u64 {
        if self.sequential {
            return 1;
        }
        let grain = self.chunk.map_or(grain, |c| c as u64).max(1);
        items.div_ceil(grain).max(self.workers as u64)
    }

    /// The strategy's tunables as the case runs with them.
    pub fn tunables(&self) -> StrategyParams {
        StrategyParams { chunk: self.chunk, capacity: self.capacity }
    }

    /// Under `process`, the largest result a task sends back through the pipe, in bytes: the
    /// pool's largest task of `items` items (see [`Split`]) times `bytes_per_item`. 0 under
    /// every other strategy (`process-shm` answers only "done").
    pub fn process_reply_bytes(&self, items: u64, bytes_per_item: u64) -> u64 {
        if self.strategy != "process" {
            return 0;
        }
        let split = Split::new(usize::try_from(items).unwrap_or(usize::MAX), self.workers, self.chunk);
        (split.largest() as u64).saturating_mul(bytes_per_item)
    }

    /// What the replies of [`CaseShape::process_reply_bytes`] hold at worst: per worker, the
    /// frame it is building and the parent's receive buffer, which holds a whole frame and may
    /// already hold the start of the next one. Two frames per worker.
    pub fn process_reply_memory(&self, items: u64, bytes_per_item: u64) -> u64 {
        match self.process_reply_bytes(items, bytes_per_item) {
            0 => 0,
            reply => reply.saturating_add(DONE_HEADER as u64).saturating_mul(2 * self.workers as u64),
        }
    }

    /// Refuses a `process` case whose largest task would answer with more than one frame may
    /// carry ([`MAX_FRAME`]): at run time the worker could only fail it. For
    /// [`Workload::check_case`]: blames the `chunk` when the case has one, else the size.
    pub fn check_process_reply(&self, items: u64, bytes_per_item: u64) -> Result<(), Refused> {
        let reply = self.process_reply_bytes(items, bytes_per_item);
        let room = (MAX_FRAME - (DONE_HEADER - LEN_BYTES)) as u64;
        if reply <= room {
            return Ok(());
        }
        let largest = reply / bytes_per_item.max(1);
        let fix = format!("a `chunk` of at most {} items per task", room / bytes_per_item.max(1));
        let (blame, fix) = match self.chunk {
            Some(_) => ("chunk", format!("use {fix}")),
            None => ("size", format!("use a smaller size, or {fix}")),
        };
        Err(Refused::new(
            blame,
            format!(
                "under `process` a task of {largest} items sends back {} in one frame, more than a \
                 frame may carry ({}); {fix}",
                crate::units::format_bytes(reply),
                crate::units::format_bytes(room)
            ),
        ))
    }
}

/// What a speedup over the sequential baseline means for one workload run by one strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedupMeaning {
    /// Workers share the same algorithm's work: speedup, efficiency and Karp-Flatt apply.
    Parallel,
    /// The time ratio is real but is not parallel scaling (the text says why, for every
    /// output's notes): the speedup is kept and labelled, efficiency and Karp-Flatt withheld.
    Labelled(&'static str),
    /// No speedup at all (the text says why and what to read instead, e.g. latency).
    NotApplicable(&'static str),
}

/// What a speedup of `strategy` over the sequential baseline means on `w`: a device's is
/// labelled (it has no worker count to divide by); otherwise [`Workload::speedup_meaning`].
pub fn speedup_meaning(w: &dyn Workload, strategy: &str) -> SpeedupMeaning {
    if crate::strategy::find(strategy).is_some_and(|s| s.family() == Family::Device) {
        return SpeedupMeaning::Labelled(
            "a device has no worker count: its speedup over one CPU thread includes the transfers, and \
             efficiency and Karp-Flatt do not apply",
        );
    }
    w.speedup_meaning(strategy)
}

/// Why a workload cannot run under a strategy ([`Workload::support`]): the case is reported
/// `unsupported` with [`Unsupported::reason`] as its text, so the names are kept beside the text
/// for callers that need them rather than parsed back out of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unsupported {
    pub workload: &'static str,
    pub strategy: &'static str,
    /// The sentence users see, in `parlab list`, the reports and the results.
    pub reason: String,
}

impl Unsupported {
    pub fn new(workload: &'static str, strategy: &dyn Strategy, reason: impl Into<String>) -> Unsupported {
        Unsupported { workload, strategy: strategy.name(), reason: reason.into() }
    }
}

/// Why a workload would not build an input ([`Workload::check_size`], [`Workload::prepare`]) or
/// a worker process's half of one ([`Workload::share`]). The texts are the sentences users see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// The input asked for is refused: a size beyond the workload's limits, a bad combination.
    #[error("{0}")]
    Invalid(String),
    /// A worker process was asked to compute a workload that has no remote version.
    #[error("`{workload}` has no process version")]
    NoProcessVersion { workload: &'static str },
}

/// A case or parameter set refused before anything runs ([`Workload::check_case`],
/// [`Workload::check_params`]): `field` says what the plan's error points at, relative to the
/// `[[workload]]` entry (`"size"`, `"chunk"`, `"params.NAME"` or a parameter's name), and
/// `why` is the sentence users see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct Refused {
    pub field: &'static str,
    pub why: String,
}

impl Refused {
    pub fn new(field: &'static str, why: impl Into<String>) -> Refused {
        Refused { field, why: why.into() }
    }
}

/// What one [`Exec::map_reduce`] result slot costs beside its value (a `Mutex<Option<R>>`).
pub const SLOT_BYTES: u64 = 16;
/// A worker process of parlab itself, before it builds any input: binary, heap, pipes.
pub const PROCESS_BYTES: u64 = 8 << 20;

mod async_fanout;
mod bandwidth;
mod collectives;
pub mod device;
mod empty;
mod exchange;
#[cfg(any(test, feature = "fault-injection"))]
mod faulty;
mod histogram;
mod mandelbrot;
mod matmul;
mod nbody;
mod pi_monte_carlo;
mod ping_pong;
mod producer_consumer;
pub mod simd;
mod spin;
mod stencil_heat;
mod stream_triad;

/// Every shipped workload, in the order `parlab list` shows them.
pub static WORKLOADS: &[&dyn Workload] = &[
    &pi_monte_carlo::PiMonteCarlo,
    &mandelbrot::Mandelbrot,
    &stream_triad::StreamTriad,
    &matmul::Matmul,
    &empty::Empty,
    &spin::Spin,
    &histogram::Histogram,
    &producer_consumer::ProducerConsumer,
    &ping_pong::PingPong,
    &stencil_heat::StencilHeat,
    &nbody::NBody,
    &async_fanout::AsyncFanout,
    &exchange::Exchange,
    &collectives::Collectives,
    &bandwidth::Bandwidth,
];

/// Workloads that exist only to test the harness (panics, hangs, wrong answers); never listed.
#[cfg(any(test, feature = "fault-injection"))]
static TESTING: &[&dyn Workload] = &[&faulty::Faulty];
#[cfg(not(any(test, feature = "fault-injection")))]
static TESTING: &[&dyn Workload] = &[];

/// Looks a workload up by name, including test-only ones where compiled in.
pub fn find(name: &str) -> Option<&'static dyn Workload> {
    WORKLOADS.iter().chain(TESTING).copied().find(|w| w.name() == name)
}

/// What a workload's `size` counts.
#[derive(Debug, Clone, Copy)]
pub struct SizeUnit {
    /// e.g. `"samples"`, `"elements per array"`, `"matrix order n"`.
    pub what: &'static str,
    /// Bytes per counted item, when a size may be written in bytes (`"64MiB"`).
    pub bytes_per_item: Option<u64>,
}

/// A parameter a workload accepts in its `params` table: a number in `min..=max`, or, when
/// `choices` is not empty, one of those names (`min` and `max` are then unused).
#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub name: &'static str,
    pub help: &'static str,
    pub default: ParamValue,
    pub min: f64,
    pub max: f64,
    pub choices: &'static [&'static str],
}

impl ParamSpec {
    /// A parameter that names one of `choices`; the first is the default.
    pub const fn choice(
        name: &'static str,
        help: &'static str,
        choices: &'static [&'static str],
    ) -> ParamSpec {
        ParamSpec {
            name,
            help,
            default: ParamValue::Text(Cow::Borrowed(choices[0])),
            min: 0.0,
            max: 0.0,
            choices,
        }
    }
}

pub use crate::params::{ParamValue, Params};

/// All defaults of `workload`.
pub fn default_params(workload: &dyn Workload) -> Params {
    Params(workload.params().iter().map(|p| (p.name.to_string(), p.default.clone())).collect())
}

/// The outcome of checking a kernel's output against the sequential reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    /// What was compared and how far off it was, e.g. `max abs error 2.1e-13 <= 1e-9`.
    pub detail: String,
}

impl Verification {
    /// `Ok(detail)` passed, `Err(detail)` failed: the form a [`Coordinator`] reports in.
    pub fn into_result(self) -> Result<String, String> {
        if self.passed {
            Ok(self.detail)
        } else {
            Err(self.detail)
        }
    }
    pub fn pass(detail: impl Into<String>) -> Self {
        Verification { passed: true, detail: detail.into() }
    }
    pub fn fail(detail: impl Into<String>) -> Self {
        Verification { passed: false, detail: detail.into() }
    }
}

/// One problem parlab measures.
pub trait Workload: Sync + 'static {
    fn name(&self) -> &'static str;
    /// One line for `parlab list` and reports.
    fn summary(&self) -> &'static str;
    fn size_unit(&self) -> SizeUnit;
    /// Unit of [`Workload::work`] per second, e.g. `"samples/s"`, `"B/s"`, `"FLOP/s"`.
    fn throughput_unit(&self) -> &'static str;
    fn params(&self) -> &'static [ParamSpec] {
        &[]
    }
    /// Sizes used when a scenario gives none.
    fn default_sizes(&self, machine: &Machine) -> Vec<u64>;
    /// Whether `strategy` can run this workload; `Err` carries the reason shown to users.
    /// By default every data-parallel strategy can, and no other: a workload that implements a
    /// shared-state, synchronization, process or async version says so by overriding this.
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        default_support(self.name(), strategy)
    }
    /// Bytes the input, one output and the reference need together. Saturating: a size too
    /// large to count is reported as `u64::MAX`, never wrapped to something small.
    fn memory_bytes(&self, size: u64, params: &Params) -> u64;
    /// Bytes one case allocates beyond [`Workload::memory_bytes`], at worst: per-task result
    /// slots of [`Exec::map_reduce`], per-worker private copies, worker processes' own inputs.
    /// Saturating, like `memory_bytes`. The plan adds [`PROCESS_BYTES`] per worker process.
    fn case_memory_bytes(&self, _size: u64, _params: &Params, _case: &CaseShape) -> u64 {
        0
    }
    /// Units of throughput one run performs (samples, bytes moved, FLOPs).
    fn work(&self, size: u64, params: &Params) -> f64;
    /// For latency workloads: operations per run (e.g. one-way messages), so that the results
    /// carry `latency_ns` = median run time / operations.
    fn latency_ops(&self, _size: u64, _params: &Params) -> Option<f64> {
        None
    }
    /// What a speedup over sequential means when `strategy` runs this workload: by default
    /// parallel work on the same algorithm. A workload whose workers mean something else
    /// (overlapping waits, the two ends of a conversation) or whose strategy changes the
    /// algorithm says so here, and the results and reports label or withhold the numbers.
    fn speedup_meaning(&self, _strategy: &str) -> SpeedupMeaning {
        SpeedupMeaning::Parallel
    }
    /// Memory-bound kernels are also judged as a fraction of the best measured bandwidth.
    fn memory_bound(&self) -> bool {
        false
    }
    /// The size at which `workers` workers have `workers` times the work of `base`: weak
    /// scaling's measured size. Linear in the size by default; workloads whose work grows
    /// faster than their size (an image's width, a matrix's order) override it.
    fn weak_size(&self, base: u64, workers: usize) -> u64 {
        base.saturating_mul(workers as u64)
    }
    /// A caveat that every case of `size` on `machine` carries into its results (e.g. STREAM's
    /// rule not met), or `None`.
    fn size_note(&self, _size: u64, _machine: &Machine) -> Option<String> {
        None
    }
    /// Checks a size against the workload's own limits (e.g. a minimum), beyond being non-zero.
    fn check_size(&self, _size: u64, _params: &Params) -> Result<(), PrepareError> {
        Ok(())
    }
    /// Checks one case at a (measured) size against what its strategy can run, before anything
    /// runs: a `process` reply larger than a frame, a parameter value one strategy cannot use.
    /// The error names what to blame, relative to the `[[workload]]` entry: `"size"`, `"chunk"`
    /// (only when `case.chunk` is set) or `"params.NAME"`.
    fn check_case(&self, _size: u64, _params: &Params, _case: &CaseShape) -> Result<(), Refused> {
        Ok(())
    }
    /// What to tell a reader of a case of this workload under `strategy` that timed out, where
    /// its parameters make a hang the expected outcome (a deadlock the workload demonstrates).
    fn timeout_hint(&self, _strategy: &str, _params: &Params) -> Option<&'static str> {
        None
    }
    /// Checks parameters that are valid one by one but not together (e.g. a kernel that has no
    /// scalar version asked for with `simd = "scalar"`); the error names the parameter to blame.
    fn check_params(&self, _params: &Params) -> Result<(), Refused> {
        Ok(())
    }
    /// Builds the deterministic input for one size.
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError>;
    /// The worker half of this workload's remote version: what a worker process builds from a
    /// job's description to compute its tasks (see [`crate::remote`]). A workload that has one
    /// also gives [`Instance::coordinator`] and lets [`Family::Process`] through in
    /// [`Workload::support`].
    fn share(&self, _job: &JobSpec) -> Result<Box<dyn Share>, PrepareError> {
        Err(PrepareError::NoProcessVersion { workload: self.name() })
    }
    /// The rank half of this workload's MPI version: what each rank builds from the job's
    /// description to compute its block and combine the blocks (see [`crate::ranks`]), or `None`
    /// when it has none. `strategy` (of [`Family::Mpi`]) picks the version where there are
    /// several. A workload that has one lets [`Family::Mpi`] through in [`Workload::support`],
    /// for the strategies it has a version for.
    fn rank_share(
        &self,
        _job: &JobSpec,
        _strategy: &dyn Strategy,
        _ranks: &dyn Ranks,
    ) -> Option<Result<Box<dyn RankShare>, String>> {
        None
    }
}

impl std::fmt::Debug for dyn Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `base * workers^(1/dims)`, rounded: the weak-scaling size of a workload whose work grows like
/// its size to the power `dims`.
pub fn scaled_size(base: u64, workers: usize, dims: i32) -> u64 {
    (base as f64 * (workers as f64).powf(1.0 / dims as f64)).round() as u64
}

/// [`Workload::support`] for a [`Family::Mpi`] strategy, from a workload whose MPI version
/// combines its ranks' blocks with collectives only: `mpi` runs it; `mpi-nonblocking`, whose
/// point is neighbour messages overlapped with computation, has nothing to overlap here.
pub fn collective_mpi_support(workload: &'static str, strategy: &dyn Strategy) -> Result<(), Unsupported> {
    match strategy.name() {
        "mpi" => Ok(()),
        name => Err(Unsupported::new(
            workload,
            strategy,
            format!(
                "`{workload}`'s MPI version combines the ranks' blocks with collectives: it exchanges no \
                 neighbour messages for `{name}` to overlap with computation (run it with `mpi`)"
            ),
        )),
    }
}

/// [`Workload::support`] for a workload that is a conversation between MPI ranks: `mpi` runs it,
/// and `sequential` its baseline. Another MPI strategy is refused with `no_overlap` (why the
/// workload has nothing for it to overlap), naming the strategy; any other with `only_mpi`.
pub fn mpi_only_support(
    workload: &'static str,
    strategy: &dyn Strategy,
    no_overlap: &str,
    only_mpi: &str,
) -> Result<(), Unsupported> {
    if strategy.is_sequential() || strategy.family() == Family::Mpi && strategy.name() == "mpi" {
        return Ok(());
    }
    let reason = if strategy.family() == Family::Mpi {
        format!("{no_overlap} (it runs on `mpi`, not `{}`)", strategy.name())
    } else {
        only_mpi.to_string()
    };
    Err(Unsupported::new(workload, strategy, reason))
}

/// The default answer of [`Workload::support`].
pub fn default_support(workload: &'static str, strategy: &dyn Strategy) -> Result<(), Unsupported> {
    let refuse = |reason: String| Err(Unsupported::new(workload, strategy, reason));
    match strategy.family() {
        Family::DataParallel => Ok(()),
        Family::Process => refuse(format!(
            "`{workload}` has no multi-process version: its kernel's closures cannot cross a process \
             boundary, and no worker-process half (`Workload::share`) is written for it"
        )),
        Family::Mpi => refuse(format!(
            "`{workload}` has no MPI version: no rank's share (`Workload::rank_share`) is written for it"
        )),
        Family::Async => refuse(format!(
            "`{workload}` has no async version: its work never waits, so an event loop would only run \
             it inline (`{}` is measured on async_fanout, producer_consumer and ping_pong)",
            strategy.name()
        )),
        Family::Device => refuse(format!(
            "`{workload}` has no `{}` kernel: no device program of that kind is written for it",
            strategy.name()
        )),
        family => refuse(format!(
            "`{workload}` has no {} version: its workers share no state or messages that `{}` would manage",
            family.describe(),
            strategy.name()
        )),
    }
}

/// A prepared input, shared by every case at one size.
pub trait Instance: Send + Sync {
    /// Allocates one case's output; not timed.
    fn kernel(&self) -> Box<dyn Kernel + '_>;
    /// Allocates one case's output for a run whose work is done elsewhere (worker processes,
    /// see [`crate::remote`]): the harness half of the workload's remote version, or `None`
    /// when it has none.
    fn coordinator(&self) -> Option<Box<dyn Coordinator + '_>> {
        None
    }
}

/// One case's state: runs the kernel (timed) and checks its last output (not timed).
pub trait Kernel: Send {
    fn run(&mut self, exec: &Exec);
    fn verify(&self) -> Verification;
    /// The instruction set the last run used (`"sse2"` for the portable code on x86-64, `"avx2"`, `"avx512"`, see [`simd`]),
    /// for kernels that have more than one.
    fn isa(&self) -> Option<&'static str> {
        None
    }
    /// The inputs and output a device backend (OpenCL) runs this kernel on, for workloads that
    /// have a device version; `None` otherwise.
    fn device(&mut self) -> Option<device::Device<'_>> {
        None
    }
}

/// Deterministic 64-bit mixing (splitmix64's finaliser): the counter-based generator behind
/// every workload's input, so inputs never depend on which thread made them.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Splitmix64's increment (the golden ratio); counter `k` maps to `mix64(seed + k * GAMMA)`.
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The `k`-th value of the seeded stream as a float in `[0, 1)` (top 53 bits).
#[inline(always)]
pub fn unit_f64(seed: u64, k: u64) -> f64 {
    (mix64(seed.wrapping_add(k.wrapping_mul(GAMMA))) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{tests::exec, STRATEGIES};

    /// Tiny sizes that every workload accepts.
    fn tiny(workload: &dyn Workload) -> u64 {
        match workload.name() {
            "mandelbrot" => 24,
            "matmul" => 17,
            "empty" => 3,
            "spin" => 3,
            "producer_consumer" => 1000,
            // OSU's smallest message, the edge of every link's code.
            "ping_pong" => 1,
            "bandwidth" => 64,
            "stencil_heat" => 17,
            "nbody" => 33,
            "async_fanout" => 16,
            _ => 10_000,
        }
    }

    /// The defaults, made cheaper where a default is sized for measuring rather than testing.
    fn tiny_params(workload: &dyn Workload) -> Params {
        let mut params = crate::workload::default_params(workload);
        if workload.name() == "ping_pong" {
            params.0.insert("round_trips".into(), ParamValue::Int(50));
        }
        if workload.name() == "bandwidth" {
            params.0.insert("windows".into(), ParamValue::Int(3));
        }
        params
    }

    #[test]
    fn every_pair_verifies_on_tiny_sizes() {
        use crate::backend::{self, CaseJob, CASE_MARKER_ENV};
        use crate::scenario::{CaseSpec, Scaling};
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        for workload in WORKLOADS {
            let params = tiny_params(*workload);
            let size = tiny(*workload);
            let instance: Arc<dyn Instance> = Arc::from(workload.prepare(size, &params, 7).expect("prepare"));
            for strategy in STRATEGIES {
                let backend = backend::find(strategy.backend()).expect("every strategy's backend exists");
                // Unavailable: e.g. the process strategies where no parlab binary was built.
                if workload.support(*strategy).is_err()
                    || strategy.availability().is_err()
                    || backend.availability().is_err()
                {
                    continue;
                }
                for workers in [1, 2, 3] {
                    let what = format!("{} x {} x {workers}", workload.name(), strategy.name());
                    let tunables = StrategyParams { chunk: Some(3), capacity: Some(1) };
                    let shape = CaseShape {
                        family: strategy.family(),
                        strategy: strategy.name(),
                        workers,
                        chunk: tunables.chunk,
                        sequential: strategy.is_sequential(),
                        capacity: tunables.capacity,
                    };
                    // A case the plan refuses never runs (an MPI ping-pong on other than 2 ranks).
                    if workload.check_case(size, &params, &shape).is_err() {
                        continue;
                    }
                    let spec = CaseSpec {
                        id: 0,
                        workload_index: 0,
                        workload: workload.name().into(),
                        strategy: strategy.name().into(),
                        workers,
                        size,
                        effective_size: size,
                        scaling: Scaling::Strong,
                        seed: 7,
                        tunables: tunables.clone(),
                        notes: vec![],
                        device: None,
                    };
                    let job = CaseJob {
                        spec: &spec,
                        params: &params,
                        seed: 7,
                        strategy: *strategy,
                        config: crate::strategy::ExecConfig {
                            workers,
                            params: tunables,
                            cancel: Arc::new(AtomicBool::new(false)),
                        },
                        instance: &*instance,
                        clock: Arc::new(crate::clock::RealClock),
                        marker: (CASE_MARKER_ENV, format!("tiny-{}-{what}", std::process::id())),
                        mpi: Default::default(),
                    };
                    let mut session = backend.start(job).unwrap_or_else(|e| panic!("{what}: {e}"));
                    // Two runs, so that a second run over the first's output must be right too.
                    session.sample(usize::MAX, 2).unwrap_or_else(|e| panic!("{what}: {e}"));
                    let v = session.verify().unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(v.passed, "{what}: {}", v.detail);
                }
            }
        }
    }

    /// A strategy the workloads have never heard of, of any family.
    struct Newcomer(Family);
    impl Strategy for Newcomer {
        fn name(&self) -> &'static str {
            "newcomer"
        }
        fn summary(&self) -> &'static str {
            "a strategy added to the registry after the workloads were written"
        }
        fn family(&self) -> Family {
            self.0
        }
        fn executor(
            &self,
            _: &crate::strategy::ExecConfig,
        ) -> Result<Box<dyn crate::strategy::Executor>, crate::strategy::StrategyError> {
            Err(crate::strategy::StrategyError::Setup("never built".into()))
        }
    }

    #[test]
    fn a_new_strategy_is_unsupported_until_a_workload_writes_its_version() {
        // Shared-state, synchronization and async strategies mean something only to a workload
        // that implements them: none may fall into another strategy's code under its own name.
        // (Data-parallel ones run any kernel through `Exec`; process ones through `share`.)
        for family in [Family::SharedState, Family::Synchronization, Family::Async] {
            for w in WORKLOADS {
                assert!(
                    w.support(&Newcomer(family)).is_err(),
                    "{} accepts an unknown {} strategy",
                    w.name(),
                    family.describe()
                );
            }
        }
    }

    /// The dispatch agreement at the level of whole workloads: every workload with a `simd`
    /// parameter verifies against its scalar reference with each choice, and says which
    /// instruction set it ran (the paths this CPU lacks are covered by `simd`'s own tests).
    #[test]
    fn simd_choices_verify_and_report_their_isa() {
        use crate::strategy::find as strategy;
        for workload in WORKLOADS.iter().filter(|w| w.params().iter().any(|p| p.name == "simd")) {
            for choice in ["auto", "scalar"] {
                let mut params = tiny_params(*workload);
                params.0.insert("simd".into(), ParamValue::Text(choice.into()));
                if workload.name() == "matmul" {
                    // The tuned kernel has no scalar path of its own (see `Matmul::check_params`).
                    params.0.insert("kernel".into(), ParamValue::Text("blocked".into()));
                }
                let want =
                    if choice == "scalar" { simd::Isa::SCALAR.name() } else { simd::Isa::best().name() };
                // 70 covers several vectors and a tail in every kernel; fewer rows for the O(n^2) ones.
                let size = if tiny(*workload) == 10_000 { 10_007 } else { 70 };
                let instance = workload.prepare(size, &params, 3).expect("prepare");
                for (name, workers) in [("sequential", 1), ("threads", 2), ("rayon", 3)] {
                    let mut kernel = instance.kernel();
                    kernel.run(&exec(strategy(name).unwrap(), workers));
                    let v = kernel.verify();
                    assert!(v.passed, "{} simd={choice} {name}: {}", workload.name(), v.detail);
                    assert_eq!(kernel.isa(), Some(want), "{} simd={choice} {name}", workload.name());
                }
            }
        }
    }

    #[test]
    fn verifiers_reject_an_unrun_kernel() {
        // A kernel that never ran holds no answer: each verifier must notice.
        for workload in WORKLOADS {
            let params = tiny_params(*workload);
            let instance = workload.prepare(tiny(*workload), &params, 7).expect("prepare");
            let v = instance.kernel().verify();
            assert!(!v.passed, "{} accepted an output that was never computed", workload.name());
        }
    }

    #[test]
    fn exactly_the_workloads_with_a_rank_share_support_mpi_and_theirs_verify_on_one_rank() {
        let mut with = Vec::new();
        for strategy in [crate::strategy::mpi::mpi(), crate::strategy::mpi::mpi_nonblocking()] {
            for w in WORKLOADS {
                let job = JobSpec {
                    workload: w.name().into(),
                    params: tiny_params(*w),
                    size: tiny(*w),
                    seed: 3,
                    shared: None,
                };
                let name = (w.name(), strategy.name());
                match (w.support(strategy), w.rank_share(&job, strategy, &crate::ranks::OneRank)) {
                    // A conversation of two ranks refuses one, and verifies on two.
                    (Ok(()), Some(Err(why))) if why.contains("exactly 2 ranks") => {
                        let make = |r: &dyn crate::ranks::Ranks| w.rank_share(&job, strategy, r).unwrap();
                        let rank0 = crate::ranks::run_on_threads(2, 1, &make);
                        rank0.and_then(|s| s.verify()).unwrap_or_else(|e| panic!("{name:?}: {e}"));
                        with.push(name);
                    }
                    (Ok(()), Some(share)) => {
                        let mut share = share.unwrap_or_else(|e| panic!("{name:?}: {e}"));
                        share.run(&crate::ranks::OneRank).unwrap();
                        share.verify().unwrap_or_else(|e| panic!("{name:?}: {e}"));
                        with.push(name);
                    }
                    (Err(why), None) => {
                        assert!(why.to_string().contains("no MPI version"), "{name:?}: {why}")
                    }
                    // A workload with an MPI version but not this one: the share says why too.
                    (Err(why), Some(Err(also))) => {
                        assert!(
                            why.to_string().contains("nothing") || why.to_string().contains("no neighbour"),
                            "{name:?}: {why}"
                        );
                        assert_eq!(also, why.to_string(), "{name:?}");
                    }
                    (support, share) => {
                        panic!("{name:?}: support {support:?} but rank share {}", share.is_some())
                    }
                }
            }
        }
        let mpi = [
            "pi_monte_carlo",
            "histogram",
            "ping_pong",
            "stencil_heat",
            "matmul",
            "nbody",
            "exchange",
            "collectives",
            "bandwidth",
        ];
        let mut want: Vec<_> = mpi.iter().map(|w| (*w, "mpi")).collect();
        want.push(("stencil_heat", "mpi-nonblocking"));
        with.sort();
        want.sort();
        assert_eq!(with, want);
    }

    #[test]
    fn registry_names_are_unique_and_found() {
        for w in WORKLOADS {
            assert_eq!(find(w.name()).map(|f| f.name()), Some(w.name()));
            for p in w.params() {
                match &p.default {
                    ParamValue::Text(name) => assert!(p.choices.contains(&&**name), "{}", p.name),
                    number => assert!(p.min <= number.as_f64() && number.as_f64() <= p.max, "{}", p.name),
                }
            }
        }
        let mut names: Vec<_> = WORKLOADS.iter().map(|w| w.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
    }

    #[test]
    fn params_with_names_round_trip_through_json() {
        let params = crate::workload::default_params(find("matmul").unwrap());
        assert_eq!((params.text("kernel"), params.text("simd")), ("tuned", "auto"));
        let text = serde_json::to_string(&params).unwrap();
        assert_eq!(text, r#"{"kernel":"tuned","simd":"auto"}"#);
        assert_eq!(serde_json::from_str::<Params>(&text).unwrap(), params);
    }

    #[test]
    fn typed_errors_keep_the_texts_users_see() {
        let process = crate::strategy::find("process").unwrap();
        let e = find("matmul").unwrap().support(process).unwrap_err();
        assert_eq!((e.workload, e.strategy), ("matmul", "process"));
        assert_eq!(
            e.to_string(),
            "`matmul` has no multi-process version: its kernel's closures cannot cross a process \
             boundary, and no worker-process half (`Workload::share`) is written for it"
        );

        let job = JobSpec {
            workload: "matmul".into(),
            size: 10,
            params: default_params(find("matmul").unwrap()),
            seed: 1,
            shared: None,
        };
        let e = find("matmul").unwrap().share(&job).err().expect("matmul has no process version");
        assert_eq!(e, PrepareError::NoProcessVersion { workload: "matmul" });
        assert_eq!(e.to_string(), "`matmul` has no process version");
        let e = find("matmul").unwrap().check_size(40_000, &job.params).unwrap_err();
        assert_eq!(e.to_string(), "matrices larger than 32768 x 32768 would take hours");

        let mut params = default_params(find("matmul").unwrap());
        params.0.insert("simd".into(), ParamValue::Text("scalar".into()));
        let e = find("matmul").unwrap().check_params(&params).unwrap_err();
        assert_eq!(e.field, "simd");
        assert_eq!(
            e.to_string(),
            "the tuned kernel (matrixmultiply) picks its own instruction set; use `kernel = \"blocked\"` \
             to measure the scalar path"
        );
    }

    #[test]
    fn unit_stream_is_in_range_and_seeded() {
        let xs: Vec<f64> = (0..1000).map(|k| unit_f64(1, k)).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(unit_f64(1, 5), unit_f64(2, 5));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
    }
}
