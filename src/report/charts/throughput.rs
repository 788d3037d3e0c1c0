//! Throughput vs workers in the workload's own unit (samples/s, B/s, FLOP/s), with the CI of
//! the median carried over as an error bar. For memory-bound workloads a second axis shows the
//! fraction of the best bandwidth measured in this run, the figure of merit for such kernels.

use super::{chart_size, lines_with_baseline, AxisSpec, Chart, Point, Quantity};
use crate::report::table::{format_rate, Group};
use crate::results::{CaseResult, Status};
use crate::units::format_count;
use crate::workload;

/// The best throughput of any verified case of `g`, and that case.
pub fn best<'a>(g: &Group<'a>) -> Option<(f64, &'a CaseResult)> {
    g.cases
        .iter()
        .filter(|c| c.status == Status::Ok)
        .filter_map(|c| c.throughput.as_ref().map(|t| (t.median, *c)))
        .filter(|(v, _)| v.is_finite() && *v > 0.0)
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// Whether `g`'s workload is judged against the best measured bandwidth.
pub fn memory_bound(g: &Group) -> bool {
    workload::find(&g.plan.kind).is_some_and(|w| w.memory_bound())
}

fn point(c: &CaseResult, x: f64) -> Option<Point> {
    let t = c.throughput.as_ref()?;
    Some(Point {
        x,
        y: t.median,
        err: Some((t.low.min(t.high), t.low.max(t.high))),
        tip: format!("{}, {} workers: {}", c.strategy, c.workers, format_rate(t.median, &t.unit)),
    })
}

pub fn chart(g: &Group) -> Option<Chart> {
    let size = chart_size(g);
    let unit = g.cases.iter().find_map(|c| c.throughput.as_ref().map(|t| t.unit.clone()))?;
    let (series, guides) =
        lines_with_baseline(g, size, point, |y| format!("sequential: {}", format_rate(y, &unit)));
    if series.is_empty() {
        return None;
    }
    let mut chart = Chart::new(
        "throughput",
        "Throughput",
        AxisSpec::workers(),
        AxisSpec::new("throughput", Quantity::Rate(unit.trim_end_matches("/s").to_string() + "/s")),
        series,
        guides,
    );
    chart.note = format!("Size {}. Higher is better.", format_count(size));
    if memory_bound(g) {
        if let Some((best, c)) = best(g) {
            let factor = 1.0 / best;
            chart.y2 = Some((
                chart.y.scaled(factor, &AxisSpec::new("of best bandwidth", Quantity::Percent)),
                factor,
            ));
            chart.note = format!(
                "Size {}. Memory-bound: the right axis is the fraction of the best bandwidth measured in this run, \
                 {} ({} at {} workers, size {}).",
                format_count(size),
                format_rate(best, &unit),
                c.strategy,
                c.workers,
                format_count(c.effective_size)
            );
        }
    }
    Some(chart)
}
