//! Size sweep: throughput (or time, when the workload reports no throughput) vs problem size on
//! log axes, each strategy at the largest worker count it verified at, sequential at one.
//! Cache effects show here: throughput that drops as the working set leaves a cache level.

use std::collections::BTreeSet;

use super::{parallel_strategies, size_what, AxisSpec, Chart, Point, Quantity, Series};
use crate::report::table::{format_rate, is_sequential, Group};
use crate::results::{CaseResult, Status};
use crate::units::{format_count, format_ns};

/// Whether `g` measured more than one size.
pub fn applies(g: &Group) -> bool {
    g.cases.iter().map(|c| c.size).collect::<BTreeSet<_>>().len() > 1
}

pub fn chart(g: &Group) -> Option<Chart> {
    if !applies(g) {
        return None;
    }
    let ok: Vec<&CaseResult> =
        g.cases.iter().copied().filter(|c| c.status == Status::Ok && c.stats.is_some()).collect();
    let unit = if ok.iter().all(|c| c.throughput.is_some()) {
        ok.iter().find_map(|c| c.throughput.as_ref().map(|t| t.unit.clone()))
    } else {
        None
    };
    // The value drawn, its error bar, and the value in words.
    type Value = (f64, Option<(f64, f64)>, String);
    let value = |c: &CaseResult| -> Option<Value> {
        match &unit {
            Some(u) => c
                .throughput
                .as_ref()
                .map(|t| (t.median, Some((t.low.min(t.high), t.low.max(t.high))), format_rate(t.median, u))),
            None => c.stats.as_ref().map(|s| (s.median, Some((s.ci_low, s.ci_high)), format_ns(s.median))),
        }
    };
    let mut names: Vec<String> =
        ok.iter().filter(|c| is_sequential(&c.strategy)).map(|c| c.strategy.clone()).take(1).collect();
    names.extend(parallel_strategies(g));
    let mut series = vec![];
    for name in names {
        let mine: Vec<&CaseResult> = ok.iter().copied().filter(|c| c.strategy == name).collect();
        let Some(top) = mine.iter().map(|c| c.workers).max() else { continue };
        let mut at_top: Vec<&CaseResult> = mine.into_iter().filter(|c| c.workers == top).collect();
        at_top.sort_by_key(|c| c.effective_size);
        let points: Vec<Point> = at_top
            .iter()
            .filter_map(|c| {
                let (y, err, text) = value(c)?;
                Some(Point {
                    x: c.effective_size as f64,
                    y,
                    err,
                    tip: format!("{name}, {top} workers, size {}: {text}", format_count(c.effective_size)),
                })
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let mut s = Series::new(&name, points);
        s.label = format!("{name} ({top} worker{})", if top == 1 { "" } else { "s" });
        series.push(s);
    }
    if series.is_empty() {
        return None;
    }
    let y = match &unit {
        Some(u) => AxisSpec::new("throughput", Quantity::Rate(u.clone())),
        None => AxisSpec::new("median time", Quantity::Time),
    };
    let mut chart = Chart::new(
        "size-sweep",
        if unit.is_some() { "Throughput vs problem size" } else { "Time vs problem size" },
        AxisSpec::new("size", Quantity::Size(size_what(&g.plan.kind))),
        y,
        series,
        vec![],
    );
    chart.note =
        "Each strategy at the largest worker count it verified at; log axes where sizes span a decade."
            .into();
    Some(chart)
}
