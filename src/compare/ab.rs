//! `parlab ab`: two builds of parlab measured interleaved, in one sitting, gated on paired runs.
//!
//! Samples taken inside one process share its memory layout, core and clock frequency, so they
//! are not independent trials; treating them as such (pseudo-replication) is why sample-level
//! gates cry wolf on shared CI runners. Here the unit of evidence is a whole process run: for
//! each case, `runs` blocks, each running the old binary (A), the new one (B) and the old one
//! again (N, the null control) as separate processes, in an order that rotates through all six
//! permutations so that drift in machine speed hits every arm alike. Each run contributes one
//! estimate (its median); the test is done across runs on the paired ratios B/A, and the same
//! pipeline on N/A tells whether the machine was quiet enough to judge at all.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::{case_key, decide, paired_evidence, CaseComparison, Comparison, GateOptions};
use crate::results::{Results, Status};
use crate::scenario::CaseSpec;

pub struct AbOptions {
    /// Blocks per case; each block runs A, B and N once.
    pub runs: usize,
    pub gate: GateOptions,
    /// The scenario the new binary runs, when it differs (e.g. to calibrate with a known slowdown).
    pub scenario_b: Option<PathBuf>,
    /// Where each run's results are written.
    pub work_dir: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arm {
    A,
    B,
    N,
}

/// The six orders of three arms, cycled block by block.
const ORDERS: [[Arm; 3]; 6] = [
    [Arm::A, Arm::B, Arm::N],
    [Arm::B, Arm::N, Arm::A],
    [Arm::N, Arm::A, Arm::B],
    [Arm::A, Arm::N, Arm::B],
    [Arm::B, Arm::A, Arm::N],
    [Arm::N, Arm::B, Arm::A],
];

/// Runs the interleaved comparison of `old` and `new` on every case of `cases`.
pub fn run(
    old: &Path,
    new: &Path,
    scenario: &Path,
    cases: &[CaseSpec],
    opts: &AbOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Comparison> {
    if opts.runs < 2 {
        bail!("--runs must be at least 2 to estimate the run-to-run noise");
    }
    let scenario_b = opts.scenario_b.as_deref().unwrap_or(scenario);
    let mut compared = Vec::new();
    let mut nulls = Vec::new();
    for case in cases {
        let mut estimates: [Vec<f64>; 3] = Default::default();
        let mut key = String::new();
        for block in 0..opts.runs {
            for arm in ORDERS[block % ORDERS.len()] {
                let (binary, file, slot) = match arm {
                    Arm::A => (old, scenario, 0),
                    Arm::B => (new, scenario_b, 1),
                    Arm::N => (old, scenario, 2),
                };
                let dir = opts.work_dir.join(format!("case{}-block{block}-{arm:?}", case.id));
                let (k, median) = one_run(binary, file, case.id, &dir)?;
                key = k;
                estimates[slot].push(median);
            }
        }
        progress(&format!("case {} ({key}): {} runs per arm", case.id, opts.runs));
        let make = |current: &[f64]| {
            let evidence = paired_evidence(&estimates[0], current);
            let (verdict, more_needed) = decide(&evidence, opts.gate);
            CaseComparison {
                key: key.clone(),
                workload: case.workload.clone(),
                strategy: case.strategy.clone(),
                workers: case.workers,
                effective_size: case.effective_size,
                baseline_median_ns: crate::stats::mean(&estimates[0]),
                current_median_ns: crate::stats::mean(current),
                evidence,
                verdict,
                more_needed,
            }
        };
        compared.push(make(&estimates[1]));
        nulls.push(make(&estimates[2]));
    }
    Ok(Comparison {
        method: format!(
            "ab: {} interleaved process runs per arm and case (blocks rotating A/B/null orders); \
             ratio = geometric mean of paired per-run median ratios with a t-interval; exact sign-flip test",
            opts.runs
        ),
        options: opts.gate,
        baseline: old.display().to_string(),
        current: new.display().to_string(),
        cases: compared,
        skipped: Vec::new(),
        null_control: nulls,
    })
}

/// Runs one case in a fresh process and returns its key and median time.
fn one_run(binary: &Path, scenario: &Path, case: usize, dir: &Path) -> anyhow::Result<(String, f64)> {
    let out = Command::new(binary)
        .arg("run")
        .arg(scenario)
        .args(["--case", &case.to_string(), "--out"])
        .arg(dir)
        .output()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} wrote no {} (exit status {}): {}",
            binary.display(),
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    let results: Results =
        serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(c) = results.cases.iter().find(|c| c.id == case) else {
        bail!("{} did not run case {case}", binary.display());
    };
    if c.status != Status::Ok {
        bail!(
            "case {case} ({}) is {} with {}: {}",
            case_key(c),
            c.status.label(),
            binary.display(),
            c.reason.as_deref().unwrap_or("")
        );
    }
    Ok((case_key(c), c.median_ns().expect("an ok case has statistics")))
}
