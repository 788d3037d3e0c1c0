//! The summary table's rows as text cells, shared by the terminal, `summary.md` and the HTML
//! report: the per-workload case tables, the workload x strategy summary grid, and the grouping
//! of cases by `[[workload]]` entry that every report walks.

use crate::results::{CaseResult, Results, Status};
use crate::scenario::WorkloadPlan;
use crate::strategy;
use crate::units::{format_count, format_ns, format_si};

/// The columns of every per-workload table (and of [`row`]); [`tables`] may add [`LATENCY`].
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

/// The optional column of one-way latency, for workloads that report it (`ping_pong`).
pub const LATENCY: &str = "latency";
/// Where [`LATENCY`] goes among the [`HEADER`] columns: after the median's CI, before throughput.
const LATENCY_AT: usize = 6;
/// The optional column of the instruction set the kernel ran with, for workloads whose kernels
/// have several (see `workload::simd`); it goes just before the status.
pub const ISA: &str = "isa";

/// One table per workload, in scenario order, with the verdict line for each.
pub struct WorkloadTable {
    pub workload: String,
    /// [`HEADER`], with [`LATENCY`] when a case of the workload has a latency.
    pub header: Vec<&'static str>,
    /// One row per case, a cell per header column.
    pub rows: Vec<Vec<String>>,
    pub verdict: String,
}

impl WorkloadTable {
    /// Whether column `i` holds numbers (workers to efficiency), as opposed to names or status.
    pub fn numeric(&self, i: usize) -> bool {
        i >= 2 && i + 1 < self.header.len() && self.header[i] != ISA
    }
}

pub fn tables(results: &Results) -> Vec<WorkloadTable> {
    groups(results)
        .into_iter()
        .map(|g| {
            let latency = g.cases.iter().any(|c| c.latency_ns.is_some());
            let isa = g.cases.iter().any(|c| c.isa.is_some());
            let mut header = HEADER.to_vec();
            if latency {
                header.insert(LATENCY_AT, LATENCY);
            }
            if isa {
                header.insert(header.len() - 1, ISA);
            }
            let rows = g
                .cases
                .iter()
                .map(|c| {
                    let mut cells = row(c).to_vec();
                    if latency {
                        cells.insert(LATENCY_AT, c.latency_ns.map_or("-".into(), format_ns));
                    }
                    if isa {
                        cells.insert(cells.len() - 1, c.isa.clone().unwrap_or_else(|| "-".into()));
                    }
                    cells
                })
                .collect();
            WorkloadTable { header, rows, verdict: verdict_for(&g.label, &g.cases), workload: g.label }
        })
        .collect()
}

/// The cases of one `[[workload]]` entry, in the order they ran.
pub struct Group<'a> {
    /// Position of the entry in the scenario.
    pub index: usize,
    pub plan: &'a WorkloadPlan,
    /// The kind, with `#1`, `#2`, ... when several entries share it.
    pub label: String,
    pub cases: Vec<&'a CaseResult>,
}

/// Cases grouped by `[[workload]]` entry, in scenario order; entries without cases are left out.
pub fn groups(results: &Results) -> Vec<Group<'_>> {
    let specs = results.scenario.cases();
    let workloads = &results.scenario.workloads;
    // Which entry a case belongs to: by its id when the plan still matches, else by kind.
    let index_of = |case: &CaseResult| {
        specs
            .get(case.id)
            .filter(|s| s.workload == case.workload)
            .map(|s| s.workload_index)
            .or_else(|| workloads.iter().position(|w| w.kind == case.workload))
    };
    let mut cases: Vec<Vec<&CaseResult>> = vec![Vec::new(); workloads.len()];
    for case in &results.cases {
        if let Some(i) = index_of(case) {
            cases[i].push(case);
        }
    }
    workloads
        .iter()
        .zip(cases)
        .enumerate()
        .filter(|(_, (_, cases))| !cases.is_empty())
        .map(|(index, (plan, cases))| {
            let same: Vec<usize> =
                workloads.iter().enumerate().filter(|(_, w)| w.kind == plan.kind).map(|(i, _)| i).collect();
            let label = if same.len() > 1 {
                let n = same.iter().position(|&i| i == index).unwrap_or(0) + 1;
                format!("{} #{n}", plan.kind)
            } else {
                plan.kind.clone()
            };
            Group { index, plan, label, cases }
        })
        .collect()
}

/// The best verified speedup of one strategy on one workload, and where it was measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Best {
    pub speedup: f64,
    pub workers: usize,
    pub effective_size: u64,
}

/// One cell of the summary grid: a strategy on a workload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// How many cases the strategy had on the workload (0: not in the scenario).
    pub cases: usize,
    pub best: Option<Best>,
    /// Cases that failed (verification, panic, timeout, error): never hidden behind a best.
    pub failed: usize,
    /// The status of the first case when none was measured and none failed (unsupported, ...).
    pub not_run: Option<Status>,
}

impl Cell {
    /// `3.81x @4w`, `FAILED`, `unsupported`, `3.81x @4w, 1 FAILED`, or `-` when not run.
    pub fn text(&self) -> String {
        let mut text = match (&self.best, self.failed, self.not_run) {
            (Some(b), _, _) => format!("{:.2}x @{}w", b.speedup, b.workers),
            (None, 0, Some(status)) => status.label().to_string(),
            (None, 0, None) => "-".to_string(),
            (None, _, _) => "FAILED".to_string(),
        };
        if self.best.is_some() && self.failed > 0 {
            text.push_str(&format!(", {} FAILED", self.failed));
        }
        text
    }
}

/// One row of the summary grid: a workload, one cell per strategy, and the winner.
pub struct SummaryRow {
    pub workload: String,
    pub cells: Vec<Cell>,
    /// Index into the cells of the strategy with the best verified speedup.
    pub winner: Option<usize>,
}

/// Workload x strategy: the best verified speedup over sequential anywhere in the sweep.
pub struct SummaryGrid {
    /// Parallel strategies, in registry order (then any unknown names, in order of appearance).
    pub strategies: Vec<String>,
    pub rows: Vec<SummaryRow>,
}

impl SummaryGrid {
    pub const TITLE: &'static str = "Best speedup over sequential (at that many workers)";

    /// The winner's cell as text, e.g. `rayon (3.81x)`, or `-` when nothing verified.
    pub fn winner_text(&self, row: &SummaryRow) -> String {
        match row.winner {
            Some(i) => {
                format!("{} ({:.2}x)", self.strategies[i], row.cells[i].best.map_or(0.0, |b| b.speedup))
            }
            None => "-".to_string(),
        }
    }

    /// The header row: `workload`, one column per strategy, `winner`.
    pub fn header(&self) -> Vec<String> {
        let mut h = vec!["workload".to_string()];
        h.extend(self.strategies.iter().cloned());
        h.push("winner".to_string());
        h
    }

    /// Every row as text cells, in the order of [`SummaryGrid::header`].
    pub fn text_rows(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| {
                let mut cells = vec![r.workload.clone()];
                cells.extend(r.cells.iter().map(Cell::text));
                cells.push(self.winner_text(r));
                cells
            })
            .collect()
    }
}

pub fn summary(results: &Results) -> SummaryGrid {
    let groups = groups(results);
    let mut strategies: Vec<String> = Vec::new();
    for g in &groups {
        for name in g.plan.strategies.iter().chain(g.cases.iter().map(|c| &c.strategy)) {
            if !strategies.contains(name) && !is_sequential(name) {
                strategies.push(name.clone());
            }
        }
    }
    strategies.sort_by_key(|name| strategy_rank(name));
    let rows = groups
        .iter()
        .map(|g| {
            let cells: Vec<Cell> = strategies
                .iter()
                .map(|s| {
                    let cases: Vec<&&CaseResult> = g.cases.iter().filter(|c| &c.strategy == s).collect();
                    let best = cases
                        .iter()
                        .filter(|c| c.status == Status::Ok)
                        .filter_map(|c| {
                            c.speedup.filter(|s| s.is_finite()).map(|speedup| Best {
                                speedup,
                                workers: c.workers,
                                effective_size: c.effective_size,
                            })
                        })
                        .max_by(|a, b| a.speedup.total_cmp(&b.speedup));
                    let failed = cases.iter().filter(|c| c.status.is_failure()).count();
                    let not_run = match (best, failed) {
                        (None, 0) => cases.iter().map(|c| c.status).find(|s| *s != Status::Ok),
                        _ => None,
                    };
                    Cell { cases: cases.len(), best, failed, not_run }
                })
                .collect();
            let winner = cells
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.best.map(|b| (i, b.speedup)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i);
            SummaryRow { workload: g.label.clone(), cells, winner }
        })
        .collect();
    SummaryGrid { strategies, rows }
}

/// Whether `name` is the sequential baseline.
pub fn is_sequential(name: &str) -> bool {
    strategy::find(name).is_some_and(|s| s.is_sequential())
}

/// Position of a strategy in the registry; unknown names sort after every known one.
pub fn strategy_rank(name: &str) -> usize {
    strategy::STRATEGIES.iter().position(|s| s.name() == name).unwrap_or(strategy::STRATEGIES.len())
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
    verdict_for(cases.first().map_or("", |c| c.workload.as_str()), cases)
}

/// [`verdict`], naming the workload `workload` (e.g. a group's label, `faulty #2`).
pub fn verdict_for(workload: &str, cases: &[&CaseResult]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_goes_between_the_ci_and_throughput() {
        assert_eq!(HEADER[LATENCY_AT - 1], "95% CI");
        assert_eq!(HEADER[LATENCY_AT], "throughput");
    }
}
