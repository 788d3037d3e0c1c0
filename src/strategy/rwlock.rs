//! `rwlock`: the shared state behind a `std::sync::RwLock`. Readers share the lock and writers
//! exclude everyone, so it pays only where reads dominate; on an update-only workload such as
//! `histogram` every access takes the write lock, which shows what the extra bookkeeping costs
//! over a plain `mutex`.

use super::worker_threads::WorkerThreads;
use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct RwLockShared;

impl Strategy for RwLockShared {
    fn name(&self) -> &'static str {
        "rwlock"
    }
    fn summary(&self) -> &'static str {
        "one std RwLock around the shared state: readers share it, writers exclude"
    }
    fn family(&self) -> Family {
        Family::SharedState
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(WorkerThreads::boxed(config))
    }
}
