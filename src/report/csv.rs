//! `results.csv`: one row per case with flat columns, for spreadsheets and data frames.
//!
//! RFC 4180: comma-separated, fields with a comma, quote or line break quoted, quotes doubled.
//! Times are in nanoseconds, rates in the unit named by `throughput_unit`, memory in bytes; empty
//! means "not measured" (a failed case has no speedup, never a zero one; most workloads have no
//! `latency_ns`, and those with one kernel build no `isa`); `notes` holds the case's caveats joined
//! by `; `. `phases` holds each phase's median per run as `name=median_ns`, joined by `;`
//! (empty for a case without phases), and `item_p50_ns`/`item_p99_ns` the per-item latency
//! distribution where the case timed items. Free text (reasons, notes, verification
//! details) that starts like a spreadsheet formula gets a leading `'`, so opening the file
//! cannot run it.

use super::table;
use super::Exporter;
use crate::results::{CaseResult, Results};

pub struct Csv;

pub const COLUMNS: [&str; 42] = [
    "id",
    "workload",
    "strategy",
    "workers",
    "size",
    "effective_size",
    "scaling",
    "params",
    "status",
    "reason",
    "verified",
    "verification_detail",
    "warmup_runs",
    "samples",
    "median_ns",
    "ci_low_ns",
    "ci_high_ns",
    "ci_level",
    "mean_ns",
    "std_dev_ns",
    "mad_ns",
    "min_ns",
    "max_ns",
    "outliers",
    "outliers_high_severe",
    "throughput_unit",
    "throughput",
    "throughput_low",
    "throughput_high",
    "speedup",
    "efficiency",
    "karp_flatt",
    "wall_time_s",
    "setup_ns",
    "peak_rss_bytes",
    "latency_ns",
    "notes",
    "isa",
    "phases",
    "item_p50_ns",
    "item_p99_ns",
    "rank_mean_ns",
];

impl Exporter for Csv {
    fn file_name(&self) -> &'static str {
        "results.csv"
    }
    fn render(&self, results: &Results) -> anyhow::Result<String> {
        let mut out = COLUMNS.join(",") + "\n";
        for c in &results.cases {
            let fields = row(c);
            debug_assert_eq!(fields.len(), COLUMNS.len());
            let cells: Vec<String> = fields.iter().map(|f| quote(f)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        Ok(out)
    }
}

fn row(c: &CaseResult) -> Vec<String> {
    let num = |v: Option<f64>| v.filter(|v| v.is_finite()).map_or(String::new(), |v| v.to_string());
    let s = c.stats.as_ref();
    let t = c.throughput.as_ref();
    let params: Vec<String> = c.params.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let scaling =
        serde_json::to_value(c.scaling).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let status =
        serde_json::to_value(c.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let phases: Vec<String> =
        table::phase_medians(c).iter().map(|p| format!("{}={}", p.name, num(Some(p.median_ns)))).collect();
    vec![
        c.id.to_string(),
        c.workload.clone(),
        c.strategy.clone(),
        c.workers.to_string(),
        c.size.to_string(),
        c.effective_size.to_string(),
        scaling,
        params.join(";"),
        status,
        defuse(c.reason.as_deref().unwrap_or("")),
        c.verification.as_ref().map_or(String::new(), |v| v.passed.to_string()),
        defuse(c.verification.as_ref().map_or("", |v| v.detail.as_str())),
        c.warmup_runs.to_string(),
        c.samples_ns.len().to_string(),
        num(s.map(|s| s.median)),
        num(s.map(|s| s.ci_low)),
        num(s.map(|s| s.ci_high)),
        num(s.map(|s| s.ci_level)),
        num(s.map(|s| s.mean)),
        num(s.map(|s| s.std_dev)),
        num(s.map(|s| s.mad)),
        num(s.map(|s| s.min)),
        num(s.map(|s| s.max)),
        s.map_or(String::new(), |s| s.outliers.total().to_string()),
        s.map_or(String::new(), |s| s.outliers.high_severe.to_string()),
        t.map_or(String::new(), |t| t.unit.clone()),
        num(t.map(|t| t.median)),
        num(t.map(|t| t.low)),
        num(t.map(|t| t.high)),
        num(c.speedup),
        num(c.efficiency),
        num(c.karp_flatt),
        num(Some(c.wall_time_s)),
        c.setup_ns.map_or(String::new(), |v| v.to_string()),
        c.peak_rss_bytes.map_or(String::new(), |v| v.to_string()),
        num(c.latency_ns),
        defuse(&c.notes.join("; ")),
        c.isa.clone().unwrap_or_default(),
        defuse(&phases.join(";")),
        num(c.item_latency.as_ref().map(|l| l.p50_ns)),
        num(c.item_latency.as_ref().map(|l| l.p99_ns)),
        num(c.rank_mean_median_ns()),
    ]
}

/// Quotes a field when it needs it (RFC 4180).
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Free text that a spreadsheet would take for a formula gets a leading `'`.
fn defuse(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_rfc_4180() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(defuse("=cmd()"), "'=cmd()");
        assert_eq!(defuse("max abs error"), "max abs error");
    }
}
