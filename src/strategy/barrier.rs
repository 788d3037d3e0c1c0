//! `barrier`: phase-synchronous workers. A team of one scoped thread per worker lives for the
//! whole run, each owning one block of the data; after each phase all of them meet at a
//! `std::sync::Barrier` before anyone reads what the others wrote. Data-parallel strategies
//! instead fork and join once per phase: the difference is the cost of starting work versus
//! the cost of waiting for the slowest worker.
//!
//! Workloads run their phases through [`PhaseBarrier::run`], which adds to std's barrier what a
//! harness needs: the team stops when the case is cancelled, and a panicking worker does not
//! strand the others at the barrier. The executor (for any data-parallel part of a kernel) is
//! the shared-state strategies' one thread per worker.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

use super::worker_threads::WorkerThreads;
use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct PhaseBarriers;

impl Strategy for PhaseBarriers {
    fn name(&self) -> &'static str {
        "barrier"
    }
    fn summary(&self) -> &'static str {
        "one long-lived thread per worker, meeting at a std Barrier after every phase"
    }
    fn family(&self) -> Family {
        Family::Synchronization
    }
    fn executor(&self, config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Ok(WorkerThreads::boxed(config))
    }
}

/// A `std::sync::Barrier` for a team of threads that stop together.
pub struct PhaseBarrier {
    barrier: Barrier,
    /// Stop decisions, written by the barrier's leader (see `wait`).
    stop: [AtomicBool; 2],
    /// A worker panicked: the team stops at the next phase.
    poisoned: AtomicBool,
}

impl PhaseBarrier {
    /// Runs `phase(worker, k)` for `k` in `0..phases` on `workers` threads (worker 0 on the
    /// calling thread), all of them finishing phase `k` before any starts phase `k + 1`.
    ///
    /// When `cancel` is set or a worker panics, every worker stops after the same phase (one or
    /// two phases later); a panic is then re-raised on the calling thread by the scope.
    pub fn run(workers: usize, phases: usize, cancel: &AtomicBool, phase: impl Fn(usize, usize) + Sync) {
        let workers = workers.max(1);
        let team = PhaseBarrier {
            barrier: Barrier::new(workers),
            stop: [AtomicBool::new(false), AtomicBool::new(false)],
            poisoned: AtomicBool::new(false),
        };
        let member = |w: usize| {
            let mut panic = None;
            for k in 0..phases {
                if panic.is_none() {
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| phase(w, k))) {
                        team.poisoned.store(true, Ordering::Relaxed);
                        panic = Some(p);
                    }
                }
                // A panicked member keeps meeting the others, so nobody waits for it forever.
                if !team.wait(k, cancel) {
                    break;
                }
            }
            if let Some(p) = panic {
                resume_unwind(p);
            }
        };
        std::thread::scope(|scope| {
            let member = &member;
            for w in 1..workers {
                scope.spawn(move || member(w));
            }
            member(0);
        });
    }

    /// Ends phase `k`; returns `false` when the team must stop.
    ///
    /// Members cannot each read the flags (one might stop while another waits for it forever),
    /// so the barrier's leader of phase `k` records them in slot `k % 2`, and everyone decides
    /// after phase `k` from slot `(k + 1) % 2`: written by the leader of phase `k - 1` before it
    /// arrived here, and next written only after everyone has left. Every member sees the same
    /// value, one phase late.
    fn wait(&self, k: usize, cancel: &AtomicBool) -> bool {
        if self.barrier.wait().is_leader() {
            let stop = cancel.load(Ordering::Relaxed) || self.poisoned.load(Ordering::Relaxed);
            self.stop[k % 2].store(stop, Ordering::Relaxed);
        }
        !self.stop[(k + 1) % 2].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    #[test]
    fn phases_are_separated_and_all_run() {
        let (workers, phases) = (3, 50);
        let done: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
        PhaseBarrier::run(workers, phases, &AtomicBool::new(false), |w, k| {
            // Nobody may be more than one phase ahead of anybody else.
            for other in &done {
                assert!(other.load(Ordering::SeqCst) >= k, "phase {k} started before all finished {}", k - 1);
            }
            done[w].fetch_add(1, Ordering::SeqCst);
        });
        assert!(done.iter().all(|d| d.load(Ordering::SeqCst) == phases));
    }

    #[test]
    fn cancel_and_panic_stop_every_member_at_the_same_phase() {
        let cancel = AtomicBool::new(false);
        let last = Mutex::new(vec![0; 3]);
        PhaseBarrier::run(3, 1000, &cancel, |w, k| {
            if w == 1 && k == 40 {
                cancel.store(true, Ordering::Relaxed);
            }
            last.lock().unwrap()[w] = k;
        });
        let at = last.into_inner().unwrap();
        assert!(at.iter().all(|&k| k == at[0]) && (40..=42).contains(&at[0]), "{at:?}");

        let ran = AtomicUsize::new(0);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            PhaseBarrier::run(2, 1000, &AtomicBool::new(false), |w, k| {
                ran.fetch_add(1, Ordering::Relaxed);
                assert!(!(w == 1 && k == 5), "deliberate");
            })
        }));
        assert!(outcome.is_err(), "the panic is re-raised");
        assert!(ran.load(Ordering::Relaxed) < 20, "the team stopped soon after the panic");
    }
}
