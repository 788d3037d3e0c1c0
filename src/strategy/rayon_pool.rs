//! `rayon`: a rayon thread pool of the case's worker count, built once per case (outside the
//! timed region) and kept across samples; work stealing balances the chunks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rayon::prelude::*;

use super::{ExecConfig, Executor, Strategy, StrategyError};

pub struct Rayon;

impl Strategy for Rayon {
    fn name(&self) -> &'static str {
        "rayon"
    }
    fn summary(&self) -> &'static str {
        "rayon work-stealing pool, kept warm across samples"
    }
    fn tunables(&self) -> &'static [&'static str] {
        &["chunk"]
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers)
            .thread_name(|i| format!("parlab-rayon-{i}"))
            .build()
            .map_err(|e| StrategyError::Setup(format!("could not build a rayon pool: {e}")))?;
        Ok(Box::new(Pool { pool, workers: config.workers, cancel: config.cancel.clone() }))
    }
}

struct Pool {
    pool: rayon::ThreadPool,
    workers: usize,
    /// The case's cancellation flag: a cancelled case stops visiting indices.
    cancel: Arc<AtomicBool>,
}

// SAFETY: rayon's `try_for_each` over a range visits each index at most once (all of them
// unless it stops early, which it does only once cancelled) and returns after every visit.
unsafe impl Executor for Pool {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let cancel = &self.cancel;
        // Stops at the next index once cancelled: walking a billion remaining indices as no-ops
        // would keep an abandoned case alive past its grace period.
        self.pool.install(|| {
            let _ = (0..tasks).into_par_iter().try_for_each(|i| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(());
                }
                task(i);
                Ok(())
            });
        });
    }
}
