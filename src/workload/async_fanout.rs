//! `async_fanout`: `size` concurrent tasks, each waiting a simulated I/O delay (`io_us`) and
//! then doing a little CPU work (`cpu_iters` mixing steps), the shape of a server fanning a
//! request out to many backends. It shows when async beats threads and when it does not.
//!
//! - `async`: every task is a tokio task on the multi-threaded runtime and waits with
//!   `tokio::time::sleep`: 10,000 waits overlap on `workers` threads (tokio's timer has 1 ms
//!   granularity, so a wait lasts at least 1 ms);
//! - `async-current-thread`: the same on one event loop per worker, tasks split statically;
//! - data-parallel strategies: each task blocks its worker thread in `std::thread::sleep`, so
//!   only `workers` waits overlap (rayon and channels balance, threads splits statically);
//! - `semaphore`: a thread per task, at most `capacity` at once: the thread-per-request design
//!   async is usually compared with, paying a thread start per task.
//!
//! Task `i` returns a hash chain from the seed; the results must match the reference, computed
//! without waiting. Throughput is tasks/s. The `sequential` baseline waits for every task in
//! turn, so it takes `size x io_us`: keep sizes modest where it runs.

use std::sync::OnceLock;
use std::time::Duration;

use super::{
    default_support, mix64, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, SizeUnit,
    Unsupported, Verification, Workload, GAMMA,
};
use crate::machine::Machine;
use crate::strategy::{static_block, Exec, Family, Strategy};

pub struct AsyncFanout;

impl Workload for AsyncFanout {
    fn name(&self) -> &'static str {
        "async_fanout"
    }
    fn summary(&self) -> &'static str {
        "N concurrent tasks waiting on simulated I/O plus a little CPU: async vs threads"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "tasks", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "tasks/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[
            ParamSpec {
                name: "io_us",
                help: "simulated I/O wait per task, in microseconds (tokio's timer rounds up to 1 ms)",
                default: ParamValue::Int(1000),
                min: 0.0,
                max: 1e7,
                choices: &[],
            },
            ParamSpec {
                name: "cpu_iters",
                help: "mixing steps of CPU work per task after its wait (about 1 ns each)",
                default: ParamValue::Int(1000),
                min: 0.0,
                max: 1e9,
                choices: &[],
            },
        ]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![10, 1000, 10_000]
    }
    fn speedup_meaning(&self, strategy: &str) -> super::SpeedupMeaning {
        match strategy {
            "sequential" => super::SpeedupMeaning::Parallel,
            _ => super::SpeedupMeaning::Labelled(
                "async_fanout's workers overlap waits for simulated I/O rather than share computation: \
                 its speedup measures concurrency, and efficiency and Karp-Flatt do not apply",
            ),
        }
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match (strategy.family(), strategy.name()) {
            // Named, not by family: the kernel's async path is written for these two runtimes.
            (Family::DataParallel, _)
            | (Family::Async, "async" | "async-current-thread")
            | (Family::Synchronization, "semaphore") => Ok(()),
            (Family::SharedState | Family::Synchronization | Family::Async, name) => Err(Unsupported::new(
                "async_fanout",
                strategy,
                format!(
                    "`async_fanout`'s tasks are independent waits: it runs with the data-parallel strategies \
                     (blocking threads), `semaphore` (a thread per task) and the async ones; `{name}` has \
                     nothing to manage here"
                ),
            )),
            _ => default_support(self.name(), strategy),
        }
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // Results and reference, plus a few hundred bytes per live task (future or thread).
        size.saturating_mul(16 + 512)
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(Input {
            tasks: size as usize,
            io: Duration::from_micros(params.int("io_us") as u64),
            cpu_iters: params.int("cpu_iters") as u64,
            seed,
            reference: OnceLock::new(),
        }))
    }
}

struct Input {
    tasks: usize,
    io: Duration,
    cpu_iters: u64,
    seed: u64,
    reference: OnceLock<Vec<u64>>,
}

/// Task `i`'s CPU work: a hash chain of `iters` steps.
fn cpu_work(seed: u64, i: usize, iters: u64) -> u64 {
    let mut x = seed ^ (i as u64 + 1).wrapping_mul(GAMMA);
    for _ in 0..iters {
        x = mix64(x);
    }
    x
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, results: vec![0; self.tasks], ran: false, runtime_threads: None })
    }
}

struct Run<'a> {
    input: &'a Input,
    results: Vec<u64>,
    ran: bool,
    /// Threads the async runtime had started by the end of the run.
    runtime_threads: Option<usize>,
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let Input { tasks, io, cpu_iters, seed, .. } = *self.input;
        let cancel = exec.cancel_flag();
        if let Some(rts) = exec.runtimes() {
            let loops = rts.len();
            let per_loop = rts.block_on_each(|l| {
                let block = if rts.is_multi_thread() { 0..tasks } else { static_block(tasks, loops, l) };
                let cancel = cancel.clone();
                async move {
                    let handles: Vec<_> = block
                        .map(|i| {
                            let cancel = cancel.clone();
                            tokio::spawn(async move {
                                if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                                    return 0;
                                }
                                tokio::time::sleep(io).await;
                                cpu_work(seed, i, cpu_iters)
                            })
                        })
                        .collect();
                    let mut out = Vec::with_capacity(handles.len());
                    for h in handles {
                        out.push(h.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
                    }
                    out
                }
            });
            for (slot, value) in self.results.iter_mut().zip(per_loop.into_iter().flatten()) {
                *slot = value;
            }
            self.runtime_threads = Some(rts.threads());
        } else {
            exec.for_each_rows_mut(&mut self.results, 1, 1, |first, block| {
                for (k, slot) in block.iter_mut().enumerate() {
                    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(io);
                    *slot = cpu_work(seed, first + k, cpu_iters);
                }
            });
        }
        self.ran = true;
    }

    fn verify(&self) -> Verification {
        if !self.ran {
            return Verification::fail("the kernel never ran");
        }
        let input = self.input;
        let want = input
            .reference
            .get_or_init(|| (0..input.tasks).map(|i| cpu_work(input.seed, i, input.cpu_iters)).collect());
        let wrong = self.results.iter().zip(want).filter(|(a, b)| a != b).count();
        let threads = match self.runtime_threads {
            Some(t) => format!(" ({t} runtime threads)"),
            None => String::new(),
        };
        if wrong == 0 {
            Verification::pass(format!("all {} task results match the reference{threads}", want.len()))
        } else {
            Verification::fail(format!("{wrong} of {} task results differ from the reference", want.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{find, tests::exec};

    #[test]
    fn ten_thousand_tasks_run_on_a_few_threads() {
        let mut params = crate::workload::default_params(&AsyncFanout);
        params.0.insert("cpu_iters".into(), ParamValue::Int(10));
        let input = AsyncFanout.prepare(10_000, &params, 3).unwrap();
        let exec = exec(find("async").unwrap(), 2);
        let mut kernel = input.kernel();
        let started = std::time::Instant::now();
        kernel.run(&exec);
        let took = started.elapsed();
        let v = kernel.verify();
        assert!(v.passed, "{}", v.detail);
        let threads = exec.runtimes().unwrap().threads();
        // Two workers (plus at most two blocking-pool threads), never one thread per task.
        assert!(threads <= 4, "{threads} runtime threads for 10,000 tasks");
        // 10,000 waits of 1 ms one after another would take 10 s; overlapped, milliseconds.
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
}
