//! The runner: walks the matrix of cases, measures each in isolation, and reports events.
//!
//! Each case runs on its own thread, so the runner can give up on it: a panic marks the case
//! `panicked`, a case past its timeout is cancelled (executors stop handing out tasks) and
//! abandoned as `timed_out`, Ctrl-C marks it `interrupted`; in every case the run goes on or
//! ends with everything measured so far written. Inputs are prepared once per workload and size,
//! outside the timed region; each timed sample is exactly one `Kernel::run`.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, RecvTimeoutError, Sender};

pub mod clock;
pub mod listener;
mod panics;
mod rss;

pub use clock::{Clock, RealClock, ScriptedClock};
pub use listener::{Listener, Listeners};
pub use panics::{case_error, describe as panic_description};

use crate::machine::Machine;
use crate::results::{now_rfc3339, CaseResult, Results, Status, Throughput};
use crate::scenario::{CaseSpec, Plan, Settings, WorkloadPlan};
use crate::stats::{self, Summary};
use crate::strategy::{self, Exec, ExecConfig, Strategy};
use crate::workload::{self, Instance, Verification};

/// How a run is timed and stopped.
pub struct RunOptions {
    pub clock: Arc<dyn Clock>,
    /// Set (by a Ctrl-C handler) to stop after marking the current case `interrupted`.
    pub interrupt: Arc<AtomicBool>,
    /// Run only these case ids (as `--dry-run` numbers them); `None` runs every case.
    pub only: Option<Vec<usize>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { clock: Arc::new(RealClock), interrupt: Arc::new(AtomicBool::new(false)), only: None }
    }
}

/// Runs every case of `plan` and returns the results (also given to `listener` as they come).
pub fn run(plan: &Plan, machine: &Machine, listener: &mut dyn Listener, options: &RunOptions) -> Results {
    panics::install();
    let mut cases = plan.cases();
    if let Some(only) = &options.only {
        cases.retain(|c| only.contains(&c.id));
    }
    let mut results = Results::new(machine.clone(), plan.clone());
    listener.run_started(plan, machine, &cases);

    let mut prepared: Option<(PreparedKey, Prepared)> = None;
    let mut baselines: HashMap<(usize, u64), f64> = HashMap::new();
    let mut interrupted = false;
    for spec in &cases {
        if options.interrupt.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        listener.case_started(spec);
        let wp = &plan.workloads[spec.workload_index];
        let w = workload::find(&wp.kind).expect("the plan names only known workloads");
        let s = strategy::find(&spec.strategy).expect("the plan names only known strategies");
        let key = (spec.workload_index, spec.effective_size);
        let mut result = if let Err(reason) = s.availability() {
            CaseResult::unmeasured(spec, &wp.params, Status::Unavailable, reason)
        } else if let Err(reason) = w.support(s) {
            CaseResult::unmeasured(spec, &wp.params, Status::Unsupported, reason)
        } else {
            if prepared.as_ref().map(|p| p.0) != Some(key) {
                // Free the previous input before building the next: sizes can be most of memory.
                drop(prepared.take());
                let made = catch_unwind(AssertUnwindSafe(|| {
                    w.prepare(spec.effective_size, &wp.params, wp.settings.seed)
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
                    let case = Case { spec, plan: wp, strategy: s, config, instance: instance.clone() };
                    case.measure(options, listener)
                }
            }
        };
        if result.status == Status::Interrupted {
            interrupted = true;
        }
        result.derive_speedup(baselines.get(&key).copied());
        if s.is_sequential() && result.status == Status::Ok {
            if let Some(m) = result.median_ns() {
                baselines.insert(key, m);
            }
        }
        listener.case_finished(&result);
        results.cases.push(result);
        if interrupted {
            break;
        }
    }
    results.complete = !interrupted;
    results.finished_at = Some(now_rfc3339());
    listener.run_finished(&results);
    results
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
}

enum Event {
    WarmedUp(u64),
    /// Sampling is over; verification (which may compute a slow reference) has its own timeout.
    Verifying,
    Sample(usize, u64),
    Done(Result<Measured, String>),
}

struct Measured {
    /// Building the executor (pools, worker processes), outside the timed region.
    setup_ns: u64,
    warmup_runs: u64,
    samples: Vec<u64>,
    verification: Verification,
    /// Process-wide resident-set high-water mark during the case (see `rss`).
    peak_rss_bytes: Option<u64>,
    /// The instruction set the kernel reported for its runs.
    isa: Option<&'static str>,
}

/// How often the case thread's progress is checked while it runs.
const POLL: Duration = Duration::from_millis(20);

impl Case<'_> {
    fn measure(self, options: &RunOptions, listener: &mut dyn Listener) -> CaseResult {
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
            move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    sample(&spec, instance.as_ref(), strategy, &config, &settings, clock.as_ref(), &tx)
                }));
                let event = match outcome {
                    Ok(measured) => measured,
                    Err(payload) => {
                        if panics::take_case_error() {
                            Err(panics::payload_text(payload.as_ref()))
                        } else {
                            Err(format!("{PANICKED}{}", panics::payload_text(payload.as_ref())))
                        }
                    }
                };
                let _ = tx.send(Event::Done(event));
            }
        };
        if let Err(e) = std::thread::Builder::new().name(format!("parlab-case-{}", spec.id)).spawn(body) {
            panics::end_case();
            return CaseResult::unmeasured(
                &spec,
                &params,
                Status::Error,
                format!("could not start the case thread: {e}"),
            );
        }
        let (mut deadline, mut verifying) = (started + settings.timeout, false);
        let outcome: Result<Measured, (Status, String)> = loop {
            match rx.recv_timeout(POLL) {
                Ok(Event::WarmedUp(runs)) => listener.warmed_up(&spec, runs),
                Ok(Event::Verifying) => {
                    verifying = true;
                    deadline = Instant::now() + settings.timeout;
                }
                Ok(Event::Sample(n, ns)) => listener.sample(&spec, n, settings.max_samples, ns),
                Ok(Event::Done(Ok(m))) => break Ok(m),
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
                break Err((
                    Status::TimedOut,
                    format!(
                        "{what} did not finish within the case timeout of {}",
                        humantime::format_duration(settings.timeout)
                    ),
                ));
            }
        };
        panics::end_case();
        let wall = started.elapsed().as_secs_f64();
        let mut result = match outcome {
            Err((status, reason)) => CaseResult::unmeasured(&spec, &params, status, reason),
            Ok(m) => self.finish(&spec, m),
        };
        result.wall_time_s = wall;
        result
    }

    fn finish(&self, spec: &CaseSpec, m: Measured) -> CaseResult {
        let w = workload::find(&spec.workload).expect("known workload");
        let mut result = CaseResult::unmeasured(spec, &self.plan.params, Status::Ok, "");
        result.reason = None;
        let xs: Vec<f64> = m.samples.iter().map(|&ns| ns as f64).collect();
        let summary = Summary::from_samples(&xs);
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
        result.setup_ns = Some(m.setup_ns);
        result.peak_rss_bytes = m.peak_rss_bytes;
        result.isa = m.isa.map(str::to_string);
        result.latency_ns = match (&result.stats, w.latency_ops(spec.effective_size, &self.plan.params)) {
            (Some(s), Some(ops)) if ops > 0.0 => Some(s.median / ops),
            _ => None,
        };
        result.verification = Some(m.verification);
        result
    }
}

const PANICKED: &str = "\u{0}panicked";

/// The case thread's work: warm up, sample until the CI is tight enough or a limit is hit,
/// then verify the last output.
fn sample(
    spec: &CaseSpec,
    instance: &dyn Instance,
    strategy: &'static dyn Strategy,
    config: &ExecConfig,
    settings: &Settings,
    clock: &dyn Clock,
    events: &Sender<Event>,
) -> Result<Measured, String> {
    let rss_tracked = rss::reset_peak();
    let setup = Instant::now();
    let exec =
        Exec::new(strategy, config).map_err(|e| format!("could not set up `{}`: {e}", strategy.name()))?;
    let setup_ns = setup.elapsed().as_nanos() as u64;
    let mut kernel = instance.kernel();
    let warmup_ns = settings.warmup.as_nanos() as u64;
    let wall = Instant::now();
    let (mut warm_ns, mut warm_runs) = (0u64, 0u64);
    // At least one run: it touches the output's pages and proves the kernel terminates.
    loop {
        warm_ns += clock.measure(spec, usize::MAX, &mut || kernel.run(&exec));
        warm_runs += 1;
        if warm_ns >= warmup_ns || wall.elapsed() >= settings.warmup || exec.is_cancelled() {
            break;
        }
    }
    let _ = events.send(Event::WarmedUp(warm_runs));
    let max_time = settings.max_time.as_nanos() as u64;
    let mut samples = Vec::with_capacity(settings.max_samples);
    let mut as_f64 = Vec::with_capacity(settings.max_samples);
    let mut total = 0u64;
    while !exec.is_cancelled() {
        let ns = clock.measure(spec, samples.len(), &mut || kernel.run(&exec));
        samples.push(ns);
        as_f64.push(ns as f64);
        total = total.saturating_add(ns);
        let n = samples.len();
        let _ = events.send(Event::Sample(n, ns));
        if n >= settings.max_samples {
            break;
        }
        if n >= settings.min_samples {
            if total >= max_time {
                break;
            }
            // The bootstrap costs O(n) per resample: check less often as n grows.
            let every = (n / 20).max(1);
            if n % every == 0 && stats::quick_relative_ci(&as_f64, n as u64) <= settings.target_ci {
                break;
            }
        }
    }
    let peak_rss_bytes = if rss_tracked { rss::peak_bytes() } else { None };
    let _ = events.send(Event::Verifying);
    let last = kernel.verify();
    let isa = kernel.isa();
    drop(kernel);
    let verification = if !last.passed || exec.is_cancelled() {
        last
    } else {
        // A fresh output (filled with values no kernel produces) and one more untimed run: a
        // kernel that skips part of its work cannot pass on what earlier runs left behind.
        let mut fresh = instance.kernel();
        fresh.run(&exec);
        match fresh.verify() {
            v if v.passed => last,
            v => Verification::fail(format!("a fresh run failed where the last sample passed: {}", v.detail)),
        }
    };
    Ok(Measured { setup_ns, warmup_runs: warm_runs, samples, verification, peak_rss_bytes, isa })
}

#[cfg(test)]
mod tests;
