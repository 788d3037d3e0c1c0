//! `exchange`: pairs of MPI ranks swap one message of `size` bytes, the cookbook's lesson on
//! deadlock made measurable and safe.
//!
//! Ranks pair up (0 with 1, 2 with 3, ...; the last of an odd count swaps with itself). `order = "sendrecv"` swaps with one `MPI_Sendrecv`
//! and always completes. `order = "head-to-head"` has both ranks of a pair send first with a
//! blocking `MPI_Send`, then receive: above the library's eager limit each send waits for a
//! receive the other rank never reaches, so the job hangs until the case timeout ends it, and
//! the case is `timed_out` with a hint ([`Workload::timeout_hint`]). To make that certain rather
//! than dependent on a library's eager limit, head-to-head is refused below 1 MiB.
//!
//! Every rank's message is deterministic (from the seed, the sender's rank and the offset), so
//! each receiver checks that what arrived is its peer's; the counts of bad messages are summed
//! on rank 0, which verifies. The sequential baseline copies one message, what an exchange with
//! oneself is.

use super::{
    mix64, Instance, Kernel, ParamSpec, Params, PrepareError, Refused, SizeUnit, SpeedupMeaning, Unsupported,
    Verification, Workload,
};
use crate::machine::Machine;
use crate::ranks::{PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
use crate::strategy::{Exec, Family, Strategy};
use crate::workload::CaseShape;

pub struct Exchange;

/// The smallest head-to-head message: above every MPI library's eager limit, so that two
/// blocking sends head to head cannot both be buffered and always deadlock.
pub const HEAD_TO_HEAD_MIN_BYTES: u64 = 1 << 20;
/// The largest message: an MPI count is a 32-bit int, and two buffers per rank must fit.
pub const MAX_BYTES: u64 = 256 << 20;

/// What a timed-out head-to-head case says.
pub const HEAD_TO_HEAD_HINT: &str =
    "both ranks send first: order the sends (even ranks send first) or use sendrecv";

static PARAMS: &[ParamSpec] = &[ParamSpec::choice(
    "order",
    "how a pair swaps: `sendrecv` (one MPI_Sendrecv) or `head-to-head` (both send first: deadlocks)",
    &["sendrecv", "head-to-head"],
)];

impl Workload for Exchange {
    fn name(&self) -> &'static str {
        "exchange"
    }
    fn summary(&self) -> &'static str {
        "pairs of MPI ranks swap a message: sendrecv, or head-to-head blocking sends that deadlock"
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
        vec![HEAD_TO_HEAD_MIN_BYTES]
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        super::mpi_only_support(
            self.name(),
            strategy,
            "`exchange` has nothing to overlap its message with: the message is what it measures",
            "`exchange` is a conversation between MPI ranks: it runs on `mpi` (and `sequential`, a copy)",
        )
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        size.saturating_mul(2)
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &CaseShape) -> u64 {
        // A message and a receive buffer per rank.
        size.saturating_mul(2).saturating_mul(case.workers.max(1) as u64)
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), PrepareError> {
        if size > MAX_BYTES {
            return Err(PrepareError::Invalid(format!(
                "a message of {} is more than the {} an exchange sends",
                crate::units::format_bytes(size),
                crate::units::format_bytes(MAX_BYTES)
            )));
        }
        Ok(())
    }
    fn check_case(&self, size: u64, params: &Params, case: &CaseShape) -> Result<(), Refused> {
        if case.family != Family::Mpi {
            return Ok(());
        }
        if params.text("order") == "head-to-head" && size < HEAD_TO_HEAD_MIN_BYTES {
            return Err(Refused::new(
                "size",
                format!(
                    "head-to-head sends of {} may fit the MPI library's eager buffer and complete; \
                     give at least {} so that they deadlock every time",
                    crate::units::format_bytes(size),
                    crate::units::format_bytes(HEAD_TO_HEAD_MIN_BYTES)
                ),
            ));
        }
        Ok(())
    }
    fn speedup_meaning(&self, strategy: &str) -> SpeedupMeaning {
        if strategy == "mpi" {
            SpeedupMeaning::NotApplicable(
                "an exchange is a conversation between ranks, not work split over them: read its time \
                 and bandwidth, not a speedup over one process's copy",
            )
        } else {
            SpeedupMeaning::Parallel
        }
    }
    fn timeout_hint(&self, strategy: &str, params: &Params) -> Option<&'static str> {
        (strategy == "mpi" && params.text("order") == "head-to-head").then_some(HEAD_TO_HEAD_HINT)
    }
    fn prepare(&self, size: u64, _: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let len = usize::try_from(size).map_err(|_| PrepareError::Invalid(format!("{size} bytes")))?;
        Ok(Box::new(Input { len, seed }))
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

/// Byte `at` of the message rank `rank` sends under `seed`.
fn byte(seed: u64, rank: usize, at: usize) -> u8 {
    // One hash per 8 bytes: cheap next to the transfer, different for every rank and offset.
    let word = mix64(seed ^ ((rank as u64) << 48) ^ (at as u64 / 8));
    word.to_le_bytes()[at % 8]
}

/// The message rank `rank` sends.
fn message(seed: u64, rank: usize, len: usize) -> Vec<u8> {
    (0..len).map(|at| byte(seed, rank, at)).collect()
}

/// Where the first byte differs from rank `rank`'s message, if any.
fn first_wrong(seed: u64, rank: usize, got: &[u8]) -> Option<usize> {
    got.iter().enumerate().position(|(at, &b)| b != byte(seed, rank, at))
}

struct Input {
    len: usize,
    seed: u64,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Copy {
            sent: message(self.seed, 0, self.len),
            got: vec![0; self.len],
            seed: self.seed,
            runs: 0,
        })
    }
}

/// The baseline: one message copied into the receive buffer.
struct Copy {
    sent: Vec<u8>,
    got: Vec<u8>,
    seed: u64,
    runs: u64,
}

impl Kernel for Copy {
    fn run(&mut self, _exec: &Exec) {
        self.got.fill(0);
        self.got.copy_from_slice(&self.sent);
        self.runs += 1;
    }
    fn verify(&self) -> Verification {
        match (self.runs, first_wrong(self.seed, 0, &self.got)) {
            (0, _) => Verification::fail("no run"),
            (_, None) => Verification::pass(format!("{} bytes copied", self.got.len())),
            (_, Some(at)) => Verification::fail(format!("byte {at} differs from the message")),
        }
    }
}

/// One rank's half of a pair.
struct RankPart {
    peer: usize,
    head_to_head: bool,
    seed: u64,
    sent: Vec<u8>,
    got: Vec<u8>,
    /// After a run, on rank 0: ranks whose received message was wrong, of how many.
    checked: Option<(u64, usize)>,
}

impl RankPart {
    fn new(job: &JobSpec, ranks: &dyn Ranks) -> Result<RankPart, String> {
        let len = usize::try_from(job.size).map_err(|_| format!("{} bytes is too many here", job.size))?;
        let rank = ranks.rank();
        // The last rank of an odd count has no partner: it swaps with itself.
        let peer = if rank ^ 1 < ranks.size() { rank ^ 1 } else { rank };
        Ok(RankPart {
            peer,
            head_to_head: job.params.text("order") == "head-to-head",
            seed: job.seed,
            sent: message(job.seed, rank, len),
            got: vec![0; len],
            checked: None,
        })
    }
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        self.got.fill(0);
        let (peer, head_to_head) = (self.peer, self.head_to_head);
        let (sent, got, seed) = (&self.sent, &mut self.got, self.seed);
        let mut wrong = [0u64];
        let times = PhaseTimes::measure(
            || {
                if head_to_head {
                    // The lesson: both ranks of the pair block here, each waiting for the other.
                    ranks.send_bytes(peer, sent);
                    ranks.recv_bytes(peer, got);
                } else {
                    ranks.sendrecv_bytes(peer, sent, got);
                }
                &*got
            },
            |got| {
                let bad = u64::from(first_wrong(seed, peer, got).is_some());
                ranks.sum_u64(&[bad], &mut wrong);
            },
        );
        self.checked = (ranks.rank() == 0).then_some((wrong[0], ranks.size()));
        Ok(PhaseTimes { compute_ns: 0, combine_ns: times.compute_ns + times.combine_ns, excluded_ns: 0 })
    }
    fn verify(&self) -> Result<String, String> {
        match self.checked {
            None => Err("no run to check".into()),
            Some((0, ranks)) => {
                Ok(format!("each of {ranks} ranks received its peer's {} bytes", self.got.len()))
            }
            Some((bad, ranks)) => Err(format!("{bad} of {ranks} ranks received a wrong message")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::{self, OneRank};
    use crate::workload::default_params;

    fn job(size: u64, order: &str) -> JobSpec {
        let mut params = default_params(&Exchange);
        params.0.insert("order".into(), crate::params::ParamValue::Text(order.to_string().into()));
        JobSpec { workload: "exchange".into(), params, size, seed: 7, shared: None }
    }

    #[test]
    fn sendrecv_pairs_verify_and_a_wrong_byte_fails() {
        for size in [2, 3, 4] {
            let j = job(1000, "sendrecv");
            let make = |r: &dyn Ranks| {
                Exchange.rank_share(&j, crate::strategy::mpi::mpi(), r).expect("an MPI version")
            };
            let rank0 = ranks::run_on_threads(size, 2, &make).unwrap();
            let ok = rank0.verify().unwrap();
            assert!(ok.contains(&format!("each of {size} ranks")), "{ok}");
        }
        assert!(message(7, 0, 64) != message(7, 1, 64), "each rank sends its own bytes");
        let mut got = message(7, 1, 100);
        assert_eq!(first_wrong(7, 1, &got), None);
        got[99] ^= 1;
        assert_eq!(first_wrong(7, 1, &got), Some(99));
    }

    #[test]
    fn a_lone_rank_swaps_with_itself() {
        let j = job(10, "sendrecv");
        let mut share = Exchange.rank_share(&j, crate::strategy::mpi::mpi(), &OneRank).unwrap().unwrap();
        share.run(&OneRank).unwrap();
        assert!(share.verify().unwrap().contains("each of 1 ranks"));
    }

    #[test]
    fn head_to_head_is_refused_below_the_eager_limits_and_hints_on_timeout() {
        let j = job(1, "head-to-head");
        let shape = CaseShape {
            family: Family::Mpi,
            strategy: "mpi",
            workers: 2,
            chunk: None,
            sequential: false,
            capacity: None,
        };
        let refused = Exchange.check_case((1 << 20) - 1, &j.params, &shape).unwrap_err();
        assert_eq!(refused.field, "size");
        assert!(refused.why.contains("eager") && refused.why.contains("1 MiB"), "{refused}");
        assert!(Exchange.check_case(1 << 20, &j.params, &shape).is_ok());
        assert_eq!(Exchange.timeout_hint("mpi", &j.params), Some(HEAD_TO_HEAD_HINT));
        assert_eq!(Exchange.timeout_hint("mpi", &job(1, "sendrecv").params), None);
    }

    #[test]
    fn the_baseline_copies_the_message() {
        let input = Exchange.prepare(4096, &default_params(&Exchange), 3).unwrap();
        let mut kernel = input.kernel();
        assert!(!kernel.verify().passed, "verified before any run");
        let exec = crate::strategy::tests::exec(crate::strategy::find("sequential").unwrap(), 1);
        kernel.run(&exec);
        assert!(kernel.verify().passed, "{}", kernel.verify().detail);
    }
}
