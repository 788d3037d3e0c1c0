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
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::subprocess::{describe_exit, tail};

/// How long one launch of the probes may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// The hidden `detect` flag that prints this host's [`HostInfo`] line.
pub const HOST_INFO_FLAG: &str = "--host-info";
/// What starts a [`HostInfo`] line, so that it stands out in a launcher's output.
const LINE_TAG: &str = "parlab-host-info ";
/// How long a launch sent SIGTERM at its limit has to end its daemons before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
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
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some(word) = line.split_whitespace().next() else { continue };
        let name = word.split(':').next().unwrap_or(word).to_string();
        if !name.is_empty() && !hosts.contains(&name) {
            hosts.push(name);
        }
    }
    hosts
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
                    silent.join(", ")
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

/// Runs `program args` within `limit`: its stdout, or why it failed (its exit and the end of
/// its stderr). At the limit: SIGTERM, a moment, then SIGKILL to its whole process group.
fn launch(program: &Path, args: &[String], limit: Duration) -> Result<String, String> {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    crate::subprocess::die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let group = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    // Read on threads so that a launcher filling a pipe is never blocked by the wait below.
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.by_ref().take(1 << 20).read_to_end(&mut text);
        text
    });
    let err = std::thread::spawn(move || tail(stderr, 2048));
    let mut deadline = Instant::now() + limit;
    let mut termed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) if !termed => {
                // SAFETY: a signal to the process group this function created, whose leader is
                // not yet reaped (so its id cannot have been reused).
                unsafe {
                    libc::kill(-group, libc::SIGTERM);
                }
                termed = true;
                deadline = Instant::now() + TERM_GRACE;
            }
            Ok(None) => break Err(format!("no answer within {}", humantime::format_duration(limit))),
            Err(e) => break Err(format!("cannot wait for it: {e}")),
        }
    };
    if status.is_err() || termed {
        // SAFETY: as above; whatever of the group is left goes.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = child.wait();
    }
    let said = err.join().unwrap_or_default();
    let said = first_words(&said);
    let status = status?;
    let out = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
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
    Ok(out)
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
}
