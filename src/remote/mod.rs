//! What crosses a process boundary when a case runs in other processes: the wire format, the
//! shared region, how work is cut into tasks, and the two halves a workload writes to run
//! elsewhere.
//!
//! A leaf module: it knows no workload, strategy, runner or backend, so that both sides of the
//! boundary (a backend's harness in parlab, a workload's share in a worker) can depend on it
//! without depending on each other.
//! - [`Share`] is the worker half: built in each worker process from a [`JobSpec`] by
//!   `Workload::share`, it computes tasks (or answers messages) of the job.
//! - [`Coordinator`] is the harness half of one case's output: it drives one run over
//!   [`Workers`] (which a backend implements: the process pool today) and gathers the replies
//!   into the output it then verifies.

use std::ops::Range;

mod shm;
pub mod wire;

pub use shm::SharedMem;
pub use wire::{as_bytes, copy_into, JobSpec, Plain, SharedSpec};

/// Tasks per worker when no `chunk` is given. Each task costs a round trip, so tasks are big
/// (`multiprocessing.Pool.map` makes 4 per worker), but not so few that uneven ones
/// (mandelbrot's rows) leave a worker idle: with two tasks queued per worker the round trips
/// overlap the work, and 16 per worker balance to within a few percent.
pub const TASKS_PER_WORKER: usize = 16;

/// How `0..items` is cut into numbered tasks: `tasks` ranges of (nearly) equal length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub items: usize,
    pub tasks: usize,
}

impl Split {
    /// How `workers` workers cut `items` into tasks: `chunk` items per task when the scenario
    /// sets one, else [`TASKS_PER_WORKER`] per worker. The plan asks it too, to size the largest
    /// reply a task sends back before anything runs.
    pub fn new(items: usize, workers: usize, chunk: Option<usize>) -> Split {
        let tasks = match chunk {
            Some(chunk) => items.div_ceil(chunk.max(1)),
            None => TASKS_PER_WORKER.saturating_mul(workers),
        };
        Split { items, tasks: tasks.clamp(1, items.clamp(1, u32::MAX as usize)) }
    }

    pub fn range(&self, task: usize) -> Range<usize> {
        let per = self.largest();
        (task * per).min(self.items)..((task + 1) * per).min(self.items)
    }

    /// Items in the largest task (the first).
    pub fn largest(&self) -> usize {
        self.items.div_ceil(self.tasks)
    }
}

/// Why a run over workers did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    /// The case's cancellation flag was set (timeout, Ctrl-C).
    #[error("the case was cancelled")]
    Cancelled,
    /// A worker died, failed or broke the protocol, or the harness could not do its part; the
    /// text says which worker and why.
    #[error("{0}")]
    Failed(String),
}

/// What [`Workers::run`] calls with each task's reply: `(task, range, payload)`.
pub type OnReply<'a> = dyn FnMut(usize, Range<usize>, &[u8]) -> Result<(), String> + 'a;

/// The workers a [`Coordinator`] drives, as a backend provides them: they have prepared the
/// case's job, and under shared memory they map the region the backend made for it.
pub trait Workers {
    /// How a run over `items` is cut into tasks.
    fn split(&self, items: usize) -> Split;
    /// Runs the job over `0..items` as [`Workers::split`] cuts it and hands each task's reply
    /// to `on_reply` as it arrives; where results are in the shared region it is not called.
    /// An `Err` from `on_reply` ends the run as a protocol failure of that worker.
    fn run(&mut self, items: usize, on_reply: &mut OnReply<'_>) -> Result<(), RemoteError>;
    /// One round trip of message `seq` to the first worker and back: `bytes` out and its answer
    /// to `on_answer`, or, with a shared region, both in the region (`bytes` empty).
    fn exchange(
        &mut self,
        seq: usize,
        bytes: &[u8],
        on_answer: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), RemoteError>;
    /// The region shared with the workers, when results travel through shared memory.
    fn shared(&self) -> Option<&SharedMem>;
    /// The region, writable between runs (no worker touches it then).
    fn shared_mut(&mut self) -> Option<&mut SharedMem>;
}

/// The harness half of one case's output when the case's work is done by [`Workers`]: made by
/// `Instance::coordinator` from the input prepared in parlab, one per output (a fresh one for
/// the final check).
pub trait Coordinator {
    /// Bytes of the region to share with the workers when results travel through shared
    /// memory (`workers` says how runs are split); 0 for none.
    fn shared_bytes(&self, workers: &dyn Workers) -> usize;
    /// Fills a freshly made region before any run: inputs, and sentinels in the output so that
    /// a result no worker wrote is caught.
    fn init_shared(&mut self, _region: &mut SharedMem) {}
    /// One run of the case over `workers`, gathering the results into this output.
    fn run(&mut self, workers: &mut dyn Workers) -> Result<(), RemoteError>;
    /// Checks the last run's output (here, or in `shared`) against the sequential reference:
    /// `Ok` with what matched, or `Err` with what differed.
    fn verify(&self, shared: Option<&SharedMem>) -> Result<String, String>;
    /// The instruction set the workers chose for the kernel.
    fn isa(&self) -> Option<&'static str> {
        None
    }
}

/// The worker half of a workload's remote version, built in each worker process by
/// `Workload::share` from the job's description. A workload that splits work implements
/// `task`; one that converses (`ping_pong`) implements `message`.
pub trait Share {
    /// Computes task `task`, covering items `range` of the job. Without a shared region it
    /// appends the result's bytes to `reply`; with one (`shared` is given) it writes the result
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

    /// Answers message `seq` ([`Workers::exchange`]): `bytes`, with the answer appended to
    /// `reply`; with a shared region `bytes` is empty and both message and answer are in it.
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
