//! What a workload's MPI version needs from the ranks it runs on, without naming MPI.
//!
//! A leaf module: workloads write their rank's share against [`Ranks`] and stay free of the
//! `mpi` crate (and buildable without it); the `mpi` backend implements [`Ranks`] over a real
//! communicator in `parlab mpi-worker`, and tests over [`OneRank`] or [`ThreadRanks`].
//!
//! Each rank builds a [`RankShare`] from the case's job (`Workload::rank_share`), computes its
//! block of the work on every run and combines the blocks with collectives (or exchanges
//! boundary data with its neighbours point to point); rank 0 then holds the whole result and
//! verifies it against the workload's sequential reference.
//!
//! The operations follow MPI's semantics, with rank 0 as the root of every rooted collective:
//! [`OneRank`] and [`ThreadRanks`] behave as a real communicator would, so a share tested on
//! them runs the same on MPI. A buffer of the wrong length is a programming error: MPI reports
//! it as a truncated message, [`ThreadRanks`] panics.

use std::any::Any;
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
    /// Sends `msgs` to rank `to` as consecutive messages of `len` bytes each, all started at
    /// once without waiting (one `MPI_Isend` per message), and returns when every one of them
    /// is complete (their buffers may be reused): a window of messages in flight, as the OSU
    /// bandwidth test sends them. `msgs.len()` is a multiple of `len`, and `len` is not 0.
    fn send_window_bytes(&self, to: usize, msgs: &[u8], len: usize);
    /// Receives the next `bufs.len() / len` messages from rank `from`, of `len` bytes each, into
    /// consecutive pieces of `bufs`, every receive posted at once (one `MPI_Irecv` per message,
    /// each into its own piece: pending receives may not share a buffer), and returns when all
    /// have arrived. The matching side of [`Ranks::send_window_bytes`]; messages land in the
    /// order they were sent.
    fn recv_window_bytes(&self, from: usize, bufs: &mut [u8], len: usize);
    /// Sends `send` to rank `to` and receives `recv.len()` values from rank `from` into `recv`,
    /// both at once (`MPI_Sendrecv`): neither waits for the other, so a chain or ring of ranks
    /// that all send and receive cannot deadlock. `None` on a side means no message that way
    /// (the ends of a chain). The message received must hold exactly `recv.len()` values.
    fn sendrecv_f64(&self, send: &[f64], to: Option<usize>, recv: &mut [f64], from: Option<usize>);
    /// Starts every send of `sends` (to a rank, the values) and every receive of `recvs` (from
    /// a rank, into a buffer of exactly the message's length) without waiting (`MPI_Isend`,
    /// `MPI_Irecv`), runs `during` while they are in flight, then waits for all of them. The
    /// borrows make the overlap safe: the sent values cannot change and the receive buffers
    /// cannot be read before the messages are in, since `during` can reach neither mutably.
    /// Messages between two ranks are matched in the order they were started.
    fn exchange_f64(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        during: &mut dyn FnMut(),
    );
    /// Rank 0's `send` cut into consecutive blocks of `counts[r]` values, block `r` into rank
    /// `r`'s `recv` (`MPI_Scatterv`). `counts` is the same on every rank, `recv` holds
    /// `counts[rank]` values; `send` is read on rank 0 only (pass an empty slice elsewhere).
    fn scatter_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]);
    /// Every rank's `send` (`counts[rank]` values) into rank 0's `recv`, in rank order
    /// (`MPI_Gatherv`); `recv` holds the sum of `counts` on rank 0 and is untouched elsewhere
    /// (pass an empty slice).
    fn gather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]);
    /// Rank 0's `buf` into every other rank's `buf`, of the same length (`MPI_Bcast`).
    fn bcast_f64(&self, buf: &mut [f64]);
    /// Every rank's `send` (`counts[rank]` values) into every rank's `recv`, in rank order
    /// (`MPI_Allgatherv`); `recv` holds the sum of `counts` everywhere.
    fn allgather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]);
    // The collectives of the `collectives` workload, as the OSU benchmarks call them: equal
    // blocks, bytes (`MPI_CHAR`) or sums of `f32` (`MPI_FLOAT`, `MPI_SUM`), rank 0 as the root.
    /// Rank 0's `buf` into every other rank's `buf`, of the same length (`MPI_Bcast`).
    fn bcast_u8(&self, buf: &mut [u8]);
    /// Rank 0's `send` cut into `size()` blocks of `recv.len()` bytes, block `r` into rank `r`'s
    /// `recv` (`MPI_Scatter`); `send` is read on rank 0 only (pass an empty slice elsewhere).
    fn scatter_u8(&self, send: &[u8], recv: &mut [u8]);
    /// Every rank's `send`, of the same length on every rank, into rank 0's `recv` in rank order
    /// (`MPI_Gather`); `recv` holds `size()` blocks on rank 0 and is untouched elsewhere (pass an
    /// empty slice).
    fn gather_u8(&self, send: &[u8], recv: &mut [u8]);
    /// Every rank's `send`, of the same length on every rank, into every rank's `recv` in rank
    /// order (`MPI_Allgather`).
    fn allgather_u8(&self, send: &[u8], recv: &mut [u8]);
    /// Block `to` of every rank's `send` into block `from` of rank `to`'s `recv`, the blocks of
    /// `send` and `recv` being `size()` equal parts (`MPI_Alltoall`).
    fn alltoall_u8(&self, send: &[u8], recv: &mut [u8]);
    /// Element-wise sum of every rank's `send` into rank 0's `out`, of the same length
    /// (`MPI_Reduce` with `MPI_SUM`); `out` is untouched elsewhere (pass an empty slice). The
    /// order of the additions is the library's.
    fn reduce_sum_f32(&self, send: &[f32], out: &mut [f32]);
    /// Element-wise sum of every rank's `send` into every rank's `out`, of the same length
    /// (`MPI_Allreduce` with `MPI_SUM`).
    fn allreduce_sum_f32(&self, send: &[f32], out: &mut [f32]);
}

/// Where one run's time went on one rank (nanoseconds): computing its block, and
/// communicating: the collectives that combine or deal out the blocks and the messages between
/// neighbours, waiting for slower ranks included. Computation overlapped with messages in
/// flight counts as compute; only the wait for them as communication.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    pub compute_ns: u64,
    pub combine_ns: u64,
    /// Time inside the run that is not part of the measurement: the barrier after each timed
    /// operation of an OSU-style benchmark, which keeps one operation from overlapping the
    /// next. The sample leaves it out, as OSU leaves its barriers out of its timers.
    pub excluded_ns: u64,
}

impl PhaseTimes {
    /// Times `compute`, then `combine`, each on its own.
    pub fn measure<T>(compute: impl FnOnce() -> T, combine: impl FnOnce(T)) -> PhaseTimes {
        let a = Instant::now();
        let local = compute();
        let b = Instant::now();
        combine(local);
        let c = Instant::now();
        PhaseTimes {
            compute_ns: (b - a).as_nanos() as u64,
            combine_ns: (c - b).as_nanos() as u64,
            excluded_ns: 0,
        }
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
    /// This rank's own check of what it holds after a run, for results spread over the ranks
    /// (each receiver checks what it received, as the OSU benchmarks' `-c` does): `Err` says
    /// what is wrong. Called on every rank when the case verifies, outside the timed runs,
    /// beside rank 0's [`RankShare::verify`]; the default has nothing of its own to check.
    fn check_local(&self) -> Result<(), String> {
        Ok(())
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

/// How many items each of `ranks` ranks holds under [`block`], times `per_item` values each:
/// the counts of a collective over the blocks.
pub fn block_counts(items: usize, ranks: usize, per_item: usize) -> Vec<usize> {
    (0..ranks.max(1)).map(|r| block(items, r, ranks).len() * per_item).collect()
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
    fn send_window_bytes(&self, to: usize, _msgs: &[u8], _len: usize) {
        panic!("a single rank has no peer to send a window to (rank {to} asked)");
    }
    fn recv_window_bytes(&self, from: usize, _bufs: &mut [u8], _len: usize) {
        panic!("a single rank has no peer to receive a window from (rank {from} asked)");
    }
    fn sendrecv_f64(&self, send: &[f64], to: Option<usize>, recv: &mut [f64], from: Option<usize>) {
        // The only rank it can talk to is itself.
        match (to, from) {
            (Some(0), Some(0)) => recv.copy_from_slice(send),
            (None, None) => {}
            _ => panic!("one rank can only exchange with itself, both ways"),
        }
    }
    fn exchange_f64(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        during: &mut dyn FnMut(),
    ) {
        assert_eq!(sends.len(), recvs.len(), "one rank receives exactly what it sends itself");
        for ((_, send), (_, recv)) in sends.iter().zip(recvs.iter_mut()) {
            recv.copy_from_slice(send);
        }
        during();
    }
    fn scatter_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        assert_eq!(counts, [send.len()], "one block, all of it");
        recv.copy_from_slice(send);
    }
    fn gather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        assert_eq!(counts, [send.len()], "one block, all of it");
        recv.copy_from_slice(send);
    }
    fn bcast_f64(&self, _buf: &mut [f64]) {}
    fn allgather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        self.gather_f64(send, counts, recv);
    }
    fn bcast_u8(&self, _buf: &mut [u8]) {}
    fn scatter_u8(&self, send: &[u8], recv: &mut [u8]) {
        recv.copy_from_slice(send);
    }
    fn gather_u8(&self, send: &[u8], recv: &mut [u8]) {
        recv.copy_from_slice(send);
    }
    fn allgather_u8(&self, send: &[u8], recv: &mut [u8]) {
        recv.copy_from_slice(send);
    }
    fn alltoall_u8(&self, send: &[u8], recv: &mut [u8]) {
        recv.copy_from_slice(send);
    }
    fn reduce_sum_f32(&self, send: &[f32], out: &mut [f32]) {
        out.copy_from_slice(send);
    }
    fn allreduce_sum_f32(&self, send: &[f32], out: &mut [f32]) {
        out.copy_from_slice(send);
    }
}

/// Ranks as threads of one process, for tests of shares on several ranks without MPI: each
/// thread holds one, made by [`ThreadRanks::new`].
pub struct ThreadRanks {
    rank: usize,
    size: usize,
    barrier: Arc<Barrier>,
    shared: Arc<Shared>,
}

/// Messages in flight per (from, to) rank, oldest first.
type Mailboxes = HashMap<(usize, usize), VecDeque<Vec<f64>>>;

/// Byte messages in flight per (from, to) rank, oldest first.
type ByteMail = HashMap<(usize, usize), VecDeque<Vec<u8>>>;

/// What the thread ranks of one communicator share.
#[derive(Default)]
struct Shared {
    /// The sum being gathered for rank 0 by the collective in progress.
    sum: Mutex<Vec<u64>>,
    /// One block per rank for the collective in progress: what each rank contributes, or what
    /// rank 0 deals out.
    blocks: Mutex<Vec<Vec<f64>>>,
    /// Messages sent and not yet received, per (from, to), oldest first: a send never waits
    /// (as if every message fit MPI's eager limit), a receive waits for its message.
    mail: Mutex<Mailboxes>,
    /// Byte messages of the blocking sends, per (from, to), oldest first.
    bytes: Mutex<ByteMail>,
    /// What each rank puts in for the collective in progress, of any element type
    /// ([`ThreadRanks::pool`]); empty until the first such collective.
    pooled: Mutex<Vec<Option<Box<dyn Any + Send>>>>,
    delivered: Condvar,
}

impl ThreadRanks {
    /// One communicator per rank, to hand one to each thread.
    pub fn new(size: usize) -> Vec<ThreadRanks> {
        let size = size.max(1);
        let barrier = Arc::new(Barrier::new(size));
        let shared = Arc::new(Shared { blocks: Mutex::new(vec![Vec::new(); size]), ..Shared::default() });
        (0..size)
            .map(|rank| ThreadRanks { rank, size, barrier: barrier.clone(), shared: shared.clone() })
            .collect()
    }

    fn blocks(&self) -> std::sync::MutexGuard<'_, Vec<Vec<f64>>> {
        self.shared.blocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, to: usize, values: &[f64]) {
        assert!(to < self.size, "rank {to} of {}", self.size);
        let mut mail = self.shared.mail.lock().unwrap_or_else(|e| e.into_inner());
        mail.entry((self.rank, to)).or_default().push_back(values.to_vec());
        self.shared.delivered.notify_all();
    }

    fn receive(&self, from: usize, into: &mut [f64]) {
        assert!(from < self.size, "rank {from} of {}", self.size);
        let mut mail = self.shared.mail.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(message) = mail.get_mut(&(from, self.rank)).and_then(VecDeque::pop_front) {
                assert_eq!(message.len(), into.len(), "rank {} from rank {from}: message length", self.rank);
                into.copy_from_slice(&message);
                return;
            }
            mail = self.shared.delivered.wait(mail).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Every rank puts `mine` in, then `take` reads what every rank put in (in rank order),
    /// between two barriers: the first says every contribution is in place, the second that
    /// every rank has read what it needs, so the next collective cannot overwrite one still
    /// being read. The collectives of equal blocks are each a `take`.
    fn pool<T: Copy + Send + 'static>(&self, mine: &[T], take: impl FnOnce(&[&[T]])) {
        let pooled = || self.shared.pooled.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut pooled = pooled();
            pooled.resize_with(self.size, || None);
            pooled[self.rank] = Some(Box::new(mine.to_vec()));
        }
        self.barrier.wait();
        {
            let pooled = pooled();
            let all: Vec<&[T]> = pooled
                .iter()
                .map(|p| {
                    let p = p.as_ref().and_then(|p| p.downcast_ref::<Vec<T>>());
                    p.expect("every rank puts in the same type").as_slice()
                })
                .collect();
            take(&all);
        }
        self.barrier.wait();
    }

    /// Every rank's block, of the same length, in rank order into `recv`.
    fn concat(all: &[&[u8]], recv: &mut [u8]) {
        assert_eq!(recv.len(), all[0].len() * all.len(), "a block per rank");
        for (to, from) in recv.chunks_mut(all[0].len().max(1)).zip(all) {
            to.copy_from_slice(from);
        }
    }

    /// The element-wise sum of every rank's values, in rank order, into `out`.
    fn add_up(all: &[&[f32]], out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = all.iter().map(|values| values[i]).sum();
        }
    }

    /// Where each rank's block of `counts` starts in the concatenation.
    fn offsets(counts: &[usize]) -> Vec<usize> {
        counts.iter().scan(0, |at, &n| Some(std::mem::replace(at, *at + n))).collect()
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
        let sum = || self.shared.sum.lock().unwrap_or_else(|e| e.into_inner());
        if self.rank == 0 {
            let mut sum = sum();
            sum.clear();
            sum.resize(local.len(), 0);
        }
        self.barrier.wait();
        sum().iter_mut().zip(local).for_each(|(s, l)| *s += l);
        self.barrier.wait();
        if self.rank == 0 {
            out.copy_from_slice(&sum());
        }
    }
    fn send_bytes(&self, to: usize, bytes: &[u8]) {
        assert!(to < self.size, "rank {to} of {}", self.size);
        let mut queued = self.shared.bytes.lock().unwrap_or_else(|e| e.into_inner());
        queued.entry((self.rank, to)).or_default().push_back(bytes.to_vec());
        self.shared.delivered.notify_all();
    }
    fn recv_bytes(&self, from: usize, out: &mut [u8]) {
        assert!(from < self.size, "rank {from} of {}", self.size);
        let mut queued = self.shared.bytes.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(message) = queued.get_mut(&(from, self.rank)).and_then(|q| q.pop_front()) {
                assert_eq!(message.len(), out.len(), "a message of another length than the receive");
                out.copy_from_slice(&message);
                return;
            }
            queued = self.shared.delivered.wait(queued).unwrap_or_else(|e| e.into_inner());
        }
    }
    fn sendrecv_bytes(&self, peer: usize, bytes: &[u8], out: &mut [u8]) {
        self.send_bytes(peer, bytes);
        self.recv_bytes(peer, out);
    }
    // Sends never wait here, so a window is its messages one after the other.
    fn send_window_bytes(&self, to: usize, msgs: &[u8], len: usize) {
        assert!(
            len > 0 && msgs.len().is_multiple_of(len),
            "a window of {len}-byte messages, {} bytes",
            msgs.len()
        );
        msgs.chunks(len).for_each(|msg| self.send_bytes(to, msg));
    }
    fn recv_window_bytes(&self, from: usize, bufs: &mut [u8], len: usize) {
        assert!(
            len > 0 && bufs.len().is_multiple_of(len),
            "a window of {len}-byte messages, {} bytes",
            bufs.len()
        );
        bufs.chunks_mut(len).for_each(|buf| self.recv_bytes(from, buf));
    }
    fn sendrecv_f64(&self, send: &[f64], to: Option<usize>, recv: &mut [f64], from: Option<usize>) {
        // Sends never wait here, so sending first cannot deadlock.
        if let Some(to) = to {
            self.send(to, send);
        }
        if let Some(from) = from {
            self.receive(from, recv);
        }
    }
    fn exchange_f64(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        during: &mut dyn FnMut(),
    ) {
        for (to, values) in sends {
            self.send(*to, values);
        }
        during();
        for (from, into) in recvs.iter_mut() {
            self.receive(*from, into);
        }
    }
    // The collectives below go through `blocks` between two barriers: the first says every
    // block is in place, the second that every rank has taken what it needs, so the next
    // collective cannot overwrite a block still being read.
    fn scatter_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        assert_eq!(counts.len(), self.size, "a count per rank");
        if self.rank == 0 {
            assert_eq!(send.len(), counts.iter().sum::<usize>(), "rank 0 sends every block");
            let mut blocks = self.blocks();
            for ((block, at), n) in blocks.iter_mut().zip(Self::offsets(counts)).zip(counts) {
                *block = send[at..at + n].to_vec();
            }
        }
        self.barrier.wait();
        recv.copy_from_slice(&self.blocks()[self.rank]);
        self.barrier.wait();
    }
    fn gather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        assert_eq!(counts.len(), self.size, "a count per rank");
        assert_eq!(send.len(), counts[self.rank], "rank {} sends its count", self.rank);
        self.blocks()[self.rank] = send.to_vec();
        self.barrier.wait();
        if self.rank == 0 {
            assert_eq!(recv.len(), counts.iter().sum::<usize>(), "rank 0 receives every block");
            let blocks = self.blocks();
            for (block, at) in blocks.iter().zip(Self::offsets(counts)) {
                recv[at..at + block.len()].copy_from_slice(block);
            }
        }
        self.barrier.wait();
    }
    fn bcast_f64(&self, buf: &mut [f64]) {
        if self.rank == 0 {
            self.blocks()[0] = buf.to_vec();
        }
        self.barrier.wait();
        if self.rank != 0 {
            buf.copy_from_slice(&self.blocks()[0]);
        }
        self.barrier.wait();
    }
    fn allgather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) {
        assert_eq!(counts.len(), self.size, "a count per rank");
        assert_eq!(send.len(), counts[self.rank], "rank {} sends its count", self.rank);
        assert_eq!(recv.len(), counts.iter().sum::<usize>(), "every rank receives every block");
        self.blocks()[self.rank] = send.to_vec();
        self.barrier.wait();
        {
            let blocks = self.blocks();
            for (block, at) in blocks.iter().zip(Self::offsets(counts)) {
                recv[at..at + block.len()].copy_from_slice(block);
            }
        }
        self.barrier.wait();
    }
    fn bcast_u8(&self, buf: &mut [u8]) {
        let root = self.rank == 0;
        let mine = if root { buf.to_vec() } else { Vec::new() };
        self.pool(&mine, |all| {
            if !root {
                buf.copy_from_slice(all[0]);
            }
        });
    }
    fn scatter_u8(&self, send: &[u8], recv: &mut [u8]) {
        let me = self.rank;
        self.pool(if me == 0 { send } else { &[] }, |all| {
            let n = recv.len();
            assert_eq!(all[0].len(), n * all.len(), "rank 0 sends a block per rank");
            recv.copy_from_slice(&all[0][me * n..(me + 1) * n]);
        });
    }
    fn gather_u8(&self, send: &[u8], recv: &mut [u8]) {
        let root = self.rank == 0;
        self.pool(send, |all| {
            if root {
                Self::concat(all, recv);
            }
        });
    }
    fn allgather_u8(&self, send: &[u8], recv: &mut [u8]) {
        self.pool(send, |all| Self::concat(all, recv));
    }
    fn alltoall_u8(&self, send: &[u8], recv: &mut [u8]) {
        let me = self.rank;
        self.pool(send, |all| {
            let (len, n) = (recv.len(), recv.len() / all.len());
            assert_eq!(len, n * all.len(), "a block per rank");
            for (to, from) in recv.chunks_mut(n.max(1)).zip(all) {
                assert_eq!(from.len(), len, "every rank sends a block per rank");
                to.copy_from_slice(&from[me * n..(me + 1) * n]);
            }
        });
    }
    fn reduce_sum_f32(&self, send: &[f32], out: &mut [f32]) {
        let root = self.rank == 0;
        self.pool(send, |all| {
            if root {
                Self::add_up(all, out);
            }
        });
    }
    fn allreduce_sum_f32(&self, send: &[f32], out: &mut [f32]) {
        self.pool(send, |all| Self::add_up(all, out));
    }
}

/// Builds one rank's share from its communicator (a workload's `rank_share`, in tests).
pub type MakeShare<'a> = dyn Fn(&dyn Ranks) -> Result<Box<dyn RankShare>, String> + Sync + 'a;

/// Runs `f` on each of `size` thread ranks at once and returns what each returned, in rank
/// order: for tests that look at every rank (what each received), not only at rank 0.
pub fn on_threads<T: Send>(size: usize, f: impl Fn(&ThreadRanks) -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> =
            ThreadRanks::new(size).into_iter().map(|r| scope.spawn(move || f(&r))).collect();
        handles.into_iter().map(|h| h.join().expect("a thread rank panicked")).collect()
    })
}

/// Runs `make`'s share on `size` thread ranks for `runs` runs and returns rank 0's share, for
/// tests: what rank 0 holds after the collectives is what it verifies. After at least one run,
/// a rank whose [`RankShare::check_local`] fails makes it an `Err` naming the rank.
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
                    if runs > 0 {
                        share.check_local().map_err(|e| format!("rank {}: {e}", ranks.rank()))?;
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

    #[test]
    fn thread_ranks_send_around_a_ring_and_along_a_chain() {
        for size in [2, 3] {
            let got = on_threads(size, |r| {
                let (me, p) = (r.rank(), r.size());
                // A ring, twice: every rank hears from its left neighbour, in order.
                let mut ring = Vec::new();
                for round in 0..2 {
                    let mut from_left = [0.0; 2];
                    let send = [me as f64, round as f64];
                    r.sendrecv_f64(&send, Some((me + 1) % p), &mut from_left, Some((me + p - 1) % p));
                    ring.push(from_left);
                }
                // A chain downwards: the first rank only sends, the last only receives.
                let mut down = [-1.0];
                let to = (me + 1 < p).then_some(me + 1);
                r.sendrecv_f64(&[10.0 + me as f64], to, &mut down, me.checked_sub(1));
                // Non-blocking both ways, with work in between.
                let mut up = [-1.0];
                let mut ran = false;
                let mine = [me as f64];
                let sends: Vec<(usize, &[f64])> =
                    (0..p).filter(|&o| o != me).map(|o| (o, &mine[..])).collect();
                let mut all = vec![-1.0; p];
                let mut recvs: Vec<(usize, &mut [f64])> =
                    all.chunks_mut(1).enumerate().filter(|(o, _)| *o != me).collect();
                r.exchange_f64(&sends, &mut recvs, &mut || ran = true);
                up[0] = all.iter().sum();
                (ring, down[0], up[0] + me as f64, ran)
            });
            for (me, (ring, down, everyone, ran)) in got.into_iter().enumerate() {
                let left = ((me + size - 1) % size) as f64;
                assert_eq!(ring, [[left, 0.0], [left, 1.0]], "{size} ranks, rank {me}");
                assert_eq!(down, if me == 0 { -1.0 } else { 9.0 + me as f64 }, "rank {me}");
                // Every other rank's number, plus -1 for its own slot, plus its own number.
                assert_eq!(everyone, (0..size).sum::<usize>() as f64 - 1.0, "rank {me}");
                assert!(ran);
            }
        }
    }

    #[test]
    fn thread_ranks_collectives_move_uneven_blocks_to_the_right_ranks() {
        for size in [2, 3] {
            let counts = block_counts(7, size, 2);
            let got = on_threads(size, |r| {
                let me = r.rank();
                let all: Vec<f64> = (0..14).map(f64::from).collect();
                let mut mine = vec![0.0; counts[me]];
                r.scatter_f64(if me == 0 { &all } else { &[] }, &counts, &mut mine);
                let doubled: Vec<f64> = mine.iter().map(|x| 2.0 * x).collect();
                let mut gathered = vec![f64::NAN; if me == 0 { 14 } else { 0 }];
                r.gather_f64(&doubled, &counts, &mut gathered);
                let mut everywhere = vec![0.0; 14];
                r.allgather_f64(&mine, &counts, &mut everywhere);
                let mut b = [me as f64 + 5.0; 3];
                r.bcast_f64(&mut b);
                (mine, gathered, everywhere, b)
            });
            let all: Vec<f64> = (0..14).map(f64::from).collect();
            for (me, (mine, gathered, everywhere, b)) in got.into_iter().enumerate() {
                let range = block(7, me, size);
                assert_eq!(mine, all[2 * range.start..2 * range.end], "{size} ranks, rank {me}");
                if me == 0 {
                    assert_eq!(gathered, all.iter().map(|x| 2.0 * x).collect::<Vec<_>>());
                } else {
                    assert!(gathered.is_empty());
                }
                assert_eq!(everywhere, all);
                assert_eq!(b, [5.0; 3], "rank 0's values everywhere");
            }
        }
        let mut out = [0.0; 2];
        OneRank.sendrecv_f64(&[1.0, 2.0], Some(0), &mut out, Some(0));
        assert_eq!(out, [1.0, 2.0]);
        OneRank.gather_f64(&[3.0, 4.0], &[2], &mut out);
        assert_eq!(out, [3.0, 4.0]);
    }
}
