//! The summary table's rows as text cells, shared by the terminal, `summary.md` and the HTML
//! report: the per-workload case tables, the workload x strategy summary grid, and the grouping
//! of cases by `[[workload]]` entry that every report walks.
//!
//! Cases that were never run (`unsupported`, `unavailable`) get no row each: they are collapsed
//! into one line per reason naming the strategies ([`not_run`]), since a scenario with every
//! strategy has more of them than measured cases. Case notes become numbered footnotes
//! ([`footnotes`]), marked in the status cell, so a caveat shared by many rows is written once.
//!
//! Cases that break their runs into phases, or time items, get detail lines beside their row
//! ([`details`]); runs that span hosts get the hosts and each case's placement ([`spans_hosts`]).
//! A phase is shown as its median per run and its share of the *sum of the phase medians*: the
//! medians of the parts do not add up to the median of the total, so shares of the total would
//! not add up to 100%.
//!
//! A device case's headline includes its transfers; its median cell shows the kernels' own time
//! beside it (`5.00 ms (kernel 1.20 ms)`, the median of the `kernel` phase, [`kernel_median`]),
//! in every table format alike.

use crate::results::{CaseResult, Host, Results, Status};
use crate::scenario::WorkloadPlan;
use crate::stats;
use crate::strategy;
use crate::units::{format_count, format_ns, format_si};
use crate::workload::{self, SpeedupMeaning};

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
    /// One row per case that ran (or failed), a cell per header column.
    pub rows: Vec<Vec<String>>,
    pub verdict: String,
    /// The strategies that never ran, one entry per reason.
    pub not_run: Vec<NotRun>,
    /// Footnote `i + 1` of the rows' status cells.
    pub notes: Vec<String>,
    /// Per row, the case's [`case_label`] and the lines shown beside it ([`details`], mostly
    /// none).
    pub details: Vec<(String, Vec<String>)>,
}

/// Strategies of one workload that were not run, for one reason.
#[derive(Debug, Clone, PartialEq)]
pub struct NotRun {
    pub status: Status,
    pub strategies: Vec<String>,
    /// The reason, with the strategy's name replaced by "each" when it names several.
    pub reason: String,
}

impl NotRun {
    /// `unsupported: mutex, rwlock: <reason>`.
    pub fn text(&self) -> String {
        format!("{}: {}: {}", self.status.label(), self.strategies.join(", "), self.reason)
    }
}

/// Whether a case is collapsed into [`not_run`] instead of having a row.
pub fn collapsed(c: &CaseResult) -> bool {
    matches!(c.status, Status::Unsupported | Status::Unavailable)
}

/// The cases that never ran, grouped by status and reason (the strategy's own name taken out),
/// in order of first appearance; each strategy is named once however many worker counts it had.
pub fn not_run(cases: &[&CaseResult]) -> Vec<NotRun> {
    let mut groups: Vec<(Status, String, Vec<String>, String)> = Vec::new();
    for c in cases.iter().filter(|c| collapsed(c)) {
        let reason = c.reason.clone().unwrap_or_default();
        let generic = reason.replace(&format!("`{}`", c.strategy), "each");
        match groups.iter_mut().find(|g| g.0 == c.status && g.1 == generic) {
            Some(g) if g.2.contains(&c.strategy) => {}
            Some(g) => g.2.push(c.strategy.clone()),
            None => groups.push((c.status, generic, vec![c.strategy.clone()], reason)),
        }
    }
    groups
        .into_iter()
        .map(|(status, generic, strategies, own)| NotRun {
            status,
            reason: if strategies.len() == 1 { own } else { generic },
            strategies,
        })
        .collect()
}

/// The distinct notes of the cases that have rows, in order: footnote `i + 1` is `notes[i]`.
pub fn footnotes(cases: &[&CaseResult]) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    for n in cases.iter().filter(|c| !collapsed(c)).flat_map(|c| &c.notes) {
        if !notes.contains(n) {
            notes.push(n.clone());
        }
    }
    notes
}

/// ` [1,2]`: the footnote numbers of a case's notes, or nothing.
pub fn marks(c: &CaseResult, notes: &[String]) -> String {
    let numbers: Vec<String> = c
        .notes
        .iter()
        .filter_map(|n| notes.iter().position(|m| m == n).map(|i| (i + 1).to_string()))
        .collect();
    if numbers.is_empty() {
        String::new()
    } else {
        format!(" [{}]", numbers.join(","))
    }
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
            let notes = footnotes(&g.cases);
            if isa {
                header.insert(header.len() - 1, ISA);
            }
            let shown: Vec<&&CaseResult> = g.cases.iter().filter(|c| !collapsed(c)).collect();
            let details = shown.iter().map(|c| (case_label(c), details(c))).collect();
            let rows = shown
                .iter()
                .map(|c| {
                    let mut cells = row(c).to_vec();
                    if let Some(status) = cells.last_mut() {
                        status.push_str(&marks(c, &notes));
                    }
                    if latency {
                        cells.insert(LATENCY_AT, c.latency_ns.map_or("-".into(), format_ns));
                    }
                    if isa {
                        cells.insert(cells.len() - 1, c.isa.clone().unwrap_or_else(|| "-".into()));
                    }
                    cells
                })
                .collect();
            WorkloadTable {
                header,
                rows,
                verdict: verdict_for(&g.label, &g.cases),
                not_run: not_run(&g.cases),
                notes,
                details,
                workload: g.label,
            }
        })
        .collect()
}

/// One phase of a case: its median per run and its share of the sum of the phase medians.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseMedian {
    pub name: String,
    pub median_ns: f64,
    /// `median_ns` over the sum of every phase's median (0 to 1).
    pub share: f64,
}

/// The phases of a case, in the order the backend reported them (`other` last): each one's
/// median per run, and its share of the sum of the phase medians (see the module docs).
pub fn phase_medians(c: &CaseResult) -> Vec<PhaseMedian> {
    let medians: Vec<(&str, f64)> = c
        .phases
        .iter()
        .map(|p| {
            let mut sorted = p.samples_ns.clone();
            sorted.sort_by(f64::total_cmp);
            (p.name.as_str(), stats::median(&sorted))
        })
        .collect();
    let sum: f64 = medians.iter().map(|m| m.1).filter(|m| m.is_finite()).sum();
    medians
        .into_iter()
        .map(|(name, median_ns)| PhaseMedian {
            name: name.to_string(),
            median_ns,
            share: if sum > 0.0 { median_ns / sum } else { 0.0 },
        })
        .collect()
}

/// The median per run, with a device case's kernel-only time beside it: `5.00 ms (kernel
/// 1.20 ms)`; empty for a case that was not measured.
pub fn median_text(c: &CaseResult) -> String {
    match (c.median_ns(), kernel_median(c)) {
        (Some(median), Some(kernel)) => format!("{} (kernel {})", format_ns(median), format_ns(kernel)),
        (Some(median), None) => format_ns(median),
        (None, _) => String::new(),
    }
}

/// A device case's kernel-only time: the median of its `kernel` phase, per run. `None` for a
/// case that ran on no device or has no such phase.
pub fn kernel_median(c: &CaseResult) -> Option<f64> {
    c.device.as_ref()?;
    phase_medians(c).into_iter().find(|p| p.name == "kernel").map(|p| p.median_ns)
}

/// `12%`, or `-` for a share that could not be computed.
pub fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.0}%", share * 100.0)
    } else {
        "-".to_string()
    }
}

/// `phases: transfer_in 1.20 ms (12%) · kernel 8.10 ms (81%) · other 700 µs (7%)`, for a case
/// with phases.
pub fn phases_text(c: &CaseResult) -> Option<String> {
    if c.phases.is_empty() {
        return None;
    }
    let parts: Vec<String> = phase_medians(c)
        .iter()
        .map(|p| format!("{} {} ({})", p.name, format_ns(p.median_ns), percent(p.share)))
        .collect();
    Some(format!("phases: {}", parts.join(" · ")))
}

/// `items: p50 1.20 µs · p90 … · p99 … · max … (1.2k items)`, for a case that timed items.
pub fn items_text(c: &CaseResult) -> Option<String> {
    let l = c.item_latency.as_ref()?;
    Some(format!(
        "items: p50 {} · p90 {} · p99 {} · max {} ({} items)",
        format_ns(l.p50_ns),
        format_ns(l.p90_ns),
        format_ns(l.p99_ns),
        format_ns(l.max_ns),
        format_count(l.count)
    ))
}

/// The slowest rank's time and the mean over ranks, per run and (for workloads that count
/// operations) per operation, for a case on several ranks.
pub struct RankTimes {
    pub slowest_ns: f64,
    pub mean_ns: f64,
    /// Per operation: (slowest, mean).
    pub per_op_ns: Option<(f64, f64)>,
}

/// A case's [`RankTimes`], where it ran on ranks and was measured.
pub fn rank_times(c: &CaseResult) -> Option<RankTimes> {
    let (slowest_ns, mean_ns) = (c.median_ns()?, c.rank_mean_median_ns()?);
    // The per-operation figures scale with the run time, as `latency_ns` does with the median.
    let per_op_ns = c.latency_ns.filter(|_| slowest_ns > 0.0).map(|l| (l, l * mean_ns / slowest_ns));
    Some(RankTimes { slowest_ns, mean_ns, per_op_ns })
}

/// `ranks: slowest 12.0 µs · mean 11.0 µs per run (per operation 1.20 µs · 1.10 µs)`.
pub fn ranks_text(c: &CaseResult) -> Option<String> {
    let t = rank_times(c)?;
    let per_op = t
        .per_op_ns
        .map_or(String::new(), |(s, m)| format!(" (per operation {} · {})", format_ns(s), format_ns(m)));
    Some(format!(
        "ranks: slowest {} · mean {} per run{per_op}",
        format_ns(t.slowest_ns),
        format_ns(t.mean_ns)
    ))
}

/// The lines shown beside a case's row: its phases, its item latencies and its ranks' times,
/// where it has them.
pub fn details(c: &CaseResult) -> Vec<String> {
    phases_text(c).into_iter().chain(items_text(c)).chain(ranks_text(c)).collect()
}

/// `rayon`, or for a device case `opencl (NVIDIA H200)` with its settings that differ from
/// the defaults (`opencl (NVIDIA H200, cache=warm, resident)`): the strategy cell of a row.
pub fn strategy_text(c: &CaseResult) -> String {
    match device_text(c) {
        None => c.strategy.clone(),
        Some(d) => format!("{} ({d})", c.strategy),
    }
}

/// `NVIDIA H200, cache=warm, resident`: a device case's device and the settings that differ from
/// the defaults; `None` for a case that ran on no device.
pub fn device_text(c: &CaseResult) -> Option<String> {
    let d = c.device.as_ref()?;
    let parts: Vec<String> = std::iter::once(d.label()).chain(d.settings()).collect();
    Some(parts.join(", "))
}

/// `rayon, 4 workers, size 1M`: a case named in a line of its own.
pub fn case_label(c: &CaseResult) -> String {
    format!(
        "{}, {} worker{}, size {}",
        strategy_text(c),
        c.workers,
        if c.workers == 1 { "" } else { "s" },
        format_count(c.effective_size)
    )
}

/// The hosts of a run: [`Results::hosts`], or the machine alone in files that list none.
pub fn hosts(r: &Results) -> Vec<Host> {
    if r.hosts.is_empty() {
        vec![Host::of(&r.machine)]
    } else {
        r.hosts.clone()
    }
}

/// Whether the run spans hosts: it lists more than one, or a case ran partly on a host other
/// than the first. Only then do reports list the hosts and where each case ran.
pub fn spans_hosts(r: &Results) -> bool {
    let first = r.hosts.first().map_or(r.machine.hostname.as_str(), |h| h.hostname.as_str());
    r.hosts.len() > 1 || r.cases.iter().flat_map(|c| &c.placement).any(|p| p.host != first)
}

/// `rank 0 → node-a (pid 12), rank 1 → node-b (pid 40)`: where a case's processes ran.
pub fn placement_text(c: &CaseResult) -> String {
    let parts: Vec<String> = c
        .placement
        .iter()
        .map(|p| {
            let pid = p.pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
            format!("{} → {}{pid}", p.role, p.host)
        })
        .collect();
    parts.join(", ")
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
    /// The speedup is not parallel scaling ([`SpeedupMeaning::Labelled`]): shown with a `*`.
    pub labelled: bool,
}

/// Whether a case's speedup is labelled as something other than parallel scaling.
pub fn labelled(c: &CaseResult) -> bool {
    workload::find(&c.workload)
        .is_some_and(|w| matches!(workload::speedup_meaning(w, &c.strategy), SpeedupMeaning::Labelled(_)))
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
    /// `3.81x @4w`, `FAILED`, `n/a` (unsupported), `3.81x @4w, 1 FAILED`, or `-` when not in
    /// the scenario. A grid has a column per strategy, so a pair without a version is short.
    pub fn text(&self) -> String {
        let mut text = match (&self.best, self.failed, self.not_run) {
            (Some(b), _, _) => {
                format!("{:.2}x{} @{}w", b.speedup, if b.labelled { "*" } else { "" }, b.workers)
            }
            (None, 0, Some(Status::Unsupported)) => "n/a".to_string(),
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
    /// Explains `n/a`, shown under the grid when a cell has it.
    pub const NOT_APPLICABLE: &'static str =
        "n/a: the workload has no version for that strategy (the reason is under the workload's table)";

    /// Whether any cell is `n/a`, so the grid needs [`SummaryGrid::NOT_APPLICABLE`].
    pub fn has_not_applicable(&self) -> bool {
        self.rows
            .iter()
            .flat_map(|r| &r.cells)
            .any(|c| c.best.is_none() && c.failed == 0 && c.not_run == Some(Status::Unsupported))
    }

    /// Explains the `*` of labelled cells, shown under the grid when one has it.
    pub const LABELLED: &'static str =
        "* not parallel scaling (workers that overlap waits, or a different algorithm): see the workload's notes";

    /// Whether any cell's best is labelled, so the grid needs [`SummaryGrid::LABELLED`].
    pub fn has_labelled(&self) -> bool {
        self.rows.iter().flat_map(|r| &r.cells).any(|c| c.best.is_some_and(|b| b.labelled))
    }

    /// The winner's cell as text, e.g. `rayon (3.81x)`, or `-` when nothing verified.
    pub fn winner_text(&self, row: &SummaryRow) -> String {
        match row.winner {
            Some(i) => {
                let best = row.cells[i].best;
                format!(
                    "{} ({:.2}x{})",
                    self.strategies[i],
                    best.map_or(0.0, |b| b.speedup),
                    if best.is_some_and(|b| b.labelled) { "*" } else { "" }
                )
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
                                labelled: labelled(c),
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
/// One sentence on what the run's CIs cover: the spread between processes when cases ran in
/// several (`--processes`), or a warning that it was not measured; and the clock's overhead
/// with how many cases were timed in batches. Every report shows it beside the tables.
pub fn measurement(results: &Results) -> String {
    let measured: Vec<&CaseResult> = results.cases.iter().filter(|c| c.stats.is_some()).collect();
    let spread: Vec<&crate::results::ProcessSpread> =
        measured.iter().filter_map(|c| c.processes.as_ref()).collect();
    let mut out = if spread.is_empty() {
        "Spread between runs was not measured: each case ran in one process, so its CI covers the noise \
         within that process only, not what changes between runs (buffer placement, code layout); \
         `--processes N` measures it."
            .to_string()
    } else {
        let mut cvs: Vec<f64> = spread.iter().map(|p| p.between_cv).collect();
        cvs.sort_by(f64::total_cmp);
        let counts: Vec<usize> = spread.iter().map(|p| p.count).collect();
        let (lo, hi) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        let per = if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") };
        let split = spread.iter().filter(|p| p.groups > 1).count();
        format!(
            "{} of {} measured cases ran in {per} processes each: their CIs cover the spread between processes \
             (median between-process variation {:.1}%, largest {:.1}%){}.",
            spread.len(),
            measured.len(),
            100.0 * cvs[cvs.len() / 2],
            100.0 * cvs[cvs.len() - 1],
            if split > 0 { format!("; {split} case(s) split into separate groups (see their notes)") } else { String::new() }
        )
    };
    if let Some(o) = results.clock_overhead_ns {
        let batched = measured.iter().filter(|c| c.batch > 1).count();
        out.push_str(&format!(
            " Clock overhead {}; runs shorter than {} were timed in batches ({batched} case(s)).",
            format_ns(o),
            format_ns(o * crate::runner::MIN_OVERHEAD_RATIO)
        ));
    }
    out
}

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
        (Status::Ok, _) if !c.verified_by_parlab() => format!("ok, {}", crate::results::NOT_VERIFIED_LABEL),
        (Status::Ok, _) => "ok".to_string(),
        (s, Some(r)) => format!("{}: {r}", s.label()),
        (s, None) => s.label().to_string(),
    };
    [
        c.workload.clone(),
        strategy_text(c),
        c.workers.to_string(),
        format_count(c.effective_size),
        measured.map_or("-".into(), |_| median_text(c)),
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
    // Latency workloads have no speedup: their verdict is the lowest latency at the smallest size.
    let fastest_latency = cases
        .iter()
        .filter(|c| c.status == Status::Ok && c.latency_ns.is_some() && !is_sequential(&c.strategy))
        .min_by(|a, b| {
            (a.effective_size, a.latency_ns.unwrap_or(f64::INFINITY))
                .partial_cmp(&(b.effective_size, b.latency_ns.unwrap_or(f64::INFINITY)))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    let mut text = match (top, fastest_latency) {
        (None, Some(c)) => format!(
            "{workload}: no speedup applies (see the notes); lowest one-way latency {} with `{}` at size {}",
            format_ns(c.latency_ns.unwrap_or(f64::NAN)),
            c.strategy,
            format_count(c.effective_size)
        ),
        (None, None) => format!("{workload}: no verified parallel case to compare"),
        (Some(top), _) => {
            let best = cases
                .iter()
                .filter(|c| c.workers == top && c.speedup.is_some())
                .max_by(|a, b| a.speedup.partial_cmp(&b.speedup).unwrap_or(std::cmp::Ordering::Equal))
                .expect("a case with a speedup exists");
            let what = match best.efficiency {
                Some(e) => format!("{:.0}% efficiency", e * 100.0),
                None => "not parallel scaling: see the notes".to_string(),
            };
            format!(
                "{workload}: best at {top} workers is `{}`, speedup {:.2}x over sequential ({what})",
                best.strategy,
                best.speedup.unwrap_or(0.0),
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

    #[test]
    fn a_device_case_shows_its_device_and_its_kernel_time_beside_the_headline() {
        use crate::scenario::{Cache, CaseSpec, DeviceCase, DeviceChoice, DeviceTarget, Scaling};
        let spec = CaseSpec {
            id: 0,
            workload_index: 0,
            workload: "stream_triad".into(),
            strategy: "opencl".into(),
            workers: 1,
            size: 1000,
            effective_size: 1000,
            scaling: Scaling::Strong,
            seed: 42,
            tunables: Default::default(),
            notes: Vec::new(),
            device: Some(DeviceCase {
                choice: DeviceChoice::Gpu,
                target: Some(DeviceTarget { name: "Tiny GPU".into(), ordinal: 0 }),
                cache: Cache::Warm,
                resident: true,
            }),
        };
        let mut c = CaseResult::unmeasured(&spec, &Default::default(), Status::Ok, "");
        let samples = vec![5000.0, 5200.0, 4800.0];
        let phases = vec![vec![("kernel".to_string(), 1200.0), ("transfer_out".to_string(), 3000.0)]; 3];
        c.phases = crate::results::PhaseSamples::from_samples(&samples, &phases).unwrap();
        c.stats = crate::stats::Summary::from_samples(&samples);
        c.samples_ns = samples;
        assert_eq!(strategy_text(&c), "opencl (Tiny GPU, cache=warm, resident)");
        assert_eq!(row(&c)[1], strategy_text(&c));
        assert_eq!(case_label(&c), "opencl (Tiny GPU, cache=warm, resident), 1 worker, size 1k");
        assert_eq!(row(&c)[4], format!("{} (kernel {})", format_ns(5000.0), format_ns(1200.0)));
        // Any other case: the headline alone, the strategy's name alone.
        c.device = None;
        assert_eq!((row(&c)[1].as_str(), row(&c)[4].clone()), ("opencl", format_ns(5000.0)));
        assert_eq!(kernel_median(&c), None);
    }
}
