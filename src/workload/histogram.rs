//! `histogram`: count items into bins with many workers, the cookbook's lesson on the cost of
//! sharing. The input is a seeded list of bin numbers; `skew` sends that fraction of the items
//! to bin 0, so contention can be dialled from none (uniform over `bins`) to total.
//!
//! Versions, chosen by the strategy:
//! - `mutex` / `rwlock`: one histogram behind one lock, taken for every item (an `RwLock` can
//!   only be taken for writing here, which shows its extra cost over a `Mutex`);
//! - `atomic`: one histogram of `AtomicU64`, one relaxed `fetch_add` per item;
//! - `local-merge`: a private histogram per worker, merged at the end;
//! - data-parallel strategies: the same reduction with one private histogram per task.
//!
//! - `mpi`: each rank bins its block of the items, and a sum to rank 0 merges the bins.
//! - `opencl`, `cuda` (through [`super::device::Device::Histogram`]): each work-group counts its share
//!   of the items into bins in local memory with local atomics, writes them out as its partial
//!   histogram, and a second kernel merges the partials bin by bin (bins too many for local
//!   memory are counted with global atomics instead).
//!
//! Counts are integers, so every version must match the sequential reference exactly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};

use super::{
    default_support, mix64, unit_f64, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError,
    SizeUnit, Unsupported, Verification, Workload, GAMMA,
};
use crate::machine::Machine;
use crate::ranks::{self, PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
use crate::strategy::{Exec, Family, Strategy};

pub struct Histogram;

/// Items per task for the reductions; a task's private bins must cost far less than its items.
fn grain(bins: usize) -> usize {
    (1 << 16).max(4 * bins)
}

/// Which code a strategy runs: one arm per version, no catch-all, so that a strategy added to
/// the registry is unsupported until it is given a version, never run as another's code.
enum Version {
    Mutex,
    RwLock,
    Atomic,
    /// Private bins merged at the end: `local-merge`, and every data-parallel strategy.
    Private,
    /// Private bins per rank, summed into rank 0: `mpi`, run by [`RankPart`], not [`Run`].
    Ranks,
    /// Local atomics per work-group, then a merge, on a device (`opencl`): run by the backend
    /// through [`Kernel::device`], not [`Run::run`].
    Device,
}

fn version(strategy: &dyn Strategy) -> Result<Version, Unsupported> {
    match (strategy.family(), strategy.name()) {
        (Family::SharedState, "mutex") => Ok(Version::Mutex),
        (Family::SharedState, "rwlock") => Ok(Version::RwLock),
        (Family::SharedState, "atomic") => Ok(Version::Atomic),
        (Family::SharedState, "local-merge") | (Family::DataParallel, _) => Ok(Version::Private),
        (Family::Mpi, _) => super::collective_mpi_support("histogram", strategy).map(|()| Version::Ranks),
        (Family::SharedState, name) => Err(Unsupported::new(
            "histogram",
            strategy,
            format!(
                "`histogram` has no version for the shared-state strategy `{name}` (its versions: mutex, \
                 rwlock, atomic, local-merge)"
            ),
        )),
        (Family::Synchronization | Family::Async, name) => Err(Unsupported::new(
            "histogram",
            strategy,
            format!(
                "`histogram` only updates shared bins: its versions are the shared-state strategies \
                 (mutex, rwlock, atomic, local-merge); `{name}` would add nothing to measure"
            ),
        )),
        // Counts are integers: any device can run it, fp64 or not.
        (Family::Device, "opencl" | "cuda") => Ok(Version::Device),
        (Family::Process | Family::Device, _) => Err(default_support("histogram", strategy)
            .expect_err("no workload has a default process or device version")),
    }
}

impl Workload for Histogram {
    fn name(&self) -> &'static str {
        "histogram"
    }
    fn summary(&self) -> &'static str {
        "many workers count into shared bins: mutex vs rwlock vs atomic vs local-merge"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "items", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "items/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[
            ParamSpec {
                name: "bins",
                help: "number of bins",
                default: ParamValue::Int(256),
                min: 1.0,
                max: (1u64 << 24) as f64,
                choices: &[],
            },
            ParamSpec {
                name: "skew",
                help: "fraction of the items that go to bin 0 (0 = uniform, 1 = all contend for one bin)",
                default: ParamValue::Float(0.0),
                min: 0.0,
                max: 1.0,
                choices: &[],
            },
        ]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![4_000_000]
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        version(strategy).map(|_| ())
    }
    fn memory_bytes(&self, size: u64, params: &Params) -> u64 {
        // The input (4 B per item), the shared bins, the output and the reference.
        let bins = params.int("bins") as u64;
        size.saturating_mul(4).saturating_add(3 * 8 * bins)
    }
    fn case_memory_bytes(&self, size: u64, params: &Params, case: &super::CaseShape) -> u64 {
        let bins = params.int("bins") as u64;
        // A private histogram per task (per worker for `local-merge`), held until the merge.
        if case.family == Family::DataParallel || case.strategy == "local-merge" {
            case.max_tasks(size, grain(bins as usize) as u64)
                .saturating_mul(super::SLOT_BYTES + 24 + 8 * bins)
        } else if case.family == Family::Device {
            // The device's items, its partial histograms and its bins (on a CPU device such as
            // PoCL, this machine's memory).
            let partial = size
                .div_ceil(16)
                .saturating_mul(4 * bins)
                .min(super::device::HISTOGRAM_PARTIAL_BYTES + 4 * bins);
            size.saturating_mul(4).saturating_add(partial).saturating_add(8 * bins)
        } else if case.family == Family::Mpi {
            // The ranks' blocks of the input, their bins and sums, and rank 0's input and
            // reference for the check.
            size.saturating_mul(8)
                .saturating_add((case.workers as u64).saturating_add(2).saturating_mul(3 * 8 * bins))
        } else {
            0
        }
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(input(size, params, seed)))
    }
    fn rank_share(
        &self,
        job: &JobSpec,
        strategy: &dyn Strategy,
        ranks: &dyn Ranks,
    ) -> Option<Result<Box<dyn RankShare>, String>> {
        if let Err(why) = version(strategy) {
            return Some(Err(why.to_string()));
        }
        let bins = job.params.int("bins") as usize;
        let block = ranks::block(job.size as usize, ranks.rank(), ranks.size());
        Some(Ok(Box::new(RankPart {
            items: items(job.seed, &job.params, block.start as u64..block.end as u64),
            bins,
            job: job.clone(),
            counts: vec![0; bins],
            ran: false,
        })))
    }
}

/// Items `range` of the input: the same for any split, since each depends only on its index.
fn items(seed: u64, params: &Params, range: std::ops::Range<u64>) -> Vec<u32> {
    let bins = params.int("bins") as u64;
    let skew = params.float("skew");
    range
        .map(|k| {
            if unit_f64(seed, 2 * k) < skew {
                0
            } else {
                (mix64(seed.wrapping_add((2 * k + 1).wrapping_mul(GAMMA))) % bins) as u32
            }
        })
        .collect()
}

fn input(size: u64, params: &Params, seed: u64) -> Input {
    Input {
        items: items(seed, params, 0..size),
        bins: params.int("bins") as usize,
        reference: OnceLock::new(),
    }
}

struct Input {
    items: Vec<u32>,
    bins: usize,
    reference: OnceLock<Vec<u64>>,
}

fn count_into(items: &[u32], bins: &mut [u64]) {
    for &b in items {
        bins[b as usize] += 1;
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, counts: vec![0; self.bins], ran: false })
    }
}

struct Run<'a> {
    input: &'a Input,
    counts: Vec<u64>,
    ran: bool,
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let (items, bins) = (&self.input.items[..], self.input.bins);
        let n = items.len();
        // `support` went through `version` too: an `Err` here means the runner skipped that check.
        match version(exec.strategy()).unwrap_or_else(|why| panic!("{why}")) {
            Version::Mutex => {
                let shared = Mutex::new(vec![0u64; bins]);
                exec.for_each_range(n, grain(bins), |r| {
                    for &b in &items[r] {
                        shared.lock().unwrap_or_else(|e| e.into_inner())[b as usize] += 1;
                    }
                });
                self.counts = shared.into_inner().unwrap_or_else(|e| e.into_inner());
            }
            Version::RwLock => {
                let shared = RwLock::new(vec![0u64; bins]);
                exec.for_each_range(n, grain(bins), |r| {
                    for &b in &items[r] {
                        shared.write().unwrap_or_else(|e| e.into_inner())[b as usize] += 1;
                    }
                });
                self.counts = shared.into_inner().unwrap_or_else(|e| e.into_inner());
            }
            Version::Atomic => {
                let shared: Vec<AtomicU64> = (0..bins).map(|_| AtomicU64::new(0)).collect();
                exec.for_each_range(n, grain(bins), |r| {
                    for &b in &items[r] {
                        shared[b as usize].fetch_add(1, Ordering::Relaxed);
                    }
                });
                self.counts = shared.into_iter().map(AtomicU64::into_inner).collect();
            }
            // `local-merge`'s executor makes one task per worker, so each worker fills one
            // private histogram; data-parallel executors make one per task. Either way nothing
            // is shared until the merge.
            Version::Ranks => unreachable!("`mpi` cases run on ranks, through `RankPart`"),
            Version::Device => unreachable!("device cases run on their backend, through `Kernel::device`"),
            Version::Private => {
                let merged = exec.map_reduce(
                    n,
                    grain(bins),
                    |r| {
                        let mut local = vec![0u64; bins];
                        count_into(&items[r], &mut local);
                        local
                    },
                    Vec::new(),
                    |mut a, b| {
                        if a.is_empty() {
                            return b;
                        }
                        a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                        a
                    },
                );
                self.counts = if merged.is_empty() { vec![0; bins] } else { merged };
            }
        }
        self.ran = true;
    }

    fn verify(&self) -> Verification {
        if !self.ran {
            return Verification::fail("the kernel never ran");
        }
        let want = self.input.reference.get_or_init(|| {
            let mut bins = vec![0; self.input.bins];
            count_into(&self.input.items, &mut bins);
            bins
        });
        let total: u64 = self.counts.iter().sum();
        let wrong = self.counts.iter().zip(want).filter(|(a, b)| a != b).count();
        if wrong == 0 && self.counts.len() == want.len() {
            Verification::pass(format!("all {} bins match the reference ({total} items)", want.len()))
        } else {
            Verification::fail(format!(
                "{wrong} of {} bins differ from the reference; {total} items counted, {} expected",
                want.len(),
                self.input.items.len()
            ))
        }
    }

    fn device(&mut self) -> Option<super::device::Device<'_>> {
        // A backend asks for the view to fill the counts: from here on they are a run's output.
        self.ran = true;
        Some(super::device::Device::Histogram {
            counts: &mut self.counts,
            items: &self.input.items,
            bins: self.input.bins as u64,
        })
    }
}

/// One rank's part: the bins of its block of the items, summed over the ranks into rank 0.
struct RankPart {
    items: Vec<u32>,
    bins: usize,
    /// Rank 0 prepares the whole input from it to check against the sequential reference.
    job: JobSpec,
    /// On rank 0, the merged bins of the last run.
    counts: Vec<u64>,
    ran: bool,
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let (items, bins, counts) = (&self.items, self.bins, &mut self.counts);
        let times = PhaseTimes::measure(
            || {
                let mut local = vec![0u64; bins];
                count_into(items, &mut local);
                local
            },
            |local| ranks.sum_u64(&local, counts),
        );
        self.ran = true;
        Ok(times)
    }

    fn verify(&self) -> Result<String, String> {
        let input = input(self.job.size, &self.job.params, self.job.seed);
        Run { input: &input, counts: self.counts.clone(), ran: self.ran }.verify().into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::OneRank;
    use crate::strategy::mpi::mpi;

    fn job(size: u64, skew: f64) -> JobSpec {
        let mut params = crate::workload::default_params(&Histogram);
        params.0.insert("bins".into(), ParamValue::Int(37));
        params.0.insert("skew".into(), ParamValue::Float(skew));
        JobSpec { workload: "histogram".into(), params, size, seed: 5, shared: None }
    }

    #[test]
    fn rank_shares_verify_on_one_and_several_ranks() {
        for skew in [0.0, 0.5] {
            let job = job(10_001, skew);
            let mut share = Histogram.rank_share(&job, mpi(), &OneRank).expect("an MPI version").unwrap();
            assert!(share.verify().is_err(), "verified before any run");
            share.run(&OneRank).unwrap();
            let ok = share.verify().unwrap();
            assert!(ok.contains("all 37 bins match"), "{ok}");
            for size in [2, 3] {
                let make = |r: &dyn Ranks| Histogram.rank_share(&job, mpi(), r).expect("an MPI version");
                let rank0 = ranks::run_on_threads(size, 2, &make).unwrap();
                let ok = rank0.verify().unwrap();
                assert!(ok.contains("(10001 items)"), "{size} ranks: {ok}");
            }
        }
    }

    #[test]
    fn bins_missing_a_rank_fail_verification() {
        // Rank 1 runs its share but its bins never reach rank 0: a short count must fail.
        let job = job(5_000, 0.0);
        let make = |r: &dyn Ranks| -> Result<Box<dyn RankShare>, String> {
            let mut share = Histogram.rank_share(&job, mpi(), r).expect("an MPI version")?;
            if r.rank() == 1 {
                share.run(&OneRank)?; // counted, but summed with no one
                share = Box::new(Silent { bins: 37 });
            }
            Ok(share)
        };
        let rank0 = ranks::run_on_threads(2, 1, &make).unwrap();
        let why = rank0.verify().unwrap_err();
        assert!(why.contains("bins differ"), "{why}");
    }

    /// A rank that takes part in the collective with empty bins.
    struct Silent {
        bins: usize,
    }

    impl RankShare for Silent {
        fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
            ranks.sum_u64(&vec![0; self.bins], &mut vec![0; self.bins]);
            Ok(PhaseTimes::default())
        }
        fn verify(&self) -> Result<String, String> {
            Err("not rank 0".into())
        }
    }
}
