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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{case_key, decide, paired_evidence, CaseComparison, Comparison, GateOptions};
use crate::results::{Results, Status};
use crate::scenario::CaseSpec;

/// A case that did not run `ok` under one of the builds: the gate stops, and the command exits
/// as for a failed case (1), not as for an internal error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CaseFailed(pub String);

pub struct AbOptions {
    /// Blocks per case; each block runs A, B and N once.
    pub runs: usize,
    pub gate: GateOptions,
    /// The scenario the new binary runs, when it differs (e.g. to calibrate with a known slowdown).
    pub scenario_b: Option<PathBuf>,
    /// Where each run's results are written.
    pub work_dir: PathBuf,
    /// How long one process run may take before it is killed and the gate fails.
    pub run_timeout: Duration,
}

#[cfg(test)]
mod tests {
    #[test]
    fn too_few_runs_are_refused_with_the_number_needed() {
        assert!(super::check_runs(8, 0.01).is_ok());
        let e = super::check_runs(7, 0.01).unwrap_err();
        assert!(e.contains("use --runs 8"), "{e}");
        assert!(super::check_runs(5, 0.1).is_ok());
        assert!(super::check_runs(1, 0.5).is_err());
    }
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

/// Whether `runs` blocks can ever give a significant result at `alpha`.
pub fn check_runs(runs: usize, alpha: f64) -> Result<(), String> {
    if runs < 2 {
        return Err("--runs must be at least 2 to estimate the run-to-run noise".into());
    }
    // The exact sign-flip test cannot go below 2 / 2^runs: with fewer runs it could never
    // report a regression, and the null control could never report noise.
    let floor = 2.0 / 2f64.powi(runs.min(1000) as i32);
    if floor >= alpha {
        let needed = (1.0 - alpha.log2()).floor() as usize + 1;
        return Err(format!(
            "with --runs {runs} the smallest p-value the test can give is {floor:.3}, not below --alpha {alpha}; \
             use --runs {needed} or more"
        ));
    }
    Ok(())
}

/// Runs the interleaved comparison of `old` and `new` on every case of `cases`.
pub fn run(
    old: &Path,
    new: &Path,
    scenario: &Path,
    cases: &[CaseSpec],
    opts: &AbOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Comparison> {
    check_runs(opts.runs, opts.gate.alpha).map_err(anyhow::Error::msg)?;
    let scenario_b = opts.scenario_b.as_deref().unwrap_or(scenario);
    let mut compared = Vec::new();
    let mut nulls = Vec::new();
    for case in cases {
        let mut estimates: [Vec<f64>; 3] = Default::default();
        let mut key: Option<String> = None;
        for block in 0..opts.runs {
            for arm in ORDERS[block % ORDERS.len()] {
                let (binary, file, slot) = match arm {
                    Arm::A => (old, scenario, 0),
                    Arm::B => (new, scenario_b, 1),
                    Arm::N => (old, scenario, 2),
                };
                let dir = opts.work_dir.join(format!("case{}-block{block}-{arm:?}", case.id));
                let (k, median) = one_run(binary, file, case.id, &dir, opts.run_timeout)?;
                // Each binary numbers cases from its own registry: make sure all arms ran the
                // same case (with --scenario-b only the parameters may differ).
                match &key {
                    Some(first) if *first != k && !(arm == Arm::B && opts.scenario_b.is_some()) => bail!(
                        "case {} is `{first}` for {} but `{k}` for {}: the two builds number cases \
                         differently; gate them on a scenario that lists its strategies explicitly",
                        case.id,
                        old.display(),
                        binary.display()
                    ),
                    Some(_) => {}
                    None if arm != Arm::B || opts.scenario_b.is_none() => key = Some(k),
                    None => {}
                }
                estimates[slot].push(median);
            }
        }
        let key = key.unwrap_or_else(|| format!("case {}", case.id));
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
                // Geometric means of the per-run medians, as the ratio is.
                baseline_median_ns: geometric_mean(&estimates[0]),
                current_median_ns: geometric_mean(current),
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
        broken: Vec::new(),
        null_control: nulls,
    })
}

fn geometric_mean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

/// Runs one case in a fresh process and returns its key and median time.
fn one_run(
    binary: &Path,
    scenario: &Path,
    case: usize,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<(String, f64)> {
    // A results file left from an earlier gate in the same folder must never be read as new.
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let mut child = Command::new(binary)
        .arg("run")
        .arg(scenario)
        .args(["--case", &case.to_string(), "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not finish case {case} within {}; killed",
                binary.display(),
                humantime::format_duration(timeout)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    // 0: all verified; 1: a case failed, which the status below explains.
    if !matches!(status.code(), Some(0) | Some(1)) {
        bail!("{} exited with {status} on case {case}: {}", binary.display(), stderr.trim());
    }
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("{} wrote no {} ({status}): {}", binary.display(), path.display(), stderr.trim())
    })?;
    let results: Results =
        serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(c) = results.cases.iter().find(|c| c.id == case) else {
        bail!(
            "{} did not run case {case} (its scenario has {} cases; the builds may expand it differently)",
            binary.display(),
            results.scenario.cases().len()
        );
    };
    if c.status != Status::Ok {
        return Err(CaseFailed(format!(
            "case {case} ({}) is {} with {}: {}",
            case_key(c),
            c.status.label(),
            binary.display(),
            c.reason.as_deref().unwrap_or("")
        ))
        .into());
    }
    Ok((case_key(c), c.median_ns().expect("an ok case has statistics")))
}
