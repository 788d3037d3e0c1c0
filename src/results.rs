//! Results: the versioned record of a run (`results.json`), one [`CaseResult`] per measurement.
//!
//! The schema is documented in `docs/results-schema.md`; bump [`SCHEMA_VERSION`] on any change
//! that older readers would misread. Derived numbers (speedup, efficiency, Karp-Flatt) are
//! stored, but only for cases that verified: a wrong answer never gets a speedup.

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::scenario::{CaseSpec, Plan, Scaling};
use crate::stats::{self, Summary};
use crate::strategy::StrategyParams;
use crate::workload::{Params, SpeedupMeaning, Verification};

pub const SCHEMA_VERSION: u32 = 3;

/// The oldest schema whose samples mean what this parlab's do: schema 3 only added fields
/// beside them (phases, item latency, hosts, placement), so a file of schema 2 compares with
/// one of 3 and serves as a baseline; schema 1 timed no batches and is compared only with
/// itself.
pub const OLDEST_COMPARABLE_SCHEMA: u32 = 2;

/// Whether runs written with schemas `a` and `b` can be compared sample by sample.
pub fn comparable_schemas(a: u32, b: u32) -> bool {
    a == b || (a >= OLDEST_COMPARABLE_SCHEMA && b >= OLDEST_COMPARABLE_SCHEMA)
}

/// What reports write beside `ok` for a case parlab did not verify itself (`import-criterion`).
pub const NOT_VERIFIED_LABEL: &str = "not verified by parlab";

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured and verified.
    Ok,
    /// Measured, but the output did not match the sequential reference.
    FailedVerification,
    Panicked,
    TimedOut,
    /// The workload cannot be run with this strategy (the reason says why).
    Unsupported,
    /// The strategy cannot run on this machine or build (the reason says why).
    Unavailable,
    /// Preparing the input or the strategy failed.
    Error,
    /// Stopped by Ctrl-C.
    Interrupted,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::FailedVerification => "FAILED verification",
            Status::Panicked => "panicked",
            Status::TimedOut => "timed out",
            Status::Unsupported => "unsupported",
            Status::Unavailable => "unavailable",
            Status::Error => "error",
            Status::Interrupted => "interrupted",
        }
    }

    /// Whether this status means something went wrong (as opposed to a pair that cannot run).
    pub fn is_failure(self) -> bool {
        matches!(self, Status::FailedVerification | Status::Panicked | Status::TimedOut | Status::Error)
    }
}

/// Throughput in the workload's unit, from the median and the ends of its CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub unit: String,
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: usize,
    pub workload: String,
    pub strategy: String,
    pub workers: usize,
    pub size: u64,
    pub effective_size: u64,
    pub scaling: Scaling,
    pub params: Params,
    /// The input seed. Absent in files written before it was recorded per case
    /// ([`Results::fill_case_settings`] recovers it from the scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The strategy's tunables as the case ran with them (`chunk`, `capacity`; unset = default).
    #[serde(default)]
    pub tunables: StrategyParams,
    pub status: Status,
    /// Why the case is not `ok`, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub verification: Option<Verification>,
    #[serde(default)]
    pub warmup_runs: u64,
    /// Time to build the case's executor (thread pools, worker processes and their handshake),
    /// outside the timed region; absent for cases that were not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_ns: Option<u64>,
    /// Every sample, in nanoseconds per run, in the order taken. When runs are timed in batches
    /// (`batch` > 1), a sample is the batch's time divided by `batch`: fractional, since a
    /// kernel of a few nanoseconds rounded to whole ones would be off by up to 10%.
    #[serde(default)]
    pub samples_ns: Vec<f64>,
    /// Statistics of `samples_ns`, in nanoseconds.
    #[serde(default)]
    pub stats: Option<Summary>,
    #[serde(default)]
    pub throughput: Option<Throughput>,
    /// median(sequential at the same size) / median(this case); only for verified cases.
    #[serde(default)]
    pub speedup: Option<f64>,
    #[serde(default)]
    pub efficiency: Option<f64>,
    /// Experimentally determined serial fraction (strong scaling, more than one worker).
    #[serde(default)]
    pub karp_flatt: Option<f64>,
    /// Wall time the case took, warm-up and verification included.
    #[serde(default)]
    pub wall_time_s: f64,
    /// Process-wide peak resident set during the case (Linux `VmHWM`, reset as the case starts;
    /// prepared input included). Absent where it cannot be measured or the case did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Median time per operation, for workloads that count operations (`ping_pong`: one
    /// one-way message, i.e. half a round trip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ns: Option<f64>,
    /// The instruction set the kernel ran with (`"sse2"`: the portable code on x86-64, `"avx2"`, `"avx512"`), for
    /// workloads whose kernels have more than one (see `workload::simd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<String>,
    /// Caveats a reader must see beside the numbers (e.g. the STREAM rule could not be met, the
    /// case may have run beside an abandoned one); every output shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Runs per sample: 1, or for kernels shorter than about 100 times the clock's overhead
    /// the size of the batch each sample is the mean of.
    #[serde(default = "one")]
    pub batch: u64,
    /// When the case was measured in several processes (`--processes`): the spread between
    /// them. `stats.median` and its CI are then the estimate over processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessSpread>,
    /// Named phases of each sample (`launch`, `transfer_in`, `kernel`, ..., and `other`, the
    /// remainder), for backends that break their runs down; each phase's samples line up with
    /// `samples_ns`. Empty when the case has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseSamples>,
    /// Per-item latencies (messages, queue items), where items overlap: a distribution beside
    /// the samples, never summed into the phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_latency: Option<ItemLatency>,
    /// Cases on several ranks whose samples are the slowest rank's time (MPI): the mean over
    /// ranks of each sample, per run, lining up with `samples_ns` (OSU's average beside its
    /// maximum; the gap between them is load imbalance or waiting). Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rank_mean_ns: Vec<f64>,
    /// Where each worker process or rank ran (empty: threads of parlab's own process).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<Placement>,
    /// The hosts `placement` names, as the case's processes described them. Kept with the case,
    /// so that they travel with it from a case process and into `results.jsonl` (a resumed run
    /// rebuilds [`Results::hosts`] from them); the runner adds each new one to
    /// [`Results::hosts`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Host>,
    /// How the case's processes were launched, where that changes what is measured (MPI: the
    /// launcher, its extra arguments, the binding, the hostfile); part of the case's identity.
    /// Absent for cases that launch nothing of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<String>,
    /// For a device strategy: the device the case ran on (or none matched), the cache state and
    /// residency ([`crate::scenario::DeviceCase`]); part of the case's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::scenario::DeviceCase>,
}

fn one() -> u64 {
    1
}

/// One named phase of every sample of a case, in nanoseconds per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSamples {
    pub name: String,
    /// One value per sample, in the order of `CaseResult::samples_ns`.
    pub samples_ns: Vec<f64>,
}

/// The distribution of per-item latencies of a case, in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemLatency {
    pub count: u64,
    pub p50_ns: f64,
    pub p90_ns: f64,
    pub p99_ns: f64,
    pub max_ns: f64,
}

/// A host some part of a run ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    /// The CPU's model name.
    pub cpu: String,
    pub logical_cpus: usize,
    pub physical_cores: usize,
}

/// Where one worker process or rank of a case ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `"worker 1"`, `"rank 0"`, ...
    pub role: String,
    /// The host's name, as in [`Results::hosts`].
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The CPUs it was allowed to run on, as Linux lists them (`"0-3,8"`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
}

/// The name of the remainder of a sample that no phase covers.
pub const OTHER_PHASE: &str = "other";

impl PhaseSamples {
    /// Phases per run from what a backend reported: `totals_ns[i]` is sample `i` (per run) and
    /// `phases[i]` its named phases (per run), in the same order in every sample. Adds
    /// [`OTHER_PHASE`], the remainder. Refuses phases that are negative, not finite, named
    /// differently from one sample to the next, named `other`, or that add up to more than the
    /// sample (beyond rounding: 1 ns per phase, or one part in 10^9). No phases at all gives
    /// none.
    pub fn from_samples(
        totals_ns: &[f64],
        phases: &[Vec<(String, f64)>],
    ) -> Result<Vec<PhaseSamples>, String> {
        if phases.len() != totals_ns.len() {
            return Err(format!("{} samples but phases for {}", totals_ns.len(), phases.len()));
        }
        let Some(first) = phases.first() else { return Ok(Vec::new()) };
        if phases.iter().all(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
            return Err(format!("phase `{}` is reported twice in one sample", dup.1));
        }
        if names.contains(&OTHER_PHASE) {
            return Err(format!(
                "`{OTHER_PHASE}` is the remainder parlab computes; a backend may not report it"
            ));
        }
        let mut out: Vec<PhaseSamples> = names
            .iter()
            .chain([&OTHER_PHASE])
            .map(|n| PhaseSamples { name: n.to_string(), samples_ns: Vec::with_capacity(totals_ns.len()) })
            .collect();
        for (i, (&total, sample)) in totals_ns.iter().zip(phases).enumerate() {
            let these: Vec<&str> = sample.iter().map(|(n, _)| n.as_str()).collect();
            if these != names {
                return Err(format!("sample {i} has phases {these:?}, the first had {names:?}"));
            }
            let mut sum = 0.0;
            for (k, (name, ns)) in sample.iter().enumerate() {
                if !ns.is_finite() || *ns < 0.0 {
                    return Err(format!("sample {i}: phase `{name}` is {ns} ns"));
                }
                sum += ns;
                out[k].samples_ns.push(*ns);
            }
            let slack = (sample.len() as f64).max(total * 1e-9);
            if sum > total + slack {
                return Err(format!(
                    "sample {i}: its phases add up to {sum} ns, more than the sample's {total} ns"
                ));
            }
            out[names.len()].samples_ns.push((total - sum).max(0.0));
        }
        Ok(out)
    }
}

impl ItemLatency {
    /// The distribution of `items_ns` (sorted here); `None` for no items. Values that are not
    /// finite or are negative are refused.
    pub fn from_items(mut items_ns: Vec<f64>) -> Result<Option<ItemLatency>, String> {
        if let Some(bad) = items_ns.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(format!("an item latency of {bad} ns"));
        }
        if items_ns.is_empty() {
            return Ok(None);
        }
        items_ns.sort_by(f64::total_cmp);
        let q = |p: f64| stats::quantile(&items_ns, p);
        Ok(Some(ItemLatency {
            count: items_ns.len() as u64,
            p50_ns: q(0.5),
            p90_ns: q(0.9),
            p99_ns: q(0.99),
            max_ns: *items_ns.last().expect("not empty"),
        }))
    }
}

impl Results {
    /// Adds the hosts a case brought ([`CaseResult::hosts`]) that the run did not list yet.
    pub fn add_hosts(&mut self, case: &CaseResult) {
        for host in &case.hosts {
            if !self.hosts.iter().any(|h| h.hostname == host.hostname) {
                self.hosts.push(host.clone());
            }
        }
    }
}

impl Host {
    /// The host `machine` describes.
    pub fn of(machine: &Machine) -> Host {
        Host {
            hostname: machine.hostname.clone(),
            cpu: machine.cpu_model.clone(),
            logical_cpus: machine.logical_cpus,
            physical_cores: machine.physical_cores,
        }
    }
}

/// How a case's processes differed (see [`crate::stats::Hierarchical`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSpread {
    pub count: usize,
    /// Each process's median, in the order they ran.
    pub medians_ns: Vec<f64>,
    /// The byte offset each process placed its input buffers at.
    pub align_offsets: Vec<usize>,
    /// Standard deviation of the process medians over their mean.
    pub between_cv: f64,
    /// Separate groups among the process medians (1 = one population).
    pub groups: usize,
}

impl CaseResult {
    /// A case that was not measured (unsupported, unavailable, error, ...).
    pub fn unmeasured(spec: &CaseSpec, params: &Params, status: Status, reason: impl Into<String>) -> Self {
        CaseResult {
            id: spec.id,
            workload: spec.workload.clone(),
            strategy: spec.strategy.clone(),
            workers: spec.workers,
            size: spec.size,
            effective_size: spec.effective_size,
            scaling: spec.scaling,
            params: params.clone(),
            seed: Some(spec.seed),
            tunables: spec.tunables.clone(),
            status,
            reason: Some(reason.into()),
            verification: None,
            warmup_runs: 0,
            setup_ns: None,
            samples_ns: Vec::new(),
            stats: None,
            throughput: None,
            speedup: None,
            efficiency: None,
            karp_flatt: None,
            wall_time_s: 0.0,
            peak_rss_bytes: None,
            latency_ns: None,
            // What planning found (e.g. STREAM's rule not met) travels with every outcome.
            notes: spec.notes.clone(),
            batch: 1,
            processes: None,
            isa: None,
            phases: Vec::new(),
            item_latency: None,
            rank_mean_ns: Vec::new(),
            placement: Vec::new(),
            hosts: Vec::new(),
            launch: None,
            device: spec.device.clone(),
        }
    }

    /// The median over samples of the mean over ranks, per run (see `rank_mean_ns`); `None`
    /// for means that do not line up with the samples (a file edited or written elsewhere).
    pub fn rank_mean_median_ns(&self) -> Option<f64> {
        if self.rank_mean_ns.is_empty() || self.rank_mean_ns.len() != self.samples_ns.len() {
            return None;
        }
        let mut sorted = self.rank_mean_ns.clone();
        sorted.sort_by(f64::total_cmp);
        Some(crate::stats::median(&sorted))
    }

    /// Whether parlab itself checked this case's output (imported cases were measured
    /// elsewhere and are not).
    pub fn verified_by_parlab(&self) -> bool {
        self.verification.as_ref().is_some_and(|v| v.passed)
    }

    /// Median time in nanoseconds, if measured.
    pub fn median_ns(&self) -> Option<f64> {
        self.stats.as_ref().map(|s| s.median)
    }

    /// Sets speedup, efficiency and Karp-Flatt from the sequential median at the same size.
    /// Cases that did not verify get none: a wrong answer has no speed. What the workload says a
    /// speedup means ([`crate::workload::Workload::speedup_meaning`]) decides which apply.
    pub fn derive_speedup(&mut self, sequential_median_ns: Option<f64>) {
        self.speedup = None;
        self.efficiency = None;
        self.karp_flatt = None;
        if self.status != Status::Ok {
            return;
        }
        let (Some(base), Some(median)) = (sequential_median_ns, self.median_ns()) else {
            return;
        };
        if !(base > 0.0 && median > 0.0) {
            return;
        }
        let meaning = crate::workload::find(&self.workload)
            .map_or(SpeedupMeaning::Parallel, |w| crate::workload::speedup_meaning(w, &self.strategy));
        let s = base / median;
        match meaning {
            SpeedupMeaning::NotApplicable(_) => {}
            // The ratio of times is real, but not parallel scaling: no efficiency to claim.
            SpeedupMeaning::Labelled(_) => self.speedup = Some(s),
            SpeedupMeaning::Parallel => {
                self.speedup = Some(s);
                self.efficiency = Some(s / self.workers as f64);
                if self.scaling == Scaling::Strong {
                    self.karp_flatt = stats::karp_flatt(s, self.workers);
                }
            }
        }
    }
}

/// A whole run, as written to `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub parlab_version: String,
    pub git_revision: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    /// False when the run was interrupted before every case ran.
    pub complete: bool,
    pub machine: Machine,
    pub scenario: Plan,
    pub cases: Vec<CaseResult>,
    /// What one reading of the clock costs, in nanoseconds (see `runner::clock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_overhead_ns: Option<f64>,
    /// The case whose thread was still running after it was abandoned: this process stopped
    /// there, and the remaining cases ran (or must run) in a fresh one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned_case: Option<usize>,
    /// Every host the run's cases ran on; the first is `machine`'s. Cases name theirs in
    /// [`CaseResult::placement`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Host>,
}

impl Results {
    pub fn new(machine: Machine, scenario: Plan) -> Results {
        Results {
            schema_version: SCHEMA_VERSION,
            parlab_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: option_env!("PARLAB_GIT_REVISION").map(str::to_string),
            started_at: now_rfc3339(),
            finished_at: None,
            complete: false,
            machine,
            scenario,
            cases: Vec::new(),
            clock_overhead_ns: None,
            abandoned_case: None,
            hosts: Vec::new(),
        }
    }

    /// Recomputes every case's speedup from the sequential cases in the file.
    pub fn derive_speedups(&mut self) {
        // Same workload, parameters and measured size: the baseline this case was run beside.
        let baselines: Vec<(String, Params, u64, Option<f64>)> = self
            .cases
            .iter()
            .filter(|c| c.strategy == "sequential" && c.status == Status::Ok)
            .map(|c| (c.workload.clone(), c.params.clone(), c.effective_size, c.median_ns()))
            .collect();
        for case in &mut self.cases {
            let base = baselines
                .iter()
                .find(|(w, p, s, _)| *w == case.workload && *p == case.params && *s == case.effective_size)
                .and_then(|b| b.3);
            case.derive_speedup(base);
        }
    }

    /// Files written before cases recorded their seed and tunables: recover both from the
    /// scenario stored in the file, whose expansion numbers the cases as the run did. A case
    /// that does not match its expansion keeps `seed: None`, which no new case equals.
    pub fn fill_case_settings(&mut self) {
        if self.cases.iter().all(|c| c.seed.is_some()) {
            return;
        }
        let specs = self.scenario.cases();
        for case in self.cases.iter_mut().filter(|c| c.seed.is_none()) {
            let Some(spec) = specs.get(case.id) else { continue };
            if spec.workload == case.workload
                && spec.strategy == case.strategy
                && spec.workers == case.workers
                && spec.effective_size == case.effective_size
            {
                case.seed = Some(spec.seed);
                case.tunables = spec.tunables.clone();
            }
        }
    }

    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.status.is_failure()).count()
    }
}

/// The current time as RFC 3339 (UTC, second precision).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Machine;

    fn named(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn a_case_adds_only_the_hosts_the_run_did_not_list() {
        let machine = Machine::detect();
        let plan = crate::scenario::parse(
            "t.toml",
            "[scenario]\nname = \"t\"\n[[workload]]\nkind = \"empty\"\n",
            &machine,
        )
        .unwrap();
        let mut results = Results::new(machine.clone(), plan.clone());
        results.hosts = vec![Host::of(&machine)];
        let spec = &plan.cases()[0];
        let mut case = CaseResult::unmeasured(spec, &plan.workloads[0].params, Status::Ok, "");
        let other = Host { hostname: "node2".into(), cpu: "x".into(), logical_cpus: 4, physical_cores: 2 };
        case.hosts = vec![Host::of(&machine), other.clone(), other.clone()];
        results.add_hosts(&case);
        assert_eq!(results.hosts, [Host::of(&machine), other]);
    }

    #[test]
    fn phases_get_the_remainder_as_other() {
        let got = PhaseSamples::from_samples(
            &[100.0, 50.0],
            &[
                named(&[("transfer_in", 20.0), ("kernel", 70.0)]),
                named(&[("transfer_in", 10.0), ("kernel", 40.0)]),
            ],
        )
        .unwrap();
        let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["transfer_in", "kernel", "other"]);
        assert_eq!(got[2].samples_ns, [10.0, 0.0]);
        assert_eq!(PhaseSamples::from_samples(&[5.0], &[vec![]]).unwrap(), []);
    }

    #[test]
    fn phases_that_cannot_be_true_are_refused() {
        let over = PhaseSamples::from_samples(&[100.0], &[named(&[("a", 60.0), ("b", 60.0)])]);
        assert!(over.unwrap_err().contains("more than the sample"));
        let renamed = PhaseSamples::from_samples(&[9.0, 9.0], &[named(&[("a", 1.0)]), named(&[("b", 1.0)])]);
        assert!(renamed.unwrap_err().contains("the first had"));
        assert!(PhaseSamples::from_samples(&[9.0], &[named(&[("a", -1.0)])]).is_err());
        assert!(PhaseSamples::from_samples(&[9.0], &[named(&[("a", f64::NAN)])]).is_err());
        assert!(PhaseSamples::from_samples(&[9.0], &[named(&[("other", 1.0)])]).is_err());
        assert!(PhaseSamples::from_samples(&[9.0], &[named(&[("a", 1.0), ("a", 1.0)])]).is_err());
        assert!(PhaseSamples::from_samples(&[9.0, 1.0], &[named(&[("a", 1.0)])]).is_err());
        // Rounding: phases summed from integer nanoseconds may exceed a total by a nanosecond each.
        assert!(PhaseSamples::from_samples(&[10.0], &[named(&[("a", 5.5), ("b", 5.5)])]).is_ok());
    }

    #[test]
    fn schema_2_compares_with_3_and_1_only_with_itself() {
        assert!(comparable_schemas(2, SCHEMA_VERSION) && comparable_schemas(SCHEMA_VERSION, 2));
        assert!(comparable_schemas(1, 1) && comparable_schemas(3, 3));
        assert!(!comparable_schemas(1, 2) && !comparable_schemas(SCHEMA_VERSION, 1));
    }

    /// A case line of schema 2 (`results.jsonl`, read back by `--resume`) reads with no
    /// phases, item latency or placement.
    #[test]
    fn a_schema_2_case_reads_without_the_new_fields() {
        let spec = CaseSpec {
            id: 3,
            workload_index: 0,
            workload: "spin".into(),
            strategy: "threads".into(),
            workers: 2,
            size: 4,
            effective_size: 4,
            scaling: Scaling::Strong,
            notes: Vec::new(),
            device: None,
            seed: 1,
            tunables: StrategyParams::default(),
        };
        let case = CaseResult::unmeasured(&spec, &Params::default(), Status::Ok, "");
        let line = serde_json::to_value(&case).unwrap();
        for new in ["phases", "item_latency", "placement", "rank_mean_ns"] {
            assert!(line.get(new).is_none(), "{new} is left out when empty, as schema 2 had it");
        }
        let back: CaseResult = serde_json::from_value(line).unwrap();
        assert_eq!(back, case);
    }

    #[test]
    fn item_latencies_summarise_their_distribution() {
        let l = ItemLatency::from_items((1..=100).map(f64::from).rev().collect()).unwrap().unwrap();
        assert_eq!((l.count, l.max_ns), (100, 100.0));
        assert!((l.p50_ns - 50.5).abs() < 1e-9 && l.p90_ns < l.p99_ns && l.p99_ns <= l.max_ns, "{l:?}");
        assert_eq!(ItemLatency::from_items(vec![]).unwrap(), None);
        assert!(ItemLatency::from_items(vec![1.0, f64::INFINITY]).is_err());
    }

    #[test]
    fn old_files_recover_seed_and_tunables_from_their_scenario() {
        let text = "[scenario]\nname = \"t\"\n[defaults]\nworkers = 2\nseed = 9\n\
                    [strategy.threads-dynamic]\nchunk = 3\n\
                    [[workload]]\nkind = \"spin\"\nsize = 4\nstrategies = [\"threads-dynamic\"]\n\
                    [[workload]]\nkind = \"spin\"\nsize = 4\nchunk = 2\nstrategies = [\"threads-dynamic\"]\n";
        let machine = Machine::detect();
        let plan = crate::scenario::parse("t.toml", text, &machine).unwrap();
        let mut results = Results::new(machine, plan.clone());
        for spec in plan.cases() {
            let params = &plan.workloads[spec.workload_index].params;
            let mut c = CaseResult::unmeasured(&spec, params, Status::Ok, "");
            // As an older parlab wrote it.
            c.seed = None;
            c.tunables = StrategyParams::default();
            results.cases.push(c);
        }
        results.fill_case_settings();
        let chunks: Vec<Option<usize>> = results.cases.iter().map(|c| c.tunables.chunk).collect();
        // Sequential and threads-dynamic per workload: the table's chunk is threads-dynamic's
        // alone, and a workload's own chunk wins over it (and reaches its sequential case too).
        assert_eq!(chunks, [None, Some(3), Some(2), Some(2)]);
        assert!(results.cases.iter().all(|c| c.seed == Some(9)));
        // A case that does not match the scenario's expansion stays unknown.
        results.cases[1].seed = None;
        results.cases[1].workers = 7;
        results.fill_case_settings();
        assert_eq!(results.cases[1].seed, None);
    }

    fn measured(workload: &str, strategy: &str, workers: usize, median_ns: f64) -> CaseResult {
        let spec = CaseSpec {
            id: 0,
            workload_index: 0,
            workload: workload.into(),
            strategy: strategy.into(),
            workers,
            size: 1000,
            effective_size: 1000,
            scaling: Scaling::Strong,
            notes: Vec::new(),
            device: None,
            seed: 42,
            tunables: StrategyParams::default(),
        };
        let mut c = CaseResult::unmeasured(&spec, &Params::default(), Status::Ok, "");
        c.stats = Summary::from_samples(&[median_ns; 5]);
        c
    }

    #[test]
    fn speedup_efficiency_and_karp_flatt_only_where_workers_share_one_algorithm() {
        let parts = |c: &CaseResult| (c.speedup, c.efficiency.is_some(), c.karp_flatt.is_some());
        // Same algorithm over workers: all three.
        let mut c = measured("nbody", "rayon", 2, 50.0);
        c.derive_speedup(Some(80.0));
        assert_eq!(parts(&c), (Some(1.6), true, true));
        // Each pair once is another algorithm: the ratio, labelled, without efficiency.
        let mut c = measured("nbody", "local-merge", 2, 25.0);
        c.derive_speedup(Some(80.0));
        assert_eq!(parts(&c), (Some(3.2), false, false));
        // Overlapping waits: the ratio measures concurrency.
        let mut c = measured("async_fanout", "async", 2, 1.0);
        c.derive_speedup(Some(34.0));
        assert_eq!(parts(&c), (Some(34.0), false, false));
        // Two ends of a conversation: no speedup at all.
        let mut c = measured("ping_pong", "channels", 2, 100.0);
        c.derive_speedup(Some(9.0));
        assert_eq!(parts(&c), (None, false, false));
    }
}
