//! The validated scenario: every name resolved, every sweep expanded, every default filled.
//!
//! Two kinds of bounds keep a scenario from aborting, hanging or exhausting the machine before
//! it is measured: absolute [`limits`] checked as each value is read (they hold on any machine),
//! and the machine's own, checked once a workload's cases are known: the memory each case
//! needs at worst (input, outputs, per-task and per-worker copies, worker processes) against
//! what is available (a fixed budget where that is unknown, never "no limit"), and how far
//! workers may oversubscribe the logical CPUs. A plan read back from a file rather than parsed
//! is held to the same limits ([`Plan::check_limits`]), memory included. Defaults derived from
//! the machine (STREAM's 4x the last-level cache) are shrunk to fit instead of refused (in the
//! memory, and under weak scaling within the workload's own size limits at the size measured),
//! and the cases say so in their notes.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::device::{self, Cache, DeviceCase, DeviceChoice, PlanDevice};
use super::error::{closest, ScenarioError, Source};
use super::mpi::MpiSettings;
use super::raw::{RawScenario, RawSettings, RawWorkload};
use crate::machine::Machine;
use crate::strategy::Family;
use crate::strategy::{self, StrategyParams};
use crate::units;
use crate::workload::{self, CaseShape, ParamValue, Params, SpeedupMeaning, Workload};

/// Absolute limits on a scenario, the same on every machine; each error message states its own.
pub use crate::limits;

/// How the problem size relates to the worker count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// Fixed size: does more workers make it faster?
    Strong,
    /// Size grows with workers: does the time stay flat?
    Weak,
}

/// Sampling settings of one workload, after `[defaults]` and per-workload overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(with = "secs")]
    pub warmup: Duration,
    pub min_samples: usize,
    pub max_samples: usize,
    #[serde(with = "secs")]
    pub max_time: Duration,
    /// Sampling stops once the 95% CI's relative half-width is at most this.
    pub target_ci: f64,
    #[serde(with = "secs")]
    pub timeout: Duration,
    pub scaling: Scaling,
    pub seed: u64,
    /// Processes each case is measured in (`processes`; `--processes` overrides it).
    #[serde(default = "one")]
    pub processes: usize,
    /// Device strategies only ([`super::device`]): the devices their cases run on, one case each.
    #[serde(default)]
    pub device: DeviceChoice,
    /// Device strategies only: whether each sample starts with the device's cache flushed.
    #[serde(default)]
    pub cache: Cache,
    /// Device strategies only: inputs uploaded once, outside the samples.
    #[serde(default)]
    pub resident: bool,
}

fn one() -> usize {
    1
}

/// The most processes a case may be measured in (`processes`, `--processes`).
pub const MAX_PROCESSES: usize = 1000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            warmup: Duration::from_millis(200),
            min_samples: 5,
            max_samples: 30,
            max_time: Duration::from_secs(3),
            target_ci: 0.02,
            timeout: Duration::from_secs(60),
            scaling: Scaling::Strong,
            seed: 42,
            processes: 1,
            device: DeviceChoice::default(),
            cache: Cache::default(),
            resident: false,
        }
    }
}

/// One `[[workload]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadPlan {
    pub kind: String,
    /// Base sizes in the workload's own unit (for weak scaling, the size at one worker).
    pub sizes: Vec<u64>,
    pub params: Params,
    /// Strategy names; `sequential` is always first, as the baseline.
    pub strategies: Vec<String>,
    pub workers: Vec<usize>,
    pub chunk: Option<usize>,
    pub settings: Settings,
    /// Caveats for the cases of one size (e.g. STREAM's rule not met); every output shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<SizeNote>,
}

/// A caveat for every case of one `[[workload]]` entry at one (base) size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeNote {
    pub size: u64,
    pub note: String,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub description: String,
    /// The file it came from, or `<built-in quick>`.
    pub source: String,
    pub strategy_params: BTreeMap<String, StrategyParams>,
    pub workloads: Vec<WorkloadPlan>,
    /// The `[mpi]` section: how `mpi` cases start their ranks.
    #[serde(default)]
    pub mpi: MpiSettings,
    /// The devices of this machine when the plan was made ([`crate::machine::Machine::gpus`]):
    /// a device strategy has one case per device its workload's `device` selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<PlanDevice>,
}

/// One measurement the runner makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSpec {
    pub id: usize,
    pub workload_index: usize,
    pub workload: String,
    pub strategy: String,
    pub workers: usize,
    /// The size as the scenario gave it.
    pub size: u64,
    /// The size measured: `size`, or `size * workers` for weak scaling.
    pub effective_size: u64,
    pub scaling: Scaling,
    /// The input seed ([`Settings::seed`] of the case's workload).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The strategy's tunables as the case runs with them: the workload's `chunk`, else the
    /// `[strategy.NAME]` table's ([`Plan::tunables`]).
    #[serde(default)]
    pub tunables: StrategyParams,
    /// Caveats planning found for this case, carried into [`crate::results::CaseResult::notes`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For a strategy of [`Family::Device`]: the device it runs on, the cache state and
    /// residency ([`super::device`]); `None` for every other strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceCase>,
}

fn default_seed() -> u64 {
    Settings::default().seed
}

impl Plan {
    /// The tunables a strategy runs with on workload `workload_index`: the workload's own `chunk`
    /// wins over the `[strategy.NAME]` table's.
    pub fn tunables(&self, workload_index: usize, strategy: &str) -> StrategyParams {
        let table = self.strategy_params.get(strategy).cloned().unwrap_or_default();
        StrategyParams { chunk: self.workloads[workload_index].chunk.or(table.chunk), ..table }
    }

    /// Expands the matrix in the order it runs: per workload and measured size, the sequential
    /// baseline first, so every later case at that size can be given its speedup at once.
    pub fn cases(&self) -> Vec<CaseSpec> {
        let mut cases = Vec::new();
        for (wi, w) in self.workloads.iter().enumerate() {
            // Saved results may name a workload this build lacks (a test-only one, or one of a
            // newer parlab): never a panic on a file's data. Its weak-scaling sizes are taken as
            // linear (the default rule), its notes left out.
            let kind = workload::find(&w.kind);
            for &size in &w.sizes {
                let groups: Vec<(u64, Vec<usize>)> = match w.settings.scaling {
                    Scaling::Strong => vec![(size, w.workers.clone())],
                    Scaling::Weak => w
                        .workers
                        .iter()
                        .map(|&n| {
                            let measured =
                                kind.map_or(size.saturating_mul(n as u64), |k| k.weak_size(size, n));
                            (measured, vec![n])
                        })
                        .collect(),
                };
                let notes: Vec<String> =
                    w.notes.iter().filter(|n| n.size == size).map(|n| n.note.clone()).collect();
                for (effective_size, workers) in groups {
                    for strategy in &w.strategies {
                        // The sequential baseline has one worker; a device has no worker count.
                        let one = strategy::find(strategy)
                            .is_some_and(|s| s.is_sequential() || s.family() == Family::Device);
                        let counts = if one { vec![1] } else { workers.clone() };
                        let mut notes = notes.clone();
                        match kind
                            .map_or(SpeedupMeaning::Parallel, |k| workload::speedup_meaning(k, strategy))
                        {
                            SpeedupMeaning::Parallel => {}
                            SpeedupMeaning::Labelled(why) | SpeedupMeaning::NotApplicable(why) => {
                                notes.push(why.to_string())
                            }
                        }
                        for n in counts {
                            for device in self.device_cases(&w.settings, strategy) {
                                cases.push(CaseSpec {
                                    id: cases.len(),
                                    workload_index: wi,
                                    workload: w.kind.clone(),
                                    strategy: strategy.clone(),
                                    workers: n,
                                    size,
                                    effective_size,
                                    scaling: w.settings.scaling,
                                    seed: w.settings.seed,
                                    tunables: self.tunables(wi, strategy),
                                    notes: notes.clone(),
                                    device,
                                });
                            }
                        }
                    }
                }
            }
        }
        cases
    }

    /// The device part of each case of `strategy` under `settings`: `[None]` for a strategy
    /// that is not a device's; for a device strategy one [`DeviceCase`] per device of its backend
    /// that `settings.device` selects, or one with no target (the case is `unavailable`) when
    /// none does.
    fn device_cases(&self, settings: &Settings, strategy: &str) -> Vec<Option<DeviceCase>> {
        let Some(s) = strategy::find(strategy).filter(|s| s.family() == Family::Device) else {
            return vec![None];
        };
        let case = |target| DeviceCase {
            choice: settings.device.clone(),
            target,
            cache: settings.cache,
            resident: settings.resident,
        };
        match device::targets(&self.devices, s.backend(), &settings.device) {
            found if found.is_empty() => vec![Some(case(None))],
            found => found.into_iter().map(|t| Some(case(Some(t)))).collect(),
        }
    }

    /// How many cases [`Plan::cases`] makes, counted without making them (saturating).
    pub fn case_count(&self) -> u64 {
        self.workloads.iter().fold(0u64, |total, w| total.saturating_add(case_count(w, &self.devices)))
    }

    /// Checks a plan that was read back rather than built here (a continued run's
    /// `resume-plan.json`, a case process's request) against the limits a scenario is held to
    /// when it is parsed: names this build knows, every parameter present and in range, samples,
    /// durations, worker and process counts, sizes and the number of cases, and
    /// oversubscription of this machine, each case's own limits ([`Workload::check_case`]) and
    /// the memory a case needs at worst against what this machine has available now, as parsing
    /// estimates it at each measured size. Such a file can be stale (another parlab) or edited;
    /// unchecked, one value could abort (`max_samples` of 10^12, or a size whose input cannot be
    /// allocated), panic (a timeout of 10^18 s) or start a billion threads. The error names the
    /// field, as `workload[0].max_samples: ...`. Memory is held to all of what is available, not
    /// the share a default may take: a plan that fitted when it was made can only be refused
    /// here if the machine has less to spare now, and refusing is better than aborting.
    pub fn check_limits(&self, machine: &Machine) -> Result<(), String> {
        if self.workloads.is_empty() {
            return Err("workload: the plan has no workload".into());
        }
        self.mpi.check().map_err(|(key, m)| format!("mpi.{key}: {m}"))?;
        for (name, p) in &self.strategy_params {
            let field = format!("strategy.{name}");
            let s = strategy::find(name).ok_or_else(|| format!("{field}: unknown strategy `{name}`"))?;
            for (tunable, value, min, max) in [
                ("chunk", p.chunk, 1, limits::MAX_SIZE as usize),
                ("capacity", p.capacity, 0, limits::MAX_CAPACITY),
            ] {
                let Some(v) = value else { continue };
                if !s.tunables().contains(&tunable) {
                    return Err(format!("{field}.{tunable}: strategy `{name}` has no tunable `{tunable}`"));
                }
                if !(min..=max).contains(&v) {
                    return Err(format!("{field}.{tunable}: must be between {min} and {max}, got {v}"));
                }
            }
        }
        let memory = Memory::of(machine);
        let mut cases = 0u64;
        for (i, w) in self.workloads.iter().enumerate() {
            let at = |key: &str| format!("workload[{i}].{key}");
            let kind = workload::find(&w.kind).ok_or_else(|| {
                format!("{}: unknown workload `{}` (`parlab list` shows them)", at("kind"), w.kind)
            })?;
            check_settings(&w.settings).map_err(|(key, m)| format!("{}: {m}", at(key)))?;
            if w.strategies.is_empty() {
                return Err(format!("{}: no strategy", at("strategies")));
            }
            if let Some(bad) = w.strategies.iter().find(|s| strategy::find(s).is_none()) {
                return Err(format!("{}: unknown strategy `{bad}`", at("strategies")));
            }
            if w.workers.is_empty() || w.workers.len() > limits::MAX_WORKERS {
                return Err(format!(
                    "{}: {} worker counts; give 1 to {}",
                    at("workers"),
                    w.workers.len(),
                    limits::MAX_WORKERS
                ));
            }
            if let Some(n) = w.workers.iter().find(|&&n| !(1..=limits::MAX_WORKERS).contains(&n)) {
                return Err(format!(
                    "{}: worker counts must be between 1 and {}, got {n}",
                    at("workers"),
                    limits::MAX_WORKERS
                ));
            }
            if let Some(c) = w.chunk.filter(|c| !(1..=limits::MAX_SIZE).contains(&(*c as u64))) {
                return Err(format!("{}: must be between 1 and {}, got {c}", at("chunk"), limits::MAX_SIZE));
            }
            check_param_values(kind, &w.params)
                .map_err(|(name, m)| format!("{}.{name}: {m}", at("params")))?;
            // Counted before the sizes are checked, which costs a little per size.
            cases = cases.saturating_add(case_count(w, &self.devices));
            if cases > limits::MAX_CASES {
                return Err(format!(
                    "workload[{i}]: the plan expands to more than {} cases by this entry",
                    limits::MAX_CASES
                ));
            }
            if w.sizes.is_empty() {
                return Err(format!("{}: no size", at("size")));
            }
            let most = *w.workers.iter().max().expect("not empty");
            for &size in &w.sizes {
                let measured = match w.settings.scaling {
                    Scaling::Strong => size,
                    Scaling::Weak => kind.weak_size(size, most),
                };
                for s in [size, measured] {
                    if !(1..=limits::MAX_SIZE).contains(&s) {
                        return Err(format!(
                            "{}: size {s} is not between 1 and {}",
                            at("size"),
                            limits::MAX_SIZE
                        ));
                    }
                    kind.check_size(s, &w.params).map_err(|e| format!("{}: size {s}: {e}", at("size")))?;
                }
            }
            if let Some((m, help)) = oversubscribed(kind, &w.strategies, &w.workers, machine) {
                return Err(format!("{}: {m} ({help})", at("workers")));
            }
            // A tunable that sets the concurrency (semaphore permits) has its own thread limit.
            let most = *w.workers.iter().max().expect("not empty");
            for s in w.strategies.iter().filter_map(|name| strategy::find(name)) {
                // As when parsed: only where the strategy runs (`tunable_threads`).
                if s.is_sequential() || kind.support(s).is_err() {
                    continue;
                }
                let tunables = self.strategy_params.get(s.name()).cloned().unwrap_or_default();
                let threads = s.threads(most, &tunables);
                if threads > most && threads > limits::MAX_THREADS {
                    return Err(format!(
                        "strategy.{}.capacity: would run {threads} threads at once; the limit is {}",
                        s.name(),
                        limits::MAX_THREADS
                    ));
                }
            }
            self.check_cases_and_memory(i, kind, &memory)?;
        }
        Ok(())
    }

    /// The part of [`Plan::check_limits`] that parsing does last: each case's own limits and
    /// its memory at worst, at the measured size of each of workload `index`'s sizes (weak
    /// scaling's at its most workers, as parsing estimates it), over the same shapes.
    fn check_cases_and_memory(
        &self,
        index: usize,
        kind: &dyn Workload,
        memory: &Memory,
    ) -> Result<(), String> {
        let w = &self.workloads[index];
        let at = |key: &str| format!("workload[{index}].{key}");
        let tables = StrategyTables { params: self.strategy_params.clone(), spans: BTreeMap::new() };
        let shapes = shapes(kind, &w.strategies, &w.workers, w.chunk, &tables);
        // As parsing blames it: what a case holds whatever its size is not the size's fault.
        let (floor, shape) = worst_case(kind, 1, &w.params, &shapes);
        if floor > memory.bytes {
            return Err(format!(
                "{}: {} needs {} of memory at worst even at size 1, but {}",
                at("workers"),
                describe(shape),
                units::format_bytes(floor),
                memory.limit()
            ));
        }
        let most = *w.workers.iter().max().expect("checked: not empty");
        for &size in &w.sizes {
            let measured = match w.settings.scaling {
                Scaling::Strong => size,
                Scaling::Weak => kind.weak_size(size, most),
            };
            for shape in &shapes {
                kind.check_case(measured, &w.params, shape).map_err(|refused| {
                    let field = match refused.field {
                        "chunk" if w.chunk.is_none() => format!("strategy.{}.chunk", shape.strategy),
                        other => at(other),
                    };
                    format!("{field}: {refused}")
                })?;
            }
            let (need, shape) = worst_case(kind, measured, &w.params, &shapes);
            if need > memory.bytes {
                return Err(format!(
                    "{}: size {measured} needs {} of memory at worst ({}), but {}",
                    at("size"),
                    units::format_bytes(need),
                    describe(shape),
                    memory.limit()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
impl Plan {
    /// The memory a case of workload `index` at (base) `size` needs at worst, as planning
    /// estimated it: over every strategy and worker count, at the largest measured size.
    pub(crate) fn worst_memory(&self, index: usize, size: u64) -> u64 {
        let wp = &self.workloads[index];
        let w = workload::find(&wp.kind).expect("a parsed plan");
        let tables = StrategyTables { params: self.strategy_params.clone(), spans: BTreeMap::new() };
        let shapes = shapes(w, &wp.strategies, &wp.workers, wp.chunk, &tables);
        let measured = match wp.settings.scaling {
            Scaling::Strong => size,
            Scaling::Weak => w.weak_size(size, *wp.workers.iter().max().unwrap_or(&1)),
        };
        worst_case(w, measured, &wp.params, &shapes).0
    }
}

/// The checks [`settings`] makes as it reads each value, on settings read back from a file:
/// `Err` names the key and what is wrong.
fn check_settings(s: &Settings) -> Result<(), (&'static str, String)> {
    for (key, d) in [("warmup", s.warmup), ("max_time", s.max_time), ("timeout", s.timeout)] {
        if d > units::MAX_DURATION {
            return Err((key, format!("{} is longer than the limit of 24h", humantime::format_duration(d))));
        }
    }
    if s.timeout.is_zero() {
        return Err(("timeout", "the timeout must be longer than zero".into()));
    }
    for (key, n) in [("min_samples", s.min_samples), ("max_samples", s.max_samples)] {
        if !(1..=limits::MAX_SAMPLES).contains(&n) {
            return Err((key, format!("must be between 1 and {}, got {n}", limits::MAX_SAMPLES)));
        }
    }
    if s.min_samples > s.max_samples {
        return Err((
            "min_samples",
            format!("min_samples ({}) is larger than max_samples ({})", s.min_samples, s.max_samples),
        ));
    }
    if !(s.target_ci > 0.0 && s.target_ci < 1.0) {
        return Err(("target_ci", format!("must be between 0 and 1, got {}", s.target_ci)));
    }
    if !(1..=MAX_PROCESSES).contains(&s.processes) {
        return Err(("processes", format!("must be between 1 and {MAX_PROCESSES}, got {}", s.processes)));
    }
    // Deserializing refuses an empty selector; a plan made in code could still hold one.
    if let DeviceChoice::Name(part) = &s.device {
        DeviceChoice::parse(part).map_err(|m| ("device", m))?;
    }
    Ok(())
}

/// The checks [`params`] makes, on parameters read back from a file: every parameter of the
/// workload present (the kernels read them unchecked), of its type, in range, no other, and
/// valid together. `Err` names the parameter.
fn check_param_values(w: &dyn Workload, params: &Params) -> Result<(), (String, String)> {
    if let Some(name) = params.0.keys().find(|name| !w.params().iter().any(|p| p.name == name.as_str())) {
        return Err((name.clone(), format!("`{}` has no parameter `{name}`", w.name())));
    }
    for spec in w.params() {
        let Some(v) = params.0.get(spec.name) else {
            return Err((spec.name.into(), "missing".into()));
        };
        let same_type = matches!(
            (&spec.default, v),
            (ParamValue::Int(_), ParamValue::Int(_))
                | (ParamValue::Float(_), ParamValue::Int(_) | ParamValue::Float(_))
                | (ParamValue::Text(_), ParamValue::Text(_))
        );
        if !same_type || !within(spec, v) {
            let range = match spec.choices {
                [] => format!("[{}, {}]", spec.min, spec.max),
                names => names.join(" | "),
            };
            return Err((spec.name.into(), format!("{v} is not valid ({range})")));
        }
    }
    w.check_params(params).map_err(|refused| (refused.field.to_string(), refused.why))
}

/// The cases of one workload: per size, the baseline once, every device strategy once per
/// device it selects, and every other strategy at each worker count (weak scaling: every
/// strategy once per worker count).
fn case_count(w: &WorkloadPlan, devices: &[PlanDevice]) -> u64 {
    count_cases(w.sizes.len(), w.workers.len(), &w.strategies, &w.settings, devices)
}

/// [`case_count`] from the lengths alone, so that a scenario is counted before its sizes are
/// checked one by one.
fn count_cases(
    sizes: usize,
    workers: usize,
    strategies: &[String],
    settings: &Settings,
    devices: &[PlanDevice],
) -> u64 {
    let (sizes, workers) = (sizes as u64, workers as u64);
    let (mut sequential, mut parallel, mut on_devices) = (0u64, 0u64, 0u64);
    for name in strategies {
        match strategy::find(name) {
            Some(s) if s.is_sequential() => sequential += 1,
            Some(s) if s.family() == Family::Device => {
                let found = device::targets(devices, s.backend(), &settings.device).len() as u64;
                on_devices = on_devices.saturating_add(found.max(1));
            }
            _ => parallel += 1,
        }
    }
    let per_size = match settings.scaling {
        Scaling::Strong => {
            sequential.saturating_add(on_devices).saturating_add(parallel.saturating_mul(workers))
        }
        Scaling::Weak => {
            sequential.saturating_add(on_devices).saturating_add(parallel).saturating_mul(workers)
        }
    };
    sizes.saturating_mul(per_size)
}

pub(super) fn build(src: &Source, raw: RawScenario, machine: &Machine) -> Result<Plan, ScenarioError> {
    let name = raw.scenario.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(src.error(raw.scenario.name.span(), "scenario.name", "the scenario needs a name"));
    }
    let defaults = Defaults {
        settings: settings(src, "defaults", &raw.defaults, &Settings::default())?,
        workers: match &raw.defaults.workers {
            Some(w) => workers(src, "defaults.workers", w, machine)?,
            None => {
                let (max, clamped) = most_workers(machine);
                Workers { counts: default_worker_counts(max), clamped }
            }
        },
    };

    let mut tables = StrategyTables::default();
    for (key, table) in &raw.strategy {
        let field = format!("strategy.{}", key.get_ref());
        let Some(s) = strategy::find(key.get_ref()) else {
            return Err(unknown_strategy(src, &field, key));
        };
        let mut params = StrategyParams::default();
        for (tunable, value) in [("chunk", &table.chunk), ("capacity", &table.capacity)] {
            let Some(value) = value else { continue };
            let f = format!("{field}.{tunable}");
            if !s.tunables().contains(&tunable) {
                return Err(src.error_help(
                    value.span(),
                    f,
                    format!("strategy `{}` has no tunable `{tunable}`", s.name()),
                    Some(match s.tunables() {
                        [] => "it takes no tunables".to_string(),
                        t => format!("its tunables are: {}", t.join(", ")),
                    }),
                ));
            }
            let (min, max) = if tunable == "capacity" {
                (0, limits::MAX_CAPACITY as i64)
            } else {
                (1, limits::MAX_SIZE as i64)
            };
            let v = *value.get_ref();
            if !(min..=max).contains(&v) {
                return Err(src.error(value.span(), f, format!("must be between {min} and {max}, got {v}")));
            }
            match tunable {
                "chunk" => params.chunk = Some(v as usize),
                _ => params.capacity = Some(v as usize),
            }
            tables.spans.insert(format!("strategy.{}.{tunable}", s.name()), value.span());
        }
        tables.params.insert(s.name().to_string(), params);
    }

    if raw.workload.is_empty() {
        return Err(src.error_help(
            0..0,
            "workload",
            "the scenario has no [[workload]] entry",
            Some("add one, e.g. [[workload]] kind = \"pi_monte_carlo\"; `parlab list` shows them all".into()),
        ));
    }
    let mut plan = Plan {
        name,
        description: raw.scenario.description.trim().to_string(),
        source: src.name.to_string(),
        strategy_params: BTreeMap::new(),
        workloads: Vec::new(),
        mpi: super::mpi::settings(src, raw.mpi.as_ref())?,
        devices: machine
            .gpus
            .iter()
            .map(|g| PlanDevice { api: g.api.clone(), name: g.name.clone(), kind: g.kind.clone() })
            .collect(),
    };
    let mut cases = 0u64;
    for (i, entry) in raw.workload.iter().enumerate() {
        let w = workload_plan(src, i, entry, &defaults, &tables, machine, &plan.devices, &mut cases)?;
        plan.workloads.push(w);
    }
    plan.strategy_params = tables.params;
    Ok(plan)
}

/// What `[defaults]` gives every `[[workload]]` entry that does not override it.
struct Defaults {
    settings: Settings,
    workers: Workers,
}

/// The `[strategy.NAME]` tables: the validated tunables, and where each one was written.
#[derive(Default)]
struct StrategyTables {
    params: BTreeMap<String, StrategyParams>,
    /// By field, e.g. `strategy.semaphore.capacity`.
    spans: BTreeMap<String, Range<usize>>,
}

impl StrategyTables {
    fn of(&self, strategy: &str) -> StrategyParams {
        self.params.get(strategy).cloned().unwrap_or_default()
    }
}

/// Validates one `[[workload]]` entry. `cases` counts the cases of the entries before it; the
/// entry's own are added (and the total checked) before any of its sizes is estimated, since
/// each estimate walks every strategy and worker count.
#[allow(clippy::too_many_arguments)]
fn workload_plan(
    src: &Source,
    index: usize,
    entry: &Spanned<RawWorkload>,
    defaults: &Defaults,
    tables: &StrategyTables,
    machine: &Machine,
    devices: &[PlanDevice],
    cases: &mut u64,
) -> Result<WorkloadPlan, ScenarioError> {
    let raw = entry.get_ref();
    let at = |key: &str| format!("workload[{index}].{key}");
    let Some(w) = workload::find(raw.kind.get_ref()) else {
        let names = workload::WORKLOADS.iter().map(|w| w.name());
        let help = match closest(raw.kind.get_ref(), names) {
            Some(best) => format!("did you mean `{best}`? (`parlab list` shows every workload)"),
            None => "`parlab list` shows every workload".into(),
        };
        return Err(src.error_help(
            raw.kind.span(),
            at("kind"),
            format!("unknown workload `{}`", raw.kind.get_ref()),
            Some(help),
        ));
    };
    let overrides = raw.settings();
    let settings = settings(src, &format!("workload[{index}]"), &overrides, &defaults.settings)?;
    let Workers { counts: worker_counts, clamped } = match &raw.workers {
        Some(v) => workers(src, &at("workers"), v, machine)?,
        None => defaults.workers.clone(),
    };
    let params = params(src, &at("params"), w, &raw.params)?;
    let strategies = strategies(src, &at("strategies"), w, raw.strategies.as_ref())?;
    device_settings_apply(src, index, raw, &strategies)?;
    let chunk = match &raw.chunk {
        Some(c) if !(1..=limits::MAX_SIZE as i64).contains(c.get_ref()) => {
            return Err(src.error(
                c.span(),
                at("chunk"),
                format!("must be between 1 and {}, got {}", limits::MAX_SIZE, c.get_ref()),
            ))
        }
        Some(c) => Some(*c.get_ref() as usize),
        None => None,
    };
    let size_count = match raw.size.as_ref().map(|v| v.get_ref()) {
        Some(toml::Value::Array(items)) => items.len(),
        Some(_) => 1,
        None => w.default_sizes(machine).len(),
    };
    *cases =
        cases.saturating_add(count_cases(size_count, worker_counts.len(), &strategies, &settings, devices));
    if *cases > limits::MAX_CASES {
        return Err(src.error_help(
            entry.span(),
            format!("workload[{index}]"),
            format!(
                "the scenario expands to more than {} cases by this entry ({} so far)",
                limits::MAX_CASES,
                *cases
            ),
            Some("sweep fewer sizes, worker counts or strategies, or split the scenario".into()),
        ));
    }
    let workers_span = raw.workers.as_ref().map_or(raw.kind.span(), |v| v.span());
    oversubscription(src, &at("workers"), workers_span.clone(), w, &strategies, &worker_counts, machine)?;
    tunable_threads(src, w, &strategies, &worker_counts, tables)?;
    let shapes = shapes(w, &strategies, &worker_counts, chunk, tables);
    let max_workers = *worker_counts.iter().max().unwrap_or(&1);
    let measured = |size: u64| match settings.scaling {
        Scaling::Strong => size,
        Scaling::Weak => w.weak_size(size, max_workers),
    };
    // Each case's own limits at a measured size (a reply frame, a parameter one strategy
    // cannot use), checked before its memory: the more specific error comes first.
    let check_cases = |size: u64| -> Result<(), ScenarioError> {
        for shape in &shapes {
            if let Err(refused) = w.check_case(size, &params, shape) {
                return Err(blamed(src, index, raw, tables, shape, refused.field, refused.why));
            }
        }
        Ok(())
    };
    let memory = Memory::of(machine);
    let available = memory.bytes;
    // What a case needs whatever its size (queues allocated up front, threads a tunable adds):
    // no size makes it fit, so the workers or the tunable are to blame, not the size.
    let (floor, shape) = worst_case(w, 1, &params, &shapes);
    if floor > available {
        // Blamed: the first value given that would make it fit if it were left at its default
        // (a strategy's `capacity`, then a parameter), else the worker counts.
        let fits = |params: &Params, shapes: &[CaseShape]| worst_case(w, 1, params, shapes).0 <= available;
        let tunable = shapes.iter().filter(|s| s.capacity.is_some()).find_map(|s| {
            let field = format!("strategy.{}.capacity", s.strategy);
            let unset: Vec<CaseShape> = shapes
                .iter()
                .map(|t| if t.strategy == s.strategy { CaseShape { capacity: None, ..*t } } else { *t })
                .collect();
            let span = tables.spans.get(&field).filter(|_| fits(&params, &unset))?;
            Some((field, span.clone()))
        });
        let defaults = crate::workload::default_params(w);
        let param = || {
            raw.params.iter().find_map(|(key, value)| {
                let mut p = params.clone();
                p.0.insert(key.get_ref().clone(), defaults.0.get(key.get_ref())?.clone());
                fits(&p, &shapes).then(|| (at(&format!("params.{}", key.get_ref())), value.span()))
            })
        };
        let (field, span) = tunable.or_else(param).unwrap_or((at("workers"), workers_span));
        return Err(src.error_help(
            span,
            field,
            format!(
                "{} needs {} of memory at worst even at size 1 (what it holds whatever the size: \
                 queues allocated up front, messages in flight, threads), but {}",
                describe(shape),
                units::format_bytes(floor),
                memory.limit()
            ),
            Some("lower this value, or use fewer workers".into()),
        ));
    }
    let mut notes = Vec::new();
    let sizes = match &raw.size {
        Some(v) => {
            let sizes = sizes(src, &at("size"), w, &params, v)?;
            for &size in &sizes {
                let m = measured(size);
                if m != size {
                    let problem = if m > limits::MAX_SIZE {
                        Err(format!("more than the limit of {}", limits::MAX_SIZE))
                    } else {
                        w.check_size(m, &params).map_err(|e| e.to_string())
                    };
                    problem.map_err(|e| {
                        src.error(
                            v.span(),
                            at("size"),
                            format!("at {max_workers} workers weak scaling measures size {m}: {e}"),
                        )
                    })?;
                }
                check_cases(m)?;
                let (need, shape) = worst_case(w, m, &params, &shapes);
                if need > memory.bytes {
                    return Err(src.error_help(
                        v.span(),
                        at("size"),
                        format!(
                            "size {m} needs {} of memory at worst ({}), but {}",
                            units::format_bytes(need),
                            describe(shape),
                            memory.limit()
                        ),
                        Some("choose a smaller size, or fewer workers for that strategy".into()),
                    ));
                }
            }
            sizes
        }
        None => {
            // A default comes from the machine: it must fit, so it shrinks rather than fails.
            let (num, den) = limits::DEFAULT_MEMORY_SHARE;
            let budget = memory.bytes / den * num;
            let mut sizes = Vec::new();
            // The sizes a scenario gives are held to these as they are read (`sizes`, and the
            // measured one above); a default is too, or `check_limits` would refuse the plan.
            let in_range = |size: u64| -> Result<(), String> {
                for s in [size, measured(size)] {
                    if s > limits::MAX_SIZE {
                        return Err(format!("size {s} is more than the limit of {}", limits::MAX_SIZE));
                    }
                    w.check_size(s, &params).map_err(|e| format!("size {s}: {e}"))?;
                }
                Ok(())
            };
            for default in w.default_sizes(machine) {
                let need = |size: u64| worst_case(w, measured(size), &params, &shapes);
                let fits = |size: u64| need(size).0 <= budget;
                let mut size = if fits(default) { default } else { largest_fitting(default, fits) };
                // Even the smallest size can need more than there is (per-worker costs alone).
                let (least, shape) = need(size);
                if least > memory.bytes {
                    return Err(src.error_help(
                        workers_span,
                        at("size"),
                        format!(
                            "even size {size} needs {} of memory at worst ({}), but {}",
                            units::format_bytes(least),
                            describe(shape),
                            memory.limit()
                        ),
                        Some("choose fewer workers for that strategy".into()),
                    ));
                }
                let mut reduced = Vec::new();
                if size != default {
                    reduced.push(format!(
                        "the default size {} was reduced to {} so that a case needs at most {} (half {})",
                        units::format_count(default),
                        units::format_count(size),
                        units::format_bytes(budget),
                        memory.what()
                    ));
                }
                // Weak scaling can measure a size past the workload's own limits (a stencil's
                // width times the square root of the workers): shrunk until it is within them,
                // else refused.
                if let Err(why) = in_range(size) {
                    // The workloads' minimums are a few items (3 cells a side): the search
                    // starts at the smallest size within them, above which only maxima bind.
                    let least = (1..=size.min(64)).find(|&s| in_range(s).is_ok()).unwrap_or(1);
                    let smaller = largest_fitting_from(least, size, |s| fits(s) && in_range(s).is_ok());
                    if in_range(smaller).is_err() {
                        return Err(src.error_help(
                            workers_span,
                            at("size"),
                            format!(
                                "no default size is within this workload's limits: at {max_workers} \
                                 workers, the default size {size} gives {why}"
                            ),
                            Some("give a size, or use fewer workers".into()),
                        ));
                    }
                    reduced.push(format!(
                        "the default size {} was reduced to {} so that the size measured at \
                         {max_workers} workers is within the workload's limits (at {}: {why})",
                        units::format_count(size),
                        units::format_count(smaller),
                        units::format_count(size)
                    ));
                    size = smaller;
                }
                notes.extend(reduced.into_iter().map(|note| SizeNote { size, note }));
                check_cases(measured(size))?;
                sizes.push(size);
            }
            sizes
        }
    };
    if clamped {
        for &size in &sizes {
            notes.push(SizeNote { size, note: clamped_note(machine) });
        }
    }
    for &size in &sizes {
        if let Some(note) = w.size_note(measured(size), machine) {
            notes.push(SizeNote { size, note });
        }
    }
    Ok(WorkloadPlan {
        kind: w.name().to_string(),
        sizes,
        params,
        strategies,
        workers: worker_counts,
        chunk,
        settings,
        notes,
    })
}

/// The memory a plan may take here: what the machine has available, or, where that is unknown
/// (0: `/proc/meminfo` unreadable, a sandbox, not Linux), [`limits::UNKNOWN_MEMORY_BYTES`].
/// Unknown never means unlimited.
struct Memory {
    bytes: u64,
    known: bool,
}

impl Memory {
    fn of(machine: &Machine) -> Memory {
        match machine.memory_available_bytes {
            0 => Memory { bytes: limits::UNKNOWN_MEMORY_BYTES, known: false },
            bytes => Memory { bytes, known: true },
        }
    }

    /// Ends "size N needs X at worst, but ...".
    fn limit(&self) -> String {
        if self.known {
            format!("only {} is available", units::format_bytes(self.bytes))
        } else {
            format!(
                "this machine's available memory is unknown (`parlab detect` says why), so parlab \
                 allows at most {}",
                units::format_bytes(self.bytes)
            )
        }
    }

    /// Ends "needs at most X (half ...)".
    fn what(&self) -> String {
        if self.known {
            format!("the {} of memory available", units::format_bytes(self.bytes))
        } else {
            format!(
                "the {} parlab assumes where the available memory is unknown",
                units::format_bytes(self.bytes)
            )
        }
    }
}

/// Every (strategy, worker count) shape the workload's cases take, for the memory estimate.
fn shapes(
    w: &dyn Workload,
    strategies: &[String],
    workers: &[usize],
    chunk: Option<usize>,
    tables: &StrategyTables,
) -> Vec<CaseShape> {
    let mut shapes = Vec::new();
    for s in strategies.iter().filter_map(|name| strategy::find(name)) {
        // Unsupported pairs never run, so they need nothing.
        if w.support(s).is_err() {
            continue;
        }
        let tunables = tables.of(s.name());
        let chunk = chunk.or(tunables.chunk);
        let one = s.is_sequential() || s.family() == Family::Device;
        let counts: &[usize] = if one { &[1] } else { workers };
        for &n in counts {
            shapes.push(CaseShape {
                family: s.family(),
                strategy: s.name(),
                workers: n,
                chunk,
                sequential: s.is_sequential(),
                capacity: tunables.capacity,
            });
        }
    }
    shapes
}

/// The most memory any of `shapes` needs at `size`, and which shape it is.
fn worst_case<'a>(
    w: &dyn Workload,
    size: u64,
    params: &Params,
    shapes: &'a [CaseShape],
) -> (u64, Option<&'a CaseShape>) {
    let base = w.memory_bytes(size, params);
    shapes
        .iter()
        .map(|shape| {
            let processes = if shape.family.is_processes() { shape.workers as u64 } else { 0 };
            // The executor's own queues and threads, whether or not the kernel hands it tasks.
            let executor = strategy::find(shape.strategy)
                .map_or(0, |s| s.executor_memory_bytes(shape.workers, &shape.tunables()));
            let need = base
                .saturating_add(w.case_memory_bytes(size, params, shape))
                .saturating_add(executor)
                .saturating_add(processes.saturating_mul(workload::PROCESS_BYTES));
            (need, Some(shape))
        })
        .max_by_key(|(need, _)| *need)
        .unwrap_or((base, None))
}

fn describe(shape: Option<&CaseShape>) -> String {
    match shape {
        Some(s) => format!("`{}` with {} workers", s.strategy, s.workers),
        None => "input and outputs".into(),
    }
}

/// The largest size in `1..=start` that `fits` (which must be monotone), or 1.
fn largest_fitting(start: u64, fits: impl Fn(u64) -> bool) -> u64 {
    largest_fitting_from(1, start, fits)
}

/// The largest size in `lo..=start` that `fits` (which must be monotone there), or `lo`.
fn largest_fitting_from(lo: u64, start: u64, fits: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (lo, start);
    if !fits(lo) {
        return lo;
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Refuses worker counts that would only measure the scheduler, or exhaust the process table.
fn oversubscription(
    src: &Source,
    field: &str,
    span: std::ops::Range<usize>,
    w: &dyn Workload,
    strategies: &[String],
    workers: &[usize],
    machine: &Machine,
) -> Result<(), ScenarioError> {
    match oversubscribed(w, strategies, workers, machine) {
        Some((message, help)) => Err(src.error_help(span, field, message, Some(help))),
        None => Ok(()),
    }
}

/// Why `workers` oversubscribe this machine under one of `strategies`, and the limit that
/// applies; `None` when they do not.
fn oversubscribed(
    w: &dyn Workload,
    strategies: &[String],
    workers: &[usize],
    machine: &Machine,
) -> Option<(String, String)> {
    let cpus = machine.logical_cpus.max(1);
    let most = *workers.iter().max().unwrap_or(&1);
    for s in strategies.iter().filter_map(|name| strategy::find(name)) {
        if s.is_sequential() || w.support(s).is_err() {
            continue;
        }
        let (limit, what) = match s.family() {
            Family::Process => {
                ((limits::PROCESSES_PER_CPU * cpus).max(limits::MIN_PROCESS_WORKERS), "worker processes")
            }
            Family::Mpi => ((limits::PROCESSES_PER_CPU * cpus).max(limits::MIN_PROCESS_WORKERS), "MPI ranks"),
            _ => ((limits::THREADS_PER_CPU * cpus).max(limits::MIN_THREAD_WORKERS), "threads"),
        };
        if most > limit {
            let message = format!(
                "`{}` with {most} workers would start {most} {what} on {cpus} logical CPUs; the \
                 limit here is {limit}",
                s.name()
            );
            let help = match s.family() {
                Family::Process | Family::Mpi => format!(
                    "process and MPI strategies take at most {} per logical CPU (at least {})",
                    limits::PROCESSES_PER_CPU,
                    limits::MIN_PROCESS_WORKERS
                ),
                _ => format!(
                    "thread strategies take at most {} per logical CPU (at least {})",
                    limits::THREADS_PER_CPU,
                    limits::MIN_THREAD_WORKERS
                ),
            };
            return Some((message, help));
        }
    }
    None
}

/// Refuses a tunable that would run more threads at once than [`limits::MAX_THREADS`]
/// (`semaphore`'s permits, [`strategy::Strategy::threads`]): [`oversubscription`] sees only the
/// worker counts, and a thread per permit is a thread all the same.
fn tunable_threads(
    src: &Source,
    w: &dyn Workload,
    strategies: &[String],
    workers: &[usize],
    tables: &StrategyTables,
) -> Result<(), ScenarioError> {
    let most = *workers.iter().max().unwrap_or(&1);
    for s in strategies.iter().filter_map(|name| strategy::find(name)) {
        if s.is_sequential() || w.support(s).is_err() {
            continue;
        }
        let tunables = tables.of(s.name());
        let threads = s.threads(most, &tunables);
        // The workers themselves are held to the per-CPU limit; only a tunable's extra here.
        if threads <= most || threads <= limits::MAX_THREADS {
            continue;
        }
        let field = format!("strategy.{}.capacity", s.name());
        let span = tables.spans.get(&field).cloned().unwrap_or(0..0);
        return Err(src.error_help(
            span,
            field,
            format!(
                "`{}` with capacity {} would run {threads} threads at once (a thread per permit); \
                 the limit is {}",
                s.name(),
                tunables.capacity.unwrap_or(most),
                limits::MAX_THREADS
            ),
            Some(format!(
                "at most {} threads at once, whatever the machine: a few hundred already overlap \
                 thousands of waits of a millisecond",
                limits::MAX_THREADS
            )),
        ));
    }
    Ok(())
}

/// The error for a case [`Workload::check_case`] refused, at the field it blames: the
/// workload's `chunk` or else the strategy table's, the size, or a parameter.
fn blamed(
    src: &Source,
    index: usize,
    raw: &RawWorkload,
    tables: &StrategyTables,
    shape: &CaseShape,
    blame: &str,
    message: String,
) -> ScenarioError {
    let at = |key: &str| format!("workload[{index}].{key}");
    let entry = raw.kind.span();
    let (field, span) = match blame {
        "chunk" => match &raw.chunk {
            Some(c) => (at("chunk"), c.span()),
            None => {
                let field = format!("strategy.{}.chunk", shape.strategy);
                let span = tables.spans.get(&field).cloned().unwrap_or(entry);
                (field, span)
            }
        },
        "size" => (at("size"), raw.size.as_ref().map_or(entry, |v| v.span())),
        other => {
            let name = other.strip_prefix("params.").unwrap_or(other);
            let given = raw.params.iter().find(|(key, _)| key.get_ref() == name);
            (at(other), given.map_or(entry, |(_, value)| value.span()))
        }
    };
    src.error(span, field, message)
}

fn settings(
    src: &Source,
    table: &str,
    raw: &RawSettings,
    base: &Settings,
) -> Result<Settings, ScenarioError> {
    let at = |key: &str| format!("{table}.{key}");
    let mut s = base.clone();
    let duration =
        |v: &Option<Spanned<String>>, key: &str, into: &mut Duration| -> Result<(), ScenarioError> {
            if let Some(v) = v {
                *into = units::parse_duration(v.get_ref()).map_err(|m| src.error(v.span(), at(key), m))?;
            }
            Ok(())
        };
    duration(&raw.warmup, "warmup", &mut s.warmup)?;
    duration(&raw.max_time, "max_time", &mut s.max_time)?;
    duration(&raw.timeout, "timeout", &mut s.timeout)?;
    if let Some(t) = &raw.timeout {
        if s.timeout.is_zero() {
            return Err(src.error(t.span(), at("timeout"), "the timeout must be longer than zero"));
        }
    }
    for (key, value, into) in [
        ("min_samples", &raw.min_samples, &mut s.min_samples),
        ("max_samples", &raw.max_samples, &mut s.max_samples),
    ] {
        if let Some(v) = value {
            let n = *v.get_ref();
            if !(1..=limits::MAX_SAMPLES as i64).contains(&n) {
                return Err(src.error_help(
                    v.span(),
                    at(key),
                    format!("must be between 1 and {}, got {n}", limits::MAX_SAMPLES),
                    Some("sampling also stops at max_time; a few dozen samples are usually plenty".into()),
                ));
            }
            *into = n as usize;
        }
    }
    if s.min_samples > s.max_samples {
        let span = raw.min_samples.as_ref().or(raw.max_samples.as_ref()).map_or(0..0, |v| v.span());
        return Err(src.error(
            span,
            at("min_samples"),
            format!("min_samples ({}) is larger than max_samples ({})", s.min_samples, s.max_samples),
        ));
    }
    if let Some(v) = &raw.target_ci {
        let ci = match v.get_ref() {
            toml::Value::Float(f) => *f,
            toml::Value::Integer(i) => *i as f64,
            other => {
                return Err(src.error(
                    v.span(),
                    at("target_ci"),
                    format!("expected a number such as 0.02, got {other}"),
                ))
            }
        };
        if !(ci > 0.0 && ci < 1.0) {
            return Err(src.error_help(
                v.span(),
                at("target_ci"),
                format!("must be between 0 and 1 (a relative half-width), got {ci}"),
                Some("0.02 stops sampling once the 95% CI is within +-2% of the median".into()),
            ));
        }
        s.target_ci = ci;
    }
    if let Some(v) = &raw.scaling {
        s.scaling = match v.get_ref().as_str() {
            "strong" => Scaling::Strong,
            "weak" => Scaling::Weak,
            other => {
                return Err(src.error_help(
                    v.span(),
                    at("scaling"),
                    format!("unknown scaling `{other}`"),
                    Some("use \"strong\" (fixed size) or \"weak\" (size grows with workers)".into()),
                ))
            }
        };
    }
    if let Some(v) = &raw.seed {
        s.seed = u64::try_from(*v.get_ref()).map_err(|_| {
            src.error(v.span(), at("seed"), format!("must be a whole number from 0 up, got {}", v.get_ref()))
        })?;
    }
    if let Some(v) = &raw.processes {
        let n = *v.get_ref();
        if !(1..=MAX_PROCESSES as i64).contains(&n) {
            return Err(src.error_help(
                v.span(),
                at("processes"),
                format!("must be between 1 and {MAX_PROCESSES} processes per case, got {n}"),
                Some("5 to 10 processes already show the spread between processes".into()),
            ));
        }
        s.processes = n as usize;
    }
    if let Some(v) = &raw.device {
        s.device = DeviceChoice::parse(v.get_ref()).map_err(|m| {
            src.error_help(
                v.span(),
                at("device"),
                m,
                Some(
                    "write \"gpu\", \"cpu\", \"all\" or part of a device's name (`parlab detect` \
                     lists the devices)"
                        .into(),
                ),
            )
        })?;
    }
    if let Some(v) = &raw.cache {
        s.cache = match v.get_ref().trim() {
            "cold" => Cache::Cold,
            "warm" => Cache::Warm,
            other => {
                let hint = match closest(other, ["cold", "warm"]) {
                    Some(best) => format!("did you mean \"{best}\"? "),
                    None => String::new(),
                };
                return Err(src.error_help(
                    v.span(),
                    at("cache"),
                    format!("unknown cache state `{other}`"),
                    Some(format!(
                        "{hint}use \"cold\" (the default: the device's cache is flushed before each \
                         sample) or \"warm\" (no flush)"
                    )),
                ));
            }
        };
    }
    if let Some(v) = &raw.resident {
        s.resident = *v.get_ref();
    }
    Ok(s)
}

/// Refuses `device`, `cache` or `resident` on a `[[workload]]` entry none of whose strategies
/// runs on a device: they would change nothing, which is surely not what was meant. In
/// `[defaults]` they are fine: they apply to the entries that have device strategies.
fn device_settings_apply(
    src: &Source,
    index: usize,
    raw: &RawWorkload,
    strategies: &[String],
) -> Result<(), ScenarioError> {
    let on_device =
        strategies.iter().any(|s| strategy::find(s).is_some_and(|s| s.family() == Family::Device));
    if on_device {
        return Ok(());
    }
    let given = [
        ("device", raw.device.as_ref().map(|v| v.span())),
        ("cache", raw.cache.as_ref().map(|v| v.span())),
        ("resident", raw.resident.as_ref().map(|v| v.span())),
    ];
    let Some((key, Some(span))) = given.into_iter().find(|(_, span)| span.is_some()) else {
        return Ok(());
    };
    let devices: Vec<&str> =
        strategy::STRATEGIES.iter().filter(|s| s.family() == Family::Device).map(|s| s.name()).collect();
    Err(src.error_help(
        span,
        format!("workload[{index}].{key}"),
        format!("`{key}` applies to device strategies only, and this workload runs none"),
        Some(format!("add a device strategy ({}) to `strategies`, or remove `{key}`", devices.join(", "))),
    ))
}

/// Powers of two up to the logical CPU count, and the count itself.
fn default_worker_counts(max: usize) -> Vec<usize> {
    let mut counts: Vec<usize> =
        std::iter::successors(Some(1usize), |n| n.checked_mul(2)).take_while(|n| *n <= max).collect();
    if counts.last() != Some(&max) {
        counts.push(max.max(1));
    }
    counts
}

/// What `"max"` (and the default sweep) stands for here: the logical CPU count, but never more
/// than [`limits::MAX_WORKERS`]; `true` when that cut the count down.
fn most_workers(machine: &Machine) -> (usize, bool) {
    let cpus = machine.logical_cpus.max(1);
    (cpus.min(limits::MAX_WORKERS), cpus > limits::MAX_WORKERS)
}

/// The note every case of a sweep that [`most_workers`] cut down carries.
fn clamped_note(machine: &Machine) -> String {
    format!(
        "this machine has {} logical CPUs, but worker counts stop at parlab's limit of {}: \
         \"max\" and the default sweep mean {} here",
        machine.logical_cpus,
        limits::MAX_WORKERS,
        limits::MAX_WORKERS
    )
}

/// Worker counts, sorted and distinct; `clamped` when `"max"` was cut down to
/// [`limits::MAX_WORKERS`] ([`most_workers`]), which the cases then say.
#[derive(Debug, Clone)]
struct Workers {
    counts: Vec<usize>,
    clamped: bool,
}

/// Worker counts: an integer, `"max"`, a range `"1..=max"` / `"2..8"`, `"pow2"`, or a list of these.
fn workers(
    src: &Source,
    field: &str,
    value: &Spanned<toml::Value>,
    machine: &Machine,
) -> Result<Workers, ScenarioError> {
    let (max, cut) = most_workers(machine);
    let said_max = std::cell::Cell::new(false);
    let err = |m: String| {
        src.error_help(
            value.span(),
            field,
            m,
            Some("write e.g. 4, \"max\", \"1..=max\", \"pow2\" or [1, 2, \"max\"]".into()),
        )
    };
    // Each item is one or more ranges of counts, every bound within 1..=MAX_WORKERS.
    let one = |v: &toml::Value| -> Result<Vec<std::ops::RangeInclusive<usize>>, ScenarioError> {
        match v {
            toml::Value::Integer(n) if (1..=limits::MAX_WORKERS as i64).contains(n) => {
                Ok(vec![*n as usize..=*n as usize])
            }
            toml::Value::Integer(n) => {
                Err(err(format!("worker counts must be between 1 and {}, got {n}", limits::MAX_WORKERS)))
            }
            toml::Value::String(s) => {
                let s = s.trim();
                let bound = |t: &str| -> Result<usize, ScenarioError> {
                    match t.trim() {
                        "max" => {
                            said_max.set(true);
                            Ok(max)
                        }
                        t => match t.parse::<u64>() {
                            Ok(n) if (1..=limits::MAX_WORKERS as u64).contains(&n) => Ok(n as usize),
                            Ok(n) => Err(err(format!(
                                "worker counts must be between 1 and {}, got {n}",
                                limits::MAX_WORKERS
                            ))),
                            Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                                Err(err(format!(
                                    "worker counts must be between 1 and {}, got {t}",
                                    limits::MAX_WORKERS
                                )))
                            }
                            Err(_) => Err(err(format!("`{t}` is not a worker count"))),
                        },
                    }
                };
                if s == "pow2" {
                    said_max.set(true);
                    Ok(default_worker_counts(max).into_iter().map(|n| n..=n).collect())
                } else if let Some((a, b)) = s.split_once("..=") {
                    let (a, b) = (bound(a)?, bound(b)?);
                    if a > b {
                        return Err(err(format!("the range `{s}` is empty")));
                    }
                    Ok(vec![a..=b])
                } else if let Some((a, b)) = s.split_once("..") {
                    let (a, b) = (bound(a)?, bound(b)?);
                    if a >= b {
                        return Err(err(format!("the range `{s}` is empty")));
                    }
                    Ok(vec![a..=b - 1])
                } else {
                    let n = bound(s)?;
                    Ok(vec![n..=n])
                }
            }
            other => Err(err(format!("expected a worker count, got {other}"))),
        }
    };
    let items = match value.get_ref() {
        toml::Value::Array(items) if items.is_empty() => {
            return Err(err("the list of worker counts is empty".into()))
        }
        // More items than there are distinct counts can only repeat them.
        toml::Value::Array(items) if items.len() > limits::MAX_WORKERS => {
            return Err(err(format!(
                "a list of {} worker counts; a list takes at most {} entries",
                items.len(),
                limits::MAX_WORKERS
            )))
        }
        toml::Value::Array(items) => items.as_slice(),
        v => std::slice::from_ref(v),
    };
    // Ranges are marked in a table of every possible count, never expanded into a list: a long
    // list of wide ranges costs no more memory than one.
    let mut chosen = vec![false; limits::MAX_WORKERS + 1];
    for item in items {
        for range in one(item)? {
            chosen[range].fill(true);
        }
    }
    let counts = chosen.iter().enumerate().filter(|(_, c)| **c).map(|(n, _)| n).collect();
    Ok(Workers { counts, clamped: cut && said_max.get() })
}

fn sizes(
    src: &Source,
    field: &str,
    w: &dyn Workload,
    params: &Params,
    value: &Spanned<toml::Value>,
) -> Result<Vec<u64>, ScenarioError> {
    let unit = w.size_unit();
    let err = |m: String| {
        let help = match unit.bytes_per_item {
            Some(_) => {
                format!("`{}` sizes count {}; write e.g. 1000000, \"10M\" or \"64MiB\"", w.name(), unit.what)
            }
            None => format!("`{}` sizes count {}; write e.g. 1000, \"10M\" or \"4Ki\"", w.name(), unit.what),
        };
        src.error_help(value.span(), field, m, Some(help))
    };
    let one = |v: &toml::Value| -> Result<u64, ScenarioError> {
        let parsed = match v {
            toml::Value::Integer(n) if *n <= 0 => {
                return Err(err(format!("sizes must be positive, got {n}")))
            }
            toml::Value::Integer(n) => units::SizeValue { value: *n as u64, bytes: false },
            toml::Value::String(s) => units::parse_size(s).map_err(err)?,
            other => return Err(err(format!("expected a size, got {other}"))),
        };
        let items = if parsed.bytes {
            match unit.bytes_per_item {
                Some(b) => parsed.value / b,
                None => {
                    return Err(err(format!("`{}` measures its size in {}, not bytes", w.name(), unit.what)))
                }
            }
        } else {
            parsed.value
        };
        if items == 0 {
            return Err(err("sizes must be positive, got 0".into()));
        }
        if items > limits::MAX_SIZE {
            return Err(err(format!("size {items} is more than the limit of {} items", limits::MAX_SIZE)));
        }
        w.check_size(items, params).map_err(|e| err(e.to_string()))?;
        Ok(items)
    };
    match value.get_ref() {
        toml::Value::Array(items) if items.is_empty() => Err(err("the list of sizes is empty".into())),
        toml::Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn params(
    src: &Source,
    field: &str,
    w: &dyn Workload,
    raw: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
) -> Result<Params, ScenarioError> {
    let mut params = crate::workload::default_params(w);
    for (key, value) in raw {
        let f = format!("{field}.{}", key.get_ref());
        let Some(spec) = w.params().iter().find(|p| p.name == key.get_ref()) else {
            let names: Vec<&str> = w.params().iter().map(|p| p.name).collect();
            let help = match closest(key.get_ref(), names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None if names.is_empty() => format!("`{}` takes no parameters", w.name()),
                None => format!("`{}` takes: {}", w.name(), names.join(", ")),
            };
            return Err(src.error_help(
                key.span(),
                f,
                format!("unknown parameter `{}` for workload `{}`", key.get_ref(), w.name()),
                Some(help),
            ));
        };
        let v = match (&spec.default, value.get_ref()) {
            (ParamValue::Text(_), toml::Value::String(s)) => match spec.choices.iter().find(|c| **c == s) {
                Some(c) => ParamValue::Text((*c).into()),
                None => return Err(bad_choice(src, value, f, spec, &format!("`{s}`"))),
            },
            (ParamValue::Text(_), other) => return Err(bad_choice(src, value, f, spec, &other.to_string())),
            (ParamValue::Int(_), toml::Value::Integer(i)) => ParamValue::Int(*i),
            (ParamValue::Float(_), toml::Value::Float(x)) => ParamValue::Float(*x),
            (ParamValue::Float(_), toml::Value::Integer(i)) => ParamValue::Float(*i as f64),
            (ParamValue::Int(_), other) => {
                return Err(src.error(value.span(), f, format!("expected a whole number, got {other}")))
            }
            (ParamValue::Float(_), other) => {
                return Err(src.error(value.span(), f, format!("expected a number, got {other}")))
            }
        };
        let x = v.clone();
        if !within(spec, &v) {
            return Err(src.error_help(
                value.span(),
                f,
                format!("{x} is out of range [{}, {}]", spec.min, spec.max),
                Some(spec.help.to_string()),
            ));
        }
        params.0.insert(spec.name.to_string(), v);
    }
    if let Err(workload::Refused { field: name, why: m }) = w.check_params(&params) {
        // At the parameter to blame, or at the first one given when that one was left default.
        let given = raw.iter().find(|(key, _)| key.get_ref() == name).or_else(|| raw.iter().next());
        let span = given.map_or(0..0, |(_, value)| value.span());
        return Err(src.error(span, format!("{field}.{name}"), m));
    }
    Ok(params)
}

/// Whether `v` is within `spec`'s range, or one of its choices.
fn within(spec: &workload::ParamSpec, v: &ParamValue) -> bool {
    match v {
        // Whole numbers are compared as integers: an i64 near 2^63 has no exact f64.
        ParamValue::Int(i) => {
            let (lo, hi) = (spec.min.ceil(), spec.max.floor());
            (lo <= i64::MIN as f64 || *i >= lo as i64) && (hi >= i64::MAX as f64 || *i <= hi as i64)
        }
        ParamValue::Float(x) => (spec.min..=spec.max).contains(x),
        ParamValue::Text(t) => spec.choices.contains(&t.as_ref()),
    }
}

/// A choice parameter given something that is not one of its names.
fn bad_choice(
    src: &Source,
    value: &Spanned<toml::Value>,
    field: String,
    spec: &workload::ParamSpec,
    got: &str,
) -> ScenarioError {
    let names: Vec<String> = spec.choices.iter().map(|c| format!("\"{c}\"")).collect();
    let help = match value.get_ref().as_str().and_then(|s| closest(s, spec.choices.iter().copied())) {
        Some(best) => format!("did you mean \"{best}\"? {}", spec.help),
        None => spec.help.to_string(),
    };
    src.error_help(
        value.span(),
        field,
        format!("expected one of {}, got {got}", names.join(", ")),
        Some(help),
    )
}

fn strategies(
    src: &Source,
    field: &str,
    w: &dyn Workload,
    value: Option<&Spanned<toml::Value>>,
) -> Result<Vec<String>, ScenarioError> {
    let mut names: Vec<String> = vec!["sequential".into()];
    let all = || strategy::STRATEGIES.iter().map(|s| s.name().to_string()).collect::<Vec<_>>();
    let listed = match value.map(|v| (v, v.get_ref())) {
        None => all(),
        Some((_, toml::Value::String(s))) if s == "all" => all(),
        Some((v, toml::Value::String(s))) => vec![check_strategy(src, field, v, s)?],
        Some((v, toml::Value::Array(items))) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    toml::Value::String(s) => out.push(check_strategy(src, field, v, s)?),
                    other => {
                        return Err(src.error(
                            v.span(),
                            field,
                            format!("expected a strategy name, got {other}"),
                        ))
                    }
                }
            }
            out
        }
        Some((v, other)) => {
            return Err(src.error_help(
                v.span(),
                field,
                format!("expected \"all\" or a list of strategy names, got {other}"),
                Some(format!("e.g. strategies = [\"threads\", \"rayon\"] for `{}`", w.name())),
            ))
        }
    };
    for name in listed {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn check_strategy(
    src: &Source,
    field: &str,
    value: &Spanned<toml::Value>,
    name: &str,
) -> Result<String, ScenarioError> {
    match strategy::find(name) {
        Some(s) => Ok(s.name().to_string()),
        None => Err(unknown_strategy(src, field, &Spanned::new(value.span(), name.to_string()))),
    }
}

fn unknown_strategy(src: &Source, field: &str, name: &Spanned<String>) -> ScenarioError {
    let names = strategy::STRATEGIES.iter().map(|s| s.name());
    let help = match closest(name.get_ref(), names) {
        Some(best) => format!("did you mean `{best}`? (`parlab list` shows every strategy)"),
        None => "`parlab list` shows every strategy".into(),
    };
    src.error_help(name.span(), field, format!("unknown strategy `{}`", name.get_ref()), Some(help))
}

/// Durations stored as seconds (a float) in results files.
mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}
