//! `cargo bench`: the scenario's matrix under criterion, with the same workload and strategy
//! code as `parlab run` (no duplicated kernels).
//!
//! Reads `scenarios/bench.toml`, or the file named by `PARLAB_SCENARIO`. One criterion group per
//! workload, one benchmark per strategy x workers x size, named
//! `WORKLOAD/STRATEGY/WORKERSw/SIZE[/SETTINGS]` where SETTINGS are the case's parameters,
//! tunables and seed as [`CaseIdentity`] writes them, so `cargo bench -- rayon` filters as usual
//! and `parlab import-criterion target/criterion` turns the saved estimates back into cases with
//! the same identity as `parlab run`'s.
//!
//! Criterion calls a benchmark's closure many times: during warm-up, then once per sample. So,
//! as `parlab run` does, the executor (rayon pool, tokio runtime, worker processes) and the
//! case's output are built once per benchmark, on its first call (criterion calls the closure
//! only for benchmarks its filter selects), outside anything timed, and reused by every later
//! call. The output is verified on that first call, before any timing, and again after every
//! call's timed loop: the last call is the last sample, so a wrong answer aborts the bench
//! before criterion analyses and stores that benchmark's estimates.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};

use parlab::identity::CaseIdentity;
use parlab::machine::Machine;
use parlab::results::{CaseResult, Status};
use parlab::scenario;
use parlab::strategy::{self, Exec, ExecConfig};
use parlab::workload::{self, Instance, Kernel};

/// A benchmark's executor and output, built on its first call and kept for the others.
struct Built<'a> {
    exec: Exec,
    kernel: Box<dyn Kernel + 'a>,
}

fn main() {
    let path = std::env::var_os("PARLAB_SCENARIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench.toml"));
    let machine = Machine::detect();
    let plan = match scenario::load(&path, &machine) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut criterion = Criterion::default().configure_from_args();
    let cases = plan.cases();
    for (index, wp) in plan.workloads.iter().enumerate() {
        let w = workload::find(&wp.kind).expect("validated");
        let mut group = criterion.benchmark_group(&wp.kind);
        let s = &wp.settings;
        group
            .warm_up_time(s.warmup.max(Duration::from_millis(100)))
            .measurement_time(s.max_time)
            .sample_size(s.max_samples.max(10));
        let of_workload: Vec<_> = cases.iter().filter(|c| c.workload_index == index).collect();
        // Cases at one measured size share one input, prepared on the first benchmark that
        // runs and dropped before the next size's (sizes can be most of memory).
        for same_size in of_workload.chunk_by(|a, b| a.effective_size == b.effective_size) {
            let input: OnceCell<Box<dyn Instance>> = OnceCell::new();
            for case in same_size {
                let st = strategy::find(&case.strategy).expect("validated");
                if st.availability().is_err() || w.support(st).is_err() {
                    continue;
                }
                let config = ExecConfig {
                    workers: case.workers,
                    params: case.tunables.clone(),
                    cancel: Arc::new(AtomicBool::new(false)),
                };
                let work = w.work(case.effective_size, &wp.params) as u64;
                group.throughput(if w.throughput_unit() == "B/s" {
                    Throughput::Bytes(work)
                } else {
                    Throughput::Elements(work)
                });
                let identity = CaseIdentity::of(&CaseResult::unmeasured(case, &wp.params, Status::Ok, ""));
                let mut value = format!("{}w/{}", case.workers, case.effective_size);
                if !identity.settings().is_empty() {
                    value.push_str(&format!("/{}", identity.settings()));
                }
                let fail = |detail: &str| -> ! {
                    panic!("{identity} failed verification: {detail}; criterion stores nothing for it")
                };
                let mut built: Option<Built> = None;
                group.bench_function(BenchmarkId::new(&case.strategy, value), |b| {
                    let built = built.get_or_insert_with(|| {
                        let instance = input.get_or_init(|| {
                            w.prepare(case.effective_size, &wp.params, case.seed).expect("prepare the input")
                        });
                        let exec = Exec::new(st, &config).expect("strategy set-up");
                        let mut kernel = instance.kernel();
                        kernel.run(&exec);
                        let first = kernel.verify();
                        if !first.passed {
                            fail(&first.detail);
                        }
                        Built { exec, kernel }
                    });
                    b.iter(|| built.kernel.run(&built.exec));
                    let v = built.kernel.verify();
                    if !v.passed {
                        fail(&v.detail);
                    }
                });
                // The executor goes with its benchmark: pools stop, worker processes exit.
                drop(built);
            }
        }
        group.finish();
    }
    criterion.final_summary();
}
