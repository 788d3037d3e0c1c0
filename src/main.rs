//! The `parlab` command line: `run` (the default), `list`, `detect`, `report` (re-render or
//! compare saved results), and the regression gate (`compare`, `ab`).
//!
//! Exit codes, one meaning each, the same for every command (the README has the same table):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything ran and verified; the gate found no regression |
//! | 1 | a case failed (wrong answer, panic, timeout, error) or the gate found a regression |
//! | 2 | bad input: a scenario, argument or input file (unreadable, not parlab results, another schema) |
//! | 3 | the gate could not decide (old against old too wide for the threshold; with `--fail-on-inconclusive`, a case inconclusive or with too little data) |
//! | 4 | internal error: parlab itself failed (e.g. it could not write its reports) |
//! | 130 | interrupted by Ctrl-C, SIGTERM or SIGHUP (the results so far are written) |
//!
//! Only [`BadInput`] errors exit 2; any other error exits 4, never 1, so that a broken run is
//! never read as a regression or a failed case.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use parlab::compare::GateOptions;
use parlab::machine::{Machine, Probe};
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
    /// Show what parlab detects about this machine, or with `--hosts` check every host of an
    /// MPI hostfile: reachable through the launcher, the same parlab version and binary path,
    /// and its cores (exit 2 naming each host that is not).
    Detect {
        /// Print the machine as JSON.
        #[arg(long)]
        json: bool,
        /// An MPI hostfile whose hosts to check, through `mpirun` (or the scenario's launcher).
        #[arg(long, value_name = "HOSTFILE")]
        hosts: Option<PathBuf>,
        /// A scenario whose `[mpi]` launcher and `args` the check uses (e.g. `--mca` settings).
        #[arg(long, requires = "hosts")]
        scenario: Option<PathBuf>,
        /// Prints this host's parlab version, executable and cores as one line and exits: the
        /// probe `detect --hosts` starts on every host.
        #[arg(long, hide = true, conflicts_with_all = ["json", "hosts"])]
        host_info: bool,
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
    /// One case in a child process (`--isolate process`, `--processes`): reads the plan on
    /// stdin, writes events and the result as JSON lines. Started by parlab itself.
    #[command(name = "case-child", hide = true)]
    CaseChild,
    /// A rank of an `mpi` case's job (`mpi` builds): started by `mpirun`, which parlab starts;
    /// rank 0 speaks the case protocol on stdin/stdout.
    #[cfg(feature = "mpi")]
    #[command(name = "mpi-worker", hide = true)]
    MpiWorker {
        /// Prints the MPI library's version (`MPI_Get_library_version`) and exits: the probe of
        /// `parlab detect`, which runs it as a child.
        #[arg(long)]
        library_version: bool,
    },
    /// The test backends' program (`fault-injection` builds): speaks the case protocol on
    /// stdin/stdout. Started by parlab itself.
    #[cfg(feature = "fault-injection")]
    #[command(name = "case-program", hide = true)]
    CaseProgram {
        /// `phases`, or `orphan` (also leaves a grandchild behind).
        #[arg(long)]
        behaviour: String,
    },
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
    /// Exit 3 when any case is inconclusive or has too little data, not only when the null
    /// control is noisy: a gate that cannot decide then blocks instead of passing.
    #[arg(long)]
    fail_on_inconclusive: bool,
}

impl GateArgs {
    fn options(&self) -> GateOptions {
        GateOptions { threshold: self.threshold, alpha: self.alpha }
    }
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
    /// Blocks per case to start with; each block is one process run of old, new and old again
    /// (null control).
    #[arg(long, default_value_t = 8)]
    runs: usize,
    /// Undecided cases get more blocks, one at a time, up to this many (= --runs: never).
    #[arg(long, default_value_t = 40)]
    max_runs: usize,
    /// Wall-time budget of the whole gate: no adaptive block starts that would end past it.
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    budget: std::time::Duration,
    /// A different scenario for the new binary (e.g. a known slowdown, to calibrate the gate).
    #[arg(long)]
    scenario_b: Option<PathBuf>,
    #[command(flatten)]
    gate: GateArgs,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. 3m or 90s"))
}

/// The longest `--spread`: beyond an hour a run mostly idles, and a typo (`90h`) must not
/// silently keep the machine for days.
const MAX_SPREAD: std::time::Duration = std::time::Duration::from_secs(3600);

fn parse_spread(text: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(text)?;
    if d > MAX_SPREAD {
        return Err(format!("`{text}` is longer than the longest spread, 1h; 1 to 5 minutes already sample a drifting machine"));
    }
    Ok(d)
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
    /// Where cases run: `thread` (a thread of this process, the default) or `process` (each
    /// case in its own process, which a timeout kills with everything it started).
    #[arg(long, value_name = "HOW", value_parser = ["thread", "process"])]
    isolate: Option<String>,
    /// Measure each case in N separate processes, interleaved across cases, with inputs at
    /// varied alignments; the CI then covers the spread between processes (implies
    /// `--isolate process`). Default: each workload's `processes` setting (1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=parlab::scenario::MAX_PROCESSES as u64))]
    processes: Option<u64>,
    /// Where cases run in several processes (--processes, `processes`): spread each case's processes over at least this much time (e.g. 90s;
    /// at most 1h), idling between rounds where the run is shorter. The speed of a shared
    /// machine wanders over tens of seconds; processes started within a second or two all see
    /// one moment of it, and a rerun minutes later may not land inside their interval.
    #[arg(long, value_name = "DURATION", value_parser = parse_spread)]
    spread: Option<std::time::Duration>,
    /// Continue the run whose results.jsonl is in `--out`: cases already there are kept, the
    /// rest are run. parlab uses it itself to go on in a fresh process after a case that could
    /// not be stopped.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Run the MPI cases across the hosts of this hostfile (OpenMPI's format: `host slots=N`
    /// per line), in place of the scenario's `[mpi] hostfile`.
    #[arg(long, value_name = "FILE")]
    hostfile: Option<PathBuf>,
}

impl RunArgs {
    /// The same run as command-line arguments, with `--out` and `--resume`: what a fresh
    /// process needs to continue it.
    fn resume_args(&self, out: &Path) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec!["run".into()];
        if let Some(s) = &self.scenario {
            a.push(s.clone().into());
        }
        a.extend(["--out".into(), out.as_os_str().to_owned(), "--resume".into()]);
        for id in &self.cases {
            a.extend(["--case".into(), id.to_string().into()]);
        }
        for (flag, value) in [
            ("--save-baseline", self.save_baseline.clone()),
            ("--baseline", self.baseline.clone()),
            ("--isolate", self.isolate.clone()),
            ("--processes", self.processes.map(|n| n.to_string())),
            ("--spread", self.spread.map(|d| humantime::format_duration(d).to_string())),
            ("--hostfile", self.hostfile.as_ref().map(|f| f.display().to_string())),
        ] {
            if let Some(v) = value {
                a.extend([flag.into(), v.into()]);
            }
        }
        a
    }
}

/// `plan` with its MPI cases across the hosts of `hostfile` (`--hostfile`), checked as the
/// scenario's `[mpi] hostfile` would be.
fn with_hostfile(mut plan: scenario::Plan, hostfile: Option<&Path>) -> Result<scenario::Plan, BadInput> {
    let Some(file) = hostfile else { return Ok(plan) };
    // Absolute, as the scenario's is: the launcher runs from elsewhere.
    let file =
        std::path::absolute(file).map_err(|e| BadInput(format!("--hostfile {}: {e}", file.display())))?;
    plan.mpi.hostfile = Some(file);
    plan.mpi.check().map_err(|(key, why)| {
        BadInput(format!("--hostfile: {why}\n  help: `[mpi] {key}` of the scenario is what it replaces"))
    })?;
    Ok(plan)
}

/// The exit codes of the table in the module docs.
mod exit {
    pub const FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const UNDECIDED: u8 = 3;
    pub const INTERNAL: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
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
        Command::Detect { host_info: true, .. } => {
            println!("{}", parlab::machine::hosts::HostInfo::here().line());
            return ExitCode::SUCCESS;
        }
        Command::Detect { hosts: Some(hostfile), scenario, .. } => {
            detect_hosts(&hostfile, scenario.as_deref())
        }
        Command::Detect { json, .. } => detect(json),
        Command::Compare(args) => compare(args),
        Command::Ab(args) => ab(args),
        Command::ImportCriterion { dir, out } => import_criterion(&dir, out),
        Command::Report(args) => report_cmd(args),
        Command::Worker => return parlab::backend::process::worker::main(),
        #[cfg(feature = "mpi")]
        Command::MpiWorker { library_version: true } => return parlab::machine::mpi::print_library_version(),
        #[cfg(feature = "mpi")]
        Command::MpiWorker { library_version: false } => return parlab::backend::mpi_worker::main(),
        #[cfg(feature = "fault-injection")]
        Command::CaseProgram { behaviour } => {
            use parlab::backend::testing;
            let served = testing::Behaviour::parse(&behaviour)
                .and_then(|b| testing::serve(b, &mut std::io::stdin().lock(), &mut std::io::stdout().lock()));
            return match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::CaseChild => {
            let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
            return match parlab::runner::child::serve(&mut input, &mut output) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            };
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<BadInput>().is_some() {
                eprintln!("error: {e:#}");
                ExitCode::from(exit::BAD_INPUT)
            } else if e.downcast_ref::<parlab::compare::ab::Interrupted>().is_some() {
                eprintln!("{e:#}");
                ExitCode::from(exit::INTERRUPTED)
            } else if e.downcast_ref::<parlab::compare::ab::CaseFailed>().is_some() {
                eprintln!("error: {e:#}");
                ExitCode::from(exit::FAILED)
            } else {
                eprintln!("internal error: {e:#}");
                ExitCode::from(exit::INTERNAL)
            }
        }
    }
}

/// Where a run that continues in a fresh process leaves its plan for that process.
const RESUME_PLAN: &str = "resume-plan.json";

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // First, before any thread or process starts: everything this run starts inherits it.
    let marker = runner::marker::install(args.resume);
    let mut machine = Machine::detect();
    // The results name the OpenCL and CUDA devices the run's cases could use (`opencl`, `cuda`
    // builds); a described machine (`PARLAB_MACHINE_ROOT`) is left as described.
    if std::env::var_os(parlab::machine::ROOT_ENV).is_none_or(|r| r.is_empty()) {
        parlab::machine::opencl::probe(&mut machine);
        parlab::machine::cuda::probe(&mut machine);
    }
    let plan = match &args.scenario {
        Some(path) => scenario::load(path, &machine).map_err(BadInput::from)?,
        None => {
            scenario::parse("<built-in quick>", scenario::BUILTIN_QUICK, &machine).map_err(BadInput::from)?
        }
    };
    // A run continued in a fresh process runs the plan its first process made.
    let resumed_plan = args.out.as_ref().map(|d| d.join(RESUME_PLAN)).filter(|p| args.resume && p.is_file());
    let plan = match resumed_plan {
        Some(path) => {
            let text = parlab::input::read(&path, parlab::input::PLAN)
                .map_err(|e| BadInput(format!("cannot read {}: {e}", path.display())))?;
            let plan: scenario::Plan = serde_json::from_slice(&text)
                .map_err(|e| BadInput(format!("{}: not a parlab plan: {e}", path.display())))?;
            // Read from a folder the user named, perhaps left by another parlab: held to the
            // limits of a scenario before anything runs.
            plan.check_limits(&machine).map_err(|e| {
                BadInput(format!(
                    "{}: {e}\n  help: this is the plan of an earlier run in that folder; start the \
                     run again without --resume (or in a fresh --out folder)",
                    path.display()
                ))
            })?;
            plan
        }
        None => plan,
    };
    let plan = with_hostfile(plan, args.hostfile.as_deref())?;
    // Checked before anything runs: a typo in a baseline's name must not cost the whole run.
    let baseline = args.baseline.as_deref().map(check_baseline).transpose()?;
    if let Some(name) = &args.save_baseline {
        baseline_path(name)?;
    }
    let cases = plan.cases();
    if args.dry_run {
        println!("scenario `{}` is valid: {} cases", plan.name, cases.len());
        for c in &cases {
            let device = c.device.as_ref().map_or(String::new(), |d| format!("  on {}", d.label()));
            println!(
                "  {:>4}  {:<16} {:<16} {:>3} workers  size {}{device}",
                c.id, c.workload, c.strategy, c.workers, c.effective_size
            );
        }
        for w in &plan.workloads {
            for n in &w.notes {
                println!("  note: {} at size {}: {}", w.kind, n.size, n.note);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = args.out.clone().unwrap_or_else(|| default_out_dir(&plan.name));
    let done = if args.resume { load_resumed(&dir, &cases)? } else { Vec::new() };
    let mut writer = ResultsWriter::open(dir.clone(), args.resume)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        // A second Ctrl-C gives up at once; the first lets the runner write what it has.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(exit::INTERRUPTED.into());
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
    let processes = args.processes.map(|n| n as usize);
    let several =
        processes.map_or_else(|| plan.workloads.iter().any(|w| w.settings.processes > 1), |n| n > 1);
    if args.spread.is_some_and(|d| !d.is_zero()) && !several {
        return Err(BadInput(
            "--spread paces the processes of cases measured in several, and every case here runs in one: \
             add --processes N (N of 2 or more) or `processes` to the scenario"
                .into(),
        )
        .into());
    }
    let isolation = if args.isolate.as_deref() == Some("process")
        || processes.is_some_and(|n| n > 1)
        || plan.workloads.iter().any(|w| w.settings.processes > 1)
    {
        let exe = std::env::current_exe().context("cannot find parlab's own binary to start cases with")?;
        runner::Isolation::Process { exe }
    } else {
        runner::Isolation::Thread
    };
    let options = RunOptions {
        interrupt: interrupt.clone(),
        only,
        isolation,
        processes,
        spread: args.spread.unwrap_or_default(),
        done,
        ..RunOptions::default()
    };
    let results = {
        let mut listeners = Listeners(vec![&mut progress as &mut dyn Listener, &mut writer]);
        runner::run(&plan, &machine, &mut listeners, &options)
    };
    if let Some(id) = results.abandoned_case {
        // A case's thread could not be stopped: it holds a core, so nothing more may be
        // measured in this process. Go on in a fresh one (exec ends every thread of this one);
        // everything measured so far is in results.jsonl, which the new process reads back.
        drop(progress);
        if let Some(e) = &writer.error {
            return Err(anyhow::anyhow!("cannot continue after case {id}: {e}"));
        }
        eprintln!(
            "case {id} could not be stopped (its thread was still running after the grace period); \
             continuing the remaining cases in a fresh process"
        );
        // The fresh process must run exactly these cases: sizes derived from the machine (a
        // default shrunk to fit the memory available now) could come out differently later.
        let plan_path = dir.join(RESUME_PLAN);
        std::fs::write(&plan_path, serde_json::to_vec(&plan)?)
            .with_context(|| format!("cannot write {}", plan_path.display()))?;
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().context("cannot find parlab's own binary to continue with")?;
        let err = std::process::Command::new(exe).args(args.resume_args(&dir)).exec();
        return Err(anyhow::anyhow!("cannot continue in a fresh process: {err}"));
    }
    let left = runner::marker::end_survivors(runner::marker::ENV, &marker);
    if !left.is_empty() {
        eprintln!(
            "warning: {} process(es) started by this run were still running at its end and were killed:",
            left.len()
        );
        for (pid, cmd) in &left {
            eprintln!("  {pid}: {cmd}");
        }
    }
    println!("\n{}", report::terminal::render(&results));
    for path in &writer.written {
        println!("wrote {}", path.display());
    }
    if let Some(e) = &writer.error {
        // The measurements are shown above, but the files are not whole: that is parlab's
        // failure, not the cases'.
        anyhow::bail!("could not write every report to {}: {e}", dir.display());
    }
    if interrupted(&interrupt) {
        eprintln!(
            "interrupted: {} of {} cases ran; the results above are partial",
            results.cases.len(),
            cases.len()
        );
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    let failures = results.failures();
    if let Some(name) = &args.save_baseline {
        let path = baseline_path(name)?;
        std::fs::create_dir_all(path.parent().expect("baselines folder"))?;
        std::fs::copy(dir.join("results.json"), &path)
            .with_context(|| format!("cannot save the baseline {}", path.display()))?;
        println!("saved baseline `{name}` to {}", path.display());
        if failures > 0 {
            // Saved as it is (it is what ran), but a gate against it skips those cases.
            eprintln!(
                "warning: baseline `{name}` holds {failures} failed case(s); a gate against it cannot \
                 judge them: fix them and save the baseline again"
            );
        }
    }
    if failures > 0 {
        eprintln!("{failures} case(s) failed: see the status column");
    }
    let Some((path, baseline)) = &baseline else {
        return Ok(if failures > 0 { ExitCode::from(exit::FAILED) } else { ExitCode::SUCCESS });
    };
    // One run against one: said plainly, since it is weaker evidence than `ab`'s.
    println!(
        "gating against baseline `{}`: {}",
        args.baseline.as_deref().unwrap_or_default(),
        parlab::compare::SINGLE_RUNS
    );
    let gate = gate_against(baseline, path, &dir.join("results.json"), GateOptions::default(), false, &dir);
    // A failed case outranks whatever the gate says (undecided, or that it cannot compare):
    // exit 1 must not turn into a 3 that a CI script retries, or a 2 that blames the input.
    if failures == 0 {
        return gate;
    }
    if let Err(e) = gate {
        eprintln!("warning: the gate could not compare with the baseline: {e:#}");
    }
    Ok(ExitCode::from(exit::FAILED))
}

/// `--baseline NAME`, checked before the run: the name, and that its file exists and is a
/// results file this parlab can gate against. Returns its path and results.
fn check_baseline(name: &str) -> anyhow::Result<(PathBuf, parlab::results::Results)> {
    let path = baseline_path(name)?;
    if !path.is_file() {
        let saved: Vec<String> = std::fs::read_dir(path.parent().expect("baselines folder"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .collect();
        let help = match scenario::closest(name, saved.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None if saved.is_empty() => format!("save one first with `parlab run --save-baseline {name}`"),
            None => format!("saved baselines: {}", saved.join(", ")),
        };
        return Err(BadInput(format!(
            "no baseline `{name}`: {} does not exist\n  help: {help}",
            path.display()
        ))
        .into());
    }
    let results = load_results(&path)?;
    // The run writes the current schema: the baseline must be comparable with it.
    if !parlab::results::comparable_schemas(results.schema_version, parlab::results::SCHEMA_VERSION) {
        return Err(BadInput(format!(
            "baseline `{name}` ({}) has results schema {}, this parlab writes {}: save the baseline again \
             with this parlab",
            path.display(),
            results.schema_version,
            parlab::results::SCHEMA_VERSION
        ))
        .into());
    }
    if !results.cases.iter().any(|c| c.status == parlab::results::Status::Ok) {
        return Err(BadInput(format!(
            "baseline `{name}` ({}) has no measured case to compare with: save it again from a run \
             whose cases ran",
            path.display()
        ))
        .into());
    }
    // Two cases of one identity could not be paired: found now, not after the whole run.
    parlab::identity::check_unique(&results.cases, &path.display().to_string())
        .map_err(|e| BadInput(format!("baseline `{name}`: {e}")))?;
    Ok((path, results))
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

/// A results file the user named: anything wrong with it is bad input, never a failure.
fn load_results(path: &Path) -> anyhow::Result<parlab::results::Results> {
    let mut results = report::load(path).map_err(|e| BadInput(format!("{e:#}")))?;
    results.fill_case_settings();
    Ok(results)
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
    let (opts, fail) = (args.gate.options(), args.gate.fail_on_inconclusive);
    gate_against(&load_results(&baseline)?, &baseline, &args.current, opts, fail, &out)
}

/// Compares `current` with a baseline already loaded (read from `baseline`).
fn gate_against(
    a: &parlab::results::Results,
    baseline: &Path,
    current: &Path,
    opts: GateOptions,
    fail_on_inconclusive: bool,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let b = load_results(current)?;
    let comparison = parlab::compare::compare_results(
        a,
        &baseline.display().to_string(),
        &b,
        &current.display().to_string(),
        opts,
    )
    .map_err(|e| BadInput(e.to_string()))?;
    finish_gate(&comparison, fail_on_inconclusive, out)
}

fn finish_gate(
    c: &parlab::compare::Comparison,
    fail_on_inconclusive: bool,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    use parlab::compare::{render, Outcome};
    print!("{}", render::terminal(c));
    for path in render::write_all(c, out)? {
        println!("wrote {}", path.display());
    }
    let outcome = c.outcome(fail_on_inconclusive);
    if outcome == Outcome::Undecided {
        if c.noisy() {
            eprintln!(
                "undecided: noisy machine (old against old is wider than the threshold); the gate cannot judge"
            );
        } else {
            eprintln!(
                "undecided: {} case(s) inconclusive or with too little data (--fail-on-inconclusive)",
                c.undecided()
            );
        }
    }
    Ok(ExitCode::from(match outcome {
        Outcome::Pass => 0,
        Outcome::Regressed => exit::FAILED,
        Outcome::Undecided => exit::UNDECIDED,
    }))
}

fn ab(mut args: AbArgs) -> anyhow::Result<ExitCode> {
    parlab::compare::ab::check_runs(args.runs, args.gate.alpha).map_err(BadInput)?;
    for bin in [&mut args.old, &mut args.new] {
        if !bin.is_file() {
            return Err(BadInput(format!("{} is not a parlab binary (no such file)", bin.display())).into());
        }
        // As a path, not a name: a bare `parlab-old` would be looked up in PATH when started.
        *bin = std::fs::canonicalize(&*bin).with_context(|| format!("cannot resolve {}", bin.display()))?;
    }
    let machine = Machine::detect();
    if args.max_runs < args.runs {
        return Err(BadInput(format!(
            "--max-runs {} is below --runs {}: give at least as many (equal turns adaptive blocks off)",
            args.max_runs, args.runs
        ))
        .into());
    }
    let plan = scenario::load(&args.scenario, &machine).map_err(BadInput::from)?;
    check_unique_cases(&plan, &args.scenario)?;
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
        max_runs: args.max_runs,
        budget: args.budget,
        gate: args.gate.options(),
        scenario_b: args.scenario_b.clone(),
        work_dir: work_dir.join("runs"),
        run_timeout: parlab::compare::ab::run_timeout(&plan),
    };
    // Each run is in its own process group (so that a timeout ends everything it started), so
    // the terminal's Ctrl-C reaches only this process: pass it on, and SIGTERM or SIGHUP (a CI
    // job cancelled, a terminal closed) likewise.
    let _ = ctrlc::set_handler(parlab::compare::ab::interrupt);
    let cases = plan.cases();
    eprintln!(
        "parlab ab: {} cases x {} blocks x 3 arms (old, new, old again); undecided cases up to {} blocks within {}",
        cases.len(),
        args.runs,
        args.max_runs,
        humantime::format_duration(args.budget)
    );
    let comparison =
        parlab::compare::ab::run(&args.old, &args.new, &args.scenario, &cases, &options, |line| {
            eprintln!("  {line}")
        })?;
    finish_gate(&comparison, args.gate.fail_on_inconclusive, &work_dir)
}

/// Two cases of a scenario that `ab` could not tell apart (bad input, before anything runs).
fn check_unique_cases(plan: &scenario::Plan, path: &Path) -> anyhow::Result<()> {
    use parlab::results::{CaseResult, Status};
    let cases: Vec<CaseResult> = plan
        .cases()
        .iter()
        .map(|spec| CaseResult::unmeasured(spec, &plan.workloads[spec.workload_index].params, Status::Ok, ""))
        .collect();
    parlab::identity::check_unique(&cases, &path.display().to_string())
        .map_err(|e| BadInput(e.to_string()).into())
}

/// `parlab report`: renders from saved results only, never measures.
fn report_cmd(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut runs = Vec::new();
    for path in &args.results {
        let mut results = report::load(path).map_err(|e| BadInput(format!("{e:#}")))?;
        results.fill_case_settings();
        if args.results.len() > 1 {
            // Aligning runs pairs cases by identity: two of one identity would pair arbitrarily.
            parlab::identity::check_unique(&results.cases, &path.display().to_string())
                .map_err(|e| BadInput(e.to_string()))?;
        }
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

/// The cases an earlier process of this run wrote to `dir/results.jsonl`, checked against the
/// plan: a file from another scenario must not be mixed in.
fn load_resumed(
    dir: &Path,
    cases: &[parlab::scenario::CaseSpec],
) -> anyhow::Result<Vec<parlab::results::CaseResult>> {
    let path = dir.join("results.jsonl");
    let text = parlab::input::read_to_string(&path, parlab::input::RESULTS)
        .map_err(|e| BadInput(format!("--resume: cannot read {}: {e}", path.display())))?;
    let mut done: Vec<parlab::results::CaseResult> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: parlab::results::CaseResult = serde_json::from_str(line)
            .map_err(|e| BadInput(format!("{}:{}: not a parlab case result: {e}", path.display(), i + 1)))?;
        let matches = cases.get(r.id).is_some_and(|c| {
            c.workload == r.workload
                && c.strategy == r.strategy
                && c.workers == r.workers
                && c.effective_size == r.effective_size
        });
        if !matches {
            return Err(BadInput(format!(
                "{}:{}: case {} ({} {} {} workers) is not that case of this scenario: resume the run with the scenario it was started with",
                path.display(), i + 1, r.id, r.workload, r.strategy, r.workers
            ))
            .into());
        }
        done.retain(|d| d.id != r.id);
        done.push(r);
    }
    Ok(done)
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
    let mut m = Machine::detect();
    parlab::machine::mpi::probe(&mut m);
    parlab::machine::opencl::probe(&mut m);
    parlab::machine::cuda::probe(&mut m);
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
    println!("gpus:           {}", m.describe_probe(Probe::Gpu));
    for g in &m.gpus {
        println!("device:         {}", g.line());
    }
    println!("mpi:            {}", m.describe_probe(Probe::Mpi));
    for n in &m.notes {
        println!("note:           {n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `detect --hosts F`: every host of the hostfile asked through the launcher (see
/// [`parlab::machine::hosts`]); anything wrong is bad input (exit 2), naming the hosts.
fn detect_hosts(hostfile: &Path, scenario: Option<&Path>) -> anyhow::Result<ExitCode> {
    use parlab::machine::hosts::{self, HostInfo};
    let settings = match scenario {
        Some(path) => scenario::load(path, &Machine::detect()).map_err(BadInput::from)?.mpi,
        None => parlab::scenario::MpiSettings::default(),
    };
    let launcher = parlab::subprocess::mpi_launcher(settings.launcher.program()).map_err(BadInput)?;
    let exe = hosts::own_exe().map_err(|e| BadInput(format!("cannot tell which executable this is: {e}")))?;
    let own = HostInfo::here();
    let answers = hosts::check(&settings.args, &launcher, hostfile, &exe, &own, hosts::PROBE_TIMEOUT)
        .map_err(|e| BadInput(format!("{}: {e}", hostfile.display())))?;
    for a in &answers {
        let i = &a.info;
        println!(
            "{:<16} reachable ({}): parlab {} at {}, {} cores, {} logical CPUs, {}",
            a.host, i.hostname, i.parlab, i.exe, i.physical_cores, i.logical_cpus, i.cpu
        );
    }
    println!(
        "all {} hosts reachable through {}, each with parlab {} at {}",
        answers.len(),
        launcher.display(),
        own.parlab,
        own.exe
    );
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
