//! `threads-dynamic`: std scoped threads that take the next chunk from a shared atomic counter
//! (dynamic scheduling, OpenMP's `schedule(dynamic, chunk)`). Balances irregular work at the
//! price of one atomic increment per chunk.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{ExecConfig, Executor, Strategy, StrategyError};

pub struct ThreadsDynamic;

impl Strategy for ThreadsDynamic {
    fn name(&self) -> &'static str {
        "threads-dynamic"
    }
    fn summary(&self) -> &'static str {
        "std scoped threads pulling chunks from a shared atomic counter"
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk"]
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(Box::new(Dynamic { workers: config.workers, cancel: config.cancel.clone() }))
    }
}

struct Dynamic {
    workers: usize,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

// SAFETY: `fetch_add` hands out each index once; the scope joins every thread before returning.
unsafe impl Executor for Dynamic {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let next = AtomicUsize::new(0);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= tasks || self.cancel.load(Ordering::Relaxed) {
                break;
            }
            task(i);
        };
        std::thread::scope(|scope| {
            for _ in 1..self.workers.min(tasks.max(1)) {
                scope.spawn(work);
            }
            work();
        });
    }
}
