//! `faulty`: a test-only workload that misbehaves on purpose, so the harness's isolation is
//! tested: `fault = 1` panics, `2` hangs (until cancelled), `3` returns a wrong answer, `4`
//! busy-loops for `size` milliseconds without ever looking at the cancellation flag (as foreign
//! code would), and `5` fails verification if a thread of another case is alive in this
//! process (the check that a later case never runs beside an abandoned one), and `6` aborts the
//! whole process (a crash no `catch_unwind` can contain: only process isolation survives it).
//! The sequential
//! strategy always behaves, so the baseline exists. Never shipped in `parlab list`.
//!
//! On MPI ranks (`mpi`), where the harness must end what hangs from outside: `fault = 0` sums
//! each rank's block of the items into rank 0, which verifies, and `2` makes rank 1 (only; a
//! one-rank job has none) sleep forever inside the timed run, looking at nothing, while rank 0
//! waits for it in the sum. Other faults are refused there.

use std::ops::Range;
use std::time::Duration;

use super::{
    default_support, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, SizeUnit, Unsupported,
    Verification, Workload,
};
use crate::machine::Machine;
use crate::ranks::{self, PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
use crate::strategy::{Exec, Family, Strategy};

pub struct Faulty;

impl Workload for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }
    fn summary(&self) -> &'static str {
        "test-only: panics, hangs or lies on request"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "items", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "items/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[ParamSpec {
            name: "fault",
            help: "0 none, 1 panic, 2 hang, 3 wrong answer, 4 ignore cancellation, 5 check alone, 6 abort the process",
            default: ParamValue::Int(0),
            min: 0.0,
            max: 6.0,
            choices: &[],
        }]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![1000]
    }
    fn memory_bytes(&self, _: u64, _: &Params) -> u64 {
        0
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn prepare(&self, size: u64, params: &Params, _: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(Input { size, fault: params.int("fault") }))
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match strategy.family() {
            Family::Mpi => super::collective_mpi_support(self.name(), strategy),
            _ => default_support(self.name(), strategy),
        }
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
        let fault = job.params.int("fault");
        if !matches!(fault, 0 | 2) {
            return Some(Err(format!(
                "`faulty` on MPI ranks has fault 0 (none) and 2 (rank 1 hangs), not {fault}"
            )));
        }
        let items = usize::try_from(job.size).map_err(|_| format!("{} items is too many here", job.size));
        Some(items.map(|items| {
            let block = ranks::block(items, ranks.rank(), ranks.size());
            let hang = fault == 2 && ranks.rank() == 1;
            Box::new(RankPart { items: job.size, block, hang, sum: None }) as Box<dyn RankShare>
        }))
    }
}

/// One rank's part: the sum of its block of `0..items`, summed over the ranks into rank 0.
struct RankPart {
    items: u64,
    block: Range<usize>,
    /// This rank never finishes a run (`fault = 2`, rank 1).
    hang: bool,
    /// On rank 0, the total of the last run.
    sum: Option<u64>,
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let (block, hang) = (self.block.clone(), self.hang);
        let mut total = [0u64];
        let times = PhaseTimes::measure(
            || {
                // Like a rank stuck in foreign code: no flag, no message ends it; only the harness
                // ending the job does. The other ranks wait for it in the sum below.
                if hang {
                    loop {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                block.map(|i| i as u64).sum::<u64>()
            },
            |local| ranks.sum_u64(&[local], &mut total),
        );
        if ranks.rank() == 0 {
            self.sum = Some(total[0]);
        }
        Ok(times)
    }

    fn verify(&self) -> Result<String, String> {
        let n = self.items;
        match self.sum {
            Some(s) if s == n * n.saturating_sub(1) / 2 => Ok("sum matches".into()),
            other => Err(format!("sum {other:?} != {}", n * n.saturating_sub(1) / 2)),
        }
    }
}

struct Input {
    size: u64,
    fault: i64,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, sum: None, others: Vec::new() })
    }
}

struct Run<'a> {
    input: &'a Input,
    sum: Option<u64>,
    /// Threads of other cases seen alive during a run (`fault = 5`).
    others: Vec<String>,
}

/// Names of this process's threads that belong to another case than the calling thread's
/// (case threads are named `parlab-case-{id}`, and threads they spawn inherit the name).
fn other_case_threads() -> Vec<String> {
    let own = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .filter(|c| c.starts_with("parlab-case-") && *c != own.trim())
        .collect()
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let n = self.input.size;
        let fault = if exec.strategy().is_sequential() { 0 } else { self.input.fault };
        match fault {
            1 => panic!("faulty workload: deliberate panic"),
            2 => {
                while !exec.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            4 => {
                let end = std::time::Instant::now() + Duration::from_millis(n);
                while std::time::Instant::now() < end {
                    std::hint::spin_loop();
                }
            }
            5 => self.others = other_case_threads(),
            6 => std::process::abort(),
            _ => {}
        }
        let sum = exec.map_reduce(n as usize, 16, |r| r.map(|i| i as u64).sum(), 0, |a, b| a + b);
        self.sum = Some(if fault == 3 { sum + 1 } else { sum });
    }

    fn verify(&self) -> Verification {
        let n = self.input.size;
        if !self.others.is_empty() {
            return Verification::fail(format!("ran beside threads of another case: {:?}", self.others));
        }
        match self.sum {
            Some(s) if s == n * (n - 1) / 2 => Verification::pass("sum matches"),
            other => Verification::fail(format!("sum {other:?} != {}", n * (n - 1) / 2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::OneRank;
    use crate::strategy::mpi::mpi;
    use crate::workload::default_params;

    fn job(size: u64, fault: i64) -> JobSpec {
        let mut params = default_params(&Faulty);
        params.0.insert("fault".into(), ParamValue::Int(fault));
        JobSpec { workload: "faulty".into(), params, size, seed: 1, shared: None }
    }

    #[test]
    fn the_mpi_version_verifies_and_hangs_only_rank_1_only_on_request() {
        for size in [1, 2, 3] {
            let j = job(1001, 0);
            let make = |r: &dyn Ranks| Faulty.rank_share(&j, mpi(), r).expect("an MPI version");
            let rank0 = ranks::run_on_threads(size, 2, &make).unwrap();
            assert_eq!(rank0.verify().unwrap(), "sum matches", "{size} ranks");
        }
        // One rank: there is no rank 1 to hang.
        let mut alone = Faulty.rank_share(&job(10, 2), mpi(), &OneRank).unwrap().unwrap();
        assert!(alone.verify().is_err(), "verified before any run");
        alone.run(&OneRank).unwrap();
        assert_eq!(alone.verify().unwrap(), "sum matches");
        // Rank 1 of two hangs in its run, before the sum (so rank 0 is not needed to show it);
        // the thread is left sleeping, as the harness cannot end a thread, only a rank's process.
        let rank1 = crate::ranks::ThreadRanks::new(2).pop().expect("two ranks");
        assert_eq!(rank1.rank(), 1);
        let hung = std::thread::Builder::new()
            .name("faulty-rank-1".into())
            .spawn(move || {
                let mut share = Faulty.rank_share(&job(10, 2), mpi(), &rank1).unwrap().unwrap();
                let _ = share.run(&rank1);
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!hung.is_finished(), "rank 1 returned from a run it should hang in");
    }

    #[test]
    fn the_mpi_version_refuses_other_faults_and_strategies() {
        for fault in [1, 3, 4, 5, 6] {
            let e = Faulty.rank_share(&job(10, fault), mpi(), &OneRank).unwrap().err().unwrap();
            assert!(e.contains(&format!("not {fault}")), "{e}");
        }
        let nonblocking = crate::strategy::find("mpi-nonblocking").unwrap();
        assert!(Faulty.support(nonblocking).is_err());
        assert!(Faulty.rank_share(&job(10, 0), nonblocking, &OneRank).unwrap().is_err());
        assert!(Faulty.support(mpi()).is_ok());
        assert!(Faulty.support(crate::strategy::find("rayon").unwrap()).is_ok());
    }
}
