//! `threads`: std scoped threads, each given one contiguous block of the work (static
//! scheduling). Cheap to reason about; suffers when rows cost different amounts.

use super::{static_block, ExecConfig, Executor, Strategy, StrategyError};

pub struct Threads;

impl Strategy for Threads {
    fn name(&self) -> &'static str {
        "threads"
    }
    fn summary(&self) -> &'static str {
        "std scoped threads spawned per run, one static block each"
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(Box::new(StaticThreads { workers: config.workers }))
    }
}

struct StaticThreads {
    workers: usize,
}

// SAFETY: the static blocks partition `0..tasks`; the scope joins every thread before returning.
unsafe impl Executor for StaticThreads {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, _items: usize, _grain: usize) -> usize {
        self.workers
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|scope| {
            // The calling thread takes block 0 itself: one spawn fewer per run.
            for w in 1..self.workers {
                let block = static_block(tasks, self.workers, w);
                if !block.is_empty() {
                    scope.spawn(move || block.for_each(task));
                }
            }
            static_block(tasks, self.workers, 0).for_each(task);
        });
    }
}
