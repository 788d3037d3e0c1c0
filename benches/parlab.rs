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
//! Every case runs through its strategy's backend, as under `parlab run`: one code path for
//! threads and worker processes alike. Criterion calls a benchmark's closure many times: during
//! warm-up, then once per sample. So the backend's session (rayon pool, tokio runtime, worker
//! processes, and the case's output) is started once per benchmark, on its first call (criterion
//! calls the closure only for benchmarks its filter selects), outside anything timed, and reused
//! by every later call, whose `iters` runs the session times as one sample (`iter_custom`). The
//! output is verified on that first call, before any timing, and again after every call's timed
//! loop: the last call is the last sample, so a wrong answer aborts the bench before criterion
//! analyses and stores that benchmark's estimates.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};

use parlab::backend::{self, CaseJob, Session, CASE_MARKER_ENV};
use parlab::clock::RealClock;
use parlab::identity::CaseIdentity;
use parlab::machine::Machine;
use parlab::results::{CaseResult, Status};
use parlab::runner::marker;
use parlab::scenario;
use parlab::strategy::{self, ExecConfig};
use parlab::workload::{self, Instance};

fn main() {
    let path = std::env::var_os("PARLAB_SCENARIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench.toml"));
    let mut machine = Machine::detect();
    // The OpenCL and CUDA devices, as `parlab run` finds them: a device strategy has a case per
    // device.
    parlab::machine::opencl::probe(&mut machine);
    parlab::machine::cuda::probe(&mut machine);
    let plan = match scenario::load(&path, &machine) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut criterion = Criterion::default().configure_from_args();
    let cases = plan.cases();
    let run_marker = marker::current_or_fresh();
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
            let input: OnceCell<Arc<dyn Instance>> = OnceCell::new();
            for case in same_size {
                let st = strategy::find(&case.strategy).expect("validated");
                let Some(backend) = backend::find(st.backend()) else { continue };
                if st.availability().is_err() || backend.availability().is_err() || w.support(st).is_err() {
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
                let case_marker = format!("{run_marker}/{}/0", case.id);
                let mut built: Option<Box<dyn Session + '_>> = None;
                group.bench_function(BenchmarkId::new(&case.strategy, value), |b| {
                    let session = built.get_or_insert_with(|| {
                        let instance = input.get_or_init(|| {
                            Arc::from(
                                w.prepare(case.effective_size, &wp.params, case.seed)
                                    .expect("prepare the input"),
                            )
                        });
                        let job = CaseJob {
                            spec: case,
                            params: &wp.params,
                            seed: case.seed,
                            strategy: st,
                            config: config.clone(),
                            instance: instance.as_ref(),
                            clock: Arc::new(RealClock),
                            marker: (CASE_MARKER_ENV, case_marker.clone()),
                            mpi: Default::default(),
                        };
                        let mut session = backend.start(job).unwrap_or_else(|e| panic!("{identity}: {e}"));
                        session.sample(usize::MAX, 1).unwrap_or_else(|e| panic!("{identity}: {e}"));
                        match session.verify() {
                            Ok(v) if v.passed => {}
                            Ok(v) => fail(&v.detail),
                            Err(e) => fail(&e.to_string()),
                        }
                        session
                    });
                    b.iter_custom(|iters| {
                        let sample = session.sample(0, iters).unwrap_or_else(|e| panic!("{identity}: {e}"));
                        Duration::from_nanos(sample.ns)
                    });
                    match session.verify() {
                        Ok(v) if v.passed => {}
                        Ok(v) => fail(&v.detail),
                        Err(e) => fail(&e.to_string()),
                    }
                });
                // The session goes with its benchmark: pools stop, worker processes exit, and
                // none may be left behind.
                drop(built);
                if let Some(note) = marker::end_left_behind(CASE_MARKER_ENV, &case_marker) {
                    eprintln!("{identity}: {note}");
                }
            }
        }
        group.finish();
    }
    criterion.final_summary();
}
