//! The parent's side of a process pool: start worker processes, feed them tasks, watch them, and
//! kill and reap them when done.
//!
//! The parent waits on every worker's stdout at once with `poll(2)`, reads whatever has arrived
//! without blocking, and parses whole frames; each wait is bounded (`POLL`), and between waits it
//! checks the case's cancellation flag and whether any worker has exited. So a worker that dies
//! is noticed at once (its pipe closes) or within one poll period (its status changes), a worker
//! that hangs is given up on when the case times out, and nothing waits forever. Each worker has
//! at most `DEPTH` tasks in flight, so the next task is already queued when one finishes and the
//! small messages the parent writes always fit in the pipe's buffer (its writes never block).
//! The one exception is [`Pool::exchange`] under `process`, whose message may be larger than
//! the pipe: that write blocks until the worker has read it, or fails at once if it has died.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PARENT_ENV;
use crate::remote::wire::{self, FromWorker, JobSpec, ToWorker, LEN_BYTES, PROTOCOL};
use crate::remote::{OnReply, Split};

/// Longest single wait before the flags and the workers' statuses are checked again.
const POLL: Duration = Duration::from_millis(20);
/// Tasks queued per worker: one running, one waiting, so a worker never idles on a round trip.
const DEPTH: usize = 2;
/// How long worker processes get to start and say hello.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a worker whose pipe closed gets to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Why a pool could not do what it was asked. Every variant says which worker and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    #[error("could not start worker process `{exe}`: {why}")]
    Spawn { exe: String, why: String },
    #[error("worker process {worker} of {of} (pid {pid}) died {during} ({status})")]
    Died { worker: usize, of: usize, pid: u32, during: &'static str, status: String },
    #[error("worker process {worker} of {of} (pid {pid}) failed {during}: {message}")]
    Failed { worker: usize, of: usize, pid: u32, during: &'static str, message: String },
    #[error("worker process {worker} of {of} (pid {pid}) broke the protocol: {what}")]
    Protocol { worker: usize, of: usize, pid: u32, what: String },
    #[error("worker processes did not answer {during} within {secs} s")]
    Timeout { during: &'static str, secs: u64 },
    #[error("the case was cancelled")]
    Cancelled,
    #[error("talking to worker processes failed: {0}")]
    Io(String),
    #[error("the pool was stopped by an earlier failure: {0}")]
    Broken(Box<PoolError>),
}

/// A warm pool of worker processes.
pub struct Pool {
    shared: bool,
    chunk: Option<usize>,
    workers: usize,
    cancel: Arc<AtomicBool>,
    startup: Duration,
    inner: Mutex<Inner>,
}

struct Inner {
    procs: Vec<Proc>,
    /// The job every worker has prepared.
    job: Option<JobSpec>,
    /// Set by the first failure: the workers are gone, and every later call reports it.
    broken: Option<PoolError>,
    scratch: Vec<u8>,
}

struct Proc {
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Bytes received and not yet parsed.
    buf: Vec<u8>,
}

impl Pool {
    /// Starts `workers` processes of `exe` (parlab itself, `parlab worker`), each with `env`
    /// (the case's marker) in its environment, and waits until each has said hello; that wait is
    /// the start-up cost [`Pool::startup`] reports.
    pub fn start(
        exe: &Path,
        workers: usize,
        shared: bool,
        chunk: Option<usize>,
        cancel: Arc<AtomicBool>,
        env: &[(&str, &str)],
    ) -> Result<Pool, PoolError> {
        let started = Instant::now();
        let mut inner =
            Inner { procs: Vec::with_capacity(workers), job: None, broken: None, scratch: vec![] };
        for _ in 0..workers {
            // On an early return `inner` drops, killing and reaping the workers started so far.
            inner.procs.push(Proc::spawn(exe, env)?);
        }
        let mut hello = vec![false; workers];
        let deadline = Some(started + START_TIMEOUT);
        while hello.iter().any(|h| !h) {
            inner.round(&cancel, deadline, "while starting", &mut |w, pid, msg| match msg {
                FromWorker::Hello { protocol, .. } if protocol == PROTOCOL => {
                    hello[w] = true;
                    Ok(())
                }
                FromWorker::Hello { protocol, .. } => Err(PoolError::Protocol {
                    worker: w + 1,
                    of: workers,
                    pid,
                    what: format!(
                        "`{}` speaks protocol {protocol}, this parlab {PROTOCOL}: rebuild it",
                        exe.display()
                    ),
                }),
                other => Err(unexpected(w, workers, pid, &other)),
            })?;
        }
        Ok(Pool { shared, chunk, workers, cancel, startup: started.elapsed(), inner: Mutex::new(inner) })
    }

    /// Whether results travel through shared memory (`process-shm`) rather than the pipes.
    pub fn shared(&self) -> bool {
        self.shared
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Time from the first spawn until every worker had said hello.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// The worker processes' ids (empty once the pool is broken).
    pub fn pids(&self) -> Vec<u32> {
        self.lock().procs.iter().map(|p| p.pid).collect()
    }

    /// How [`Pool::run`] cuts `items` into tasks: `chunk` items per task when the scenario sets
    /// one, else [`crate::remote::TASKS_PER_WORKER`] per worker.
    pub fn split(&self, items: usize) -> Split {
        Split::new(items, self.workers, self.chunk)
    }

    /// Runs `job` over `0..items` as [`Pool::split`] cuts it, each task on whichever worker is
    /// free, and hands each task's reply to `on_reply(task, range, payload)` as it arrives (the
    /// payload is empty where results are in shared memory). Returns once every task is done.
    ///
    /// Any failure (a worker died, failed or broke the protocol, the case was cancelled) kills
    /// every worker, so none is left writing into shared memory, and breaks the pool.
    pub fn run(&self, job: &JobSpec, items: usize, on_reply: &mut OnReply<'_>) -> Result<(), PoolError> {
        let split = self.split(items);
        let mut inner = self.lock();
        inner.guard(|inner| {
            inner.prepare(job, &self.cancel)?;
            inner.run_tasks(split, &self.cancel, on_reply)
        })
    }

    /// One round trip of `payload` to worker 0 and back (a `Ping` answered by a `Pong`): the
    /// latency of the pipes, with no work in between.
    pub fn ping(&self, payload: &[u8]) -> Result<(), PoolError> {
        let mut inner = self.lock();
        inner.guard(|inner| {
            let of = inner.procs.len();
            inner.send(0, &ToWorker::Ping(payload), "during a ping")?;
            let mut back = false;
            while !back {
                inner.round(&self.cancel, None, "during a ping", &mut |w, pid, msg| match msg {
                    FromWorker::Pong(bytes) if w == 0 && bytes == payload => {
                        back = true;
                        Ok(())
                    }
                    other => Err(unexpected(w, of, pid, &other)),
                })?;
            }
            Ok(())
        })
    }

    /// Sends message `seq` of `job` to worker 0 and hands its answer to `on_answer`: one round
    /// trip of a conversation (`ping_pong`) rather than a share of the work. `bytes` is empty
    /// under `process-shm`, where the message is in the shared region.
    pub fn exchange(
        &self,
        job: &JobSpec,
        seq: u32,
        bytes: &[u8],
        on_answer: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), PoolError> {
        const DURING: &str = "during a message exchange";
        let mut inner = self.lock();
        inner.guard(|inner| {
            inner.prepare(job, &self.cancel)?;
            let of = inner.procs.len();
            inner.send(0, &ToWorker::Message { seq, bytes }, DURING)?;
            let mut answered = false;
            while !answered {
                inner.round(&self.cancel, None, DURING, &mut |w, pid, msg| match msg {
                    FromWorker::Done { task, payload } if w == 0 && task == seq => {
                        answered = true;
                        on_answer(payload).map_err(|what| PoolError::Protocol { worker: 1, of, pid, what })
                    }
                    FromWorker::Failed(message) => {
                        Err(PoolError::Failed { worker: w + 1, of, pid, during: DURING, message })
                    }
                    other => Err(unexpected(w, of, pid, &other)),
                })?;
            }
            Ok(())
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Runs `f` unless the pool is already broken; breaks it (killing every worker) if `f` fails.
    fn guard<T>(&mut self, f: impl FnOnce(&mut Inner) -> Result<T, PoolError>) -> Result<T, PoolError> {
        if let Some(e) = &self.broken {
            return Err(PoolError::Broken(Box::new(e.clone())));
        }
        let result = f(self);
        if let Err(e) = &result {
            self.broken = Some(e.clone());
            self.job = None;
            self.procs.clear();
        }
        result
    }

    /// Makes every worker prepare `job`, unless they already have.
    fn prepare(&mut self, job: &JobSpec, cancel: &AtomicBool) -> Result<(), PoolError> {
        if self.job.as_ref() == Some(job) {
            return Ok(());
        }
        self.job = None;
        let setup = ToWorker::Setup(job.clone());
        for w in 0..self.procs.len() {
            self.send(w, &setup, "while preparing the job")?;
        }
        let of = self.procs.len();
        let mut ready = 0;
        while ready < of {
            self.round(cancel, None, "while preparing the job", &mut |w, pid, msg| match msg {
                FromWorker::Ready => {
                    ready += 1;
                    Ok(())
                }
                FromWorker::Failed(message) => Err(PoolError::Failed {
                    worker: w + 1,
                    of,
                    pid,
                    during: "while preparing the job",
                    message,
                }),
                other => Err(unexpected(w, of, pid, &other)),
            })?;
        }
        self.job = Some(job.clone());
        Ok(())
    }

    fn run_tasks(
        &mut self,
        split: Split,
        cancel: &AtomicBool,
        on_reply: &mut OnReply<'_>,
    ) -> Result<(), PoolError> {
        const DURING: &str = "during a task";
        let of = self.procs.len();
        let mut in_flight = vec![0usize; of];
        let mut owner = vec![usize::MAX; split.tasks];
        let (mut next, mut done) = (0, 0);
        let mut touched: Vec<usize> = (0..of).collect();
        loop {
            // Top up the workers that just answered (at first, all of them).
            for &w in &touched {
                while in_flight[w] < DEPTH && next < split.tasks {
                    let r = split.range(next);
                    let msg = ToWorker::Task { task: next as u32, range: r.start as u64..r.end as u64 };
                    self.send(w, &msg, DURING)?;
                    owner[next] = w;
                    in_flight[w] += 1;
                    next += 1;
                }
            }
            if done == split.tasks {
                return Ok(());
            }
            touched = self.round(cancel, None, DURING, &mut |w, pid, msg| match msg {
                FromWorker::Done { task, payload } => {
                    let task = task as usize;
                    if owner.get(task) != Some(&w) {
                        return Err(PoolError::Protocol {
                            worker: w + 1,
                            of,
                            pid,
                            what: format!("reported task {task}, which it was not given"),
                        });
                    }
                    owner[task] = usize::MAX;
                    in_flight[w] -= 1;
                    done += 1;
                    on_reply(task, split.range(task), payload).map_err(|what| PoolError::Protocol {
                        worker: w + 1,
                        of,
                        pid,
                        what,
                    })
                }
                FromWorker::Failed(message) => {
                    Err(PoolError::Failed { worker: w + 1, of, pid, during: DURING, message })
                }
                other => Err(unexpected(w, of, pid, &other)),
            })?;
        }
    }

    fn send(&mut self, w: usize, msg: &ToWorker, during: &'static str) -> Result<(), PoolError> {
        self.scratch.clear();
        msg.encode(&mut self.scratch)
            .map_err(|e| PoolError::Io(format!("writing to worker process {}: {e}", w + 1)))?;
        let stdin = self.procs[w].stdin.as_mut().expect("stdin is open while the pool lives");
        match crate::subprocess::write_without_sigpipe(stdin, &self.scratch) {
            Ok(()) => Ok(()),
            // A closed pipe means the worker is gone: report how it ended.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(self.died(w, during)),
            Err(e) => Err(PoolError::Io(format!("writing to worker process {}: {e}", w + 1))),
        }
    }

    /// Waits (at most `POLL`) for any worker to send something, reads everything available, and
    /// calls `each(worker, pid, message)` for every whole message. Returns the workers heard from.
    fn round(
        &mut self,
        cancel: &AtomicBool,
        deadline: Option<Instant>,
        during: &'static str,
        each: &mut dyn FnMut(usize, u32, FromWorker<'_>) -> Result<(), PoolError>,
    ) -> Result<Vec<usize>, PoolError> {
        if cancel.load(Ordering::Relaxed) {
            return Err(PoolError::Cancelled);
        }
        let mut fds: Vec<libc::pollfd> = self
            .procs
            .iter()
            .map(|p| libc::pollfd { fd: p.stdout.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL.as_millis() as i32) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(vec![])
            } else {
                Err(PoolError::Io(e.to_string()))
            };
        }
        if n == 0 {
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(PoolError::Timeout { during, secs: START_TIMEOUT.as_secs() });
            }
            // A quiet pipe may hide a worker that exited while something else holds its pipe.
            for w in 0..self.procs.len() {
                if let Ok(Some(status)) = self.procs[w].child.try_wait() {
                    let p = &self.procs[w];
                    return Err(PoolError::Died {
                        worker: w + 1,
                        of: self.procs.len(),
                        pid: p.pid,
                        during,
                        status: describe(status),
                    });
                }
            }
            return Ok(vec![]);
        }
        let of = self.procs.len();
        let mut heard = Vec::new();
        for (w, fd) in fds.iter().enumerate() {
            if fd.revents == 0 {
                continue;
            }
            let proc = &mut self.procs[w];
            let eof = proc
                .fill()
                .map_err(|e| PoolError::Io(format!("reading from worker process {}: {e}", w + 1)))?;
            let mut at = 0;
            loop {
                let rest = &proc.buf[at..];
                let len = wire::body_len(rest).map_err(|e| PoolError::Protocol {
                    worker: w + 1,
                    of,
                    pid: proc.pid,
                    what: e.to_string(),
                })?;
                let Some(len) = len.filter(|len| rest.len() >= LEN_BYTES + len) else { break };
                let msg = FromWorker::decode(&rest[LEN_BYTES..LEN_BYTES + len]).map_err(|e| {
                    PoolError::Protocol { worker: w + 1, of, pid: proc.pid, what: e.to_string() }
                })?;
                each(w, proc.pid, msg)?;
                at += LEN_BYTES + len;
            }
            proc.buf.drain(..at);
            if eof {
                return Err(self.died(w, during));
            }
            heard.push(w);
        }
        Ok(heard)
    }

    /// The error for a worker whose pipe closed: waits briefly for its exit status.
    fn died(&mut self, w: usize, during: &'static str) -> PoolError {
        let of = self.procs.len();
        let proc = &mut self.procs[w];
        let until = Instant::now() + EXIT_GRACE;
        let status = loop {
            match proc.child.try_wait() {
                Ok(Some(status)) => break describe(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(1)),
                Ok(None) => {
                    let _ = proc.child.kill();
                    let _ = proc.child.wait();
                    break "closed its pipe without exiting, so it was killed".into();
                }
                Err(e) => break format!("exit status unknown: {e}"),
            }
        };
        PoolError::Died { worker: w + 1, of, pid: proc.pid, during, status }
    }
}

impl Proc {
    fn spawn(exe: &Path, env: &[(&str, &str)]) -> Result<Proc, PoolError> {
        let spawn_error = |why: String| PoolError::Spawn { exe: exe.display().to_string(), why };
        let mut child = Command::new(exe)
            .arg("worker")
            .envs(env.iter().copied())
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| spawn_error(e.to_string()))?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let proc = Proc { child, pid, stdin, stdout, buf: Vec::new() };
        let fd = proc.stdout.as_raw_fd();
        // SAFETY: `fd` is the open read end of the pipe this `Proc` owns.
        let ok = unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
        if ok < 0 {
            return Err(spawn_error(format!(
                "could not make its pipe non-blocking: {}",
                io::Error::last_os_error()
            )));
        }
        Ok(proc)
    }

    /// Reads everything the worker has sent so far; `true` when its end of the pipe is closed.
    fn fill(&mut self) -> io::Result<bool> {
        loop {
            // Room for the whole frame being received, so a large reply is read in few calls.
            let want = match wire::body_len(&self.buf) {
                Ok(Some(len)) => (LEN_BYTES + len).saturating_sub(self.buf.len()),
                _ => 0,
            };
            self.buf.reserve(want.max(1 << 16));
            let spare = self.buf.spare_capacity_mut();
            // SAFETY: reads at most `spare.len()` bytes into memory this Vec owns.
            let n = unsafe { libc::read(self.stdout.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
            match n {
                0 => return Ok(true),
                n if n > 0 => {
                    // SAFETY: `read` initialised the first `n` spare bytes.
                    unsafe { self.buf.set_len(self.buf.len() + n as usize) };
                }
                _ => {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return Ok(false),
                        io::ErrorKind::Interrupted => {}
                        _ => return Err(e),
                    }
                }
            }
        }
    }
}

impl Drop for Proc {
    /// Kills and reaps the worker: it holds nothing worth a graceful exit, and a dropped pool
    /// must leave neither a running worker nor a zombie behind.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "exit status: 3" or "signal: 9 (SIGKILL)".
fn describe(status: ExitStatus) -> String {
    status.to_string()
}

fn unexpected(w: usize, of: usize, pid: u32, msg: &FromWorker<'_>) -> PoolError {
    let what = match msg {
        FromWorker::Hello { .. } => "said hello twice".to_string(),
        FromWorker::Ready => "reported ready unasked".to_string(),
        FromWorker::Done { task, .. } => format!("reported task {task} unasked"),
        FromWorker::Failed(m) => {
            return PoolError::Failed { worker: w + 1, of, pid, during: "unasked", message: m.clone() }
        }
        FromWorker::Pong(_) => "answered a ping it was not sent".to_string(),
    };
    PoolError::Protocol { worker: w + 1, of, pid, what }
}
