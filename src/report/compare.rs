//! The comparison page of `parlab report a.json b.json ...`: several runs side by side (two
//! machines, or before and after a change), the first as the baseline.
//!
//! Cases are aligned by what was measured, not by id: the case's [`CaseIdentity`] (workload,
//! strategy, workers, sizes, parameters, tunables, seed). For each pair the page gives the ratio of medians (this
//! run / the baseline: above 1 is slower) with a 95% percentile-bootstrap confidence interval,
//! resampling the raw samples of both runs independently (Efron 1979; the numbers come from the
//! regression gate's [`sample_evidence`]). A change is coloured when the interval excludes 1
//! and the ratio is beyond a noise threshold of 1% (criterion's idea: a real but tiny
//! difference is not worth a red cell). This page describes; `parlab compare` decides, with its
//! own threshold and test.

use std::fmt::Write;

use super::html::{escape, page, status_text, strategy_name};
use crate::compare::{sample_evidence, MIN_SAMPLES};
use crate::identity::CaseIdentity;
use crate::results::{CaseResult, Results, Status};
use crate::units::{format_bytes, format_count, format_ns};

/// Ratios within 1% of 1 are "no change" even when the interval excludes 1.
pub const NOISE: f64 = 0.01;

/// One run to compare: where it came from, and its results.
pub struct Run {
    pub label: String,
    pub results: Results,
}

/// The direction of a change, once noise is accounted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Faster,
    Slower,
    /// The interval includes 1, or the change is within the noise threshold.
    Same,
}

impl Change {
    pub fn class(self) -> &'static str {
        match self {
            Change::Faster => "faster",
            Change::Slower => "slower",
            Change::Same => "same",
        }
    }
}

/// Ratio of medians (other / baseline) with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    pub change: Change,
}

/// The ratio of the medians of `other` and `base` with its 95% percentile-bootstrap CI (the
/// regression gate's [`sample_evidence`], so both views agree on the numbers), classified by
/// [`classify`]; `None` when either side has fewer than [`MIN_SAMPLES`] samples (no honest
/// interval) or a zero median. `key` seeds the bootstrap, so a case always gets the same interval.
pub fn ratio(a: &[f64], b: &[f64], key: &str) -> Option<Ratio> {
    if a.len() < MIN_SAMPLES || b.len() < MIN_SAMPLES {
        return None;
    }
    let e = sample_evidence(a, b, key);
    if !(e.ratio.is_finite() && e.ratio > 0.0 && e.ci_low.is_finite() && e.ci_high.is_finite()) {
        return None;
    }
    Some(Ratio {
        ratio: e.ratio,
        low: e.ci_low,
        high: e.ci_high,
        change: classify(e.ratio, e.ci_low, e.ci_high),
    })
}

/// Significantly slower or faster: the interval excludes 1 and the ratio is beyond [`NOISE`].
pub fn classify(ratio: f64, low: f64, high: f64) -> Change {
    if low > 1.0 && ratio > 1.0 + NOISE {
        Change::Slower
    } else if high < 1.0 && ratio < 1.0 - NOISE {
        Change::Faster
    } else {
        Change::Same
    }
}

/// One aligned case: present in the baseline, the other run, or both.
pub struct Row<'a> {
    pub key: CaseIdentity,
    pub base: Option<&'a CaseResult>,
    pub other: Option<&'a CaseResult>,
    /// Only when both verified and were measured.
    pub ratio: Option<Ratio>,
}

/// Aligns the cases of `other` with those of `base`, in the baseline's order, then any case
/// only `other` has.
pub fn align<'a>(base: &'a Results, other: &'a Results) -> Vec<Row<'a>> {
    let mut rows: Vec<Row> = vec![];
    let mut used = vec![false; other.cases.len()];
    for b in &base.cases {
        let key = CaseIdentity::of(b);
        // The exact case, else one a file from before launches were recorded names.
        let found =
            other.cases.iter().enumerate().find(|(i, c)| !used[*i] && CaseIdentity::of(c) == key).or_else(
                || {
                    other
                        .cases
                        .iter()
                        .enumerate()
                        .find(|(i, c)| !used[*i] && CaseIdentity::of(c).pairs_with(&key))
                },
            );
        let o = found.map(|(i, c)| {
            used[i] = true;
            c
        });
        let ratio = match o {
            Some(o) if b.status == Status::Ok && o.status == Status::Ok => {
                let (xb, xo, _) = crate::compare::units(b, o);
                ratio(&xb, &xo, &key.to_string())
            }
            _ => None,
        };
        rows.push(Row { key, base: Some(b), other: o, ratio });
    }
    for (i, o) in other.cases.iter().enumerate() {
        if !used[i] {
            rows.push(Row { key: CaseIdentity::of(o), base: None, other: Some(o), ratio: None });
        }
    }
    rows
}

/// Geometric mean of the ratios of `rows` that have one.
pub fn geomean(rows: &[Row]) -> Option<f64> {
    let logs: Vec<f64> = rows.iter().filter_map(|r| r.ratio.map(|r| r.ratio.ln())).collect();
    (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
}

/// The whole comparison page.
pub fn render(runs: &[Run]) -> anyhow::Result<String> {
    anyhow::ensure!(runs.len() >= 2, "a comparison needs at least two results files");
    let base = &runs[0];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<header class=\"top\">\n<p class=\"brand\">parlab comparison</p>\n<h1>{} runs compared</h1>\n\
         <p class=\"lede\">Baseline: <strong>{}</strong>. Ratio = this run's median / the baseline's: \
         below 1 is faster, above 1 slower. Coloured only when the 95% bootstrap interval excludes 1 and the \
         change exceeds {:.0}%.</p>\n</header>",
        runs.len(),
        escape(&base.label),
        NOISE * 100.0
    );
    out.push_str("<nav class=\"toc\"><a href=\"#runs\">Runs</a>");
    for (i, r) in runs.iter().enumerate().skip(1) {
        let _ = write!(out, "<a href=\"#vs-{i}\">{}</a>", escape(&r.label));
    }
    out.push_str("</nav>\n<main>\n");
    runs_table(&mut out, runs);
    for (i, run) in runs.iter().enumerate().skip(1) {
        comparison(&mut out, i, base, run);
    }
    out.push_str("</main>\n");
    Ok(page(
        &format!(
            "parlab comparison: {}",
            runs.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join(" vs ")
        ),
        &out,
    ))
}

fn runs_table(out: &mut String, runs: &[Run]) {
    out.push_str("<section id=\"runs\">\n<h2>Runs</h2>\n<div class=\"table-wrap\"><table class=\"plain runs\">\n<thead><tr><th></th>");
    for (i, r) in runs.iter().enumerate() {
        let _ = write!(out, "<th>{}{}</th>", escape(&r.label), if i == 0 { " (baseline)" } else { "" });
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    type Field = fn(&Results) -> String;
    let fields: [(&str, Field); 10] = [
        ("scenario", |r| r.scenario.name.clone()),
        ("CPU", |r| r.machine.cpu_model.clone()),
        ("cores / logical CPUs", |r| format!("{} / {}", r.machine.physical_cores, r.machine.logical_cpus)),
        ("memory", |r| format_bytes(r.machine.memory_total_bytes)),
        ("OS", |r| r.machine.os.clone()),
        ("compiler", |r| r.machine.compiler.clone()),
        ("host", |r| r.machine.hostname.clone()),
        ("parlab", |r| {
            format!(
                "{}{}",
                r.parlab_version,
                r.git_revision.as_deref().map(|g| format!(" ({g})")).unwrap_or_default()
            )
        }),
        ("started", |r| r.started_at.clone()),
        ("cases", |r| format!("{}{}", r.cases.len(), if r.complete { "" } else { " (incomplete run)" })),
    ];
    for (name, f) in fields {
        let values: Vec<String> = runs.iter().map(|r| f(&r.results)).collect();
        let differs = values.iter().any(|v| v != &values[0]);
        let _ = write!(
            out,
            "<tr{}><th scope=\"row\">{name}</th>",
            if differs { " class=\"differs\"" } else { "" }
        );
        for v in values {
            let _ = write!(out, "<td>{}</td>", escape(&v));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n<p class=\"hint\">Rows that differ between runs are highlighted.</p>\n</section>\n");
}

fn comparison(out: &mut String, i: usize, base: &Run, run: &Run) {
    let rows = align(&base.results, &run.results);
    let count = |c: Change| rows.iter().filter(|r| r.ratio.is_some_and(|x| x.change == c)).count();
    let only_base = rows.iter().filter(|r| r.other.is_none()).count();
    let only_other = rows.iter().filter(|r| r.base.is_none()).count();
    let broken = rows
        .iter()
        .filter(|r| {
            r.other.is_some_and(|o| o.status.is_failure()) && r.base.is_some_and(|b| !b.status.is_failure())
        })
        .count();
    let _ = writeln!(
        out,
        "<section class=\"comparison\" id=\"vs-{i}\">\n<h2>{} vs {}</h2>\n<p class=\"verdict\">{} slower, {} faster, \
         {} without a significant change{}{}{}{}.</p>",
        escape(&run.label),
        escape(&base.label),
        count(Change::Slower),
        count(Change::Faster),
        count(Change::Same),
        geomean(&rows).map(|g| format!("; geometric mean ratio {g:.3}")).unwrap_or_default(),
        if broken > 0 { format!("; {broken} case(s) now FAIL") } else { String::new() },
        if only_base > 0 { format!("; {only_base} only in the baseline") } else { String::new() },
        if only_other > 0 { format!("; {only_other} only in this run") } else { String::new() },
    );
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"cases sortable compare\">\n<thead><tr><th>workload</th><th>strategy</th>\
         <th>workers</th><th>size</th><th>params</th><th>baseline median</th><th>this run's median</th>\
         <th>ratio</th><th>95% CI of the ratio</th><th>change</th></tr></thead>\n<tbody>\n",
    );
    // One log scale for every glyph of the table, so the eye compares them directly.
    let ends: Vec<f64> = rows.iter().filter_map(|r| r.ratio).flat_map(|x| [x.low, x.high]).collect();
    let scale = (
        ends.iter().copied().fold(0.8, f64::min).max(1.0 / 8.0),
        ends.iter().copied().fold(1.25, f64::max).min(8.0),
    );
    for r in &rows {
        let median = |c: Option<&CaseResult>| match c {
            None => "<td class=\"num\" data-sort=\"\">not run</td>".to_string(),
            Some(c) => match (&c.stats, c.status) {
                (Some(s), Status::Ok) => {
                    format!("<td class=\"num\" data-sort=\"{}\">{}</td>", s.median, format_ns(s.median))
                }
                _ => format!("<td class=\"status bad\" data-sort=\"\">{}</td>", escape(&status_text(c))),
            },
        };
        let change = match (&r.ratio, r.base, r.other) {
            (Some(x), _, _) => x.change,
            _ => Change::Same,
        };
        let (ratio_cells, change_cell) = match (&r.ratio, r.base, r.other) {
            (Some(x), _, _) => (
                format!(
                    "<td class=\"num {}\" data-sort=\"{}\">{:.3}</td><td class=\"num\" data-sort=\"{}\">{:.3} – {:.3} {}</td>",
                    x.change.class(),
                    x.ratio,
                    x.ratio,
                    x.low,
                    x.low,
                    x.high,
                    glyph(x, scale)
                ),
                format!(
                    "<td class=\"{}\">{}</td>",
                    x.change.class(),
                    match x.change {
                        Change::Slower => format!("slower ({:+.1}%)", (x.ratio - 1.0) * 100.0),
                        Change::Faster => format!("faster ({:+.1}%)", (x.ratio - 1.0) * 100.0),
                        Change::Same => "no significant change".to_string(),
                    }
                ),
            ),
            (None, Some(b), Some(o)) if o.status.is_failure() && !b.status.is_failure() => (
                "<td data-sort=\"\"></td><td></td>".to_string(),
                "<td class=\"slower\">now FAILS</td>".to_string(),
            ),
            (None, Some(b), Some(o))
                if b.status == Status::Ok
                    && o.status == Status::Ok
                    && {
                        let (xb, xo, _) = crate::compare::units(b, o);
                        xb.len().min(xo.len()) < MIN_SAMPLES
                    } =>
            {
                (
                    "<td data-sort=\"\"></td><td></td>".to_string(),
                    format!(
                        "<td class=\"same\">insufficient data (fewer than {MIN_SAMPLES} samples, or processes where both were measured in several)</td>"
                    ),
                )
            }
            (None, Some(_), Some(_)) => ("<td data-sort=\"\"></td><td></td>".to_string(), "<td class=\"same\">not comparable</td>".to_string()),
            (None, None, _) => ("<td data-sort=\"\"></td><td></td>".to_string(), "<td class=\"same\">new case</td>".to_string()),
            (None, _, None) => ("<td data-sort=\"\"></td><td></td>".to_string(), "<td class=\"same\">missing</td>".to_string()),
        };
        let _ = writeln!(
            out,
            "<tr data-change=\"{}\"><td>{}</td><td>{}</td><td class=\"num\" data-sort=\"{}\">{}</td><td class=\"num\" data-sort=\"{}\">{}</td>\
             <td>{}</td>{}{}{}{}</tr>",
            if r.ratio.is_some() { change.class() } else { "none" },
            escape(&r.key.workload),
            strategy_name(&r.key.strategy),
            r.key.workers,
            r.key.workers,
            r.key.effective_size,
            format_count(r.key.effective_size),
            escape(&r.key.settings()),
            median(r.base),
            median(r.other),
            ratio_cells,
            change_cell
        );
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

/// A tiny forest plot of one ratio: its CI as a bar, the ratio as a dot, 1 as a grey tick, on
/// a log scale from `scale.0` to `scale.1` (shared by the whole table).
fn glyph(x: &Ratio, scale: (f64, f64)) -> String {
    let (w, pad) = (120.0, 4.0);
    let at = |v: f64| {
        let f = (v.clamp(scale.0, scale.1).ln() - scale.0.ln()) / (scale.1.ln() - scale.0.ln());
        pad + f * (w - 2.0 * pad)
    };
    let colour = match x.change {
        Change::Slower => "#b42318",
        Change::Faster => "#1a7f37",
        Change::Same => "#8c959f",
    };
    format!(
        "<svg class=\"forest\" width=\"{w}\" height=\"14\" viewBox=\"0 0 {w} 14\" aria-hidden=\"true\">\
         <line x1=\"{one:.1}\" y1=\"1\" x2=\"{one:.1}\" y2=\"13\" stroke=\"#d0d7de\" stroke-width=\"1\"/>\
         <line x1=\"{lo:.1}\" y1=\"7\" x2=\"{hi:.1}\" y2=\"7\" stroke=\"{colour}\" stroke-width=\"2\"/>\
         <circle cx=\"{mid:.1}\" cy=\"7\" r=\"3.2\" fill=\"{colour}\"/></svg>",
        one = at(1.0),
        lo = at(x.low),
        hi = at(x.high),
        mid = at(x.ratio),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(base: u64, n: usize) -> Vec<f64> {
        // A little deterministic jitter around `base`.
        (0..n).map(|i| (base + (i as u64 * 7919) % (base / 50 + 1)) as f64).collect()
    }

    #[test]
    fn slower_faster_and_unchanged() {
        let a = samples(1_000_000, 30);
        let slower: Vec<f64> = a.iter().map(|v| v * 1.5).collect();
        let faster: Vec<f64> = a.iter().map(|v| v * 0.7).collect();
        let r = ratio(&a, &slower, "k").unwrap();
        assert_eq!(r.change, Change::Slower);
        assert!((r.ratio - 1.5).abs() < 1e-3 && r.low > 1.0, "{r:?}");
        assert_eq!(ratio(&a, &faster, "k").unwrap().change, Change::Faster);
        let same = ratio(&a, &a, "k").unwrap();
        assert_eq!(same.change, Change::Same);
        assert!(same.low <= 1.0 && 1.0 <= same.high);
        assert!(ratio(&[], &a, "k").is_none());
        // Below the minimum no interval is given, however clear the shift looks.
        assert!(ratio(&a[..4], &slower[..4], "k").is_none());
        assert!(ratio(&a[..5], &slower[..5], "k").is_some());
    }

    #[test]
    fn a_tiny_but_certain_change_is_noise() {
        assert_eq!(classify(1.005, 1.004, 1.006), Change::Same);
        assert_eq!(classify(1.02, 1.01, 1.03), Change::Slower);
        assert_eq!(classify(0.9, 0.8, 1.01), Change::Same);
    }
}
