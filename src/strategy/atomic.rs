//! `atomic`: lock-free shared state. Every update is one atomic read-modify-write (e.g.
//! `fetch_add`), so nobody waits for a lock, but workers that hit the same cache line still
//! serialise on it: contention moves from the lock into the cache-coherence protocol.

use super::worker_threads::WorkerThreads;
use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct AtomicShared;

impl Strategy for AtomicShared {
    fn name(&self) -> &'static str {
        "atomic"
    }
    fn summary(&self) -> &'static str {
        "lock-free shared state: one atomic read-modify-write per update"
    }
    fn family(&self) -> Family {
        Family::SharedState
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(WorkerThreads::boxed(config))
    }
}
