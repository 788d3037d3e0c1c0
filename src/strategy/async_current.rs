//! `async-current-thread`: tokio's single-threaded event loop, one per worker, each on its own
//! thread and sharing nothing (thread-per-core); with one worker it is the classic event loop.
//! Async workloads split their tasks statically over the loops. A loop has no thread to hand
//! CPU work to, so data-parallel kernels run inline, and workloads that are only CPU work say
//! they have no version for it.

use super::async_tokio::{Runtimes, TokioExecutor};
use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct AsyncCurrentThread;

impl Strategy for AsyncCurrentThread {
    fn name(&self) -> &'static str {
        "async-current-thread"
    }
    fn summary(&self) -> &'static str {
        "one single-threaded tokio event loop per worker, sharing nothing"
    }
    fn family(&self) -> Family {
        Family::Async
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(Box::new(TokioExecutor::new(Runtimes::current_thread(config.workers)?, config)))
    }
}
