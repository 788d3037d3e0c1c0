//! What times a run. The real clock is `Instant`; tests script the durations so the pipeline
//! from samples to reports is checked without real timing (hyperfine's `MockExecutor` idea).

use std::time::Instant;

use crate::scenario::CaseSpec;

pub trait Clock: Send + Sync {
    /// Runs `f` once and returns how long it took, in nanoseconds.
    fn measure(&self, case: &CaseSpec, sample: usize, f: &mut dyn FnMut()) -> u64;
}

/// Wall-clock time from the monotonic clock.
pub struct RealClock;

impl Clock for RealClock {
    #[inline]
    fn measure(&self, _: &CaseSpec, _: usize, f: &mut dyn FnMut()) -> u64 {
        let start = Instant::now();
        f();
        start.elapsed().as_nanos() as u64
    }
}

/// Runs the kernel for real but reports durations from a function of the case and sample
/// number, so statistics, speedups and reports are exactly predictable.
pub struct ScriptedClock<F>(pub F);

impl<F: Fn(&CaseSpec, usize) -> u64 + Send + Sync> Clock for ScriptedClock<F> {
    fn measure(&self, case: &CaseSpec, sample: usize, f: &mut dyn FnMut()) -> u64 {
        f();
        (self.0)(case, sample)
    }
}
