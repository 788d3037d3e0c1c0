//! Strategies: the ways of spreading one workload's work over workers.
//!
//! A strategy is a unit struct in [`STRATEGIES`] (the order `parlab list` shows) that builds an
//! [`Executor`] for a case. Data-parallel kernels are written once against [`Exec`], whose helpers
//! split the work into tasks and hand them to the executor, so the same kernel code runs
//! sequentially and in parallel (rayon-demo's `Joiner` idea). Strategies whose meaning is about
//! sharing state rather than splitting work are matched on by the workloads that support them.
//!
//! Adding a strategy is one file implementing [`Strategy`] plus one line in [`STRATEGIES`].

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

mod async_current;
mod async_tokio;
mod atomic;
mod barrier;
mod channels;
mod condvar_queue;
pub mod cuda;
mod local_merge;
pub mod mpi;
mod mutex;
pub mod opencl;
pub mod process;
mod rayon_pool;
mod rwlock;
mod semaphore;
mod sequential;
mod std_mpsc;
#[cfg(any(test, feature = "fault-injection"))]
pub mod testing;
mod threads;
mod threads_dynamic;
mod worker_threads;

pub use channels::Channels;
pub use rayon_pool::Rayon;
pub use sequential::Sequential;
pub use threads::Threads;
pub use threads_dynamic::ThreadsDynamic;

pub use async_current::AsyncCurrentThread;
pub use async_tokio::{AsyncMultiThread, Runtimes};
pub use atomic::AtomicShared;
pub use barrier::{PhaseBarrier, PhaseBarriers};
pub use condvar_queue::{CloseOnDrop, CondvarQueue, WaitQueue};
pub use local_merge::LocalMerge;
pub use mutex::MutexShared;
pub use process::{Process, ProcessShm};
pub use rwlock::RwLockShared;
pub use semaphore::{BoundedConcurrency, Cancelled, Semaphore};
pub use std_mpsc::StdMpsc;

/// Every strategy parlab knows, in the order `parlab list` shows them.
pub static STRATEGIES: &[&dyn Strategy] = &[
    &Sequential,
    &Threads,
    &ThreadsDynamic,
    &Rayon,
    &Channels,
    &MutexShared,
    &RwLockShared,
    &AtomicShared,
    &LocalMerge,
    &CondvarQueue,
    &BoundedConcurrency,
    &PhaseBarriers,
    &StdMpsc,
    &AsyncMultiThread,
    &AsyncCurrentThread,
    &Process,
    &ProcessShm,
    &mpi::Mpi,
    &mpi::MpiNonblocking,
    &opencl::OpenCl,
    &opencl::OpenClTiled,
    &opencl::OpenClF32,
    &cuda::Cuda,
    &cuda::CudaTiled,
];

/// Strategies that exist only to test the harness (they run on the test backends); never listed.
#[cfg(any(test, feature = "fault-injection"))]
pub static TESTING: &[&dyn Strategy] = &[&testing::TestPhases, &testing::TestOrphan];
#[cfg(not(any(test, feature = "fault-injection")))]
pub static TESTING: &[&dyn Strategy] = &[];

/// Looks a strategy up by name, including test-only ones where compiled in.
pub fn find(name: &str) -> Option<&'static dyn Strategy> {
    STRATEGIES.iter().chain(TESTING).copied().find(|s| s.name() == name)
}

/// What one slot of a task queue costs (a task number and the queue's own word per slot), for
/// [`Strategy::executor_memory_bytes`] of the queues that allocate their slots up front.
pub const QUEUE_SLOT_BYTES: u64 = 16;
/// What one more thread costs the machine at worst: its stack's touched pages, thread-local
/// storage and the kernel's task and stack (its 2 MiB stack is reserved, not resident).
pub const THREAD_BYTES: u64 = 64 << 10;

/// Tunables a scenario may set for a strategy (`[strategy.NAME]`), already validated.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StrategyParams {
    /// Items per task for strategies that hand out tasks; `None` takes the workload's grain.
    pub chunk: Option<usize>,
    /// Capacity of bounded queues; `None` takes twice the worker count.
    pub capacity: Option<usize>,
}

/// What one case asks of a strategy.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    pub workers: usize,
    pub params: StrategyParams,
    /// Set when the case is abandoned (timeout, Ctrl-C): executors stop handing out tasks.
    pub cancel: Arc<AtomicBool>,
}

/// Why a strategy cannot run a case: the machine or build lacks it, its executor could not be
/// built, or it has no executor because its cases run on a backend of their own. The texts are
/// the sentences users see in reports and `parlab list`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// [`Strategy::availability`]: this machine or build cannot run the strategy at all.
    #[error("{0}")]
    Unavailable(String),
    /// Building the executor failed (a pool, a runtime), or the case asked for what none can run.
    #[error("{0}")]
    Setup(String),
    /// The strategy's cases run on `backend`, never through an executor here; `why` says where.
    #[error("{why}")]
    NoExecutor { strategy: &'static str, backend: &'static str, why: String },
}

/// What kind of recipe a strategy is. Data-parallel strategies run any kernel written against
/// [`Exec`]; the others mean something only to workloads that implement them (a `mutex` needs
/// shared state to protect), so a workload must opt in to them in [`crate::workload::Workload::support`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Splits independent work over workers: sequential, threads, rayon, channels.
    DataParallel,
    /// Workers update shared state: mutex, rwlock, atomic, local-merge.
    SharedState,
    /// Workers exchange messages or synchronize: queues, semaphores, barriers.
    Synchronization,
    /// Worker processes of parlab's own binary.
    Process,
    /// MPI ranks started by an MPI launcher, combining their blocks with collectives.
    Mpi,
    /// Futures on an async runtime.
    Async,
    /// A device (OpenCL) runs the whole case: no worker count, so no efficiency.
    Device,
}

impl Family {
    pub fn describe(self) -> &'static str {
        match self {
            Family::DataParallel => "data-parallel",
            Family::SharedState => "shared-state",
            Family::Synchronization => "synchronization",
            Family::Process => "multi-process",
            Family::Mpi => "MPI",
            Family::Async => "async",
            Family::Device => "device",
        }
    }

    /// Whether the strategy's workers are processes (worker processes, MPI ranks), not threads
    /// of this one: the plan counts them against the process limits, and they have no executor.
    pub fn is_processes(self) -> bool {
        matches!(self, Family::Process | Family::Mpi)
    }

    /// Whether the strategy runs closures on an executor here; the others run their cases on a
    /// backend of their own (processes, ranks, a device).
    pub fn has_executor(self) -> bool {
        !self.is_processes() && self != Family::Device
    }
}

/// One way of running parallel work: a registry entry.
pub trait Strategy: Sync + 'static {
    fn name(&self) -> &'static str;
    /// One line for `parlab list` and reports.
    fn summary(&self) -> &'static str;
    /// `Err(reason)` when this machine or build cannot run the strategy at all.
    fn availability(&self) -> Result<(), StrategyError> {
        Ok(())
    }
    fn family(&self) -> Family {
        Family::DataParallel
    }
    /// Strategies that always use exactly one worker (the sequential reference).
    fn is_sequential(&self) -> bool {
        false
    }
    /// Which tunables of [`StrategyParams`] this strategy reads.
    fn tunables(&self) -> &'static [&'static str] {
        &[]
    }
    /// Threads the executor runs at once for a case of `workers` workers: the workers
    /// themselves, unless a tunable sets the concurrency (`semaphore`'s `capacity`, a thread per
    /// permit). The plan checks it against the thread limits, so no tunable gets past them.
    fn threads(&self, workers: usize, _params: &StrategyParams) -> usize {
        workers
    }
    /// Bytes the executor itself holds at worst for a case of `workers` workers with `params`:
    /// queues allocated up front, threads a tunable adds. Never a term per task: an executor
    /// whose memory grew with the task count could be made to exhaust any machine by a size,
    /// so executors bound what they hand out at once instead (see `async` and `channels`).
    fn executor_memory_bytes(&self, _workers: usize, _params: &StrategyParams) -> u64 {
        0
    }
    /// The backend that runs this strategy's cases, by name (see `crate::backend`): threads of
    /// parlab's own process unless the strategy runs elsewhere (worker processes, ranks).
    fn backend(&self) -> &'static str {
        "in-process"
    }
    /// Builds the executor for one case; runs outside the timed region (pools are made here).
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError>;
}

impl std::fmt::Debug for dyn Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs numbered tasks over workers in one strategy's style.
///
/// # Safety
/// Implementations must call `task(i)` exactly once for every `i` in `0..tasks` (unless
/// cancelled, in which case some may be skipped, never repeated), and must return only after
/// every call has finished: [`Exec`] hands each task a disjoint `&mut` slice on that promise.
pub unsafe trait Executor: Send {
    fn workers(&self) -> usize;
    /// How many tasks `items` items are split into, given the workload's preferred `grain`.
    fn task_count(&self, items: usize, grain: usize) -> usize;
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync));
    /// The tokio runtimes of the async strategies, for workloads with an async version.
    fn runtimes(&self) -> Option<&Runtimes> {
        None
    }
}

/// The executor of one case, with the helpers kernels are written against.
pub struct Exec {
    strategy: &'static dyn Strategy,
    inner: Box<dyn Executor>,
    chunk: Option<usize>,
    cancel: Arc<AtomicBool>,
}

impl Exec {
    pub fn new(strategy: &'static dyn Strategy, config: &ExecConfig) -> Result<Exec, StrategyError> {
        if config.workers == 0 {
            return Err(StrategyError::Setup("a case needs at least one worker".into()));
        }
        Ok(Exec {
            strategy,
            inner: strategy.executor(config)?,
            chunk: config.params.chunk,
            cancel: config.cancel.clone(),
        })
    }

    pub fn strategy(&self) -> &'static dyn Strategy {
        self.strategy
    }

    pub fn workers(&self) -> usize {
        self.inner.workers()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The case's cancellation flag, for blocking primitives that must give up when it is set.
    pub fn cancel_flag(&self) -> &Arc<AtomicBool> {
        &self.cancel
    }

    /// The tokio runtimes when the strategy is async (`async`, `async-current-thread`).
    pub fn runtimes(&self) -> Option<&Runtimes> {
        self.inner.runtimes()
    }

    fn grain(&self, default: usize) -> usize {
        self.chunk.unwrap_or(default).max(1)
    }

    /// Runs `task(i)` for `i` in `0..tasks` in this strategy's style. Once the case is
    /// cancelled, remaining tasks are skipped whatever the executor, so an abandoned case stops
    /// burning cores at the next task boundary.
    pub fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let cancel = &self.cancel;
        self.inner.run_tasks(tasks, &|i| {
            if !cancel.load(Ordering::Relaxed) {
                task(i)
            }
        })
    }

    /// Splits `0..items` into ranges of about `grain` items (or one per worker for static
    /// strategies) and calls `body` on each, in pieces of at most [`GRAINS_PER_CHECK`] grains
    /// with a look at the cancellation flag between pieces.
    pub fn for_each_range(&self, items: usize, grain: usize, body: impl Fn(Range<usize>) + Sync) {
        let grain = self.grain(grain);
        let tasks = self.inner.task_count(items, grain).clamp(1, items.max(1));
        let per = items.div_ceil(tasks);
        let cancel = &self.cancel;
        self.run_tasks(tasks, &|i| {
            let start = (i * per).min(items);
            for piece in pieces(start..((i + 1) * per).min(items), grain) {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                body(piece);
            }
        });
    }

    /// Splits `data`, seen as rows of `row_len` elements, into disjoint blocks of whole rows and
    /// calls `body(first_row, rows)` on each block (in pieces, as [`Exec::for_each_range`]).
    pub fn for_each_rows_mut<T: Send>(
        &self,
        data: &mut [T],
        row_len: usize,
        grain_rows: usize,
        body: impl Fn(usize, &mut [T]) + Sync,
    ) {
        assert!(row_len > 0 && data.len().is_multiple_of(row_len), "data must hold whole rows");
        let rows = data.len() / row_len;
        let grain = self.grain(grain_rows);
        let tasks = self.inner.task_count(rows, grain).clamp(1, rows.max(1));
        let per = rows.div_ceil(tasks);
        let base = SendPtr(data.as_mut_ptr());
        let cancel = &self.cancel;
        self.run_tasks(tasks, &|i| {
            let first = (i * per).min(rows);
            let last = ((i + 1) * per).min(rows);
            for piece in pieces(first..last, grain) {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                // SAFETY: the `Executor` contract runs each task index at most once, and task `i`
                // owns rows `first..last` (its pieces are disjoint parts of them), which no other
                // index touches; `run_tasks` returns only after every task is done, so the borrow
                // of `data` outlives all of them.
                let block = unsafe {
                    std::slice::from_raw_parts_mut(base.at(piece.start * row_len), piece.len() * row_len)
                };
                body(piece.start, block);
            }
        });
    }

    /// Maps each range of `0..items` to a value and folds the values in range order, so a
    /// reduction is deterministic for a given split. Each task maps its range in pieces (see
    /// [`Exec::for_each_range`]) and folds them with `reduce` before the tasks are folded.
    pub fn map_reduce<R: Send>(
        &self,
        items: usize,
        grain: usize,
        map: impl Fn(Range<usize>) -> R + Sync,
        identity: R,
        reduce: impl Fn(R, R) -> R + Sync,
    ) -> R {
        let grain = self.grain(grain);
        let tasks = self.inner.task_count(items, grain).clamp(1, items.max(1));
        let per = items.div_ceil(tasks);
        let slots: Vec<Mutex<Option<R>>> = (0..tasks).map(|_| Mutex::new(None)).collect();
        let cancel = &self.cancel;
        self.run_tasks(tasks, &|i| {
            let start = (i * per).min(items);
            let mut value: Option<R> = None;
            for piece in pieces(start..((i + 1) * per).min(items), grain) {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let v = map(piece);
                value = Some(match value {
                    Some(acc) => reduce(acc, v),
                    None => v,
                });
            }
            *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = value;
        });
        slots
            .into_iter()
            .filter_map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
            .fold(identity, &reduce)
    }
}

/// Grains of work a task does between two looks at the cancellation flag. It bounds what a
/// cancelled case still computes, on every path: without it the sequential executor's single
/// task (and each static block) would run to its end however long that takes. One relaxed
/// load per 64 grains costs nothing measurable.
pub const GRAINS_PER_CHECK: usize = 64;

/// `range` cut into consecutive pieces of at most `GRAINS_PER_CHECK * grain` items; an empty
/// range gives one empty piece, so a kernel still sees its (empty) share.
fn pieces(range: Range<usize>, grain: usize) -> impl Iterator<Item = Range<usize>> {
    let step = grain.max(1).saturating_mul(GRAINS_PER_CHECK);
    let (start, end) = (range.start, range.end.max(range.start));
    let count = (end - start).div_ceil(step).max(1);
    (0..count).map(move |k| {
        let a = start + k * step;
        a..(a.saturating_add(step)).min(end)
    })
}

struct SendPtr<T>(*mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: only used to hand disjoint blocks to tasks, see `for_each_rows_mut`.
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    fn at(self, offset: usize) -> *mut T {
        // SAFETY: callers stay within the slice the pointer came from.
        unsafe { self.0.add(offset) }
    }
}

/// Splits `0..tasks` into `workers` contiguous blocks; block `w` of the static strategies.
pub(crate) fn static_block(tasks: usize, workers: usize, w: usize) -> Range<usize> {
    let per = tasks / workers;
    let extra = tasks % workers;
    let start = w * per + w.min(extra);
    start..start + per + usize::from(w < extra)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn exec(strategy: &'static dyn Strategy, workers: usize) -> Exec {
        let config = ExecConfig {
            workers,
            params: StrategyParams { chunk: Some(3), capacity: Some(1) },
            cancel: Arc::new(AtomicBool::new(false)),
        };
        Exec::new(strategy, &config).expect("executor")
    }

    #[test]
    fn every_strategy_runs_each_task_exactly_once() {
        for strategy in STRATEGIES {
            if !strategy.family().has_executor() {
                continue; // no executor: processes, ranks and devices run on backends of their own
            }
            for workers in [1, 2, 3] {
                let exec = exec(*strategy, workers);
                for tasks in [0, 1, 2, 7, 64] {
                    let hits: Vec<_> = (0..tasks).map(|_| std::sync::atomic::AtomicUsize::new(0)).collect();
                    exec.run_tasks(tasks, &|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                    for (i, h) in hits.iter().enumerate() {
                        assert_eq!(
                            h.load(Ordering::Relaxed),
                            1,
                            "{} w={workers} task {i}/{tasks}",
                            strategy.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn helpers_cover_all_items_once() {
        for strategy in STRATEGIES {
            if !strategy.family().has_executor() {
                continue;
            }
            let exec = exec(*strategy, 2);
            let mut data = vec![0u32; 7 * 5];
            exec.for_each_rows_mut(&mut data, 5, 2, |first, rows| {
                for (r, row) in rows.chunks_mut(5).enumerate() {
                    row.iter_mut().for_each(|x| *x += (first + r) as u32 + 1);
                }
            });
            let want: Vec<u32> = (0..7).flat_map(|r| [r + 1; 5]).collect();
            assert_eq!(data, want, "{}", strategy.name());
            let sum = exec.map_reduce(1000, 10, |r| r.sum::<usize>(), 0, |a, b| a + b);
            assert_eq!(sum, 999 * 1000 / 2, "{}", strategy.name());
            let empty = exec.map_reduce(0, 10, |r| r.len(), 0, |a, b| a + b);
            assert_eq!(empty, 0);
        }
    }

    #[test]
    fn executors_stop_dispatching_once_cancelled() {
        // As many tasks as a trillion items of one grain make, cancelled after 50 ms: walking
        // the rest as no-ops would take hours (two channel operations each under `channels`, a
        // blocking-pool hand-off under `async`, a nanosecond under `rayon`), keeping an
        // abandoned case alive past its grace period.
        for strategy in STRATEGIES {
            if !strategy.family().has_executor() {
                continue;
            }
            let name = strategy.name();
            let exec = exec(*strategy, 2);
            let tasks = exec.inner.task_count(1 << 40, 1);
            let flag = exec.cancel_flag().clone();
            let canceller = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                flag.store(true, Ordering::Relaxed);
            });
            let start = std::time::Instant::now();
            exec.run_tasks(tasks, &|_| {});
            canceller.join().unwrap();
            assert!(start.elapsed().as_secs() < 10, "{name} dispatched for {:?}", start.elapsed());
        }
    }

    #[test]
    fn cancellation_reaches_every_path_within_one_piece() {
        // A kernel that cancels its own case on its first piece: every helper on every
        // executor, the sequential one included, must stop within one piece per task instead
        // of running its whole range (the timed-out-case contamination bug).
        for strategy in STRATEGIES {
            if !strategy.family().has_executor() {
                continue;
            }
            let exec = exec(*strategy, 2);
            let items = 1_000_000usize;
            let grain = 10;
            let limit = exec.inner.task_count(items, 3).max(1) * GRAINS_PER_CHECK * 3;
            let done = std::sync::atomic::AtomicUsize::new(0);
            let flag = exec.cancel_flag().clone();
            exec.for_each_range(items, grain, |r| {
                done.fetch_add(r.len(), Ordering::Relaxed);
                flag.store(true, Ordering::Relaxed);
            });
            let ran = done.load(Ordering::Relaxed);
            assert!(
                ran <= limit,
                "{}: for_each_range ran {ran} of {items} items after cancelling",
                strategy.name()
            );

            let exec = super::tests::exec(*strategy, 2);
            let flag = exec.cancel_flag().clone();
            let done = std::sync::atomic::AtomicUsize::new(0);
            exec.map_reduce(
                items,
                grain,
                |r| {
                    done.fetch_add(r.len(), Ordering::Relaxed);
                    flag.store(true, Ordering::Relaxed);
                    r.len()
                },
                0,
                |a, b| a + b,
            );
            let ran = done.load(Ordering::Relaxed);
            assert!(
                ran <= limit,
                "{}: map_reduce ran {ran} of {items} items after cancelling",
                strategy.name()
            );

            let exec = super::tests::exec(*strategy, 2);
            let flag = exec.cancel_flag().clone();
            let mut rows = vec![0u8; items];
            exec.for_each_rows_mut(&mut rows, 1, grain, |_, block| {
                block.fill(1);
                flag.store(true, Ordering::Relaxed);
            });
            let ran = rows.iter().filter(|&&x| x == 1).count();
            assert!(
                ran <= limit,
                "{}: for_each_rows_mut ran {ran} of {items} rows after cancelling",
                strategy.name()
            );
        }
    }

    #[test]
    fn pieces_cover_a_range_once_in_order() {
        for (start, end, grain) in
            [(0, 0, 1), (5, 5, 3), (0, 1, 1), (3, 1000, 1), (0, 64 * 7 + 3, 7), (10, 10 + 64 * 2, 1)]
        {
            let got: Vec<_> = pieces(start..end, grain).collect();
            assert!(!got.is_empty());
            assert_eq!(got[0].start, start);
            assert_eq!(got.last().unwrap().end, end.max(start));
            for w in got.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert!(w[0].len() <= GRAINS_PER_CHECK * grain.max(1));
            }
        }
    }

    #[test]
    fn static_blocks_partition() {
        for tasks in 0..20 {
            for workers in 1..5 {
                let blocks: Vec<_> = (0..workers).map(|w| static_block(tasks, workers, w)).collect();
                assert_eq!(blocks[0].start, 0);
                assert_eq!(blocks[workers - 1].end, tasks);
                for pair in blocks.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                    assert!(pair[0].len() >= pair[1].len());
                }
            }
        }
    }

    #[test]
    fn strategy_errors_keep_their_texts() {
        let config = ExecConfig { workers: 0, params: StrategyParams::default(), cancel: Default::default() };
        let e = Exec::new(&Sequential, &config).err().expect("no workers");
        assert_eq!(e, StrategyError::Setup("a case needs at least one worker".into()));
        assert_eq!(e.to_string(), "a case needs at least one worker");

        let config = ExecConfig { workers: 1, ..config };
        let e = Process.executor(&config).err().expect("process has no executor");
        assert!(
            matches!(e, StrategyError::NoExecutor { strategy: "process", backend: "process", .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "`process` runs on its backend `process` (worker processes), not through an executor: \
             closures cannot cross a process boundary"
        );
        assert_eq!(StrategyError::Unavailable("no parlab binary".into()).to_string(), "no parlab binary");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = STRATEGIES.iter().map(|s| s.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), STRATEGIES.len());
    }
}
