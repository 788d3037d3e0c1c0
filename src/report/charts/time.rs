//! Time vs workers (strong scaling): the median of each case with its 95% bootstrap CI as an
//! error bar, one line per strategy, and the sequential baseline as a dashed line across.

use super::{chart_size, left_out, lines_with_baseline, AxisSpec, Chart, Point, Quantity};
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
    let (series, guides) = lines_with_baseline(g, size, point, |y| format!("sequential: {}", format_ns(y)));
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
    chart.note = format!(
        "Size {}. Error bars: 95% bootstrap confidence interval of the median.{}",
        format_count(size),
        left_out(g)
    );
    Some(chart)
}
