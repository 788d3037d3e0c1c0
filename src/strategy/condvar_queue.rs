//! `condvar-queue`: the cookbook's condition recipe, by hand. [`WaitQueue`] is a `VecDeque`
//! behind a `Mutex` with two `Condvar`s (not empty, not full); producers wait for room,
//! consumers wait for items. As an executor, a dispatcher pushes task numbers into it and a pool
//! of worker threads pops them, like `channels` but with std's primitives only.
//!
//! Capacity 0 is allowed on purpose and never completes a push: it is the textbook bounded
//! buffer deadlock, which the case timeout must catch. Every wait wakes up regularly to check
//! the case's cancellation flag, so abandoned threads end instead of sleeping forever.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{ExecConfig, Executor, Family, Strategy, StrategyError, StrategyParams, QUEUE_SLOT_BYTES};

pub struct CondvarQueue;

impl Strategy for CondvarQueue {
    fn name(&self) -> &'static str {
        "condvar-queue"
    }
    fn summary(&self) -> &'static str {
        "a hand-rolled Mutex + Condvar bounded queue feeding worker threads"
    }
    fn family(&self) -> Family {
        Family::Synchronization
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk", "capacity"]
    }
    fn executor_memory_bytes(&self, workers: usize, params: &StrategyParams) -> u64 {
        // The deque grows to the capacity (in doublings, so up to twice its slots).
        (params.capacity.unwrap_or(2 * workers) as u64).saturating_mul(QUEUE_SLOT_BYTES)
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        let capacity = config.params.capacity.unwrap_or(2 * config.workers);
        Ok(Box::new(QueuePool { workers: config.workers.max(1), capacity, cancel: config.cancel.clone() }))
    }
}

/// How often a blocked wait wakes up to look at the cancellation flag. Wake-ups that find
/// nothing to do cost a few microseconds each, never on the hot path (notifications come first).
pub(crate) const CANCEL_POLL: Duration = Duration::from_millis(20);

/// A blocking FIFO queue on `Mutex` + `Condvar`: bounded (`Some(capacity)`) or unbounded.
pub struct WaitQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: Option<usize>,
    cancel: Arc<AtomicBool>,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> WaitQueue<T> {
    /// `cancel` is the case's flag: once set, blocked and future calls give up.
    pub fn new(capacity: Option<usize>, cancel: Arc<AtomicBool>) -> Self {
        WaitQueue {
            state: Mutex::new(State { items: VecDeque::new(), closed: false }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
            cancel,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panicking peer cannot leave the deque half-updated: keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Waits for room, then appends. Gives the item back if the queue is closed or the case
    /// is cancelled first.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut state = self.lock();
        loop {
            if state.closed || self.cancelled() {
                return Err(item);
            }
            if !matches!(self.capacity, Some(c) if state.items.len() >= c) {
                break;
            }
            state = self.not_full.wait_timeout(state, CANCEL_POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
        state.items.push_back(item);
        drop(state);
        self.not_empty.notify_one();
        Ok(())
    }

    /// Waits for an item. `None` once the queue is closed and drained, or the case is cancelled.
    pub fn pop(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            if self.cancelled() {
                return None;
            }
            if let Some(item) = state.items.pop_front() {
                drop(state);
                self.not_full.notify_one();
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state = self.not_empty.wait_timeout(state, CANCEL_POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// No more pushes: blocked producers give up, consumers drain what is left.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }
}

/// Closes the queue when dropped, so a panicking producer or consumer never strands its peers.
pub struct CloseOnDrop<'a, T>(pub &'a WaitQueue<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

struct QueuePool {
    workers: usize,
    capacity: usize,
    cancel: Arc<AtomicBool>,
}

// SAFETY: each index is pushed once and popped by exactly one worker; the scope joins all
// workers before `run_tasks` returns.
unsafe impl Executor for QueuePool {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let queue = WaitQueue::new(Some(self.capacity), self.cancel.clone());
        std::thread::scope(|scope| {
            // Closed however the dispatcher leaves (a worker panic ends the pushes early).
            let _close = CloseOnDrop(&queue);
            for _ in 0..self.workers {
                let queue = &queue;
                scope.spawn(move || {
                    let _close = CloseOnDrop(queue);
                    while let Some(i) = queue.pop() {
                        task(i);
                    }
                });
            }
            for i in 0..tasks {
                if queue.push(i).is_err() {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_zero_blocks_until_cancelled() {
        let cancel = Arc::new(AtomicBool::new(false));
        let queue = WaitQueue::new(Some(0), cancel.clone());
        std::thread::scope(|s| {
            let pusher = s.spawn(|| queue.push(1));
            std::thread::sleep(Duration::from_millis(30));
            assert!(!pusher.is_finished(), "a push into capacity 0 must wait");
            cancel.store(true, Ordering::Relaxed);
            assert_eq!(pusher.join().unwrap(), Err(1));
        });
    }

    #[test]
    fn fifo_close_and_drain() {
        let queue = WaitQueue::new(None, Arc::new(AtomicBool::new(false)));
        (0..5).for_each(|i| queue.push(i).unwrap());
        queue.close();
        assert_eq!(queue.push(9), Err(9));
        let got: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
    }
}
