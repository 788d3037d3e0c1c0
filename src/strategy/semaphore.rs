//! `semaphore`: the cookbook's bounded-concurrency recipe. A counting [`Semaphore`] (written on
//! `Mutex` + `Condvar`) holds `capacity` permits, the worker count unless the scenario sets
//! `[strategy.semaphore] capacity`; the executor starts one thread per task once it holds a
//! permit, so at most that many tasks run at once. Thread-per-task is the point: it is what
//! async is measured against on `async_fanout`, where a high permit count lets thousands of
//! waits overlap at the price of a thread each. The permits are threads, so the plan holds them
//! to `limits::MAX_THREADS` and counts each thread's memory (see [`Strategy::threads`]).
//!
//! Workloads use the semaphore directly too: `producer_consumer` builds the classic bounded
//! buffer from two of them (free slots, filled slots) around a locked deque.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::condvar_queue::CANCEL_POLL;
use super::{ExecConfig, Executor, Family, Strategy, StrategyError, StrategyParams, THREAD_BYTES};

pub struct BoundedConcurrency;

impl Strategy for BoundedConcurrency {
    fn name(&self) -> &'static str {
        "semaphore"
    }
    fn summary(&self) -> &'static str {
        "a thread per task, at most `capacity` (default: the worker count) at once"
    }
    fn family(&self) -> Family {
        Family::Synchronization
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk", "capacity"]
    }
    fn threads(&self, workers: usize, params: &StrategyParams) -> usize {
        // A thread per permit, and the workers the workloads size their roles by.
        workers.max(params.capacity.unwrap_or(workers))
    }
    fn executor_memory_bytes(&self, workers: usize, params: &StrategyParams) -> u64 {
        (self.threads(workers, params) as u64).saturating_mul(THREAD_BYTES)
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        let permits = config.params.capacity.unwrap_or(config.workers).max(1);
        Ok(Box::new(ThreadPerTask { workers: config.workers.max(1), permits, cancel: config.cancel.clone() }))
    }
}

/// A counting semaphore. `wait` (P) takes a permit, `post` (V) returns one; both may happen on
/// different threads, as in a bounded buffer. [`Semaphore::acquire`] pairs them in a guard.
pub struct Semaphore {
    permits: Mutex<usize>,
    available: Condvar,
    cancel: Arc<AtomicBool>,
}

/// The case was cancelled while waiting.
#[derive(Debug, PartialEq, Eq)]
pub struct Cancelled;

impl Semaphore {
    pub fn new(permits: usize, cancel: Arc<AtomicBool>) -> Self {
        Semaphore { permits: Mutex::new(permits), available: Condvar::new(), cancel }
    }

    /// Takes a permit, waiting while there is none; gives up when the case is cancelled.
    pub fn wait(&self) -> Result<(), Cancelled> {
        let mut permits = self.permits.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Cancelled);
            }
            if *permits > 0 {
                *permits -= 1;
                return Ok(());
            }
            permits = self.available.wait_timeout(permits, CANCEL_POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Returns a permit and wakes one waiter.
    pub fn post(&self) {
        *self.permits.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.available.notify_one();
    }

    /// Takes a permit that is returned when the guard drops (a panic included).
    pub fn acquire(&self) -> Result<Permit<'_>, Cancelled> {
        self.wait().map(|()| Permit(self))
    }
}

pub struct Permit<'a>(&'a Semaphore);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.post();
    }
}

struct ThreadPerTask {
    /// The case's worker count, which workloads size their roles by; the permits may differ.
    workers: usize,
    permits: usize,
    cancel: Arc<AtomicBool>,
}

// SAFETY: the dispatcher starts one thread per index, in order, each index once; the scope
// joins every thread before `run_tasks` returns.
unsafe impl Executor for ThreadPerTask {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let gate = Semaphore::new(self.permits, self.cancel.clone());
        std::thread::scope(|scope| {
            for i in 0..tasks {
                let Ok(permit) = gate.acquire() else { break };
                scope.spawn(move || {
                    let _permit = permit;
                    task(i);
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn never_more_than_the_permits_at_once() {
        let cancel = Arc::new(AtomicBool::new(false));
        let exec = ThreadPerTask { workers: 1, permits: 3, cancel };
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        exec.run_tasks(40, &|_| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
            now.fetch_sub(1, Ordering::SeqCst);
        });
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=3).contains(&peak), "peak concurrency {peak}");
    }

    #[test]
    fn a_wait_with_no_permit_ends_on_cancel() {
        let cancel = Arc::new(AtomicBool::new(false));
        let sem = Semaphore::new(0, cancel.clone());
        std::thread::scope(|s| {
            let waiter = s.spawn(|| sem.wait());
            cancel.store(true, Ordering::Relaxed);
            assert_eq!(waiter.join().unwrap(), Err(Cancelled));
        });
    }
}
