//! Backends: where a case's runs happen.
//!
//! The runner decides *when* (warm-up, batch size, how many samples, its stopping rule); a
//! backend decides *where*. It turns one case into a [`Session`] that runs the kernel when told
//! to and answers with a [`Sample`], and checks the output when asked:
//! - [`in_process`]: on threads of this process, through the strategy's `Exec` (every strategy
//!   but the process ones);
//! - [`process`]: a warm pool of `parlab worker` processes that compute the workload's tasks
//!   from a job description ([`crate::remote`]), gathered here (`process`, `process-shm`);
//! - [`protocol`]: a whole case in a child program speaking JSON lines (`docs/case-protocol.md`),
//!   the way external programs are run; the test backends `test-phases` (reports phases) and
//!   `test-orphan` (leaves a grandchild behind) run parlab's own `case-program` on it
//!   (`testing`, `fault-injection` builds only).
//!
//! - [`mpi`]: MPI ranks, one `mpirun` job per case running `parlab mpi-worker`
//!   ([`mpi_worker`], `mpi` builds), driven over the case protocol through rank 0.
//!
//! - [`opencl`]: an OpenCL device (`opencl` builds); each sample's phases are the transfers
//!   and the kernel's device time.
//! - [`cuda`]: an NVIDIA GPU through the CUDA driver (`cuda` builds), with the same phases.
//!
//! External programs and task-queue workers are each one more backend: they
//! start their processes with the case's marker ([`CaseJob::marker`]), prepare their own input
//! from the case's spec, run as the session is told, and send back samples (with phases) and a
//! result. The runner finds any process a backend left behind by that marker.
//!
//! A strategy names its backend ([`crate::strategy::Strategy::backend`]); [`find`] looks it up
//! in the static registry [`BACKENDS`].

pub mod device_rules;
pub mod protocol;
#[cfg(any(test, feature = "fault-injection"))]
pub mod testing;

use std::borrow::Cow;
use std::sync::Arc;

use crate::clock::Clock;
use crate::results::{Host, Placement};
use crate::scenario::{CaseSpec, MpiSettings, Plan};
use crate::strategy::{ExecConfig, Strategy};
use crate::workload::{Instance, Params, Verification};

pub mod cuda;
pub mod in_process;
pub mod mpi;
#[cfg(feature = "mpi")]
pub mod mpi_coll;
#[cfg(feature = "mpi")]
pub mod mpi_p2p;
#[cfg(feature = "mpi")]
pub mod mpi_worker;
pub mod opencl;
pub mod process;

/// Why a backend could not start or run a case. The runner shows it as the case's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot run on this machine or build (no binary, no runtime).
    #[error("{0}")]
    Unavailable(String),
    /// Starting the case failed (the executor, the processes, their handshake).
    #[error("could not set up `{what}`: {why}")]
    Setup { what: String, why: String },
    /// A process the case runs in failed or died; the text says which and why.
    #[error("{0}")]
    Failed(String),
    /// A process answered something the protocol does not allow.
    #[error("broke the protocol: {0}")]
    Protocol(String),
    /// The case's cancellation flag was set (timeout, Ctrl-C).
    #[error("the case was cancelled")]
    Cancelled,
    /// Found as the case starts: the device it was planned for is not here, or none matched the
    /// scenario's `device` selector. The runner records the case as `unavailable`.
    #[error("{0}")]
    NoDevice(String),
    /// Found as the case starts: its device cannot compute the kernel (no fp64 for an f64
    /// kernel). The runner records the case as `unsupported`.
    #[error("{0}")]
    Unsupported(String),
}

/// The environment variable that carries a case's marker into every process its backend starts
/// (beside the run's own [`crate::marker::ENV`]).
pub const CASE_MARKER_ENV: &str = "PARLAB_CASE_MARKER";

/// Everything a backend gets to start one case.
pub struct CaseJob<'a> {
    pub spec: &'a CaseSpec,
    /// The workload's validated parameters and the input seed: what a process elsewhere needs
    /// to prepare the same input.
    pub params: &'a Params,
    pub seed: u64,
    pub strategy: &'static dyn Strategy,
    /// Workers, tunables and the cancellation flag.
    pub config: ExecConfig,
    /// The input prepared in this process (not timed): the in-process backend runs on it,
    /// coordinating backends gather into outputs made from it and verify against it.
    pub instance: &'a dyn Instance,
    /// Times runs made in this process (scripted in tests). Backends whose runs are timed
    /// elsewhere report their own clock's readings.
    pub clock: Arc<dyn Clock>,
    /// `(CASE_MARKER_ENV, value)`: set on every process the backend starts, so that any left
    /// behind is found and ended when the case ends.
    pub marker: (&'static str, String),
    /// The plan's `[mpi]` section: how the `mpi` backend starts the case's ranks.
    pub mpi: MpiSettings,
}

/// One timed sample: `runs` runs back to back, as the runner asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Nanoseconds for all the runs together.
    pub ns: u64,
    /// Named phases of those runs (totals over the runs, nanoseconds): disjoint intervals
    /// measured on the same clock as `ns`, whose sum is at most `ns`. The runner reports the
    /// remainder as `other`. Empty when the backend does not break its runs down.
    pub phases: Vec<(Cow<'static, str>, u64)>,
    /// Per-item latencies (a message's or a queue item's own time, nanoseconds), where items
    /// overlap: a distribution, never summed into the phases.
    pub items_ns: Vec<f64>,
    /// Where the runs ran on several ranks and `ns` is the slowest rank's time (MPI): the mean
    /// of every rank's own time for the same runs, what OSU reports as the average beside the
    /// maximum. At most `ns`. `None` for one process.
    pub rank_mean_ns: Option<u64>,
}

/// One case started by a backend: runs as the runner directs, then verifies.
pub trait Session {
    /// Nanoseconds starting the case took (pools, processes, handshakes): outside every sample.
    fn setup_ns(&self) -> u64;
    /// Runs the kernel `runs` times back to back and times them as one sample; `index` is the
    /// sample's number for scripted clocks (`usize::MAX` for warm-up runs).
    fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError>;
    /// Checks the last run's output against the sequential reference, then a fresh output from
    /// one more untimed run (a kernel that skips work must not pass on what earlier runs left).
    fn verify(&mut self) -> Result<Verification, BackendError>;
    /// The fewest runs each sample must time back to back, whatever the runner's own clock
    /// rule says: a device backend whose kernels are shorter than 100 launch latencies asks for
    /// batches, so that a sample's time (and each phase, summed over its runs) is not mostly the
    /// launches'. The runner takes the larger of this and its own batch, and divides every
    /// sample and phase by it.
    fn min_batch(&self) -> u64 {
        1
    }
    /// The instruction set the kernel reported for its runs.
    fn isa(&self) -> Option<&str> {
        None
    }
    /// Where each worker or rank ran, for the results (empty: all on this host, in this process).
    fn placement(&self) -> Vec<Placement> {
        Vec::new()
    }
    /// What a reader of the results should know about how the case ran (how its processes were
    /// started): the runner adds these to the case's notes, whatever its outcome.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// What the backend learned while the case ran that a reader must see (a device's clock at
    /// the end, a bandwidth derived from the kernel phases): asked once, after verification, and
    /// added to the case's notes.
    fn end_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// The hosts the placement names, as the processes there described them; the runner adds
    /// those it did not know to [`crate::results::Results::hosts`]. Empty: this host only.
    fn hosts(&self) -> Vec<Host> {
        Vec::new()
    }
}

/// A way of running cases: a registry entry.
pub trait Backend: Sync + 'static {
    fn name(&self) -> &'static str;
    /// One line for `parlab list` and the docs.
    fn summary(&self) -> &'static str;
    /// `Err` when this machine or build cannot run it at all (the case is `unavailable`).
    fn availability(&self) -> Result<(), BackendError> {
        Ok(())
    }
    /// `Err` when this machine or build cannot run the plan's cases (a launcher the plan names
    /// that is not here); by default, [`Backend::availability`].
    fn availability_in(&self, _plan: &Plan) -> Result<(), BackendError> {
        self.availability()
    }
    /// Starts one case; not timed (its cost is [`Session::setup_ns`]).
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError>;
    /// How a case of `workers` workers is launched under the plan's `mpi` settings, as far as it
    /// changes what is measured (the launcher, its arguments, the binding; not the markers or
    /// the path it was found at): part of the case's identity ([`crate::identity`]), so that
    /// runs launched differently are not compared as one case. Decided by the plan, not by how
    /// the case went: a case that timed out while starting is still the same case as the one
    /// that ran. `None`: nothing is launched beyond what the strategy says.
    fn launch(&self, _mpi: &MpiSettings, _workers: usize) -> Option<String> {
        None
    }
}

impl std::fmt::Debug for dyn Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every backend, by the name strategies give in [`crate::strategy::Strategy::backend`].
pub static BACKENDS: &[&dyn Backend] = &[
    &in_process::InProcess,
    &process::Process,
    &process::ProcessShm,
    &mpi::Mpi,
    &opencl::OpenClBackend,
    &cuda::CudaBackend,
];

/// Backends that exist only to test the harness (`test-phases`, `test-orphan`); never listed.
#[cfg(any(test, feature = "fault-injection"))]
pub static TESTING: &[&dyn Backend] = &[&testing::TEST_PHASES, &testing::TEST_ORPHAN];
#[cfg(not(any(test, feature = "fault-injection")))]
pub static TESTING: &[&dyn Backend] = &[];

/// Looks a backend up by name, including test-only ones where compiled in.
pub fn find(name: &str) -> Option<&'static dyn Backend> {
    BACKENDS.iter().chain(TESTING).copied().find(|b| b.name() == name)
}
