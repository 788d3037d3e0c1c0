//! The gate's outputs: a terminal table, `compare.md` (for a CI job summary or PR comment),
//! `compare.html` (self-contained) and `compare.json`, all from one [`Comparison`].

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{CaseComparison, Comparison, Verdict, MIN_SAMPLES};
use crate::units::format_ns;

const HEADER: [&str; 6] = ["case", "baseline", "current", "ratio [95% CI]", "p", "verdict"];

fn cells(c: &CaseComparison) -> [String; 6] {
    let e = &c.evidence;
    let verdict = match (c.verdict, c.more_needed) {
        (Verdict::Inconclusive, Some(n)) => format!("inconclusive (~{n} more per side would decide)"),
        (Verdict::InsufficientData, _) => {
            format!("insufficient data ({} per side, fewer than {MIN_SAMPLES})", e.n)
        }
        (v, _) => v.label().to_string(),
    };
    // Below the minimum there is no honest interval or p-value to show.
    let (ratio, p) = if c.verdict == Verdict::InsufficientData {
        (format!("{:.3} [no CI: n = {}]", e.ratio, e.n), "-".to_string())
    } else {
        (format!("{:.3} [{:.3}, {:.3}]", e.ratio, e.ci_low, e.ci_high), format_p(e.p_value))
    };
    [c.key.clone(), format_ns(c.baseline_median_ns), format_ns(c.current_median_ns), ratio, p, verdict]
}

fn format_p(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// One line for the end of a gate run.
pub fn headline(c: &Comparison) -> String {
    let mut s = format!(
        "{} regressed, {} improved, {} unchanged, {} inconclusive",
        c.count(Verdict::Regressed),
        c.count(Verdict::Improved),
        c.count(Verdict::Unchanged),
        c.count(Verdict::Inconclusive),
    );
    let few = c.count(Verdict::InsufficientData);
    if few > 0 {
        s.push_str(&format!(", {few} with insufficient data"));
    }
    s.push_str(&format!(" (threshold {:.1}%, alpha {})", c.options.threshold * 100.0, c.options.alpha));
    if !c.broken.is_empty() {
        s.push_str(&format!("; {} case(s) BROKEN (ok before, failing now)", c.broken.len()));
    }
    let noisy = c.noisy_cases();
    if !noisy.is_empty() {
        let which: Vec<String> = noisy
            .iter()
            .map(|n| format!("{} [{:.3}, {:.3}]", n.key, n.evidence.ci_low, n.evidence.ci_high))
            .collect();
        s.push_str(&format!(
            "; undecided: noisy machine (old against old spans more than ±{:.1}%: {})",
            c.options.threshold * 100.0,
            which.join(", ")
        ));
    }
    s
}

pub fn terminal(c: &Comparison) -> String {
    let mut rows: Vec<[String; 6]> = vec![HEADER.map(String::from)];
    rows.extend(c.cases.iter().map(cells));
    let widths: Vec<usize> =
        (0..6).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if !c.null_control.is_empty() {
        out.push_str("\nnull control (baseline against itself; its CI must fit within the threshold):\n");
        for n in &c.null_control {
            let x = cells(n);
            let fit = if n.quiet(c.options) { "fit to judge" } else { "TOO NOISY to judge" };
            out.push_str(&format!("  {}  {}  {fit}\n", x[0], x[3]));
        }
    }
    for b in &c.broken {
        out.push_str(&format!("BROKEN {b}\n"));
    }
    out.push_str(&format!("\nmethod: {}\n{}\n", c.method, headline(c)));
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn markdown(c: &Comparison) -> String {
    let mark = |v: Verdict| match v {
        Verdict::Regressed => "🔴 regressed",
        Verdict::Improved => "🟢 improved",
        Verdict::Unchanged => "⚪ unchanged",
        Verdict::Inconclusive => "🟡 inconclusive",
        Verdict::InsufficientData => "⚫ insufficient data",
    };
    let mut out = format!("# parlab gate: {}\n\n", md_escape(&headline(c)));
    out.push_str(&format!(
        "Baseline `{}`, current `{}`. Method: {}.\n\n",
        md_escape(&c.baseline),
        md_escape(&c.current),
        md_escape(&c.method)
    ));
    out.push_str(&format!("| {} |\n|{}\n", HEADER.join(" | "), "---|".repeat(6)));
    for case in &c.cases {
        let mut x = cells(case).map(|s| md_escape(&s));
        x[5] = match (case.verdict, case.more_needed) {
            (Verdict::Inconclusive, Some(n)) => format!("{} (~{n} more)", mark(case.verdict)),
            (v, _) => mark(v).to_string(),
        };
        out.push_str(&format!("| {} |\n", x.join(" | ")));
    }
    if !c.null_control.is_empty() {
        out.push_str("\n<details><summary>Null control: the baseline against itself</summary>\n\n");
        out.push_str("| case | ratio [95% CI] | p | fit to judge |\n|---|---|---|---|\n");
        for n in &c.null_control {
            let x = cells(n).map(|s| md_escape(&s));
            let fit = if n.quiet(c.options) { "yes" } else { "🟡 no: wider than the threshold" };
            out.push_str(&format!("| {} | {} | {} | {} |\n", x[0], x[3], x[4], fit));
        }
        out.push_str("\n</details>\n");
    }
    for b in &c.broken {
        out.push_str(&format!("\n🔴 **broken**: {}\n", md_escape(b)));
    }
    if !c.skipped.is_empty() {
        out.push_str(&format!(
            "\n{} case(s) not compared: {}\n",
            c.skipped.len(),
            md_escape(&c.skipped.join("; "))
        ));
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn html(c: &Comparison) -> String {
    let row = |case: &CaseComparison| {
        let x = cells(case).map(|s| html_escape(&s));
        // A bar from the CI's ends on a log scale of ±25% around 1.
        let pos = |r: f64| ((r.ln() / 1.25f64.ln()).clamp(-1.0, 1.0) + 1.0) * 50.0;
        let (lo, hi, mid) = (pos(case.evidence.ci_low), pos(case.evidence.ci_high), pos(case.evidence.ratio));
        format!(
            "<tr class=\"{}\"><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}\
             <div class=ci><span class=band style=\"left:{lo:.1}%;width:{:.1}%\"></span>\
             <span class=mid style=\"left:{mid:.1}%\"></span></div></td><td class=n>{}</td><td>{}</td></tr>\n",
            case.verdict.label(),
            x[0],
            x[1],
            x[2],
            x[3],
            (hi - lo).max(0.5),
            x[4],
            x[5]
        )
    };
    let body: String = c.cases.iter().map(row).collect();
    let null: String = c.null_control.iter().map(row).collect();
    let null_section = if null.is_empty() {
        String::new()
    } else {
        format!("<h2>Null control: the baseline against itself</h2><table>{}{null}</table>", head())
    };
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>parlab gate</title><style>{CSS}</style></head>\
         <body><h1>parlab gate</h1><p class=headline>{}</p><p>Baseline <code>{}</code>, current <code>{}</code>.<br>{}</p>\
         <table>{}{body}</table>{null_section}<p class=small>{}</p></body></html>\n",
        html_escape(&headline(c)),
        html_escape(&c.baseline),
        html_escape(&c.current),
        html_escape(&c.method),
        head(),
        html_escape(&[
            if c.broken.is_empty() { String::new() } else { format!("BROKEN: {}. ", c.broken.join("; ")) },
            if c.skipped.is_empty() { String::new() } else { format!("Not compared: {}", c.skipped.join("; ")) },
        ]
        .concat()),
    )
}

fn head() -> String {
    format!("<tr>{}</tr>\n", HEADER.iter().map(|h| format!("<th>{h}</th>")).collect::<String>())
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.regressed{background:#fde2e1}tr.improved{background:#e1f5e4}tr.inconclusive{background:#fff6d6}\
.ci{position:relative;height:6px;background:#eee;margin-top:3px;min-width:120px}.band{position:absolute;height:6px;background:#888}\
.mid{position:absolute;width:2px;height:10px;top:-2px;background:#000}.headline{font-weight:600}.small{color:#666;font-size:12px}";

/// Writes `compare.json`, `compare.md` and `compare.html` into `dir`.
pub fn write_all(c: &Comparison, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = [
        ("compare.json", serde_json::to_string_pretty(c)? + "\n"),
        ("compare.md", markdown(c)),
        ("compare.html", html(c)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
