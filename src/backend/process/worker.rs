//! The worker's side: what `parlab worker` runs. It reads requests from stdin and answers on
//! stdout, one frame each, until stdin closes.
//!
//! A worker ties its life to parlab's: on Linux it asks the kernel to kill it when parlab dies
//! (`PR_SET_PDEATHSIG`), and checks that parlab did not die before that request took effect. It
//! ignores Ctrl-C, which the terminal sends to the whole process group: parlab decides what an
//! interrupt means and kills its workers itself.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

use super::PARENT_ENV;
use crate::remote::wire::{self, FromWorker, JobSpec, ToWorker, LEN_BYTES, PROTOCOL};
use crate::remote::{Share, SharedMem};
use crate::workload;

/// The prepared job: the workload's worker half and, for `process-shm`, the mapped region.
struct Job {
    share: Box<dyn Share>,
    shared: Option<SharedMem>,
}

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs the worker loop; the exit code is 0 when parlab closed the pipe, non-zero on an error.
pub fn main() -> ExitCode {
    if let Err(why) = tie_to_parent() {
        eprintln!("parlab worker: {why}");
        return ExitCode::from(3);
    }
    // A panic in a task is reported to parlab as that task's failure, not printed here.
    std::panic::set_hook(Box::new(|info| {
        let text = crate::subprocess::panic_description(info);
        PANIC.with(|p| *p.borrow_mut() = Some(format!("panicked: {text}")));
    }));
    match serve(&mut io::stdin().lock(), &mut *raw_stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parlab worker: {e}");
            ExitCode::from(4)
        }
    }
}

/// Stdout without `std`'s line buffering: frames are binary and written whole.
fn raw_stdout() -> ManuallyDrop<File> {
    // SAFETY: fd 1 is open for the life of the process; ManuallyDrop never closes it.
    ManuallyDrop::new(unsafe { File::from_raw_fd(1) })
}

fn tie_to_parent() -> Result<(), String> {
    // SAFETY: plain libc calls with constant arguments.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let Ok(parent) = std::env::var(PARENT_ENV) else {
        return Err("this subcommand is parlab's own: `process` strategies start it".into());
    };
    // If parlab died before the request above, the death signal will never come: leave now.
    // SAFETY: getppid cannot fail.
    if parent != unsafe { libc::getppid() }.to_string() {
        return Err("parlab, which started this worker, is gone".into());
    }
    Ok(())
}

/// Replaces whatever `out` holds with a `Failed` frame carrying `message`.
fn failed(out: &mut Vec<u8>, message: String) {
    out.clear();
    FromWorker::Failed(message).encode(out).expect("a failure is cut to fit in a frame");
}

/// The request loop over any pair of streams (tests drive it in memory).
pub(crate) fn serve(input: &mut dyn Read, output: &mut dyn Write) -> io::Result<()> {
    let mut out = Vec::new();
    FromWorker::Hello { protocol: PROTOCOL, pid: std::process::id() }
        .encode(&mut out)
        .map_err(io::Error::other)?;
    output.write_all(&out)?;
    let mut job: Option<Job> = None;
    let mut body = Vec::new();
    loop {
        let mut head = [0; LEN_BYTES];
        match input.read_exact(&mut head) {
            Ok(()) => {}
            // parlab closed the pipe: the pool is done with this worker.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = wire::body_len(&head).map_err(io::Error::other)?.expect("four bytes read");
        body.resize(len, 0);
        input.read_exact(&mut body)?;
        out.clear();
        match ToWorker::decode(&body) {
            Err(e) => {
                failed(&mut out, e.to_string());
                output.write_all(&out)?;
                return Err(io::Error::other(e));
            }
            Ok(ToWorker::Setup(spec)) => {
                job = None; // unmaps the previous region before mapping the next
                match guarded(|| prepare(&spec)) {
                    Ok(j) => {
                        job = Some(j);
                        FromWorker::Ready.encode(&mut out).map_err(io::Error::other)?;
                    }
                    Err(e) => failed(&mut out, e),
                }
            }
            Ok(ToWorker::Task { task, range }) => match job.as_mut() {
                None => failed(&mut out, "a task came before any job".into()),
                Some(Job { share, shared }) => {
                    // The result is written straight after the frame header: no copy.
                    wire::start_done(&mut out, task);
                    // The range comes off the wire: it must fit this machine's indices.
                    let range = match (usize::try_from(range.start), usize::try_from(range.end)) {
                        (Ok(start), Ok(end)) => Ok(start..end),
                        _ => Err(format!("task {task}'s range {range:?} does not fit in memory")),
                    };
                    let done = range.and_then(|range| {
                        guarded(|| share.task(task as usize, range, shared.as_mut(), &mut out))
                    });
                    match done.and_then(|()| wire::finish_done(&mut out).map_err(|e| e.to_string())) {
                        Ok(()) => {}
                        Err(e) => failed(&mut out, e),
                    }
                }
            },
            Ok(ToWorker::Message { seq, bytes }) => match job.as_mut() {
                None => failed(&mut out, "a message came before any job".into()),
                Some(Job { share, shared }) => {
                    wire::start_done(&mut out, seq);
                    let done = guarded(|| share.message(seq as usize, bytes, shared.as_mut(), &mut out));
                    match done.and_then(|()| wire::finish_done(&mut out).map_err(|e| e.to_string())) {
                        Ok(()) => {}
                        Err(e) => failed(&mut out, e),
                    }
                }
            },
            Ok(ToWorker::Ping(bytes)) => {
                if let Err(e) = FromWorker::Pong(bytes).encode(&mut out) {
                    failed(&mut out, e.to_string());
                }
            }
        }
        output.write_all(&out)?;
    }
}

fn prepare(spec: &JobSpec) -> Result<Job, String> {
    let w = workload::find(&spec.workload).ok_or_else(|| format!("no workload `{}` here", spec.workload))?;
    let shared = match &spec.shared {
        None => None,
        Some(s) => {
            Some(SharedMem::open(s).map_err(|e| format!("cannot map the shared region {}: {e}", s.path))?)
        }
    };
    let share = w.share(spec).map_err(|e| e.to_string())?;
    Ok(Job { share, shared })
}

/// Runs `f`, turning a panic into an error message.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "panicked".into())))
}
