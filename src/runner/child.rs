//! Cases in child processes: `--isolate process` and `--processes N`.
//!
//! The parent sends a child (parlab's own binary, hidden subcommand [`SUBCOMMAND`]) the whole
//! plan and one case id as JSON on its stdin; the child measures that case with the ordinary
//! in-process runner and streams its events back as JSON lines, the last one its result
//! ([`serve`]). The parent relays the events to its listeners ([`measure`]), so progress looks
//! the same either way, and it is the one that enforces limits: the child runs in a process
//! group of its own, and silence past the case's timeout, Ctrl-C, or the end of the case all
//! end with that whole group killed, so nothing the case started can outlive it (hyperfine
//! runs each command as its own process for the same reason).
//!
//! Each child may also be given an alignment offset and an environment of varying size (what
//! is fixed at process start, and differs between processes: see [`align_offset`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, RecvTimeoutError};
use serde::{Deserialize, Serialize};

use super::{Listener, RunOptions};
use crate::machine::Machine;
use crate::results::{CaseResult, Status};
use crate::scenario::{CaseSpec, Plan};
use crate::subprocess::{describe_exit, tail};

/// The hidden subcommand a child is started with.
pub const SUBCOMMAND: &str = "case-child";

/// Set in every child's environment to the parent's pid: a child started by hand refuses.
const PARENT_ENV: &str = "PARLAB_CASE_PARENT";

/// What the parent asks of a child, on its stdin.
#[derive(Serialize, Deserialize)]
pub struct Request {
    pub plan: Plan,
    pub case: usize,
    /// Bytes by which input buffers are shifted from their natural alignment.
    pub align_offset: usize,
    pub grace_ms: u64,
    /// Which of the case's processes this is (from 0), for the case's marker.
    #[serde(default)]
    pub round: usize,
}

/// What a child says, one JSON line each, on its stdout.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Said {
    WarmedUp(u64),
    Batched(u64),
    Sample { n: usize, max: usize, ns: f64 },
    Verifying,
    Result(Box<CaseResult>),
}

/// The byte offset of the input buffers in the `round`-th process of a case: cache-line and
/// sub-line offsets spread over a page, so that alignment-dependent speed shows up as spread
/// between processes instead of a bias shared by every process.
pub fn align_offset(round: usize) -> usize {
    // Round 0 keeps the natural alignment; the others walk a page in 8-byte steps by a stride
    // coprime to 512, so the offsets do not repeat within 512 processes.
    (round * 197 % 512) * 8
}

/// The child's side: reads a [`Request`], measures the case, writes the events and result.
pub fn serve(input: &mut dyn Read, output: &mut dyn Write) -> Result<(), String> {
    tie_to_parent()?;
    let mut text = String::new();
    input.read_to_string(&mut text).map_err(|e| format!("cannot read the request: {e}"))?;
    let request: Request = serde_json::from_str(&text).map_err(|e| format!("a malformed request: {e}"))?;
    crate::align::set_offset(request.align_offset);
    let machine = Machine::detect();
    // Its parent checked the plan, but this side cannot tell who wrote its stdin: held to the
    // same limits before anything runs (the caps are what keep one case from aborting). Only
    // its own case's workload and size: memory is checked against what is available now, and
    // another workload's largest size must not fail this small case.
    let cases = request.plan.cases();
    let spec = cases
        .get(request.case)
        .ok_or_else(|| format!("the plan sent has no case {} (it has {})", request.case, cases.len()))?;
    let mut own = request.plan.clone();
    own.workloads = vec![request.plan.workloads[spec.workload_index].clone()];
    own.workloads[0].sizes = vec![spec.size];
    own.check_limits(&machine).map_err(|e| format!("the plan sent is not one parlab can run: {e}"))?;
    let options = RunOptions {
        only: Some(vec![request.case]),
        grace: Duration::from_millis(request.grace_ms),
        round: request.round,
        ..RunOptions::default()
    };
    let mut events = Events { out: output, failed: None };
    let results = super::run(&request.plan, &machine, &mut events, &options);
    if let Some(e) = events.failed {
        return Err(format!("cannot write to the parent: {e}"));
    }
    let Some(result) = results.cases.into_iter().next() else {
        return Err(format!("the plan has no case {}", request.case));
    };
    write_line(events.out, &Said::Result(Box::new(result)))
        .map_err(|e| format!("cannot write to the parent: {e}"))
}

fn tie_to_parent() -> Result<(), String> {
    // SAFETY: plain libc calls with constant arguments.
    unsafe {
        // Ctrl-C is the parent's to handle; it ends the child by killing its group.
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let Ok(parent) = std::env::var(PARENT_ENV) else {
        return Err(format!("`{SUBCOMMAND}` is parlab's own: `--isolate process` starts it"));
    };
    // If the parent died before the request above took effect, no signal will come: leave.
    // SAFETY: getppid cannot fail.
    if parent != unsafe { libc::getppid() }.to_string() {
        return Err("parlab, which started this process, is gone".into());
    }
    Ok(())
}

struct Events<'a> {
    out: &'a mut dyn Write,
    failed: Option<std::io::Error>,
}

impl Events<'_> {
    fn say(&mut self, said: Said) {
        if self.failed.is_none() {
            if let Err(e) = write_line(self.out, &said) {
                self.failed = Some(e);
            }
        }
    }
}

fn write_line(out: &mut dyn Write, said: &Said) -> std::io::Result<()> {
    let line = serde_json::to_string(said).map_err(std::io::Error::other)?;
    writeln!(out, "{line}")?;
    out.flush()
}

impl Listener for Events<'_> {
    fn warmed_up(&mut self, _: &CaseSpec, runs: u64) {
        self.say(Said::WarmedUp(runs));
    }
    fn batched(&mut self, _: &CaseSpec, runs: u64) {
        self.say(Said::Batched(runs));
    }
    fn sample(&mut self, _: &CaseSpec, n: usize, max: usize, ns: f64) {
        self.say(Said::Sample { n, max, ns });
    }
    fn verifying(&mut self, _: &CaseSpec) {
        self.say(Said::Verifying);
    }
}

/// Silence from a child beyond the case's timeout and grace allows this much more (process
/// start, machine detection and preparing the input, which emit nothing) before the child is
/// taken for hung.
const SLACK: Duration = Duration::from_secs(10);

/// The parent's side: measures `spec` in a child process of `exe` and relays its events.
pub fn measure(
    plan: &Plan,
    spec: &CaseSpec,
    exe: &Path,
    round: usize,
    align_offset: usize,
    options: &RunOptions,
    listener: &mut dyn Listener,
) -> CaseResult {
    let wp = &plan.workloads[spec.workload_index];
    let fail = |status, reason: String| CaseResult::unmeasured(spec, &wp.params, status, reason);
    let request = Request {
        plan: plan.clone(),
        case: spec.id,
        align_offset,
        grace_ms: options.grace.as_millis() as u64,
        round,
    };
    let started = Instant::now();
    let mut child = match spawn(exe, align_offset) {
        Ok(c) => c,
        Err(e) => return fail(Status::Error, format!("could not start a process for the case: {e}")),
    };
    let pgid = child.id() as i32;
    let reaper = Reaper { pgid };
    let sent = serde_json::to_vec(&request)
        .map_err(std::io::Error::other)
        .and_then(|bytes| child.stdin.take().expect("piped").write_all(&bytes));
    if let Err(e) = sent {
        drop(reaper);
        let _ = child.wait();
        return fail(Status::Error, format!("could not send the case to its process: {e}"));
    }
    let (tx, rx) = channel::unbounded();
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let said = serde_json::from_str::<Said>(&line).map_err(|e| format!("{e}: {line}"));
            if tx.send(said).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || tail(stderr, 2048));
    let settings = &wp.settings;
    let silence = settings.timeout + options.grace + SLACK;
    let mut deadline = Instant::now() + silence;
    let outcome: Result<CaseResult, (Status, String)> = loop {
        match rx.recv_timeout(super::POLL) {
            Ok(Ok(said)) => {
                deadline = Instant::now() + silence;
                match said {
                    Said::WarmedUp(runs) => listener.warmed_up(spec, runs),
                    Said::Batched(runs) => listener.batched(spec, runs),
                    Said::Sample { n, max, ns } => listener.sample(spec, n, max, ns),
                    Said::Verifying => listener.verifying(spec),
                    Said::Result(r) => break Ok(*r),
                }
            }
            Ok(Err(e)) => {
                break Err((Status::Error, format!("the case's process said something unreadable: {e}")))
            }
            Err(RecvTimeoutError::Disconnected) => {
                break Err((Status::Error, String::new())); // the reason comes from its exit status
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if options.interrupt.load(Ordering::SeqCst) {
            break Err((Status::Interrupted, "interrupted by Ctrl-C".into()));
        }
        if Instant::now() > deadline {
            break Err((
                Status::TimedOut,
                format!(
                    "its process said nothing for {} (the case timeout of {} plus start-up): killed with \
                     everything it started",
                    humantime::format_duration(silence),
                    humantime::format_duration(settings.timeout)
                ),
            ));
        }
    };
    // A child that delivered its result ends by itself; give it the grace period, then end
    // its whole group either way, so no worker or grandchild survives the case.
    let grace_end = Instant::now() + options.grace;
    let mut status = None;
    while outcome.is_ok() && Instant::now() < grace_end {
        match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(s);
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break,
        }
    }
    drop(reaper);
    let status = status.or_else(|| child.wait().ok());
    let _ = reader.join();
    let stderr = errors.join().unwrap_or_default();
    let mut result = match outcome {
        Ok(r) => r,
        Err((Status::Error, reason)) if reason.is_empty() => {
            let how = status.map_or("an unknown status".to_string(), describe_exit);
            let said = stderr.trim();
            let said = if said.is_empty() { String::new() } else { format!("; it said: {said}") };
            fail(Status::Error, format!("the case's process ended without a result ({how}){said}"))
        }
        Err((status, reason)) => fail(status, reason),
    };
    result.wall_time_s = started.elapsed().as_secs_f64();
    result
}

fn spawn(exe: &Path, align_offset: usize) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .env(PARENT_ENV, std::process::id().to_string())
        // The environment's size shifts the initial stack; varying it with the offset keeps
        // that from biasing every process alike (hyperfine's randomized environment offset).
        .env("PARLAB_ENV_OFFSET", "x".repeat(align_offset % 4096))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: the terminal's Ctrl-C reaches only the parent, and killing the
        // group ends whatever the case started (worker processes, their children).
        .process_group(0);
    cmd.spawn()
}

/// Kills a child's whole process group when dropped.
struct Reaper {
    pgid: i32,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // SAFETY: a plain syscall; the group is the child's own, made at spawn.
        unsafe {
            libc::killpg(self.pgid, libc::SIGKILL);
        }
    }
}
