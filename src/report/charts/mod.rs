//! Charts as inline SVG, drawn with plotters' SVG backend (no font or system library: the
//! browser renders the text).
//!
//! One file per chart kind builds a [`Chart`] from a workload's cases: its series (one per
//! strategy), its guides (ideal speedup, Amdahl's fit, a baseline) and the names of its axes.
//! [`Chart::svg`] draws every kind the same way, so all charts share their look, their legend
//! and the colour and marker of each strategy ([`colour`], [`Marker`]).
//!
//! Axes are fitted to everything drawn (points, error bars, guides), so nothing falls outside
//! the frame, and turn logarithmic when the values span a decade or more. Each series is drawn
//! into its own SVG layer with the same layout and wrapped in
//! `<g class="series" data-series=NAME data-points=N>`, so the page, its tests and a reader's
//! tools can tell the lines apart; every point also carries a `<title>` tooltip.

pub mod efficiency;
pub mod size_sweep;
pub mod speedup;
pub mod throughput;
pub mod time;
pub mod weak;

use std::ops::Range;

use anyhow::anyhow;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight, Ranged};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::table::{self, Group};
use crate::results::{CaseResult, Status};
use crate::strategy;

/// Size of every chart in SVG pixels (it scales with the page); the legend takes the right.
const WIDTH: u32 = 680;
const HEIGHT: u32 = 400;
const LEGEND_WIDTH: u32 = 200;
const FONT: &str = "sans-serif";
/// Font sizes as plotters takes them: its SVG backend writes `font-size` = size / 1.24, so
/// these come out at about 13.7 and 14.5 pixels.
const TICK_FONT: f64 = 17.0;
const DESC_FONT: f64 = 18.0;
/// Characters per legend line.
const LEGEND_CHARS: usize = 21;

/// The baseline's colour: neutral, so parallel strategies stand out.
const SEQUENTIAL: RGBColor = RGBColor(0x44, 0x44, 0x44);
/// Okabe and Ito's colour-blind-safe palette (yellow swapped for darker tones), then four of
/// Tol's muted colours, in registry order of the parallel strategies. With more strategies
/// than colours, [`Marker`] keeps every (colour, marker) pair apart.
const PALETTE: [RGBColor; 12] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0x6A, 0x3D, 0x9A),
    RGBColor(0x11, 0x77, 0x33),
    RGBColor(0x88, 0x22, 0x55),
    RGBColor(0x44, 0xAA, 0x99),
    RGBColor(0x99, 0x99, 0x33),
];

/// Guides: the ideal in light grey, fitted models in near-black.
pub const IDEAL: RGBColor = RGBColor(0x99, 0x99, 0x99);
pub const MODEL: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID_BOLD: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
const GRID_LIGHT: RGBColor = RGBColor(0xF0, 0xF0, 0xF0);
const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);

/// Index of a parallel strategy in the registry; unknown names hashed (FNV-1a) past it, so that
/// a name keeps its colour and marker in every chart and every report.
fn strategy_index(name: &str) -> usize {
    let mut parallel = strategy::STRATEGIES.iter().filter(|s| !s.is_sequential());
    if let Some(i) = parallel.position(|s| s.name() == name) {
        return i;
    }
    let hash =
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    strategy::STRATEGIES.len() + (hash % 1000) as usize
}

fn palette_index(name: &str) -> usize {
    strategy_index(name) % PALETTE.len()
}

/// The colour of a strategy, the same in every chart, table swatch and report.
pub fn colour(strategy: &str) -> RGBColor {
    if table::is_sequential(strategy) {
        SEQUENTIAL
    } else {
        PALETTE[palette_index(strategy)]
    }
}

/// [`colour`] as CSS, e.g. `#0072b2`.
pub fn hex(strategy: &str) -> String {
    css(colour(strategy))
}

pub fn css(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Marker shapes, so that lines stay apart in grey print and for colour-blind readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
}

impl Marker {
    pub fn of(strategy: &str) -> Marker {
        if table::is_sequential(strategy) {
            return Marker::Square;
        }
        [Marker::Circle, Marker::Triangle, Marker::Diamond, Marker::Cross, Marker::Square]
            [strategy_index(strategy) % 5]
    }

    /// Draws the marker at `at` (in `area`'s coordinates), in pixels around it.
    fn draw<DB: DrawingBackend, CT: CoordTranslate>(
        self,
        area: &DrawingArea<DB, CT>,
        at: CT::From,
        colour: RGBColor,
    ) -> Result<(), String>
    where
        CT::From: Clone + 'static,
    {
        let fill = colour.filled();
        let base = EmptyElement::at(at);
        match self {
            Marker::Circle => area
                .draw(&(base + Circle::new((0, 0), 4, fill) + Circle::new((0, 0), 4, WHITE.stroke_width(1)))),
            Marker::Triangle => area.draw(&(base + Polygon::new(vec![(0, -5), (5, 4), (-5, 4)], fill))),
            Marker::Square => area.draw(&(base + Rectangle::new([(-4, -4), (4, 4)], fill))),
            Marker::Diamond => {
                area.draw(&(base + Polygon::new(vec![(0, -5), (5, 0), (0, 5), (-5, 0)], fill)))
            }
            Marker::Cross => area.draw(
                &(base
                    + PathElement::new(vec![(-4, -4), (4, 4)], colour.stroke_width(2))
                    + PathElement::new(vec![(-4, 4), (4, -4)], colour.stroke_width(2))),
            ),
        }
        .map_err(fail)
    }
}

/// What an axis measures, which decides its unit, its tick labels and when it may go log.
#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    /// Worker counts: ticks at the counts measured, log base 2 from 8x up.
    Workers,
    /// Nanoseconds, shown in the unit that suits the largest value.
    Time,
    /// A rate in `unit` per second (e.g. `B/s`), shown with an SI prefix.
    Rate(String),
    /// A fraction, shown in percent.
    Percent,
    /// A plain number with its unit in the name (e.g. speedup).
    Plain,
    /// A problem size counting `what`, shown with k/M/G.
    Size(String),
}

/// How to fit an axis: its name, quantity and whether a linear axis starts at zero.
#[derive(Debug, Clone)]
pub struct AxisSpec {
    pub name: String,
    pub quantity: Quantity,
    pub from_zero: bool,
    pub allow_log: bool,
}

impl AxisSpec {
    pub fn new(name: impl Into<String>, quantity: Quantity) -> AxisSpec {
        AxisSpec { name: name.into(), quantity, from_zero: true, allow_log: true }
    }
    pub fn workers() -> AxisSpec {
        AxisSpec::new("workers", Quantity::Workers)
    }
    pub fn linear(mut self) -> AxisSpec {
        self.allow_log = false;
        self
    }
}

/// A fitted axis: its range, scale, ticks and label. Implements plotters' [`Ranged`], so one
/// type serves linear and log axes alike.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub log: bool,
    lo: f64,
    hi: f64,
    /// Values are shown divided by this (e.g. 1e6 to show nanoseconds in ms).
    display: f64,
    ticks: Vec<f64>,
    minor: Vec<f64>,
    quantity: Quantity,
}

/// Ratio of largest to smallest value from which an axis goes logarithmic: a decade.
const LOG_FROM: f64 = 10.0;

impl Axis {
    /// Fits an axis to every value that will be drawn on it.
    pub fn fit(spec: &AxisSpec, values: &[f64]) -> Axis {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let positive: Vec<f64> = finite.iter().copied().filter(|v| *v > 0.0).collect();
        let (min, max) = bounds(&finite).unwrap_or((0.0, 1.0));
        let (pmin, pmax) = bounds(&positive).unwrap_or((1.0, 1.0));
        if spec.quantity == Quantity::Workers {
            return Axis::workers(&positive, &spec.name);
        }
        let log = spec.allow_log && positive.len() == finite.len() && pmax / pmin >= LOG_FROM;
        let (lo, hi) = if log {
            (pmin / 1.3, pmax * 1.3)
        } else {
            let (lo, hi) = if spec.from_zero && min >= 0.0 { (0.0, max) } else { (min, max) };
            let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
            let lo = if spec.from_zero && min >= 0.0 { 0.0 } else { lo - span * 0.06 };
            (lo, hi + span * 0.08)
        };
        let (display, unit) = display_unit(&spec.quantity, if log { pmax } else { max.abs().max(min.abs()) });
        let label = if unit.is_empty() { spec.name.clone() } else { format!("{} ({unit})", spec.name) };
        let mut axis = Axis {
            label,
            log,
            lo,
            hi,
            display,
            ticks: vec![],
            minor: vec![],
            quantity: spec.quantity.clone(),
        };
        axis.make_ticks();
        axis
    }

    /// The same axis with every value multiplied by `factor`, shown as `spec` says: a secondary
    /// axis that lines up with this one (e.g. bandwidth as a percentage of the best).
    pub fn scaled(&self, factor: f64, spec: &AxisSpec) -> Axis {
        let (lo, hi) = (self.lo * factor, self.hi * factor);
        let (display, unit) = display_unit(&spec.quantity, hi);
        let label = if unit.is_empty() { spec.name.clone() } else { format!("{} ({unit})", spec.name) };
        let mut axis = Axis {
            label,
            log: self.log,
            lo,
            hi,
            display,
            ticks: vec![],
            minor: vec![],
            quantity: spec.quantity.clone(),
        };
        axis.make_ticks();
        axis
    }

    fn workers(values: &[f64], name: &str) -> Axis {
        let (min, max) = bounds(values).unwrap_or((1.0, 1.0));
        // Ticks at the worker counts measured (whole numbers), not at points along a curve.
        let mut counts: Vec<f64> = values.iter().copied().filter(|v| v.fract() == 0.0).collect();
        counts.sort_by(f64::total_cmp);
        counts.dedup();
        let log = max / min >= 8.0;
        let (lo, hi) = if log {
            (min / 1.25, max * 1.25)
        } else {
            let pad = ((max - min) * 0.08).max(0.4);
            (min - pad, max + pad)
        };
        // Label the counts measured; on a crowded axis keep powers of two and the ends.
        let mut ticks = counts.clone();
        if ticks.len() > 9 {
            ticks.retain(|&c| c == min || c == max || (c as u64).is_power_of_two());
        }
        while ticks.len() > 12 {
            ticks = ticks.iter().copied().step_by(2).collect();
        }
        Axis {
            label: name.to_string(),
            log,
            lo,
            hi,
            display: 1.0,
            ticks,
            minor: vec![],
            quantity: Quantity::Workers,
        }
    }

    fn t(&self, v: f64) -> f64 {
        if self.log {
            v.max(self.lo * 1e-3).ln()
        } else {
            v
        }
    }

    fn inverse(&self, t: f64) -> f64 {
        if self.log {
            t.exp()
        } else {
            t
        }
    }

    /// `v` moved sideways by `k` steps of 1.2% of the axis, so that error bars of different
    /// series at the same x do not hide each other.
    pub fn dodge(&self, v: f64, k: f64) -> f64 {
        let span = self.t(self.hi) - self.t(self.lo);
        self.inverse(self.t(v) + k * 0.012 * span)
    }

    /// A tick label: the value in the axis's unit, compactly.
    pub fn format(&self, v: f64) -> String {
        match &self.quantity {
            Quantity::Workers => format!("{}", v.round()),
            Quantity::Size(_) => compact_si(v),
            _ => number(v / self.display),
        }
    }

    fn make_ticks(&mut self) {
        let (lo, hi) = (self.lo / self.display, self.hi / self.display);
        let (ticks, minor) = if self.log { log_ticks(lo, hi) } else { (linear_ticks(lo, hi), vec![]) };
        self.ticks = ticks.into_iter().map(|t| t * self.display).collect();
        self.minor = minor.into_iter().map(|t| t * self.display).collect();
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        let frac = if b > a { (self.t(*value) - a) / (b - a) } else { 0.5 };
        limit.0 + (frac * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => self.ticks.clone(),
            KeyPointWeight::Any => {
                let mut all: Vec<f64> = self.ticks.iter().chain(&self.minor).copied().collect();
                all.sort_by(f64::total_cmp);
                all
            }
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

fn bounds(values: &[f64]) -> Option<(f64, f64)> {
    let min = values.iter().copied().reduce(f64::min)?;
    let max = values.iter().copied().reduce(f64::max)?;
    Some((min, max))
}

/// The divisor and unit label that suit values up to `max`.
fn display_unit(q: &Quantity, max: f64) -> (f64, String) {
    match q {
        Quantity::Time => {
            let (d, u) = if max < 1e3 {
                (1.0, "ns")
            } else if max < 1e6 {
                (1e3, "µs")
            } else if max < 1e9 {
                (1e6, "ms")
            } else {
                (1e9, "s")
            };
            (d, u.to_string())
        }
        Quantity::Rate(unit) => {
            let (d, p) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
                .into_iter()
                .find(|(d, _)| max >= *d)
                .unwrap_or((1.0, ""));
            (d, format!("{p}{unit}"))
        }
        Quantity::Percent => (0.01, "%".to_string()),
        Quantity::Size(what) => (1.0, what.clone()),
        Quantity::Workers | Quantity::Plain => (1.0, String::new()),
    }
}

/// About six ticks at 1, 2, 2.5 or 5 times a power of ten.
fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi <= lo || !(hi - lo).is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Ticks at 1-2-5 in each decade over at most two decades, else at powers of ten; the light
/// grid at every integer multiple of each decade.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let decades = (hi / lo).log10();
    let mults: &[f64] = if decades <= 2.2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let every = if decades > 7.0 { 2 } else { 1 };
    let mut ticks = vec![];
    let mut minor = vec![];
    for d in d0..=d1 {
        let base = 10f64.powi(d);
        for m in 1..10 {
            let v = base * m as f64;
            if v < lo || v > hi {
                continue;
            }
            if mults.contains(&(m as f64)) && (m != 1 || d.rem_euclid(every) == 0) {
                ticks.push(v);
            } else {
                minor.push(v);
            }
        }
    }
    if ticks.len() < 2 {
        // Less than a decade with no 1-2-5 inside: fall back to linear ticks.
        return (linear_ticks(lo, hi).into_iter().filter(|t| *t > 0.0).collect(), minor);
    }
    (ticks, minor)
}

/// A number with up to three significant digits and no trailing zeros: `0.05`, `2.5`, `120`.
pub fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let a = v.abs();
    let decimals = if a >= 100.0 { 0 } else { (2 - a.log10().floor() as i32).max(0) as usize };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `64k`, `1M`, `2.5G`.
pub fn compact_si(v: f64) -> String {
    for (f, p) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if v.abs() >= f {
            return format!("{}{p}", number(v / f));
        }
    }
    number(v)
}

/// One measured point: its position, the ends of its error bar, and its tooltip.
#[derive(Debug, Clone)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub err: Option<(f64, f64)>,
    pub tip: String,
}

/// One strategy's line.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// What the legend says; usually the name.
    pub label: String,
    pub colour: RGBColor,
    pub marker: Marker,
    pub points: Vec<Point>,
}

impl Series {
    pub fn new(strategy: &str, points: Vec<Point>) -> Series {
        Series {
            name: strategy.to_string(),
            label: strategy.to_string(),
            colour: colour(strategy),
            marker: Marker::of(strategy),
            points,
        }
    }
}

/// A reference line: the ideal, a fitted model, a baseline. Drawn dashed, under the data.
#[derive(Debug, Clone)]
pub struct Guide {
    pub label: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// Dash and gap lengths in pixels.
    pub dash: (u32, u32),
}

/// A chart ready to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The kind, e.g. `speedup`: the `data-chart` of its figure.
    pub kind: &'static str,
    pub title: String,
    /// What the chart shows and what it leaves out, in words, under it.
    pub note: String,
    pub x: Axis,
    pub y: Axis,
    /// A second y axis on the right, lined up with `y`: its values are `y` times the factor.
    pub y2: Option<(Axis, f64)>,
    pub series: Vec<Series>,
    pub guides: Vec<Guide>,
}

impl Chart {
    /// Fits both axes to everything drawn and assembles the chart.
    pub fn new(
        kind: &'static str,
        title: impl Into<String>,
        x: AxisSpec,
        y: AxisSpec,
        series: Vec<Series>,
        guides: Vec<Guide>,
    ) -> Chart {
        let mut xs: Vec<f64> = vec![];
        let mut ys: Vec<f64> = vec![];
        for p in series.iter().flat_map(|s| &s.points) {
            xs.push(p.x);
            ys.push(p.y);
            if let Some((lo, hi)) = p.err {
                ys.extend([lo, hi]);
            }
        }
        for &(x, y) in guides.iter().flat_map(|g| &g.points) {
            xs.push(x);
            ys.push(y);
        }
        Chart {
            kind,
            title: title.into(),
            note: String::new(),
            x: Axis::fit(&x, &xs),
            y: Axis::fit(&y, &ys),
            y2: None,
            series,
            guides,
        }
    }

    /// The chart as one `<svg>` element.
    pub fn svg(&self) -> anyhow::Result<String> {
        let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw the {} chart: {e}", self.kind);
        let mut frame = String::new();
        self.draw_frame(&mut frame).map_err(|e| err(&e))?;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart-svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">\n",
            super::html::escape(&self.title)
        );
        out.push_str("<g class=\"frame\">\n");
        out.push_str(inner(&frame));
        out.push_str("</g>\n");
        let n = self.series.len();
        for (i, s) in self.series.iter().enumerate() {
            let mut layer = String::new();
            let k = i as f64 - (n as f64 - 1.0) / 2.0;
            let tips = self.draw_series(&mut layer, s, k).map_err(|e| err(&e))?;
            out.push_str(&format!(
                "<g class=\"series\" data-series=\"{}\" data-points=\"{}\">\n",
                super::html::escape(&s.name),
                s.points.len()
            ));
            out.push_str(inner(&layer));
            for ((x, y), tip) in tips {
                out.push_str(&format!(
                    "<circle class=\"tip\" cx=\"{x}\" cy=\"{y}\" r=\"9\" fill=\"transparent\"><title>{}</title></circle>\n",
                    super::html::escape(&tip)
                ));
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg>\n");
        Ok(out)
    }

    /// Splits the canvas into plot and legend, and sets up the plot's coordinates: the same in
    /// every layer, so the layers line up.
    fn layout<'a, 'b>(&self, root: &'a DrawingArea<SVGBackend<'b>, Shift>) -> Result<Plot<'a, 'b>, String> {
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let chart = ChartBuilder::on(root)
            .margin_top(14)
            .margin_left(8)
            .margin_right(LEGEND_WIDTH as i32 + if self.y2.is_some() { 66 } else { 18 })
            .margin_bottom(6)
            .x_label_area_size(46)
            .y_label_area_size(66)
            .build_cartesian_2d(self.x.clone(), self.y.clone())
            .map_err(fail)?;
        drop(plot);
        Ok((chart, legend))
    }

    fn draw_frame(&self, buf: &mut String) -> Result<(), String> {
        let root = SVGBackend::with_string(buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let (mut chart, legend) = self.layout(&root)?;
        let xf = |v: &f64| self.x.format(*v);
        let yf = |v: &f64| self.y.format(*v);
        chart
            .configure_mesh()
            .x_desc(self.x.label.as_str())
            .y_desc(self.y.label.as_str())
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .label_style((FONT, TICK_FONT).into_font().color(&INK))
            .axis_desc_style((FONT, DESC_FONT).into_font().color(&INK))
            .bold_line_style(GRID_BOLD.stroke_width(1))
            .light_line_style(GRID_LIGHT.stroke_width(1))
            .axis_style(INK.stroke_width(1))
            .x_max_light_lines(if self.x.log { 10 } else { 0 })
            .y_max_light_lines(if self.y.log { 10 } else { 0 })
            .draw()
            .map_err(fail)?;
        for g in &self.guides {
            let style = g.colour.stroke_width(2);
            let pts: Vec<(f64, f64)> = densify(&g.points, &self.x, &self.y);
            chart
                .draw_series(std::iter::once(DashedPathElement::new(pts, g.dash.0, g.dash.1, style)))
                .map_err(fail)?;
        }
        self.draw_legend(&legend).map_err(fail)?;
        if let Some((y2, factor)) = &self.y2 {
            // Drawn by hand: plotters would also repeat the primary labels on the right.
            let (xs, ys) = chart.plotting_area().get_pixel_range();
            let right = xs.end;
            let px = |v: f64| chart.backend_coord(&(self.x.lo, v / factor)).1;
            let style = INK.stroke_width(1);
            root.draw(&PathElement::new(vec![(right, ys.start), (right, ys.end)], style)).map_err(fail)?;
            let text = (FONT, TICK_FONT).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
            for &t in &y2.ticks {
                let y = px(t);
                root.draw(&PathElement::new(vec![(right, y), (right + 5, y)], style)).map_err(fail)?;
                root.draw(&Text::new(y2.format(t), (right + 8, y), text.clone())).map_err(fail)?;
            }
            let desc = (FONT, DESC_FONT)
                .into_font()
                .color(&INK)
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(y2.label.clone(), (right + 52, (ys.start + ys.end) / 2), desc))
                .map_err(fail)?;
        }
        root.present().map_err(fail)?;
        Ok(())
    }

    fn draw_legend(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> {
        let text = (FONT, TICK_FONT).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
        let x0 = 8;
        let mut y = 24;
        for s in &self.series {
            area.draw(&PathElement::new(vec![(x0, y), (x0 + 26, y)], s.colour.stroke_width(2)))
                .map_err(fail)?;
            s.marker.draw(area, (x0 + 13, y), s.colour)?;
            area.draw(&Text::new(shorten(&s.label, LEGEND_CHARS), (x0 + 34, y), text.clone()))
                .map_err(fail)?;
            y += 22;
        }
        for g in &self.guides {
            let style = g.colour.stroke_width(2);
            area.draw(&DashedPathElement::new(
                vec![(x0, y), (x0 + 26, y)],
                g.dash.0 as i32,
                g.dash.1 as i32,
                style,
            ))
            .map_err(fail)?;
            for (i, line) in wrap(&g.label, LEGEND_CHARS).iter().enumerate() {
                area.draw(&Text::new(line.clone(), (x0 + 34, y + i as i32 * 16), text.clone()))
                    .map_err(fail)?;
            }
            y += 22 + 16 * (wrap(&g.label, LEGEND_CHARS).len() as i32 - 1);
        }
        Ok(())
    }

    /// Draws one series into its own layer; returns its points in pixels, with their tooltips.
    fn draw_series(&self, buf: &mut String, s: &Series, k: f64) -> Result<Tips, String> {
        let root = SVGBackend::with_string(buf, (WIDTH, HEIGHT)).into_drawing_area();
        let (mut chart, _) = self.layout(&root)?;
        let bars = s.points.iter().any(|p| p.err.is_some()) && self.series.len() > 1;
        let x = |p: &Point| if bars { self.x.dodge(p.x, k) } else { p.x };
        for p in &s.points {
            if let Some((lo, hi)) = p.err {
                let style = s.colour.stroke_width(1);
                let cap =
                    |y: f64| EmptyElement::at((x(p), y)) + PathElement::new(vec![(-4, 0), (4, 0)], style);
                chart.draw_series([PathElement::new(vec![(x(p), lo), (x(p), hi)], style)]).map_err(fail)?;
                chart.draw_series([cap(lo), cap(hi)]).map_err(fail)?;
            }
        }
        if s.points.len() > 1 {
            chart
                .draw_series(LineSeries::new(s.points.iter().map(|p| (x(p), p.y)), s.colour.stroke_width(2)))
                .map_err(fail)?;
        }
        for p in &s.points {
            s.marker.draw(chart.plotting_area(), (x(p), p.y), s.colour)?;
        }
        let tips = s.points.iter().map(|p| (chart.backend_coord(&(x(p), p.y)), p.tip.clone())).collect();
        root.present().map_err(fail)?;
        Ok(tips)
    }
}

/// A chart's coordinates and its legend's area, as every layer sets them up.
type Plot<'a, 'b> =
    (ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>, DrawingArea<SVGBackend<'b>, Shift>);

/// Points of a series in pixels, with their tooltips.
type Tips = Vec<((i32, i32), String)>;

/// Plotters' errors carry the backend's error type; one message serves them all.
fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The document inside a layer's `<svg>`: what lies between its first line and `</svg>`.
fn inner(svg: &str) -> &str {
    let start = svg.find('\n').map_or(0, |i| i + 1);
    let end = svg.rfind("</svg>").unwrap_or(svg.len());
    &svg[start..end.max(start)]
}

/// Points along a guide close enough that a straight segment between them is straight on
/// whatever axes it is drawn (a line y = x bends on log-linear axes).
fn densify(points: &[(f64, f64)], x: &Axis, y: &Axis) -> Vec<(f64, f64)> {
    if points.len() != 2 || !(x.log || y.log) {
        return points.to_vec();
    }
    let ((x0, y0), (x1, y1)) = (points[0], points[1]);
    (0..=48)
        .map(|i| {
            let f = i as f64 / 48.0;
            let xv = x.inverse(x.t(x0) + f * (x.t(x1) - x.t(x0)));
            // The guide is a straight line in data space: interpolate y linearly in x.
            let yv = if x1 != x0 { y0 + (y1 - y0) * (xv - x0) / (x1 - x0) } else { y0 };
            (xv, yv)
        })
        .collect()
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// Splits a legend label into lines of at most `width` characters, at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    for word in s.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(shorten(word, width)),
        }
    }
    lines.truncate(3);
    lines
}

/// The cases a chart of `g` is drawn from: at its largest size (base size for weak scaling).
pub fn chart_size(g: &Group) -> u64 {
    g.cases.iter().map(|c| c.size).max().unwrap_or(0)
}

/// Parallel strategies of `g` in the scenario's order, then any others found in the cases.
pub fn parallel_strategies(g: &Group) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for n in g.plan.strategies.iter().chain(g.cases.iter().map(|c| &c.strategy)) {
        if !names.contains(n) && !table::is_sequential(n) {
            names.push(n.clone());
        }
    }
    names
}

/// Verified cases of one strategy at base size `size`, by worker count.
pub fn verified<'a>(g: &Group<'a>, strategy: &str, size: u64) -> Vec<&'a CaseResult> {
    let mut cases: Vec<&CaseResult> = g
        .cases
        .iter()
        .copied()
        .filter(|c| c.strategy == strategy && c.size == size && c.status == Status::Ok && c.stats.is_some())
        .collect();
    cases.sort_by_key(|c| (c.workers, c.effective_size));
    cases
}

/// The sequential baseline cases of `g` at base size `size` (one per measured size).
pub fn sequential<'a>(g: &Group<'a>, size: u64) -> Vec<&'a CaseResult> {
    let mut cases: Vec<&CaseResult> = g
        .cases
        .iter()
        .copied()
        .filter(|c| {
            table::is_sequential(&c.strategy) && c.size == size && c.status == Status::Ok && c.stats.is_some()
        })
        .collect();
    cases.sort_by_key(|c| c.effective_size);
    cases
}

/// Cases of `g` left out of its charts because they did not verify or were not measured, as the
/// end of the note under a chart: ` Not drawn: threads at 2 workers (FAILED verification).`, or
/// nothing when every case is drawn.
pub fn left_out(g: &Group) -> String {
    let missing: Vec<String> = g
        .cases
        .iter()
        .filter(|c| c.status != Status::Ok)
        .map(|c| format!("{} at {} workers ({})", c.strategy, c.workers, c.status.label()))
        .collect();
    if missing.is_empty() {
        String::new()
    } else {
        format!(" Not drawn: {}.", missing.join(", "))
    }
}

/// One line per parallel strategy (its verified cases at `size`, placed by `point`), then the
/// sequential baseline as a single point with a dashed guide across every worker count,
/// labelled by `label` from the baseline's value. The shape of the time and throughput charts.
pub fn lines_with_baseline(
    g: &Group,
    size: u64,
    point: fn(&CaseResult, f64) -> Option<Point>,
    label: impl Fn(f64) -> String,
) -> (Vec<Series>, Vec<Guide>) {
    let parallel: Vec<Series> = parallel_strategies(g)
        .iter()
        .map(|s| {
            Series::new(s, verified(g, s, size).iter().filter_map(|c| point(c, c.workers as f64)).collect())
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let max_workers = parallel.iter().flat_map(|s| &s.points).map(|p| p.x).fold(1.0, f64::max);
    let (mut series, mut guides) = (vec![], vec![]);
    if let Some(p) = sequential(g, size).first().and_then(|base| point(base, 1.0).map(|p| (base, p))) {
        let (base, p) = p;
        guides.push(Guide {
            label: label(p.y),
            colour: colour(&base.strategy),
            points: vec![(1.0, p.y), (max_workers, p.y)],
            dash: (6, 4),
        });
        series.push(Series::new(&base.strategy, vec![p]));
    }
    series.extend(parallel);
    (series, guides)
}

/// The workload's size unit, short: `elements per array` rather than its long help; empty for
/// a workload this build does not know.
pub fn size_what(kind: &str) -> String {
    crate::workload::find(kind)
        .map(|w| w.size_unit().what.split(" (").next().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(linear_ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = linear_ticks(0.3, 0.95);
        assert!(t.iter().all(|v| (0.3..=0.95).contains(v)), "{t:?}");
        let (major, minor) = log_ticks(0.8, 40.0);
        assert_eq!(major, vec![1.0, 2.0, 5.0, 10.0, 20.0]);
        assert!(minor.contains(&3.0) && minor.contains(&30.0));
        let (major, _) = log_ticks(1.0, 1e6);
        assert_eq!(major, vec![1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]);
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(1234.0), "1234");
        assert_eq!(compact_si(65536.0), "65.5k");
        assert_eq!(compact_si(4e6), "4M");
    }

    #[test]
    fn axes_go_log_from_a_decade_and_pick_units() {
        let time = Axis::fit(&AxisSpec::new("median time", Quantity::Time), &[2e6, 3e6]);
        assert!(!time.log);
        assert_eq!(time.label, "median time (ms)");
        let wide = Axis::fit(&AxisSpec::new("median time", Quantity::Time), &[2e3, 3e6]);
        assert!(wide.log);
        let rate = Axis::fit(&AxisSpec::new("throughput", Quantity::Rate("B/s".into())), &[1e10, 2e10]);
        assert_eq!(rate.label, "throughput (GB/s)");
        assert_eq!(rate.format(1e10), "10");
        let w = Axis::fit(&AxisSpec::workers(), &[1.0, 2.0, 4.0, 8.0, 16.0]);
        assert!(w.log);
        assert_eq!(w.ticks, vec![1.0, 2.0, 4.0, 8.0, 16.0]);
        assert!(!Axis::fit(&AxisSpec::workers(), &[1.0, 2.0, 4.0]).log);
    }

    #[test]
    fn colours_are_stable_and_distinct() {
        assert_eq!(hex("threads"), hex("threads"));
        assert_eq!(hex("made-up"), hex("made-up"));
        let parallel: Vec<&str> =
            strategy::STRATEGIES.iter().filter(|s| !s.is_sequential()).map(|s| s.name()).collect();
        // The first strategies of the registry all get their own colour, unlike the baseline's.
        let mut colours: Vec<String> = parallel.iter().take(PALETTE.len()).map(|n| hex(n)).collect();
        colours.push(hex("sequential"));
        let n = colours.len();
        colours.sort();
        colours.dedup();
        assert_eq!(colours.len(), n);
        // Past the palette, colour and marker together still tell every strategy apart.
        let mut pairs: Vec<(String, Marker)> = parallel.iter().map(|n| (hex(n), Marker::of(n))).collect();
        let n = pairs.len();
        pairs.sort_by(|a, b| a.0.cmp(&b.0).then((a.1 as u8).cmp(&(b.1 as u8))));
        pairs.dedup();
        assert_eq!(pairs.len(), n);
    }
}
