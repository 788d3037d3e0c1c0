//! Speedup vs workers: one line per strategy, the ideal `S = p`, and for strong scaling
//! Amdahl's law fitted to the best strategy (least squares in 1/S, [`stats::amdahl_fit`]).
//! Under weak scaling the speedup is the scaled one (sequential at the same, grown size).

use super::{
    chart_size, parallel_strategies, verified, AxisSpec, Chart, Guide, Point, Quantity, Series, IDEAL, MODEL,
};
use crate::report::table::Group;
use crate::scenario::Scaling;
use crate::stats;
use crate::units::format_count;

/// Amdahl's law fitted to one strategy's speedups.
#[derive(Debug, Clone, PartialEq)]
pub struct AmdahlFit {
    pub strategy: String,
    /// The fitted serial fraction f, in [0, 1].
    pub serial_fraction: f64,
}

impl AmdahlFit {
    /// The speedup limit with unlimited workers, 1/f (infinite for f = 0).
    pub fn limit(&self) -> f64 {
        1.0 / self.serial_fraction
    }
}

/// The speedup chart, and the Amdahl fit when there is one; `None` without verified speedups.
pub fn chart(g: &Group) -> Option<(Chart, Option<AmdahlFit>)> {
    let size = chart_size(g);
    let mut series = vec![];
    for s in parallel_strategies(g) {
        let points: Vec<Point> = verified(g, &s, size)
            .iter()
            .filter_map(|c| {
                let speedup = c.speedup.filter(|v| v.is_finite() && *v > 0.0)?;
                Some(Point {
                    x: c.workers as f64,
                    y: speedup,
                    err: None,
                    tip: format!("{s}, {} workers: {speedup:.2}x", c.workers),
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
    let mut guides = vec![Guide {
        label: "ideal (speedup = workers)".into(),
        colour: IDEAL,
        points: vec![(1.0, 1.0), (max_workers, max_workers)],
        dash: (8, 5),
    }];
    let mut fit = None;
    if g.plan.settings.scaling == Scaling::Strong {
        // The best strategy is the fastest at the largest worker count it reached.
        let best = series.iter().max_by(|a, b| {
            let last = |s: &Series| {
                s.points.iter().map(|p| (p.x, p.y)).fold((0.0, 0.0), |m, p| if p.0 >= m.0 { p } else { m })
            };
            last(a).partial_cmp(&last(b)).unwrap_or(std::cmp::Ordering::Equal)
        });
        if let Some(best) = best {
            let points: Vec<(usize, f64)> = best.points.iter().map(|p| (p.x as usize, p.y)).collect();
            if let Some(f) = stats::amdahl_fit(&points) {
                let curve: Vec<(f64, f64)> = (0..=40)
                    .map(|i| {
                        let p = max_workers.powf(i as f64 / 40.0);
                        (p, stats::amdahl_speedup(f, p))
                    })
                    .collect();
                guides.push(Guide {
                    label: format!("Amdahl fit to {}: f = {}", best.name, percent(f)),
                    colour: MODEL,
                    points: curve,
                    dash: (3, 3),
                });
                fit = Some(AmdahlFit { strategy: best.name.clone(), serial_fraction: f });
            }
        }
    }
    let title = match g.plan.settings.scaling {
        Scaling::Strong => "Speedup over sequential".to_string(),
        Scaling::Weak => "Scaled speedup (weak scaling)".to_string(),
    };
    let mut chart = Chart::new(
        "speedup",
        title,
        AxisSpec::workers(),
        AxisSpec::new("speedup over sequential (x)", Quantity::Plain),
        series,
        guides,
    );
    chart.note = match (g.plan.settings.scaling, &fit) {
        (Scaling::Strong, Some(f)) => format!(
            "Size {}. Amdahl's law fitted to {}: serial fraction f = {}, so no more than {} with any number of workers.",
            format_count(size),
            f.strategy,
            percent(f.serial_fraction),
            if f.serial_fraction > 0.0 { format!("{:.1}x", f.limit()) } else { "unbounded speedup".to_string() }
        ),
        (Scaling::Strong, None) => format!("Size {}.", format_count(size)),
        (Scaling::Weak, _) => format!(
            "Size {} per worker; each point is compared with sequential at the same total size.",
            format_count(size)
        ),
    };
    Some((chart, fit))
}

/// A fraction as a percentage with sensible precision: `3.2%`, `0.41%`, `45%`.
pub fn percent(f: f64) -> String {
    let p = f * 100.0;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else if p >= 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.2}%")
    }
}
