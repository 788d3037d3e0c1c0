//! Small helpers for talking to child processes, shared by the runner's case children, the
//! backends' programs and the gate's runs of whole builds: reading what a child says without
//! ever blocking it, writing to one that may have died without dying of `SIGPIPE`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};

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

/// Writes to a child's pipe with `SIGPIPE` blocked on this thread, so a child that died turns
/// the write into an `EPIPE` error to report, not a signal that kills parlab (whose disposition
/// of `SIGPIPE` is the default, so that `parlab list | head` ends quietly). The signal a failed
/// write raises is thread-directed and pending while blocked: it is consumed before unblocking.
pub fn write_without_sigpipe(pipe: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: signal-set and mask calls on local, initialised sets; the mask change is undone
    // before returning, and only this thread's mask is touched.
    unsafe {
        let mut sigpipe: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut sigpipe);
        libc::sigaddset(&mut sigpipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &sigpipe, &mut old);
        let result = pipe.write_all(bytes).and_then(|()| pipe.flush());
        if matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
            let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            libc::sigtimedwait(&sigpipe, std::ptr::null_mut(), &now);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
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
