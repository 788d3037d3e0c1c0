//! Results: the versioned record of a run (`results.json`), one [`CaseResult`] per measurement.
//!
//! The schema is documented in `docs/results-schema.md`; bump [`SCHEMA_VERSION`] on any change
//! that older readers would misread. Derived numbers (speedup, efficiency, Karp-Flatt) are
//! stored, but only for cases that verified: a wrong answer never gets a speedup.

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::scenario::{CaseSpec, Plan, Scaling};
use crate::stats::{self, Summary};
use crate::workload::{Params, Verification};

pub const SCHEMA_VERSION: u32 = 1;

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
    /// Every timed run, in nanoseconds, in the order taken.
    #[serde(default)]
    pub samples_ns: Vec<u64>,
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
    /// The instruction set the kernel ran with (`"scalar"`, `"avx2"`, `"avx512"`), for
    /// workloads whose kernels have more than one (see `workload::simd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<String>,
    /// Caveats a reader must see beside the numbers (e.g. the STREAM rule could not be met, the
    /// case may have run beside an abandoned one); every output shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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
            isa: None,
            notes: Vec::new(),
        }
    }

    /// Median time in nanoseconds, if measured.
    pub fn median_ns(&self) -> Option<f64> {
        self.stats.as_ref().map(|s| s.median)
    }

    /// Sets speedup, efficiency and Karp-Flatt from the sequential median at the same size.
    /// Cases that did not verify get none: a wrong answer has no speed.
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
        let s = base / median;
        self.speedup = Some(s);
        self.efficiency = Some(s / self.workers as f64);
        if self.scaling == Scaling::Strong {
            self.karp_flatt = stats::karp_flatt(s, self.workers);
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

    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.status.is_failure()).count()
    }
}

/// The current time as RFC 3339 (UTC, second precision).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
