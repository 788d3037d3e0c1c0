//! `parlab ab`: two builds of parlab measured interleaved, in one sitting, gated on paired runs.
//!
//! Samples taken inside one process share its memory layout, core and clock frequency, so they
//! are not independent trials; treating them as such (pseudo-replication) is why sample-level
//! gates cry wolf on shared CI runners. Here the unit of evidence is a whole process run: for
//! each case, `runs` blocks, each running the old binary (A), the new one (B) and the old one
//! again (N, the null control) as separate processes, in an order that rotates through all six
//! permutations so that drift in machine speed hits every arm alike. Each run contributes one
//! estimate (its median); the test is done across runs on the paired ratios B/A, and the same
//! pipeline on N/A tells whether the machine was quiet enough to judge at all.
//!
//! Adaptive blocks: after `runs` blocks of every case, the cases still undecided (inconclusive,
//! or a null control too wide for the threshold) get one more block each, round after round,
//! until they decide, reach `max_runs`, or the next block would overrun the time budget. Evidence
//! is added only where it is thin, so the gate decides far more often at the same cost. The
//! repeated looks are a sequential design: each look at `alpha` gives a false alarm one more
//! chance, which `ci/gate-calibration.sh` measures rather than assumes (a false `regressed` also
//! needs the whole interval beyond the threshold, which repeated looks at a true ratio of 1
//! rarely give).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{decide, paired_evidence, CaseComparison, Comparison, GateOptions};
use crate::identity::CaseIdentity;
use crate::results::{Results, Status};
use crate::scenario::{CaseSpec, Plan, Settings};
use crate::subprocess::{die_with_parent, tail};

/// The gate was interrupted (Ctrl-C): the command exits 130 with nothing decided.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: the gate stopped with its run in flight killed; nothing was decided")]
pub struct Interrupted;

/// Set by [`interrupt`]; every run in flight and to come stops.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The process group of the run in flight (0: none). Each run is the leader of its own group,
/// so that a timeout or Ctrl-C ends it with everything it started, not just the binary.
static RUN_GROUP: AtomicI32 = AtomicI32::new(0);

/// For the Ctrl-C (and SIGTERM, SIGHUP) handler: kills the run in flight with its whole process
/// group and stops the gate. (The runs do not get the terminal's Ctrl-C themselves: they are in
/// their own groups; and if `ab` is killed outright, each run dies with it by its death signal.)
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    kill_group(RUN_GROUP.load(Ordering::SeqCst));
}

fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: killpg has no memory-safety preconditions; a stale group gives ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Kills the run's group when dropped: after a normal exit too, so that nothing a run
/// started outlives it and holds its stderr open.
struct RunGroup(i32);

impl Drop for RunGroup {
    fn drop(&mut self) {
        RUN_GROUP.store(0, Ordering::SeqCst);
        kill_group(self.0);
    }
}

/// A case that did not run `ok` under one of the builds: the gate stops, and the command exits
/// as for a failed case (1), not as for an internal error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CaseFailed(pub String);

pub struct AbOptions {
    /// Blocks per case to start with; each block runs A, B and N once.
    pub runs: usize,
    /// The most blocks an undecided case may grow to (adaptive blocks); `runs` disables them.
    pub max_runs: usize,
    /// Adaptive blocks are added only while the whole gate stays within this wall time.
    pub budget: Duration,
    pub gate: GateOptions,
    /// The scenario the new binary runs, when it differs (e.g. to calibrate with a known slowdown).
    pub scenario_b: Option<PathBuf>,
    /// Where each run's results are written.
    pub work_dir: PathBuf,
    /// How long one process run may take before it is killed and the gate fails.
    pub run_timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arm {
    A,
    B,
    N,
}

/// The six orders of three arms, cycled block by block.
const ORDERS: [[Arm; 3]; 6] = [
    [Arm::A, Arm::B, Arm::N],
    [Arm::B, Arm::N, Arm::A],
    [Arm::N, Arm::A, Arm::B],
    [Arm::A, Arm::N, Arm::B],
    [Arm::B, Arm::A, Arm::N],
    [Arm::N, Arm::B, Arm::A],
];

/// How long one process run of `plan` (`parlab run --case N`, one case) may take before `ab`
/// kills it: per process the case measures in (its workload's `processes`), its timeout twice
/// over (warm-up and verification besides sampling) and [`PROCESS_SLACK`] for start-up and
/// preparing the input; plus a minute for the run as a whole. The longest over the workloads.
pub fn run_timeout(plan: &Plan) -> Duration {
    let per_case = |s: &Settings| {
        let processes = u32::try_from(s.processes.max(1)).unwrap_or(u32::MAX);
        s.timeout.saturating_mul(2).saturating_add(PROCESS_SLACK).saturating_mul(processes)
    };
    plan.workloads.iter().map(|w| per_case(&w.settings)).max().unwrap_or_default().saturating_add(RUN_SLACK)
}

/// What one of a case's processes may take beyond its timeouts (start-up, detection, input).
const PROCESS_SLACK: Duration = Duration::from_secs(10);
/// What a whole run may take beyond its case's processes (writing the reports).
const RUN_SLACK: Duration = Duration::from_secs(60);

/// Whether `runs` blocks can ever give a significant result at `alpha`.
pub fn check_runs(runs: usize, alpha: f64) -> Result<(), String> {
    if runs < 2 {
        return Err("--runs must be at least 2 to estimate the run-to-run noise".into());
    }
    // The exact sign-flip test cannot go below 2 / 2^runs: with fewer runs it could never
    // report a regression, and the null control could never report noise.
    let floor = 2.0 / 2f64.powi(runs.min(1000) as i32);
    if floor >= alpha {
        let needed = (1.0 - alpha.log2()).floor() as usize + 1;
        return Err(format!(
            "with --runs {runs} the smallest p-value the test can give is {floor:.3}, not below --alpha {alpha}; \
             use --runs {needed} or more"
        ));
    }
    Ok(())
}

/// The runs of one case so far.
struct CaseRuns<'a> {
    spec: &'a CaseSpec,
    /// The identity all arms must share (arm B's may differ with `--scenario-b`).
    key: Option<String>,
    /// Per-run medians of A, B and N, block by block.
    estimates: [Vec<f64>; 3],
    /// Wall time spent on this case's blocks, to predict the next one's.
    spent: Duration,
}

impl CaseRuns<'_> {
    fn blocks(&self) -> usize {
        self.estimates[0].len()
    }

    /// Runs one more block: A, B and N in the block's rotating order. `measure` runs one arm
    /// of one block and returns the case's identity and median as that arm's binary saw them.
    fn run_block(
        &mut self,
        measure: &mut Measure,
        clock: &dyn Fn() -> Duration,
        b_differs: bool,
    ) -> anyhow::Result<()> {
        let started = clock();
        let block = self.blocks();
        for arm in ORDERS[block % ORDERS.len()] {
            let (k, median) = measure(arm, self.spec, block)?;
            // Each binary numbers cases from its own registry: make sure all arms ran the
            // same case (with --scenario-b only the parameters may differ).
            match &self.key {
                Some(first) if *first != k && !(arm == Arm::B && b_differs) => bail!(
                    "case {} is `{first}` for the old binary but `{k}` for the {} one: the two builds \
                     number cases differently; gate them on a scenario that lists its strategies explicitly",
                    self.spec.id,
                    if arm == Arm::B { "new" } else { "old" }
                ),
                Some(_) => {}
                None if arm != Arm::B || !b_differs => self.key = Some(k),
                None => {}
            }
            let slot = match arm {
                Arm::A => 0,
                Arm::B => 1,
                Arm::N => 2,
            };
            self.estimates[slot].push(median);
        }
        self.spent += clock().saturating_sub(started);
        Ok(())
    }

    /// The case's comparison (new against old) and null control (old against old).
    fn judge(&self, opts: &AbOptions) -> (CaseComparison, CaseComparison) {
        let key = self.key.clone().unwrap_or_else(|| format!("case {}", self.spec.id));
        let make = |current: &[f64]| {
            let evidence = paired_evidence(&self.estimates[0], current);
            let (verdict, more_needed) = decide(&evidence, opts.gate);
            CaseComparison {
                key: key.clone(),
                workload: self.spec.workload.clone(),
                strategy: self.spec.strategy.clone(),
                workers: self.spec.workers,
                effective_size: self.spec.effective_size,
                // Geometric means of the per-run medians, as the ratio is.
                baseline_median_ns: geometric_mean(&self.estimates[0]),
                current_median_ns: geometric_mean(current),
                evidence,
                verdict,
                more_needed,
            }
        };
        (make(&self.estimates[1]), make(&self.estimates[2]))
    }

    /// Whether more blocks could still change the outcome: the case is undecided, or its null
    /// control too wide to judge the threshold.
    fn undecided(&self, opts: &AbOptions) -> bool {
        let (case, null) = self.judge(opts);
        case.verdict.undecided() || !null.quiet(opts.gate)
    }
}

/// One arm of one block of one case: the case's identity and median time.
type Measure<'m> = dyn FnMut(Arm, &CaseSpec, usize) -> anyhow::Result<(String, f64)> + 'm;

/// Runs the interleaved comparison of `old` and `new` on every case of `cases`: `runs` blocks
/// each, then adaptive blocks for the undecided ones within the budget.
pub fn run(
    old: &Path,
    new: &Path,
    scenario: &Path,
    cases: &[CaseSpec],
    opts: &AbOptions,
    progress: impl FnMut(&str),
) -> anyhow::Result<Comparison> {
    let scenario_b = opts.scenario_b.as_deref().unwrap_or(scenario);
    let mut measure = |arm: Arm, spec: &CaseSpec, block: usize| {
        let (binary, file) = match arm {
            Arm::A | Arm::N => (old, scenario),
            Arm::B => (new, scenario_b),
        };
        let dir = opts.work_dir.join(format!("case{}-block{block}-{arm:?}", spec.id));
        one_run(binary, file, spec.id, &dir, opts.run_timeout)
    };
    let started = Instant::now();
    let mut comparison = run_with(cases, opts, &mut measure, &|| started.elapsed(), progress)?;
    comparison.baseline = old.display().to_string();
    comparison.current = new.display().to_string();
    Ok(comparison)
}

/// [`run`]'s schedule and statistics, with the measurement and the clock given (tests give
/// synthetic ones).
fn run_with(
    cases: &[CaseSpec],
    opts: &AbOptions,
    measure: &mut Measure,
    clock: &dyn Fn() -> Duration,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<Comparison> {
    check_runs(opts.runs, opts.gate.alpha).map_err(anyhow::Error::msg)?;
    let b_differs = opts.scenario_b.is_some();
    let mut all: Vec<CaseRuns> = cases
        .iter()
        .map(|spec| CaseRuns { spec, key: None, estimates: Default::default(), spent: Duration::ZERO })
        .collect();
    for case in &mut all {
        for _ in 0..opts.runs {
            case.run_block(measure, clock, b_differs)?;
        }
        let (c, _) = case.judge(opts);
        progress(&format!("case {} ({}): {} blocks, {}", case.spec.id, c.key, opts.runs, c.verdict.label()));
    }
    // Round after round, one more block for each case still undecided, while the next block is
    // predicted (from the case's own blocks so far) to end within the budget.
    let mut added = 0;
    loop {
        let mut ran = false;
        for case in &mut all {
            if case.blocks() >= opts.max_runs || !case.undecided(opts) {
                continue;
            }
            let next = case.spent / case.blocks() as u32;
            if clock() + next > opts.budget {
                continue;
            }
            case.run_block(measure, clock, b_differs)?;
            added += 1;
            ran = true;
        }
        if !ran {
            break;
        }
    }
    let mut compared = Vec::new();
    let mut nulls = Vec::new();
    for case in &all {
        let (c, n) = case.judge(opts);
        if case.blocks() > opts.runs {
            progress(&format!(
                "case {} ({}): {} blocks, {}",
                case.spec.id,
                c.key,
                case.blocks(),
                c.verdict.label()
            ));
        }
        compared.push(c);
        nulls.push(n);
    }
    let adaptive = if opts.max_runs > opts.runs {
        format!(
            ", then one more block at a time for undecided cases up to {} (added {added} within a budget of {})",
            opts.max_runs,
            humantime::format_duration(opts.budget)
        )
    } else {
        String::new()
    };
    Ok(Comparison {
        method: format!(
            "ab: {} interleaved process runs per arm and case{adaptive} (blocks rotating A/B/null orders); \
             ratio = geometric mean of paired per-run median ratios with a t-interval; exact sign-flip test",
            opts.runs
        ),
        options: opts.gate,
        baseline: String::new(),
        current: String::new(),
        cases: compared,
        skipped: Vec::new(),
        broken: Vec::new(),
        null_control: nulls,
    })
}

fn geometric_mean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

/// Runs one case in a fresh process and returns its key and median time.
fn one_run(
    binary: &Path,
    scenario: &Path,
    case: usize,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<(String, f64)> {
    // A results file left from an earlier gate in the same folder must never be read as new.
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Interrupted.into());
    }
    let mut child = die_with_parent(&mut Command::new(binary))
        .arg("run")
        .arg(scenario)
        .args(["--case", &case.to_string(), "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let group = RunGroup(child.id() as i32);
    RUN_GROUP.store(group.0, Ordering::SeqCst);
    // Read stderr while the child runs: a child that says more than the pipe holds (64 KiB)
    // would otherwise block on its write and be killed as a hang.
    let stderr = child.stderr.take().expect("piped");
    let (tx, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(tail(stderr, 4096)));
    // After the group is killed the pipe closes at once; the bound is for a descendant that
    // left the group and kept it open, which must not hang the gate.
    let stderr_of = |said: &std::sync::mpsc::Receiver<String>| {
        said.recv_timeout(Duration::from_secs(2)).unwrap_or_else(|_| "(its stderr was held open)".into())
    };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            drop(group);
            let _ = child.wait();
            return Err(Interrupted.into());
        }
        if started.elapsed() > timeout {
            drop(group);
            let _ = child.wait();
            let said = stderr_of(&said);
            bail!(
                "{} did not finish case {case} within {}; killed with everything it started: {}",
                binary.display(),
                humantime::format_duration(timeout),
                said.trim()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(group);
    // The handler may have killed the run between two looks: its death is the interrupt's.
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Interrupted.into());
    }
    let stderr = stderr_of(&said);
    // 0: all verified; 1: a case failed, which the status below explains.
    if !matches!(status.code(), Some(0) | Some(1)) {
        bail!("{} exited with {status} on case {case}: {}", binary.display(), stderr.trim());
    }
    let path = dir.join("results.json");
    let text = crate::input::read_to_string(&path, crate::input::RESULTS).with_context(|| {
        format!("{} wrote no {} ({status}): {}", binary.display(), path.display(), stderr.trim())
    })?;
    let results: Results =
        serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(c) = results.cases.iter().find(|c| c.id == case) else {
        bail!(
            "{} did not run case {case} (its scenario has {} cases; the builds may expand it differently)",
            binary.display(),
            results.scenario.case_count()
        );
    };
    if c.status != Status::Ok {
        return Err(CaseFailed(format!(
            "case {case} ({}) is {} with {}: {}",
            CaseIdentity::of(c),
            c.status.label(),
            binary.display(),
            c.reason.as_deref().unwrap_or("")
        ))
        .into());
    }
    // A file, even one a parlab wrote: never a panic on its data.
    let Some(median) = c.median_ns() else {
        bail!("{} says case {case} is ok but gives no samples ({})", binary.display(), path.display());
    };
    Ok((CaseIdentity::of(c).to_string(), median))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::compare::Verdict;
    use crate::scenario::Scaling;
    use crate::stats::Rng;

    #[test]
    fn a_run_that_hangs_is_killed_with_everything_it_started() {
        // A background child inherits the run's stderr: before the run had its own process
        // group, killing the run left it holding the pipe, and the gate waited for it.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("hangs");
        let marker = format!("{}", std::process::id() * 7 + 12345);
        std::fs::write(&script, format!("#!/bin/sh\nsleep 600.{marker} &\nsleep 600.{marker}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let started = Instant::now();
        let e = one_run(&script, Path::new("s.toml"), 0, &dir.path().join("out"), Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not finish"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        std::thread::sleep(Duration::from_millis(200));
        let left = std::process::Command::new("pgrep").args(["-f", &format!("sleep 600.{marker}")]).output();
        if let Ok(out) = left {
            assert!(out.stdout.is_empty(), "left behind: {}", String::from_utf8_lossy(&out.stdout));
        }
    }

    #[test]
    fn a_run_that_says_much_on_stderr_is_not_taken_for_a_hang() {
        // More than a pipe holds, then exit 2: read only after exit, the child would block on
        // its write and be killed at the timeout as a hang.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("chatty");
        std::fs::write(
            &script,
            "#!/bin/sh\nhead -c 300000 /dev/zero | tr '\\0' x >&2\necho last words >&2\nexit 2\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = one_run(&script, Path::new("s.toml"), 0, &dir.path().join("out"), Duration::from_secs(20))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exited with") && e.contains("last words"), "{e}");
    }

    #[test]
    fn a_run_of_a_multi_process_case_may_take_each_process_its_timeout() {
        let text = "[scenario]\nname = \"p\"\n[defaults]\ntimeout = \"30s\"\n\
                    [[workload]]\nkind = \"spin\"\nsize = 4\nstrategies = []\n\
                    [[workload]]\nkind = \"spin\"\nsize = 4\nstrategies = []\nprocesses = 10\n";
        let machine = crate::machine::fixture::Synthetic::new(8 << 20, 2 << 30);
        let dir = tempfile::tempdir().unwrap();
        let plan = crate::scenario::parse("p.toml", text, &machine.detect(dir.path()).unwrap()).unwrap();
        // Ten processes, each of which may use its 30 s timeout twice over: killed at 2 min + 60 s,
        // the second workload would be reported as an internal error though nothing failed.
        assert!(run_timeout(&plan) >= Duration::from_secs(10 * 60), "{:?}", run_timeout(&plan));
        let mut one = plan.clone();
        one.workloads.truncate(1);
        assert!(run_timeout(&one) < Duration::from_secs(3 * 60), "{:?}", run_timeout(&one));
    }

    #[test]
    fn too_few_runs_are_refused_with_the_number_needed() {
        assert!(check_runs(8, 0.01).is_ok());
        let e = check_runs(7, 0.01).unwrap_err();
        assert!(e.contains("use --runs 8"), "{e}");
        assert!(check_runs(5, 0.1).is_ok());
        assert!(check_runs(1, 0.5).is_err());
    }

    fn spec(id: usize) -> CaseSpec {
        CaseSpec {
            id,
            workload_index: 0,
            workload: "spin".into(),
            strategy: "threads".into(),
            workers: 2,
            size: 4,
            effective_size: 4,
            scaling: Scaling::Strong,
            seed: 42,
            tunables: Default::default(),
            notes: Vec::new(),
            device: None,
        }
    }

    fn options(max_runs: usize, budget_s: u64) -> AbOptions {
        AbOptions {
            runs: 8,
            max_runs,
            budget: Duration::from_secs(budget_s),
            gate: GateOptions { threshold: 0.05, alpha: 0.01 },
            scenario_b: None,
            work_dir: PathBuf::new(),
            run_timeout: Duration::from_secs(1),
        }
    }

    /// Runs the schedule on synthetic runs: each arm's median is `center * (1 + noise * u)` with
    /// u uniform in [-0.5, 0.5) (B's center is `slowdown` times A's), and each run takes one
    /// second of a fake clock. Returns the comparison and the seconds spent.
    fn gate(cases: usize, slowdown: f64, noise: f64, opts: &AbOptions) -> (Comparison, u64) {
        let specs: Vec<CaseSpec> = (0..cases).map(spec).collect();
        let now = Cell::new(0u64);
        let mut rng = Rng::new(7);
        let mut measure = |arm: Arm, spec: &CaseSpec, _block: usize| {
            now.set(now.get() + 1);
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let center = if arm == Arm::B { 100.0 * slowdown } else { 100.0 };
            Ok((format!("case {}", spec.id), center * (1.0 + noise * u)))
        };
        let clock = || Duration::from_secs(now.get());
        let c = run_with(&specs, opts, &mut measure, &clock, |_| {}).unwrap();
        (c, now.get())
    }

    #[test]
    fn thin_evidence_gets_more_blocks_until_the_case_decides() {
        // A true 12% slowdown in +-15% run-to-run noise: 8 blocks cannot tell it from 5%.
        let (fixed, _) = gate(1, 1.12, 0.3, &options(8, 1000));
        assert_eq!(fixed.cases[0].verdict, Verdict::Inconclusive, "{:?}", fixed.cases[0].evidence);
        assert!(!fixed.null_control[0].quiet(fixed.options), "old against old is too wide at 8 blocks");
        let (adaptive, _) = gate(1, 1.12, 0.3, &options(40, 1000));
        let case = &adaptive.cases[0];
        assert_eq!(case.verdict, Verdict::Regressed, "{:?}", case.evidence);
        assert!(case.evidence.n > 8 && case.evidence.n <= 40, "{}", case.evidence.n);
        assert!(adaptive.null_control[0].quiet(adaptive.options));
        assert!(adaptive.method.contains("up to 40"), "{}", adaptive.method);
    }

    #[test]
    fn decided_cases_get_no_more_blocks() {
        let (c, spent) = gate(2, 1.0, 0.002, &options(40, 1000));
        assert!(c.cases.iter().all(|x| x.verdict == Verdict::Unchanged && x.evidence.n == 8));
        assert_eq!(spent, 2 * 8 * 3);
    }

    #[test]
    fn adaptive_blocks_stop_at_the_budget() {
        // Undecidable (pure noise around the threshold), one second per run, three per block:
        // two cases of 8 blocks take 48 s; a 60 s budget leaves room for 4 more blocks.
        let (c, spent) = gate(2, 1.05, 0.5, &options(40, 60));
        assert!(spent <= 60, "{spent}");
        assert_eq!(spent, 60);
        assert_eq!(c.cases.iter().map(|x| x.evidence.n).sum::<usize>(), 20);
        // Round-robin: the two cases share the extra blocks.
        assert!(
            c.cases.iter().all(|x| x.evidence.n == 10),
            "{:?}",
            c.cases.iter().map(|x| x.evidence.n).collect::<Vec<_>>()
        );
    }
}
