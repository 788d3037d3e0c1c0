//! `pi_monte_carlo`: estimate pi from random points in the unit square.
//!
//! The generator is counter-based (splitmix64 applied to `seed + k * GAMMA`): sample `i` uses
//! counters `2i` and `2i + 1`, whatever thread draws it, so every strategy and worker count
//! must produce the bit-exact same hit count as the sequential loop.
//!
//! The loop runs in vector lanes where the CPU has them (`simd = "auto"`, see
//! [`super::simd::pi`]), with the same counters, so the count stays bit-exact; `simd = "scalar"`
//! keeps the plain loop measurable.
//!
//! Process version: a job is just the seed and the sample count, so each worker process needs no
//! input at all; a task's result is one `u64` count, sent back over the pipe (`process`) or
//! written into the task's slot of a shared array (`process-shm`).
//!
//! MPI version: each rank counts the hits of its block of samples, and a sum to rank 0 combines
//! the counts; rank 0 checks the total against the same sequential reference.

use std::ops::Range;
use std::sync::OnceLock;

use super::device::Device;
use super::simd::{self, Isa};
use super::{
    default_support, Instance, Kernel, ParamSpec, Params, PrepareError, SizeUnit, Unsupported, Verification,
    Workload, GAMMA,
};
use crate::machine::Machine;
use crate::ranks::{self, PhaseTimes, RankShare, Ranks};
use crate::remote::{self, Coordinator, JobSpec, RemoteError, Share, SharedMem, Workers};
use crate::strategy::{Exec, Family, Strategy};

pub struct PiMonteCarlo;

/// Samples per task: large enough that handing out a task costs well under 1% of running it.
const GRAIN: usize = 1 << 16;

const PARAMS: &[ParamSpec] = &[simd::PARAM];

impl Workload for PiMonteCarlo {
    fn name(&self) -> &'static str {
        "pi_monte_carlo"
    }
    fn summary(&self) -> &'static str {
        "Monte Carlo pi with a counter-based RNG: embarrassingly parallel, bit-exact across strategies"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "samples", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "samples/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![50_000_000]
    }
    fn memory_bytes(&self, _size: u64, _: &Params) -> u64 {
        0
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &super::CaseShape) -> u64 {
        // One `map_reduce` slot per task of GRAIN samples.
        case.max_tasks(size, GRAIN as u64).saturating_mul(super::SLOT_BYTES + 8)
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match strategy.family() {
            Family::Process => Ok(()),
            Family::Device if super::device::plain(strategy) => {
                super::device::fp64_support(self.name(), strategy)
            }
            Family::Mpi => super::collective_mpi_support(self.name(), strategy),
            // CPU-bound tasks from async code, the honest way: tokio's blocking pool, capped at
            // the worker count (see `strategy::async_tokio`).
            Family::Async if strategy.name() == "async" => Ok(()),
            _ => default_support(self.name(), strategy),
        }
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(Input {
            samples: size as usize,
            seed,
            isa: simd::select(params),
            reference: OnceLock::new(),
        }))
    }
    fn share(&self, job: &JobSpec) -> Result<Box<dyn Share>, PrepareError> {
        Ok(Box::new(Worker { seed: job.seed, isa: simd::select(&job.params) }))
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
        let samples = usize::try_from(job.size).map_err(|_| format!("{} samples is too many here", job.size));
        Some(samples.map(|samples| {
            let input =
                Input { samples, seed: job.seed, isa: simd::select(&job.params), reference: OnceLock::new() };
            let block = ranks::block(samples, ranks.rank(), ranks.size());
            Box::new(RankPart { input, block, inside: None }) as Box<dyn RankShare>
        }))
    }
}

struct Input {
    samples: usize,
    seed: u64,
    isa: Isa,
    reference: OnceLock<u64>,
}

/// Points of `range` inside the quarter circle: vector lanes for as much as they cover, then
/// the scalar loop.
fn hits_with(isa: Isa, seed: u64, range: Range<usize>) -> u64 {
    let (inside, end) = simd::pi::hits_prefix(isa, seed, range.clone());
    inside + hits(seed, end..range.end)
}

/// Points of `range` that land inside the quarter circle.
#[inline(never)]
fn hits(seed: u64, range: Range<usize>) -> u64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    let mut counter = seed.wrapping_add((2 * range.start as u64).wrapping_mul(GAMMA));
    let mut inside = 0u64;
    for _ in range {
        let x = (super::mix64(counter) >> 11) as f64 * SCALE;
        let y = (super::mix64(counter.wrapping_add(GAMMA)) >> 11) as f64 * SCALE;
        counter = counter.wrapping_add(GAMMA.wrapping_mul(2));
        inside += u64::from(x * x + y * y <= 1.0);
    }
    inside
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, inside: None })
    }
    fn coordinator(&self) -> Option<Box<dyn Coordinator + '_>> {
        Some(Box::new(Run { input: self, inside: None }))
    }
}

struct Run<'a> {
    input: &'a Input,
    inside: Option<u64>,
}

/// The process version: each task's count comes back over its pipe, or in its slot of the
/// shared region (one `u64` per task).
impl Coordinator for Run<'_> {
    fn shared_bytes(&self, workers: &dyn Workers) -> usize {
        8 * workers.split(self.input.samples).tasks
    }

    fn run(&mut self, workers: &mut dyn Workers) -> Result<(), RemoteError> {
        let samples = self.input.samples;
        let tasks = workers.split(samples).tasks;
        if let Some(slots) = workers.shared_mut() {
            // Zeroed each run, so a task that reported done without writing its slot is caught.
            slots.slice_mut::<u64>(0, tasks).fill(0);
        }
        let mut total = 0u64;
        workers.run(samples, &mut |_, _, payload| {
            let mut count = [0u64];
            remote::copy_into(payload, &mut count)?;
            total += count[0];
            Ok(())
        })?;
        self.inside = Some(match workers.shared() {
            Some(slots) => slots.slice::<u64>(0, tasks).iter().sum(),
            None => total,
        });
        Ok(())
    }

    fn verify(&self, _shared: Option<&SharedMem>) -> Result<String, String> {
        Kernel::verify(self).into_result()
    }

    fn isa(&self) -> Option<&'static str> {
        Kernel::isa(self)
    }
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let Input { seed, isa, .. } = *self.input;
        let total = exec.map_reduce(self.input.samples, GRAIN, |r| hits_with(isa, seed, r), 0, |a, b| a + b);
        self.inside = Some(total);
    }

    fn verify(&self) -> Verification {
        let Some(inside) = self.inside else {
            return Verification::fail("the kernel produced no count");
        };
        let n = self.input.samples;
        // The reference is the plain sequential loop over all samples, independent of any split.
        let want = *self.input.reference.get_or_init(|| hits(self.input.seed, 0..n));
        let pi = 4.0 * inside as f64 / n as f64;
        if inside == want {
            Verification::pass(format!("hits {inside} == reference (pi ~ {pi:.6})"))
        } else {
            Verification::fail(format!("hits {inside} != reference {want}"))
        }
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
    fn device(&mut self) -> Option<Device<'_>> {
        let Input { seed, samples, .. } = *self.input;
        Some(Device::Pi { seed, samples: samples as u64, inside: &mut self.inside })
    }
}

/// The worker-process half: counts the hits of one task's samples.
struct Worker {
    seed: u64,
    isa: Isa,
}

impl Share for Worker {
    fn task(
        &mut self,
        task: usize,
        range: Range<usize>,
        shared: Option<&mut SharedMem>,
        reply: &mut Vec<u8>,
    ) -> Result<(), String> {
        let inside = hits_with(self.isa, self.seed, range);
        match shared {
            Some(slots) => slots.slice_mut::<u64>(8 * task, 1)[0] = inside,
            None => reply.extend_from_slice(&inside.to_ne_bytes()),
        }
        Ok(())
    }
}

/// One rank's part: the hits of its block of samples, summed over the ranks into rank 0.
struct RankPart {
    input: Input,
    block: Range<usize>,
    /// On rank 0, the total of the last run.
    inside: Option<u64>,
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let Input { seed, isa, .. } = self.input;
        let block = self.block.clone();
        let mut total = [0u64];
        let times =
            PhaseTimes::measure(|| hits_with(isa, seed, block), |local| ranks.sum_u64(&[local], &mut total));
        if ranks.rank() == 0 {
            self.inside = Some(total[0]);
        }
        Ok(times)
    }

    fn verify(&self) -> Result<String, String> {
        Kernel::verify(&Run { input: &self.input, inside: self.inside }).into_result()
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::OneRank;
    use crate::strategy::mpi::mpi;

    fn job(size: u64) -> JobSpec {
        JobSpec {
            workload: "pi_monte_carlo".into(),
            params: crate::workload::default_params(&PiMonteCarlo),
            size,
            seed: 11,
            shared: None,
        }
    }

    #[test]
    fn rank_shares_verify_on_one_and_several_ranks() {
        let job = job(100_003);
        let mut share = PiMonteCarlo.rank_share(&job, mpi(), &OneRank).expect("an MPI version").unwrap();
        assert!(share.verify().is_err(), "verified before any run");
        let times = share.run(&OneRank).unwrap();
        assert!(times.compute_ns > 0, "{times:?}");
        let ok = share.verify().unwrap();
        assert!(ok.contains("== reference"), "{ok}");
        for size in [1, 2, 3] {
            let make = |r: &dyn Ranks| PiMonteCarlo.rank_share(&job, mpi(), r).expect("an MPI version");
            let rank0 = ranks::run_on_threads(size, 2, &make).unwrap();
            let ok = rank0.verify().unwrap();
            assert!(ok.contains("== reference"), "{size} ranks: {ok}");
        }
    }

    #[test]
    fn a_rank_that_skips_its_block_fails_verification() {
        // Rank 1's samples are missing from the total: rank 0 must not pass on its own count.
        let job = job(50_000);
        let make = |r: &dyn Ranks| -> Result<Box<dyn RankShare>, String> {
            let mut share = PiMonteCarlo.rank_share(&job, mpi(), r).expect("an MPI version")?;
            if r.rank() == 1 {
                share = Box::new(Skipping);
            }
            Ok(share)
        };
        let rank0 = ranks::run_on_threads(2, 1, &make).unwrap();
        let why = rank0.verify().unwrap_err();
        assert!(why.contains("!= reference"), "{why}");
    }

    /// A rank that takes part in the collective with a count of zero.
    struct Skipping;

    impl RankShare for Skipping {
        fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
            ranks.sum_u64(&[0], &mut [0]);
            Ok(PhaseTimes::default())
        }
        fn verify(&self) -> Result<String, String> {
            Err("not rank 0".into())
        }
    }
}
