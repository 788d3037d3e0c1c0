//! `rayon`: a rayon thread pool of the case's worker count, built once per case (outside the
//! timed region) and kept across samples; work stealing balances the chunks.

use rayon::prelude::*;

use super::{ExecConfig, Executor, Strategy};

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
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers)
            .thread_name(|i| format!("parlab-rayon-{i}"))
            .build()
            .map_err(|e| format!("could not build a rayon pool: {e}"))?;
        Ok(Box::new(Pool { pool, workers: config.workers }))
    }
}

struct Pool {
    pool: rayon::ThreadPool,
    workers: usize,
}

// SAFETY: rayon's `for_each` over a range visits each index once and returns after all are done.
unsafe impl Executor for Pool {
    fn workers(&self) -> usize {
        self.workers
    }
    fn task_count(&self, items: usize, grain: usize) -> usize {
        items.div_ceil(grain)
    }
    fn run_tasks(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        self.pool.install(|| (0..tasks).into_par_iter().for_each(task));
    }
}
