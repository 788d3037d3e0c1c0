//! The regression gate: is the current run slower than the baseline, beyond doubt and beyond
//! the threshold?
//!
//! Two sources of evidence feed one decision rule ([`decide`]):
//! - [`compare_results`] (`parlab compare A.json B.json`) compares two saved runs sample by
//!   sample: ratio of medians with a bootstrap CI, Mann-Whitney U on the raw samples. Samples
//!   from one process are not independent trials, so on a noisy shared machine this is a
//!   report, and a weak gate.
//! - [`ab`] (`parlab ab OLD NEW SCENARIO`) runs both binaries interleaved, one process per run,
//!   in blocks rotating the order of old, new and old again, and tests the paired per-run
//!   ratios; a null control (the old binary against itself) says whether the machine was quiet
//!   enough to judge at all: its interval must fit within the threshold.
//!
//! A gate that cannot decide protects nothing, so undecided outcomes are named and counted:
//! `inconclusive` (the interval straddles the threshold), `insufficient data` (fewer than
//! [`MIN_SAMPLES`] per side: no interval is shown at all) and a noisy null control; with
//! `--fail-on-inconclusive` each of them fails the gate with its own exit code
//! ([`Outcome::code`]).

use serde::{Deserialize, Serialize};

use crate::identity::{self, CaseIdentity, DuplicateCase};
use crate::results::{CaseResult, Results, Status};
use crate::stats::{self, Rng};

pub mod ab;
pub mod hypothesis;
pub mod render;

/// The gate's verdict on one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly slower, and the whole CI of the slowdown lies beyond the threshold.
    Regressed,
    /// Significantly faster, with the whole CI beyond the threshold.
    Improved,
    /// The whole CI lies within the threshold.
    Unchanged,
    /// Too noisy to tell; `more_needed` says how many more samples or runs would decide.
    Inconclusive,
    /// Fewer than [`MIN_SAMPLES`] per side: too few to estimate the noise, so no interval and
    /// no verdict (least of all `unchanged`).
    InsufficientData,
}

/// The fewest samples (or runs) per side behind any interval or verdict: below it the
/// bootstrap and t-intervals have no honest width (with 3 samples the bootstrap's median takes
/// at most a handful of values).
pub const MIN_SAMPLES: usize = 5;

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
            Verdict::InsufficientData => "insufficient data",
        }
    }

    /// The gate could not decide this case.
    pub fn undecided(self) -> bool {
        matches!(self, Verdict::Inconclusive | Verdict::InsufficientData)
    }
}

/// Gate settings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GateOptions {
    /// Relative change that matters, e.g. 0.05 for 5%.
    pub threshold: f64,
    /// Significance level of the test.
    pub alpha: f64,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions { threshold: 0.05, alpha: 0.01 }
    }
}

/// The evidence about one case: ratio current/baseline (> 1 is slower) with its 95% CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    /// Samples (or runs) per side behind the evidence.
    pub n: usize,
}

/// The decision rule shared by `compare` and `ab`. Returns the verdict and, when undecided,
/// about how many more samples (or runs) per side would decide.
pub fn decide(e: &Evidence, opts: GateOptions) -> (Verdict, Option<usize>) {
    if e.n < MIN_SAMPLES {
        return (Verdict::InsufficientData, Some(MIN_SAMPLES - e.n));
    }
    let up = 1.0 + opts.threshold;
    let down = 1.0 / up;
    let significant = e.p_value < opts.alpha;
    if significant && e.ci_low > up {
        return (Verdict::Regressed, None);
    }
    if significant && e.ci_high < down {
        return (Verdict::Improved, None);
    }
    if e.ci_low >= down && e.ci_high <= up {
        return (Verdict::Unchanged, None);
    }
    // The CI's half-width shrinks like 1/sqrt(n): find the n at which it would clear the
    // nearest boundary, on the log scale where ratios are symmetric.
    let (est, half) = (e.ratio.ln(), (e.ci_high.ln() - e.ci_low.ln()) / 2.0);
    let room = (up.ln() - est.abs()).abs();
    let n = e.n as f64;
    let needed = if half.is_finite() && half > 0.0 && half > room {
        // The CI's half-width shrinks like 1/sqrt(n): the n at which it would clear the
        // nearest boundary, on the log scale where ratios are symmetric.
        (room > 0.0).then(|| n * (half / room).powi(2))
    } else {
        // The CI already clears the boundary; only significance is missing. The test's z grows
        // like sqrt(n): the n at which it would reach the level alpha.
        let (z, z_alpha) = (
            hypothesis::normal_quantile(1.0 - e.p_value / 2.0),
            hypothesis::normal_quantile(1.0 - opts.alpha / 2.0),
        );
        (z > 0.0).then(|| n * (z_alpha / z).powi(2))
    };
    let needed = needed.map(|total| (total.ceil() as usize).saturating_sub(e.n).max(1));
    (Verdict::Inconclusive, needed)
}

/// One case present in both runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseComparison {
    /// The case's identity ([`CaseIdentity`]) as text.
    pub key: String,
    pub workload: String,
    pub strategy: String,
    pub workers: usize,
    pub effective_size: u64,
    pub baseline_median_ns: f64,
    pub current_median_ns: f64,
    pub evidence: Evidence,
    pub verdict: Verdict,
    /// When inconclusive: about how many more samples (or runs) per side would decide.
    pub more_needed: Option<usize>,
}

/// A whole comparison, as written to `compare.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub method: String,
    pub options: GateOptions,
    pub baseline: String,
    pub current: String,
    pub cases: Vec<CaseComparison>,
    /// Cases in only one of the runs, or not measured in both.
    pub skipped: Vec<String>,
    /// Cases that were `ok` in the baseline and are not now (wrong answer, panic, timeout):
    /// the worst regression of all, and a failure of the gate.
    #[serde(default)]
    pub broken: Vec<String>,
    /// For `ab`: the null control (old binary against itself), and whether it was quiet.
    #[serde(default)]
    pub null_control: Vec<CaseComparison>,
}

impl CaseComparison {
    /// For a null control (old against old): the machine was quiet enough to judge this case,
    /// i.e. the interval of a ratio whose truth is 1 fits within ±threshold. A wider one could
    /// not tell a change of the threshold from none, even when it shows no significant change.
    pub fn quiet(&self, opts: GateOptions) -> bool {
        let up = 1.0 + opts.threshold;
        let e = &self.evidence;
        e.n >= MIN_SAMPLES && e.ci_low >= 1.0 / up && e.ci_high <= up
    }
}

/// What a gate run concluded, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing regressed, and every case was decided (or undecided cases are allowed).
    Pass,
    /// A case regressed, or broke (ok before, failing now).
    Regressed,
    /// The gate could not decide: the null control was too noisy, or (with
    /// `--fail-on-inconclusive`) a case was inconclusive or had too little data.
    Undecided,
}

impl Outcome {
    /// The process exit code: 0 pass, 1 regression, 3 the gate could not decide (2 is bad input,
    /// reported before any comparison).
    pub fn code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Regressed => 1,
            Outcome::Undecided => 3,
        }
    }
}

impl Comparison {
    pub fn count(&self, v: Verdict) -> usize {
        self.cases.iter().filter(|c| c.verdict == v).count()
    }
    /// Cases the gate could not decide (inconclusive or insufficient data).
    pub fn undecided(&self) -> usize {
        self.cases.iter().filter(|c| c.verdict.undecided()).count()
    }
    /// Null-control cases too wide (or shifted) to judge the threshold: the machine was too noisy
    /// for them. `null_control[i]` is the null control of `cases[i]`.
    pub fn noisy_cases(&self) -> Vec<&CaseComparison> {
        self.null_control.iter().filter(|c| !c.quiet(self.options)).collect()
    }
    pub fn noisy(&self) -> bool {
        !self.noisy_cases().is_empty()
    }
    /// The gate's conclusion. A broken case fails whatever the noise, and so does a regression
    /// of a case whose null control was quiet (its evidence is sound, whatever other cases'
    /// noise). Otherwise a noisy null control voids the verdicts (a regression of a noisy case
    /// could be the noise); then undecided cases fail only when `fail_on_inconclusive`.
    pub fn outcome(&self, fail_on_inconclusive: bool) -> Outcome {
        // `compare` has no null control: its cases stand on their own evidence.
        let quiet = |i: usize| self.null_control.get(i).is_none_or(|n| n.quiet(self.options));
        let trusted_regression =
            self.cases.iter().enumerate().any(|(i, c)| c.verdict == Verdict::Regressed && quiet(i));
        if !self.broken.is_empty() || trusted_regression {
            Outcome::Regressed
        } else if self.noisy() || (fail_on_inconclusive && self.undecided() > 0) {
            Outcome::Undecided
        } else {
            Outcome::Pass
        }
    }
}

/// Why two results files cannot be compared (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{baseline} has schema version {a} but {current} has {b}; re-run one of them with this parlab")]
    Schema { baseline: String, current: String, a: u32, b: u32 },
    #[error(
        "{0} has no measured cases: every case failed or was skipped (see the status column); re-run it"
    )]
    Empty(String),
    #[error(
        "{baseline} and {current} have no case in common (same workload, strategy, workers, size, params, \
         tunables and seed)"
    )]
    Disjoint { baseline: String, current: String },
    #[error(transparent)]
    Duplicate(#[from] DuplicateCase),
}

/// How `compare` (and `run --baseline`) weighs evidence, said plainly in every output.
pub const SINGLE_RUNS: &str = "single runs compared: one process run against one, sample by sample \
    (ratio of medians with a bootstrap 95% CI, Mann-Whitney U on the raw samples); the variation \
    between process runs is not measured, so the interval may be too narrow: gate with `parlab ab`, \
    which compares interleaved process runs";

/// Added to the method when cases measured in several processes were compared by their
/// process medians.
pub const BY_PROCESS: &str = "cases measured in at least 5 processes on both sides are compared \
    by their process medians (one number per process: the samples within one process share its \
    memory layout and its moment, so they are not independent runs)";

/// Added when some case had process medians on one side only, or fewer than 5 a side.
pub const POOLED_PROCESSES: &str = "a case measured in several processes on one side only, or in \
    fewer than 5 a side, gets no verdict (insufficient data): its pooled samples would read the \
    spread between processes as a change, and fewer than 5 processes cannot decide; the ratio \
    shown is of its pooled samples";

/// How a case's two sides were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// Sample by sample (single-process runs).
    Samples,
    /// By process medians, both sides measured in enough processes.
    ProcessMedians,
    /// Sample by sample although at least one side had several processes.
    PooledProcesses,
}

/// The numbers a saved case is compared by: its process medians when both sides were measured
/// in at least [`MIN_SAMPLES`] processes (fewer could never reach a verdict), else its samples.
pub fn units(b: &CaseResult, c: &CaseResult) -> (Vec<f64>, Vec<f64>, Units) {
    let medians = |r: &CaseResult| r.processes.as_ref().map(|p| p.medians_ns.clone()).filter(|m| m.len() > 1);
    match (medians(b), medians(c)) {
        (Some(mb), Some(mc)) if mb.len().min(mc.len()) >= MIN_SAMPLES => (mb, mc, Units::ProcessMedians),
        (None, None) => (b.samples_ns.clone(), c.samples_ns.clone(), Units::Samples),
        _ => (b.samples_ns.clone(), c.samples_ns.clone(), Units::PooledProcesses),
    }
}

/// Bootstrap resamples for the ratio's CI.
const RESAMPLES: usize = 2000;

/// Compares two runs sample by sample.
pub fn compare_results(
    baseline: &Results,
    baseline_name: &str,
    current: &Results,
    current_name: &str,
    opts: GateOptions,
) -> Result<Comparison, CompareError> {
    if !crate::results::comparable_schemas(baseline.schema_version, current.schema_version) {
        return Err(CompareError::Schema {
            baseline: baseline_name.into(),
            current: current_name.into(),
            a: baseline.schema_version,
            b: current.schema_version,
        });
    }
    for (r, name) in [(baseline, baseline_name), (current, current_name)] {
        if !r.cases.iter().any(|c| c.status == Status::Ok) {
            return Err(CompareError::Empty(name.into()));
        }
        identity::check_unique(&r.cases, name)?;
    }
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    let mut broken = Vec::new();
    let (mut by_process, mut pooled_processes) = (false, false);
    for b in &baseline.cases {
        let id = CaseIdentity::of(b);
        let key = id.to_string();
        // The exact case, else the one a file from before launches were recorded names.
        let exact = current.cases.iter().find(|c| CaseIdentity::of(c) == id);
        let Some(c) = exact.or_else(|| current.cases.iter().find(|c| CaseIdentity::of(c).pairs_with(&id)))
        else {
            skipped.push(format!("{key}: not in {current_name}"));
            continue;
        };
        if b.status == Status::Ok && c.status.is_failure() {
            broken.push(format!("{key}: ok in {baseline_name}, {} in {current_name}", c.status.label()));
            continue;
        }
        if b.status != Status::Ok || c.status != Status::Ok {
            skipped.push(format!("{key}: not ok in both ({} / {})", b.status.label(), c.status.label()));
            continue;
        }
        let (xa, xb, how) = units(b, c);
        by_process |= how == Units::ProcessMedians;
        pooled_processes |= how == Units::PooledProcesses;
        let evidence = sample_evidence(&xa, &xb, &key);
        let (verdict, more_needed) = match how {
            // Its samples share their processes: pooled, a spread between processes would read
            // as a shift (a third of same-build comparisons at 3 processes a side), and too few
            // processes cannot reach a verdict on their own.
            Units::PooledProcesses => (Verdict::InsufficientData, None),
            _ => decide(&evidence, opts),
        };
        cases.push(CaseComparison {
            key,
            workload: b.workload.clone(),
            strategy: b.strategy.clone(),
            workers: b.workers,
            effective_size: b.effective_size,
            // The medians of what was compared (process medians, or samples), the same centres
            // the ratio is taken between.
            baseline_median_ns: sorted_median(&xa),
            current_median_ns: sorted_median(&xb),
            evidence,
            verdict,
            more_needed,
        });
    }
    let in_baseline: std::collections::HashSet<CaseIdentity> =
        baseline.cases.iter().map(CaseIdentity::of).collect();
    for c in &current.cases {
        let id = CaseIdentity::of(c);
        if !in_baseline.contains(&id) {
            skipped.push(format!("{id}: not in {baseline_name}"));
        }
    }
    if cases.is_empty() && broken.is_empty() {
        return Err(CompareError::Disjoint { baseline: baseline_name.into(), current: current_name.into() });
    }
    Ok(Comparison {
        method: {
            let mut method = SINGLE_RUNS.to_string();
            for (said, text) in [(by_process, BY_PROCESS), (pooled_processes, POOLED_PROCESSES)] {
                if said {
                    method = format!("{method}; {text}");
                }
            }
            method
        },
        options: opts,
        baseline: baseline_name.into(),
        current: current_name.into(),
        cases,
        skipped,
        broken,
        null_control: Vec::new(),
    })
}

fn sorted_median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    stats::median(&v)
}

/// Ratio of medians (current / baseline) with a percentile bootstrap CI, and the U test.
pub fn sample_evidence(baseline: &[f64], current: &[f64], seed_text: &str) -> Evidence {
    let med = sorted_median;
    let ratio = med(current) / med(baseline);
    let seed = seed_text.bytes().fold(0xC0FFEEu64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let mut rng = Rng::new(seed);
    let mut ra = vec![0.0; baseline.len()];
    let mut rb = vec![0.0; current.len()];
    let mut ratios: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            ra.iter_mut().for_each(|x| *x = baseline[rng.below(baseline.len())]);
            rb.iter_mut().for_each(|x| *x = current[rng.below(current.len())]);
            med(&rb) / med(&ra)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    Evidence {
        ratio,
        ci_low: stats::quantile(&ratios, 0.025),
        ci_high: stats::quantile(&ratios, 0.975),
        p_value: hypothesis::mann_whitney_u(baseline, current),
        n: baseline.len().min(current.len()),
    }
}

/// Evidence from paired per-run estimates (`ab`): the geometric mean of the paired ratios
/// with a t-interval on the log scale, and the exact sign-flip test.
pub fn paired_evidence(baseline_runs: &[f64], current_runs: &[f64]) -> Evidence {
    let d: Vec<f64> = baseline_runs.iter().zip(current_runs).map(|(a, b)| (b / a).ln()).collect();
    let k = d.len();
    let mean = stats::mean(&d);
    let half = if k >= 2 {
        hypothesis::t_975(k - 1) * stats::std_dev(&d) / (k as f64).sqrt()
    } else {
        f64::INFINITY
    };
    Evidence {
        ratio: mean.exp(),
        ci_low: (mean - half).exp(),
        ci_high: (mean + half).exp(),
        p_value: hypothesis::sign_flip(&d),
        n: k,
    }
}

#[cfg(test)]
mod tests;
