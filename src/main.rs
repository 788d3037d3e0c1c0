//! The `parlab` command line: `run` (the default), `list`, `detect`.
//!
//! Exit codes: 0 all good, 1 a case failed (verification, panic, timeout), 2 bad input,
//! 130 interrupted by Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
}

/// Errors the user can fix in their input: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct BadInput(#[from] ScenarioError);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Run(args) => run(args),
        Command::List => list(),
        Command::Detect { json } => detect(json),
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
        Some(path) => scenario::load(path, &machine).map_err(BadInput)?,
        None => scenario::parse("<built-in quick>", scenario::BUILTIN_QUICK, &machine).map_err(BadInput)?,
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
    let options = RunOptions { interrupt: interrupt.clone(), ..RunOptions::default() };
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
    if failures > 0 {
        eprintln!("{failures} case(s) failed: see the status column");
        return Ok(ExitCode::from(1));
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
            println!("  {:<16}   param {} = {} ({}; {}..={})", "", p.name, p.default, p.help, p.min, p.max);
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
