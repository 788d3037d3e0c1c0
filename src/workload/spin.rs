//! `spin`: a calibrated amount of pure CPU work, for checking the regression gate itself.
//!
//! Each of `size` tasks runs `work_units` units of 1,000 dependent mixing steps, so the time is
//! proportional to `work_units` and nothing else (no memory traffic, no branches that depend on
//! data): `work_units = 1050` is a 5% slowdown of `1000` by construction. The result is a
//! wrapping sum of per-task hashes, exact in any order.

use std::sync::OnceLock;

use super::{
    mix64, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, SizeUnit, Verification, Workload,
};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct Spin;

const STEPS_PER_UNIT: u64 = 1000;

impl Workload for Spin {
    fn name(&self) -> &'static str {
        "spin"
    }
    fn summary(&self) -> &'static str {
        "calibrated CPU spin: time proportional to work_units (for calibrating the regression gate)"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "independent tasks", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "units/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[ParamSpec {
            name: "work_units",
            help: "units of 1000 dependent mixing steps per task",
            default: ParamValue::Int(1000),
            min: 1.0,
            max: 1e9,
            choices: &[],
        }]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![8]
    }
    fn memory_bytes(&self, _: u64, _: &Params) -> u64 {
        0
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &super::CaseShape) -> u64 {
        // One `map_reduce` slot per task, and a task per item (grain 1) for dynamic executors.
        case.max_tasks(size, 1).saturating_mul(super::SLOT_BYTES + 8)
    }
    fn work(&self, size: u64, params: &Params) -> f64 {
        size as f64 * params.int("work_units") as f64
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(Input {
            tasks: size as usize,
            steps: params.int("work_units") as u64 * STEPS_PER_UNIT,
            seed,
            reference: OnceLock::new(),
        }))
    }
}

struct Input {
    tasks: usize,
    steps: u64,
    seed: u64,
    reference: OnceLock<u64>,
}

impl Input {
    /// One task's hash: a dependent chain, so the steps cannot overlap or be skipped.
    fn task(&self, i: usize) -> u64 {
        let mut x = self.seed ^ (i as u64).wrapping_mul(super::GAMMA);
        for _ in 0..self.steps {
            x = mix64(x);
        }
        x
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, sum: None })
    }
}

struct Run<'a> {
    input: &'a Input,
    sum: Option<u64>,
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let input = self.input;
        let sum = exec.map_reduce(
            input.tasks,
            1,
            |r| r.map(|i| input.task(i)).fold(0u64, u64::wrapping_add),
            0,
            u64::wrapping_add,
        );
        self.sum = Some(sum);
    }

    fn verify(&self) -> Verification {
        let want = *self
            .input
            .reference
            .get_or_init(|| (0..self.input.tasks).map(|i| self.input.task(i)).fold(0, u64::wrapping_add));
        match self.sum {
            Some(s) if s == want => Verification::pass(format!("hash sum {s:#x} matches")),
            other => Verification::fail(format!("hash sum {other:?} != {want:#x}")),
        }
    }
}
