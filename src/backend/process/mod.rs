//! Backends `process` and `process-shm`: the cookbook's process pool, with worker processes of
//! parlab's own binary (`parlab worker`, a hidden subcommand).
//!
//! The pool is started when the case starts, outside the timed region, and kept warm across
//! samples; its start-up time (spawn until every worker has said hello) is the session's
//! set-up time. A closure cannot cross a process boundary, so these backends run only the
//! workloads that implement a remote version: the worker half [`crate::remote::Share`] (built by
//! `Workload::share` in each worker) and the harness half [`Coordinator`] (from
//! `Instance::coordinator`); for the others the workload reports `unsupported`.
//!
//! What crosses the boundary, and what it costs, is the lesson:
//! - a job's description (workload, parameters, size, seed) is sent once; each worker re-creates
//!   the deterministic input itself, as a forked worker would inherit it;
//! - then each task is a small control message (task number and item range) over the worker's
//!   stdin, and its result comes back over its stdout in a compact binary frame
//!   ([`crate::remote::wire`]): under `process` the result itself (a count, or rows of pixels
//!   copied through the pipe), under `process-shm` nothing but "done", because the workers write
//!   their results straight into a region parlab shares with them ([`SharedMem`]), and read their
//!   input from it.
//!
//! Workers are watched ([`Pool`]): one that dies ends the case as `error` with its exit status,
//! nothing is waited for without a bound, and every worker is killed and reaped when its pool is
//! dropped (and by the kernel, via `PR_SET_PDEATHSIG`, if parlab itself is killed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::{Backend, BackendError, CaseJob, Sample, Session};
use crate::clock::Clock;
use crate::remote::{Coordinator, JobSpec, OnReply, RemoteError, SharedMem, Split, Workers};
use crate::results::Placement;
use crate::scenario::CaseSpec;
use crate::subprocess::worker_exe;
use crate::workload::{Instance, Verification};

mod pool;
pub mod worker;

pub use pool::{Pool, PoolError};

/// Set in each worker to parlab's pid, so it can tell whether parlab died before it started.
pub(crate) const PARENT_ENV: &str = "PARLAB_WORKER_PARENT";

/// `process`: results copied back over pipes.
pub struct Process;
/// `process-shm`: input and output in a shared region, only control messages on the pipes.
pub struct ProcessShm;

impl Backend for Process {
    fn name(&self) -> &'static str {
        "process"
    }
    fn summary(&self) -> &'static str {
        "a warm pool of `parlab worker` processes; results copied back over pipes in binary frames"
    }
    fn availability(&self) -> Result<(), BackendError> {
        worker_exe().map(drop).map_err(BackendError::Unavailable)
    }
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        PoolSession::start(job, false).map(|s| Box::new(s) as Box<dyn Session + 'a>)
    }
}

impl Backend for ProcessShm {
    fn name(&self) -> &'static str {
        "process-shm"
    }
    fn summary(&self) -> &'static str {
        "the same pool; input and output in shared memory, only control messages on the pipes"
    }
    fn availability(&self) -> Result<(), BackendError> {
        worker_exe().map(drop).map_err(BackendError::Unavailable)
    }
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        PoolSession::start(job, true).map(|s| Box::new(s) as Box<dyn Session + 'a>)
    }
}

/// The pool as the [`Workers`] a coordinator drives: the job every worker prepares, and under
/// `process-shm` the region of the current output.
struct PoolWorkers {
    pool: Pool,
    job: JobSpec,
    region: Option<SharedMem>,
}

impl Workers for PoolWorkers {
    fn split(&self, items: usize) -> Split {
        self.pool.split(items)
    }

    fn run(&mut self, items: usize, on_reply: &mut OnReply<'_>) -> Result<(), RemoteError> {
        let outcome = if self.pool.shared() {
            self.pool.run(&self.job, items, &mut |_, _, payload| match payload {
                [] => Ok(()),
                _ => Err("sent a result through the pipe under `process-shm`".into()),
            })
        } else {
            self.pool.run(&self.job, items, on_reply)
        };
        outcome.map_err(remote_error)
    }

    fn exchange(
        &mut self,
        seq: usize,
        bytes: &[u8],
        on_answer: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), RemoteError> {
        self.pool.exchange(&self.job, seq as u32, bytes, on_answer).map_err(remote_error)
    }

    fn shared(&self) -> Option<&SharedMem> {
        self.region.as_ref()
    }

    fn shared_mut(&mut self) -> Option<&mut SharedMem> {
        self.region.as_mut()
    }
}

fn remote_error(e: PoolError) -> RemoteError {
    match e {
        PoolError::Cancelled => RemoteError::Cancelled,
        // The pool's own text names the worker, its pid and its exit status.
        e => RemoteError::Failed(e.to_string()),
    }
}

fn backend_error(e: RemoteError) -> BackendError {
    match e {
        RemoteError::Cancelled => BackendError::Cancelled,
        RemoteError::Failed(why) => BackendError::Failed(why),
    }
}

/// One case on a warm pool.
struct PoolSession<'a> {
    /// Made from `instance`. `None` only inside
    /// `verify`, between dropping the last output and making the fresh one.
    coordinator: Option<Box<dyn Coordinator + 'a>>,
    workers: PoolWorkers,
    spec: &'a CaseSpec,
    clock: Arc<dyn Clock>,
    cancel: Arc<AtomicBool>,
    setup_ns: u64,
    instance: &'a dyn Instance,
}

impl<'a> PoolSession<'a> {
    fn start(job: CaseJob<'a>, shared: bool) -> Result<PoolSession<'a>, BackendError> {
        let name = job.strategy.name();
        let setup = |why: String| BackendError::Setup { what: name.to_string(), why };
        if job.config.workers == 0 {
            return Err(setup("a case needs at least one worker".into()));
        }
        let exe = worker_exe().map_err(BackendError::Unavailable)?;
        let instance = job.instance;
        let coordinator = instance.coordinator().ok_or_else(|| {
            setup(format!("`{}` has no harness half for worker processes", job.spec.workload))
        })?;
        let started = Instant::now();
        let (var, value) = (job.marker.0, job.marker.1.as_str());
        let pool = Pool::start(
            &exe,
            job.config.workers,
            shared,
            job.config.params.chunk,
            job.config.cancel.clone(),
            &[(var, value)],
        )
        .map_err(|e| setup(e.to_string()))?;
        let setup_ns = started.elapsed().as_nanos() as u64;
        let job_spec = JobSpec {
            workload: job.spec.workload.clone(),
            params: job.params.clone(),
            size: job.spec.effective_size,
            seed: job.seed,
            shared: None,
        };
        let mut session = PoolSession {
            coordinator: Some(coordinator),
            workers: PoolWorkers { pool, job: job_spec, region: None },
            spec: job.spec,
            clock: job.clock,
            cancel: job.config.cancel,
            setup_ns,
            instance: job.instance,
        };
        session.share_region()?;
        Ok(session)
    }

    /// Under `process-shm`, a fresh region for the current coordinator, filled by it; the job
    /// names the region, so the workers map it before their next task.
    fn share_region(&mut self) -> Result<(), BackendError> {
        if !self.workers.pool.shared() {
            return Ok(());
        }
        // The previous output's region goes first: sizes can be most of memory.
        self.workers.region = None;
        self.workers.job.shared = None;
        let coordinator = self.coordinator.as_mut().expect("a coordinator outside `verify`");
        let bytes = coordinator.shared_bytes(&self.workers);
        let mut region = SharedMem::create(bytes).map_err(|e| {
            BackendError::Failed(format!("cannot create a shared region of {bytes} bytes: {e}"))
        })?;
        coordinator.init_shared(&mut region);
        self.workers.job.shared = Some(region.spec().clone());
        self.workers.region = Some(region);
        Ok(())
    }
}

impl Session for PoolSession<'_> {
    fn setup_ns(&self) -> u64 {
        self.setup_ns
    }

    fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError> {
        let coordinator = self.coordinator.as_mut().expect("a coordinator outside `verify`");
        let workers = &mut self.workers;
        let mut outcome = Ok(());
        // Timed here, as the runner times a kernel: the harness's view of each run, pipes and
        // all.
        let ns = self.clock.measure(self.spec, index, &mut || {
            for _ in 0..runs {
                outcome = coordinator.run(workers);
                if outcome.is_err() {
                    break;
                }
            }
        });
        outcome.map_err(backend_error)?;
        Ok(Sample { ns, ..Sample::default() })
    }

    fn verify(&mut self) -> Result<Verification, BackendError> {
        let coordinator = self.coordinator.as_ref().expect("a coordinator outside `verify`");
        let last = verification(coordinator.verify(self.workers.shared()));
        if !last.passed || self.cancel.load(Ordering::SeqCst) {
            return Ok(last);
        }
        // A fresh output (and region, filled with sentinels) and one more untimed run: a version
        // that skips part of its work cannot pass on what earlier runs left behind. The last
        // output goes first: outputs can be most of memory, and the plan counted one.
        self.coordinator = None;
        let instance = self.instance;
        self.coordinator = Some(instance.coordinator().ok_or_else(|| {
            BackendError::Failed("the input made no harness half for the final check".into())
        })?);
        self.share_region()?;
        let fresh = self.coordinator.as_mut().expect("just made");
        fresh.run(&mut self.workers).map_err(backend_error)?;
        Ok(match verification(fresh.verify(self.workers.shared())) {
            v if v.passed => last,
            v => Verification::fail(format!("a fresh run failed where the last sample passed: {}", v.detail)),
        })
    }

    fn isa(&self) -> Option<&str> {
        self.coordinator.as_ref().and_then(|c| c.isa())
    }

    fn placement(&self) -> Vec<Placement> {
        let host = crate::machine::hostname();
        (self.workers.pool.pids().into_iter().enumerate())
            .map(|(k, pid)| Placement {
                role: format!("worker {}", k + 1),
                host: host.clone(),
                pid: Some(pid),
                cpus: None,
            })
            .collect()
    }
}

fn verification(checked: Result<String, String>) -> Verification {
    match checked {
        Ok(detail) => Verification::pass(detail),
        Err(detail) => Verification::fail(detail),
    }
}

#[cfg(test)]
mod tests;
