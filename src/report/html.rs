//! `index.html`: the lab report, one self-contained file that works offline.
//!
//! The page answers, from the top: which strategy wins for each workload (the summary heatmap),
//! on what machine and scenario, then per workload how well each strategy scales and how sure
//! the numbers are (charts from [`super::charts`], the table of every case, a one-line
//! verdict; where cases break their runs into phases, a stacked bar per case, and where they
//! timed items, their latency distribution). A run that spans hosts lists them and where each
//! case ran. CSS and a few lines of optional JavaScript (sortable tables) live in
//! `template.html`; charts are inline SVG; nothing is fetched, and the page reads fully with
//! JavaScript off. Every string that comes from a scenario or a results file goes through
//! [`escape`].

use std::fmt::Write;

use super::charts::{self, efficiency, size_sweep, speedup, throughput, time, weak, Chart};
use super::table::{self, Group, SummaryGrid};
use super::Exporter;
use crate::machine::Probe;
use crate::results::{CaseResult, Results, Status};
use crate::scenario::Scaling;
use crate::units::{format_bytes, format_count, format_ns};
use crate::workload;

const TEMPLATE: &str = include_str!("template.html");

pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "index.html"
    }
    fn render(&self, results: &Results) -> anyhow::Result<String> {
        let mut body = String::new();
        header(&mut body, results);
        let groups = table::groups(results);
        toc(&mut body, &groups, table::spans_hosts(results));
        summary(&mut body, results, &groups);
        machine(&mut body, results);
        if table::spans_hosts(results) {
            hosts(&mut body, results);
        }
        scenario(&mut body, results, &groups);
        for g in &groups {
            workload_section(&mut body, g)?;
        }
        footer(&mut body, results);
        Ok(page(&format!("parlab: {}", results.scenario.name), &body))
    }
}

/// Fills the page template: `title` is escaped here, `body` must be HTML already.
pub fn page(title: &str, body: &str) -> String {
    // Split first, so that nothing inserted can be mistaken for a placeholder.
    let (head, tail) = TEMPLATE.split_once("{{body}}").expect("template.html has a {{body}}");
    let mut out = head.replace("{{title}}", &escape(title));
    out.push_str(body);
    out.push_str(tail);
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `s`, then shows its `backticked` names as code.
pub fn code(s: &str) -> String {
    let escaped = escape(s);
    let parts: Vec<&str> = escaped.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escaped; // unbalanced: leave the backticks alone
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { format!("<code>{p}</code>") } else { p.to_string() })
        .collect()
}

/// The anchor of a workload section.
pub fn anchor(g: &Group) -> String {
    format!("w-{}", g.index)
}

/// A strategy's colour swatch and name, as in the charts' legends.
pub fn strategy_name(name: &str) -> String {
    format!(
        "<span class=\"name\"><span class=\"swatch\" style=\"background:{}\"></span>{}</span>",
        charts::hex(name),
        escape(name)
    )
}

fn header(out: &mut String, r: &Results) {
    let _ = write!(
        out,
        "<header class=\"top\">\n<p class=\"brand\">parlab lab report</p>\n<h1>{}</h1>\n",
        escape(&r.scenario.name)
    );
    if !r.scenario.description.is_empty() {
        let _ = writeln!(out, "<p class=\"lede\">{}</p>", escape(&r.scenario.description));
    }
    let m = &r.machine;
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} · {} cores / {} logical CPUs · started {}{} · {} cases · parlab {}{}</p>",
        escape(&m.cpu_model),
        m.physical_cores,
        m.logical_cpus,
        escape(&r.started_at),
        r.finished_at.as_deref().map(|f| format!(", finished {}", escape(f))).unwrap_or_default(),
        r.cases.len(),
        escape(&r.parlab_version),
        r.git_revision.as_deref().map(|g| format!(" ({})", escape(g))).unwrap_or_default(),
    );
    if !r.complete {
        out.push_str(
            "<p class=\"alert\"><strong>Incomplete run.</strong> It was interrupted before every case ran; \
             what follows covers the cases that did.</p>\n",
        );
    }
    let _ = writeln!(out, "<p class=\"meta measurement\">{}</p>", escape(&table::measurement(r)));
    let failures = r.failures();
    if failures > 0 {
        let _ = writeln!(
            out,
            "<p class=\"alert fail\"><strong>{failures} case(s) failed</strong> (wrong answer, panic, timeout or error). \
             They are marked in red below and never counted as a speedup.</p>"
        );
    }
    out.push_str("</header>\n");
}

fn toc(out: &mut String, groups: &[Group], hosts: bool) {
    out.push_str("<nav class=\"toc\"><a href=\"#summary\">Summary</a><a href=\"#machine\">Machine</a>");
    if hosts {
        out.push_str("<a href=\"#hosts\">Hosts</a>");
    }
    out.push_str("<a href=\"#scenario\">Scenario</a>");
    for g in groups {
        let _ = write!(out, "<a href=\"#{}\">{}</a>", anchor(g), escape(&g.label));
    }
    out.push_str("</nav>\n<main>\n");
}

/// Background of a heatmap cell: green growing with log(speedup), red below 1x.
fn heat(speedup: f64, top: f64) -> String {
    // Within 3% of sequential is no speedup either way: left white.
    if (speedup - 1.0).abs() < 0.03 {
        String::new()
    } else if speedup >= 1.0 {
        let t = (speedup.ln() / top.max(2.0).ln()).clamp(0.0, 1.0);
        format!("background:rgba(26,152,80,{:.3})", 0.08 + 0.5 * t)
    } else {
        let t = ((1.0 / speedup).ln() / 4f64.ln()).clamp(0.0, 1.0);
        format!("background:rgba(215,48,39,{:.3})", 0.1 + 0.4 * t)
    }
}

fn summary(out: &mut String, r: &Results, groups: &[Group]) {
    let grid = table::summary(r);
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    if grid.rows.is_empty() {
        out.push_str("<p>No case ran.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p class=\"hint\">{}: the greener, the faster. A cell counts only verified cases; failures are named in it.</p>",
        SummaryGrid::TITLE
    );
    let top =
        grid.rows.iter().flat_map(|r| &r.cells).filter_map(|c| c.best.map(|b| b.speedup)).fold(1.0, f64::max);
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"heatmap\">\n<thead><tr><th scope=\"col\">workload</th>",
    );
    for s in &grid.strategies {
        let _ = write!(out, "<th scope=\"col\">{}</th>", strategy_name(s));
    }
    out.push_str("<th scope=\"col\">winner</th></tr></thead>\n<tbody>\n");
    for (row, g) in grid.rows.iter().zip(groups) {
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><a href=\"#{}\">{}</a></th>",
            anchor(g),
            escape(&row.workload)
        );
        for (i, cell) in row.cells.iter().enumerate() {
            let mut class = vec!["cell"];
            if row.winner == Some(i) {
                class.push("win");
            }
            if cell.failed > 0 {
                class.push("failed");
            }
            let (style, text) = match cell.best {
                Some(b) => (
                    heat(b.speedup, top),
                    format!(
                        "{:.2}×{}<small> @{}w</small>",
                        b.speedup,
                        if b.labelled { "*" } else { "" },
                        b.workers
                    ),
                ),
                None => (String::new(), escape(&cell.text())),
            };
            let extra = match (cell.best, cell.failed) {
                (Some(_), n) if n > 0 => format!("<br><small class=\"bad\">{n} FAILED</small>"),
                _ => String::new(),
            };
            let _ = write!(out, "<td class=\"{}\" style=\"{style}\">{text}{extra}</td>", class.join(" "));
        }
        match row.winner {
            Some(i) => {
                let best = row.cells[i].best;
                let speedup = best.map_or(0.0, |b| b.speedup);
                let star = if best.is_some_and(|b| b.labelled) { "*" } else { "" };
                let _ = write!(
                    out,
                    "<td class=\"winner\">{} {speedup:.2}×{star}</td>",
                    strategy_name(&grid.strategies[i])
                );
            }
            None => out.push_str("<td class=\"winner none\">none verified</td>"),
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    if grid.has_labelled() {
        let _ = writeln!(out, "<p class=\"hint\">{}</p>", escape(SummaryGrid::LABELLED));
    }
    if grid.has_not_applicable() {
        let _ = writeln!(out, "<p class=\"hint\">{}</p>", escape(SummaryGrid::NOT_APPLICABLE));
    }
    out.push_str("<ul class=\"verdicts\">\n");
    for g in groups {
        let _ = writeln!(out, "<li>{}</li>", code(&table::verdict_for(&g.label, &g.cases)));
    }
    out.push_str("</ul>\n</section>\n");
}

fn machine(out: &mut String, r: &Results) {
    let m = &r.machine;
    let mut rows: Vec<(&str, String)> = vec![
        ("CPU", format!("{} ({})", m.cpu_model, m.architecture)),
        (
            "Topology",
            format!(
                "{} socket(s), {} physical cores, {} logical CPUs, {} NUMA node(s)",
                m.sockets, m.physical_cores, m.logical_cpus, m.numa_nodes
            ),
        ),
    ];
    if !m.caches.is_empty() {
        let caches: Vec<String> = m
            .caches
            .iter()
            .map(|c| format!("L{} {} {} × {}", c.level, c.kind, format_bytes(c.size_bytes), c.instances))
            .collect();
        rows.push(("Caches", caches.join("; ")));
    }
    rows.extend([
        (
            "Memory",
            format!(
                "{} total, {} available",
                format_bytes(m.memory_total_bytes),
                format_bytes(m.memory_available_bytes)
            ),
        ),
        ("GPUs", m.describe_probe(Probe::Gpu)),
        ("MPI", m.describe_probe(Probe::Mpi)),
        ("OS", m.os.clone()),
        ("Compiler", m.compiler.clone()),
        ("Host", m.hostname.clone()),
        (
            "parlab",
            format!(
                "{}{}",
                r.parlab_version,
                r.git_revision.as_deref().map(|g| format!(", git {g}")).unwrap_or_default()
            ),
        ),
        (
            "Date",
            format!(
                "{}{}",
                r.started_at,
                r.finished_at.as_deref().map(|f| format!(" to {f}")).unwrap_or_default()
            ),
        ),
        ("Detected by", m.source.clone()),
    ]);
    for n in &m.notes {
        rows.push(("Note", n.clone()));
    }
    out.push_str("<section id=\"machine\">\n<h2>Machine</h2>\n<dl class=\"kv\">\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{}</dd>", escape(&v));
    }
    out.push_str("</dl>\n</section>\n");
}

/// The hosts of a run that spans several, and where each case that names its placement ran.
fn hosts(out: &mut String, r: &Results) {
    out.push_str(
        "<section id=\"hosts\">\n<h2>Hosts</h2>\n<div class=\"table-wrap\"><table class=\"plain hosts\">\n\
         <thead><tr><th>host</th><th>CPU</th><th>cores</th><th>logical CPUs</th></tr></thead>\n<tbody>\n",
    );
    for h in table::hosts(r) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&h.hostname),
            escape(&h.cpu),
            h.physical_cores,
            h.logical_cpus
        );
    }
    out.push_str("</tbody></table></div>\n");
    let placed: Vec<&CaseResult> = r.cases.iter().filter(|c| !c.placement.is_empty()).collect();
    if !placed.is_empty() {
        out.push_str(
            "<h3>Where each case ran</h3>\n<div class=\"table-wrap\"><table class=\"plain placement\">\n\
             <thead><tr><th>workload</th><th>case</th><th>role</th><th>host</th><th>pid</th><th>CPUs</th></tr></thead>\n\
             <tbody>\n",
        );
        for c in placed {
            for p in &c.placement {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                    escape(&c.workload),
                    escape(&table::case_label(c)),
                    escape(&p.role),
                    escape(&p.host),
                    p.pid.map_or("-".to_string(), |pid| pid.to_string()),
                    escape(p.cpus.as_deref().unwrap_or("-"))
                );
            }
        }
        out.push_str("</tbody></table></div>\n");
    }
    out.push_str("</section>\n");
}

fn scenario(out: &mut String, r: &Results, groups: &[Group]) {
    let p = &r.scenario;
    let _ = writeln!(
        out,
        "<section id=\"scenario\">\n<h2>Scenario</h2>\n<p><strong>{}</strong> from <code>{}</code>{}</p>",
        escape(&p.name),
        escape(&p.source),
        if p.description.is_empty() { String::new() } else { format!(": {}", escape(&p.description)) }
    );
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"plain\">\n<thead><tr><th>workload</th><th>sizes</th><th>params</th>\
         <th>strategies</th><th>workers</th><th>scaling</th><th>samples</th><th>target CI</th><th>max time</th>\
         <th>warm-up</th><th>timeout</th></tr></thead>\n<tbody>\n",
    );
    for g in groups {
        let w = g.plan;
        let s = &w.settings;
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#{}\">{}</a></td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td><td>{}</td><td>{}–{}</td>\
             <td>±{:.1}%</td><td>{:?}</td><td>{:?}</td><td>{:?}</td></tr>",
            anchor(g),
            escape(&g.label),
            escape(&w.sizes.iter().map(|s| format_count(*s)).collect::<Vec<_>>().join(", ")),
            escape(&params(&w.params)),
            escape(&w.strategies.join(", ")),
            escape(&w.workers.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")),
            scaling(s.scaling),
            s.min_samples,
            s.max_samples,
            s.target_ci * 100.0,
            s.max_time,
            s.warmup,
            s.timeout,
        );
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

fn scaling(s: Scaling) -> &'static str {
    match s {
        Scaling::Strong => "strong",
        Scaling::Weak => "weak",
    }
}

fn params(p: &workload::Params) -> String {
    if p.0.is_empty() {
        return "none".into();
    }
    p.0.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
}

/// The charts drawn for a workload, in page order.
pub fn workload_charts(g: &Group) -> Vec<Chart> {
    let mut out = vec![];
    if let Some((c, _)) = speedup::chart(g) {
        out.push(c);
    }
    out.extend(efficiency::chart(g));
    match g.plan.settings.scaling {
        Scaling::Strong => out.extend(time::chart(g)),
        Scaling::Weak => out.extend(weak::chart(g)),
    }
    out.extend(throughput::chart(g));
    out.extend(size_sweep::chart(g));
    // A chart of the baseline alone compares nothing.
    out.retain(|c| c.series.iter().any(|s| !table::is_sequential(&s.name)));
    out
}

fn workload_section(out: &mut String, g: &Group) -> anyhow::Result<()> {
    let w = workload::find(&g.plan.kind);
    let _ = write!(
        out,
        "<section class=\"workload\" id=\"{}\" data-workload=\"{}\">\n<h2>{}",
        anchor(g),
        escape(&g.plan.kind),
        escape(&g.label)
    );
    let _ = write!(out, " <span class=\"tag\">{} scaling</span>", scaling(g.plan.settings.scaling));
    if throughput::memory_bound(g) {
        out.push_str(" <span class=\"tag\">memory-bound</span>");
    }
    out.push_str("</h2>\n");
    let sizes: Vec<String> = g.plan.sizes.iter().map(|s| format_count(*s)).collect();
    let _ = writeln!(
        out,
        "<p class=\"what\">{}Size{} {}{}; params: {}.</p>",
        w.map(|w| format!("{}. ", escape(w.summary()))).unwrap_or_default(),
        if sizes.len() > 1 { "s" } else { "" },
        escape(&sizes.join(", ")),
        match charts::size_what(&g.plan.kind) {
            what if what.is_empty() => String::new(),
            what => format!(" ({})", escape(&what)),
        },
        escape(&params(&g.plan.params)),
    );
    let _ = writeln!(out, "<p class=\"verdict\">{}</p>", code(&table::verdict_for(&g.label, &g.cases)));
    let failed: Vec<&&CaseResult> = g.cases.iter().filter(|c| c.status.is_failure()).collect();
    if !failed.is_empty() {
        out.push_str(
            "<div class=\"alert fail\"><strong>Failed cases, left out of every chart:</strong><ul>\n",
        );
        for c in failed {
            let _ = writeln!(
                out,
                "<li>{} at {} workers, size {}: {}</li>",
                escape(&c.strategy),
                c.workers,
                format_count(c.effective_size),
                escape(&status_text(c))
            );
        }
        out.push_str("</ul></div>\n");
    }
    let charts = workload_charts(g);
    if charts.is_empty() {
        out.push_str("<p class=\"hint\">No parallel case verified, so there is nothing to chart.</p>\n");
    } else {
        out.push_str("<div class=\"charts\">\n");
        for c in &charts {
            let _ = write!(
                out,
                "<figure class=\"chart\" data-chart=\"{}\" data-series=\"{}\">\n<figcaption>{}</figcaption>\n{}",
                c.kind,
                c.series.len(),
                escape(&c.title),
                c.svg()?
            );
            if !c.note.is_empty() {
                let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&c.note));
            }
            out.push_str("</figure>\n");
        }
        out.push_str("</div>\n");
    }
    cases_table(out, g);
    phases_table(out, g);
    items_table(out, g);
    ranks_table(out, g);
    out.push_str("</section>\n");
    Ok(())
}

/// A CI as `3.72–3.97 ms`, the unit once when both ends share it.
fn ci_range(lo: f64, hi: f64) -> String {
    let (a, b) = (format_ns(lo), format_ns(hi));
    match (a.rsplit_once(' '), b.rsplit_once(' ')) {
        (Some((x, u)), Some((y, v))) if u == v => format!("{x}–{y} {u}"),
        _ => format!("{a} – {b}"),
    }
}

/// The status in words: the label, the reason, and what verification found.
pub fn status_text(c: &CaseResult) -> String {
    let label = c.status.label();
    let mut text = label.to_string();
    if let Some(r) = &c.reason {
        // Reasons often repeat the status ("panicked: ..."); say it once.
        let r = match r.get(..label.len()) {
            Some(head) if head.eq_ignore_ascii_case(label) => r[label.len()..].trim_start_matches([':', ' ']),
            _ => r.as_str(),
        };
        text.push_str(": ");
        text.push_str(r);
    }
    if c.status == Status::Ok && !c.verified_by_parlab() {
        text.push_str(&format!(": {}", crate::results::NOT_VERIFIED_LABEL));
    }
    if let Some(v) = c.verification.as_ref().filter(|_| c.status == Status::FailedVerification) {
        if !c.reason.as_deref().unwrap_or("").contains(v.detail.as_str()) {
            text.push_str(&format!(" ({})", v.detail));
        }
    }
    text
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Unsupported | Status::Unavailable | Status::Interrupted => "skip",
        _ => "bad",
    }
}

/// Set-up time below this is in-process (a thread pool, a runtime) and not worth a column.
const SETUP_WORTH_SHOWING_NS: u64 = 10_000;

fn cases_table(out: &mut String, g: &Group) {
    let notes = table::footnotes(&g.cases);
    let not_run = table::not_run(&g.cases);
    let shown: Vec<&&CaseResult> = g.cases.iter().filter(|c| !table::collapsed(c)).collect();
    if !not_run.is_empty() {
        out.push_str("<div class=\"not-run\"><strong>Not run:</strong><ul>\n");
        for n in &not_run {
            let names: Vec<String> = n.strategies.iter().map(|s| strategy_name(s)).collect();
            let _ = writeln!(
                out,
                "<li><span class=\"tag\">{}</span> {}: {}</li>",
                escape(n.status.label()),
                names.join(", "),
                escape(&n.reason)
            );
        }
        out.push_str("</ul></div>\n");
    }
    if shown.is_empty() {
        return;
    }
    let memory = throughput::memory_bound(g);
    let best = throughput::best(g).map(|(v, _)| v);
    let latency = g.cases.iter().any(|c| c.latency_ns.is_some());
    let setup = g.cases.iter().any(|c| c.setup_ns.is_some_and(|ns| ns > SETUP_WORTH_SHOWING_NS));
    let isa = g.cases.iter().any(|c| c.isa.is_some());
    out.push_str(
        "<h3>Every case</h3>\n<div class=\"table-wrap\"><table class=\"cases sortable\">\n<thead><tr>",
    );
    // (name, tooltip)
    let mut header: Vec<(&str, &str)> =
        ["strategy", "workers", "size", "median", "95% CI", "samples", "outliers"].map(|h| (h, "")).to_vec();
    if latency {
        header.push((
            "latency",
            "median time per operation; for ping_pong one one-way message (half a round trip)",
        ));
    }
    header.push(("throughput", ""));
    if memory {
        header.push(("of best BW", ""));
    }
    header.extend([("speedup", ""), ("efficiency", ""), ("Karp-Flatt e", "")]);
    if setup {
        header.push((
            "set-up",
            "time to build the executor, outside the timed region (for process strategies: starting the \
             worker processes until each has answered)",
        ));
    }
    header.push((
        "peak RSS",
        "peak resident set of the parlab process during the case (VmHWM): prepared input included, \
         worker processes not; compare strategies at the same size",
    ));
    if isa {
        header
            .push((table::ISA, "the instruction set the kernel ran with (the workload's `simd` parameter)"));
    }
    header.push(("status", ""));
    for (h, title) in &header {
        let title = if title.is_empty() { String::new() } else { format!(" title=\"{}\"", escape(title)) };
        let _ = write!(out, "<th scope=\"col\"{title}>{h}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let num = |v: Option<f64>, text: String| match v {
        Some(v) if v.is_finite() => format!("<td class=\"num\" data-sort=\"{v}\">{text}</td>"),
        _ => "<td class=\"num\" data-sort=\"\">-</td>".to_string(),
    };
    for c in shown {
        let s = c.stats.as_ref();
        let _ = write!(out, "<tr class=\"{}\">", status_class(c.status));
        let _ = write!(out, "<td>{}{}</td>", strategy_name(&c.strategy), device_suffix(c));
        out.push_str(&num(Some(c.workers as f64), c.workers.to_string()));
        out.push_str(&num(Some(c.effective_size as f64), format_count(c.effective_size)));
        out.push_str(&num(s.map(|s| s.median), table::median_text(c)));
        match s {
            Some(s) => {
                let _ = write!(
                    out,
                    "<td class=\"num\" data-sort=\"{}\" title=\"95% bootstrap CI of the median: {}\">±{:.1}%</td>",
                    s.relative_ci_half_width(),
                    ci_range(s.ci_low, s.ci_high),
                    s.relative_ci_half_width() * 100.0
                );
            }
            None => out.push_str(&num(None, String::new())),
        }
        out.push_str(&num(s.map(|s| s.n as f64), s.map_or(String::new(), |s| s.n.to_string())));
        match s {
            Some(s) => {
                let o = s.outliers;
                let _ = write!(
                    out,
                    "<td class=\"num\" data-sort=\"{}\" title=\"low severe {}, low mild {}, high mild {}, high severe {} (Tukey fences)\">{}</td>",
                    o.total(),
                    o.low_severe,
                    o.low_mild,
                    o.high_mild,
                    o.high_severe,
                    o.total()
                );
            }
            None => out.push_str(&num(None, String::new())),
        }
        if latency {
            out.push_str(&num(c.latency_ns, c.latency_ns.map_or(String::new(), format_ns)));
        }
        let t = c.throughput.as_ref();
        out.push_str(&num(
            t.map(|t| t.median),
            t.map_or(String::new(), |t| escape(&table::format_rate(t.median, &t.unit))),
        ));
        if memory {
            let frac = match (t, best) {
                (Some(t), Some(b)) if c.status == Status::Ok => Some(t.median / b),
                _ => None,
            };
            out.push_str(&num(
                frac.map(|f| f * 100.0),
                frac.map_or(String::new(), |f| format!("{:.0}%", f * 100.0)),
            ));
        }
        out.push_str(&num(c.speedup, c.speedup.map_or(String::new(), |v| format!("{v:.2}×"))));
        out.push_str(&num(
            c.efficiency.map(|e| e * 100.0),
            c.efficiency.map_or(String::new(), |e| format!("{:.0}%", e * 100.0)),
        ));
        out.push_str(&num(c.karp_flatt, c.karp_flatt.map_or(String::new(), |e| format!("{e:.3}"))));
        if setup {
            let ns = c.setup_ns.map(|ns| ns as f64);
            out.push_str(&num(ns, ns.map_or(String::new(), format_ns)));
        }
        out.push_str(&num(
            c.peak_rss_bytes.map(|b| b as f64),
            c.peak_rss_bytes.map_or(String::new(), format_bytes),
        ));
        if isa {
            let _ = write!(out, "<td>{}</td>", escape(c.isa.as_deref().unwrap_or("-")));
        }
        let full = status_text(c);
        let detail = full.strip_prefix(c.status.label()).unwrap_or("").trim_start_matches([':', ' ']);
        let marks = table::marks(c, &notes);
        let _ = writeln!(
            out,
            "<td class=\"status {}\"><strong>{}</strong>{}{}</td></tr>",
            status_class(c.status),
            escape(c.status.label()),
            if marks.is_empty() { String::new() } else { format!("<sup>{}</sup>", escape(marks.trim())) },
            if detail.is_empty() { String::new() } else { format!("<br><small>{}</small>", escape(detail)) }
        );
    }
    out.push_str("</tbody></table></div>\n");
    if !notes.is_empty() {
        out.push_str("<ol class=\"notes\">\n");
        for n in &notes {
            let _ = writeln!(out, "<li>{}</li>", code(n));
        }
        out.push_str("</ol>\n");
    }
}

/// A stacked bar per case with phases: each phase's median per run and its share of the sum
/// of the phase medians (medians of parts do not add up to the median of the total).
fn phases_table(out: &mut String, g: &Group) {
    let cases: Vec<&&CaseResult> =
        g.cases.iter().filter(|c| !table::collapsed(c) && !c.phases.is_empty()).collect();
    if cases.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Phases</h3>\n<p class=\"hint\">The median per run of each phase. Shares are of the sum of the phase \
         medians, since the medians of the parts do not add up to the median of the total; <code>other</code> \
         is the time no phase covers.</p>\n<div class=\"table-wrap\"><table class=\"phases\">\n<thead><tr>\
         <th scope=\"col\">strategy</th><th scope=\"col\">workers</th><th scope=\"col\">size</th>\
         <th scope=\"col\">median</th><th scope=\"col\">phases</th></tr></thead>\n<tbody>\n",
    );
    for c in cases {
        let phases = table::phase_medians(c);
        let mut bar = String::new();
        let mut list = String::new();
        for (i, p) in phases.iter().enumerate() {
            let text = format!("{} {} ({})", p.name, format_ns(p.median_ns), table::percent(p.share));
            let colour = phase_colour(&p.name, i);
            let width = if p.share.is_finite() { p.share * 100.0 } else { 0.0 };
            let _ = write!(
                bar,
                "<span class=\"phase\" data-phase=\"{}\" style=\"width:{width:.2}%;background:{colour}\" title=\"{}\"></span>",
                escape(&p.name),
                escape(&text)
            );
            let _ = write!(
                list,
                "<li data-phase=\"{}\" data-median-ns=\"{}\"><span class=\"swatch\" style=\"background:{colour}\"></span>{}</li>",
                escape(&p.name),
                p.median_ns,
                escape(&text)
            );
        }
        let _ = writeln!(
            out,
            "<tr><td>{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td><div class=\"phase-bar\">{bar}</div><ul class=\"phase-list\">{list}</ul></td></tr>",
            strategy_name(&c.strategy),
            device_suffix(c),
            c.workers,
            format_count(c.effective_size),
            c.median_ns().map_or("-".to_string(), format_ns),
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// ` (NVIDIA H200, cache=warm)` after a device case's strategy ([`table::device_text`]), escaped;
/// empty for other cases.
fn device_suffix(c: &CaseResult) -> String {
    table::device_text(c).map_or(String::new(), |d| format!(" ({})", escape(&d)))
}

/// A phase's colour: the conventional phases keep theirs from case to case (Okabe-Ito, which
/// colour-blind readers tell apart), `other` is grey, and any other name takes one by position.
fn phase_colour(name: &str, position: usize) -> &'static str {
    const MORE: [&str; 3] = ["#f0e442", "#882255", "#44aa99"];
    match name {
        "launch" => "#e69f00",
        "setup" => "#cc79a7",
        "transfer_in" => "#56b4e9",
        "kernel" => "#0072b2",
        "transfer_out" => "#009e73",
        "communication" => "#d55e00",
        crate::results::OTHER_PHASE => "#bdbdbd",
        _ => MORE[position % MORE.len()],
    }
}

/// The per-item latency distribution of the cases that timed items.
fn items_table(out: &mut String, g: &Group) {
    let cases: Vec<(&&CaseResult, &crate::results::ItemLatency)> = g
        .cases
        .iter()
        .filter(|c| !table::collapsed(c))
        .filter_map(|c| c.item_latency.as_ref().map(|l| (c, l)))
        .collect();
    if cases.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Item latency</h3>\n<p class=\"hint\">The distribution of per-item latencies (messages, queue \
         items). Items overlap, so these are not part of the phases.</p>\n<div class=\"table-wrap\">\
         <table class=\"items\">\n<thead><tr><th scope=\"col\">strategy</th><th scope=\"col\">workers</th>\
         <th scope=\"col\">size</th><th scope=\"col\">items</th><th scope=\"col\">p50</th><th scope=\"col\">p90</th>\
         <th scope=\"col\">p99</th><th scope=\"col\">max</th></tr></thead>\n<tbody>\n",
    );
    for (c, l) in cases {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            strategy_name(&c.strategy),
            c.workers,
            format_count(c.effective_size),
            format_count(l.count),
            format_ns(l.p50_ns),
            format_ns(l.p90_ns),
            format_ns(l.p99_ns),
            format_ns(l.max_ns),
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// The slowest rank beside the mean over ranks, for cases on several ranks.
fn ranks_table(out: &mut String, g: &Group) {
    let cases: Vec<(&&CaseResult, table::RankTimes)> = g
        .cases
        .iter()
        .filter(|c| !table::collapsed(c))
        .filter_map(|c| table::rank_times(c).map(|t| (c, t)))
        .collect();
    if cases.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Ranks</h3>\n<p class=\"hint\">A sample is the slowest rank's time; beside it the mean over ranks \
         (the gap is load imbalance or waiting), per run and, where the workload counts operations, per \
         operation.</p>\n<div class=\"table-wrap\"><table class=\"ranks\">\n<thead><tr><th scope=\"col\">strategy</th>\
         <th scope=\"col\">ranks</th><th scope=\"col\">size</th><th scope=\"col\">slowest</th>\
         <th scope=\"col\">mean</th><th scope=\"col\">slowest per op</th><th scope=\"col\">mean per op</th>\
         </tr></thead>\n<tbody>\n",
    );
    for (c, t) in cases {
        let (op_slowest, op_mean) =
            t.per_op_ns.map_or(("-".to_string(), "-".to_string()), |(s, m)| (format_ns(s), format_ns(m)));
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            strategy_name(&c.strategy),
            c.workers,
            format_count(c.effective_size),
            format_ns(t.slowest_ns),
            format_ns(t.mean_ns),
            op_slowest,
            op_mean,
        );
    }
    out.push_str("</tbody></table></div>\n");
}

fn footer(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "</main>\n<footer>\n<h2>How to read this report</h2>\n<ul>\n\
         <li><strong>Time</strong> is the median of the timed runs; its 95% confidence interval is a percentile bootstrap \
         (Efron 1979) with 10,000 resamples. Outliers are counted by Tukey's fences and never dropped.</li>\n\
         <li><strong>Speedup</strong> is the sequential median at the same size divided by the case's median; \
         <strong>efficiency</strong> is speedup / workers. Only cases whose output matched the sequential reference \
         get either: a wrong answer has no speed.</li>\n\
         <li><strong>Karp-Flatt e</strong> = (1/S − 1/p) / (1 − 1/p) is the serial fraction each point implies \
         (Karp and Flatt 1990); rising e with p means overhead grows with workers.</li>\n\
         <li><strong>Amdahl's law</strong> S(p) = 1 / (f + (1 − f)/p) is fitted to the best strategy by least squares in \
         1/S (Amdahl 1967); 1/f bounds its speedup.</li>\n\
         <li>Weak scaling grows the size with the workers (size × workers): flat time is ideal.</li>\n\
         <li>Speedup, efficiency and Karp-Flatt apply where workers share one algorithm's work: a speedup marked \
         <strong>*</strong> is not parallel scaling (workers that overlap waits, or a different algorithm), and \
         latency workloads have none. Numbered <strong>notes</strong> under a table are caveats its marked rows carry; \
         <strong>n/a</strong> and <em>Not run</em> name the strategies a workload has no version for.</li>\n\
         <li><strong>Peak RSS</strong> is the whole parlab process's resident-set high-water mark during the case, \
         shared input included and worker processes excluded: compare it between strategies at the same size. \
         <strong>Set-up</strong> (shown where it matters, e.g. process start-up) is outside the timed region.</li>\n\
         </ul>\n<p class=\"meta\">Generated by parlab {} from a results file of schema {}.</p>\n</footer>",
        escape(&r.parlab_version),
        r.schema_version
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn code_spans() {
        assert_eq!(code("best is `rayon` <b>"), "best is <code>rayon</code> &lt;b&gt;");
        assert_eq!(code("odd ` tick"), "odd ` tick");
    }

    #[test]
    fn page_does_not_expand_placeholders_in_user_text() {
        let p = page("{{body}} <b>", "<p>body</p>");
        assert!(p.contains("{{body}} &lt;b&gt;"));
        assert_eq!(p.matches("<p>body</p>").count(), 1);
    }
}
