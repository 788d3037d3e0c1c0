//! `mutex`: the cookbook's lock recipe. Workers update one shared structure behind a
//! `std::sync::Mutex`, taking the lock for every update, so the measurement is the price of
//! sharing: uncontended lock cost at one worker, cache-line ping-pong and waiting beyond.
//!
//! The executor is one scoped thread per worker; what the lock protects is the workload's
//! business (see `histogram`).

use super::worker_threads::WorkerThreads;
use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct MutexShared;

impl Strategy for MutexShared {
    fn name(&self) -> &'static str {
        "mutex"
    }
    fn summary(&self) -> &'static str {
        "one std Mutex around the shared state, locked for every update"
    }
    fn family(&self) -> Family {
        Family::SharedState
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(WorkerThreads::boxed(config))
    }
}
