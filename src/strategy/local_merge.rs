//! `local-merge`: share nothing while working. Each worker updates its own private copy of the
//! state and the copies are merged once at the end (a reduction), so the cost of sharing is
//! paid once per worker instead of once per update. The usual winner; the price is memory
//! (one copy per worker) and a merge that grows with the state's size.

use super::worker_threads::WorkerThreads;
use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct LocalMerge;

impl Strategy for LocalMerge {
    fn name(&self) -> &'static str {
        "local-merge"
    }
    fn summary(&self) -> &'static str {
        "per-worker private state, merged once at the end"
    }
    fn family(&self) -> Family {
        Family::SharedState
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(WorkerThreads::boxed(config))
    }
}
