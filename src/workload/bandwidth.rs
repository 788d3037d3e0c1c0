//! `bandwidth`: the OSU bandwidth test (`osu_bw`) between two MPI ranks, a quantity of its own
//! beside `ping_pong`'s latency.
//!
//! Rank 0 starts a window of `window` (64) non-blocking sends (`MPI_Isend`) of `size` bytes to
//! rank 1, waits for all of them, then waits for rank 1's 4-byte acknowledgement; rank 1 posts
//! `window` non-blocking receives (`MPI_Irecv`), each into a buffer of its own (the MPI standard
//! forbids pending receives that share a buffer, which OSU ignores), waits for all, and
//! acknowledges. Many messages are in flight at once, so the library can pipeline them: the
//! throughput (bytes of the messages per second) is what one direction of the link carries,
//! not the size over a round trip's latency that a ping-pong gives.
//!
//! A run is `windows` windows, fewer for big messages (at most 256 MiB per run, at least one
//! window); the adaptive sampling decides how many runs, where OSU fixes its iterations. The
//! messages are deterministic (from the seed, the message's slot in the window and the offset),
//! so rank 1 checks every byte it received in [`RankShare::check_local`], outside the timed
//! runs, and then poisons its buffers (each byte flipped), so that a later check passes only if
//! a later run refilled them. Rank 0 checks that each acknowledgement named its own window.
//! The `sequential` baseline copies a window of messages into the receive buffers: a verified
//! floor, not a run to divide by (no speedup applies).

use std::cell::RefCell;
use std::time::Instant;

use super::{
    mix64, CaseShape, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, Refused, SizeUnit,
    SpeedupMeaning, Unsupported, Verification, Workload, GAMMA,
};
use crate::machine::Machine;
use crate::ranks::{PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
use crate::strategy::{Exec, Family, Strategy};

pub struct Bandwidth;

/// The largest message: the receiver holds a window of them.
pub const MAX_BYTES: u64 = 16 << 20;
/// Bytes of messages a run may send before its window count is cut (big messages).
const BYTES_PER_RUN: u64 = 256 << 20;
/// The acknowledgement rank 1 sends after each window: the window's number, as OSU's 4 bytes.
const ACK_BYTES: usize = 4;

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "windows",
        help: "windows per run (fewer for big messages: at most 256 MiB of messages per run, at least one)",
        default: ParamValue::Int(100),
        min: 1.0,
        max: 1e7,
        choices: &[],
    },
    ParamSpec {
        name: "window",
        help: "non-blocking sends in flight per window, each acknowledged as a whole (OSU's 64)",
        default: ParamValue::Int(64),
        min: 1.0,
        max: 1024.0,
        choices: &[],
    },
];

fn window(params: &Params) -> u64 {
    params.int("window") as u64
}

/// Windows per run at `size`.
fn windows(size: u64, params: &Params) -> u64 {
    let per_window = size.saturating_mul(window(params)).max(1);
    (params.int("windows") as u64).min((BYTES_PER_RUN / per_window).max(1))
}

impl Workload for Bandwidth {
    fn name(&self) -> &'static str {
        "bandwidth"
    }
    fn summary(&self) -> &'static str {
        "OSU-style bandwidth between two MPI ranks: windows of 64 non-blocking sends, each acknowledged"
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
        (0..=22).map(|p| 1u64 << p).collect()
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        super::mpi_only_support(
            self.name(),
            strategy,
            "`bandwidth`'s windows are non-blocking sends already, with nothing to compute beside them",
            "`bandwidth` is windows of MPI messages between two ranks: it runs on `mpi` (and `sequential`, \
             a copy of the window)",
        )
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), PrepareError> {
        if size > MAX_BYTES {
            return Err(PrepareError::Invalid(format!(
                "messages of {} are more than the {} `bandwidth` sends (the receiver holds a window of them)",
                crate::units::format_bytes(size),
                crate::units::format_bytes(MAX_BYTES)
            )));
        }
        Ok(())
    }
    fn check_case(&self, _size: u64, _: &Params, case: &CaseShape) -> Result<(), Refused> {
        if case.family == Family::Mpi && case.workers != 2 {
            return Err(Refused::new("workers", two_ranks(case.workers)));
        }
        Ok(())
    }
    fn memory_bytes(&self, size: u64, params: &Params) -> u64 {
        // The baseline's window of messages and its receive buffers.
        size.saturating_mul(window(params)).saturating_mul(2)
    }
    fn case_memory_bytes(&self, size: u64, params: &Params, case: &CaseShape) -> u64 {
        match case.family {
            // Rank 0's window of messages, rank 1's window of receive buffers.
            Family::Mpi => size.saturating_mul(window(params)).saturating_mul(2),
            _ => 0,
        }
    }
    fn work(&self, size: u64, params: &Params) -> f64 {
        (windows(size, params) * window(params)) as f64 * size as f64
    }
    fn speedup_meaning(&self, _strategy: &str) -> SpeedupMeaning {
        SpeedupMeaning::NotApplicable(
            "bandwidth measures how fast messages stream from one rank to another; the sequential \
             copy of a window is a floor, not a run to divide by (read the throughput)",
        )
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let len = usize::try_from(size).map_err(|_| PrepareError::Invalid(format!("{size} bytes")))?;
        Ok(Box::new(Input {
            len,
            seed,
            window: window(params) as usize,
            windows: windows(size, params) as usize,
        }))
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

/// Why `bandwidth` over MPI refuses `ranks` ranks.
fn two_ranks(ranks: usize) -> String {
    format!(
        "`bandwidth` streams messages from rank 0 to rank 1, as osu_bw: it runs on exactly 2 ranks, \
         not {ranks}; give it `workers = 2`"
    )
}

/// The 8 bytes of message `slot` at word `word` (offsets `8 * word..`) under `seed`.
fn word(seed: u64, slot: usize, word: usize) -> [u8; 8] {
    mix64(seed.wrapping_add((((slot as u64) << 32) | word as u64).wrapping_mul(GAMMA))).to_le_bytes()
}

/// A window of `count` messages of `len` bytes, one after the other.
fn window_of(seed: u64, len: usize, count: usize) -> Vec<u8> {
    let mut all = vec![0; len * count];
    for (slot, msg) in all.chunks_mut(len).enumerate() {
        // Whole words first: a quarter of a GiB of messages is built (and checked) word by word.
        let mut words = msg.chunks_exact_mut(8);
        for (w, bytes) in words.by_ref().enumerate() {
            bytes.copy_from_slice(&word(seed, slot, w));
        }
        let tail = words.into_remainder();
        let n = tail.len();
        tail.copy_from_slice(&word(seed, slot, len / 8)[..n]);
    }
    all
}

/// The first (slot, offset) at which `got`, a window of `len`-byte messages, differs from
/// [`window_of`]'s.
fn first_wrong(seed: u64, len: usize, got: &[u8]) -> Option<(usize, usize)> {
    let differs = |slot: usize, w: usize, bytes: &[u8]| {
        let want = word(seed, slot, w);
        bytes.iter().zip(want).position(|(a, b)| *a != b).map(|at| (slot, 8 * w + at))
    };
    got.chunks(len).enumerate().find_map(|(slot, msg)| {
        let words = msg.chunks_exact(8);
        let tail = words.remainder();
        words
            .enumerate()
            .find(|&(w, bytes)| bytes != word(seed, slot, w))
            .and_then(|(w, bytes)| differs(slot, w, bytes))
            .or_else(|| differs(slot, len / 8, tail))
    })
}

struct Input {
    len: usize,
    seed: u64,
    window: usize,
    windows: usize,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Copy {
            input: self,
            msgs: window_of(self.seed, self.len, self.window),
            bufs: vec![0; self.len * self.window],
            runs: 0,
        })
    }
}

/// The baseline: each window's messages copied into the receive buffers.
struct Copy<'a> {
    input: &'a Input,
    msgs: Vec<u8>,
    bufs: Vec<u8>,
    runs: u64,
}

impl Kernel for Copy<'_> {
    fn run(&mut self, _exec: &Exec) {
        let len = self.input.len;
        for _ in 0..self.input.windows {
            for (buf, msg) in self.bufs.chunks_mut(len).zip(self.msgs.chunks(len)) {
                buf.copy_from_slice(msg);
            }
        }
        self.runs += 1;
    }
    fn verify(&self) -> Verification {
        let Input { len, seed, window, windows } = *self.input;
        match (self.runs, first_wrong(seed, len, &self.bufs)) {
            (0, _) => Verification::fail("no run"),
            (_, None) => Verification::pass(format!("{windows} windows of {window} x {len} B copied")),
            (_, Some((slot, at))) => Verification::fail(format!("message {slot}, byte {at} differs")),
        }
    }
}

/// One rank's side: rank 0 sends and reads the acknowledgements, rank 1 receives.
struct RankPart {
    rank: usize,
    len: usize,
    windows: usize,
    seed: u64,
    /// Rank 0: a window of messages. Rank 1: the window's receive buffers, poisoned by each check
    /// (a `RefCell` because the check, which only reads otherwise, poisons them).
    bufs: RefCell<Vec<u8>>,
    runs: u64,
    /// Rank 0: acknowledgements that did not name the window they ended.
    wrong_acks: u64,
}

impl RankPart {
    fn new(job: &JobSpec, ranks: &dyn Ranks) -> Result<RankPart, String> {
        if ranks.size() != 2 {
            return Err(two_ranks(ranks.size()));
        }
        let len = usize::try_from(job.size).map_err(|_| format!("{} bytes is too many here", job.size))?;
        let count = window(&job.params) as usize;
        let rank = ranks.rank();
        let bufs = if rank == 0 { window_of(job.seed, len, count) } else { vec![0; len * count] };
        Ok(RankPart {
            rank,
            len,
            windows: windows(job.size, &job.params) as usize,
            seed: job.seed,
            bufs: RefCell::new(bufs),
            runs: 0,
            wrong_acks: 0,
        })
    }
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let start = Instant::now();
        let bufs = self.bufs.get_mut();
        let mut ack = [0u8; ACK_BYTES];
        for w in 0..self.windows {
            let this = (w as u32).to_le_bytes();
            if self.rank == 0 {
                ranks.send_window_bytes(1, bufs, self.len);
                ranks.recv_bytes(1, &mut ack);
                self.wrong_acks += u64::from(ack != this);
            } else {
                ranks.recv_window_bytes(0, bufs, self.len);
                ranks.send_bytes(0, &this);
            }
        }
        self.runs += 1;
        // All of it is messages: nothing is computed.
        Ok(PhaseTimes { compute_ns: 0, combine_ns: start.elapsed().as_nanos() as u64, excluded_ns: 0 })
    }
    fn verify(&self) -> Result<String, String> {
        let window = self.bufs.borrow().len() / self.len;
        match (self.runs, self.wrong_acks) {
            (0, _) => Err("no run to check".into()),
            (runs, 0) => Ok(format!(
                "{runs} x {} windows of {window} x {} B, each acknowledged in order",
                self.windows, self.len
            )),
            (_, wrong) => Err(format!("{wrong} acknowledgements named another window")),
        }
    }
    fn check_local(&self) -> Result<(), String> {
        if self.rank == 0 {
            return Ok(());
        }
        if self.runs == 0 {
            return Err("no window received".into());
        }
        let mut bufs = self.bufs.borrow_mut();
        let wrong = first_wrong(self.seed, self.len, &bufs);
        // Every byte flipped: only a run that receives the window again makes them right.
        bufs.iter_mut().for_each(|b| *b = !*b);
        match wrong {
            None => Ok(()),
            Some((slot, at)) => {
                Err(format!("message {slot} of the last window: byte {at} differs from what rank 0 sent"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::{self, OneRank, ThreadRanks};
    use crate::strategy::mpi::{mpi, mpi_nonblocking};
    use crate::workload::default_params;

    fn job(size: u64, windows: i64, window: i64) -> JobSpec {
        let mut params = default_params(&Bandwidth);
        params.0.insert("windows".into(), ParamValue::Int(windows));
        params.0.insert("window".into(), ParamValue::Int(window));
        JobSpec { workload: "bandwidth".into(), params, size, seed: 9, shared: None }
    }

    /// Both sides after `runs` runs on two thread ranks, rank 0 first.
    fn both_sides(job: &JobSpec, runs: usize) -> Vec<RankPart> {
        ranks::on_threads(2, |r| {
            let mut side = RankPart::new(job, r).unwrap();
            for _ in 0..runs {
                side.run(r).unwrap();
            }
            side
        })
    }

    #[test]
    fn windows_verify_on_two_ranks_and_a_corrupted_receive_fails() {
        for (size, window) in [(1, 64), (13, 5), (4096, 3)] {
            let j = job(size, 4, window);
            let make = |r: &dyn Ranks| Bandwidth.rank_share(&j, mpi(), r).expect("an MPI version");
            // `run_on_threads` also runs rank 1's `check_local`.
            let rank0 = ranks::run_on_threads(2, 2, &make).unwrap();
            let ok = rank0.verify().unwrap();
            assert!(ok.contains(&format!("2 x 4 windows of {window} x {size} B")), "{ok}");

            let sides = both_sides(&j, 1);
            assert_eq!(sides[1].check_local(), Ok(()));
            let poisoned = sides[1].check_local().unwrap_err();
            assert!(poisoned.contains("differs"), "a check poisons the buffers: {poisoned}");
            let mut sides = both_sides(&j, 1);
            let last = sides[1].bufs.get_mut().len() - 1;
            sides[1].bufs.get_mut()[last] ^= 1;
            let why = sides[1].check_local().unwrap_err();
            assert!(why.contains(&format!("message {}", window - 1)), "{why}");
        }
        assert!(window_of(9, 8, 2)[..8] != window_of(9, 8, 2)[8..], "each slot its own bytes");
    }

    #[test]
    fn an_acknowledgement_of_another_window_fails_rank_0() {
        let j = job(8, 3, 2);
        let rank0 = std::thread::scope(|scope| {
            let mut ranks = ThreadRanks::new(2).into_iter();
            let (r0, r1) = (ranks.next().unwrap(), ranks.next().unwrap());
            scope.spawn(move || {
                let mut bufs = vec![0u8; 16];
                for w in 0..3u32 {
                    r1.recv_window_bytes(0, &mut bufs, 8);
                    // Off by one: names the next window.
                    r1.send_bytes(0, &(w + 1).to_le_bytes());
                }
            });
            let mut side = RankPart::new(&j, &r0).unwrap();
            side.run(&r0).unwrap();
            side
        });
        assert_eq!(rank0.verify().unwrap_err(), "3 acknowledgements named another window");
    }

    #[test]
    fn mpi_takes_exactly_two_ranks_and_other_strategies_say_why_not() {
        let shape = |workers| CaseShape {
            family: Family::Mpi,
            strategy: "mpi",
            workers,
            chunk: None,
            sequential: false,
            capacity: None,
        };
        let params = default_params(&Bandwidth);
        for workers in [1, 3] {
            let refused = Bandwidth.check_case(8, &params, &shape(workers)).unwrap_err();
            assert_eq!(refused.field, "workers");
            assert!(
                refused.why.contains("exactly 2 ranks") && refused.why.contains(&format!("not {workers}"))
            );
        }
        assert!(Bandwidth.check_case(8, &params, &shape(2)).is_ok());
        let j = job(8, 1, 2);
        let one = Bandwidth.rank_share(&j, mpi(), &OneRank).unwrap().err().unwrap();
        assert!(one.contains("exactly 2 ranks"), "{one}");
        let make = |r: &dyn Ranks| Bandwidth.rank_share(&j, mpi(), r).unwrap();
        assert!(ranks::run_on_threads(3, 1, &make).err().unwrap().contains("not 3"));

        let why = Bandwidth.support(mpi_nonblocking()).unwrap_err().to_string();
        assert!(why.contains("nothing"), "{why}");
        assert_eq!(Bandwidth.rank_share(&j, mpi_nonblocking(), &OneRank).unwrap().err(), Some(why));
        for name in ["threads", "rayon", "channels", "process", "async"] {
            let why = Bandwidth.support(crate::strategy::find(name).unwrap()).unwrap_err().to_string();
            assert!(why.contains("runs on `mpi`"), "{name}: {why}");
        }
        assert!(matches!(Bandwidth.speedup_meaning("mpi"), SpeedupMeaning::NotApplicable(_)));
        assert_eq!(Bandwidth.latency_ops(8, &params), None, "a bandwidth, not a latency");
    }

    #[test]
    fn runs_move_at_most_256_mib_and_at_least_a_window() {
        let params = default_params(&Bandwidth);
        assert_eq!(windows(8, &params), 100);
        assert_eq!(windows(1 << 20, &params), 4, "4 windows of 64 MiB");
        assert_eq!(windows(4 << 20, &params), 1);
        assert_eq!(windows(MAX_BYTES, &params), 1, "at least one window");
        assert_eq!(Bandwidth.work(1 << 20, &params), (256u64 << 20) as f64);
        assert!(Bandwidth.check_size(MAX_BYTES + 1, &params).is_err());
        assert!(Bandwidth.check_size(MAX_BYTES, &params).is_ok());
        let mpi_case = CaseShape {
            family: Family::Mpi,
            strategy: "mpi",
            workers: 2,
            chunk: None,
            sequential: false,
            capacity: None,
        };
        assert_eq!(Bandwidth.case_memory_bytes(1 << 20, &params, &mpi_case), 128 << 20);
    }

    #[test]
    fn the_baseline_copies_a_window() {
        let params = job(100, 3, 4).params;
        let input = Bandwidth.prepare(100, &params, 9).unwrap();
        let mut kernel = input.kernel();
        assert!(!kernel.verify().passed, "verified before any run");
        kernel.run(&crate::strategy::tests::exec(crate::strategy::find("sequential").unwrap(), 1));
        let v = kernel.verify();
        assert!(v.passed && v.detail.contains("3 windows of 4 x 100 B"), "{}", v.detail);
    }
}
