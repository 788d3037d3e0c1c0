//! The caps every input is held to (a leaf: the scenario checks them, workloads and strategies
//! size their queues and threads by them).

/// Workers of one case.
pub const MAX_WORKERS: usize = 4096;
/// `min_samples` and `max_samples`.
pub const MAX_SAMPLES: usize = 1_000_000;
/// Cases in one scenario, after every sweep is expanded.
pub const MAX_CASES: u64 = 100_000;
/// A size in the workload's own items (10^15); weak scaling's measured size included.
pub const MAX_SIZE: u64 = 1_000_000_000_000_000;
/// `capacity` of a bounded queue (some queues allocate their capacity up front).
pub const MAX_CAPACITY: usize = 1 << 20;
/// Thread workers per logical CPU (but at least [`MIN_THREAD_WORKERS`]): oversubscription
/// past this only measures the scheduler.
pub const THREADS_PER_CPU: usize = 64;
pub const MIN_THREAD_WORKERS: usize = 256;
/// Worker processes per logical CPU (but at least [`MIN_PROCESS_WORKERS`]).
pub const PROCESSES_PER_CPU: usize = 4;
pub const MIN_PROCESS_WORKERS: usize = 16;
/// Threads one case may run at once where a tunable rather than the worker count sets them
/// (`[strategy.semaphore] capacity`: a thread per permit, for tasks that mostly wait, as a
/// thread-per-request server's do). Sleeping threads do not compete for the CPUs, so the
/// per-CPU limit above does not apply to them; this one bounds the kernel tasks and stacks
/// (the kernel's own limits are a few tens of thousands), and each thread's memory is
/// counted too ([`crate::strategy::THREAD_BYTES`]).
pub const MAX_THREADS: usize = 4096;
/// A size derived from the machine (a default) may use at most this share of the available
/// memory, numerator and denominator; a size the scenario gives may use all of it.
pub const DEFAULT_MEMORY_SHARE: (u64, u64) = (1, 2);
/// The memory a plan may use when the machine's available memory is unknown (no readable
/// `/proc/meminfo`): a budget most machines that run parlab have, rather than none at all.
pub const UNKNOWN_MEMORY_BYTES: u64 = 2 << 30;
