//! `summary.md`: the workload x strategy summary grid, then the table per workload, in
//! GitHub-flavoured Markdown, for CI job summaries and pull-request comments. Cases with
//! phases or item latencies get a line each under their workload's table, and a run that spans
//! hosts lists them and where each case ran.

use super::table::{self, SummaryGrid};
use super::Exporter;
use crate::results::{CaseResult, Results};

pub struct Markdown;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }
    fn render(&self, results: &Results) -> anyhow::Result<String> {
        let m = &results.machine;
        let mut out = format!("# parlab: {}\n\n", escape(&results.scenario.name));
        if !results.scenario.description.is_empty() {
            out.push_str(&format!("{}\n\n", escape(&results.scenario.description)));
        }
        out.push_str(&format!(
            "{} ({} cores, {} logical CPUs), {}; parlab {}{}; started {}{}\n\n",
            escape(&m.cpu_model),
            m.physical_cores,
            m.logical_cpus,
            escape(&m.os),
            results.parlab_version,
            results.git_revision.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            results.started_at,
            if results.complete { "" } else { " — **incomplete run**" },
        ));
        let failures = results.failures();
        if failures > 0 {
            out.push_str(&format!("**{failures} case(s) failed** (see the status column).\n\n"));
        }
        out.push_str(&format!("{}\n\n", escape(&table::measurement(results))));
        if table::spans_hosts(results) {
            hosts(&mut out, results);
        }
        let grid = table::summary(results);
        if !grid.rows.is_empty() {
            out.push_str(&format!(
                "## Summary\n\n{}. Failed cases never count as a speedup.\n\n",
                SummaryGrid::TITLE
            ));
            out.push_str(&markdown_table(&grid.header(), &grid.text_rows()));
            if grid.has_labelled() {
                out.push_str(&format!("\n{}\n", escape(SummaryGrid::LABELLED)));
            }
            if grid.has_not_applicable() {
                out.push_str(&format!("\n{}\n", escape(SummaryGrid::NOT_APPLICABLE)));
            }
            out.push('\n');
        }
        for t in table::tables(results) {
            out.push_str(&format!("## {}\n\n{}\n\n", escape(&t.workload), escape(&t.verdict)));
            let header: Vec<String> = t.header.iter().map(|h| h.to_string()).collect();
            if !t.rows.is_empty() {
                out.push_str(&markdown_table(&header, &t.rows));
                out.push('\n');
            }
            for (i, note) in t.notes.iter().enumerate() {
                out.push_str(&format!("{}. {}\n", i + 1, escape(note)));
            }
            if !t.notes.is_empty() {
                out.push('\n');
            }
            let detailed: Vec<&(String, Vec<String>)> =
                t.details.iter().filter(|(_, d)| !d.is_empty()).collect();
            if !detailed.is_empty() {
                out.push_str(&format!("{}\n\n", escape(PHASES_NOTE)));
                for (case, lines) in detailed {
                    out.push_str(&format!("- {}: {}\n", escape(case), escape(&lines.join("; "))));
                }
                out.push('\n');
            }
            for n in &t.not_run {
                out.push_str(&format!("- Not run: {}\n", escape(&n.text())));
            }
            if !t.not_run.is_empty() {
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// What the phase lines mean, said once above them.
const PHASES_NOTE: &str = "Phases: the median per run of each; shares are of the sum of the phase medians \
                           (medians of parts do not add up to the median of the total). Items: the \
                           distribution of per-item latencies, which overlap and are not part of the phases.";

/// The hosts the run spanned, and where each case that names its placement ran.
fn hosts(out: &mut String, results: &Results) {
    out.push_str("## Hosts\n\n");
    let rows: Vec<Vec<String>> = table::hosts(results)
        .iter()
        .map(|h| {
            vec![h.hostname.clone(), h.cpu.clone(), h.physical_cores.to_string(), h.logical_cpus.to_string()]
        })
        .collect();
    let header = ["host", "CPU", "cores", "logical CPUs"].map(String::from);
    out.push_str(&markdown_table(&header, &rows));
    out.push('\n');
    let placed: Vec<&CaseResult> = results.cases.iter().filter(|c| !c.placement.is_empty()).collect();
    if !placed.is_empty() {
        out.push_str("Where each case ran:\n\n");
        for c in placed {
            out.push_str(&format!(
                "- {} {}: {}\n",
                escape(&c.workload),
                escape(&table::case_label(c)),
                escape(&table::placement_text(c))
            ));
        }
        out.push('\n');
    }
}

/// A GitHub-flavoured Markdown table, every cell escaped.
fn markdown_table(header: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(header);
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// Keeps user text from breaking the table or injecting markup.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;").replace('\n', " ")
}
