//! `mpi`: the case's work split over MPI ranks, one job of `workers` ranks started by the
//! scenario's `[mpi] launcher`.
//!
//! Its cases run on the `mpi` backend ([`crate::backend::mpi`]): every rank computes its block
//! of the work and the blocks are combined by a collective. A closure cannot cross into another
//! process, so it has no executor: it runs only the workloads that write a rank's share
//! (`Workload::rank_share`). For these strategies a scenario's `workers` is the rank count; the
//! scenario's `[mpi]` section picks the launcher, whose absence the backend reports.
//!
//! `mpi-nonblocking` is the same backend with the neighbours' messages started without
//! waiting and overlapped with computation; only workloads that exchange halos have it
//! (`stencil_heat`).

use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct Mpi;

/// MPI ranks whose point-to-point messages overlap computation (`isend`/`irecv`, then a wait).
pub struct MpiNonblocking;

impl Strategy for MpiNonblocking {
    fn name(&self) -> &'static str {
        "mpi-nonblocking"
    }
    fn summary(&self) -> &'static str {
        "MPI ranks exchanging halos with isend/irecv while they compute their interior"
    }
    fn family(&self) -> Family {
        Family::Mpi
    }
    fn availability(&self) -> Result<(), StrategyError> {
        Mpi.availability()
    }
    fn backend(&self) -> &'static str {
        Mpi.backend()
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(StrategyError::NoExecutor {
            strategy: self.name(),
            backend: self.backend(),
            why:
                "`mpi-nonblocking` runs its cases as MPI ranks on the `mpi` backend, not on an executor here"
                    .into(),
        })
    }
}

impl Strategy for Mpi {
    fn name(&self) -> &'static str {
        "mpi"
    }
    fn summary(&self) -> &'static str {
        "MPI ranks started by the `[mpi]` launcher (mpirun by default); each computes its block and the ranks combine or exchange"
    }
    fn family(&self) -> Family {
        Family::Mpi
    }
    fn availability(&self) -> Result<(), StrategyError> {
        // The launcher is the plan's (`[mpi] launcher`): the backend checks that it is here.
        crate::subprocess::mpi_built().map_err(StrategyError::Unavailable)
    }
    fn backend(&self) -> &'static str {
        "mpi"
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(StrategyError::NoExecutor {
            strategy: self.name(),
            backend: self.backend(),
            why: "`mpi` runs its cases as MPI ranks on the `mpi` backend, not on an executor here".into(),
        })
    }
}

/// `mpi`, for tests of the workloads' rank shares.
#[cfg(test)]
pub fn mpi() -> &'static dyn Strategy {
    &Mpi
}

/// `mpi-nonblocking`, for tests of the workloads' rank shares.
#[cfg(test)]
pub fn mpi_nonblocking() -> &'static dyn Strategy {
    &MpiNonblocking
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_has_no_executor_and_says_why_it_is_unavailable() {
        let config = ExecConfig { workers: 2, params: Default::default(), cancel: Default::default() };
        for strategy in [&Mpi as &dyn Strategy, &MpiNonblocking] {
            let e = strategy.executor(&config).err().expect("no executor").to_string();
            assert!(e.contains("`mpi` backend"), "{e}");
            assert_eq!((strategy.family(), strategy.backend()), (Family::Mpi, "mpi"));
            let said = strategy.availability().map_err(|e| e.to_string());
            if cfg!(feature = "mpi") {
                assert_eq!(said, Ok(()));
            } else {
                assert_eq!(said, Err("built without the mpi feature".into()));
            }
        }
    }
}
