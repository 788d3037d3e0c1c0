//! `collectives`: the time of one MPI collective operation over a message-size sweep, as the
//! OSU micro-benchmarks' collective tests measure it (`osu_bcast`, `osu_scatter`,
//! `osu_gather`, `osu_allgather`, `osu_reduce`, `osu_allreduce`, `osu_alltoall`), each result
//! checked as their `-c` does.
//!
//! `op` picks the operation; rank 0 is the root of the rooted ones. The size is OSU's message
//! size: the bytes of the one buffer of `bcast`, of the block each rank sends to or receives
//! from each peer for `scatter`, `gather`, `allgather` and `alltoall`, and of the `f32` values
//! (`MPI_FLOAT`, summed with `MPI_SUM`) of `reduce` and `allreduce`, whose size must therefore
//! be a multiple of 4 bytes (other sizes are refused, not rounded, so that a row's size is the
//! size measured). A run is `iterations` operations, fewer for big messages (at most
//! [`BYTES_PER_RUN`] of message per run, at least [`MIN_OPS`] operations).
//!
//! As OSU does, each operation is timed alone and followed by a barrier outside the timer
//! (`PhaseTimes::excluded_ns`): back to back, a rooted operation's root could start the next
//! one before the last had reached every rank, and small `bcast`, `scatter`, `gather` and
//! `reduce` would report a pipelined rate several times below their latency (on 2 ranks sharing
//! a node, an 8 B `bcast` took 0.18 us back to back against 0.87 us with the barriers). The
//! results carry the time per operation as `latency_ns`: the slowest rank's (the sample), and
//! beside it the mean over ranks (`rank_mean_ns`), OSU's maximum and average. Throughput is
//! message bytes per second: the size over the time per operation.
//!
//! Every rank's data are deterministic (from the seed, the sending rank and the offset), so each
//! rank checks what it received in [`RankShare::check_local`], outside the timed runs: the
//! broadcast buffer, its block of the scatter, every rank's block (gather on rank 0,
//! allgather, alltoall) or the sums, exact since the values are small integers whatever order
//! the library adds them in. A check then overwrites what it checked with values that differ
//! from the expected ones everywhere, so the next check passes only if another run delivered
//! the data again: a skipped or truncated operation cannot pass on an earlier run's result.
//!
//! Versions: `mpi` (one blocking collective at a time) and `sequential`, the baseline: one
//! message copied within one process per operation, the floor under any collective, verified
//! the same way.

use std::cell::RefCell;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::{
    mix64, CaseShape, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, Refused, SizeUnit,
    SpeedupMeaning, Unsupported, Verification, Workload,
};
use crate::machine::Machine;
use crate::ranks::{PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
use crate::strategy::{Exec, Family, Strategy};
use crate::units::format_bytes;

pub struct Collectives;

/// Message bytes a run may move before the operation count is cut (big messages).
pub const BYTES_PER_RUN: u64 = 64 << 20;
/// The fewest operations a run holds, whatever the size.
pub const MIN_OPS: u64 = 4;
/// The largest message: a rank's buffers hold a block per rank, and an MPI count is a 32-bit int.
pub const MAX_BYTES: u64 = 64 << 20;

static PARAMS: &[ParamSpec] = &[
    ParamSpec::choice(
        "op",
        "the collective: bcast, scatter, gather, allgather, reduce, allreduce (f32 sums) or alltoall",
        &["bcast", "scatter", "gather", "allgather", "reduce", "allreduce", "alltoall"],
    ),
    ParamSpec {
        name: "iterations",
        help: "operations per run (fewer for big messages: at most 64 MiB of message per run, at least 4)",
        default: ParamValue::Int(100),
        min: 1.0,
        max: 1e7,
        choices: &[],
    },
];

/// The operations, as `op` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Bcast,
    Scatter,
    Gather,
    Allgather,
    Reduce,
    Allreduce,
    Alltoall,
}

impl Op {
    const ALL: [Op; 7] =
        [Op::Bcast, Op::Scatter, Op::Gather, Op::Allgather, Op::Reduce, Op::Allreduce, Op::Alltoall];

    /// The operation `op` names; the plan checks the choices, so an unknown name means parameters
    /// that did not come through it (a rank of another version).
    fn of(params: &Params) -> Result<Op, String> {
        let name = params.text("op");
        Op::ALL.into_iter().find(|op| op.name() == name).ok_or_else(|| format!("no collective `{name}`"))
    }

    fn name(self) -> &'static str {
        match self {
            Op::Bcast => "bcast",
            Op::Scatter => "scatter",
            Op::Gather => "gather",
            Op::Allgather => "allgather",
            Op::Reduce => "reduce",
            Op::Allreduce => "allreduce",
            Op::Alltoall => "alltoall",
        }
    }

    /// Whether it sums `f32` values rather than moving bytes.
    fn sums(self) -> bool {
        matches!(self, Op::Reduce | Op::Allreduce)
    }

    /// Bytes of (send, receive) buffer rank `rank` of `ranks` holds for messages of `size`.
    fn buffers(self, size: u64, rank: usize, ranks: usize) -> (u64, u64) {
        let all = size.saturating_mul(ranks as u64);
        let root = rank == 0;
        match self {
            // One buffer: the source on rank 0, the destination elsewhere.
            Op::Bcast => (0, size),
            Op::Scatter => (if root { all } else { 0 }, size),
            Op::Gather => (size, if root { all } else { 0 }),
            Op::Allgather => (size, all),
            Op::Alltoall => (all, all),
            Op::Reduce => (size, if root { size } else { 0 }),
            Op::Allreduce => (size, size),
        }
    }

    /// What a check found right, for `verify`'s text.
    fn checked(self, size: u64, ranks: usize) -> String {
        let (block, all) = (format_bytes(size), format_bytes(size.saturating_mul(ranks as u64)));
        match self {
            Op::Bcast => format!("every rank holds rank 0's {block}"),
            Op::Scatter => format!("every rank holds its {block} block of rank 0's {all}"),
            Op::Gather => format!("rank 0 holds every rank's {block}"),
            Op::Allgather => format!("every rank holds every rank's {block}"),
            Op::Alltoall => format!("every rank holds its {block} block of every rank's {all}"),
            Op::Reduce => format!("rank 0 holds the exact sum of every rank's {} f32", size / 4),
            Op::Allreduce => format!("every rank holds the exact sum of every rank's {} f32", size / 4),
        }
    }
}

/// Operations per run at `size`.
fn ops(size: u64, params: &Params) -> u64 {
    (params.int("iterations").max(1) as u64).min((BYTES_PER_RUN / size.max(1)).max(MIN_OPS))
}

impl Workload for Collectives {
    fn name(&self) -> &'static str {
        "collectives"
    }
    fn summary(&self) -> &'static str {
        "OSU-style time per MPI collective (bcast, scatter, gather, allgather, reduce, allreduce, \
         alltoall) over a message-size sweep, every result checked"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "message bytes", bytes_per_item: Some(1) }
    }
    fn throughput_unit(&self) -> &'static str {
        "B/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        // OSU's sweep, from the smallest size every operation accepts (one f32) to 1 MiB.
        (2..=20).map(|p| 1u64 << p).collect()
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        super::mpi_only_support(
            self.name(),
            strategy,
            "`collectives` times one blocking collective at a time: it has nothing to overlap them with",
            "`collectives` measures MPI's collective operations between ranks: it runs on `mpi` (and \
             `sequential`, a copy of the message per operation)",
        )
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // The baseline's message and copy.
        size.saturating_mul(2)
    }
    fn case_memory_bytes(&self, size: u64, params: &Params, case: &CaseShape) -> u64 {
        if case.family != Family::Mpi {
            return 0;
        }
        // An unknown operation is refused elsewhere; alltoall's is the largest need.
        let op = Op::of(params).unwrap_or(Op::Alltoall);
        (0..case.workers.max(1))
            .map(|rank| {
                let (send, recv) = op.buffers(size, rank, case.workers.max(1));
                send.saturating_add(recv)
            })
            .fold(0u64, u64::saturating_add)
    }
    fn work(&self, size: u64, params: &Params) -> f64 {
        (ops(size, params) as f64) * size as f64
    }
    fn latency_ops(&self, size: u64, params: &Params) -> Option<f64> {
        Some(ops(size, params) as f64)
    }
    fn speedup_meaning(&self, strategy: &str) -> SpeedupMeaning {
        if strategy == "mpi" {
            SpeedupMeaning::NotApplicable(
                "a collective is communication between ranks, not work split over them: read its time \
                 per operation (latency), not a speedup over one process's copy",
            )
        } else {
            SpeedupMeaning::Parallel
        }
    }
    fn check_size(&self, size: u64, params: &Params) -> Result<(), PrepareError> {
        let op = Op::of(params).map_err(PrepareError::Invalid)?;
        if size > MAX_BYTES {
            return Err(PrepareError::Invalid(format!(
                "a message of {} is more than the {} a collective sends here",
                format_bytes(size),
                format_bytes(MAX_BYTES)
            )));
        }
        if op.sums() && !size.is_multiple_of(4) {
            return Err(PrepareError::Invalid(format!(
                "`{}` sums 4-byte f32 values (MPI_FLOAT, as OSU does): its size must be a multiple of 4 \
                 bytes, not {size}",
                op.name()
            )));
        }
        Ok(())
    }
    fn check_case(&self, size: u64, params: &Params, case: &CaseShape) -> Result<(), Refused> {
        if case.family != Family::Mpi {
            return Ok(());
        }
        let op = Op::of(params).map_err(|why| Refused::new("params.op", why))?;
        let (send, recv) = op.buffers(size, 0, case.workers.max(1));
        if send.max(recv) > i32::MAX as u64 {
            return Err(Refused::new(
                "size",
                format!(
                    "`{}` of {} over {} ranks needs a buffer of {}, more than an MPI count reaches \
                     (2^31 - 1 bytes); use a smaller size or fewer ranks",
                    op.name(),
                    format_bytes(size),
                    case.workers,
                    format_bytes(send.max(recv))
                ),
            ));
        }
        Ok(())
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let len = usize::try_from(size).map_err(|_| PrepareError::Invalid(format!("{size} bytes")))?;
        Ok(Box::new(Input { len, seed, ops: ops(size, params) }))
    }
    fn rank_share(
        &self,
        job: &JobSpec,
        strategy: &dyn Strategy,
        ranks: &dyn Ranks,
    ) -> Option<Result<Box<dyn RankShare>, String>> {
        if let Err(why) = self.support(strategy) {
            return Some(Err(why.to_string()));
        }
        Some(RankPart::new(job, ranks).map(|p| Box::new(p) as Box<dyn RankShare>))
    }
}

/// Bytes `at` of what rank `rank` sends under `seed`.
fn bytes(seed: u64, rank: usize, at: Range<usize>) -> Vec<u8> {
    // Byte i is byte i mod 8 of the hash of word i / 8 (one hash per byte computed, cheap next
    // to a check that runs outside the timed runs): different for every rank and offset.
    at.map(|i| mix64(seed ^ ((rank as u64) << 48) ^ (i as u64 / 8)).to_le_bytes()[i % 8]).collect()
}

/// Values `at` of what rank `rank` adds under `seed`: integers below 1024, so that the sum over
/// any number of ranks below 16384 is exact in an f32 whatever order it is added in.
fn values(seed: u64, rank: usize, at: Range<usize>) -> Vec<f32> {
    let salt = seed ^ 0x05EE_DF32 ^ ((rank as u64) << 48);
    at.map(|i| (mix64(salt ^ i as u64) % 1024) as f32).collect()
}

/// Compares `got` with `want`, then overwrites `got` with `differ(want)` everywhere, so that
/// only a later delivery can make it right again. `Err` names the first wrong element.
fn check_then_spoil<T: Copy + PartialEq + std::fmt::Debug>(
    what: &str,
    got: &mut [T],
    want: &[T],
    differ: impl Fn(T) -> T,
) -> Result<(), String> {
    let wrong = if got.len() != want.len() {
        Err(format!("{what}: {} elements, {} expected", got.len(), want.len()))
    } else if let Some(at) = got.iter().zip(want).position(|(g, w)| g != w) {
        Err(format!("{what}: element {at} is {:?}, {:?} expected", got[at], want[at]))
    } else {
        Ok(())
    };
    for (g, w) in got.iter_mut().zip(want) {
        *g = differ(*w);
    }
    wrong
}

/// What the byte comparison spoils with: the complement, which differs from every byte.
fn not(b: u8) -> u8 {
    !b
}

/// What the sum comparison spoils with: a negative value, which no sum of the values is.
fn negative(v: f32) -> f32 {
    -1.0 - v
}

struct Input {
    len: usize,
    seed: u64,
    ops: u64,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        let sent = bytes(self.seed, 0, 0..self.len);
        let got = RefCell::new(sent.iter().map(|&b| not(b)).collect());
        Box::new(Baseline { sent, got, ops: self.ops })
    }
}

/// The baseline: the message copied into the receive buffer once per operation.
struct Baseline {
    sent: Vec<u8>,
    /// Spoiled by each check (hence the cell: [`Kernel::verify`] reads through `&self`).
    got: RefCell<Vec<u8>>,
    ops: u64,
}

impl Kernel for Baseline {
    fn run(&mut self, _exec: &Exec) {
        let got = self.got.get_mut();
        for _ in 0..self.ops {
            // Opaque, so that the copies are not merged into one.
            std::hint::black_box(&mut *got).copy_from_slice(std::hint::black_box(&self.sent));
        }
    }
    fn verify(&self) -> Verification {
        let mut got = self.got.borrow_mut();
        match check_then_spoil("the copy", &mut got, &self.sent, not) {
            Ok(()) => Verification::pass(format!(
                "{} copied {} times per run",
                format_bytes(got.len() as u64),
                self.ops
            )),
            Err(why) => Verification::fail(why),
        }
    }
}

/// A rank's buffers: bytes, or the values of a sum.
enum Buffers {
    Bytes { send: Vec<u8>, recv: RefCell<Vec<u8>> },
    Sums { send: Vec<f32>, recv: RefCell<Vec<f32>> },
}

/// One rank's part of a collective.
struct RankPart {
    op: Op,
    rank: usize,
    ranks: usize,
    /// The message size in bytes.
    size: usize,
    ops: u64,
    seed: u64,
    buffers: Buffers,
    runs: u64,
}

impl RankPart {
    fn new(job: &JobSpec, ranks: &dyn Ranks) -> Result<RankPart, String> {
        let size = usize::try_from(job.size).map_err(|_| format!("{} bytes is too many here", job.size))?;
        let op = Op::of(&job.params)?;
        if op.sums() && !size.is_multiple_of(4) {
            return Err(format!(
                "`{}` sums f32 values: {size} bytes is not a whole number of them",
                op.name()
            ));
        }
        let (rank, p) = (ranks.rank(), ranks.size());
        let (send, _) = op.buffers(job.size, rank, p);
        let send = send as usize;
        let mut part = RankPart {
            op,
            rank,
            ranks: p,
            size,
            ops: ops(job.size, &job.params),
            seed: job.seed,
            buffers: Buffers::Bytes { send: Vec::new(), recv: RefCell::new(Vec::new()) },
            runs: 0,
        };
        part.buffers = if op.sums() {
            let want = part.expected_sums();
            Buffers::Sums {
                send: values(job.seed, rank, 0..send / 4),
                recv: RefCell::new(want.into_iter().map(negative).collect()),
            }
        } else {
            let want = part.expected_bytes();
            // Rank 0's broadcast buffer is its message; every other receive starts wrong.
            let recv = if op == Op::Bcast && rank == 0 { want } else { want.into_iter().map(not).collect() };
            Buffers::Bytes { send: bytes(job.seed, rank, 0..send), recv: RefCell::new(recv) }
        };
        Ok(part)
    }

    /// What this rank's receive buffer holds after a byte collective.
    fn expected_bytes(&self) -> Vec<u8> {
        let (seed, me, s) = (self.seed, self.rank, self.size);
        let every_rank = |at: Range<usize>| -> Vec<u8> {
            (0..self.ranks).flat_map(|r| bytes(seed, r, at.clone())).collect()
        };
        match self.op {
            Op::Bcast => bytes(seed, 0, 0..s),
            Op::Scatter => bytes(seed, 0, me * s..(me + 1) * s),
            Op::Gather if me != 0 => Vec::new(),
            Op::Gather | Op::Allgather => every_rank(0..s),
            Op::Alltoall => every_rank(me * s..(me + 1) * s),
            Op::Reduce | Op::Allreduce => unreachable!("sums have no bytes"),
        }
    }

    /// What this rank's receive buffer holds after a sum.
    fn expected_sums(&self) -> Vec<f32> {
        if self.op == Op::Reduce && self.rank != 0 {
            return Vec::new();
        }
        let n = self.size / 4;
        let mut sums = vec![0f32; n];
        for r in 0..self.ranks {
            for (s, v) in sums.iter_mut().zip(values(self.seed, r, 0..n)) {
                *s += v;
            }
        }
        sums
    }
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        // As OSU times a collective: each operation alone, then a barrier outside the timer, so
        // that a root cannot start the next operation while the last is still arriving
        // elsewhere (back to back, small rooted operations pipeline and look several times
        // faster than they are).
        let start = Instant::now();
        let mut timed = Duration::ZERO;
        for _ in 0..self.ops {
            let op_start = Instant::now();
            match (&mut self.buffers, self.op) {
                (Buffers::Bytes { recv, .. }, Op::Bcast) => ranks.bcast_u8(recv.get_mut()),
                (Buffers::Bytes { send, recv }, Op::Scatter) => ranks.scatter_u8(send, recv.get_mut()),
                (Buffers::Bytes { send, recv }, Op::Gather) => ranks.gather_u8(send, recv.get_mut()),
                (Buffers::Bytes { send, recv }, Op::Allgather) => ranks.allgather_u8(send, recv.get_mut()),
                (Buffers::Bytes { send, recv }, Op::Alltoall) => ranks.alltoall_u8(send, recv.get_mut()),
                (Buffers::Sums { send, recv }, Op::Reduce) => ranks.reduce_sum_f32(send, recv.get_mut()),
                (Buffers::Sums { send, recv }, Op::Allreduce) => {
                    ranks.allreduce_sum_f32(send, recv.get_mut())
                }
                _ => return Err(format!("`{}` has the wrong kind of buffers", self.op.name())),
            }
            timed += op_start.elapsed();
            ranks.barrier();
        }
        self.runs += 1;
        // All of the timed part is communication: nothing is computed between the operations.
        let whole = start.elapsed();
        Ok(PhaseTimes {
            compute_ns: 0,
            combine_ns: timed.as_nanos() as u64,
            excluded_ns: whole.saturating_sub(timed).as_nanos() as u64,
        })
    }
    fn verify(&self) -> Result<String, String> {
        // Every rank checks its own buffers in `check_local`; rank 0 says what they checked.
        if self.runs == 0 {
            return Err("no run to check".into());
        }
        Ok(format!(
            "{} of {} over {} ranks, {} per run: {}",
            self.op.name(),
            format_bytes(self.size as u64),
            self.ranks,
            self.ops,
            self.op.checked(self.size as u64, self.ranks)
        ))
    }
    fn check_local(&self) -> Result<(), String> {
        let what = format!("{} receive buffer", self.op.name());
        match &self.buffers {
            Buffers::Bytes { recv, .. } => {
                let want = self.expected_bytes();
                if self.op == Op::Bcast && self.rank == 0 {
                    // The source, never spoiled: the next broadcast sends it.
                    return check_then_spoil(&what, &mut recv.borrow().clone(), &want, not);
                }
                check_then_spoil(&what, &mut recv.borrow_mut(), &want, not)
            }
            Buffers::Sums { recv, .. } => {
                check_then_spoil(&what, &mut recv.borrow_mut(), &self.expected_sums(), negative)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::{self, OneRank};
    use crate::workload::default_params;

    const OPS: [&str; 7] = ["bcast", "scatter", "gather", "allgather", "reduce", "allreduce", "alltoall"];

    fn job(op: &str, size: u64) -> JobSpec {
        let mut params = default_params(&Collectives);
        params.0.insert("op".into(), ParamValue::Text(op.to_string().into()));
        params.0.insert("iterations".into(), ParamValue::Int(3));
        JobSpec { workload: "collectives".into(), params, size, seed: 11, shared: None }
    }

    fn part(j: &JobSpec, r: &dyn Ranks) -> RankPart {
        RankPart::new(j, r).unwrap()
    }

    #[test]
    fn every_op_verifies_on_two_and_three_ranks() {
        for op in OPS {
            for ranks in [2, 3] {
                // 4 B, and a size that is not a multiple of 8 (the hash's word).
                for size in [4, 1004] {
                    let j = job(op, size);
                    let make = |r: &dyn Ranks| {
                        Collectives.rank_share(&j, crate::strategy::mpi::mpi(), r).expect("an MPI version")
                    };
                    let rank0 = ranks::run_on_threads(ranks, 2, &make)
                        .unwrap_or_else(|e| panic!("{op} {size} B on {ranks}: {e}"));
                    let said = rank0.verify().unwrap();
                    assert!(
                        said.starts_with(&format!("{op} of {size} B over {ranks} ranks, 3 per run")),
                        "{said}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_operation_is_timed_alone_with_the_barrier_after_it_left_out() {
        let j = job("bcast", 64);
        let timed = ranks::on_threads(2, |r| {
            let mut share = part(&j, r);
            let started = Instant::now();
            let t = share.run(r).unwrap();
            (t, started.elapsed())
        });
        for (t, elapsed) in timed {
            let covered = Duration::from_nanos(t.combine_ns + t.excluded_ns);
            assert!(covered <= elapsed, "{t:?} within {elapsed:?}");
            assert_eq!(t.compute_ns, 0);
            assert!(t.combine_ns > 0, "{t:?}");
            assert!(t.excluded_ns > 0, "the barriers between operations are left out: {t:?}");
        }
    }

    /// Runs `op` on `size` thread ranks, then on each rank: `spoil` may corrupt the received
    /// buffer, and the rank's check's outcome comes back, then that of a second check without a
    /// run in between.
    fn checks_after(
        op: &str,
        size: usize,
        spoil: impl Fn(&mut RankPart) + Sync,
    ) -> Vec<(Result<(), String>, Result<(), String>)> {
        let j = job(op, 64);
        ranks::on_threads(size, |r| {
            let mut p = part(&j, r);
            p.run(r).unwrap();
            spoil(&mut p);
            (p.check_local(), p.check_local())
        })
    }

    #[test]
    fn a_corrupted_receive_fails_its_ranks_check() {
        for op in OPS {
            let got = checks_after(op, 3, |p| {
                if p.rank != 2 {
                    return;
                }
                match &mut p.buffers {
                    Buffers::Bytes { recv, .. } => {
                        recv.get_mut().last_mut().into_iter().for_each(|b| *b ^= 1)
                    }
                    Buffers::Sums { recv, .. } => {
                        recv.get_mut().last_mut().into_iter().for_each(|v| *v += 1.0)
                    }
                }
            });
            // Rank 2 receives something in every op but gather and reduce (rank 0 only).
            let receives = !matches!(op, "gather" | "reduce");
            assert_eq!(got[2].0.is_err(), receives, "{op}: {:?}", got[2].0);
            if receives {
                let why = got[2].0.as_ref().unwrap_err();
                assert!(why.starts_with(&format!("{op} receive buffer: element ")), "{why}");
            }
            assert!(got[0].0.is_ok() && got[1].0.is_ok(), "{op}: {got:?}");
        }
    }

    #[test]
    fn a_check_spoils_what_it_checked_so_only_a_new_run_passes_the_next() {
        for op in OPS {
            let got = checks_after(op, 2, |_| {});
            for (rank, (first, second)) in got.iter().enumerate() {
                assert!(first.is_ok(), "{op} rank {rank}: {first:?}");
                // Rank 0's broadcast buffer is the source, and gather and reduce leave nothing
                // on rank 1: nothing received, nothing to spoil.
                let nothing = rank == 0 && op == "bcast" || rank == 1 && matches!(op, "gather" | "reduce");
                assert_eq!(second.is_ok(), nothing, "{op} rank {rank}: {second:?}");
            }
        }
    }

    #[test]
    fn one_rank_runs_every_op() {
        for op in OPS {
            let j = job(op, 256);
            let mut share =
                Collectives.rank_share(&j, crate::strategy::mpi::mpi(), &OneRank).unwrap().unwrap();
            assert_eq!(share.verify().unwrap_err(), "no run to check");
            share.run(&OneRank).unwrap();
            share.check_local().unwrap_or_else(|e| panic!("{op}: {e}"));
            assert!(share.verify().unwrap().contains("over 1 ranks"), "{op}");
        }
    }

    #[test]
    fn sizes_sums_cannot_hold_and_oversized_messages_are_refused() {
        let why = Collectives.check_size(6, &job("allreduce", 6).params).unwrap_err().to_string();
        assert_eq!(
            why,
            "`allreduce` sums 4-byte f32 values (MPI_FLOAT, as OSU does): its size must be a multiple of 4 bytes, not 6"
        );
        assert!(Collectives.check_size(6, &job("reduce", 6).params).is_err());
        assert!(Collectives.check_size(6, &job("bcast", 6).params).is_ok(), "bytes take any size");
        assert!(Collectives.check_size(1, &job("alltoall", 1).params).is_ok());
        let why = Collectives.check_size(MAX_BYTES + 1, &job("bcast", 1).params).unwrap_err().to_string();
        assert!(why.contains("64 MiB"), "{why}");
        let shape = |workers| CaseShape {
            family: Family::Mpi,
            strategy: "mpi",
            workers,
            chunk: None,
            sequential: false,
            capacity: None,
        };
        let params = job("alltoall", 1).params;
        let refused = Collectives.check_case(MAX_BYTES, &params, &shape(32)).unwrap_err();
        assert_eq!(refused.field, "size");
        assert!(refused.why.contains("MPI count"), "{refused}");
        assert!(Collectives.check_case(MAX_BYTES, &params, &shape(8)).is_ok());
        assert!(Collectives.check_case(MAX_BYTES, &job("bcast", 1).params, &shape(64)).is_ok());
        // Alltoall's two buffers of a block per rank, on each of 4 ranks.
        assert_eq!(Collectives.case_memory_bytes(1000, &params, &shape(4)), 4 * 2 * 4 * 1000);
    }

    #[test]
    fn an_unknown_operation_is_refused_not_run_as_another() {
        let j = job("barrier", 8);
        assert_eq!(RankPart::new(&j, &OneRank).err().unwrap(), "no collective `barrier`");
        assert!(Collectives.check_size(8, &j.params).is_err());
        for name in OPS {
            assert_eq!(Op::of(&job(name, 8).params).unwrap().name(), name);
        }
    }

    #[test]
    fn big_messages_run_fewer_operations() {
        let params = job("bcast", 1).params;
        assert_eq!(ops(8, &params), 3, "the parameter, when a run stays small");
        let params = default_params(&Collectives);
        assert_eq!(ops(8, &params), 100);
        assert_eq!(ops(1 << 20, &params), 64);
        assert_eq!(ops(MAX_BYTES, &params), MIN_OPS);
        assert_eq!(Collectives.latency_ops(1 << 20, &params), Some(64.0));
    }

    #[test]
    fn the_baseline_copies_the_message_and_its_check_needs_a_new_run() {
        let input = Collectives.prepare(4096, &default_params(&Collectives), 3).unwrap();
        let mut kernel = input.kernel();
        assert!(!kernel.verify().passed, "verified before any run");
        let exec = crate::strategy::tests::exec(crate::strategy::find("sequential").unwrap(), 1);
        kernel.run(&exec);
        let v = kernel.verify();
        assert!(v.passed, "{}", v.detail);
        assert_eq!(v.detail, "4 KiB copied 100 times per run");
        assert!(!kernel.verify().passed, "the check spoiled the copy");
        kernel.run(&exec);
        assert!(kernel.verify().passed);
    }
}
