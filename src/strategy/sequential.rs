//! `sequential`: one worker, tasks in order. The reference every speedup is measured against.

use super::{ExecConfig, Executor, Strategy, StrategyError};

pub struct Sequential;

impl Strategy for Sequential {
    fn name(&self) -> &'static str {
        "sequential"
    }
    fn summary(&self) -> &'static str {
        "one thread, the baseline for speedups"
    }
    fn is_sequential(&self) -> bool {
        true
    }
    fn executor(&self, _: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(Box::new(InOrder))
    }
}

struct InOrder;

// SAFETY: every index once, in order, on the calling thread.
unsafe impl Executor for InOrder {
    fn workers(&self) -> usize {
        1
    }
    fn task_count(&self, _items: usize, _grain: usize) -> usize {
        // One task: the kernel's inner loop runs uninterrupted, as a plain loop would.
        1
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        (0..tasks).for_each(task);
    }
}
