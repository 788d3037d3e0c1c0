//! `process` and `process-shm`: the cookbook's process pool, as strategies of the matrix.
//!
//! Their cases run on backends of the same names ([`crate::backend::process`]): a warm pool of
//! `parlab worker` processes that compute a workload's tasks from a job description, with
//! results copied back over pipes (`process`) or written into shared memory (`process-shm`).
//! A closure cannot cross a process boundary, so they have no executor: they run only the
//! workloads that implement a remote version (`Workload::share` and `Instance::coordinator`).

use super::{ExecConfig, Executor, Family, Strategy, StrategyError};
use crate::subprocess::worker_exe;

pub struct Process;
pub struct ProcessShm;

impl Strategy for Process {
    fn name(&self) -> &'static str {
        "process"
    }
    fn summary(&self) -> &'static str {
        "a warm pool of worker processes; results copied back over pipes in binary frames"
    }
    fn family(&self) -> Family {
        Family::Process
    }
    fn availability(&self) -> Result<(), StrategyError> {
        worker_exe().map(drop).map_err(StrategyError::Unavailable)
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk"]
    }
    fn backend(&self) -> &'static str {
        "process"
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(on_its_backend(self))
    }
}

impl Strategy for ProcessShm {
    fn name(&self) -> &'static str {
        "process-shm"
    }
    fn summary(&self) -> &'static str {
        "the same pool; input and output in shared memory, only control messages on the pipes"
    }
    fn family(&self) -> Family {
        Family::Process
    }
    fn availability(&self) -> Result<(), StrategyError> {
        worker_exe().map(drop).map_err(StrategyError::Unavailable)
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk"]
    }
    fn backend(&self) -> &'static str {
        "process-shm"
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(on_its_backend(self))
    }
}

/// Why a process strategy has no executor: its closures would have to cross a process boundary.
fn on_its_backend(s: &dyn Strategy) -> StrategyError {
    StrategyError::NoExecutor {
        strategy: s.name(),
        backend: s.backend(),
        why: format!(
            "`{}` runs on its backend `{}` (worker processes), not through an executor: closures \
             cannot cross a process boundary",
            s.name(),
            s.backend()
        ),
    }
}
