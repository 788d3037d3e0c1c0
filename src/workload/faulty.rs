//! `faulty`: a test-only workload that misbehaves on purpose, so the harness's isolation is
//! tested: `fault = 1` panics, `2` hangs (until cancelled), `3` returns a wrong answer, `4`
//! busy-loops for `size` milliseconds without ever looking at the cancellation flag (as foreign
//! code would), and `5` fails verification if a thread of another case is alive in this
//! process (the check that a later case never runs beside an abandoned one), and `6` aborts the
//! whole process (a crash no `catch_unwind` can contain: only process isolation survives it).
//! The sequential
//! strategy always behaves, so the baseline exists. Never shipped in `parlab list`.

use std::time::Duration;

use super::{
    Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, SizeUnit, Verification, Workload,
};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct Faulty;

impl Workload for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }
    fn summary(&self) -> &'static str {
        "test-only: panics, hangs or lies on request"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "items", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "items/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[ParamSpec {
            name: "fault",
            help: "0 none, 1 panic, 2 hang, 3 wrong answer, 4 ignore cancellation, 5 check alone, 6 abort the process",
            default: ParamValue::Int(0),
            min: 0.0,
            max: 6.0,
            choices: &[],
        }]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![1000]
    }
    fn memory_bytes(&self, _: u64, _: &Params) -> u64 {
        0
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn prepare(&self, size: u64, params: &Params, _: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(Input { size, fault: params.int("fault") }))
    }
}

struct Input {
    size: u64,
    fault: i64,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, sum: None, others: Vec::new() })
    }
}

struct Run<'a> {
    input: &'a Input,
    sum: Option<u64>,
    /// Threads of other cases seen alive during a run (`fault = 5`).
    others: Vec<String>,
}

/// Names of this process's threads that belong to another case than the calling thread's
/// (case threads are named `parlab-case-{id}`, and threads they spawn inherit the name).
fn other_case_threads() -> Vec<String> {
    let own = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .filter(|c| c.starts_with("parlab-case-") && *c != own.trim())
        .collect()
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let n = self.input.size;
        let fault = if exec.strategy().is_sequential() { 0 } else { self.input.fault };
        match fault {
            1 => panic!("faulty workload: deliberate panic"),
            2 => {
                while !exec.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            4 => {
                let end = std::time::Instant::now() + Duration::from_millis(n);
                while std::time::Instant::now() < end {
                    std::hint::spin_loop();
                }
            }
            5 => self.others = other_case_threads(),
            6 => std::process::abort(),
            _ => {}
        }
        let sum = exec.map_reduce(n as usize, 16, |r| r.map(|i| i as u64).sum(), 0, |a, b| a + b);
        self.sum = Some(if fault == 3 { sum + 1 } else { sum });
    }

    fn verify(&self) -> Verification {
        let n = self.input.size;
        if !self.others.is_empty() {
            return Verification::fail(format!("ran beside threads of another case: {:?}", self.others));
        }
        match self.sum {
            Some(s) if s == n * (n - 1) / 2 => Verification::pass("sum matches"),
            other => Verification::fail(format!("sum {other:?} != {}", n * (n - 1) / 2)),
        }
    }
}
