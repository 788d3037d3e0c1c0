//! Small helpers for talking to child processes, shared by the runner's case children, the
//! backends' programs and workers and the gate's runs of whole builds: finding parlab's own
//! binary, reading what a child says without ever blocking it, writing to one that may have died
//! without dying of `SIGPIPE`, describing how a child (or a panic in one) ended.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;

/// Makes the child killed (SIGKILL) when this process dies, however it dies: for children that
/// are not parlab's own current binary (an older build, a wrapper), which cannot be trusted to
/// ask for it themselves. Set between fork and exec, so there is no window after exec.
pub fn die_with_parent(command: &mut Command) -> &mut Command {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe
    // functions (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent died before the request took effect: it would never fire.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the parent died before the child started"));
            }
            Ok(())
        })
    }
}

/// Runs `f` (a write to a child's pipe) with `SIGPIPE` blocked on this thread, so a child that
/// died turns the write into an `EPIPE` error to report, not a signal that kills parlab (whose
/// disposition of `SIGPIPE` is the default, so that `parlab list | head` ends quietly). The
/// signal a failed write raises is thread-directed and pending while blocked: it is consumed
/// before unblocking.
pub fn without_sigpipe<T>(f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    // SAFETY: signal-set and mask calls on local, initialised sets; the mask change is undone
    // before returning, and only this thread's mask is touched.
    unsafe {
        let mut sigpipe: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut sigpipe);
        libc::sigaddset(&mut sigpipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &sigpipe, &mut old);
        let result = f();
        if matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
            let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            libc::sigtimedwait(&sigpipe, std::ptr::null_mut(), &now);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}

/// Writes all of `bytes` to a child's (blocking) pipe without dying of `SIGPIPE` (see
/// [`without_sigpipe`]).
pub fn write_without_sigpipe(pipe: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    without_sigpipe(|| pipe.write_all(bytes).and_then(|()| pipe.flush()))
}

/// The last `keep` bytes a stream says, as text.
pub fn tail(mut stream: impl Read, keep: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * keep {
            kept.drain(..kept.len() - keep);
        }
    }
    let start = kept.len().saturating_sub(keep);
    String::from_utf8_lossy(&kept[start..]).into_owned()
}

/// How a child ended, in words: its exit code, or the signal that killed it.
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// Names the parlab binary to start worker processes from, where it cannot be found otherwise.
pub const EXE_ENV: &str = "PARLAB_EXE";

/// The parlab binary worker processes are started from: this executable when it is parlab,
/// else `$PARLAB_EXE`, else a `parlab` beside this executable or one folder up (where cargo
/// puts the binary relative to a test or bench executable in `target/<profile>/deps`).
pub fn worker_exe() -> Result<PathBuf, String> {
    static EXE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    EXE.get_or_init(find_worker_exe).clone()
}

fn find_worker_exe() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot tell which executable this is: {e}"))?;
    if me.file_stem().is_some_and(|s| s == "parlab") {
        return Ok(me);
    }
    if let Some(path) = std::env::var_os(EXE_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{EXE_ENV}={} is not a file", path.display()))
        };
    }
    let name = format!("parlab{}", std::env::consts::EXE_SUFFIX);
    let dir = me.parent().unwrap_or(Path::new("."));
    let found = [Some(dir), dir.parent()].into_iter().flatten().map(|d| d.join(&name)).find(|p| p.is_file());
    found.ok_or_else(|| {
        format!(
            "no parlab binary to start worker processes from (this executable is `{}`); \
                 build it (`cargo build`) or set {EXE_ENV}",
            me.display()
        )
    })
}

/// The first executable file called `name` in the directories of `$PATH`, as a shell would
/// find it: how parlab finds an external launcher (`mpirun`) before starting a case on it.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The MPI launcher `name` (`mpirun`, `mpiexec`, `srun`) that `mpi` cases start their jobs
/// with, or why there is none: this build has no MPI (the `mpi` feature), or no such program is
/// on `PATH`.
pub fn mpi_launcher(name: &str) -> Result<PathBuf, String> {
    mpi_built()?;
    find_on_path(name).ok_or_else(|| format!("{name} not found"))
}

/// Whether this build has MPI (the `mpi` feature), or why not.
pub fn mpi_built() -> Result<(), String> {
    if cfg!(feature = "mpi") {
        Ok(())
    } else {
        Err("built without the mpi feature".into())
    }
}

/// The CPUs this process may run on, as Linux lists them (`Cpus_allowed_list`): where a
/// worker or rank records the binding it was given.
pub fn allowed_cpus() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(|c| c.trim().to_string())
}

/// What a panic carried, as text.
pub fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| NON_STRING_PAYLOAD.into())
}

/// What [`payload_text`] says of a payload that is not text.
pub const NON_STRING_PAYLOAD: &str = "non-string panic payload";

/// A panic's message and where it happened, e.g. `index out of bounds at src/x.rs:3`: what a
/// case's reason and a worker process's failure report say.
pub fn panic_description(info: &std::panic::PanicHookInfo<'_>) -> String {
    let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
    format!("{}{at}", payload_text(info.payload()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_bytes_of_a_long_stream() {
        let text: Vec<u8> = (0..100_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let kept = tail(&text[..], 12);
        assert_eq!(kept, "99998\n99999\n");
        assert_eq!(tail(&b"short"[..], 100), "short");
    }
}
