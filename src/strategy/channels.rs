//! `channels`: the cookbook's queue recipe on crossbeam. A dispatcher feeds task numbers into a
//! bounded channel, a pool of worker threads takes them, and each reports completion on a
//! results channel. The capacity is a tunable; the price is two channel operations per task.
//!
//! The dispatcher takes completions as it goes, not after the last task is sent, so the results
//! channel holds at most the tasks in flight (`capacity + workers + 1`): its memory does not
//! grow with the task count, however large a size makes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::channel;

use super::{ExecConfig, Executor, Strategy, StrategyError, StrategyParams, QUEUE_SLOT_BYTES};

pub struct Channels;

impl Strategy for Channels {
    fn name(&self) -> &'static str {
        "channels"
    }
    fn summary(&self) -> &'static str {
        "worker threads fed by a bounded crossbeam channel, results on another"
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk", "capacity"]
    }
    fn executor_memory_bytes(&self, workers: usize, params: &StrategyParams) -> u64 {
        // The task channel's slots, allocated up front, and the completions in flight (a list
        // channel: a slot and a share of its block's header each, counted twice to be safe).
        let capacity = capacity(workers, params) as u64;
        let in_flight = capacity.saturating_add(workers as u64).saturating_add(1);
        capacity.saturating_add(in_flight.saturating_mul(2)).saturating_mul(QUEUE_SLOT_BYTES)
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        let capacity = capacity(config.workers, &config.params);
        Ok(Box::new(Queue { workers: config.workers, capacity, cancel: config.cancel.clone() }))
    }
}

/// The task channel's capacity: the tunable, else twice the workers.
fn capacity(workers: usize, params: &StrategyParams) -> usize {
    params.capacity.unwrap_or(2 * workers)
}

struct Queue {
    workers: usize,
    capacity: usize,
    /// The case's cancellation flag: a cancelled case stops dispatching.
    cancel: Arc<AtomicBool>,
}

// SAFETY: each index is sent once and received by exactly one worker; the scope joins all.
unsafe impl Executor for Queue {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let (task_tx, task_rx) = channel::bounded::<usize>(self.capacity);
        let (done_tx, done_rx) = channel::unbounded::<usize>();
        std::thread::scope(|scope| {
            for _ in 0..self.workers {
                let (task_rx, done_tx) = (task_rx.clone(), done_tx.clone());
                scope.spawn(move || {
                    for i in task_rx {
                        task(i);
                        if done_tx.send(i).is_err() {
                            break;
                        }
                    }
                });
            }
            drop((task_rx, done_tx));
            let mut finished = 0;
            for i in 0..tasks {
                // Skipping the rest is allowed once cancelled, and handing out a billion
                // no-ops would keep an abandoned case alive past its grace period.
                if self.cancel.load(Ordering::Relaxed) {
                    break;
                }
                // Fails only when every worker has died (panicked); the scope re-raises that.
                if task_tx.send(i).is_err() {
                    break;
                }
                // Completions are taken as they come: between two looks at most the tasks in
                // flight can finish, so the results channel never holds more than those.
                finished += done_rx.try_iter().count();
            }
            drop(task_tx);
            // Results come back in completion order; the count tells the dispatcher it is done.
            finished += done_rx.iter().count();
            debug_assert!(finished <= tasks);
        });
    }
}
