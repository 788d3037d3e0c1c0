//! Time vs workers (strong scaling): the median of each case with its 95% bootstrap CI as an
//! error bar, one line per strategy, and the sequential baseline as a dashed line across.

use super::{
    chart_size, left_out, parallel_strategies, sequential, verified, AxisSpec, Chart, Guide, Point, Quantity,
    Series,
};
use crate::report::table::Group;
use crate::results::CaseResult;
use crate::units::{format_count, format_ns};

/// A case's median and CI as a point at its worker count.
pub fn point(c: &CaseResult, x: f64) -> Option<Point> {
    let s = c.stats.as_ref()?;
    Some(Point {
        x,
        y: s.median,
        err: Some((s.ci_low, s.ci_high)),
        tip: format!(
            "{}, {} workers, size {}: median {} (95% CI {} to {}), {} samples",
            c.strategy,
            c.workers,
            format_count(c.effective_size),
            format_ns(s.median),
            format_ns(s.ci_low),
            format_ns(s.ci_high),
            s.n
        ),
    })
}

pub fn chart(g: &Group) -> Option<Chart> {
    let size = chart_size(g);
    let mut series = vec![];
    let mut guides = vec![];
    let seq = sequential(g, size);
    let parallel: Vec<Series> = parallel_strategies(g)
        .iter()
        .map(|s| {
            Series::new(s, verified(g, s, size).iter().filter_map(|c| point(c, c.workers as f64)).collect())
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let max_workers = parallel.iter().flat_map(|s| &s.points).map(|p| p.x).fold(1.0, f64::max);
    if let Some(base) = seq.first() {
        if let Some(p) = point(base, 1.0) {
            guides.push(Guide {
                label: format!("sequential: {}", format_ns(p.y)),
                colour: super::colour(&base.strategy),
                points: vec![(1.0, p.y), (max_workers, p.y)],
                dash: (6, 4),
            });
            series.push(Series::new(&base.strategy, vec![p]));
        }
    }
    series.extend(parallel);
    if series.is_empty() {
        return None;
    }
    let mut chart = Chart::new(
        "time",
        "Time per run",
        AxisSpec::workers(),
        AxisSpec::new("median time", Quantity::Time),
        series,
        guides,
    );
    let missing = left_out(g);
    chart.note = format!(
        "Size {}. Error bars: 95% bootstrap confidence interval of the median.{}",
        format_count(size),
        if missing.is_empty() { String::new() } else { format!(" Not drawn: {}.", missing.join(", ")) }
    );
    Some(chart)
}
