//! `parlab detect --hosts F`: whether every host of an MPI hostfile can run this parlab, asked
//! through the launcher that will start the ranks (so an ssh set-up, a `plm_rsh_agent` or the
//! `[mpi] args` of a scenario count exactly as they will in a run).
//!
//! One launch places a probe on every host (`--hostfile F --map-by node -n HOSTS`); each probe
//! is this same binary's `detect --host-info`, which prints one [`HostInfo`] line: the parlab
//! version and executable it is, and the host's cores. Rank `i` of a `--map-by node` job runs on
//! the hostfile's `i`-th host, so each answer is matched to its line. If that launch fails (a
//! host unreachable, the binary missing there), each host is then asked alone, so the error
//! names the hosts at fault rather than quoting only the launcher's message. Every launch has a
//! time limit; one still running at it is sent SIGTERM (mpirun then ends its daemons) and then
//! its process group SIGKILL.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::subprocess::describe_exit;

/// How long one launch of the probes may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// The hidden `detect` flag that prints this host's [`HostInfo`] line.
pub const HOST_INFO_FLAG: &str = "--host-info";
/// What starts a [`HostInfo`] line, so that it stands out in a launcher's output.
const LINE_TAG: &str = "parlab-host-info ";
/// How long a launch sent SIGTERM at its limit has to end its daemons before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long a launch's pipes are still read once it has exited (and its group was killed).
const READ_GRACE: Duration = Duration::from_secs(1);
/// How many hosts are asked alone at once, after a failed launch.
const AT_ONCE: usize = 16;

/// What a probe says about the host it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The parlab version (`CARGO_PKG_VERSION`).
    pub parlab: String,
    /// The running executable, symbolic links resolved.
    pub exe: String,
    /// Whether it was built with the `mpi` feature (can run ranks).
    pub mpi: bool,
    pub hostname: String,
    pub cpu: String,
    pub logical_cpus: usize,
    pub physical_cores: usize,
    /// Its rank in the launcher's job (`OMPI_COMM_WORLD_RANK`, `PMIX_RANK`, `SLURM_PROCID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
}

impl HostInfo {
    /// This process on this host.
    pub fn here() -> HostInfo {
        let m = super::Machine::detect();
        let rank = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.parse().ok());
        HostInfo {
            parlab: env!("CARGO_PKG_VERSION").to_string(),
            exe: own_exe().map_or_else(|e| format!("unknown ({e})"), |p| p.display().to_string()),
            mpi: cfg!(feature = "mpi"),
            hostname: m.hostname,
            cpu: m.cpu_model,
            logical_cpus: m.logical_cpus,
            physical_cores: m.physical_cores,
            rank,
        }
    }

    /// The line `detect --host-info` prints.
    pub fn line(&self) -> String {
        format!("{LINE_TAG}{}", serde_json::to_string(self).expect("host info serializes"))
    }

    /// The [`HostInfo`] lines in a launcher's output, in the order they came.
    pub fn parse_all(output: &str) -> Vec<HostInfo> {
        output
            .lines()
            .filter_map(|l| l.trim().strip_prefix(LINE_TAG))
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect()
    }
}

/// This executable, symbolic links resolved: what a probe elsewhere must also be.
pub fn own_exe() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

/// The hosts a hostfile names, in order, each once: the first word of each line that is not
/// blank or a `#` comment (OpenMPI's `node slots=4`; MPICH's `node:4` loses its count).
pub fn hostfile_hosts(text: &str) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some(word) = line.split_whitespace().next() else { continue };
        let name = word.split(':').next().unwrap_or(word);
        if !name.is_empty() && seen.insert(name) {
            hosts.push(name.to_string());
        }
    }
    hosts
}

/// How many names [`some_of`] lists before it only counts the rest.
const NAMES_SHOWN: usize = 8;

/// `names` for a message: all of them, or the first few "and N more".
fn some_of(names: &[&str]) -> String {
    if names.len() <= NAMES_SHOWN {
        return names.join(", ");
    }
    format!("{}, … and {} more", names[..NAMES_SHOWN].join(", "), names.len() - NAMES_SHOWN)
}

/// One host of the hostfile and what its probe said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// As the hostfile names it.
    pub host: String,
    pub info: HostInfo,
}

/// Asks every host of `hostfile` through `launcher` (`mpirun` or `mpiexec`; `args`, the
/// `[mpi] args`, first) to run `exe detect --host-info`, each launch within `limit`. `Ok`: one
/// answer per host, each the same version and executable as `own`. `Err`: what is wrong,
/// naming each host at fault.
pub fn check(
    args: &[String],
    launcher: &Path,
    hostfile: &Path,
    exe: &Path,
    own: &HostInfo,
    limit: Duration,
) -> Result<Vec<Answer>, String> {
    if launcher.file_name().is_some_and(|n| n == "srun") {
        return Err(
            "`srun` takes its hosts from the Slurm allocation, not a hostfile: check the hosts with \
                    `mpirun` (a scenario whose [mpi] launcher is mpirun or mpiexec)"
                .into(),
        );
    }
    let text = crate::input::read(hostfile, crate::input::HOSTFILE)
        .map_err(|e| format!("cannot read the hostfile `{}`: {e}", hostfile.display()))?;
    let hosts = hostfile_hosts(&String::from_utf8_lossy(&text));
    if hosts.is_empty() {
        return Err(format!("the hostfile `{}` names no host", hostfile.display()));
    }
    // One rank per host: more hosts than a case may have ranks could never all be used.
    if hosts.len() > crate::limits::MAX_WORKERS {
        return Err(format!(
            "the hostfile `{}` names {} hosts, more than the limit of {} (the most ranks a case may have)",
            hostfile.display(),
            hosts.len(),
            crate::limits::MAX_WORKERS
        ));
    }
    let probe = [exe.display().to_string(), "detect".into(), HOST_INFO_FLAG.into()];
    let mut all = args.to_vec();
    all.extend(["-n".into(), hosts.len().to_string(), "--map-by".into(), "node".into()]);
    all.extend(["--hostfile".into(), hostfile.display().to_string()]);
    all.extend(probe.iter().cloned());
    let together = launch(launcher, &all, limit);
    let answers = match together {
        Ok(output) => {
            let said = HostInfo::parse_all(&output);
            // Rank i of a --map-by node job runs on the i-th host.
            let by_rank = |i: usize| {
                said.iter().find(|h| h.rank == Some(i)).or(said.get(i).filter(|h| h.rank.is_none()))
            };
            let mut answers = Vec::new();
            let mut silent = Vec::new();
            for (i, host) in hosts.iter().enumerate() {
                match by_rank(i) {
                    Some(info) => answers.push(Answer { host: host.clone(), info: info.clone() }),
                    None => silent.push(host.as_str()),
                }
            }
            if !silent.is_empty() {
                return Err(format!(
                    "no answer from {} (the launcher ran, but their probes said nothing)",
                    some_of(&silent)
                ));
            }
            answers
        }
        Err(whole) => {
            // Ask each host alone, to name the ones at fault.
            let mut failed = Vec::new();
            for chunk in hosts.chunks(AT_ONCE) {
                let said: Vec<Result<String, String>> = std::thread::scope(|scope| {
                    let asks: Vec<_> = chunk
                        .iter()
                        .map(|host| {
                            let mut alone = args.to_vec();
                            alone.extend(["-n".into(), "1".into(), "--host".into(), host.clone()]);
                            alone.extend(probe.iter().cloned());
                            scope.spawn(move || launch(launcher, &alone, limit))
                        })
                        .collect();
                    asks.into_iter()
                        .map(|a| a.join().unwrap_or_else(|_| Err("the probe panicked".into())))
                        .collect()
                });
                for (host, said) in chunk.iter().zip(said) {
                    if let Err(why) = said {
                        failed.push(format!(
                            "host {host} cannot be reached through {}: {why}",
                            launcher.display()
                        ));
                    }
                }
            }
            if failed.is_empty() {
                return Err(format!(
                    "each host answers alone, but not all together through {}: {whole}",
                    launcher.display()
                ));
            }
            return Err(failed.join("\n"));
        }
    };
    let wrong: Vec<String> = answers.iter().filter_map(|a| differs(a, own)).collect();
    if wrong.is_empty() {
        Ok(answers)
    } else {
        Err(wrong.join("\n"))
    }
}

/// How a host's parlab differs from this one, if it does.
fn differs(a: &Answer, own: &HostInfo) -> Option<String> {
    let (host, info) = (&a.host, &a.info);
    if info.parlab != own.parlab {
        return Some(format!(
            "host {host} runs parlab {} (at {}), this is parlab {}: install the same version on every host",
            info.parlab, info.exe, own.parlab
        ));
    }
    if info.exe != own.exe {
        return Some(format!(
            "host {host} ran {} for {}: the ranks need the same binary at the same path on every host",
            info.exe, own.exe
        ));
    }
    if !info.mpi {
        return Some(format!("host {host}'s parlab ({}) is built without the mpi feature", info.exe));
    }
    None
}

/// What a reader thread has read of one of a launch's pipes so far: shared, so that a reader
/// still blocked when [`launch`] gives up on it leaves what it had.
type Reading = Arc<Mutex<Vec<u8>>>;

/// Reads `from` into `into` until end of file, keeping the first `keep` bytes (`first`) or the
/// last `keep` bytes; then says so on `done`.
fn read_pipe(mut from: impl Read, into: Reading, keep: usize, first: bool, done: mpsc::Sender<()>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut kept = into.lock().unwrap_or_else(|e| e.into_inner());
        if first {
            let room = keep.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        } else {
            kept.extend_from_slice(&buf[..n]);
            let excess = kept.len().saturating_sub(keep);
            kept.drain(..excess);
        }
    }
    let _ = done.send(());
}

/// Whether the leader of `group` has exited, without reaping it: while it is not reaped its id
/// names this group and no other, so the group can still be signalled safely.
fn leader_exited(group: libc::pid_t) -> bool {
    // SAFETY: waitid on our own child, writing only into `info`; WNOWAIT leaves it unreaped.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            group as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() == group
    }
}

/// Runs `program args` within `limit`: its stdout, or why it failed (its exit and the end of
/// its stderr). At the limit: SIGTERM, a moment, then SIGKILL to its whole process group. Once
/// the launcher has exited, whatever it left in its group is killed too (a daemon or a
/// background child would hold the pipes open); the pipes are then read for at most
/// [`READ_GRACE`] more, and a reader still blocked then (a descendant that left the group holds
/// the pipe) is abandoned with what it had read: this never waits past `limit` and the graces.
fn launch(program: &Path, args: &[String], limit: Duration) -> Result<String, String> {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    crate::subprocess::die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let group = child.id() as libc::pid_t;
    let (done, finished) = mpsc::channel();
    // Read on threads so that a launcher filling a pipe is never blocked by the wait below.
    let out: Reading = Arc::default();
    let err: Reading = Arc::default();
    let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let (into, tx) = (out.clone(), done.clone());
    std::thread::spawn(move || read_pipe(stdout, into, 1 << 20, true, tx));
    let into = err.clone();
    std::thread::spawn(move || read_pipe(stderr, into, 2048, false, done));
    let mut deadline = Instant::now() + limit;
    let mut termed = false;
    let exited = loop {
        if leader_exited(group) {
            break Ok(());
        }
        if Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        } else if !termed {
            // SAFETY: a signal to the process group this function created, whose leader is
            // not yet reaped (so its id cannot have been reused).
            unsafe {
                libc::kill(-group, libc::SIGTERM);
            }
            termed = true;
            deadline = Instant::now() + TERM_GRACE;
        } else {
            break Err(format!("no answer within {}", humantime::format_duration(limit)));
        }
    };
    // SAFETY: as above (the leader is still unreaped); whatever of the group is left goes, on
    // success too.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let status = child.wait().map_err(|e| format!("cannot wait for it: {e}"));
    let read_by = Instant::now() + READ_GRACE;
    for _ in 0..2 {
        if finished.recv_timeout(read_by.saturating_duration_since(Instant::now())).is_err() {
            break;
        }
    }
    let taken =
        |r: &Reading| String::from_utf8_lossy(&r.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let said = taken(&err);
    let said = first_words(&said);
    exited?;
    let status = status?;
    if termed {
        return Err(format!("no answer within {}; it said: {said}", humantime::format_duration(limit)));
    }
    if !status.success() {
        return Err(format!(
            "{}; it said: {}",
            describe_exit(status),
            if said.is_empty() { "nothing" } else { said }
        ));
    }
    Ok(taken(&out))
}

/// What a launcher said before the first of OpenMPI's boxed explanations (lines of dashes),
/// where that is something: the agent's or ssh's own message; else all of it, trimmed.
fn first_words(said: &str) -> &str {
    let said = said.trim();
    let end = said.find("\n-----").unwrap_or(said.len());
    match said[..end].trim() {
        words if !words.is_empty() && !words.starts_with("-----") => words,
        _ => said,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: &str, exe: &str, rank: Option<usize>) -> HostInfo {
        HostInfo {
            parlab: version.into(),
            exe: exe.into(),
            mpi: true,
            hostname: "h".into(),
            cpu: "c".into(),
            logical_cpus: 4,
            physical_cores: 2,
            rank,
        }
    }

    #[test]
    fn a_launchers_own_words_come_before_its_boxed_explanation() {
        let said = "ssh: no route\n------\nORTE was unable to reliably start one or more daemons.\n------\n";
        assert_eq!(first_words(said), "ssh: no route");
        let boxed = "------\nORTE was unable\n------";
        assert_eq!(first_words(boxed), boxed);
    }

    #[test]
    fn a_hostfile_names_each_host_once_in_order() {
        let text = "# cluster\nnode-a slots=2\n\n  node-b max_slots=4 # fast\nnode-a\nnode-c:8\n#node-d\n";
        assert_eq!(hostfile_hosts(text), ["node-a", "node-b", "node-c"]);
        assert!(hostfile_hosts("# none\n\n").is_empty());
    }

    #[test]
    fn host_info_lines_are_found_in_a_launchers_output() {
        let here = HostInfo::here();
        assert_eq!(here.parlab, env!("CARGO_PKG_VERSION"));
        assert!(here.logical_cpus >= 1 && !here.hostname.is_empty());
        let a = info("1.0.0", "/opt/parlab", Some(1));
        let output = format!("noise\n{}\n  {}\n{LINE_TAG}{{broken\n", here.line(), a.line());
        assert_eq!(HostInfo::parse_all(&output), [here, a]);
    }

    #[test]
    fn another_version_path_or_a_build_without_mpi_is_named() {
        let own = info("1.0.0", "/opt/parlab", None);
        let at = |info: HostInfo| Answer { host: "node-b".into(), info };
        assert_eq!(differs(&at(own.clone()), &own), None);
        let e = differs(&at(info("0.9.0", "/opt/parlab", None)), &own).unwrap();
        assert!(e.starts_with("host node-b runs parlab 0.9.0 (at /opt/parlab), this is parlab 1.0.0"), "{e}");
        let e = differs(&at(info("1.0.0", "/usr/bin/parlab", None)), &own).unwrap();
        assert!(e.contains("host node-b ran /usr/bin/parlab for /opt/parlab"), "{e}");
        let e = differs(&at(HostInfo { mpi: false, ..own.clone() }), &own).unwrap();
        assert!(e.contains("built without the mpi feature"), "{e}");
    }

    /// A stand-in launcher: a shell script given the launcher's arguments.
    fn launcher(dir: &Path, script: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("launcher");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn every_host_answers_or_the_ones_that_cannot_be_reached_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let hostfile = dir.path().join("hosts");
        std::fs::write(&hostfile, "a slots=1\nb slots=1\n").unwrap();
        let own = info("1.0.0", "/opt/parlab", None);
        let exe = Path::new("/opt/parlab");
        // Answers for both ranks when launched together.
        let two = format!(
            "echo '{}'; echo '{}'",
            info("1.0.0", "/opt/parlab", Some(1)).line(),
            info("1.0.0", "/opt/parlab", Some(0)).line()
        );
        let ok = launcher(dir.path(), &two);
        let answers = check(&[], &ok, &hostfile, exe, &own, PROBE_TIMEOUT).unwrap();
        assert_eq!(
            answers.iter().map(|a| (a.host.as_str(), a.info.rank)).collect::<Vec<_>>(),
            [("a", Some(0)), ("b", Some(1))]
        );
        // Together it fails; alone, host b fails: b is named, a is not.
        let script = format!(
            r#"case "$*" in *--hostfile*) echo 'daemons failed' >&2; exit 1;; *"--host b"*) echo 'ssh: no route' >&2; exit 255;; esac
echo '{}'"#,
            own.line()
        );
        let bad = launcher(dir.path(), &script);
        let e = check(&[], &bad, &hostfile, exe, &own, PROBE_TIMEOUT).unwrap_err();
        assert!(e.starts_with("host b cannot be reached through") && e.contains("ssh: no route"), "{e}");
        assert!(!e.contains("host a"), "{e}");
        // A launcher that hangs is ended at the limit.
        let hung = launcher(dir.path(), "sleep 60");
        let started = Instant::now();
        let e = check(&[], &hung, &hostfile, exe, &own, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("no answer within 300ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(20));
        // srun has no hostfile.
        let srun = dir.path().join("srun");
        std::fs::copy(&ok, &srun).unwrap();
        assert!(check(&[], &srun, &hostfile, exe, &own, PROBE_TIMEOUT)
            .unwrap_err()
            .contains("Slurm allocation"));
    }

    /// The pids a stand-in launcher wrote to `file`, one a line.
    fn pids_in(file: &Path) -> Vec<libc::pid_t> {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether `pid` is gone (or a zombie: dead, not yet reaped by whoever adopted it).
    fn gone(pid: libc::pid_t) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        }
    }

    #[test]
    fn children_left_holding_a_launchers_pipes_do_not_hold_up_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let hostfile = dir.path().join("hosts");
        std::fs::write(&hostfile, "a slots=1\n").unwrap();
        let own = info("1.0.0", "/opt/parlab", None);
        let exe = Path::new("/opt/parlab");
        let limit = Duration::from_millis(300);
        // The launcher answers and exits, leaving a background child with its pipes: the answer
        // counts, and the child (in the launcher's group) is killed.
        let background = dir.path().join("background");
        let script = format!(
            "sleep 30 & echo $! >>{}\necho '{}'",
            background.display(),
            info("1.0.0", "/opt/parlab", Some(0)).line()
        );
        let answers_and_leaves = launcher(dir.path(), &script);
        let started = Instant::now();
        let answers = check(&[], &answers_and_leaves, &hostfile, exe, &own, limit);
        let took = started.elapsed();
        let left = pids_in(&background);
        assert_eq!(left.len(), 1, "{left:?}");
        let killed_by = Instant::now() + Duration::from_secs(2);
        while !gone(left[0]) && Instant::now() < killed_by {
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = gone(left[0]);
        // SAFETY: the pid the stand-in launcher wrote for its own child, in case it is alive.
        unsafe {
            libc::kill(left[0], libc::SIGKILL);
        }
        assert_eq!(answers.unwrap().len(), 1);
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(killed, "the launcher's background child {} outlived the check", left[0]);
        // The launcher hangs, and a child in a session of its own (out of reach of the group
        // kill) holds the pipes: the check still ends at the limit, and a moment.
        let escaped = dir.path().join("escaped");
        let script = format!("setsid sleep 30 & echo $! >>{}\nsleep 60", escaped.display());
        let hangs_and_escapes = launcher(dir.path(), &script);
        let started = Instant::now();
        let e = check(&[], &hangs_and_escapes, &hostfile, exe, &own, limit);
        let took = started.elapsed();
        for pid in pids_in(&escaped) {
            // SAFETY: pids the stand-in launcher wrote for its own children.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let e = e.unwrap_err();
        assert!(e.contains("no answer within 300ms"), "{e}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }

    #[test]
    fn a_hostfile_with_more_hosts_than_a_case_may_have_ranks_is_refused_before_any_launch() {
        let dir = tempfile::tempdir().unwrap();
        let hostfile = dir.path().join("hosts");
        let text: String = (0..5000).map(|i| format!("node-{i} slots=1\n")).collect();
        std::fs::write(&hostfile, text).unwrap();
        let marker = dir.path().join("launched");
        let touches = launcher(dir.path(), &format!("touch {}", marker.display()));
        let own = info("1.0.0", "/opt/parlab", None);
        let started = Instant::now();
        let e = check(&[], &touches, &hostfile, Path::new("/opt/parlab"), &own, PROBE_TIMEOUT).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert!(!marker.exists(), "the launcher was started");
        let limit = crate::limits::MAX_WORKERS;
        assert_eq!(
            e,
            format!(
                "the hostfile `{}` names 5000 hosts, more than the limit of {limit} (the most ranks a case may have)",
                hostfile.display()
            )
        );
    }

    #[test]
    fn a_long_list_of_silent_hosts_is_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let hostfile = dir.path().join("hosts");
        let text: String = (0..20).map(|i| format!("n{i}\n")).collect();
        std::fs::write(&hostfile, text).unwrap();
        let own = info("1.0.0", "/opt/parlab", None);
        let says_nothing = launcher(dir.path(), "true");
        let e =
            check(&[], &says_nothing, &hostfile, Path::new("/opt/parlab"), &own, PROBE_TIMEOUT).unwrap_err();
        assert_eq!(
            e,
            "no answer from n0, n1, n2, n3, n4, n5, n6, n7, … and 12 more (the launcher ran, but their probes said nothing)"
        );
        assert_eq!(some_of(&["a", "b"]), "a, b");
    }
}
