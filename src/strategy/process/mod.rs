//! `process` and `process-shm`: the cookbook's process pool, with worker processes of parlab's own
//! binary (`parlab worker`, a hidden subcommand).
//!
//! The pool is started when the case's executor is built, outside the timed region, and kept
//! warm across samples; its start-up time (spawn until every worker has said hello) is recorded
//! apart from the kernel's. A closure cannot cross a process boundary, so these strategies run
//! only the workloads that implement a process version ([`crate::workload::Workload::serve`] and a
//! kernel that asks [`crate::strategy::Exec::processes`] for the pool); for the others the
//! workload reports `unsupported`.
//!
//! What crosses the boundary, and what it costs, is the lesson:
//! - a job's description (workload, parameters, size, seed) is sent once; each worker re-creates
//!   the deterministic input itself, as a forked worker would inherit it;
//! - then each task is a small control message (task number and item range) over the worker's
//!   stdin, and its result comes back over its stdout in a compact binary frame ([`wire`]):
//!   under `process` the result itself (a count, or rows of pixels copied through the pipe),
//!   under `process-shm` nothing but "done", because the workers write their results straight
//!   into a region parlab shares with them ([`SharedMem`]), and read their input from it.
//!
//! Workers are watched ([`Pool`]): one that dies ends the case as `error` with its exit status,
//! nothing is waited for without a bound, and every worker is killed and reaped when its pool is
//! dropped (and by the kernel, via `PR_SET_PDEATHSIG`, if parlab itself is killed).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{ExecConfig, Executor, Family, Strategy};
use crate::workload::Params;

mod pool;
mod shm;
pub mod wire;
pub mod worker;

pub use pool::{OnReply, Pool, PoolError, Split};
pub use shm::SharedMem;
pub use wire::{as_bytes, copy_into, JobSpec, Plain, SharedSpec};

/// Names the parlab binary to start workers from, where it cannot be found otherwise.
pub const EXE_ENV: &str = "PARLAB_EXE";
/// Set in each worker to parlab's pid, so it can tell whether parlab died before it started.
pub(crate) const PARENT_ENV: &str = "PARLAB_WORKER_PARENT";

pub struct Process;
pub struct ProcessShm;

impl Strategy for Process {
    fn name(&self) -> &'static str {
        "process"
    }
    fn summary(&self) -> &'static str {
        "a warm pool of worker processes; results copied back over pipes in binary frames"
    }
    fn family(&self) -> Family {
        Family::Process
    }
    fn availability(&self) -> Result<(), String> {
        worker_exe().map(drop)
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk"]
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, String> {
        start(config, false)
    }
}

impl Strategy for ProcessShm {
    fn name(&self) -> &'static str {
        "process-shm"
    }
    fn summary(&self) -> &'static str {
        "the same pool; input and output in shared memory, only control messages on the pipes"
    }
    fn family(&self) -> Family {
        Family::Process
    }
    fn availability(&self) -> Result<(), String> {
        worker_exe().map(drop)
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk"]
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, String> {
        start(config, true)
    }
}

fn start(config: &ExecConfig, shared: bool) -> Result<Box<dyn Executor>, String> {
    let exe = worker_exe()?;
    let pool = Pool::start(&exe, config.workers, shared, config.params.chunk, config.cancel.clone())
        .map_err(|e| e.to_string())?;
    Ok(Box::new(Workers(pool)))
}

/// The parlab binary workers are started from: this executable when it is parlab, else
/// `$PARLAB_EXE`, else a `parlab` beside this executable or one folder up (where cargo puts the
/// binary relative to a test or bench executable in `target/<profile>/deps`).
pub fn worker_exe() -> Result<PathBuf, String> {
    static EXE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    EXE.get_or_init(find_worker_exe).clone()
}

fn find_worker_exe() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot tell which executable this is: {e}"))?;
    if me.file_stem().is_some_and(|s| s == "parlab") {
        return Ok(me);
    }
    if let Some(path) = std::env::var_os(EXE_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{EXE_ENV}={} is not a file", path.display()))
        };
    }
    let name = format!("parlab{}", std::env::consts::EXE_SUFFIX);
    let dir = me.parent().unwrap_or(Path::new("."));
    let found = [Some(dir), dir.parent()].into_iter().flatten().map(|d| d.join(&name)).find(|p| p.is_file());
    found.ok_or_else(|| {
        format!(
            "no parlab binary to start worker processes from (this executable is `{}`); \
                 build it (`cargo build`) or set {EXE_ENV}",
            me.display()
        )
    })
}

/// The pool as an [`Executor`]: kernels reach it through [`crate::strategy::Exec::processes`].
struct Workers(Pool);

// SAFETY: `run_tasks` never runs a task: it panics before touching any, so no slice handed out
// by `Exec` is ever aliased.
unsafe impl Executor for Workers {
    fn workers(&self) -> usize {
        self.0.workers()
    }
    fn task_count(&self, items: usize, _grain: usize) -> usize {
        self.0.split(items).tasks
    }
    fn run_tasks(&self, _tasks: usize, _task: &(dyn Fn(usize) + Sync)) {
        // A closure cannot be sent to another process; running it here would fake the strategy.
        panic!("process strategies run only kernels with a process version, not closures");
    }
    fn processes(&self) -> Option<&Pool> {
        Some(&self.0)
    }
}

/// The worker-process half of a workload's process version, built by
/// [`crate::workload::Workload::serve`] in each worker from the job's description. A workload
/// that splits work implements `task`; one that converses (`ping_pong`) implements `message`.
pub trait Serve {
    /// Computes task `task`, covering items `range` of the job. Under `process` it appends the
    /// result's bytes to `reply`; under `process-shm` (`shared` is given) it writes the result
    /// into the region and appends nothing.
    fn task(
        &mut self,
        _task: usize,
        _range: Range<usize>,
        _shared: Option<&mut SharedMem>,
        _reply: &mut Vec<u8>,
    ) -> Result<(), String> {
        Err("this job takes messages, not tasks".into())
    }

    /// Answers message `seq` ([`Pool::exchange`]): `bytes` under `process`, with the answer
    /// appended to `reply`; under `process-shm` `bytes` is empty and both message and answer
    /// are in the region.
    fn message(
        &mut self,
        _seq: usize,
        _bytes: &[u8],
        _shared: Option<&mut SharedMem>,
        _reply: &mut Vec<u8>,
    ) -> Result<(), String> {
        Err("this job takes tasks, not messages".into())
    }
}

/// A kernel's side of a process job: what it sends the workers and, under `process-shm`, the
/// region it shares with them. Made on the kernel's first run (the untimed warm-up).
pub struct Remote {
    spec: JobSpec,
    shared: Option<SharedMem>,
}

impl Remote {
    /// Describes the job; under `process-shm` also creates a region of `shared_bytes` and lets
    /// `init` fill it (inputs, and sentinels in the output so an unwritten result is caught).
    pub fn new(
        pool: &Pool,
        workload: &str,
        params: &Params,
        size: u64,
        seed: u64,
        shared_bytes: usize,
        init: impl FnOnce(&mut SharedMem),
    ) -> Remote {
        let shared = pool.shared().then(|| {
            let mut region = SharedMem::create(shared_bytes).unwrap_or_else(|e| {
                fail(format!("cannot create a shared region of {shared_bytes} bytes: {e}"))
            });
            init(&mut region);
            region
        });
        let spec = JobSpec {
            workload: workload.to_string(),
            params: params.clone(),
            size,
            seed,
            shared: shared.as_ref().map(|s| s.spec().clone()),
        };
        Remote { spec, shared }
    }

    /// Runs the job over `items` on the pool (see [`Pool::run`]); a failure ends the case as
    /// `error` with the reason (which worker, and its exit status if it died). `on_reply` gets
    /// each task's result under `process`; under `process-shm` the results are in the region
    /// and it is not called.
    #[track_caller]
    pub fn run(
        &mut self,
        pool: &Pool,
        items: usize,
        mut on_reply: impl FnMut(usize, Range<usize>, &[u8]) -> Result<(), String>,
    ) {
        assert_eq!(
            pool.shared(),
            self.shared.is_some(),
            "a kernel's job was made for the other process strategy"
        );
        let outcome = if pool.shared() {
            pool.run(&self.spec, items, &mut |_, _, payload| match payload {
                [] => Ok(()),
                _ => Err("sent a result through the pipe under `process-shm`".into()),
            })
        } else {
            pool.run(&self.spec, items, &mut on_reply)
        };
        if let Err(e) = outcome {
            fail(e.to_string());
        }
    }

    /// One round trip of message `seq` to worker 1 and back (see [`Pool::exchange`]); a
    /// failure ends the case as `error`, as in [`Remote::run`].
    #[track_caller]
    pub fn exchange(
        &mut self,
        pool: &Pool,
        seq: usize,
        bytes: &[u8],
        mut on_answer: impl FnMut(&[u8]) -> Result<(), String>,
    ) {
        if let Err(e) = pool.exchange(&self.spec, seq as u32, bytes, &mut on_answer) {
            fail(e.to_string());
        }
    }

    /// The shared region, under `process-shm`.
    pub fn shared(&self) -> Option<&SharedMem> {
        self.shared.as_ref()
    }

    /// The shared region, writable between runs (no worker touches it then).
    pub fn shared_mut(&mut self) -> Option<&mut SharedMem> {
        self.shared.as_mut()
    }
}

/// Ends the case as `error` (not `panicked`): the process machinery failed, not the kernel.
#[track_caller]
pub fn fail(reason: String) -> ! {
    crate::runner::case_error(reason)
}

#[cfg(test)]
mod tests;
