//! The run marker: every process a run starts can be found again, and none may outlive it.
//!
//! `parlab run` puts [`ENV`] in its own environment before it starts anything; every process it
//! or its cases start (case processes, worker processes, whatever a kernel runs) inherits it.
//! When the run ends, [`survivors`] scans `/proc` for processes still carrying this run's
//! marker: there should be none, and parlab ends any it finds and says so. Tests use the same
//! scan to prove that nothing was left behind.
//!
//! Each case has a marker of its own too ([`crate::backend::CASE_MARKER_ENV`], set on every
//! process its backend starts): when the case's session is over, [`end_left_behind`] ends
//! whatever still carries it, and the case's notes say what it was.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that carries the marker.
pub const ENV: &str = "PARLAB_RUN_MARKER";

/// Gives this process a fresh marker (or keeps the one it has, when `keep` and there is one:
/// a run continued in a fresh process is still the same run) and returns it. Call before any
/// thread or process is started.
pub fn install(keep: bool) -> String {
    if keep {
        if let Ok(m) = std::env::var(ENV) {
            return m;
        }
    }
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let marker = format!("{}-{nanos}", std::process::id());
    // Before any other thread exists, as `main` calls it: nothing reads the environment
    // concurrently.
    std::env::set_var(ENV, &marker);
    marker
}

/// Processes other than this one whose environment has `var` set to `marker`: (pid, command
/// line). The run's marker is `(ENV, marker)`.
pub fn survivors(var: &str, marker: &str) -> Vec<(u32, String)> {
    let want = format!("{var}={marker}");
    processes_with(|entry| entry == want.as_bytes())
}

/// Processes other than this one with an environment entry (`VAR=value`) that `matches`:
/// (pid, command line). Tests use it to find what a run whose marker they do not know left.
pub fn processes_with(matches: impl Fn(&[u8]) -> bool) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let env = std::fs::read(e.path().join("environ")).ok()?;
        if pid == me || !env.split(|&b| b == 0).any(&matches) {
            return None;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ").trim().to_string();
        Some((pid, cmd))
    })
    .collect()
}

/// Whether process `pid`'s environment holds the entry `want` (`VAR=value`).
fn carries(pid: u32, want: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == want))
}

/// Ends every survivor of `var=marker` (SIGKILL) and returns what they were.
pub fn end_survivors(var: &str, marker: &str) -> Vec<(u32, String)> {
    let want = format!("{var}={marker}");
    survivors(var, marker).into_iter().filter(|(pid, _)| kill_if_carrying(*pid, want.as_bytes())).collect()
}

/// Kills `pid` if it still carries `want`. Between the scan and the signal the process may have
/// exited and its pid been given to an unrelated one: a pidfd pins the process, so the marker
/// is checked again on the process the signal will reach. Where the kernel has no pidfds (before
/// Linux 5.3) it falls back to `kill`, re-checking just before.
fn kill_if_carrying(pid: u32, want: &[u8]) -> bool {
    // SAFETY: plain syscalls on a pid and the descriptor they return, which is closed here.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as libc::c_int;
        if fd < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) && carries(pid, want) {
                return libc::kill(pid as libc::pid_t, libc::SIGKILL) == 0;
            }
            return false; // already gone
        }
        let killed = carries(pid, want)
            && libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            ) == 0;
        libc::close(fd);
        killed
    }
}

/// Ends every process still carrying the case marker `var=marker` once its session is over,
/// and says what they were, for the case's notes: `None` when nothing was left behind.
pub fn end_left_behind(var: &str, marker: &str) -> Option<String> {
    let found = end_survivors(var, marker);
    if found.is_empty() {
        return None;
    }
    let list: Vec<String> = found.iter().map(|(pid, cmd)| format!("pid {pid}: {cmd}")).collect();
    Some(format!("left {} process(es) behind ({}); parlab ended them", found.len(), list.join(", ")))
}

/// A marker for this run: the run's own ([`ENV`]) when it has one, else a fresh one (tests run
/// several pipelines in one process: each gets its own).
pub fn current_or_fresh() -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    std::env::var(ENV).unwrap_or_else(|_| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed))
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_process_without_the_marker_is_never_killed() {
        // What a pid reused between the scan and the signal looks like: the same number, another
        // process, not carrying the marker.
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        assert!(!kill_if_carrying(child.id(), b"PARLAB_TEST_MARKER=absent"));
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    use super::*;

    #[test]
    fn a_child_carrying_the_marker_is_found_and_ended() {
        let marker = format!("test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep").arg("30").env(ENV, &marker).spawn().unwrap();
        // The child's environment is readable once it has exec'd.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while survivors(ENV, &marker).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let found = end_survivors(ENV, &marker);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [child.id()], "{found:?}");
        assert!(found[0].1.contains("sleep 30"));
        let status = child.wait().unwrap();
        assert!(!status.success(), "it was killed");
        assert!(survivors(ENV, &marker).is_empty());
    }

    #[test]
    fn what_a_case_left_behind_is_ended_and_noted() {
        const VAR: &str = "PARLAB_TEST_CASE_MARKER";
        let marker = format!("case-{}-{:?}", std::process::id(), std::time::Instant::now());
        assert_eq!(end_left_behind(VAR, &marker), None, "nothing carries it yet");
        let mut child = std::process::Command::new("sleep").arg("31").env(VAR, &marker).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while survivors(VAR, &marker).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let note = end_left_behind(VAR, &marker).expect("the sleep is found");
        assert_eq!(
            note,
            format!("left 1 process(es) behind (pid {}: sleep 31); parlab ended them", child.id())
        );
        assert!(!child.wait().unwrap().success(), "it was killed");
        assert_eq!(end_left_behind(VAR, &marker), None, "and is gone");
    }
}
