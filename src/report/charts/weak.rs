//! Weak scaling: time vs workers while the size grows with them (size x workers). Flat is
//! ideal: the dashed line holds the sequential time at the base size. Sequential at each grown
//! size is drawn too, so the gap to it is the scaled speedup. Under weak scaling this chart
//! takes the place of the time chart, which would show the same points.

use super::time::point;
use super::{
    chart_size, left_out, parallel_strategies, sequential, verified, AxisSpec, Chart, Guide, Quantity,
    Series, IDEAL,
};
use crate::report::table::Group;
use crate::units::{format_count, format_ns};

pub fn chart(g: &Group) -> Option<Chart> {
    let size = chart_size(g);
    let mut series = vec![];
    let mut guides = vec![];
    let parallel: Vec<Series> = parallel_strategies(g)
        .iter()
        .map(|s| {
            Series::new(s, verified(g, s, size).iter().filter_map(|c| point(c, c.workers as f64)).collect())
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let max_workers = parallel.iter().flat_map(|s| &s.points).map(|p| p.x).fold(1.0, f64::max);
    let seq = sequential(g, size);
    // Sequential ran once per grown size: place each at the worker count that grew it.
    let seq_points: Vec<_> = seq
        .iter()
        .filter_map(|c| point(c, (c.effective_size as f64 / size.max(1) as f64).round().max(1.0)))
        .collect();
    if let Some(base) = seq.iter().find(|c| c.effective_size == size).and_then(|c| c.stats.as_ref()) {
        guides.push(Guide {
            label: format!("ideal: flat at {}", format_ns(base.median)),
            colour: IDEAL,
            points: vec![(1.0, base.median), (max_workers, base.median)],
            dash: (8, 5),
        });
    }
    if let Some(first) = seq.first() {
        let mut s = Series::new(&first.strategy, seq_points);
        s.label = format!("{} (1 worker)", first.strategy);
        series.push(s);
    }
    series.extend(parallel);
    if series.iter().all(|s| s.points.is_empty()) {
        return None;
    }
    series.retain(|s| !s.points.is_empty());
    let mut chart = Chart::new(
        "weak",
        "Weak scaling: time as size grows with workers",
        AxisSpec::workers(),
        AxisSpec::new("median time", Quantity::Time),
        series,
        guides,
    );
    chart.note = format!(
        "Size {} per worker. Flat is ideal. Error bars: 95% CI of the median.{}",
        format_count(size),
        left_out(g)
    );
    Some(chart)
}
