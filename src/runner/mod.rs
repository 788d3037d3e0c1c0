//! The runner: walks the matrix of cases, measures each in isolation, and reports events.
//!
//! Each case runs on its own thread, so the runner can give up on it: a panic marks the case
//! `panicked`, a case past its timeout is cancelled (the `Exec` helpers look at the flag every
//! few grains of work, on every path) and abandoned as `timed_out`, Ctrl-C marks it
//! `interrupted`; in every case the run goes on or ends with everything measured so far written.
//! An abandoned case must not share the machine with the next one: the runner waits a grace
//! period for its thread to end, and if it is still running it stops and says so
//! ([`Results::abandoned_case`]), so that the caller continues the remaining cases in a fresh
//! process (the command line re-executes itself with `--resume`).
//!
//! With [`Isolation::Process`] each case runs in a child process of parlab's own binary
//! ([`child`]), which a timeout kills with everything it started; with `processes > 1` each
//! case is measured in that many processes, interleaved across cases, and summarised over
//! processes ([`crate::stats::Hierarchical`]).
//!
//! Inputs are prepared once per workload and size, outside the timed region; each timed sample
//! is one `Kernel::run`, or for kernels shorter than about 100 times the clock's own overhead a
//! batch of runs whose mean is the sample (as criterion and Google Benchmark do).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, RecvTimeoutError, Sender};

pub mod child;

pub mod listener;
pub use crate::marker;
mod panics;
mod rss;

pub use crate::clock::{self, Clock, RealClock, ScriptedClock};
pub use listener::{Listener, Listeners};

use crate::backend::{self, in_process, Backend, BackendError, CaseJob, CASE_MARKER_ENV};
use crate::machine::Machine;
use crate::results::{
    now_rfc3339, CaseResult, Host, ItemLatency, PhaseSamples, Placement, ProcessSpread, Results, Status,
    Throughput,
};
use crate::scenario::{CaseSpec, MpiSettings, Plan, Settings, WorkloadPlan};
use crate::stats::{self, Summary};
use crate::strategy::{self, ExecConfig, Strategy};
use crate::workload::{self, Instance, Verification};

/// How a run is timed and stopped.
pub struct RunOptions {
    pub clock: Arc<dyn Clock>,
    /// Set (by a Ctrl-C handler) to stop after marking the current case `interrupted`.
    pub interrupt: Arc<AtomicBool>,
    /// Run only these case ids (as `--dry-run` numbers them); `None` runs every case.
    pub only: Option<Vec<usize>>,
    /// Where cases run: on a thread of this process, or each in a child process.
    pub isolation: Isolation,
    /// Processes per case (`--processes`); `None` takes each workload's `processes` setting.
    /// More than one implies [`Isolation::Process`].
    pub processes: Option<usize>,
    /// How long an abandoned case's thread may take to end before the process counts as
    /// unfit for further measurement.
    pub grace: Duration,
    /// Cases an earlier process of this run finished (`--resume`): kept, not run again.
    pub done: Vec<CaseResult>,
    /// Which of a case's processes this run is (a case child's, counted from 0): part of each
    /// case's marker, so that the processes of one case's rounds are told apart.
    pub round: usize,
    /// The least span of time the rounds of a multi-process run are spread over (`--spread`):
    /// round `r` of `n` starts no earlier than `r / (n - 1)` of it after the first, so that the
    /// processes sample a machine whose speed wanders over tens of seconds, not one moment of it.
    pub spread: Duration,
}

/// Where a case runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Isolation {
    /// On a thread of the runner's process (the default: cheapest, and inputs are shared).
    Thread,
    /// Each case (each of its processes) in a child process of `exe` (parlab's own binary),
    /// which a timeout kills with its whole process group.
    Process { exe: std::path::PathBuf },
}

/// The default grace period for an abandoned case: the `Exec` helpers look at the flag at
/// least every 64 grains, so a cooperative kernel ends well within it.
pub const GRACE: Duration = Duration::from_secs(2);

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            clock: Arc::new(RealClock),
            interrupt: Arc::new(AtomicBool::new(false)),
            only: None,
            isolation: Isolation::Thread,
            processes: None,
            grace: GRACE,
            done: Vec::new(),
            round: 0,
            spread: Duration::ZERO,
        }
    }
}

/// Runs every case of `plan` and returns the results (also given to `listener` as they come).
pub fn run(plan: &Plan, machine: &Machine, listener: &mut dyn Listener, options: &RunOptions) -> Results {
    panics::install();
    let all = plan.cases();
    let mut cases = all.clone();
    if let Some(only) = &options.only {
        cases.retain(|c| only.contains(&c.id));
    }
    let mut results = Results::new(machine.clone(), plan.clone());
    results.clock_overhead_ns = Some(options.clock.overhead_ns());
    results.hosts = vec![Host::of(machine)];
    let mut baselines: HashMap<(usize, u64), f64> = HashMap::new();
    // Cases an earlier process of this run finished: kept as they are, and their sequential
    // medians are the baselines of the cases still to run.
    for done in &options.done {
        if let Some(spec) = all.iter().find(|c| c.id == done.id) {
            note_baseline(&mut baselines, spec, done);
        }
        results.add_hosts(done);
        results.cases.push(done.clone());
    }
    cases.retain(|c| !options.done.iter().any(|d| d.id == c.id));
    listener.run_started(plan, machine, &cases);

    let end = match &options.isolation {
        Isolation::Process { exe } => {
            let rounds = cases.iter().map(|c| processes_for(plan, c, options)).max().unwrap_or(1);
            run_in_children(plan, &cases, exe, rounds, listener, options, &mut baselines, &mut results)
        }
        Isolation::Thread if options.processes.is_some_and(|p| p > 1) => {
            unreachable!("more than one process per case needs Isolation::Process")
        }
        Isolation::Thread => {
            let run_marker = marker::current_or_fresh();
            run_in_threads(plan, &cases, &run_marker, listener, options, &mut baselines, &mut results)
        }
    };
    results.complete = end == End::Complete;
    if let End::Abandoned(id) = end {
        results.abandoned_case = Some(id);
    }
    results.finished_at = Some(now_rfc3339());
    listener.run_finished(&results);
    results
}

/// How the loop over cases ended.
#[derive(Debug, PartialEq)]
enum End {
    Complete,
    Interrupted,
    /// A case's thread was still running after the grace period: nothing more may be measured
    /// in this process.
    Abandoned(usize),
}

fn processes_for(plan: &Plan, spec: &CaseSpec, options: &RunOptions) -> usize {
    options.processes.unwrap_or(plan.workloads[spec.workload_index].settings.processes).max(1)
}

fn note_baseline(baselines: &mut HashMap<(usize, u64), f64>, spec: &CaseSpec, result: &CaseResult) {
    let s = strategy::find(&spec.strategy);
    if s.is_some_and(|s| s.is_sequential()) && result.status == Status::Ok {
        if let Some(m) = result.median_ns() {
            baselines.insert((spec.workload_index, spec.effective_size), m);
        }
    }
}

/// How the plan launches a case of `strategy` on `workers` ([`backend::Backend::launch`]): part
/// of its identity whatever its outcome.
fn launch_of(strategy: &dyn Strategy, mpi: &MpiSettings, workers: usize) -> Option<String> {
    backend::find(strategy.backend()).and_then(|b| b.launch(mpi, workers))
}

/// The case as `unsupported` or `unavailable` when it cannot run at all, without starting it.
fn cannot_run(plan: &Plan, spec: &CaseSpec) -> Option<CaseResult> {
    let wp = &plan.workloads[spec.workload_index];
    let w = workload::find(&wp.kind).expect("the plan names only known workloads");
    let s = strategy::find(&spec.strategy).expect("the plan names only known strategies");
    let unmeasured = |status, reason: String| Some(CaseResult::unmeasured(spec, &wp.params, status, reason));
    if let Err(reason) = s.availability() {
        return unmeasured(Status::Unavailable, reason.to_string());
    }
    match backend::find(s.backend()) {
        None => {
            let why =
                format!("`{}` runs on backend `{}`, which this build does not have", s.name(), s.backend());
            return unmeasured(Status::Error, why);
        }
        Some(b) => {
            if let Err(e) = b.availability_in(plan) {
                return unmeasured(Status::Unavailable, e.to_string());
            }
        }
    }
    if let Err(unsupported) = w.support(s) {
        unmeasured(Status::Unsupported, unsupported.reason)
    } else {
        None
    }
}

fn finish_case(
    plan: &Plan,
    spec: &CaseSpec,
    mut result: CaseResult,
    baselines: &mut HashMap<(usize, u64), f64>,
    listener: &mut dyn Listener,
    results: &mut Results,
) {
    // Whatever the outcome, unavailable and timed out while starting included: a case launched
    // differently is another case, and one that failed is still this one.
    if result.launch.is_none() {
        result.launch = strategy::find(&spec.strategy).and_then(|s| launch_of(s, &plan.mpi, spec.workers));
    }
    result.derive_speedup(baselines.get(&(spec.workload_index, spec.effective_size)).copied());
    note_baseline(baselines, spec, &result);
    results.add_hosts(&result);
    listener.case_finished(&result);
    results.cases.push(result);
}

fn run_in_threads(
    plan: &Plan,
    cases: &[CaseSpec],
    run_marker: &str,
    listener: &mut dyn Listener,
    options: &RunOptions,
    baselines: &mut HashMap<(usize, u64), f64>,
    results: &mut Results,
) -> End {
    let mut prepared: Option<(PreparedKey, Prepared)> = None;
    for spec in cases {
        if options.interrupt.load(Ordering::SeqCst) {
            return End::Interrupted;
        }
        listener.case_started(spec);
        let wp = &plan.workloads[spec.workload_index];
        let w = workload::find(&wp.kind).expect("the plan names only known workloads");
        let s = strategy::find(&spec.strategy).expect("the plan names only known strategies");
        let key = (spec.workload_index, spec.effective_size);
        let mut lingering = false;
        let result = if let Some(result) = cannot_run(plan, spec) {
            result
        } else {
            if prepared.as_ref().map(|p| p.0) != Some(key) {
                // Free the previous input before building the next: sizes can be most of memory.
                drop(prepared.take());
                let made = catch_unwind(AssertUnwindSafe(|| {
                    w.prepare(spec.effective_size, &wp.params, wp.settings.seed).map_err(|e| e.to_string())
                }))
                .unwrap_or_else(|p| {
                    Err(format!(
                        "preparing `{}` at size {} panicked: {}",
                        wp.kind,
                        spec.effective_size,
                        panics::payload_text(p.as_ref())
                    ))
                })
                .map(Arc::from);
                prepared = Some((key, made));
            }
            match &prepared.as_ref().expect("just prepared").1 {
                Err(e) => CaseResult::unmeasured(
                    spec,
                    &wp.params,
                    Status::Error,
                    format!("preparing the input failed: {e}"),
                ),
                Ok(instance) => {
                    let params = plan.strategy_params.get(s.name()).cloned().unwrap_or_default();
                    let config = ExecConfig {
                        workers: spec.workers,
                        params: crate::strategy::StrategyParams {
                            chunk: wp.chunk.or(params.chunk),
                            ..params
                        },
                        cancel: Arc::new(AtomicBool::new(false)),
                    };
                    let marker = format!("{run_marker}/{}/{}", spec.id, options.round);
                    let case = Case {
                        spec,
                        plan: wp,
                        strategy: s,
                        config,
                        instance: instance.clone(),
                        marker,
                        mpi: &plan.mpi,
                    };
                    let (result, still_running) = case.measure(options, listener);
                    lingering = still_running;
                    result
                }
            }
        };
        let status = result.status;
        finish_case(plan, spec, result, baselines, listener, results);
        // Ctrl-C wins: the user asked to stop, not to go on in a fresh process.
        if status == Status::Interrupted {
            return End::Interrupted;
        }
        if lingering {
            // Its threads still hold the input and burn a core: measuring anything more in
            // this process would measure beside it.
            return End::Abandoned(spec.id);
        }
    }
    End::Complete
}

/// Every case in child processes, `rounds` times over, interleaved (round 1 of every case,
/// then round 2, ...) so that a slow drift of the machine spreads over all cases alike.
#[allow(clippy::too_many_arguments)]
fn run_in_children(
    plan: &Plan,
    cases: &[CaseSpec],
    exe: &std::path::Path,
    rounds: usize,
    listener: &mut dyn Listener,
    options: &RunOptions,
    baselines: &mut HashMap<(usize, u64), f64>,
    results: &mut Results,
) -> End {
    // Per case: the processes measured so far (with their alignment offset and when each
    // started), or the result that ended it early.
    let mut parts: Vec<Vec<(CaseResult, usize, Instant)>> = vec![Vec::new(); cases.len()];
    let mut ended: Vec<Option<CaseResult>> = cases.iter().map(|c| cannot_run(plan, c)).collect();
    let mut interrupted = false;
    'rounds: for round in 0..rounds {
        for (k, spec) in cases.iter().enumerate() {
            let of = processes_for(plan, spec, options);
            if ended[k].is_some() || round >= of {
                continue;
            }
            if options.interrupt.load(Ordering::SeqCst) {
                interrupted = true;
                break 'rounds;
            }
            // Paced per case, from its own first process: process `round` of `of` starts no
            // earlier than `round / (of - 1)` of the spread after it, so that every case's
            // processes span at least the spread, whatever ran before them.
            if let (Some(first), false) = (parts[k].first().map(|p| p.2), options.spread.is_zero()) {
                let due = first + options.spread.mul_f64(round as f64 / (of - 1) as f64);
                // Idle in short steps, so that Ctrl-C still stops at once.
                while Instant::now() < due {
                    if options.interrupt.load(Ordering::SeqCst) {
                        interrupted = true;
                        break 'rounds;
                    }
                    std::thread::sleep(
                        due.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)),
                    );
                }
            }
            listener.case_started(spec);
            let offset = child::align_offset(round);
            let started = Instant::now();
            let part = child::measure(plan, spec, exe, round, offset, options, listener);
            if part.status != Status::Ok {
                let mut failed = part;
                if of > 1 {
                    let why = failed.reason.take().unwrap_or_default();
                    failed.reason = Some(format!("in process {} of {of}: {why}", round + 1));
                }
                let stop = failed.status == Status::Interrupted;
                ended[k] = Some(failed);
                if stop {
                    interrupted = true;
                    break 'rounds;
                }
            } else {
                listener.process_finished(spec, round, processes_for(plan, spec, options), &part);
                parts[k].push((part, offset, started));
            }
        }
    }
    // Results in case order, so that every sequential baseline comes before its cases.
    for (k, spec) in cases.iter().enumerate() {
        let result = match ended[k].take() {
            Some(r) => r,
            None if parts[k].is_empty() => continue, // never reached (interrupted)
            None => {
                let measured = parts[k].len();
                let mut merged = merge_processes(std::mem::take(&mut parts[k]));
                let of = processes_for(plan, spec, options);
                if measured < of {
                    // Interrupted part-way: fewer processes than asked for, so less of the
                    // spread between runs is in the interval than the scenario promised.
                    merged.notes.push(format!(
                        "measured in {measured} of {of} processes: the run was interrupted before the rest"
                    ));
                }
                merged
            }
        };
        finish_case(plan, spec, result, baselines, listener, results);
    }
    if interrupted {
        End::Interrupted
    } else {
        End::Complete
    }
}

/// One case measured in several processes, as one result: every sample kept (in order), the
/// centre and interval over processes, the spread between processes recorded,
/// and a note when the process medians form separate groups.
fn merge_processes(parts: Vec<(CaseResult, usize, Instant)>) -> CaseResult {
    let span = match (parts.first(), parts.last()) {
        (Some(first), Some(last)) => last.2.duration_since(first.2).as_secs_f64(),
        _ => 0.0,
    };
    let (mut parts, offsets): (Vec<CaseResult>, Vec<usize>) =
        parts.into_iter().map(|(p, o, _)| (p, o)).unzip();
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    let groups: Vec<Vec<f64>> = parts.iter().map(|p| p.samples_ns.clone()).collect();
    let mut merged = parts[0].clone();
    merged.samples_ns = parts.iter().flat_map(|p| p.samples_ns.iter().copied()).collect();
    merged.warmup_runs = parts.iter().map(|p| p.warmup_runs).sum();
    merged.wall_time_s = parts.iter().map(|p| p.wall_time_s).sum();
    merged.peak_rss_bytes = parts.iter().filter_map(|p| p.peak_rss_bytes).max();
    let mut setups: Vec<u64> = parts.iter().filter_map(|p| p.setup_ns).collect();
    setups.sort_unstable();
    merged.setup_ns = setups.get(setups.len() / 2).copied();
    for p in &parts[1..] {
        for h in &p.hosts {
            if !merged.hosts.iter().any(|m| m.hostname == h.hostname) {
                merged.hosts.push(h.clone());
            }
        }
    }
    merged.batch = parts.iter().map(|p| p.batch).max().unwrap_or(1);
    let mut notes: Vec<String> = Vec::new();
    for p in &parts {
        for n in &p.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    merged.stats = Summary::from_samples(&merged.samples_ns);
    if let (Some(h), Some(stats)) = (stats::Hierarchical::from_processes(&groups), merged.stats.as_mut()) {
        // The headline is the processes' estimate: the pooled median would weigh a process by
        // how many samples it happened to take, and its interval would ignore the spread
        // between processes, which is what a rerun sees.
        stats.median = h.center;
        stats.ci_low = h.ci_low;
        stats.ci_high = h.ci_high;
        if h.groups > 1 {
            let mut sorted = h.process_medians.clone();
            sorted.sort_by(f64::total_cmp);
            notes.push(format!(
                "the {} process medians form {} separate groups ({}): something that differs between \
                 processes decides this case's speed (fixed at process start, such as alignment or placement, or the \
                 machine's load while each ran), so one process's number is not representative",
                sorted.len(),
                h.groups,
                sorted.iter().map(|&m| crate::units::format_ns(m)).collect::<Vec<_>>().join(", ")
            ));
        }
        merged.processes = Some(ProcessSpread {
            count: parts.len(),
            medians_ns: h.process_medians.clone(),
            align_offsets: offsets,
            between_cv: h.between_cv,
            groups: h.groups,
            rerun_low_ns: Some(h.rerun_low),
            rerun_high_ns: Some(h.rerun_high),
            span_s: Some(span),
        });
    }
    // Each process's means line up with its samples; concatenated they line up with the
    // merged ones, unless a process has none.
    merged.rank_mean_ns = if parts.iter().all(|p| p.rank_mean_ns.len() == p.samples_ns.len()) {
        parts.iter().flat_map(|p| p.rank_mean_ns.iter().copied()).collect()
    } else {
        Vec::new()
    };
    merged.phases = match merge_phases(&parts) {
        Ok(phases) => phases,
        Err(why) => {
            notes.push(format!("phases are left out: {why}"));
            Vec::new()
        }
    };
    // `item_latency` stays the first process's: the items themselves are not kept, so their
    // quantiles cannot be pooled.
    merged.throughput = rescale_throughput(&parts[0], merged.stats.as_ref());
    merged.latency_ns = match (parts[0].latency_ns, parts[0].median_ns(), merged.median_ns()) {
        (Some(l), Some(m0), Some(m)) if m0 > 0.0 => Some(l * m / m0),
        _ => None,
    };
    merged.notes = notes;
    merged
}

/// Every process's phases, concatenated per name in sample order (they line up with the merged
/// samples); `Err` says why not when the processes named different phases.
fn merge_phases(parts: &[CaseResult]) -> Result<Vec<PhaseSamples>, String> {
    let names = |p: &CaseResult| p.phases.iter().map(|ph| ph.name.clone()).collect::<Vec<_>>();
    let first = names(&parts[0]);
    if let Some((k, other)) = parts.iter().enumerate().map(|(k, p)| (k, names(p))).find(|(_, n)| *n != first)
    {
        return Err(format!("process {} reported {other:?}, process 1 {first:?}", k + 1));
    }
    Ok((0..first.len())
        .map(|i| PhaseSamples {
            name: first[i].clone(),
            samples_ns: parts.iter().flat_map(|p| p.phases[i].samples_ns.iter().copied()).collect(),
        })
        .collect())
}

/// The throughput of `part` re-derived for the merged statistics (work per run is the same).
fn rescale_throughput(part: &CaseResult, stats: Option<&Summary>) -> Option<Throughput> {
    let (t, m0, s) = (part.throughput.as_ref()?, part.median_ns()?, stats?);
    let work = t.median * m0 * 1e-9;
    let per_s = |ns: f64| if ns > 0.0 { work / (ns * 1e-9) } else { f64::INFINITY };
    Some(Throughput {
        unit: t.unit.clone(),
        median: per_s(s.median),
        low: per_s(s.ci_high),
        high: per_s(s.ci_low),
    })
}

/// The input currently prepared: (workload index, effective size).
type PreparedKey = (usize, u64);
type Prepared = Result<Arc<dyn Instance>, String>;

/// Everything one case needs, moved into its thread.
struct Case<'a> {
    spec: &'a CaseSpec,
    plan: &'a WorkloadPlan,
    strategy: &'static dyn Strategy,
    config: ExecConfig,
    instance: Arc<dyn Instance>,
    /// The value of the case's marker ([`CASE_MARKER_ENV`]) on every process its backend starts.
    marker: String,
    /// The plan's `[mpi]` section, for the `mpi` backend.
    mpi: &'a MpiSettings,
}

enum Event {
    WarmedUp(u64),
    /// Sampling is over; verification (which may compute a slow reference) has its own timeout.
    Verifying,
    Sample(usize, f64),
    /// Runs are too short to time one by one: each sample is the mean of this many.
    Batched(u64),
    /// Something for the case's notes, whatever its outcome (processes left behind).
    Note(String),
    Done(Result<Box<Measured>, String>),
}

struct Measured {
    /// Building the executor (pools, worker processes), outside the timed region.
    setup_ns: u64,
    warmup_runs: u64,
    /// Runs per sample (1 unless the kernel is too short to time alone).
    batch: u64,
    /// Nanoseconds per run, one per sample.
    samples: Vec<f64>,
    verification: Verification,
    /// Process-wide resident-set high-water mark during the case (see `rss`).
    peak_rss_bytes: Option<u64>,
    /// The instruction set the kernel reported for its runs.
    isa: Option<String>,
    /// Named phases per run, one value per sample (plus `other`); empty when the backend has none.
    phases: Vec<PhaseSamples>,
    item_latency: Option<ItemLatency>,
    /// The mean over ranks per run, one per sample, where the backend ran ranks; else empty.
    rank_mean_ns: Vec<f64>,
    placement: Vec<Placement>,
    hosts: Vec<Host>,
}

/// How often the case thread's progress is checked while it runs.
const POLL: Duration = Duration::from_millis(20);

impl Case<'_> {
    /// Measures the case on its own thread; also says whether that thread was still running a
    /// grace period after the case was abandoned.
    fn measure(self, options: &RunOptions, listener: &mut dyn Listener) -> (CaseResult, bool) {
        let spec = self.spec.clone();
        let settings = self.plan.settings.clone();
        let params = self.plan.params.clone();
        let cancel = self.config.cancel.clone();
        let (tx, rx) = channel::unbounded();
        let started = Instant::now();
        panics::begin_case();
        let body = {
            let (spec, settings, clock) = (spec.clone(), settings.clone(), options.clock.clone());
            let (strategy, config, instance) = (self.strategy, self.config.clone(), self.instance.clone());
            let (params, seed, marker) = (params.clone(), self.plan.settings.seed, self.marker.clone());
            let mpi = self.mpi.clone();
            move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    let job = CaseJob {
                        spec: &spec,
                        params: &params,
                        seed,
                        strategy,
                        config,
                        instance: &*instance,
                        clock: clock.clone(),
                        marker: (CASE_MARKER_ENV, marker.clone()),
                        mpi: mpi.clone(),
                    };
                    sample(job, &settings, clock.as_ref(), &tx)
                }));
                // The session is over, ended or unwound: whatever still carries the case's
                // marker was left behind by its backend.
                // In-process cases set no case marker (the environment is the process's): only
                // backends that start processes are scanned.
                let scanned = strategy.backend() != in_process::NAME;
                if let Some(note) =
                    scanned.then(|| marker::end_left_behind(CASE_MARKER_ENV, &marker)).flatten()
                {
                    let _ = tx.send(Event::Note(note));
                }
                let event = match outcome {
                    Ok(measured) => measured.map(Box::new),
                    Err(payload) => Err(format!("{PANICKED}{}", panics::payload_text(payload.as_ref()))),
                };
                let _ = tx.send(Event::Done(event));
            }
        };
        let thread = match std::thread::Builder::new().name(format!("parlab-case-{}", spec.id)).spawn(body) {
            Ok(handle) => handle,
            Err(e) => {
                panics::end_case();
                let why = format!("could not start the case thread: {e}");
                return (CaseResult::unmeasured(&spec, &params, Status::Error, why), false);
            }
        };
        let (mut deadline, mut verifying) = (started + settings.timeout, false);
        let mut notes = Vec::new();
        let outcome: Result<Measured, (Status, String)> = loop {
            match rx.recv_timeout(POLL) {
                Ok(Event::WarmedUp(runs)) => listener.warmed_up(&spec, runs),
                Ok(Event::Verifying) => {
                    listener.verifying(&spec);
                    verifying = true;
                    deadline = Instant::now() + settings.timeout;
                }
                Ok(Event::Sample(n, ns)) => listener.sample(&spec, n, settings.max_samples, ns),
                Ok(Event::Batched(runs)) => listener.batched(&spec, runs),
                Ok(Event::Note(note)) => notes.push(note),
                Ok(Event::Done(Ok(m))) => break Ok(*m),
                Ok(Event::Done(Err(e))) if e.starts_with(UNAVAILABLE) => {
                    break Err((Status::Unavailable, e[UNAVAILABLE.len()..].to_string()))
                }
                Ok(Event::Done(Err(e))) if e.starts_with(UNSUPPORTED) => {
                    break Err((Status::Unsupported, e[UNSUPPORTED.len()..].to_string()))
                }
                Ok(Event::Done(Err(e))) if e.starts_with(PANICKED) => {
                    let why = panics::reason(&e[PANICKED.len()..]);
                    break Err((Status::Panicked, format!("panicked: {why}")));
                }
                Ok(Event::Done(Err(e))) => break Err((Status::Error, e)),
                Err(RecvTimeoutError::Disconnected) => {
                    break Err((Status::Panicked, "the case thread ended without a result".into()))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Checked after every event too: a case that streams samples must still be stoppable.
            if options.interrupt.load(Ordering::SeqCst) {
                cancel.store(true, Ordering::SeqCst);
                break Err((Status::Interrupted, "interrupted by Ctrl-C".into()));
            }
            if Instant::now() > deadline {
                // The thread is abandoned; cancellation stops cooperative kernels soon.
                cancel.store(true, Ordering::SeqCst);
                let what = if verifying { "verification" } else { "sampling" };
                let hint = workload::find(&spec.workload)
                    .and_then(|w| w.timeout_hint(&spec.strategy, &params))
                    .map(|h| format!("; hint: {h}"))
                    .unwrap_or_default();
                break Err((
                    Status::TimedOut,
                    format!(
                        "{what} did not finish within the case timeout of {}{hint}",
                        humantime::format_duration(settings.timeout)
                    ),
                ));
            }
        };
        // An abandoned case gets a grace period to notice its cancellation and end; the thread
        // of a finished one ends right after its last event.
        let grace_end = Instant::now() + options.grace;
        while !thread.is_finished() && Instant::now() < grace_end {
            std::thread::sleep(Duration::from_millis(5));
        }
        let lingering = !thread.is_finished();
        if !lingering {
            let _ = thread.join();
        }
        // A note sent after the runner stopped listening (a case abandoned, then ended within
        // its grace period) still belongs to the case.
        for event in rx.try_iter() {
            if let Event::Note(note) = event {
                notes.push(note);
            }
        }
        panics::end_case();
        let wall = started.elapsed().as_secs_f64();
        let mut result = match outcome {
            Err((status, reason)) => CaseResult::unmeasured(&spec, &params, status, reason),
            Ok(m) => self.finish(&spec, m),
        };
        if lingering {
            result.notes.push(format!(
                "its thread was still running {} after the case was abandoned (a kernel that does not \
                 look at the cancellation flag); no later case was measured beside it",
                humantime::format_duration(options.grace)
            ));
        }
        result.notes.extend(notes);
        result.wall_time_s = wall;
        (result, lingering)
    }

    fn finish(&self, spec: &CaseSpec, m: Measured) -> CaseResult {
        let w = workload::find(&spec.workload).expect("known workload");
        let mut result = CaseResult::unmeasured(spec, &self.plan.params, Status::Ok, "");
        result.reason = None;
        let summary = Summary::from_samples(&m.samples);
        if let Some(s) = &summary {
            let work = w.work(spec.effective_size, &self.plan.params);
            let per_s = |ns: f64| {
                if ns > 0.0 {
                    work / (ns * 1e-9)
                } else {
                    f64::INFINITY
                }
            };
            result.throughput = Some(Throughput {
                unit: w.throughput_unit().to_string(),
                median: per_s(s.median),
                low: per_s(s.ci_high),
                high: per_s(s.ci_low),
            });
        }
        if !m.verification.passed {
            result.status = Status::FailedVerification;
            result.reason = Some(format!("verification failed: {}", m.verification.detail));
        }
        result.stats = summary;
        result.samples_ns = m.samples;
        result.warmup_runs = m.warmup_runs;
        result.batch = m.batch;
        result.setup_ns = Some(m.setup_ns);
        result.peak_rss_bytes = m.peak_rss_bytes;
        result.isa = m.isa;
        result.phases = m.phases;
        result.item_latency = m.item_latency;
        result.rank_mean_ns = m.rank_mean_ns;
        result.placement = m.placement;
        result.hosts = m.hosts;
        result.latency_ns = match (&result.stats, w.latency_ops(spec.effective_size, &self.plan.params)) {
            (Some(s), Some(ops)) if ops > 0.0 => Some(s.median / ops),
            _ => None,
        };
        result.verification = Some(m.verification);
        result
    }
}

const PANICKED: &str = "\u{0}panicked";
/// Marks a backend's [`BackendError::NoDevice`] and [`BackendError::Unsupported`] on their way
/// from the case thread, like [`PANICKED`].
const UNAVAILABLE: &str = "\u{0}unavailable";
const UNSUPPORTED: &str = "\u{0}unsupported";

/// A timed sample should be at least this many times the clock's own overhead; shorter runs
/// are timed in batches.
pub const MIN_OVERHEAD_RATIO: f64 = 100.0;

/// Warm runs made before deciding whether to batch, whatever the warm-up setting.
const MIN_RUNS_TO_BATCH: u64 = 3;

/// At most this many runs in one batch (a kernel of a few nanoseconds on a slow clock).
pub const MAX_BATCH: u64 = 1 << 20;

/// Runs per sample for a kernel of `run_ns` per run on a clock costing `overhead_ns` per
/// reading: 1, or enough runs that one sample is [`MIN_OVERHEAD_RATIO`] times the overhead.
pub fn batch_size(run_ns: f64, overhead_ns: f64) -> u64 {
    let want = MIN_OVERHEAD_RATIO * overhead_ns;
    if run_ns.is_nan() || run_ns <= 0.0 || run_ns >= want {
        return 1;
    }
    ((want / run_ns).ceil() as u64).clamp(1, MAX_BATCH)
}

/// Item latencies kept for a case's distribution: every one up to [`MAX_ITEMS`], then an evenly
/// spaced subset (every `stride`-th, the stride doubling each time the store fills), so that a
/// long run of a backend reporting many items per sample holds bounded memory.
#[derive(Debug, Default)]
struct Items {
    kept: Vec<f64>,
    stride: u64,
    seen: u64,
}

/// The most item latencies a case keeps (see [`Items`]).
const MAX_ITEMS: usize = 1 << 16;

impl Items {
    fn push(&mut self, ns: f64) {
        let stride = self.stride.max(1);
        if self.seen.is_multiple_of(stride) {
            self.kept.push(ns);
            if self.kept.len() >= MAX_ITEMS {
                self.kept = self.kept.iter().step_by(2).copied().collect();
                self.stride = stride * 2;
            }
        }
        self.seen += 1;
    }

    /// The distribution of what was kept, counting every item seen.
    fn summary(self) -> Result<Option<ItemLatency>, String> {
        let seen = self.seen;
        Ok(ItemLatency::from_items(self.kept)?.map(|l| ItemLatency { count: seen, ..l }))
    }
}

/// The case thread's work: starts the case on its strategy's backend, warms up, samples until
/// the CI is tight enough or a limit is hit, then verifies the last output.
fn sample(
    job: CaseJob<'_>,
    settings: &Settings,
    clock: &dyn Clock,
    events: &Sender<Event>,
) -> Result<Measured, String> {
    let cancel = job.config.cancel.clone();
    let cancelled = || cancel.load(Ordering::Relaxed);
    let backend: &dyn Backend =
        backend::find(job.strategy.backend()).expect("`cannot_run` checked the backend");
    let failed = |e: BackendError| match e {
        // The runner has already given up on this case.
        BackendError::Cancelled => "cancelled".to_string(),
        // Not a failure: what the backend found the case cannot run on, marked for the status.
        BackendError::NoDevice(why) => format!("{UNAVAILABLE}{why}"),
        BackendError::Unsupported(why) => format!("{UNSUPPORTED}{why}"),
        e => e.to_string(),
    };
    let rss_tracked = rss::reset_peak();
    let mut session = backend.start(job).map_err(failed)?;
    for note in session.notes() {
        let _ = events.send(Event::Note(note));
    }
    let setup_ns = session.setup_ns();
    let warmup_ns = settings.warmup.as_nanos() as u64;
    let wall = Instant::now();
    let (mut warm_ns, mut warm_runs, mut fastest_ns) = (0u64, 0u64, u64::MAX);
    // At least one run: it touches the output's pages and proves the kernel terminates.
    loop {
        let ns = session.sample(usize::MAX, 1).map_err(failed)?.ns;
        warm_ns = warm_ns.saturating_add(ns);
        fastest_ns = fastest_ns.min(ns);
        warm_runs += 1;
        if warm_ns >= warmup_ns || wall.elapsed() >= settings.warmup || cancelled() {
            break;
        }
    }
    // A kernel that may be short enough to batch gets a few warm runs whatever the warm-up
    // setting: with `warmup = "0ms"` the only run would be the cold one. They are cheap: each
    // is shorter than 100 clock overheads.
    let overhead = clock.overhead_ns();
    while warm_runs < MIN_RUNS_TO_BATCH && (fastest_ns as f64) < MIN_OVERHEAD_RATIO * overhead && !cancelled()
    {
        fastest_ns = fastest_ns.min(session.sample(usize::MAX, 1).map_err(failed)?.ns);
        warm_runs += 1;
    }
    let _ = events.send(Event::WarmedUp(warm_runs));
    // From the fastest warm-up run, not the mean: the first, cold run (page faults, cache
    // misses) can be a thousand times a warm one and would hide that warm runs need batching.
    // Less the clock's own overhead, which every timing includes: the batch must be 100
    // overheads of kernel, or a run shorter than the overhead keeps most of it.
    let batch = batch_size((fastest_ns as f64 - overhead).max(1.0), overhead).max(session.min_batch().max(1));
    if batch > 1 {
        let _ = events.send(Event::Batched(batch));
    }
    let max_time = settings.max_time.as_nanos() as u64;
    let mut samples: Vec<f64> = Vec::with_capacity(settings.max_samples);
    // Per run, like the samples: each sample's phases, and every item's latency.
    let mut phases: Vec<Vec<(String, f64)>> = Vec::with_capacity(settings.max_samples);
    let mut items_ns = Items::default();
    let mut rank_mean_ns: Vec<f64> = Vec::new();
    let mut total = 0u64;
    while !cancelled() {
        let sample = session.sample(samples.len(), batch).map_err(failed)?;
        total = total.saturating_add(sample.ns);
        // The mean run of the batch, unrounded: rounding a 7 ns run would move it by up to 7%.
        let ns = sample.ns as f64 / batch as f64;
        samples.push(ns);
        phases.push(
            sample
                .phases
                .into_iter()
                .map(|(name, ns)| (name.into_owned(), ns as f64 / batch as f64))
                .collect(),
        );
        sample.items_ns.into_iter().for_each(|v| items_ns.push(v));
        if let Some(mean) = sample.rank_mean_ns {
            rank_mean_ns.push(mean as f64 / batch as f64);
        }
        let n = samples.len();
        let _ = events.send(Event::Sample(n, ns));
        if n >= settings.max_samples {
            break;
        }
        if n >= settings.min_samples {
            if total >= max_time {
                break;
            }
            // The check runs between samples, never inside one; checking every n/20 samples
            // (and `quick_relative_ci` looking at a bounded subsample) bounds its cost.
            let every = (n / 20).max(1);
            if n.is_multiple_of(every) && stats::quick_relative_ci(&samples, n as u64) <= settings.target_ci {
                break;
            }
        }
    }
    if cancelled() {
        // The runner has already given up on this case: computing a reference now would only
        // keep a core busy beside the next case.
        return Err("cancelled".into());
    }
    let peak_rss_bytes = if rss_tracked { rss::peak_bytes() } else { None };
    let _ = events.send(Event::Verifying);
    let verification = session.verify().map_err(failed)?;
    for note in session.end_notes() {
        let _ = events.send(Event::Note(note));
    }
    let (isa, placement, hosts) = (session.isa().map(str::to_string), session.placement(), session.hosts());
    drop(session);
    let phases = PhaseSamples::from_samples(&samples, &phases)
        .map_err(|e| format!("the backend reported impossible phases: {e}"))?;
    let item_latency =
        items_ns.summary().map_err(|e| format!("the backend reported impossible item latencies: {e}"))?;
    if !rank_mean_ns.is_empty() && rank_mean_ns.len() != samples.len() {
        return Err(format!(
            "the backend reported a mean over ranks for {} of {} samples",
            rank_mean_ns.len(),
            samples.len()
        ));
    }
    Ok(Measured {
        setup_ns,
        warmup_runs: warm_runs,
        batch,
        samples,
        verification,
        peak_rss_bytes,
        isa,
        phases,
        item_latency,
        rank_mean_ns,
        placement,
        hosts,
    })
}

#[cfg(test)]
mod items_tests {
    use super::*;

    #[test]
    fn item_latencies_stay_bounded_and_evenly_spread() {
        let mut items = Items::default();
        let n = 10 * MAX_ITEMS as u64 + 7;
        for k in 0..n {
            items.push(k as f64);
        }
        assert!(items.kept.len() < MAX_ITEMS, "{}", items.kept.len());
        assert!(items.kept.len() >= MAX_ITEMS / 4, "{}", items.kept.len());
        let l = items.summary().unwrap().unwrap();
        assert_eq!(l.count, n);
        // An even subset of 0..n has its median near n/2.
        assert!((l.p50_ns / n as f64 - 0.5).abs() < 0.01, "{l:?}");
    }
}

#[cfg(test)]
mod tests;
