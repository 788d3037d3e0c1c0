//! `summary.md`: the summary table per workload in GitHub-flavoured Markdown, for CI job
//! summaries and pull-request comments.

use super::table::{self, HEADER};
use super::Exporter;
use crate::results::Results;

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
        for t in table::tables(results) {
            out.push_str(&format!("## {}\n\n{}\n\n", escape(&t.workload), escape(&t.verdict)));
            out.push_str(&format!("| {} |\n", HEADER.join(" | ")));
            out.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
            for row in &t.rows {
                let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            out.push('\n');
        }
        Ok(out)
    }
}

/// Keeps user text from breaking the table or injecting markup.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;").replace('\n', " ")
}
