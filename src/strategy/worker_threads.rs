//! The executor behind the shared-state strategies and `barrier`: one scoped thread per worker,
//! each given one contiguous block of tasks, with the cancellation flag checked between tasks.
//!
//! It is `threads`' executor, plus the promise the shared-state kernels rely on: a run of
//! exactly `workers` tasks gets one thread per task, all running at once, so a kernel may have
//! its tasks meet at a barrier or share per-worker state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{static_block, ExecConfig, Executor};

pub(crate) struct WorkerThreads {
    workers: usize,
    cancel: Arc<AtomicBool>,
}

impl WorkerThreads {
    pub(crate) fn boxed(config: &ExecConfig) -> Box<dyn Executor> {
        Box::new(WorkerThreads { workers: config.workers.max(1), cancel: config.cancel.clone() })
    }
}

// SAFETY: the static blocks partition `0..tasks`, each block runs on one thread, and the scope
// joins every thread before `run_tasks` returns.
unsafe impl Executor for WorkerThreads {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, _items: usize, _grain: usize) -> usize {
        self.workers
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let block = |w: usize| {
            for i in static_block(tasks, self.workers, w) {
                if self.cancel.load(Ordering::Relaxed) {
                    break;
                }
                task(i);
            }
        };
        std::thread::scope(|scope| {
            for w in 1..self.workers {
                if !static_block(tasks, self.workers, w).is_empty() {
                    scope.spawn(move || block(w));
                }
            }
            // The calling thread is worker 0: one spawn fewer per run.
            block(0);
        });
    }
}
