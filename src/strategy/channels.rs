//! `channels`: the cookbook's queue recipe on crossbeam. A dispatcher feeds task numbers into a
//! bounded channel, a pool of worker threads takes them, and each reports completion on a
//! results channel. The capacity is a tunable; the price is two channel operations per task.

use crossbeam::channel;

use super::{ExecConfig, Executor, Strategy};

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
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, String> {
        let capacity = config.params.capacity.unwrap_or(2 * config.workers);
        Ok(Box::new(Queue { workers: config.workers, capacity }))
    }
}

struct Queue {
    workers: usize,
    capacity: usize,
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
            for i in 0..tasks {
                // Fails only when every worker has died (panicked); the scope re-raises that.
                if task_tx.send(i).is_err() {
                    break;
                }
            }
            drop(task_tx);
            // Results come back in completion order; the count tells the dispatcher it is done.
            let finished = done_rx.iter().count();
            debug_assert!(finished <= tasks);
        });
    }
}
