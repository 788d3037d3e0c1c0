//! The `parlab` command line: `run` (the default), `list`, `detect`, `report` (re-render or
//! compare saved results), and the regression gate (`compare`, `ab`).
//!
//! Exit codes: 0 all good, 1 a case failed (verification, panic, timeout) or regressed, 2 bad
//! input, 3 the gate could not decide (noisy machine), 130 interrupted by Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use parlab::compare::GateOptions;
use parlab::machine::Machine;
use parlab::report::{self, progress::Progress, writer::ResultsWriter};
use parlab::runner::{self, Listener, Listeners, RunOptions};
use parlab::scenario::{self, ScenarioError};
use parlab::{strategy, workload};

#[derive(Parser)]
#[command(name = "parlab", version, about = "A performance lab for parallel programming", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario (the built-in `quick` one when no file is given) and write its reports.
    Run(RunArgs),
    /// List workloads and strategies.
    List,
    /// Show what parlab detects about this machine.
    Detect {
        /// Print the machine as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Gate: compare two results files case by case; exit 1 if a case regressed.
    Compare(CompareArgs),
    /// Gate: run two parlab builds interleaved on a scenario and compare them run by run.
    Ab(AbArgs),
    /// Re-render the report of saved results (index.html, summary.md, results.csv), or with
    /// several files one page comparing them side by side (the first is the baseline).
    Report(ReportArgs),
    /// Turn criterion's saved estimates (`cargo bench`) into a parlab results.json and report.
    ImportCriterion {
        /// Criterion's output folder.
        #[arg(default_value = "target/criterion")]
        dir: PathBuf,
        /// Output folder; default `reports/<timestamp>-criterion`.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A worker process of the `process` strategies: speaks parlab's binary protocol on
    /// stdin/stdout. Started by parlab itself, never by hand.
    #[command(hide = true)]
    Worker,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// results.json files; the first is the baseline when there are several.
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// Output folder; default the folder of the results file, or `reports/<timestamp>-compare`.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct GateArgs {
    /// Relative slowdown that counts as a regression, e.g. `5%` or `0.05`.
    #[arg(long, default_value = "5%", value_parser = parse_fraction)]
    threshold: f64,
    /// Significance level of the test, between 0 and 1.
    #[arg(long, default_value = "0.01", value_parser = parse_alpha)]
    alpha: f64,
    /// Where compare.md, compare.html and compare.json go (default: beside CURRENT, or the ab work folder).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The baseline results.json (or a baseline name saved with `run --save-baseline`).
    baseline: String,
    /// The current results.json.
    current: PathBuf,
    #[command(flatten)]
    gate: GateArgs,
}

#[derive(clap::Args)]
struct AbArgs {
    /// The baseline build of parlab.
    old: PathBuf,
    /// The build under test.
    new: PathBuf,
    /// The scenario both run, case by case.
    scenario: PathBuf,
    /// Blocks per case; each block is one process run of old, new and old again (null control).
    #[arg(long, default_value_t = 8)]
    runs: usize,
    /// A different scenario for the new binary (e.g. a known slowdown, to calibrate the gate).
    #[arg(long)]
    scenario_b: Option<PathBuf>,
    #[command(flatten)]
    gate: GateArgs,
}

fn parse_alpha(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(a) if a > 0.0 && a < 1.0 => Ok(a),
        _ => Err(format!("`{text}` is not a significance level; write e.g. 0.01 or 0.05")),
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{text}` is not a fraction; write e.g. 5% or 0.05"))?;
    if !(v > 0.0 && v < 1.0) {
        return Err(format!("`{text}` must be between 0% and 100%"));
    }
    Ok(v)
}

#[derive(clap::Args, Default)]
struct RunArgs {
    /// Scenario file (TOML); without it, the built-in `quick` scenario.
    scenario: Option<PathBuf>,
    /// Output folder; default `reports/<timestamp>-<scenario>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Validate the scenario and show the cases without measuring.
    #[arg(long)]
    dry_run: bool,
    /// Run only this case (repeatable); `--dry-run` shows the numbers.
    #[arg(long = "case", value_name = "ID")]
    cases: Vec<usize>,
    /// Also save the results as a named baseline under reports/baselines/.
    #[arg(long, value_name = "NAME")]
    save_baseline: Option<String>,
    /// Compare the results with a named baseline and gate on it (exit 1 on a regression).
    #[arg(long, value_name = "NAME")]
    baseline: Option<String>,
}

/// Errors the user can fix in their input: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadInput(String);

impl From<ScenarioError> for BadInput {
    fn from(e: ScenarioError) -> Self {
        BadInput(e.to_string())
    }
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away (`| head`).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Run(args) => run(args),
        Command::List => list(),
        Command::Detect { json } => detect(json),
        Command::Compare(args) => compare(args),
        Command::Ab(args) => ab(args),
        Command::ImportCriterion { dir, out } => import_criterion(&dir, out),
        Command::Report(args) => report_cmd(args),
        Command::Worker => return parlab::strategy::process::worker::main(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let machine = Machine::detect();
    let plan = match &args.scenario {
        Some(path) => scenario::load(path, &machine).map_err(BadInput::from)?,
        None => {
            scenario::parse("<built-in quick>", scenario::BUILTIN_QUICK, &machine).map_err(BadInput::from)?
        }
    };
    let cases = plan.cases();
    if args.dry_run {
        println!("scenario `{}` is valid: {} cases", plan.name, cases.len());
        for c in &cases {
            println!(
                "  {:>4}  {:<16} {:<16} {:>3} workers  size {}",
                c.id, c.workload, c.strategy, c.workers, c.effective_size
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = args.out.unwrap_or_else(|| default_out_dir(&plan.name));
    let mut writer = ResultsWriter::create(dir.clone())?;
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        // A second Ctrl-C gives up at once; the first lets the runner write what it has.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let mut progress = Progress::new();
    let only = (!args.cases.is_empty()).then(|| args.cases.clone());
    if let Some(ids) = &only {
        if let Some(bad) = ids.iter().find(|id| **id >= cases.len()) {
            return Err(BadInput(format!("no case {bad}: the scenario has cases 0..{}", cases.len())).into());
        }
    }
    let options = RunOptions { interrupt: interrupt.clone(), only, ..RunOptions::default() };
    let results = {
        let mut listeners = Listeners(vec![&mut progress as &mut dyn Listener, &mut writer]);
        runner::run(&plan, &machine, &mut listeners, &options)
    };
    println!("\n{}", report::terminal::render(&results));
    if let Some(e) = &writer.error {
        eprintln!("warning: {e}");
    }
    for path in &writer.written {
        println!("wrote {}", path.display());
    }
    if interrupted(&interrupt) {
        eprintln!(
            "interrupted: {} of {} cases ran; the results above are partial",
            results.cases.len(),
            cases.len()
        );
        return Ok(ExitCode::from(130));
    }
    let failures = results.failures();
    if let Some(name) = &args.save_baseline {
        let path = baseline_path(name)?;
        std::fs::create_dir_all(path.parent().expect("baselines folder"))?;
        std::fs::copy(dir.join("results.json"), &path)
            .with_context(|| format!("cannot save the baseline {}", path.display()))?;
        println!("saved baseline `{name}` to {}", path.display());
    }
    let mut code = ExitCode::SUCCESS;
    if failures > 0 {
        eprintln!("{failures} case(s) failed: see the status column");
        code = ExitCode::from(1);
    }
    if let Some(name) = &args.baseline {
        let gate =
            gate_files(&baseline_path(name)?, &dir.join("results.json"), GateOptions::default(), &dir)?;
        if gate != ExitCode::SUCCESS {
            code = gate;
        }
    }
    Ok(code)
}

/// `reports/baselines/NAME.json`; names are plain words so they cannot escape the folder.
fn baseline_path(name: &str) -> anyhow::Result<PathBuf> {
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        return Err(BadInput(format!("baseline name `{name}`: use letters, digits, '-', '_' and '.'")).into());
    }
    Ok(Path::new("reports").join("baselines").join(format!("{name}.json")))
}

fn load_results(path: &Path) -> anyhow::Result<parlab::results::Results> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("cannot read results file {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        BadInput(format!("{}:{}:{}: not a parlab results file: {e}", path.display(), e.line(), e.column()))
            .into()
    })
}

fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    // A bare word that is not a file is a saved baseline's name.
    let baseline = match Path::new(&args.baseline) {
        p if p.exists() || args.baseline.contains('/') || args.baseline.ends_with(".json") => p.to_path_buf(),
        _ => baseline_path(&args.baseline)?,
    };
    let out = args
        .gate
        .out
        .clone()
        .unwrap_or_else(|| args.current.parent().unwrap_or(Path::new(".")).to_path_buf());
    gate_files(
        &baseline,
        &args.current,
        GateOptions { threshold: args.gate.threshold, alpha: args.gate.alpha },
        &out,
    )
}

fn gate_files(baseline: &Path, current: &Path, opts: GateOptions, out: &Path) -> anyhow::Result<ExitCode> {
    let (a, b) = (load_results(baseline)?, load_results(current)?);
    let comparison = parlab::compare::compare_results(
        &a,
        &baseline.display().to_string(),
        &b,
        &current.display().to_string(),
        opts,
    )
    .map_err(|e| BadInput(e.to_string()))?;
    finish_gate(&comparison, out)
}

fn finish_gate(c: &parlab::compare::Comparison, out: &Path) -> anyhow::Result<ExitCode> {
    use parlab::compare::{render, Verdict};
    print!("{}", render::terminal(c));
    for path in render::write_all(c, out)? {
        println!("wrote {}", path.display());
    }
    if c.noisy() {
        eprintln!("inconclusive: noisy machine (the null control reported a change); the gate cannot judge");
        return Ok(ExitCode::from(3));
    }
    Ok(if c.count(Verdict::Regressed) > 0 || !c.broken.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn ab(args: AbArgs) -> anyhow::Result<ExitCode> {
    parlab::compare::ab::check_runs(args.runs, args.gate.alpha).map_err(BadInput)?;
    for bin in [&args.old, &args.new] {
        if !bin.is_file() {
            return Err(BadInput(format!("{} is not a parlab binary (no such file)", bin.display())).into());
        }
    }
    let machine = Machine::detect();
    let plan = scenario::load(&args.scenario, &machine).map_err(BadInput::from)?;
    if let Some(b) = &args.scenario_b {
        let plan_b = scenario::load(b, &machine).map_err(BadInput::from)?;
        if plan_b.cases().len() != plan.cases().len() {
            return Err(BadInput(format!(
                "{} and {} expand to different cases",
                args.scenario.display(),
                b.display()
            ))
            .into());
        }
    }
    let work_dir = args.gate.out.clone().unwrap_or_else(|| default_out_dir(&format!("ab-{}", plan.name)));
    let options = parlab::compare::ab::AbOptions {
        runs: args.runs,
        gate: GateOptions { threshold: args.gate.threshold, alpha: args.gate.alpha },
        scenario_b: args.scenario_b.clone(),
        work_dir: work_dir.join("runs"),
        // A run is one case: its own timeout, warm-up and verification, plus process start-up.
        run_timeout: plan.workloads.iter().map(|w| w.settings.timeout).max().unwrap_or_default() * 2
            + std::time::Duration::from_secs(60),
    };
    let cases = plan.cases();
    eprintln!("parlab ab: {} cases x {} blocks x 3 arms (old, new, old again)", cases.len(), args.runs);
    let comparison =
        parlab::compare::ab::run(&args.old, &args.new, &args.scenario, &cases, &options, |line| {
            eprintln!("  {line}")
        })?;
    finish_gate(&comparison, &work_dir)
}

/// `parlab report`: renders from saved results only, never measures.
fn report_cmd(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut runs = Vec::new();
    for path in &args.results {
        let results = report::load(path).map_err(|e| BadInput(format!("{e:#}")))?;
        runs.push(report::compare::Run { label: path.display().to_string(), results });
    }
    if let [run] = runs.as_slice() {
        let dir =
            args.out.unwrap_or_else(|| args.results[0].parent().unwrap_or(Path::new(".")).to_path_buf());
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for format in report::Format::RENDERED {
            println!("wrote {}", report::write(&run.results, *format, &dir)?.display());
        }
    } else {
        let dir = args.out.unwrap_or_else(|| default_out_dir("compare"));
        println!("wrote {}", report::write_comparison(&runs, &dir)?.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn interrupted(flag: &AtomicBool) -> bool {
    flag.load(Ordering::SeqCst)
}

fn default_out_dir(scenario: &str) -> PathBuf {
    let stamp: String = parlab::results::now_rfc3339()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect::<String>()
        .replace('T', "-");
    let safe: String = scenario
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    Path::new("reports").join(format!("{stamp}-{safe}"))
}

fn list() -> anyhow::Result<ExitCode> {
    println!("Workloads:");
    for w in workload::WORKLOADS {
        println!("  {:<16} {}", w.name(), w.summary());
        let unit = w.size_unit();
        println!("  {:<16}   size: {}; throughput in {}", "", unit.what, w.throughput_unit());
        for p in w.params() {
            let range = match p.choices {
                [] => format!("{}..={}", p.min, p.max),
                names => names.join(" | "),
            };
            println!("  {:<16}   param {} = {} ({}; {range})", "", p.name, p.default, p.help);
        }
        let supported: Vec<&str> =
            strategy::STRATEGIES.iter().filter(|s| w.support(**s).is_ok()).map(|s| s.name()).collect();
        println!("  {:<16}   strategies: {}", "", supported.join(", "));
        for s in strategy::STRATEGIES {
            if let Err(why) = w.support(*s) {
                println!("  {:<16}   unsupported: {} ({why})", "", s.name());
            }
        }
    }
    println!("\nStrategies:");
    for s in strategy::STRATEGIES {
        let available = match s.availability() {
            Ok(()) => "available".to_string(),
            Err(why) => format!("unavailable: {why}"),
        };
        println!("  {:<16} {} [{available}]", s.name(), s.summary());
        if !s.tunables().is_empty() {
            println!("  {:<16}   tunables ([strategy.{}]): {}", "", s.name(), s.tunables().join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn detect(json: bool) -> anyhow::Result<ExitCode> {
    let m = Machine::detect();
    if json {
        println!("{}", serde_json::to_string_pretty(&m).context("cannot encode the machine")?);
        return Ok(ExitCode::SUCCESS);
    }
    use parlab::units::format_bytes;
    println!("source:         {}", m.source);
    println!("host:           {}", m.hostname);
    println!("cpu:            {} ({})", m.cpu_model, m.architecture);
    println!("sockets:        {}", m.sockets);
    println!("physical cores: {}", m.physical_cores);
    println!("logical cpus:   {}", m.logical_cpus);
    for c in &m.caches {
        println!("cache L{} {:<11} {} x {}", c.level, c.kind, format_bytes(c.size_bytes), c.instances);
    }
    println!("numa nodes:     {}", m.numa_nodes);
    println!(
        "memory:         {} total, {} available",
        format_bytes(m.memory_total_bytes),
        format_bytes(m.memory_available_bytes)
    );
    println!("os:             {}", m.os);
    println!("compiler:       {}", m.compiler);
    println!(
        "gpus:           {}",
        if m.gpus.is_empty() {
            "none".to_string()
        } else {
            m.gpus.iter().map(|g| g.name.clone()).collect::<Vec<_>>().join(", ")
        }
    );
    println!("mpi:            {}", m.mpi.as_deref().unwrap_or("none"));
    for n in &m.notes {
        println!("note:           {n}");
    }
    Ok(ExitCode::SUCCESS)
}

fn import_criterion(dir: &Path, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let (results, skipped) =
        parlab::criterion_import::import(dir, Machine::detect()).map_err(|e| BadInput(format!("{e:#}")))?;
    for s in &skipped {
        eprintln!("skipped {s}");
    }
    let out = out.unwrap_or_else(|| default_out_dir("criterion"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    println!("{}", report::terminal::render(&results));
    for format in report::Format::ALL {
        println!("wrote {}", report::write(&results, *format, &out)?.display());
    }
    Ok(ExitCode::SUCCESS)
}
