//! What a workload's MPI version needs from the ranks it runs on, without naming MPI.
//!
//! A leaf module: workloads write their rank's share against [`Ranks`] and stay free of the
//! `mpi` crate (and buildable without it); the `mpi` backend implements [`Ranks`] over a real
//! communicator in `parlab mpi-worker`, and tests over [`OneRank`] or [`ThreadRanks`].
//!
//! Each rank builds a [`RankShare`] from the case's job (`Workload::rank_share`), computes its
//! block of the work on every run and combines the blocks with a collective; rank 0 then holds
//! the whole result and verifies it against the workload's sequential reference.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::Instant;

/// The communicator as a share sees it: its rank, their number, and the collectives the
/// workloads combine with. Every rank must call the collectives in the same order.
pub trait Ranks {
    /// This rank, `0..size()`.
    fn rank(&self) -> usize;
    /// How many ranks run the case.
    fn size(&self) -> usize;
    /// Returns once every rank has called it.
    fn barrier(&self);
    /// Element-wise sum of every rank's `local` into rank 0's `out` (a reduce to the root);
    /// `out` is left as it was on the other ranks. `local` and `out` have the same length on
    /// every rank.
    fn sum_u64(&self, local: &[u64], out: &mut [u64]);
    /// Sends `bytes` to rank `to` and returns when the buffer may be reused, as a blocking
    /// `MPI_Send`: the library may copy a small message and return at once, but above its eager
    /// limit it returns only once `to` has posted the matching receive.
    fn send_bytes(&self, to: usize, bytes: &[u8]);
    /// Receives the next message from rank `from` into `out`, whose length it has.
    fn recv_bytes(&self, from: usize, out: &mut [u8]);
    /// Sends `bytes` to `peer` and receives `out` from it at once (`MPI_Sendrecv`): never
    /// deadlocks against the peer's own `sendrecv_bytes`, whatever the size.
    fn sendrecv_bytes(&self, peer: usize, bytes: &[u8], out: &mut [u8]);
}

/// Where one run's time went on one rank (nanoseconds): computing its block, and the
/// collective that combined the blocks (waiting for slower ranks included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    pub compute_ns: u64,
    pub combine_ns: u64,
}

impl PhaseTimes {
    /// Times `compute`, then `combine`, each on its own.
    pub fn measure<T>(compute: impl FnOnce() -> T, combine: impl FnOnce(T)) -> PhaseTimes {
        let a = Instant::now();
        let local = compute();
        let b = Instant::now();
        combine(local);
        let c = Instant::now();
        PhaseTimes { compute_ns: (b - a).as_nanos() as u64, combine_ns: (c - b).as_nanos() as u64 }
    }
}

/// One rank's part of a case, built on every rank from the case's job.
pub trait RankShare: Send {
    /// One run: computes this rank's block and combines the blocks on rank 0. Every rank calls
    /// it the same number of times, since it holds a collective.
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String>;
    /// On rank 0 after a run: the combined result checked against the workload's sequential
    /// reference, `Ok` with what matched, `Err` with what differed.
    fn verify(&self) -> Result<String, String>;
    /// The instruction set the kernel chose, where it has a choice.
    fn isa(&self) -> Option<&'static str> {
        None
    }
}

/// Rank `rank`'s block of `0..items` out of `ranks` blocks of (nearly) equal length, the longer
/// ones first: together they cover every item once.
pub fn block(items: usize, rank: usize, ranks: usize) -> Range<usize> {
    let ranks = ranks.max(1);
    let (per, extra) = (items / ranks, items % ranks);
    let start = rank * per + rank.min(extra);
    start..start + per + usize::from(rank < extra)
}

/// A single rank, no communication: the sum to rank 0 is a copy. What a share computes
/// with one rank is the whole case.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneRank;

impl Ranks for OneRank {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn barrier(&self) {}
    fn sum_u64(&self, local: &[u64], out: &mut [u64]) {
        out.copy_from_slice(local);
    }
    /// A blocking send to itself never completes: a single rank has no peer.
    fn send_bytes(&self, to: usize, _bytes: &[u8]) {
        panic!("a single rank has no peer to send to (rank {to} asked)");
    }
    fn recv_bytes(&self, from: usize, _out: &mut [u8]) {
        panic!("a single rank has no peer to receive from (rank {from} asked)");
    }
    /// With itself, as MPI does: what is sent is what is received.
    fn sendrecv_bytes(&self, peer: usize, bytes: &[u8], out: &mut [u8]) {
        assert_eq!(peer, 0, "a single rank's only peer is itself");
        out.copy_from_slice(bytes);
    }
}

/// Ranks as threads of one process, for tests of shares on several ranks without MPI: each
/// thread holds one, made by [`ThreadRanks::new`].
pub struct ThreadRanks {
    rank: usize,
    size: usize,
    barrier: Arc<Barrier>,
    /// The sum being gathered for rank 0 by the collective in progress.
    sum: Arc<Mutex<Vec<u64>>>,
    /// Messages sent and not yet received, by (from, to), in order.
    mail: Arc<Mailboxes>,
}

/// (from, to): the direction a message travels.
type Pair = (usize, usize);

/// Point-to-point messages between thread ranks: buffered, so a send never waits (an MPI
/// library may do the same below its eager limit).
#[derive(Default)]
struct Mailboxes {
    queued: Mutex<HashMap<Pair, VecDeque<Vec<u8>>>>,
    arrived: Condvar,
}

impl ThreadRanks {
    /// One communicator per rank, to hand one to each thread.
    pub fn new(size: usize) -> Vec<ThreadRanks> {
        let size = size.max(1);
        let barrier = Arc::new(Barrier::new(size));
        let sum = Arc::new(Mutex::new(Vec::new()));
        let mail = Arc::new(Mailboxes::default());
        (0..size)
            .map(|rank| ThreadRanks {
                rank,
                size,
                barrier: barrier.clone(),
                sum: sum.clone(),
                mail: mail.clone(),
            })
            .collect()
    }
}

impl Ranks for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn barrier(&self) {
        self.barrier.wait();
    }
    fn sum_u64(&self, local: &[u64], out: &mut [u64]) {
        // Cleared by rank 0 between two barriers, so no rank adds to the last collective's sum.
        if self.rank == 0 {
            let mut sum = self.sum.lock().unwrap_or_else(|e| e.into_inner());
            sum.clear();
            sum.resize(local.len(), 0);
        }
        self.barrier.wait();
        {
            let mut sum = self.sum.lock().unwrap_or_else(|e| e.into_inner());
            sum.iter_mut().zip(local).for_each(|(s, l)| *s += l);
        }
        self.barrier.wait();
        if self.rank == 0 {
            out.copy_from_slice(&self.sum.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
    fn send_bytes(&self, to: usize, bytes: &[u8]) {
        assert!(to < self.size, "rank {to} of {}", self.size);
        let mut queued = self.mail.queued.lock().unwrap_or_else(|e| e.into_inner());
        queued.entry((self.rank, to)).or_default().push_back(bytes.to_vec());
        self.mail.arrived.notify_all();
    }
    fn recv_bytes(&self, from: usize, out: &mut [u8]) {
        assert!(from < self.size, "rank {from} of {}", self.size);
        let mut queued = self.mail.queued.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(message) = queued.get_mut(&(from, self.rank)).and_then(|q| q.pop_front()) {
                assert_eq!(message.len(), out.len(), "a message of another length than the receive");
                out.copy_from_slice(&message);
                return;
            }
            queued = self.mail.arrived.wait(queued).unwrap_or_else(|e| e.into_inner());
        }
    }
    fn sendrecv_bytes(&self, peer: usize, bytes: &[u8], out: &mut [u8]) {
        self.send_bytes(peer, bytes);
        self.recv_bytes(peer, out);
    }
}

/// Builds one rank's share from its communicator (a workload's `rank_share`, in tests).
pub type MakeShare<'a> = dyn Fn(&dyn Ranks) -> Result<Box<dyn RankShare>, String> + Sync + 'a;

/// Runs `make`'s share on `size` thread ranks for `runs` runs and returns rank 0's share, for
/// tests: what rank 0 holds after the collectives is what it verifies.
pub fn run_on_threads(size: usize, runs: usize, make: &MakeShare<'_>) -> Result<Box<dyn RankShare>, String> {
    let mut rank0 = None;
    std::thread::scope(|scope| {
        let handles: Vec<_> = ThreadRanks::new(size)
            .into_iter()
            .map(|ranks| {
                scope.spawn(move || -> Result<Option<Box<dyn RankShare>>, String> {
                    let mut share = make(&ranks)?;
                    for _ in 0..runs {
                        share.run(&ranks)?;
                    }
                    Ok((ranks.rank() == 0).then_some(share))
                })
            })
            .collect();
        for h in handles {
            if let Some(share) = h.join().map_err(|_| "a rank panicked".to_string())?? {
                rank0 = Some(share);
            }
        }
        Ok::<(), String>(())
    })?;
    rank0.ok_or_else(|| "rank 0 returned no share".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_item_once_in_order() {
        for items in [0, 1, 5, 7, 100] {
            for ranks in 1..=6 {
                let blocks: Vec<_> = (0..ranks).map(|r| block(items, r, ranks)).collect();
                assert_eq!(blocks[0].start, 0);
                assert_eq!(blocks[ranks - 1].end, items, "{items} over {ranks}");
                for pair in blocks.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                    assert!(pair[0].len() >= pair[1].len() && pair[0].len() - pair[1].len() <= 1);
                }
            }
        }
    }

    #[test]
    fn thread_ranks_sum_to_rank_0_only_and_repeat() {
        let outs = std::thread::scope(|scope| {
            let handles: Vec<_> = ThreadRanks::new(3)
                .into_iter()
                .map(|ranks| {
                    scope.spawn(move || {
                        let mut outs = Vec::new();
                        for round in 0..3u64 {
                            let mut out = [7u64; 2];
                            ranks.sum_u64(&[ranks.rank() as u64 + round, 1], &mut out);
                            outs.push(out);
                        }
                        outs
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        });
        assert_eq!(outs[0], vec![[3, 3], [6, 3], [9, 3]]);
        assert!(outs[1..].iter().flatten().all(|o| *o == [7, 7]), "{outs:?}");
        let mut out = [0u64; 1];
        OneRank.sum_u64(&[5], &mut out);
        assert_eq!(out, [5]);
    }

    #[test]
    fn thread_ranks_deliver_messages_in_order_between_each_pair() {
        let got = std::thread::scope(|scope| {
            let handles: Vec<_> = ThreadRanks::new(2)
                .into_iter()
                .map(|ranks| {
                    scope.spawn(move || {
                        let peer = 1 - ranks.rank();
                        let me = ranks.rank() as u8;
                        ranks.send_bytes(peer, &[me, 1]);
                        ranks.send_bytes(peer, &[me, 2]);
                        let (mut a, mut b, mut c) = ([0u8; 2], [0u8; 2], [0u8; 3]);
                        ranks.recv_bytes(peer, &mut a);
                        ranks.recv_bytes(peer, &mut b);
                        ranks.sendrecv_bytes(peer, &[me; 3], &mut c);
                        (a, b, c)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        });
        assert_eq!(got[0], ([1, 1], [1, 2], [1; 3]));
        assert_eq!(got[1], ([0, 1], [0, 2], [0; 3]));
        let mut out = [0u8; 2];
        OneRank.sendrecv_bytes(0, &[4, 5], &mut out);
        assert_eq!(out, [4, 5]);
    }
}
