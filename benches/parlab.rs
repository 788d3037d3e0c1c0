//! `cargo bench`: the scenario's matrix under criterion, with the same workload and strategy
//! code as `parlab run` (no duplicated kernels).
//!
//! Reads `scenarios/bench.toml`, or the file named by `PARLAB_SCENARIO`. One criterion group per
//! workload, one benchmark per strategy x workers x size, named
//! `WORKLOAD/STRATEGY/WORKERSw/SIZE[/PARAMS]`, so `cargo bench -- rayon` filters as usual and
//! `parlab import-criterion target/criterion` turns the saved estimates back into a parlab
//! report. Each kernel's output is verified before and after it is measured; a wrong answer
//! aborts the bench before criterion saves that benchmark's estimates.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};

use parlab::machine::Machine;
use parlab::scenario;
use parlab::strategy::{self, Exec, ExecConfig, StrategyParams};
use parlab::workload::{self, Instance};

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
    let mut prepared: Option<((usize, u64), Box<dyn Instance>)> = None;
    let cases = plan.cases();
    for (index, wp) in plan.workloads.iter().enumerate() {
        let w = workload::find(&wp.kind).expect("validated");
        let mut group = criterion.benchmark_group(&wp.kind);
        let s = &wp.settings;
        group
            .warm_up_time(s.warmup.max(Duration::from_millis(100)))
            .measurement_time(s.max_time)
            .sample_size(s.max_samples.max(10));
        let params: Vec<String> = wp.params.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for case in cases.iter().filter(|c| c.workload_index == index) {
            let st = strategy::find(&case.strategy).expect("validated");
            if st.availability().is_err() || w.support(st).is_err() {
                continue;
            }
            let key = (index, case.effective_size);
            let tunables = plan.strategy_params.get(st.name()).cloned().unwrap_or_default();
            let config = ExecConfig {
                workers: case.workers,
                params: StrategyParams { chunk: wp.chunk.or(tunables.chunk), ..tunables },
                cancel: Arc::new(AtomicBool::new(false)),
            };
            let work = w.work(case.effective_size, &wp.params) as u64;
            group.throughput(if w.throughput_unit() == "B/s" {
                Throughput::Bytes(work)
            } else {
                Throughput::Elements(work)
            });
            let mut value = format!("{}w/{}", case.workers, case.effective_size);
            if !params.is_empty() {
                value.push_str(&format!("/{}", params.join(",")));
            }
            // Inputs are prepared only for benchmarks the filter selects (criterion calls the
            // closure only for those), and reused across strategies at the same size.
            let mut verdict = None;
            group.bench_function(BenchmarkId::new(&case.strategy, value), |b| {
                if prepared.as_ref().map(|p| p.0) != Some(key) {
                    prepared = None;
                    let instance =
                        w.prepare(case.effective_size, &wp.params, s.seed).expect("prepare the input");
                    prepared = Some((key, instance));
                }
                let instance = &prepared.as_ref().expect("prepared").1;
                let exec = Exec::new(st, &config).expect("strategy set-up");
                // Verified before measuring too: a wrong kernel aborts before criterion saves its
                // estimates, so `import-criterion` never sees numbers of a wrong answer.
                let mut kernel = instance.kernel();
                kernel.run(&exec);
                let first = kernel.verify();
                assert!(
                    first.passed,
                    "{} with {} failed verification: {}",
                    wp.kind, case.strategy, first.detail
                );
                b.iter(|| kernel.run(&exec));
                verdict = Some(kernel.verify());
            });
            if let Some(v) = verdict {
                assert!(v.passed, "{} with {} failed verification: {}", wp.kind, case.strategy, v.detail);
            }
        }
        group.finish();
    }
    criterion.final_summary();
}
