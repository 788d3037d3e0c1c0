//! `async`: tokio's multi-threaded runtime with the case's worker count as its worker threads,
//! built once per case (outside the timed region) and kept across samples.
//!
//! Async workloads (`async_fanout`, `producer_consumer`, `ping_pong`) run their own futures on
//! the runtime through [`Exec::runtimes`](super::Exec::runtimes) and [`Runtimes::block_on_each`].
//! For data-parallel kernels the executor hands each task to `spawn_blocking`, with the blocking
//! pool capped at the worker count: CPU-bound work must not sit on the async worker threads,
//! where it would stall every other future. That is the honest way to run CPU work from async
//! code, and what it costs (a hand-off to another thread per task) is part of the measurement.
//! At most [`IN_FLIGHT_PER_WORKER`] tasks per worker are handed over at once (a `JoinSet`,
//! topped up as each finishes, in completion order): the blocking pool always has work queued,
//! and the memory the hand-offs hold does not grow with the task count (spawning every task up
//! front held a task cell of a few hundred bytes for each, which a large size turned into GBs).
//!
//! This file also holds what `async-current-thread` shares: [`Runtimes`] and the executor.

use std::any::Any;
use std::future::Future;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tokio::runtime::{Builder, Runtime};
use tokio::task::{JoinError, JoinSet};

use super::{static_block, ExecConfig, Executor, Family, Strategy, StrategyError, StrategyParams};

pub struct AsyncMultiThread;

impl Strategy for AsyncMultiThread {
    fn name(&self) -> &'static str {
        "async"
    }
    fn summary(&self) -> &'static str {
        "tokio multi-threaded runtime (worker threads = workers); CPU work via spawn_blocking"
    }
    fn family(&self) -> Family {
        Family::Async
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk"]
    }
    fn executor_memory_bytes(&self, workers: usize, _params: &StrategyParams) -> u64 {
        (workers.max(1) as u64).saturating_mul((IN_FLIGHT_PER_WORKER as u64) * BLOCKING_TASK_BYTES)
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(Box::new(TokioExecutor::new(Runtimes::multi_thread(config.workers)?, config)))
    }
}

/// Tasks per worker handed to `spawn_blocking` at once: one running and the rest queued, so a
/// blocking thread that finishes finds the next task without waiting for the dispatcher.
const IN_FLIGHT_PER_WORKER: usize = 4;
/// What one task handed to `spawn_blocking` holds until it finishes, at worst: tokio's task cell
/// (a cache-line-aligned header, the closure, a trailer) and its place in the `JoinSet`.
const BLOCKING_TASK_BYTES: u64 = 512;

/// The tokio runtimes of one async case: one multi-threaded runtime (`async`), or one
/// single-threaded event loop per worker (`async-current-thread`).
pub struct Runtimes {
    loops: Vec<Runtime>,
    multi_thread: bool,
    threads_started: Arc<AtomicUsize>,
}

impl Runtimes {
    pub(crate) fn multi_thread(workers: usize) -> Result<Runtimes, StrategyError> {
        let workers = workers.max(1);
        let started = Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(workers)
            .max_blocking_threads(workers)
            .thread_name("parlab-tokio")
            .on_thread_start(move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })
            .enable_time()
            .build()
            .map_err(|e| StrategyError::Setup(format!("could not build a tokio runtime: {e}")))?;
        Ok(Runtimes { loops: vec![rt], multi_thread: true, threads_started: started })
    }

    pub(crate) fn current_thread(loops: usize) -> Result<Runtimes, StrategyError> {
        let started = Arc::new(AtomicUsize::new(0));
        let loops = (0..loops.max(1))
            .map(|_| {
                let counter = started.clone();
                Builder::new_current_thread()
                    .thread_name("parlab-tokio-blocking")
                    .on_thread_start(move || {
                        counter.fetch_add(1, Ordering::Relaxed);
                    })
                    .enable_time()
                    .build()
                    .map_err(|e| StrategyError::Setup(format!("could not build a tokio event loop: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Runtimes { loops, multi_thread: false, threads_started: started })
    }

    /// `true` for `async`: one runtime whose worker threads share the spawned tasks.
    pub fn is_multi_thread(&self) -> bool {
        self.multi_thread
    }

    /// How many runtimes (event loops) there are: 1 for `async`, the worker count otherwise.
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loops.is_empty()
    }

    /// Threads the async work runs on: those the runtimes have started so far (workers and
    /// blocking pool), plus, for event loops, the threads that drive them. The thread that
    /// calls `block_on` on the multi-threaded runtime only waits, and is not counted.
    pub fn threads(&self) -> usize {
        let drivers = if self.multi_thread { 0 } else { self.loops.len() };
        self.threads_started.load(Ordering::Relaxed) + drivers
    }

    /// Drives `make(i)` to completion on runtime `i`, for every runtime at once (runtime 0 on
    /// the calling thread, the others on scoped threads), and returns the outputs in order.
    /// Inside, `tokio::spawn` puts tasks on that runtime. A panic in any of them is re-raised.
    pub fn block_on_each<T: Send, F: Future<Output = T>>(&self, make: impl Fn(usize) -> F + Sync) -> Vec<T> {
        if self.loops.len() == 1 {
            return vec![self.loops[0].block_on(make(0))];
        }
        std::thread::scope(|scope| {
            let make = &make;
            let others: Vec<_> = self.loops[1..]
                .iter()
                .enumerate()
                .map(|(i, rt)| scope.spawn(move || rt.block_on(make(i + 1))))
                .collect();
            let mut out = vec![self.loops[0].block_on(make(0))];
            for handle in others {
                out.push(handle.join().unwrap_or_else(|p| resume_unwind(p)));
            }
            out
        })
    }
}

pub(crate) struct TokioExecutor {
    runtimes: Runtimes,
    workers: usize,
    cancel: Arc<AtomicBool>,
}

impl TokioExecutor {
    pub(crate) fn new(runtimes: Runtimes, config: &ExecConfig) -> Self {
        TokioExecutor { runtimes, workers: config.workers.max(1), cancel: config.cancel.clone() }
    }
}

/// Counts tasks handed to `spawn_blocking` that have not finished (or been dropped unrun).
struct Pending {
    count: Mutex<usize>,
    zero: Condvar,
}

struct Token(Arc<Pending>);

impl Pending {
    fn token(self: &Arc<Self>) -> Token {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Token(self.clone())
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *count -= 1;
        if *count == 0 {
            self.0.zero.notify_all();
        }
    }
}

/// Blocks, when dropped, until every token is gone: even if `run_tasks` unwinds, no task can
/// outlive the borrow it was given.
struct WaitForAll(Arc<Pending>);

impl Drop for WaitForAll {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count > 0 {
            count = self.0.zero.wait(count).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Keeps the first task panic of a run, to re-raise once every task has finished.
fn keep_first_panic(done: Result<(), JoinError>, panic: &mut Option<Box<dyn Any + Send>>) {
    if let Err(e) = done {
        if e.is_panic() && panic.is_none() {
            *panic = Some(e.into_panic());
        }
    }
}

// SAFETY: multi-threaded: each index is given to `spawn_blocking` once, and `run_tasks` returns
// (or unwinds) only after every one of them has finished or been dropped (`WaitForAll`).
// Event loops: the static blocks partition `0..tasks` and `block_on_each` joins every loop.
unsafe impl Executor for TokioExecutor {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let cancel = &self.cancel;
        if !self.runtimes.multi_thread {
            // A single-threaded event loop has nowhere to send CPU work: it runs inline, and
            // each loop takes one static block.
            let loops = self.runtimes.len();
            self.runtimes.block_on_each(|l| async move {
                for i in static_block(tasks, loops, l) {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    task(i);
                }
            });
            return;
        }
        // SAFETY: `spawn_blocking` wants `'static`; the borrow is kept alive for as long as any
        // task may use it because `_wait` below outlives every task (see `WaitForAll`).
        let task: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(task) };
        let pending = Arc::new(Pending { count: Mutex::new(0), zero: Condvar::new() });
        let _wait = WaitForAll(pending.clone());
        let rt = &self.runtimes.loops[0];
        let window = IN_FLIGHT_PER_WORKER * self.workers;
        rt.block_on(async {
            let mut running = JoinSet::new();
            let mut panic = None;
            for i in 0..tasks {
                // A cancelled case stops handing out tasks (skipping is allowed once
                // cancelled): handing out a billion no-ops would keep it alive past its grace.
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                if running.len() >= window {
                    if let Some(done) = running.join_next().await {
                        keep_first_panic(done, &mut panic);
                    }
                }
                let (token, cancel) = (pending.token(), cancel.clone());
                running.spawn_blocking(move || {
                    let _token = token;
                    if !cancel.load(Ordering::Relaxed) {
                        task(i);
                    }
                });
            }
            while let Some(done) = running.join_next().await {
                keep_first_panic(done, &mut panic);
            }
            if let Some(p) = panic {
                resume_unwind(p);
            }
        });
    }
    fn runtimes(&self) -> Option<&Runtimes> {
        Some(&self.runtimes)
    }
}
