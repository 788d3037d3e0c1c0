//! `std-mpsc`: message passing with the standard library's channels. `std::sync::mpsc` has one
//! receiver per channel, so the executor gives each worker thread its own bounded
//! `sync_channel` and the dispatcher deals task numbers round-robin: there is no stealing, and
//! a slow task holds up the ones queued behind it. Capacity 0 is a rendezvous. Each channel
//! allocates its `capacity` slots when it is made, so the plan counts `workers x capacity` of
//! them in the case's memory.
//!
//! Workloads use the channels directly (`ping_pong`, `producer_consumer`, where consumers
//! share one receiver behind a mutex, the usual workaround, and part of what is measured).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use super::{ExecConfig, Executor, Family, Strategy, StrategyError, StrategyParams, QUEUE_SLOT_BYTES};

pub struct StdMpsc;

impl Strategy for StdMpsc {
    fn name(&self) -> &'static str {
        "std-mpsc"
    }
    fn summary(&self) -> &'static str {
        "std::sync::mpsc: one bounded channel per worker thread, tasks dealt round-robin"
    }
    fn family(&self) -> Family {
        Family::Synchronization
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk", "capacity"]
    }
    fn executor_memory_bytes(&self, workers: usize, params: &StrategyParams) -> u64 {
        // A bounded std channel allocates every slot when it is made: one per worker.
        (workers.max(1) as u64).saturating_mul(capacity(params) as u64).saturating_mul(QUEUE_SLOT_BYTES)
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        let capacity = capacity(&config.params);
        Ok(Box::new(RoundRobin { workers: config.workers.max(1), capacity, cancel: config.cancel.clone() }))
    }
}

/// Each worker's channel capacity: the tunable, else 2.
fn capacity(params: &StrategyParams) -> usize {
    params.capacity.unwrap_or(2)
}

struct RoundRobin {
    workers: usize,
    capacity: usize,
    cancel: Arc<AtomicBool>,
}

// SAFETY: each index is sent once, to one worker, which runs it once; the scope joins every
// worker (their channels close when the dispatcher drops the senders) before returning.
unsafe impl Executor for RoundRobin {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|scope| {
            let senders: Vec<mpsc::SyncSender<usize>> = (0..self.workers)
                .map(|_| {
                    let (tx, rx) = mpsc::sync_channel::<usize>(self.capacity);
                    scope.spawn(move || rx.iter().for_each(task));
                    tx
                })
                .collect();
            for i in 0..tasks {
                // A send fails only when that worker died (panicked); the scope re-raises it.
                if self.cancel.load(Ordering::Relaxed) || senders[i % self.workers].send(i).is_err() {
                    break;
                }
            }
        });
    }
}
