//! The case protocol: a whole case run by a child program that speaks JSON lines on its
//! stdin and stdout.
//!
//! This is how parlab drives code it does not link: the test programs of `fault-injection`
//! builds, and the Python and C recipes. The program prepares its own input from the case's
//! spec, runs its kernel when told to, times itself, and answers; parlab decides how many
//! samples and runs there are and checks every answer's shape before the runner sees it.
//! The full reference, with an example exchange, is `docs/case-protocol.md`.
//!
//! Every message is one JSON object on one line of at most [`MAX_LINE`] bytes, an object with
//! exactly one key naming the message. Unknown keys and fields are refused, so a typo fails
//! loudly instead of being ignored.
//!
//! harness → program ([`ToProgram`]):
//! - `{"start": {"workload", "strategy", "size", "params", "seed", "workers", "protocol": 1}}`,
//!   once, first;
//! - `{"sample": {"index", "runs"}}`, any number of times: run the kernel `runs` times back to
//!   back and time them as one sample (`index` is the sample's number, `null` for warm-up);
//! - `{"verify": {}}`: check the last run's output, then a fresh one from one more run;
//! - end of input: stop (exit 0).
//!
//! program → harness ([`FromProgram`]), one answer per request, in order:
//! - `{"ready": {"setup_ns", "placement": [...], "host": {...}, "hosts": [...], "isa"}}` after
//!   `start` (`hosts` and `isa` optional);
//! - `{"sample": {"ns", "phases": [["kernel", ns], ...], "items_ns": [...], "rank_mean_ns"}}`
//!   after each `sample` (`rank_mean_ns` optional);
//! - `{"verification": {"passed", "detail"}}` after `verify`;
//! - `{"error": "why"}` instead of any answer: the case fails with that text.
//!
//! The parent side ([`start`]) starts the program in a process group of its own, with the run's
//! and the case's markers in its environment (so anything it leaves behind is found), killed if
//! parlab dies. It never waits without a bound: each answer is awaited with `poll(2)` in short
//! steps that watch the case's cancellation flag, and reading stops at a line longer than
//! [`MAX_LINE`]. A program that exits, says something malformed or answers out of turn fails the
//! case with its exit status and the tail of its stderr. Dropping the session closes the
//! program's stdin, gives it a moment to exit (and, where [`Waits::term`] asks, a SIGTERM and
//! another moment), then kills its whole group and reaps it.

use std::borrow::Cow;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{BackendError, CaseJob, Sample, Session};
use crate::results::{Host, Placement};
use crate::workload::{Params, Verification};

/// The protocol version this build speaks; `start` carries it and a program refuses others.
pub const VERSION: u32 = 1;
/// The longest line either side may send, newline included.
pub const MAX_LINE: usize = 1 << 20;
/// The most phases one sample may name.
pub const MAX_PHASES: usize = 64;
/// The longest phase name, in bytes.
pub const MAX_PHASE_NAME: usize = 64;
/// The most item latencies one sample may carry; a program with more items reports an evenly
/// spaced subset of them (it keeps the distribution's shape, and the line within [`MAX_LINE`]).
pub const MAX_ITEMS: usize = 8192;
/// How much of the program's stderr is kept for error messages (the end of it).
pub const STDERR_TAIL: usize = 4096;

/// A request from the harness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ToProgram {
    Start(Start),
    Sample(SampleRequest),
    Verify(Verify),
}

/// What a program needs to prepare the case's input: the same as parlab prepares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    pub workload: String,
    /// The case's strategy: which version of the workload to run, where it has several (the
    /// MPI ones).
    pub strategy: String,
    /// The size measured (already scaled for weak scaling).
    pub size: u64,
    pub params: Params,
    pub seed: u64,
    pub workers: usize,
    pub protocol: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleRequest {
    /// The sample's number; `None` (`null`) for warm-up runs.
    pub index: Option<u64>,
    pub runs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {}

/// An answer from the program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FromProgram {
    Ready(Ready),
    Sample(SampleReply),
    Verification(VerificationReply),
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// Nanoseconds the program spent preparing (input, pools), by its own clock.
    pub setup_ns: u64,
    pub placement: Vec<WirePlacement>,
    /// The host the program runs on (an MPI job: rank 0's).
    pub host: WireHost,
    /// The instruction set the kernel runs with (`"avx2"`), where it has a choice. Optional, so
    /// that programs written before it was added still speak the protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<String>,
    /// A program spanning hosts (MPI ranks): every host it ran on, `host` among them. Optional,
    /// so programs that describe one host still speak the protocol unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<WireHost>,
}

/// [`Placement`] as the protocol spells it (unknown fields refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePlacement {
    pub role: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
}

/// [`Host`] as the protocol spells it (unknown fields refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireHost {
    pub hostname: String,
    pub cpu: String,
    pub logical_cpus: usize,
    pub physical_cores: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleReply {
    pub ns: u64,
    pub phases: Vec<(String, u64)>,
    pub items_ns: Vec<f64>,
    /// A program on several ranks whose `ns` is the slowest rank's: the mean over ranks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_mean_ns: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationReply {
    pub passed: bool,
    pub detail: String,
}

/// Parses one line (without its newline) from a program and checks its shape.
pub fn parse_answer(line: &[u8]) -> Result<FromProgram, String> {
    let said: FromProgram = parse(line)?;
    match &said {
        FromProgram::Ready(r) => check_ready(r)?,
        FromProgram::Sample(s) => check_sample(s)?,
        FromProgram::Verification(_) | FromProgram::Error(_) => {}
    }
    Ok(said)
}

/// Parses one line (without its newline) from the harness.
pub fn parse_request(line: &[u8]) -> Result<ToProgram, String> {
    parse(line)
}

fn parse<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, String> {
    if line.len() >= MAX_LINE {
        return Err(format!("a line of {} bytes, more than the {MAX_LINE} allowed", line.len()));
    }
    let text = std::str::from_utf8(line).map_err(|e| format!("a line that is not UTF-8 ({e})"))?;
    serde_json::from_str(text).map_err(|e| format!("{e}, in `{}`", shorten(text)))
}

fn check_ready(r: &Ready) -> Result<(), String> {
    if r.placement.len() > crate::limits::MAX_WORKERS {
        return Err(format!(
            "`ready` places {} workers, more than {}",
            r.placement.len(),
            crate::limits::MAX_WORKERS
        ));
    }
    if r.hosts.len() > crate::limits::MAX_WORKERS {
        return Err(format!(
            "`ready` lists {} hosts, more than {}",
            r.hosts.len(),
            crate::limits::MAX_WORKERS
        ));
    }
    for h in std::iter::once(&r.host).chain(&r.hosts) {
        if h.hostname.is_empty() || h.logical_cpus == 0 || h.physical_cores == 0 {
            return Err(format!("`ready` describes a host as {h:?}: a name and at least one CPU are needed"));
        }
    }
    if let Some(p) = r.placement.iter().find(|p| p.role.is_empty() || p.host.is_empty()) {
        return Err(format!("`ready` has a placement without a role or host: {p:?}"));
    }
    if let Some(isa) = &r.isa {
        if !is_name(isa) {
            return Err(format!(
                "`ready` names the instruction set `{}`: 1 to {MAX_PHASE_NAME} letters, digits, `_` or `-`",
                shorten(isa)
            ));
        }
    }
    Ok(())
}

fn check_sample(s: &SampleReply) -> Result<(), String> {
    if s.phases.len() > MAX_PHASES {
        return Err(format!("a sample with {} phases, more than {MAX_PHASES}", s.phases.len()));
    }
    for (name, _) in &s.phases {
        if !is_name(name) {
            return Err(format!(
                "phase name `{}`: phases are named by 1 to {MAX_PHASE_NAME} letters, digits, `_` or `-`",
                shorten(name)
            ));
        }
    }
    // Refused at once rather than after the whole sampling time (the runner would refuse them
    // too, once every sample is in): phases are disjoint parts of the sample, so they cannot
    // add up to more than it, beyond a nanosecond of rounding each.
    let sum = s.phases.iter().fold(0u64, |acc, (_, ns)| acc.saturating_add(*ns));
    if sum > s.ns.saturating_add(s.phases.len() as u64) {
        return Err(format!("a sample of {} ns whose phases add up to {sum} ns", s.ns));
    }
    if s.items_ns.len() > MAX_ITEMS {
        return Err(format!(
            "a sample with {} item latencies, more than {MAX_ITEMS} (send an evenly spaced subset)",
            s.items_ns.len()
        ));
    }
    if let Some(bad) = s.items_ns.iter().find(|x| !x.is_finite() || **x < 0.0) {
        return Err(format!("an item latency of {bad} ns"));
    }
    // A mean over ranks is at most their maximum, beyond a nanosecond of rounding.
    if let Some(mean) = s.rank_mean_ns.filter(|&m| m > s.ns.saturating_add(1)) {
        return Err(format!("a sample of {} ns whose mean over ranks is {mean} ns", s.ns));
    }
    Ok(())
}

/// Whether `name` is fit to name a phase or an instruction set in the results: 1 to
/// [`MAX_PHASE_NAME`] letters, digits, `_` or `-`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PHASE_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn shorten(text: &str) -> Cow<'_, str> {
    const SHOW: usize = 200;
    if text.len() <= SHOW {
        return Cow::Borrowed(text);
    }
    let mut end = SHOW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
}

/// Writes one message as a line and flushes it.
pub fn write_message(out: &mut dyn Write, message: &impl Serialize) -> io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(io::Error::other)?;
    if line.len() >= MAX_LINE {
        return Err(io::Error::other(format!("a message of {} bytes, more than {MAX_LINE}", line.len())));
    }
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Reads one line (without its newline) of at most [`MAX_LINE`] bytes from a blocking reader:
/// `Ok(None)` at the end of input. For programs' side of the protocol.
pub fn read_line(input: &mut dyn BufRead) -> Result<Option<Vec<u8>>, String> {
    let mut line = Vec::new();
    let n =
        input.take(MAX_LINE as u64).read_until(b'\n', &mut line).map_err(|e| format!("cannot read: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        if line.len() >= MAX_LINE {
            return Err(format!("a line longer than {MAX_LINE} bytes"));
        }
        return Err("input ended in the middle of a line".into());
    }
    line.pop();
    Ok(Some(line))
}

/// How long the parent waits for each answer. The case's own timeout is enforced by the runner
/// through the cancellation flag; these are the backstops for a program that hangs regardless.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// From spawning to `ready` (process start and preparing the input).
    pub ready: Duration,
    /// For each sample's or verification's answer.
    pub answer: Duration,
    /// After closing stdin on drop, before the group is killed.
    pub exit: Duration,
    /// Then, if it is still running, after a SIGTERM to the group, before SIGKILL: zero for
    /// none. For programs that end their own children on SIGTERM where those run outside the
    /// group (mpirun its ranks), which a SIGKILL to the group would leave behind.
    pub term: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            ready: Duration::from_secs(120),
            answer: Duration::from_secs(3600),
            exit: Duration::from_secs(1),
            term: Duration::ZERO,
        }
    }
}

/// How often a wait looks at the cancellation flag.
const POLL: Duration = Duration::from_millis(20);

/// Starts `command` as the case's program and waits for its `ready`. `what` names it in
/// errors (e.g. "`python3 pi.py`").
pub fn start(
    mut command: Command,
    what: impl Into<String>,
    job: &CaseJob<'_>,
    waits: Waits,
) -> Result<ProtocolSession, BackendError> {
    let what = what.into();
    let started = Instant::now();
    command
        .env(job.marker.0, &job.marker.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the terminal's Ctrl-C reaches only parlab, and killing the group on drop
        // ends whatever the program started along with it.
        .process_group(0);
    if let Ok(run) = std::env::var(crate::marker::ENV) {
        command.env(crate::marker::ENV, run);
    }
    crate::subprocess::die_with_parent(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| BackendError::Setup { what: what.clone(), why: format!("cannot start it: {e}") })?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut session = ProtocolSession {
        pid: child.id() as i32,
        child,
        stdin: Some(stdin),
        stdout,
        stderr: Some(stderr),
        buf: Vec::new(),
        said: Vec::new(),
        what,
        cancel: job.config.cancel.clone(),
        waits,
        setup_ns: 0,
        program_setup_ns: 0,
        placement: Vec::new(),
        isa: None,
        hosts: Vec::new(),
        in_step: false,
    };
    let stdin_fd = session.stdin.as_ref().expect("just set").as_raw_fd();
    for fd in [stdin_fd, session.stdout.as_raw_fd(), session.stderr.as_ref().expect("just set").as_raw_fd()] {
        set_nonblocking(fd).map_err(|e| BackendError::Setup {
            what: session.what.clone(),
            why: format!("cannot make its pipes non-blocking: {e}"),
        })?;
    }
    let spec = job.spec;
    let request = ToProgram::Start(Start {
        workload: spec.workload.clone(),
        strategy: job.strategy.name().to_string(),
        size: spec.effective_size,
        params: job.params.clone(),
        seed: job.seed,
        workers: spec.workers,
        protocol: VERSION,
    });
    let ready = match session.ask(&request, waits.ready)? {
        FromProgram::Ready(r) => r,
        other => return Err(session.out_of_turn("ready", &other)),
    };
    session.setup_ns = started.elapsed().as_nanos() as u64;
    session.program_setup_ns = ready.setup_ns;
    session.isa = ready.isa;
    session.placement = ready
        .placement
        .into_iter()
        .map(|p| Placement { role: p.role, host: p.host, pid: p.pid, cpus: p.cpus })
        .collect();
    session.hosts = Vec::new();
    for h in std::iter::once(ready.host).chain(ready.hosts) {
        if !session.hosts.iter().any(|known| known.hostname == h.hostname) {
            session.hosts.push(Host {
                hostname: h.hostname,
                cpu: h.cpu,
                logical_cpus: h.logical_cpus,
                physical_cores: h.physical_cores,
            });
        }
    }
    Ok(session)
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a file descriptor this process owns (a pipe end held by the session).
    let ok = unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
    if ok < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A case running in a program that speaks the protocol.
pub struct ProtocolSession {
    child: Child,
    /// Its process group (the program's pid, made a group leader at spawn).
    pid: i32,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// `None` once the program closed it.
    stderr: Option<ChildStderr>,
    /// What has arrived on stdout beyond the last complete line.
    buf: Vec<u8>,
    /// The end of its stderr, at most [`STDERR_TAIL`] bytes (a little more while reading).
    said: Vec<u8>,
    what: String,
    cancel: Arc<AtomicBool>,
    waits: Waits,
    setup_ns: u64,
    program_setup_ns: u64,
    placement: Vec<Placement>,
    /// The instruction set its `ready` named.
    isa: Option<String>,
    /// The hosts `ready` described, the program's own first; empty before `ready`.
    hosts: Vec<Host>,
    /// A request was sent and its answer not read: on drop there is no point waiting for a
    /// program that is busy or broken.
    in_step: bool,
}

impl ProtocolSession {
    /// The host the program says it runs on.
    pub fn host(&self) -> Option<&Host> {
        self.hosts.first()
    }

    /// What the program itself said its preparation took (its `ready`'s `setup_ns`), a part of
    /// [`Session::setup_ns`], which the harness measured from spawning to `ready`.
    pub fn program_setup_ns(&self) -> u64 {
        self.program_setup_ns
    }

    /// The program's pid (its process group too).
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Sends a request and reads its answer, waiting at most `wait`.
    fn ask(&mut self, request: &ToProgram, wait: Duration) -> Result<FromProgram, BackendError> {
        self.in_step = true;
        let mut line = serde_json::to_vec(request).expect("requests serialize");
        line.push(b'\n');
        self.write_request(&line, wait)?;
        let line = self.read_line(wait)?;
        let said = parse_answer(&line).map_err(|e| BackendError::Protocol(format!("{}: {e}", self.what)))?;
        if let FromProgram::Error(why) = said {
            let why = why.trim().to_string();
            return Err(BackendError::Failed(format!("{} reported an error: {why}", self.what)));
        }
        self.in_step = false;
        Ok(said)
    }

    /// Writes one request to the program's stdin, which is non-blocking: a program that stops
    /// reading fills the pipe, and the wait for room watches the cancellation flag and `wait`
    /// as reading does, so a full pipe can never hang the case.
    fn write_request(&mut self, line: &[u8], wait: Duration) -> Result<(), BackendError> {
        let deadline = Instant::now() + wait;
        let mut sent = 0;
        while sent < line.len() {
            let stdin = self.stdin.as_mut().expect("stdin is open until drop");
            match crate::subprocess::without_sigpipe(|| stdin.write(&line[sent..])) {
                Ok(0) => return Err(self.failed("could not be sent a request (its stdin is closed)")),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.cancel.load(Ordering::Relaxed) {
                        return Err(BackendError::Cancelled);
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(self.failed(&format!(
                            "did not read its requests within {}",
                            humantime::format_duration(Duration::from_millis(wait.as_millis() as u64))
                        )));
                    }
                    let step = POLL.min(deadline - now);
                    let mut fd = libc::pollfd { fd: stdin.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                    // SAFETY: one valid pollfd for the whole call; an error or EINTR just loops.
                    unsafe { libc::poll(&mut fd, 1, step.as_millis().max(1) as i32) };
                    // Its stderr may say why it stopped reading; keep the pipe from filling.
                    self.drain_stderr();
                }
                Err(e) => return Err(self.failed(&format!("could not be sent a request ({e})"))),
            }
        }
        Ok(())
    }

    /// Reads the next complete line from stdout, collecting stderr meanwhile.
    fn read_line(&mut self, wait: Duration) -> Result<Vec<u8>, BackendError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                return Ok(line);
            }
            if self.buf.len() >= MAX_LINE {
                return Err(BackendError::Protocol(format!(
                    "{} sent a line longer than {MAX_LINE} bytes",
                    self.what
                )));
            }
            if self.cancel.load(Ordering::Relaxed) {
                return Err(BackendError::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.failed(&format!(
                    "did not answer within {}",
                    humantime::format_duration(Duration::from_millis(wait.as_millis() as u64))
                )));
            }
            let step = POLL.min(deadline - now);
            let stderr_fd = self.stderr.as_ref().map_or(-1, |e| e.as_raw_fd());
            let mut fds = [
                libc::pollfd { fd: self.stdout.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                // A negative fd is skipped by poll(2).
                libc::pollfd { fd: stderr_fd, events: libc::POLLIN, revents: 0 },
            ];
            // SAFETY: `fds` is a valid array of two pollfd structs for the whole call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, step.as_millis().max(1) as i32) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(self.failed(&format!("could not be waited for ({e})")));
            }
            if fds[1].revents != 0 {
                self.drain_stderr();
            }
            if fds[0].revents != 0 {
                let room = MAX_LINE - self.buf.len();
                let mut chunk = vec![0u8; room.min(64 << 10)];
                match self.stdout.read(&mut chunk) {
                    Ok(0) => return Err(self.failed("ended without answering")),
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                    Err(e) => return Err(self.failed(&format!("could not be read from ({e})"))),
                }
            }
        }
    }

    /// Reads whatever stderr has now, keeping its end.
    fn drain_stderr(&mut self) {
        let Some(stderr) = self.stderr.as_mut() else { return };
        let mut chunk = [0u8; 8192];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) => {
                    self.stderr = None;
                    return;
                }
                Ok(n) => {
                    self.said.extend_from_slice(&chunk[..n]);
                    if self.said.len() > 2 * STDERR_TAIL {
                        self.said.drain(..self.said.len() - STDERR_TAIL);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return, // WouldBlock: nothing more for now
            }
        }
    }

    /// The error for a program that failed: `why`, its exit status if it has ended (given a
    /// moment to), and the end of its stderr.
    fn failed(&mut self, why: &str) -> BackendError {
        let deadline = Instant::now() + Duration::from_millis(500);
        let status = loop {
            match self.peek_exit() {
                Some(s) => break Some(s),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                None => break None,
            }
        };
        self.drain_stderr();
        let start = self.said.len().saturating_sub(STDERR_TAIL);
        let said = String::from_utf8_lossy(&self.said[start..]).trim().to_string();
        let mut text = format!("{} {why}", self.what);
        if let Some(s) = status {
            text.push_str(&format!(" ({})", crate::subprocess::describe_exit(s)));
        }
        if !said.is_empty() {
            text.push_str(&format!("; it said: {said}"));
        }
        BackendError::Failed(text)
    }

    fn out_of_turn(&self, expected: &str, got: &FromProgram) -> BackendError {
        let got = match got {
            FromProgram::Ready(_) => "ready",
            FromProgram::Sample(_) => "sample",
            FromProgram::Verification(_) => "verification",
            FromProgram::Error(_) => "error",
        };
        BackendError::Protocol(format!("{} answered `{got}` where `{expected}` was due", self.what))
    }

    /// How the program (the group's leader) ended, if it has, without reaping it: the group is
    /// killed on drop, which is safe only while its id cannot be reused.
    fn peek_exit(&self) -> Option<std::process::ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        // SAFETY: waitid on our own child with a zeroed, writable siginfo; WNOWAIT leaves it
        // unreaped, and `si_status` is read only for the child-state codes that set it.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            if r != 0 || info.si_pid() == 0 {
                return None;
            }
            // Back to the wait(2) status word that `ExitStatus` wraps.
            let raw = match info.si_code {
                libc::CLD_EXITED => (info.si_status() & 0xff) << 8,
                libc::CLD_DUMPED => info.si_status() | 0x80,
                _ => info.si_status() & 0x7f,
            };
            Some(std::process::ExitStatus::from_raw(raw))
        }
    }
}

impl Session for ProtocolSession {
    fn setup_ns(&self) -> u64 {
        self.setup_ns
    }

    fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError> {
        let index = (index != usize::MAX).then_some(index as u64);
        let request = ToProgram::Sample(SampleRequest { index, runs });
        let reply = match self.ask(&request, self.waits.answer)? {
            FromProgram::Sample(s) => s,
            other => return Err(self.out_of_turn("sample", &other)),
        };
        if runs > 0 && reply.ns == 0 {
            return Err(BackendError::Protocol(format!("{} timed {runs} runs as 0 ns", self.what)));
        }
        Ok(Sample {
            ns: reply.ns,
            phases: reply.phases.into_iter().map(|(name, ns)| (Cow::Owned(name), ns)).collect(),
            items_ns: reply.items_ns,
            rank_mean_ns: reply.rank_mean_ns,
        })
    }

    fn verify(&mut self) -> Result<Verification, BackendError> {
        match self.ask(&ToProgram::Verify(Verify {}), self.waits.answer)? {
            FromProgram::Verification(v) => Ok(Verification { passed: v.passed, detail: v.detail }),
            other => Err(self.out_of_turn("verification", &other)),
        }
    }

    fn isa(&self) -> Option<&str> {
        self.isa.as_deref()
    }

    fn hosts(&self) -> Vec<Host> {
        self.hosts.clone()
    }

    fn placement(&self) -> Vec<Placement> {
        self.placement.clone()
    }
}

impl Drop for ProtocolSession {
    fn drop(&mut self) {
        // End of input is the request to stop; a program between requests exits on it.
        drop(self.stdin.take());
        let deadline = Instant::now() + if self.in_step { Duration::ZERO } else { self.waits.exit };
        while self.peek_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.peek_exit().is_none() && !self.waits.term.is_zero() {
            // SAFETY: a plain syscall on the group made at spawn, whose leader is not yet reaped.
            unsafe {
                libc::killpg(self.pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + self.waits.term;
            while self.peek_exit().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // The whole group, whether or not the program exited: whatever it started in its group
        // goes with it. (What escaped the group is the runner's to find, by the case marker.)
        // SAFETY: a plain syscall on the group made at spawn, whose leader is not yet reaped.
        unsafe {
            libc::killpg(self.pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        // SIGKILL is delivered, not yet acted on: wait (briefly) until the members are dead, so
        // the runner's scan for the case's marker, which comes next, does not take a process
        // that is already dying for one left behind.
        let deadline = Instant::now() + Duration::from_secs(1);
        while group_alive(self.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Whether any live (not zombie) process is in process group `pgid`.
fn group_alive(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return false };
    dir.filter_map(|e| {
        let e = e.ok()?;
        e.file_name().to_str()?.parse::<u32>().ok()?;
        std::fs::read_to_string(e.path().join("stat")).ok()
    })
    .any(|stat| {
        // `pid (comm) state ppid pgrp ...`; comm may hold anything, so read after its `)`.
        let mut fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
    })
}

#[cfg(test)]
mod tests;
