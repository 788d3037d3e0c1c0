//! `parlab import-criterion`: turns the estimates `cargo bench` saved under `target/criterion`
//! into a parlab [`Results`], so criterion runs get the same reports and the same gate.
//!
//! The bench (`benches/parlab.rs`) names each benchmark `WORKLOAD/STRATEGY/WORKERSw/SIZE[/SETTINGS]`
//! (settings as [`crate::identity::CaseIdentity`] writes them: parameters, tunables, seed); this
//! reads `new/benchmark.json` for the name and `new/sample.json` for the samples, each sample
//! being criterion's total time over `iters` iterations, stored here per iteration.
//!
//! Imported cases are `ok` but carry no verification and a note saying so: parlab did not check
//! their output, criterion's files only hold timings ([`NOT_VERIFIED`]; reports show it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::machine::Machine;
use crate::results::{CaseResult, Results, Status, Throughput};
use crate::scenario::{CaseSpec, Plan, Scaling, Settings, WorkloadPlan};
use crate::stats::Summary;
use crate::strategy::StrategyParams;
use crate::workload::{self, ParamValue, Params};

/// The note every imported case carries.
pub const NOT_VERIFIED: &str =
    "imported from criterion: not verified by parlab (the timings are criterion's; \
     parlab's own bench verifies before criterion stores them, but criterion's files cannot prove it)";

#[derive(Deserialize)]
struct Benchmark {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    full_id: String,
}

#[derive(Deserialize)]
struct Sample {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// One imported benchmark before it becomes a case.
struct Imported {
    workload: String,
    strategy: String,
    workers: usize,
    size: u64,
    params: Params,
    seed: u64,
    tunables: StrategyParams,
    samples_ns: Vec<f64>,
}

/// Reads every parlab benchmark under `dir`; `skipped` collects the ones that are not parlab's.
pub fn import(dir: &Path, machine: Machine) -> anyhow::Result<(Results, Vec<String>)> {
    let mut files = Vec::new();
    find_benchmarks(dir, &mut files)?;
    if files.is_empty() {
        anyhow::bail!("no criterion results under {} (run `cargo bench` first)", dir.display());
    }
    files.sort();
    let mut imported = Vec::new();
    let mut skipped = Vec::new();
    for bench_file in files {
        let read = |p: &Path| -> anyhow::Result<String> {
            crate::input::read_to_string(p, crate::input::RESULTS)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
        };
        let bench: Benchmark = serde_json::from_str(&read(&bench_file)?)
            .map_err(|e| anyhow::anyhow!("{}: not a criterion benchmark.json: {e}", bench_file.display()))?;
        let sample_file = bench_file.with_file_name("sample.json");
        let sample: Sample = serde_json::from_str(&read(&sample_file)?)
            .map_err(|e| anyhow::anyhow!("{}: not a criterion sample.json: {e}", sample_file.display()))?;
        match parse(&bench, &sample) {
            Ok(i) => imported.push(i),
            Err(why) => skipped.push(format!("{}: {why}", bench.full_id)),
        }
    }
    if imported.is_empty() {
        anyhow::bail!(
            "none of the benchmarks under {} came from parlab's bench: {}",
            dir.display(),
            skipped.join("; ")
        );
    }
    Ok((build(imported, dir, machine), skipped))
}

fn find_benchmarks(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // `base` and other saved baselines hold older copies; `new` is the latest run.
            if path.file_name().is_some_and(|n| n == "new") {
                let b = path.join("benchmark.json");
                if b.is_file() {
                    out.push(b);
                }
            } else if path.file_name().is_some_and(|n| n != "report") {
                find_benchmarks(&path, out)?;
            }
        }
    }
    Ok(())
}

fn parse(bench: &Benchmark, sample: &Sample) -> Result<Imported, String> {
    let w = workload::find(&bench.group_id).ok_or("not a parlab workload")?;
    let strategy = bench.function_id.clone().ok_or("no strategy in the name")?;
    crate::strategy::find(&strategy).ok_or_else(|| format!("unknown strategy `{strategy}`"))?;
    let value = bench.value_str.as_deref().ok_or("no WORKERSw/SIZE in the name")?;
    let mut parts = value.split('/');
    let workers = parts
        .next()
        .and_then(|p| p.strip_suffix('w'))
        .and_then(|p| p.parse().ok())
        .ok_or("no worker count in the name")?;
    let size = parts.next().and_then(|p| p.parse().ok()).ok_or("no size in the name")?;
    // The rest is the case's settings as `CaseIdentity` writes them: parameters joined by
    // commas, then each tunable, then the seed when not the default.
    let mut params = crate::workload::default_params(w);
    let (mut seed, mut tunables) = (Settings::default().seed, StrategyParams::default());
    for kv in parts.flat_map(|p| p.split(',')) {
        if kv.starts_with("weak from ") {
            return Err("a weak-scaling benchmark: import-criterion reads strong scaling only".into());
        }
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("bad setting `{kv}`"))?;
        let int = || v.parse::<u64>().map_err(|_| format!("bad setting `{kv}`"));
        match k {
            "seed" => seed = int()?,
            "chunk" => tunables.chunk = Some(int()? as usize),
            "capacity" => tunables.capacity = Some(int()? as usize),
            _ if w.params().iter().any(|p| p.name == k) => {
                let choice =
                    w.params().iter().find(|p| p.name == k).and_then(|p| p.choices.iter().find(|c| **c == v));
                let value = match (choice, v.parse::<i64>()) {
                    (Some(name), _) => ParamValue::Text((*name).into()),
                    (None, Ok(i)) => ParamValue::Int(i),
                    (None, Err(_)) => {
                        ParamValue::Float(v.parse().map_err(|_| format!("bad parameter `{kv}`"))?)
                    }
                };
                params.0.insert(k.to_string(), value);
            }
            _ => return Err(format!("`{k}` is neither a parameter of `{}` nor a tunable", w.name())),
        }
    }
    if sample.iters.len() != sample.times.len() || sample.iters.is_empty() {
        return Err("sample.json has no samples".into());
    }
    let samples_ns = sample.iters.iter().zip(&sample.times).map(|(i, t)| t / i.max(1.0)).collect();
    Ok(Imported {
        workload: w.name().to_string(),
        strategy,
        workers,
        size,
        params,
        seed,
        tunables,
        samples_ns,
    })
}

fn build(mut imported: Vec<Imported>, dir: &Path, machine: Machine) -> Results {
    let order =
        |name: &str| crate::strategy::STRATEGIES.iter().position(|s| s.name() == name).unwrap_or(usize::MAX);
    let wl_order =
        |name: &str| workload::WORKLOADS.iter().position(|w| w.name() == name).unwrap_or(usize::MAX);
    imported.sort_by_key(|i| (wl_order(&i.workload), i.size, order(&i.strategy), i.workers));
    let mut workloads: Vec<WorkloadPlan> = Vec::new();
    let mut specs: Vec<(CaseSpec, &Imported)> = Vec::new();
    for i in &imported {
        let same = |w: &WorkloadPlan| {
            w.kind == i.workload
                && w.params == i.params
                && w.chunk == i.tunables.chunk
                && w.settings.seed == i.seed
        };
        let index = match workloads.iter().position(same) {
            Some(index) => index,
            None => {
                workloads.push(WorkloadPlan {
                    kind: i.workload.clone(),
                    sizes: Vec::new(),
                    params: i.params.clone(),
                    strategies: Vec::new(),
                    workers: Vec::new(),
                    chunk: i.tunables.chunk,
                    settings: Settings {
                        max_samples: i.samples_ns.len(),
                        seed: i.seed,
                        ..Settings::default()
                    },
                    notes: Vec::new(),
                });
                workloads.len() - 1
            }
        };
        let wp = &mut workloads[index];
        let push_unique = |v: &mut Vec<_>, x| {
            if !v.contains(&x) {
                v.push(x)
            }
        };
        push_unique(&mut wp.sizes, i.size);
        if !wp.strategies.contains(&i.strategy) {
            wp.strategies.push(i.strategy.clone());
        }
        if !wp.workers.contains(&i.workers) {
            wp.workers.push(i.workers);
            wp.workers.sort_unstable();
        }
        specs.push((
            CaseSpec {
                id: specs.len(),
                workload_index: index,
                workload: i.workload.clone(),
                strategy: i.strategy.clone(),
                workers: i.workers,
                size: i.size,
                effective_size: i.size,
                scaling: Scaling::Strong,
                seed: i.seed,
                tunables: i.tunables.clone(),
                notes: Vec::new(),
                device: None,
            },
            i,
        ));
    }
    let plan = Plan {
        name: "criterion".into(),
        description: format!("imported from criterion's estimates in {}", dir.display()),
        source: dir.display().to_string(),
        strategy_params: BTreeMap::new(),
        workloads,
        mpi: Default::default(),
        devices: Vec::new(),
    };
    let mut results = Results::new(machine, plan);
    for (spec, i) in specs {
        let w = workload::find(&i.workload).expect("checked in parse");
        let mut case = CaseResult::unmeasured(&spec, &i.params, Status::Ok, "");
        case.reason = None;
        let xs: Vec<f64> = i.samples_ns.clone();
        case.stats = Summary::from_samples(&xs);
        if let Some(s) = &case.stats {
            let work = w.work(i.size, &i.params);
            case.throughput = Some(Throughput {
                unit: w.throughput_unit().into(),
                median: work / (s.median * 1e-9),
                low: work / (s.ci_high * 1e-9),
                high: work / (s.ci_low * 1e-9),
            });
        }
        case.samples_ns = i.samples_ns.clone();
        // parlab's bench verifies each kernel before criterion stores its estimates, but what is
        // read back here is only criterion's files: nothing in them proves the check ran, so
        // the case is not claimed as verified.
        case.verification = None;
        case.notes.push(NOT_VERIFIED.into());
        results.cases.push(case);
    }
    results.derive_speedups();
    results.complete = true;
    results.finished_at = Some(crate::results::now_rfc3339());
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, id: &str, value: &str, iters: &[f64], times: &[f64]) {
        let (group, rest) = id.split_once('/').unwrap();
        let (function, _) = rest.split_once('/').unwrap();
        let d = dir.join(group).join(function).join(value.replace('/', "_")).join("new");
        std::fs::create_dir_all(&d).unwrap();
        let bench = serde_json::json!({"group_id": group, "function_id": function, "value_str": value,
            "full_id": id, "directory_name": "x", "title": id, "throughput": null});
        std::fs::write(d.join("benchmark.json"), bench.to_string()).unwrap();
        let sample = serde_json::json!({"sampling_mode": "Linear", "iters": iters, "times": times});
        std::fs::write(d.join("sample.json"), sample.to_string()).unwrap();
    }

    #[test]
    fn imports_samples_per_iteration_and_derives_speedups() {
        let dir = tempfile::tempdir().unwrap();
        let iters = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let times_seq: Vec<f64> = iters.iter().map(|i| i * 1000.0).collect();
        let times_par: Vec<f64> = iters.iter().map(|i| i * 500.0).collect();
        write(dir.path(), "pi_monte_carlo/sequential/1w/1000", "1w/1000", &iters, &times_seq);
        write(dir.path(), "pi_monte_carlo/rayon/2w/1000", "2w/1000", &iters, &times_par);
        write(
            dir.path(),
            "mandelbrot/threads/2w/64/max_iter=100,simd=scalar",
            "2w/64/max_iter=100,simd=scalar",
            &iters,
            &times_par,
        );
        write(
            dir.path(),
            "mandelbrot/threads-dynamic/2w/64/max_iter=100,simd=auto/chunk=4/seed=7",
            "2w/64/max_iter=100,simd=auto/chunk=4/seed=7",
            &iters,
            &times_par,
        );
        write(dir.path(), "my_group/thing/x", "x", &iters, &times_par);
        let (results, skipped) = import(dir.path(), Machine::detect()).unwrap();
        assert_eq!(results.cases.len(), 4);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        let pi_par = results.cases.iter().find(|c| c.strategy == "rayon").unwrap();
        assert_eq!(pi_par.samples_ns, vec![500.0; 10]);
        assert_eq!(pi_par.speedup, Some(2.0));
        assert_eq!(pi_par.throughput.as_ref().unwrap().unit, "samples/s");
        let m = results.cases.iter().find(|c| c.strategy == "threads").unwrap();
        assert_eq!(m.params.int("max_iter"), 100);
        assert_eq!(m.params.text("simd"), "scalar");
        assert_eq!(m.speedup, None, "no sequential baseline for mandelbrot");
        // Tunables and seed come back from the name: the same identity as the case parlab ran.
        let d = results.cases.iter().find(|c| c.strategy == "threads-dynamic").unwrap();
        assert_eq!((d.tunables.chunk, d.seed), (Some(4), Some(7)));
        assert_eq!(
            crate::identity::CaseIdentity::of(d).to_string(),
            "mandelbrot/threads-dynamic/2w/64/max_iter=100,simd=auto/chunk=4/seed=7"
        );
        // Never claimed as verified by parlab, and every case says so.
        for c in &results.cases {
            assert_eq!(c.status, Status::Ok);
            assert!(!c.verified_by_parlab() && c.verification.is_none(), "{c:?}");
            assert_eq!(c.notes, [NOT_VERIFIED]);
        }
        // The imported results survive a round trip through JSON.
        let text = serde_json::to_string(&results).unwrap();
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back.cases.len(), 4);
    }

    #[test]
    fn an_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(import(dir.path(), Machine::detect()).unwrap_err().to_string().contains("cargo bench"));
    }
}
