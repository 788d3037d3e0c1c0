//! The summary table's rows as text cells, shared by the terminal and `summary.md`.

use crate::results::{CaseResult, Results, Status};
use crate::units::{format_count, format_ns, format_si};

pub const HEADER: [&str; 10] = [
    "workload",
    "strategy",
    "workers",
    "size",
    "median",
    "95% CI",
    "throughput",
    "speedup",
    "efficiency",
    "status",
];

/// One table per workload, in scenario order, with the verdict line for each.
pub struct WorkloadTable {
    pub workload: String,
    pub rows: Vec<[String; 10]>,
    pub verdict: String,
}

pub fn tables(results: &Results) -> Vec<WorkloadTable> {
    let mut out: Vec<WorkloadTable> = Vec::new();
    for (index, w) in results.scenario.workloads.iter().enumerate() {
        let cases: Vec<&CaseResult> =
            results.cases.iter().filter(|c| case_workload_index(results, c) == Some(index)).collect();
        if cases.is_empty() {
            continue;
        }
        out.push(WorkloadTable {
            workload: w.kind.clone(),
            rows: cases.iter().map(|c| row(c)).collect(),
            verdict: verdict(&cases),
        });
    }
    out
}

/// Which `[[workload]]` a case belongs to (two entries may share a kind).
fn case_workload_index(results: &Results, case: &CaseResult) -> Option<usize> {
    let cases = results.scenario.cases();
    cases
        .get(case.id)
        .filter(|s| s.workload == case.workload)
        .map(|s| s.workload_index)
        .or_else(|| results.scenario.workloads.iter().position(|w| w.kind == case.workload))
}

pub fn row(c: &CaseResult) -> [String; 10] {
    let measured = c.stats.as_ref();
    let ci = measured.map_or("-".into(), |s| {
        let half = (s.ci_high - s.ci_low) / 2.0 / s.median * 100.0;
        format!("±{half:.1}%")
    });
    let throughput = c.throughput.as_ref().map_or("-".into(), |t| format_rate(t.median, &t.unit));
    let status = match (&c.status, &c.reason) {
        (Status::Ok, _) => "ok".to_string(),
        (s, Some(r)) => format!("{}: {r}", s.label()),
        (s, None) => s.label().to_string(),
    };
    [
        c.workload.clone(),
        c.strategy.clone(),
        c.workers.to_string(),
        format_count(c.effective_size),
        measured.map_or("-".into(), |s| format_ns(s.median)),
        ci,
        throughput,
        c.speedup.map_or("-".into(), |s| format!("{s:.2}x")),
        c.efficiency.map_or("-".into(), |e| format!("{:.0}%", e * 100.0)),
        status,
    ]
}

/// `19.8 GB/s` from 1.98e10 and `B/s`.
pub fn format_rate(value: f64, unit: &str) -> String {
    let si = format_si(value);
    format!("{}{unit}", si)
}

/// The best verified strategy at the largest worker count measured, and its speedup.
pub fn verdict(cases: &[&CaseResult]) -> String {
    let workload = cases.first().map_or("", |c| c.workload.as_str());
    let failures = cases.iter().filter(|c| c.status.is_failure()).count();
    let top =
        cases.iter().filter(|c| c.speedup.is_some() && c.strategy != "sequential").map(|c| c.workers).max();
    let mut text = match top {
        None => format!("{workload}: no verified parallel case to compare"),
        Some(top) => {
            let best = cases
                .iter()
                .filter(|c| c.workers == top && c.speedup.is_some())
                .max_by(|a, b| a.speedup.partial_cmp(&b.speedup).unwrap_or(std::cmp::Ordering::Equal))
                .expect("a case with a speedup exists");
            format!(
                "{workload}: best at {top} workers is `{}`, speedup {:.2}x over sequential ({:.0}% efficiency)",
                best.strategy,
                best.speedup.unwrap_or(0.0),
                best.efficiency.unwrap_or(0.0) * 100.0
            )
        }
    };
    if failures > 0 {
        text.push_str(&format!("; {failures} case(s) FAILED"));
    }
    text
}
