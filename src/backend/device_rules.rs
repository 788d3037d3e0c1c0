//! The measuring rules the device backends (`opencl`, `cuda`) share, as nvbench applies them:
//! how much a cold-cache flush writes, and when short kernels are timed in batches. A leaf: the
//! backends read it, it reads nothing of theirs.

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
