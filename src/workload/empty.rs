//! `empty`: tasks that do nothing. With `sequential` it measures the harness's own overhead
//! (the floor under every other number); with the parallel strategies, their fork-join cost.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Instance, Kernel, Params, PrepareError, SizeUnit, Verification, Workload};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct Empty;

impl Workload for Empty {
    fn name(&self) -> &'static str {
        "empty"
    }
    fn summary(&self) -> &'static str {
        "no work: the harness's overhead (sequential) and each strategy's fork-join cost"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "empty tasks", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "tasks/s"
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![1]
    }
    fn memory_bytes(&self, _: u64, _: &Params) -> u64 {
        0
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn prepare(&self, size: u64, _: &Params, _: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(Input { tasks: size as usize }))
    }
}

struct Input {
    tasks: usize,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { tasks: self.tasks, runs: 0, done: AtomicUsize::new(0) })
    }
}

struct Run {
    tasks: usize,
    runs: usize,
    done: AtomicUsize,
}

impl Kernel for Run {
    fn run(&mut self, exec: &Exec) {
        self.runs += 1;
        // One relaxed increment per task: the least work that still proves the task ran.
        exec.run_tasks(self.tasks, &|_| {
            self.done.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn verify(&self) -> Verification {
        let done = self.done.load(Ordering::Relaxed);
        let want = self.runs * self.tasks;
        if self.runs > 0 && done == want {
            Verification::pass(format!("{done} tasks ran over {} runs", self.runs))
        } else {
            Verification::fail(format!("{done} tasks ran, {want} expected over {} runs", self.runs))
        }
    }
}
