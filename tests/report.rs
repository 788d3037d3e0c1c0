//! The reports checked for structure, not snapshots: the HTML is parsed with a real HTML parser
//! and every expected section, chart, series and table is looked for; the comparison page is
//! checked for the direction of a change made on purpose.
//!
//! The fixture `tests/fixtures/lab.json` is a real run of `tests/fixtures/lab.toml` (see there
//! how to regenerate it); these tests rely on its shape (which workloads, sizes, strategies and
//! failures), never on its timings.

use std::path::Path;

use assert_cmd::Command;
use parlab::report::{self, charts, table, Format};
use parlab::results::{Host, ItemLatency, PhaseSamples, Placement, Results, Status};
use parlab::stats::Summary;
use parlab::units::{format_bytes, format_ns};
use scraper::{ElementRef, Html, Selector};

const FIXTURE: &str = "tests/fixtures/lab.json";

fn fixture() -> Results {
    report::load(Path::new(FIXTURE)).expect("the fixture loads")
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("valid selector")
}

fn html(results: &Results) -> Html {
    Html::parse_document(&report::render(results, Format::Html).expect("renders"))
}

fn text(e: ElementRef) -> String {
    e.text().collect::<Vec<_>>().join("")
}

fn section<'a>(doc: &'a Html, id: &str) -> ElementRef<'a> {
    doc.select(&sel(&format!("section#{id}"))).next().unwrap_or_else(|| panic!("no section #{id}"))
}

fn chart_kinds(s: ElementRef) -> Vec<String> {
    s.select(&sel("figure.chart")).map(|f| f.value().attr("data-chart").unwrap_or("").to_string()).collect()
}

fn chart<'a>(s: ElementRef<'a>, kind: &str) -> ElementRef<'a> {
    s.select(&sel(&format!("figure.chart[data-chart=\"{kind}\"]")))
        .next()
        .unwrap_or_else(|| panic!("no {kind} chart"))
}

/// The series groups of a chart's SVG: name and number of points.
fn series(figure: ElementRef) -> Vec<(String, usize)> {
    figure
        .select(&sel("svg g.series"))
        .map(|g| {
            let v = g.value();
            (v.attr("data-series").unwrap().to_string(), v.attr("data-points").unwrap().parse().unwrap())
        })
        .collect()
}

/// Points of the line plotters drew in a series group, counted from the SVG itself.
fn polyline_points(figure: ElementRef, name: &str) -> Option<usize> {
    let g = figure.select(&sel("svg g.series")).find(|g| g.value().attr("data-series") == Some(name))?;
    let line = g.select(&sel("polyline")).next()?;
    assert!(
        line.value().attr("stroke").unwrap().eq_ignore_ascii_case(&charts::hex(name)),
        "{name} is drawn in its own colour"
    );
    Some(line.value().attr("points").unwrap().split_whitespace().count())
}

#[test]
fn report_has_every_section_chart_and_table() {
    let results = fixture();
    let doc = html(&results);
    for id in ["summary", "machine", "scenario"] {
        section(&doc, id);
    }
    // Nothing external: one inline script (table sorting), no fetched resource.
    assert_eq!(doc.select(&sel("script[src], link[href], img")).count(), 0);
    assert_eq!(doc.select(&sel("script")).count(), 1);

    let groups = table::groups(&results);
    let grid = table::summary(&results);
    let heatmap = doc.select(&sel("table.heatmap")).next().expect("summary heatmap");
    assert_eq!(heatmap.select(&sel("tbody tr")).count(), groups.len());
    assert_eq!(heatmap.select(&sel("thead th")).count(), grid.strategies.len() + 2);
    let winners: Vec<String> = heatmap.select(&sel("td.winner")).map(text).collect();
    assert!(winners[0].contains("rayon") || winners[0].contains("threads"), "{winners:?}");

    let expected: [(&str, &[&str]); 5] = [
        ("mandelbrot", &["speedup", "efficiency", "time", "throughput"]),
        ("stream_triad", &["speedup", "efficiency", "time", "throughput", "size-sweep"]),
        ("pi_monte_carlo", &["speedup", "efficiency", "weak", "throughput"]),
        ("faulty #1", &[]),
        ("faulty #2", &[]),
    ];
    assert_eq!(groups.len(), expected.len());
    for (g, (label, kinds)) in groups.iter().zip(expected) {
        assert_eq!(g.label, label);
        let s = section(&doc, &format!("w-{}", g.index));
        assert_eq!(chart_kinds(s), kinds, "{label}");
        // Every case has its row, failures marked.
        let rows: Vec<ElementRef> = s.select(&sel("table.cases tbody tr")).collect();
        assert_eq!(rows.len(), g.cases.len(), "{label}");
        for (row, case) in rows.iter().zip(&g.cases) {
            assert_eq!(row.value().classes().any(|c| c == "bad"), case.status.is_failure(), "{label}");
            let status = text(row.select(&sel("td.status")).next().unwrap());
            assert!(status.starts_with(case.status.label()), "{status}");
        }
        assert!(s.select(&sel("p.verdict")).next().is_some(), "{label} has a verdict");
        let failed = g.cases.iter().filter(|c| c.status.is_failure()).count();
        assert_eq!(s.select(&sel(".alert.fail li")).count(), failed, "{label}");
        // Every chart is an SVG with labelled axes and a legend entry per series.
        for figure in s.select(&sel("figure.chart")) {
            let svg = figure.select(&sel("svg.chart-svg")).next().expect("inline SVG");
            let svg_text = text(svg);
            assert!(svg_text.contains("workers") || svg_text.contains("size"), "x axis label");
            for (name, _) in series(figure) {
                let legend = charts::hex(&name);
                assert!(legend.starts_with('#'));
                assert!(svg_text.contains(&name), "legend names {name}");
            }
        }
    }
}

#[test]
fn series_match_the_verified_cases() {
    let results = fixture();
    let doc = html(&results);
    for g in table::groups(&results) {
        let s = section(&doc, &format!("w-{}", g.index));
        if !chart_kinds(s).contains(&"speedup".to_string()) {
            continue;
        }
        let size = g.cases.iter().map(|c| c.size).max().unwrap();
        let speedup = chart(s, "speedup");
        let drawn = series(speedup);
        let mut want: Vec<(String, usize)> = vec![];
        for name in charts::parallel_strategies(&g) {
            let n = g
                .cases
                .iter()
                .filter(|c| {
                    c.strategy == name && c.size == size && c.status == Status::Ok && c.speedup.is_some()
                })
                .count();
            if n > 0 {
                want.push((name, n));
            }
        }
        assert_eq!(drawn, want, "{}: one series per strategy, one point per verified case", g.label);
        for (name, n) in &want {
            if *n > 1 {
                assert_eq!(polyline_points(speedup, name), Some(*n), "{}: {name}'s line", g.label);
            }
        }
        // The time (or weak-scaling) chart adds the sequential baseline.
        let kind = if g.plan.settings.scaling == parlab::scenario::Scaling::Weak { "weak" } else { "time" };
        let time = series(chart(s, kind));
        assert_eq!(time.len(), want.len() + 1, "{}", g.label);
        assert!(table::is_sequential(&time[0].0));
    }
}

#[test]
fn amdahl_fit_and_bandwidth_fraction_are_reported() {
    let doc = html(&fixture());
    let triad = doc
        .select(&sel("section.workload"))
        .find(|s| s.value().attr("data-workload") == Some("stream_triad"))
        .unwrap();
    let note = text(chart(triad, "speedup").select(&sel("p.note")).next().unwrap());
    assert!(note.contains("serial fraction f ="), "{note}");
    assert!(text(chart(triad, "speedup")).contains("Amdahl fit to"), "the fit is in the legend");
    assert!(text(chart(triad, "throughput")).contains("of best bandwidth"));
    assert!(triad.select(&sel("table.cases th")).any(|th| text(th) == "of best BW"));
    // A compute-bound workload has no bandwidth fraction.
    let mandel = doc
        .select(&sel("section.workload"))
        .find(|s| s.value().attr("data-workload") == Some("mandelbrot"))
        .unwrap();
    assert!(!text(chart(mandel, "throughput")).contains("of best bandwidth"));
}

#[test]
fn a_wrong_answer_is_flagged_and_never_drawn() {
    let mut results = fixture();
    // A file that lies: a parallel case failed verification but still carries a speedup.
    let victim = results
        .cases
        .iter_mut()
        .find(|c| c.workload == "mandelbrot" && c.strategy == "rayon" && c.workers == 4)
        .unwrap();
    victim.status = Status::FailedVerification;
    victim.reason = Some("wrong <answer>".into());
    let doc = html(&results);
    let s = section(&doc, "w-0");
    let rayon = series(chart(s, "speedup")).into_iter().find(|(n, _)| n == "rayon").unwrap();
    assert_eq!(rayon.1, 2, "only rayon's verified points (1 and 2 workers) are drawn");
    let time = series(chart(s, "time")).into_iter().find(|(n, _)| n == "rayon").unwrap();
    assert_eq!(time.1, 2);
    let alert = text(s.select(&sel(".alert.fail")).next().expect("failure alert"));
    assert!(alert.contains("rayon at 4 workers") && alert.contains("wrong <answer>"), "{alert}");
    let heat = doc.select(&sel("table.heatmap tbody tr")).next().unwrap();
    assert!(text(heat).contains("1 FAILED"));
}

#[test]
fn strings_from_scenario_and_results_are_escaped() {
    let mut results = fixture();
    let evil = "<script>alert('pwned')</script>";
    results.scenario.name = format!("lab {evil}");
    results.scenario.description = format!("described {evil} & more");
    results.machine.cpu_model = "<img src=x onerror=alert(1)>".into();
    // A workload and a strategy with markup in their names, in the plan and in the cases.
    results.scenario.workloads[0].kind = evil.into();
    results.scenario.workloads[0].strategies.push("<b>bold</b>".into());
    for c in results.cases.iter_mut().filter(|c| c.workload == "mandelbrot") {
        c.workload = evil.into();
    }
    let mut extra =
        results.cases.iter().find(|c| c.workload == evil && c.strategy == "rayon").unwrap().clone();
    extra.strategy = "<b>bold</b>".into();
    results.cases.push(extra);

    let page = report::render(&results, Format::Html).unwrap();
    let doc = Html::parse_document(&page);
    let scripts: Vec<String> = doc.select(&sel("script")).map(text).collect();
    assert_eq!(scripts.len(), 1, "only the page's own script");
    assert!(!scripts[0].contains("pwned"));
    assert_eq!(doc.select(&sel("img, b")).count(), 0, "no markup from the data");
    assert!(text(doc.select(&sel("h1")).next().unwrap()).contains(evil), "shown as text");
    assert!(text(doc.select(&sel("p.lede")).next().unwrap()).contains("& more"));
    let section = doc.select(&sel("section.workload")).next().unwrap();
    assert_eq!(section.value().attr("data-workload"), Some(evil));
    assert!(text(section.select(&sel("h2")).next().unwrap()).contains(evil));
    // Inside the charts too (legends and tooltips).
    assert!(doc.select(&sel("svg g.series")).any(|g| g.value().attr("data-series") == Some("<b>bold</b>")));

    let md = report::render(&results, Format::Markdown).unwrap();
    assert!(!md.contains("<script>") && !md.contains("<b>"), "{md}");
    let csv = report::render(&results, Format::Csv).unwrap();
    assert!(csv.contains(evil), "CSV keeps the text as data");
}

/// A minimal RFC 4180 reader for the test.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

#[test]
fn csv_has_one_flat_row_per_case() {
    let results = fixture();
    let rows = csv_rows(&report::render(&results, Format::Csv).unwrap());
    let header = &rows[0];
    assert_eq!(rows.len(), results.cases.len() + 1);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, case) in rows[1..].iter().zip(&results.cases) {
        assert_eq!(row[col("strategy")], case.strategy);
        assert_eq!(row[col("workers")], case.workers.to_string());
        if case.status == Status::Ok {
            let median: f64 = row[col("median_ns")].parse().unwrap();
            assert_eq!(Some(median), case.median_ns());
        } else {
            assert_eq!(row[col("speedup")], "", "no speedup for a case that is not ok");
        }
    }
    assert!(rows.iter().any(|r| r[col("status")] == "failed_verification"));
}

#[test]
fn terminal_and_markdown_show_the_same_summary() {
    let results = fixture();
    let md = report::render(&results, Format::Markdown).unwrap();
    let term = report::terminal::render(&results);
    let grid = table::summary(&results);
    assert!(md.find("## Summary").unwrap() < md.find("## mandelbrot").unwrap(), "summary at the top");
    for row in grid.text_rows() {
        assert!(md.contains(&format!("| {} |", row.join(" | "))), "{row:?} in summary.md");
        let line = term.lines().find(|l| l.starts_with(&row[0]) && l.contains(&row[row.len() - 1])).unwrap();
        for cell in &row {
            assert!(line.contains(cell.as_str()), "{cell} in `{line}`");
        }
    }
}

/// The fixture with what newer runs record: peak RSS on every measured case, a latency on
/// `pi_monte_carlo` (standing in for `ping_pong`), in-process set-up times everywhere and one
/// process-like start-up on `stream_triad`.
fn fixture_with_memory_latency_and_setup() -> Results {
    let mut results = fixture();
    for c in results.cases.iter_mut().filter(|c| c.stats.is_some()) {
        c.peak_rss_bytes = Some((64 << 20) + c.id as u64 * (3 << 19));
        c.setup_ns = Some(3_000);
        if c.workload == "pi_monte_carlo" {
            c.latency_ns = c.median_ns().map(|m| m / 1000.0);
        }
    }
    let start = results.cases.iter_mut().find(|c| c.workload == "stream_triad" && c.workers == 4).unwrap();
    start.setup_ns = Some(2_500_000);
    results
}

/// The header and the rows of a workload entry's "Every case" table, as text.
fn case_table(doc: &Html, g: &table::Group) -> (Vec<String>, Vec<Vec<String>>) {
    let s = section(doc, &format!("w-{}", g.index));
    let table = s.select(&sel("table.cases")).next().unwrap();
    let header: Vec<String> = table.select(&sel("thead th")).map(text).collect();
    let rows: Vec<Vec<String>> = table
        .select(&sel("tbody tr"))
        .map(|r| r.select(&sel("td")).map(|td| text(td).trim().to_string()).collect())
        .collect();
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{}: a cell per column", g.label);
    }
    (header, rows)
}

#[test]
fn case_tables_show_peak_rss_and_latency_and_setup_only_where_they_matter() {
    // Results without the fields (older files): a peak RSS column of dashes, nothing else new.
    let doc = html(&fixture());
    for g in table::groups(&fixture()) {
        let (header, rows) = case_table(&doc, &g);
        let rss = header.iter().position(|h| h == "peak RSS").expect("a peak RSS column");
        assert_eq!(rss, header.len() - 2, "just before status");
        assert!(rows.iter().all(|r| r[rss] == "-"));
        assert!(!header.iter().any(|h| h == "latency" || h == "set-up"), "{header:?}");
    }

    let results = fixture_with_memory_latency_and_setup();
    let doc = html(&results);
    for g in table::groups(&results) {
        let kind = g.plan.kind.as_str();
        let (header, rows) = case_table(&doc, &g);
        let col = |name: &str| header.iter().position(|h| h == name);
        let rss = col("peak RSS").unwrap();
        for (row, case) in rows.iter().zip(&g.cases) {
            let want = case.peak_rss_bytes.map_or("-".to_string(), format_bytes);
            assert_eq!(row[rss], want, "{kind}");
        }
        // Latency only where a case reports it, right before throughput.
        let latency = col("latency");
        assert_eq!(latency.is_some(), kind == "pi_monte_carlo", "{kind}: {header:?}");
        if let Some(i) = latency {
            assert_eq!(header[i + 1], "throughput");
            for (row, case) in rows.iter().zip(&g.cases) {
                assert_eq!(row[i], case.latency_ns.map_or("-".to_string(), format_ns));
            }
        }
        // Set-up only where some case took longer than in-process set-up does.
        let setup = col("set-up");
        assert_eq!(setup.is_some(), kind == "stream_triad", "{kind}: {header:?}");
        if let Some(i) = setup {
            assert_eq!(i + 1, rss, "set-up next to peak RSS");
            assert!(rows.iter().any(|r| r[i] == "2.50 ms"), "{rows:?}");
            assert!(rows.iter().any(|r| r[i] == "3.00 µs"));
        }
    }
    // Header tooltips say what the new columns measure.
    let th = |name: &str| doc.select(&sel("table.cases th")).find(|th| text(*th) == name).unwrap();
    assert!(th("peak RSS").value().attr("title").unwrap().contains("VmHWM"));
    assert!(th("set-up").value().attr("title").unwrap().contains("worker processes"));
    assert!(th("latency").value().attr("title").unwrap().contains("one-way"));
}

#[test]
fn csv_has_peak_rss_latency_and_setup() {
    let results = fixture_with_memory_latency_and_setup();
    let rows = csv_rows(&report::render(&results, Format::Csv).unwrap());
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name}"));
    let (rss, latency, setup) = (col("peak_rss_bytes"), col("latency_ns"), col("setup_ns"));
    for (row, case) in rows[1..].iter().zip(&results.cases) {
        assert_eq!(row[rss], case.peak_rss_bytes.map_or(String::new(), |b| b.to_string()));
        assert_eq!(row[setup], case.setup_ns.map_or(String::new(), |b| b.to_string()));
        match case.latency_ns {
            Some(l) => assert_eq!(row[latency].parse::<f64>().unwrap(), l),
            None => assert_eq!(row[latency], "", "empty when not measured"),
        }
    }
    assert!(
        rows[1..].iter().any(|r| r[latency].is_empty()) && rows[1..].iter().any(|r| !r[latency].is_empty())
    );
}

#[test]
fn terminal_and_markdown_add_latency_only_where_reported() {
    let results = fixture_with_memory_latency_and_setup();
    let md = report::render(&results, Format::Markdown).unwrap();
    let term = report::terminal::render(&results);
    for t in table::tables(&results) {
        let latency = t.header.contains(&table::LATENCY);
        assert_eq!(latency, t.workload == "pi_monte_carlo", "{}: {:?}", t.workload, t.header);
        assert!(!t.header.iter().any(|h| h.contains("RSS") || h.contains("set-up")), "HTML and CSV only");
        assert!(md.contains(&format!("| {} |", t.header.join(" | "))), "{} header in summary.md", t.workload);
        let header_line = term.lines().find(|l| l.starts_with("workload") && l.contains("95% CI"));
        assert!(header_line.is_some());
        for row in &t.rows {
            assert_eq!(row.len(), t.header.len());
            assert!(md.contains(&format!("| {} |", row.join(" | "))), "{row:?} in summary.md");
            if latency {
                let cell = &row[t.header.iter().position(|h| *h == table::LATENCY).unwrap()];
                assert_ne!(cell, "-");
                let line = term
                    .lines()
                    .find(|l| {
                        l.starts_with(&row[0]) && l.contains(&format!(" {} ", row[1])) && l.contains(&row[4])
                    })
                    .unwrap_or_else(|| panic!("{row:?} in the terminal table"));
                assert!(line.contains(cell.as_str()), "{cell} in `{line}`");
            }
        }
    }
    // The terminal prints a latency column once, for the one workload that has it.
    let headers: Vec<&str> = term.lines().filter(|l| l.starts_with("workload ")).collect();
    assert_eq!(headers.iter().filter(|l| l.contains(" latency ")).count(), 1, "{headers:?}");
}

fn parlab() -> Command {
    Command::cargo_bin("parlab").expect("binary built")
}

#[test]
fn report_command_rerenders_saved_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = parlab().args(["report", FIXTURE, "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for file in ["index.html", "summary.md", "results.csv"] {
        assert!(dir.path().join(file).exists(), "{file}");
        assert!(stdout.contains(file), "{stdout}");
    }
    let bad = parlab().args(["report", "no/such/results.json"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "a missing file is bad input");
}

#[test]
fn comparison_shows_a_case_made_slower_as_slower() {
    let base = fixture();
    let mut after = base.clone();
    // Deliberately 40% slower and 30% faster, by scaling the raw samples.
    let mut change = |workload: &str, strategy: &str, workers: usize, factor: f64| {
        let c = after
            .cases
            .iter_mut()
            .find(|c| {
                c.workload == workload
                    && c.strategy == strategy
                    && c.workers == workers
                    && c.status == Status::Ok
            })
            .unwrap();
        c.samples_ns = c.samples_ns.iter().map(|&s| s * factor).collect();
        let samples = c.samples_ns.clone();
        c.stats = Summary::from_samples(&samples);
    };
    change("mandelbrot", "threads", 2, 1.4);
    change("pi_monte_carlo", "rayon", 4, 0.7);
    after.derive_speedups();

    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("before.json"), dir.path().join("after.json"));
    std::fs::write(&a, serde_json::to_string(&base).unwrap()).unwrap();
    std::fs::write(&b, serde_json::to_string(&after).unwrap()).unwrap();
    let out_dir = dir.path().join("cmp");
    let out = parlab().arg("report").arg(&a).arg(&b).arg("--out").arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let doc = Html::parse_document(&std::fs::read_to_string(out_dir.join("index.html")).unwrap());
    let rows: Vec<ElementRef> = doc.select(&sel("table.compare tbody tr")).collect();
    assert_eq!(rows.len(), base.cases.len(), "every case aligned with itself");
    let cells = |r: &ElementRef| r.select(&sel("td")).map(text).collect::<Vec<_>>();
    let marked = |change: &str| -> Vec<Vec<String>> {
        rows.iter().filter(|r| r.value().attr("data-change") == Some(change)).map(cells).collect()
    };
    let slower = marked("slower");
    assert_eq!(slower.len(), 1, "{slower:?}");
    assert_eq!((&slower[0][0][..], &slower[0][1][..], &slower[0][2][..]), ("mandelbrot", "threads", "2"));
    let ratio: f64 = slower[0][7].parse().unwrap();
    assert!((ratio - 1.4).abs() < 0.01, "{ratio}");
    assert!(slower[0][9].starts_with("slower"));
    let faster = marked("faster");
    assert_eq!(faster.len(), 1, "{faster:?}");
    assert_eq!((&faster[0][0][..], &faster[0][1][..], &faster[0][2][..]), ("pi_monte_carlo", "rayon", "4"));
    assert!(faster[0][9].starts_with("faster"));
    // Every other measured case: unchanged, since its samples are the same.
    let ok = base.cases.iter().filter(|c| c.status == Status::Ok).count();
    assert_eq!(marked("same").len(), ok - 2);
    assert_eq!(marked("none").len(), base.cases.len() - ok);
}

#[test]
fn run_writes_and_prints_the_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("tiny.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"tiny\"\n[defaults]\nworkers = [1, 2]\nwarmup = \"0ms\"\nmin_samples = 3\n\
         max_samples = 3\n[[workload]]\nkind = \"empty\"\nsize = 1\nstrategies = [\"threads\"]\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = parlab().arg("run").arg(&scenario).arg("--out").arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let index = out_dir.join("index.html");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&index.display().to_string()));
    let doc = Html::parse_document(&std::fs::read_to_string(index).unwrap());
    assert_eq!(doc.select(&sel("section.workload")).count(), 1);
    assert!(out_dir.join("results.csv").exists());
}

/// The fixture with planning notes on the mandelbrot cases and three strategies that never ran,
/// at two worker counts each, for the same reason.
fn with_notes_and_unsupported() -> Results {
    let mut r = fixture();
    for c in r.cases.iter_mut().filter(|c| c.workload == "mandelbrot") {
        c.notes = vec!["the default size was reduced to fit".into()];
    }
    let template =
        r.cases.iter().find(|c| c.workload == "mandelbrot" && c.strategy == "threads").unwrap().clone();
    for strategy in ["mutex", "rwlock", "atomic"] {
        for workers in [1, 2] {
            let mut c = template.clone();
            c.id = r.cases.len();
            c.strategy = strategy.into();
            c.workers = workers;
            c.status = Status::Unsupported;
            c.reason = Some(format!(
                "`mandelbrot` has no shared-state version: its workers share no state that `{strategy}` would manage"
            ));
            c.stats = None;
            c.samples_ns.clear();
            c.throughput = None;
            c.speedup = None;
            c.efficiency = None;
            c.notes.clear();
            r.cases.push(c);
        }
    }
    r
}

#[test]
fn unsupported_cases_are_one_line_per_reason_not_a_row_each() {
    let r = with_notes_and_unsupported();
    let terminal = report::terminal::render(&r);
    let lines: Vec<&str> = terminal.lines().filter(|l| l.contains("no shared-state version")).collect();
    assert_eq!(
        lines,
        ["not run: unsupported: mutex, rwlock, atomic: `mandelbrot` has no shared-state version: its workers share no state that each would manage"],
        "{terminal}"
    );
    let markdown = report::render(&r, Format::Markdown).unwrap();
    assert_eq!(markdown.matches("no shared-state version").count(), 1, "{markdown}");
    let doc = html(&r);
    let items: Vec<String> = doc.select(&sel(".not-run li")).map(text).collect();
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0].contains("mutex") && items[0].contains("atomic"), "{items:?}");
    let rows =
        doc.select(&sel("table.cases tbody tr")).filter(|tr| text(*tr).contains("unsupported")).count();
    assert_eq!(rows, 0, "no table row for a case that never ran");
    // The CSV keeps one row per case, as before: it is data, not a summary.
    let csv = report::render(&r, Format::Csv).unwrap();
    assert_eq!(csv.lines().filter(|l| l.contains(",unsupported,")).count(), 6);
}

#[test]
fn case_notes_reach_every_output() {
    let r = with_notes_and_unsupported();
    let note = "the default size was reduced to fit";
    let terminal = report::terminal::render(&r);
    assert!(terminal.contains(&format!("[1] {note}")), "{terminal}");
    assert!(terminal.contains("ok [1]"), "the rows point at the footnote:\n{terminal}");
    assert_eq!(terminal.matches(note).count(), 1, "written once, not per row");
    let markdown = report::render(&r, Format::Markdown).unwrap();
    assert!(markdown.contains(&format!("1. {note}")) && markdown.contains("ok [1]"), "{markdown}");
    let doc = html(&r);
    let notes: Vec<String> = doc.select(&sel("ol.notes li")).map(text).collect();
    assert_eq!(notes, [note]);
    assert!(doc.select(&sel("td.status sup")).any(|s| text(s) == "[1]"));
    let csv = report::render(&r, Format::Csv).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"notes"), "{header:?}");
    assert_eq!(csv.matches(note).count(), r.cases.iter().filter(|c| !c.notes.is_empty()).count());
}

#[test]
fn sizes_are_shown_in_human_units() {
    let mut r = fixture();
    for c in r.cases.iter_mut().filter(|c| c.workload == "stream_triad") {
        c.effective_size = 136_314_880;
    }
    let terminal = report::terminal::render(&r);
    assert!(terminal.contains(" 136M ") && !terminal.contains("136314880"), "{terminal}");
}

#[test]
fn every_report_says_what_its_cis_cover() {
    // One process per case (the fixture): every output warns that rerun spread was not measured.
    let r = fixture();
    let warn = "Spread between runs was not measured";
    assert!(report::terminal::render(&r).contains(warn));
    assert!(report::render(&r, Format::Markdown).unwrap().contains(warn));
    let doc = html(&r);
    assert!(doc.select(&sel("p.measurement")).any(|p| text(p).contains(warn)));
    // Measured in several processes, one case split into groups: said instead, with the spread.
    let mut r = fixture();
    let measured: Vec<usize> = (0..r.cases.len()).filter(|&i| r.cases[i].stats.is_some()).collect();
    for (k, &i) in measured.iter().enumerate() {
        r.cases[i].processes = Some(parlab::results::ProcessSpread {
            count: 5,
            medians_ns: vec![1.0; 5],
            align_offsets: vec![0, 8, 16, 24, 32],
            between_cv: 0.01 * (k + 1) as f64,
            groups: if k == 0 { 2 } else { 1 },
            rerun_low_ns: Some(0.9),
            rerun_high_ns: Some(1.0 + 0.1 * (k + 1) as f64),
            span_s: Some(30.0 + k as f64),
        });
    }
    r.clock_overhead_ns = Some(25.0);
    let line = table::measurement(&r);
    assert!(!line.contains(warn), "{line}");
    assert!(
        line.contains(&format!("{} of {} measured cases ran in 5 processes", measured.len(), measured.len())),
        "{line}"
    );
    assert!(line.contains("1 case(s) split into separate groups"), "{line}");
    assert!(line.contains("Clock overhead 25"), "{line}");
}

/// A results file may name a workload this build lacks (a test-only one, a newer parlab's),
/// with weak scaling too: `report` renders it instead of panicking (exit 101).
#[test]
fn a_weak_scaling_workload_this_build_lacks_still_renders() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let entry = &mut v["scenario"]["workloads"][2];
    assert_eq!(
        (entry["kind"].as_str(), entry["settings"]["scaling"].as_str()),
        (Some("pi_monte_carlo"), Some("weak"))
    );
    entry["kind"] = "not_in_this_build".into();
    for case in v["cases"].as_array_mut().unwrap() {
        if case["workload"] == "pi_monte_carlo" {
            case["workload"] = "not_in_this_build".into();
        }
    }
    let path = dir.path().join("results.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out = parlab().arg("report").arg(&path).arg("--out").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("not_in_this_build"));
}

/// A results file whose scenario claims more cases than any scenario may (a crafted one) is
/// refused as bad input instead of being expanded.
#[test]
fn a_results_file_whose_scenario_claims_too_many_cases_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    v["scenario"]["workloads"][1]["sizes"] = (1..=200_000u64).collect::<Vec<_>>().into();
    let path = dir.path().join("results.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out = parlab().arg("report").arg(&path).arg("--out").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("more than the limit of 100000"), "{stderr}");
}

/// The fixture as a backend that breaks runs down would leave it: `mandelbrot` threads at 4
/// workers split into `transfer_in` (10% of every sample), `kernel` (80%) and the remaining
/// `other`; `mandelbrot` channels at 4 workers with per-item latencies of 1 to 1000 µs; and,
/// with `hosts`, two hosts, that channels case's workers placed one on each.
fn with_phases_and_items(hosts: bool) -> Results {
    let mut r = fixture();
    let split =
        r.cases.iter_mut().find(|c| c.workload == "mandelbrot" && c.strategy == "threads" && c.workers == 4);
    let split = split.unwrap();
    let per_sample: Vec<Vec<(String, f64)>> = split
        .samples_ns
        .iter()
        .map(|s| vec![("transfer_in".to_string(), s * 0.1), ("kernel".to_string(), s * 0.8)])
        .collect();
    split.phases = PhaseSamples::from_samples(&split.samples_ns, &per_sample).unwrap();
    let queued =
        r.cases.iter_mut().find(|c| c.workload == "mandelbrot" && c.strategy == "channels" && c.workers == 4);
    let queued = queued.unwrap();
    queued.item_latency =
        ItemLatency::from_items((1..=1000).map(|us| f64::from(us) * 1e3).collect()).unwrap();
    if hosts {
        let other =
            Host { hostname: "node-b".into(), cpu: "Test CPU".into(), logical_cpus: 16, physical_cores: 8 };
        r.hosts = vec![Host::of(&r.machine), other];
        queued.placement = vec![
            Placement {
                role: "worker 1".into(),
                host: r.machine.hostname.clone(),
                pid: Some(100),
                cpus: None,
            },
            Placement {
                role: "worker 2".into(),
                host: "node-b".into(),
                pid: Some(4242),
                cpus: Some("0-3".into()),
            },
        ];
    }
    r
}

/// The phase case's median per run, times `fraction`, as reports print it.
fn phase_median(r: &Results, fraction: f64) -> String {
    let c = r.cases.iter().find(|c| !c.phases.is_empty()).unwrap();
    let mut sorted = c.samples_ns.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted.len() % 2, 1, "an odd count: the median is one sample, scaled exactly");
    format_ns(sorted[sorted.len() / 2] * fraction)
}

/// The item-latency line of the channels case, as reports print it.
fn items_line(r: &Results) -> String {
    let l = r.cases.iter().find_map(|c| c.item_latency.as_ref()).unwrap();
    assert_eq!((l.count, l.max_ns), (1000, 1e6));
    format!(
        "items: p50 {} · p90 {} · p99 {} · max 1.00 ms (1k items)",
        format_ns(l.p50_ns),
        format_ns(l.p90_ns),
        format_ns(l.p99_ns)
    )
}

/// Whether every line of `old` appears in `new`, in order.
fn keeps_every_line(old: &str, new: &str) -> bool {
    let mut new = new.lines();
    old.lines().all(|l| new.any(|n| n == l))
}

#[test]
fn terminal_shows_phases_and_items_under_their_case() {
    let plain = report::terminal::render(&fixture());
    let r = with_phases_and_items(true);
    let term = report::terminal::render(&r);
    let phases = format!(
        "    phases: transfer_in {} (10%) · kernel {} (80%) · other {} (10%)",
        phase_median(&r, 0.1),
        phase_median(&r, 0.8),
        phase_median(&r, 0.1)
    );
    let lines: Vec<&str> = term.lines().collect();
    let at = lines.iter().position(|l| *l == phases).unwrap_or_else(|| panic!("`{phases}` in\n{term}"));
    let case = r.cases.iter().find(|c| !c.phases.is_empty()).unwrap();
    let row = table::row(case);
    let above = lines[at - 1];
    assert!(
        above.starts_with("mandelbrot") && above.contains(" threads ") && above.contains(&row[4]),
        "{above}"
    );
    let items = format!("    {}", items_line(&r));
    let at = lines.iter().position(|l| *l == items).unwrap_or_else(|| panic!("`{items}` in\n{term}"));
    assert!(lines[at - 1].contains(" channels "), "{}", lines[at - 1]);
    // Every other line, the cases without phases included, is as it was.
    let rest: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with("    phases: ") && !l.starts_with("    items: "))
        .collect();
    assert_eq!(rest.join("\n") + "\n", plain);
}

#[test]
fn markdown_lists_phases_items_and_hosts() {
    let plain = report::render(&fixture(), Format::Markdown).unwrap();
    assert!(!plain.contains("## Hosts") && !plain.contains("Phases:"), "{plain}");
    let r = with_phases_and_items(true);
    let md = report::render(&r, Format::Markdown).unwrap();
    let phases = format!(
        "- threads, 4 workers, size {}: phases: transfer_in {} (10%) · kernel {} (80%) · other {} (10%)",
        parlab::units::format_count(r.cases[3].effective_size),
        phase_median(&r, 0.1),
        phase_median(&r, 0.8),
        phase_median(&r, 0.1)
    );
    assert!(md.lines().any(|l| l == phases), "`{phases}` in\n{md}");
    assert!(md.contains(&items_line(&r)), "{md}");
    assert!(md.contains("shares are of the sum of the phase medians"), "{md}");
    assert!(md.contains("## Hosts\n\n| host | CPU | cores | logical CPUs |"), "{md}");
    assert!(md.contains(&format!("| {} | {} |", r.machine.hostname, r.machine.cpu_model)), "{md}");
    assert!(md.contains("| node-b | Test CPU | 8 | 16 |"), "{md}");
    assert!(md.contains("worker 1 → vm (pid 100), worker 2 → node-b (pid 4242)"), "{md}");
    // What was there is still there, unchanged: the tables, the cases without phases.
    assert!(keeps_every_line(&plain, &md));
    // One host and no placement elsewhere: no hosts section.
    let one = with_phases_and_items(false);
    assert!(!report::render(&one, Format::Markdown).unwrap().contains("## Hosts"));
}

#[test]
fn hosts_are_listed_only_when_the_run_spans_several() {
    let mut r = fixture();
    assert!(!table::spans_hosts(&r));
    // Placed on the one host there is: nothing to say.
    let here = Placement { role: "rank 0".into(), host: r.machine.hostname.clone(), pid: None, cpus: None };
    r.cases[3].placement = vec![here];
    r.hosts = vec![Host::of(&r.machine)];
    assert!(!table::spans_hosts(&r));
    assert!(html(&r).select(&sel("section#hosts")).next().is_none());
    // A case placed elsewhere, even in a file that lists no hosts: listed.
    r.hosts.clear();
    r.cases[3].placement.push(Placement { role: "rank 1".into(), host: "far".into(), pid: None, cpus: None });
    assert!(table::spans_hosts(&r));
    let md = report::render(&r, Format::Markdown).unwrap();
    assert!(md.contains("rank 0 → vm, rank 1 → far"), "{md}");
}

#[test]
fn csv_has_phase_medians_and_item_quantiles() {
    let r = with_phases_and_items(true);
    let rows = csv_rows(&report::render(&r, Format::Csv).unwrap());
    let header = &rows[0];
    assert_eq!(&header[header.len() - 4..], ["phases", "item_p50_ns", "item_p99_ns", "rank_mean_ns"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, case) in rows[1..].iter().zip(&r.cases) {
        assert_eq!(row.len(), header.len());
        if case.phases.is_empty() {
            assert_eq!(row[col("phases")], "", "case {}", case.id);
        } else {
            let median = case.median_ns().unwrap();
            let got: Vec<(&str, f64)> = row[col("phases")]
                .split(';')
                .map(|p| {
                    let (name, ns) = p.split_once('=').unwrap();
                    (name, ns.parse().unwrap())
                })
                .collect();
            let want = [("transfer_in", 0.1), ("kernel", 0.8), ("other", 0.1)];
            assert_eq!(got.len(), want.len(), "{got:?}");
            for ((name, ns), (want_name, fraction)) in got.iter().zip(want) {
                assert_eq!(*name, want_name);
                assert!(
                    (ns - median * fraction).abs() < median * 1e-9,
                    "{name}: {ns} vs {}",
                    median * fraction
                );
            }
        }
        match &case.item_latency {
            Some(l) => {
                assert_eq!(row[col("item_p50_ns")].parse::<f64>().unwrap(), l.p50_ns);
                assert_eq!(row[col("item_p99_ns")].parse::<f64>().unwrap(), l.p99_ns);
            }
            None => {
                assert_eq!((row[col("item_p50_ns")].as_str(), row[col("item_p99_ns")].as_str()), ("", ""))
            }
        }
    }
}

#[test]
fn html_shows_a_phase_bar_item_latencies_and_hosts() {
    let plain_results = fixture();
    let plain = html(&plain_results);
    assert!(plain
        .select(&sel("section#hosts, table.phases, table.items, a[href=\"#hosts\"]"))
        .next()
        .is_none());
    let r = with_phases_and_items(true);
    let doc = html(&r);
    let g = &table::groups(&r)[0];
    assert_eq!(g.label, "mandelbrot");
    let s = section(&doc, &format!("w-{}", g.index));
    // The case table is as it was; phases and items come in tables of their own.
    assert_eq!(case_table(&doc, g), case_table(&plain, &table::groups(&plain_results)[0]));
    let rows: Vec<ElementRef> = s.select(&sel("table.phases tbody tr")).collect();
    assert_eq!(rows.len(), 1);
    let names: Vec<&str> =
        rows[0].select(&sel("li[data-phase]")).map(|li| li.value().attr("data-phase").unwrap()).collect();
    assert_eq!(names, ["transfer_in", "kernel", "other"]);
    let kernel = rows[0].select(&sel("li[data-phase=\"kernel\"]")).next().unwrap();
    assert_eq!(text(kernel), format!("kernel {} (80%)", phase_median(&r, 0.8)));
    let widths: Vec<f64> = rows[0]
        .select(&sel(".phase-bar span.phase"))
        .map(|p| {
            let style = p.value().attr("style").unwrap();
            style.strip_prefix("width:").unwrap().split('%').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(widths.len(), 3);
    let colours: Vec<&str> = rows[0]
        .select(&sel(".phase-bar span.phase"))
        .map(|p| p.value().attr("style").unwrap().split("background:").nth(1).unwrap())
        .collect();
    assert!(colours[0] != colours[1] && colours[1] != colours[2] && colours[0] != colours[2], "{colours:?}");
    assert!(
        (widths.iter().sum::<f64>() - 100.0).abs() < 0.05 && (widths[1] - 80.0).abs() < 0.01,
        "{widths:?}"
    );
    let items: Vec<String> =
        s.select(&sel("table.items tbody tr td")).map(|td| text(td).trim().to_string()).collect();
    let l = r.cases[12].item_latency.as_ref().unwrap();
    let want = [
        "1k".to_string(),
        format_ns(l.p50_ns),
        format_ns(l.p90_ns),
        format_ns(l.p99_ns),
        format_ns(l.max_ns),
    ];
    assert_eq!((items.len(), items[1].as_str()), (8, "4"), "{items:?}");
    assert_eq!(items[3..], want);
    // Hosts: a section, linked from the table of contents, with both hosts and the placement.
    assert!(doc.select(&sel("nav.toc a[href=\"#hosts\"]")).next().is_some());
    let hosts = section(&doc, "hosts");
    let host_rows: Vec<String> = hosts.select(&sel("table.hosts tbody tr")).map(text).collect();
    assert_eq!(host_rows.len(), 2);
    assert!(host_rows[1].contains("node-b") && host_rows[1].contains("Test CPU"), "{host_rows:?}");
    let placed: Vec<String> = hosts.select(&sel("table.placement tbody tr")).map(text).collect();
    assert_eq!(placed.len(), 2);
    assert!(
        placed[1].contains("worker 2")
            && placed[1].contains("node-b")
            && placed[1].contains("4242")
            && placed[1].contains("0-3"),
        "{placed:?}"
    );
}

/// Files of schema 2 (before phases, item latency and hosts) load and render as they did; a
/// schema newer than this parlab's is refused.
#[test]
fn schema_2_files_still_load_and_newer_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    v["schema_version"] = 2.into();
    let path = dir.path().join("v2.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let r = report::load(&path).expect("a schema 2 file loads");
    assert_eq!(r.schema_version, 2);
    assert!(r.hosts.is_empty() && r.cases.iter().all(|c| c.phases.is_empty() && c.item_latency.is_none()));
    let out = parlab().arg("report").arg(&path).arg("--out").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert_eq!(md, report::render(&r, Format::Markdown).unwrap());
    v["schema_version"] = (parlab::results::SCHEMA_VERSION + 1).into();
    std::fs::write(&path, v.to_string()).unwrap();
    let err = report::load(&path).unwrap_err().to_string();
    assert!(err.contains("newer than this parlab reads (3)"), "{err}");
}

#[test]
fn cases_on_ranks_show_the_slowest_rank_beside_the_mean_in_every_report() {
    let mut r = fixture();
    let case = r.cases.iter_mut().find(|c| c.workload == "pi_monte_carlo" && c.stats.is_some()).unwrap();
    // Each rank's mean is 3/4 of the slowest one's; the case counts 1000 operations a run.
    case.rank_mean_ns = case.samples_ns.iter().map(|s| s * 0.75).collect();
    let slowest = case.median_ns().unwrap();
    case.latency_ns = Some(slowest / 1000.0);
    let mean = case.rank_mean_median_ns().unwrap();
    assert!((mean / slowest - 0.75).abs() < 1e-9, "the median of the means is 3/4 of the median");
    let line = format!(
        "ranks: slowest {} · mean {} per run (per operation {} · {})",
        format_ns(slowest),
        format_ns(mean),
        format_ns(slowest / 1000.0),
        format_ns(mean / 1000.0)
    );
    let term = report::terminal::render(&r);
    assert!(term.lines().any(|l| l == format!("    {line}")), "`{line}` in\n{term}");
    let md = report::render(&r, Format::Markdown).unwrap();
    assert!(md.contains(&line), "{md}");
    let page = html(&r);
    let rows: Vec<Vec<String>> = page
        .select(&sel("table.ranks tbody tr"))
        .map(|tr| tr.select(&sel("td")).map(text).collect())
        .collect();
    assert_eq!(rows.len(), 1, "one case ran on ranks");
    assert_eq!(
        rows[0][3..],
        [format_ns(slowest), format_ns(mean), format_ns(slowest / 1000.0), format_ns(mean / 1000.0)]
    );
    let rows = csv_rows(&report::render(&r, Format::Csv).unwrap());
    let at = rows[0].iter().position(|h| h == "rank_mean_ns").expect("a rank_mean_ns column");
    let filled: Vec<&String> = rows[1..].iter().map(|row| &row[at]).filter(|v| !v.is_empty()).collect();
    assert_eq!(filled.len(), 1, "only the case on ranks has a mean over ranks");
    assert!((filled[0].parse::<f64>().unwrap() - mean).abs() <= mean * 1e-6, "{filled:?}");
    // Cases without ranks show none of it.
    let plain = fixture();
    assert!(!report::terminal::render(&plain).contains("ranks: slowest"));
    assert!(html(&plain).select(&sel("table.ranks")).next().is_none());
}
