//! The MPI probe of `parlab detect` (`mpi` builds): the library's version
//! (`MPI_Get_library_version`) and the launcher on `PATH`, each asked of a child process with a
//! time limit, so that the harness itself never loads MPI's runtime into its own state and a
//! hung program cannot hang it: one still running at the limit is killed with its process group.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Machine;
use crate::subprocess::{describe_exit, find_on_path, worker_exe};

/// How long one probe's program may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The flag of `parlab mpi-worker` that prints the MPI library's version and exits.
pub const LIBRARY_VERSION_FLAG: &str = "--library-version";

/// `parlab mpi-worker --library-version`: prints `MPI_Get_library_version`'s text, which the
/// standard lets a program ask before `MPI_Init`, so nothing of MPI is started.
#[cfg(feature = "mpi")]
pub fn print_library_version() -> std::process::ExitCode {
    match mpi::environment::library_version() {
        Ok(version) => {
            println!("{}", version.trim_end_matches('\0').trim());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: the MPI library's version is not UTF-8: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Runs the MPI probe into `m` when this build has MPI: `m.mpi` names the library and the
/// launcher found, and `"mpi"` joins `m.probed`; what failed goes to `m.notes`.
pub fn probe(m: &mut Machine) {
    if crate::subprocess::mpi_built().is_err() {
        return;
    }
    m.probed.push("mpi".into());
    let mut found = Vec::new();
    let library =
        worker_exe().and_then(|exe| first_line(&exe, &["mpi-worker", LIBRARY_VERSION_FLAG], PROBE_TIMEOUT));
    match library {
        Ok(version) => found.push(version),
        Err(e) => m.notes.push(format!("the MPI library's version could not be read: {e}")),
    }
    match find_on_path("mpirun") {
        Some(launcher) => match first_line(&launcher, &["--version"], PROBE_TIMEOUT) {
            Ok(version) => found.push(format!("launcher {} ({version})", launcher.display())),
            Err(e) => {
                found.push(format!("launcher {}", launcher.display()));
                m.notes.push(format!("`{} --version` failed: {e}", launcher.display()));
            }
        },
        None => m.notes.push("no MPI launcher (mpirun) on PATH".into()),
    }
    if !found.is_empty() {
        m.mpi = Some(found.join("; "));
    }
}

/// The first non-empty line `program args` writes on stdout, if it exits successfully within
/// `limit`; a program still running then is killed with its process group.
pub fn first_line(program: &Path, args: &[&str], limit: Duration) -> Result<String, String> {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).process_group(0);
    crate::subprocess::die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let group = child.id() as libc::pid_t;
    // Read on a thread so that a child filling the pipe is never blocked by the wait below.
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.by_ref().take(64 << 10).read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => break Err(format!("still running after {}", humantime::format_duration(limit))),
            Err(e) => break Err(format!("cannot wait for it: {e}")),
        }
    };
    if status.is_err() {
        // Still running, and not yet reaped, so its pid (the group's id) cannot have been
        // reused: the whole group goes, so nothing the program started outlives the probe.
        // SAFETY: a signal to the process group this function created.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = child.wait();
    }
    let status = status?;
    let text = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(describe_exit(status));
    }
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '\0'))
        .find(|l| !l.is_empty());
    line.map(str::to_string).ok_or_else(|| "it said nothing".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_read_killed_at_the_limit_or_its_failure_said() {
        let sh = Path::new("/bin/sh");
        assert_eq!(
            first_line(sh, &["-c", "echo; echo '  two  '; echo three"], PROBE_TIMEOUT),
            Ok("two".into())
        );
        let started = Instant::now();
        let hung = first_line(sh, &["-c", "sleep 30 & wait"], Duration::from_millis(200));
        assert!(hung.unwrap_err().contains("still running"), "killed at the limit");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(first_line(sh, &["-c", "exit 3"], PROBE_TIMEOUT), Err("exit code 3".into()));
    }

    #[test]
    fn the_probe_runs_only_with_mpi_built_in() {
        let mut m = crate::machine::Machine::from_root(Path::new("/nonexistent"));
        probe(&mut m);
        let said = m.describe_probe(crate::machine::Probe::Mpi);
        if cfg!(feature = "mpi") {
            assert!(m.probed.iter().any(|p| p == "mpi"));
            assert!(m.mpi.is_some() || said == "none found", "{said}");
        } else {
            assert_eq!(said, "not probed (built without the mpi feature)");
        }
    }
}
