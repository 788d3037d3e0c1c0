//! The verdicts on synthetic samples with known answers.

use super::*;
use crate::stats::Rng;

/// `n` samples around `center` with relative noise `noise` (uniform), seeded.
fn samples(center: f64, noise: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| center * (1.0 + noise * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)))
        .collect()
}

const OPTS: GateOptions = GateOptions { threshold: 0.05, alpha: 0.01 };

#[test]
fn clearly_slower_is_regressed() {
    let e = sample_evidence(&samples(100.0, 0.02, 30, 1), &samples(120.0, 0.02, 30, 2), "x");
    assert!((e.ratio - 1.2).abs() < 0.02, "{e:?}");
    assert!(e.p_value < 1e-6);
    assert_eq!(decide(&e, OPTS).0, Verdict::Regressed);
}

#[test]
fn clearly_faster_is_improved() {
    let e = sample_evidence(&samples(100.0, 0.02, 30, 1), &samples(80.0, 0.02, 30, 2), "x");
    assert_eq!(decide(&e, OPTS).0, Verdict::Improved);
}

#[test]
fn clearly_the_same_is_unchanged() {
    let e = sample_evidence(&samples(100.0, 0.02, 30, 1), &samples(100.0, 0.02, 30, 2), "x");
    assert!(e.p_value > 0.01, "{e:?}");
    assert_eq!(decide(&e, OPTS), (Verdict::Unchanged, None));
}

#[test]
fn a_significant_change_within_the_threshold_is_unchanged() {
    let e = sample_evidence(&samples(100.0, 0.01, 40, 1), &samples(102.0, 0.01, 40, 2), "x");
    assert!(e.p_value < 0.01, "the 2% shift is real: {e:?}");
    assert_eq!(decide(&e, OPTS).0, Verdict::Unchanged);
}

#[test]
fn too_noisy_is_inconclusive_and_says_how_many_more() {
    let e = sample_evidence(&samples(100.0, 0.8, 6, 1), &samples(108.0, 0.8, 6, 2), "x");
    let (v, more) = decide(&e, OPTS);
    assert_eq!(v, Verdict::Inconclusive, "{e:?}");
    assert!(more.unwrap() > 0);
}

#[test]
fn decide_uses_the_ci_and_the_p_value() {
    let ev = |ratio, lo, hi, p| Evidence { ratio, ci_low: lo, ci_high: hi, p_value: p, n: 10 };
    assert_eq!(decide(&ev(1.10, 1.07, 1.13, 0.001), OPTS).0, Verdict::Regressed);
    // Beyond the threshold but not significant: not a regression.
    assert_eq!(decide(&ev(1.10, 1.07, 1.13, 0.2), OPTS).0, Verdict::Inconclusive);
    // Significant but the CI reaches under the threshold.
    let (v, more) = decide(&ev(1.08, 1.02, 1.14, 0.001), OPTS);
    assert_eq!(v, Verdict::Inconclusive);
    // Half-width ~0.056 in logs, room ~0.028: about four times the samples, 30 more.
    assert!((25..=40).contains(&more.unwrap()), "{more:?}");
    assert_eq!(decide(&ev(0.90, 0.88, 0.92, 0.001), OPTS).0, Verdict::Improved);
    // The CI clears the threshold but the test is not yet significant: more samples for the test.
    let (v, more) = decide(&ev(1.30, 1.28, 1.32, 0.012), OPTS);
    assert_eq!(v, Verdict::Inconclusive);
    // z(0.012) ~ 2.51, z(0.01) ~ 2.58: about 6% more samples, at least one.
    assert_eq!(more, Some(1));
    let (_, more) = decide(&ev(1.30, 1.28, 1.32, 0.2), OPTS);
    assert!((10..=40).contains(&more.unwrap()), "{more:?}");
}

#[test]
fn paired_runs_detect_a_consistent_shift() {
    let a = [100.0, 103.0, 99.0, 101.0, 102.0, 98.0, 100.0, 101.0];
    let b: Vec<f64> = a.iter().map(|x| x * 1.10).collect();
    let e = paired_evidence(&a, &b);
    assert!((e.ratio - 1.10).abs() < 1e-9);
    assert!((e.p_value - 2.0 / 256.0).abs() < 1e-12);
    assert_eq!(decide(&e, OPTS).0, Verdict::Regressed);
    let same = paired_evidence(&a, &a);
    assert_eq!(decide(&same, OPTS).0, Verdict::Unchanged);
}

fn ev(ratio: f64, lo: f64, hi: f64, p: f64, n: usize) -> Evidence {
    Evidence { ratio, ci_low: lo, ci_high: hi, p_value: p, n }
}

#[test]
fn below_the_minimum_there_is_no_verdict_not_even_unchanged() {
    // A tight interval around 1 from 4 samples would be `unchanged` by the interval alone.
    assert_eq!(decide(&ev(1.0, 0.99, 1.01, 0.9, 4), OPTS), (Verdict::InsufficientData, Some(1)));
    assert_eq!(decide(&ev(1.5, 1.4, 1.6, 0.001, 2), OPTS).0, Verdict::InsufficientData);
    assert_eq!(decide(&ev(1.0, 0.99, 1.01, 0.9, MIN_SAMPLES), OPTS).0, Verdict::Unchanged);
    // From raw samples too: three per side never decide.
    let e = sample_evidence(&samples(100.0, 0.01, 3, 1), &samples(100.0, 0.01, 3, 2), "x");
    assert_eq!(decide(&e, OPTS).0, Verdict::InsufficientData);
}

fn comparison(cases: Vec<(Verdict, Evidence)>, nulls: Vec<Evidence>) -> Comparison {
    let case = |(verdict, evidence): (Verdict, Evidence)| CaseComparison {
        key: "k".into(),
        workload: "spin".into(),
        strategy: "sequential".into(),
        workers: 1,
        effective_size: 4,
        baseline_median_ns: 1.0,
        current_median_ns: 1.0,
        evidence,
        verdict,
        more_needed: None,
    };
    Comparison {
        method: "test".into(),
        options: OPTS,
        baseline: "a".into(),
        current: "b".into(),
        cases: cases.into_iter().map(case).collect(),
        skipped: vec![],
        broken: vec![],
        null_control: nulls.into_iter().map(|e| case((decide(&e, OPTS).0, e))).collect(),
    }
}

#[test]
fn fail_on_inconclusive_turns_an_undecided_gate_into_exit_3() {
    let unchanged = (Verdict::Unchanged, ev(1.0, 0.99, 1.01, 0.5, 8));
    let inconclusive = (Verdict::Inconclusive, ev(1.04, 0.98, 1.10, 0.2, 8));
    let few = (Verdict::InsufficientData, ev(1.0, 0.99, 1.01, 0.5, 3));
    let regressed = (Verdict::Regressed, ev(1.2, 1.15, 1.25, 0.001, 8));
    let c = comparison(vec![unchanged.clone(), inconclusive.clone()], vec![]);
    assert_eq!(c.outcome(false), Outcome::Pass);
    assert_eq!(c.outcome(true), Outcome::Undecided);
    assert_eq!(c.outcome(true).code(), 3);
    let c = comparison(vec![unchanged.clone(), few], vec![]);
    assert_eq!((c.outcome(false), c.outcome(true)), (Outcome::Pass, Outcome::Undecided));
    // A decided regression outranks undecided cases.
    let c = comparison(vec![regressed, inconclusive], vec![]);
    assert_eq!(c.outcome(true).code(), 1);
    let mut c = comparison(vec![unchanged], vec![]);
    assert_eq!(c.outcome(true).code(), 0);
    c.broken.push("x: ok before, timed out now".into());
    assert_eq!(c.outcome(false).code(), 1);
}

#[test]
fn a_null_control_too_wide_for_the_threshold_is_a_noisy_machine() {
    let unchanged = (Verdict::Unchanged, ev(1.0, 0.99, 1.01, 0.5, 8));
    // Old against old: no significant change (p = 0.6), but the interval reaches past +5%: a
    // 5% regression could not have been told from nothing.
    let wide = ev(1.01, 0.96, 1.07, 0.6, 8);
    assert_eq!(decide(&wide, OPTS).0, Verdict::Inconclusive, "not a change, so the old rule passed it");
    let c = comparison(vec![unchanged.clone()], vec![wide]);
    assert!(c.noisy());
    assert_eq!(c.outcome(false), Outcome::Undecided, "noisy is undecided even without the flag");
    // Within the threshold on both sides: quiet.
    let c = comparison(vec![unchanged.clone()], vec![ev(1.0, 0.97, 1.03, 0.9, 8)]);
    assert!(!c.noisy());
    assert_eq!(c.outcome(true), Outcome::Pass);
    // A significant shift of old against old is noise too.
    let c = comparison(vec![unchanged.clone()], vec![ev(1.10, 1.08, 1.12, 0.001, 8)]);
    assert!(c.noisy());
}

#[test]
fn a_regression_counts_where_its_own_null_control_was_quiet() {
    let regressed = (Verdict::Regressed, ev(1.10, 1.07, 1.13, 0.001, 20));
    let unchanged = (Verdict::Unchanged, ev(1.0, 0.99, 1.01, 0.5, 20));
    let quiet = ev(1.0, 0.98, 1.02, 0.8, 20);
    let wide = ev(1.0, 0.93, 1.08, 0.9, 20);
    // Case 0 regressed with a quiet null control; case 1's null control is noisy: still a
    // regression, sound on its own evidence.
    let c = comparison(vec![regressed.clone(), unchanged.clone()], vec![quiet.clone(), wide.clone()]);
    assert!(c.noisy());
    assert_eq!(c.outcome(true), Outcome::Regressed);
    // The regressed case's own null control is noisy: it could be the noise.
    let c = comparison(vec![regressed, unchanged], vec![wide, quiet]);
    assert_eq!(c.outcome(false), Outcome::Undecided);
}

/// A saved case measured in five processes: `medians` per process, each with 20 samples
/// within ±0.5% of its median.
fn in_processes(case: &mut CaseResult, medians: &[f64]) {
    case.samples_ns = medians.iter().flat_map(|&m| samples(m, 0.01, 20, m as u64)).collect();
    case.processes = Some(crate::results::ProcessSpread {
        count: medians.len(),
        medians_ns: medians.to_vec(),
        align_offsets: vec![0; medians.len()],
        between_cv: 0.07,
        groups: 1,
        rerun_low_ns: None,
        rerun_high_ns: None,
        span_s: None,
    });
}

#[test]
fn cases_measured_in_several_processes_are_compared_by_their_process_medians() {
    let mut base: Results = serde_json::from_str(include_str!("../../tests/fixtures/lab.json")).unwrap();
    let k = base.cases.iter().position(|c| c.status == Status::Ok).unwrap();
    base.cases = vec![base.cases[k].clone()];
    let opts = GateOptions { threshold: 0.03, alpha: 0.01 };
    let medians = [1.0e6, 1.1e6, 0.9e6, 1.05e6, 0.95e6];
    let compare = |base_medians: &[f64], current_medians: &[f64], keep_processes: bool| {
        let (mut b, mut c) = (base.clone(), base.clone());
        in_processes(&mut b.cases[0], base_medians);
        in_processes(&mut c.cases[0], current_medians);
        if !keep_processes {
            b.cases[0].processes = None;
            c.cases[0].processes = None;
        }
        compare_results(&b, "a", &c, "b", opts).unwrap()
    };
    // 8% slower on average, but the processes of each side spread ±10%: five processes a side
    // cannot tell that from the spread between processes. Pooled, the 200 samples would.
    let slower = medians.map(|m| m * 1.08);
    let by_process = compare(&medians, &slower, true);
    assert_eq!(by_process.cases[0].verdict, Verdict::Inconclusive, "{:?}", by_process.cases[0]);
    assert!(by_process.method.contains("process medians"), "{}", by_process.method);
    let pooled = compare(&medians, &slower, false);
    assert_eq!(pooled.cases[0].verdict, Verdict::Regressed, "{:?}", pooled.cases[0]);
    assert!(!pooled.method.contains("process medians"));
    // Twice as slow is beyond the spread: five processes a side decide it (exact U test).
    let twice = compare(&medians, &medians.map(|m| m * 2.0), true);
    assert_eq!(twice.cases[0].verdict, Verdict::Regressed, "{:?}", twice.cases[0]);
    // The headline is the median of the process medians, the centre the ratio is taken from.
    assert_eq!(twice.cases[0].baseline_median_ns, 1.0e6);
    assert_eq!(twice.cases[0].current_median_ns, 2.0e6);
    // Processes on one side only: pooled, and the method says so.
    let (mut b, mut c) = (base.clone(), base.clone());
    in_processes(&mut b.cases[0], &medians);
    in_processes(&mut c.cases[0], &slower);
    c.cases[0].processes = None;
    let one_side = compare_results(&b, "a", &c, "b", opts).unwrap();
    assert!(one_side.method.contains("one side only"), "{}", one_side.method);
    assert_eq!(one_side.cases[0].verdict, Verdict::InsufficientData);
    // Three processes a side of one build, spread ±10%: pooled, their 60 samples a side would
    // look like a change; they get no verdict.
    let same = compare(&medians[..3], &[1.1e6, 0.9e6, 1.05e6], true);
    assert_eq!(same.cases[0].verdict, Verdict::InsufficientData, "{:?}", same.cases[0]);
    let pooled = compare(&medians[..3], &[1.1e6, 0.9e6, 1.05e6], false);
    assert_ne!(pooled.cases[0].verdict, Verdict::InsufficientData, "{:?}", pooled.cases[0]);
}
