//! The `mpi` backend: a case's runs on MPI ranks, one `mpirun` job per case.
//!
//! Always compiled, so that a build without MPI can say why its `mpi` cases are unavailable
//! (`built without the mpi feature`), and one with it where there is no launcher (`mpirun not
//! found`). [`Mpi::start`] launches `mpirun -n P parlab mpi-worker` ([`super::mpi_worker`]) and
//! talks to the job over the case protocol ([`super::protocol`]): mpirun forwards its stdin to
//! rank 0 and every rank's stdout to its own, and only rank 0 writes protocol lines. Spawning
//! the job until its `ready` is the session's setup (the launch cost), outside every sample.
//!
//! A job still running when its session ends (a timeout) is sent SIGTERM first: mpirun then
//! ends its ranks, which run outside its process group.
//!
//! Ranks are bound to cores only when they fit (`--bind-to core`); more ranks than logical CPUs
//! run `--oversubscribe --bind-to none`. Each rank's placement records the CPUs it was allowed,
//! which shows the binding taken.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::protocol::{self, ProtocolSession, Waits};
use super::{Backend, BackendError, CaseJob, Sample, Session, CASE_MARKER_ENV};
use crate::results::{Host, Placement};
use crate::scenario::{Launcher, MpiSettings, Plan};
use crate::subprocess::{mpi_launcher, worker_exe};
use crate::workload::Verification;

/// The hidden subcommand every rank runs.
pub const SUBCOMMAND: &str = "mpi-worker";

pub struct Mpi;

/// How `ranks` ranks are placed on a machine with `cpus` logical CPUs: bound one to a core when
/// they fit, else all free to move (binding more ranks than cores would stack them).
pub fn binding_args(ranks: usize, cpus: usize) -> &'static [&'static str] {
    if ranks <= cpus {
        &["--bind-to", "core"]
    } else {
        &["--oversubscribe", "--bind-to", "none"]
    }
}

/// The launcher's arguments before the worker program, as `[mpi]` asks: the user's own first,
/// then the rank count and, for `mpirun` and `mpiexec`, the binding, the hostfile and a `-x` per
/// marker variable (which mpirun passes on only when told; `run_marker`: whether this run has
/// one); `srun` passes the whole environment (`--export=ALL`), markers included. Names only:
/// the markers' values travel in the environment, never on the command line.
pub fn launcher_args(settings: &MpiSettings, ranks: usize, cpus: usize, run_marker: bool) -> Vec<String> {
    let mut args = settings.args.clone();
    args.push("-n".into());
    args.push(ranks.to_string());
    match settings.launcher {
        Launcher::Mpirun | Launcher::Mpiexec => {
            args.extend(binding_args(ranks, cpus).iter().map(|a| a.to_string()));
            if let Some(file) = &settings.hostfile {
                args.push("--hostfile".into());
                args.push(file.display().to_string());
            }
            args.push("-x".into());
            args.push(CASE_MARKER_ENV.into());
            if run_marker {
                args.push("-x".into());
                args.push(crate::marker::ENV.into());
            }
        }
        Launcher::Srun => args.push("--export=ALL".into()),
    }
    args
}

/// How a case's ranks were launched, as far as that changes what they measure: the launcher's
/// name, the user's arguments, the binding and the hostfile (by name and a hash of what it
/// says, so that a copy of a scenario in another folder still names the same launch). Not the
/// rank count (the case's `workers`), the markers or where the launcher was found. The case's
/// [`Session::launch`], part of its identity: a case launched with `srun` is not the one
/// launched with `mpirun`, nor one bound to cores the one oversubscribed.
pub fn launch(settings: &MpiSettings, ranks: usize, cpus: usize) -> String {
    let mut words = vec![settings.launcher.program().to_string()];
    words.extend(settings.args.iter().cloned());
    if matches!(settings.launcher, Launcher::Mpirun | Launcher::Mpiexec) {
        words.extend(binding_args(ranks, cpus).iter().map(|a| a.to_string()));
        if let Some(file) = &settings.hostfile {
            let name =
                file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into());
            words.push("--hostfile".into());
            // Unreadable now (it was readable when the scenario was read): the name alone.
            words.push(match std::fs::read(file) {
                Ok(bytes) => format!("{name}#{:08x}", fnv1a(&bytes) as u32),
                Err(_) => name,
            });
        }
    }
    words.join(" ")
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The command line a case's ranks were started with, as its notes record it.
pub fn launch_note(program: &Path, args: &[String]) -> String {
    format!("ranks started by `{} {} parlab {SUBCOMMAND}`", program.display(), args.join(" "))
}

/// The launcher `settings` names, found on `PATH`, or why it cannot be used.
fn launcher(settings: &MpiSettings) -> Result<std::path::PathBuf, BackendError> {
    mpi_launcher(settings.launcher.program()).map_err(BackendError::Unavailable)
}

impl Backend for Mpi {
    fn name(&self) -> &'static str {
        "mpi"
    }
    fn summary(&self) -> &'static str {
        "MPI ranks in one launcher job (`mpirun`, `mpiexec`, `srun`) per case, driven over the case protocol through rank 0"
    }
    fn availability(&self) -> Result<(), BackendError> {
        launcher(&MpiSettings::default()).map(drop)
    }
    fn availability_in(&self, plan: &Plan) -> Result<(), BackendError> {
        launcher(&plan.mpi).map(drop)
    }
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let program = launcher(&job.mpi)?;
        let exe = worker_exe().map_err(BackendError::Unavailable)?;
        let ranks = job.spec.workers.max(1);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let run_marker = std::env::var_os(crate::marker::ENV).is_some();
        let args = launcher_args(&job.mpi, ranks, cpus, run_marker);
        let mut command = Command::new(&program);
        command.args(&args).arg(&exe).arg(SUBCOMMAND);
        let note = launch_note(&program, &args);
        let launch = launch(&job.mpi, ranks, cpus);
        let what = format!("`{} -n {ranks} parlab {SUBCOMMAND}`", job.mpi.launcher.program());
        // MPI_Finalize and the launcher's own teardown take longer than a plain program's exit.
        // The ranks run in process groups of their own: a job still running when the case ends
        // (cancelled, timed out) gets a SIGTERM, on which the launcher ends its ranks, before
        // the group's SIGKILL, which would leave them behind.
        let waits = Waits { exit: Duration::from_secs(5), term: Duration::from_secs(5), ..Waits::default() };
        let inner = protocol::start(command, what, &job, waits)?;
        Ok(Box::new(MpiSession { inner, note, launch }))
    }
}

/// A protocol session that also says how its ranks were started.
struct MpiSession {
    inner: ProtocolSession,
    note: String,
    launch: String,
}

impl Session for MpiSession {
    fn setup_ns(&self) -> u64 {
        self.inner.setup_ns()
    }
    fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError> {
        self.inner.sample(index, runs)
    }
    fn verify(&mut self) -> Result<Verification, BackendError> {
        self.inner.verify()
    }
    fn isa(&self) -> Option<&str> {
        self.inner.isa()
    }
    fn placement(&self) -> Vec<Placement> {
        self.inner.placement()
    }
    fn hosts(&self) -> Vec<Host> {
        self.inner.hosts()
    }
    fn notes(&self) -> Vec<String> {
        vec![self.note.clone()]
    }
    fn launch(&self) -> Option<String> {
        Some(self.launch.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_bound_only_when_they_fit() {
        assert_eq!(binding_args(2, 2), ["--bind-to", "core"]);
        assert_eq!(binding_args(1, 4), ["--bind-to", "core"]);
        assert_eq!(binding_args(3, 2), ["--oversubscribe", "--bind-to", "none"]);
    }

    #[test]
    fn mpirun_and_mpiexec_get_binding_hostfile_and_markers_srun_the_environment() {
        let hostfile = std::path::PathBuf::from("/h/hosts");
        let mut settings = MpiSettings {
            launcher: Launcher::Mpiexec,
            args: vec!["--mca".into(), "btl".into(), "self,vader".into()],
            hostfile: Some(hostfile),
        };
        let args = launcher_args(&settings, 2, 4, true);
        let want = "--mca btl self,vader -n 2 --bind-to core --hostfile /h/hosts -x PARLAB_CASE_MARKER -x PARLAB_RUN_MARKER";
        assert_eq!(args.join(" "), want);
        assert_eq!(
            launch_note(Path::new("/usr/bin/mpiexec"), &args),
            format!("ranks started by `/usr/bin/mpiexec {want} parlab mpi-worker`")
        );
        settings.hostfile = None;
        assert_eq!(
            launcher_args(&settings, 3, 2, false).join(" "),
            "--mca btl self,vader -n 3 --oversubscribe --bind-to none -x PARLAB_CASE_MARKER"
        );
        let srun =
            MpiSettings { launcher: Launcher::Srun, args: vec!["-p".into(), "short".into()], hostfile: None };
        assert_eq!(launcher_args(&srun, 4, 2, true), ["-p", "short", "-n", "4", "--export=ALL"]);
    }

    #[test]
    fn the_launch_names_what_changes_the_measurement_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "localhost slots=2\n").unwrap();
        let mut settings = MpiSettings {
            launcher: Launcher::Mpirun,
            args: vec!["--mca".into(), "btl".into(), "self,vader".into()],
            hostfile: Some(hosts.clone()),
        };
        let bound = launch(&settings, 2, 4);
        assert!(bound.starts_with("mpirun --mca btl self,vader --bind-to core --hostfile hosts#"), "{bound}");
        assert!(!bound.contains("-n ") && !bound.contains("PARLAB"), "{bound}");
        assert_eq!(launch(&settings, 4, 4), bound, "the rank count is the case's workers, not its launch");
        let oversubscribed = launch(&settings, 3, 2);
        assert!(oversubscribed.contains("--oversubscribe --bind-to none"), "{oversubscribed}");
        // The same hosts in another folder are the same launch; other hosts are not.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("hosts"), "localhost slots=2\n").unwrap();
        let moved = MpiSettings { hostfile: Some(elsewhere.path().join("hosts")), ..settings.clone() };
        assert_eq!(launch(&moved, 2, 4), bound);
        std::fs::write(&hosts, "node1 slots=2\n").unwrap();
        assert_ne!(launch(&settings, 2, 4), bound);
        settings.hostfile = None;
        assert_eq!(launch(&settings, 2, 4), "mpirun --mca btl self,vader --bind-to core");
        settings.launcher = Launcher::Mpiexec;
        assert_eq!(launch(&settings, 2, 4), "mpiexec --mca btl self,vader --bind-to core");
        let srun =
            MpiSettings { launcher: Launcher::Srun, args: vec!["-p".into(), "short".into()], hostfile: None };
        assert_eq!(launch(&srun, 2, 4), "srun -p short");
        assert_eq!(launch(&MpiSettings::default(), 1, 1), "mpirun --bind-to core");
    }

    #[test]
    fn availability_says_why_not() {
        let said = Mpi.availability().map_err(|e| e.to_string());
        match (cfg!(feature = "mpi"), crate::subprocess::find_on_path("mpirun")) {
            (false, _) => assert_eq!(said, Err("built without the mpi feature".into())),
            (true, None) => assert_eq!(said, Err("mpirun not found".into())),
            (true, Some(_)) => assert_eq!(said, Ok(())),
        }
        // The plan's launcher decides: one that is nowhere is said by name.
        let plan = Plan {
            name: "t".into(),
            description: String::new(),
            source: "t.toml".into(),
            strategy_params: Default::default(),
            workloads: Vec::new(),
            mpi: MpiSettings { launcher: Launcher::Srun, ..MpiSettings::default() },
        };
        let said = Mpi.availability_in(&plan).map_err(|e| e.to_string());
        match (cfg!(feature = "mpi"), crate::subprocess::find_on_path("srun")) {
            (false, _) => assert_eq!(said, Err("built without the mpi feature".into())),
            (true, None) => assert_eq!(said, Err("srun not found".into())),
            (true, Some(_)) => assert_eq!(said, Ok(())),
        }
    }
}
