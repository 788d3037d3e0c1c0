//! The measuring rules the device backends (`opencl`, `cuda`) share, as nvbench applies them:
//! how much a cold-cache flush writes, when short kernels are timed in batches, and how a
//! sample times its runs and reports their phases. The backends read it; it reads nothing of
//! theirs.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{BackendError, Sample};
use crate::clock::Clock;
use crate::scenario::CaseSpec;

/// The largest cold-cache flush, whatever cache the device reports (PoCL reports the host's
/// last-level cache, hundreds of MiB on a server).
pub const FLUSH_LIMIT: u64 = 512 << 20;

/// A run's kernels are timed in batches when they take less than this many launch latencies.
pub const LATENCY_RATIO: f64 = 100.0;

/// The most runs of the kernels in one batch.
pub const MAX_BATCH: u64 = 1000;

/// The bytes a cold-cache flush writes on a device that reports a cache (global-memory cache,
/// L2) of `cache` bytes and `memory` bytes of global memory: twice the cache (as nvbench
/// flushes L2), at most a quarter of the memory and [`FLUSH_LIMIT`], in whole 8-byte words; 0
/// when the device reports no cache.
pub fn flush_bytes(cache: u64, memory: u64) -> u64 {
    cache.saturating_mul(2).min(memory / 4).min(FLUSH_LIMIT) / 8 * 8
}

/// Runs of the kernels per batch: 1 when they take at least [`LATENCY_RATIO`] launch latencies
/// (`kernel_ns` per run), else enough runs that a batch takes that long, at most [`MAX_BATCH`].
pub fn batch(kernel_ns: u64, latency_ns: u64) -> u64 {
    let want = LATENCY_RATIO * latency_ns as f64;
    if (kernel_ns as f64) >= want {
        return 1;
    }
    ((want / kernel_ns.max(1) as f64).ceil() as u64).clamp(2, MAX_BATCH)
}

/// One run's phases (or a sample's, summed over its runs), nanoseconds: the upload, the
/// kernels' device time, the download.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    pub transfer_in: u64,
    pub kernel: u64,
    pub transfer_out: u64,
}

/// One sample of a device case: `runs` runs of `run` back to back under `clock`, stopping at
/// the first error or when `cancel` is set; the sample's time and its runs' phases summed.
pub fn time_runs(
    clock: &dyn Clock,
    spec: &CaseSpec,
    index: usize,
    runs: u64,
    cancel: &AtomicBool,
    run: &mut dyn FnMut() -> Result<Phases, BackendError>,
) -> Result<(u64, Phases), BackendError> {
    let mut total = Phases::default();
    let mut error = None;
    let ns = clock.measure(spec, index, &mut || {
        for _ in 0..runs {
            if cancel.load(Ordering::Relaxed) {
                error = Some(BackendError::Cancelled);
                return;
            }
            match run() {
                Ok(p) => {
                    total.transfer_in += p.transfer_in;
                    total.kernel += p.kernel;
                    total.transfer_out += p.transfer_out;
                }
                Err(e) => {
                    error = Some(e);
                    return;
                }
            }
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok((ns, total)),
    }
}

/// The sample of `ns` whose runs had the phases `total` (their own events, summed: each phase is
/// a part of this sample, never a figure measured beside it); no `transfer_in` when the inputs
/// are resident.
pub fn sample(ns: u64, total: Phases, resident: bool) -> Sample {
    let mut phases = Vec::with_capacity(3);
    if !resident {
        phases.push(("transfer_in".into(), total.transfer_in));
    }
    phases.push(("kernel".into(), total.kernel));
    phases.push(("transfer_out".into(), total.transfer_out));
    Sample { ns, phases, ..Sample::default() }
}
