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

use std::process::Command;
use std::time::Duration;

use super::protocol::{self, Waits};
use super::{Backend, BackendError, CaseJob, Session, CASE_MARKER_ENV};
use crate::subprocess::{mpi_launcher, worker_exe};

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

impl Backend for Mpi {
    fn name(&self) -> &'static str {
        "mpi"
    }
    fn summary(&self) -> &'static str {
        "MPI ranks in one `mpirun` job per case, driven over the case protocol through rank 0"
    }
    fn availability(&self) -> Result<(), BackendError> {
        mpi_launcher().map(drop).map_err(BackendError::Unavailable)
    }
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let launcher = mpi_launcher().map_err(BackendError::Unavailable)?;
        let exe = worker_exe().map_err(BackendError::Unavailable)?;
        let ranks = job.spec.workers.max(1);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let binding = binding_args(ranks, cpus);
        let mut command = Command::new(&launcher);
        command.arg("-n").arg(ranks.to_string()).args(binding);
        // mpirun passes on only the environment it is told to: the markers must reach every
        // rank, so that a rank left behind is found by them.
        command.args(["-x", CASE_MARKER_ENV]);
        if std::env::var_os(crate::marker::ENV).is_some() {
            command.args(["-x", crate::marker::ENV]);
        }
        command.arg(&exe).arg(SUBCOMMAND);
        let what = format!("`mpirun -n {ranks} {} parlab {SUBCOMMAND}`", binding.join(" "));
        // MPI_Finalize and mpirun's own teardown take longer than a plain program's exit. The
        // ranks run in process groups of their own: a job still running when the case ends
        // (cancelled, timed out) gets a SIGTERM, on which mpirun ends its ranks, before the
        // group's SIGKILL, which would leave them behind.
        let waits = Waits { exit: Duration::from_secs(5), term: Duration::from_secs(5), ..Waits::default() };
        let session = protocol::start(command, what, &job, waits)?;
        Ok(Box::new(session))
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
    fn availability_says_why_not() {
        let said = Mpi.availability().map_err(|e| e.to_string());
        match (cfg!(feature = "mpi"), crate::subprocess::find_on_path("mpirun")) {
            (false, _) => assert_eq!(said, Err("built without the mpi feature".into())),
            (true, None) => assert_eq!(said, Err("mpirun not found".into())),
            (true, Some(_)) => assert_eq!(said, Ok(())),
        }
    }
}
