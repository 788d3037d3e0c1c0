//! What times a run. The real clock is `Instant`; tests script the durations so the pipeline
//! from samples to reports is checked without real timing (hyperfine's `MockExecutor` idea).

use std::sync::OnceLock;
use std::time::Instant;

use crate::scenario::CaseSpec;

pub trait Clock: Send + Sync {
    /// Runs `f` once and returns how long it took, in nanoseconds.
    fn measure(&self, case: &CaseSpec, sample: usize, f: &mut dyn FnMut()) -> u64;
    /// What one measurement of nothing costs, in nanoseconds: the floor under every sample.
    /// Kernels shorter than about 100 times this are timed in batches.
    fn overhead_ns(&self) -> f64 {
        0.0
    }
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

    fn overhead_ns(&self) -> f64 {
        static OVERHEAD: OnceLock<f64> = OnceLock::new();
        *OVERHEAD.get_or_init(calibrate)
    }
}

/// The median cost of timing an empty closure, over a few thousand tries (the median, since a
/// preemption can make any one try arbitrarily long).
fn calibrate() -> f64 {
    let mut nothing = || {};
    let mut tries: Vec<u64> = (0..5_000)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(&mut nothing)();
            start.elapsed().as_nanos() as u64
        })
        .collect();
    tries.sort_unstable();
    tries[tries.len() / 2] as f64
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
