//! Parallel efficiency vs workers: speedup / workers per strategy, against the ideal 100%.

use super::{
    chart_size, parallel_strategies, verified, AxisSpec, Chart, Guide, Point, Quantity, Series, IDEAL,
};
use crate::report::table::Group;
use crate::units::format_count;

pub fn chart(g: &Group) -> Option<Chart> {
    let size = chart_size(g);
    let mut series = vec![];
    for s in parallel_strategies(g) {
        let points: Vec<Point> = verified(g, &s, size)
            .iter()
            .filter_map(|c| {
                let e = c.efficiency.filter(|v| v.is_finite())?;
                Some(Point {
                    x: c.workers as f64,
                    y: e,
                    err: None,
                    tip: format!("{s}, {} workers: {:.0}% efficiency", c.workers, e * 100.0),
                })
            })
            .collect();
        if !points.is_empty() {
            series.push(Series::new(&s, points));
        }
    }
    if series.is_empty() {
        return None;
    }
    let max_workers = series.iter().flat_map(|s| &s.points).map(|p| p.x).fold(1.0, f64::max);
    let guides = vec![Guide {
        label: "ideal (100%)".into(),
        colour: IDEAL,
        points: vec![(1.0, 1.0), (max_workers, 1.0)],
        dash: (8, 5),
    }];
    let mut chart = Chart::new(
        "efficiency",
        "Parallel efficiency",
        AxisSpec::workers(),
        AxisSpec::new("efficiency = speedup / workers", Quantity::Percent).linear(),
        series,
        guides,
    );
    chart.note = format!("Size {}. 100% means every added worker pays for itself.", format_count(size));
    Some(chart)
}
