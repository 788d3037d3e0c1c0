//! What makes two measurements the same measurement: a case's identity across runs.
//!
//! `compare`, `ab`, named baselines and the comparison page all pair a case of one run with
//! "the same" case of another. Same means: everything that changes what is measured — the
//! workload and its parameters (a `simd` or `kernel` switch is a parameter too), the strategy
//! and its tunables (`chunk`, `capacity`), the worker count, the size as given and as measured,
//! the scaling mode, the input seed, for cases whose processes are launched (MPI ranks), how
//! they were launched (`mpirun` or `srun`, bound to cores or oversubscribed), and for device
//! cases the device, the cache state and whether the inputs were resident. Pairing on less than that compares unlike things (a
//! `chunk = 2` run against a `chunk = 64` one) and reports the difference as a regression; so
//! this is the one definition, and a results file holding two cases with one identity is an
//! error ([`check_unique`]), never a silent first match.

use std::fmt;

use crate::results::CaseResult;
use crate::scenario::{Scaling, Settings};

/// Everything that changes what a case measures. Compare with `==`; [`fmt::Display`] gives the
/// key shown in tables (`mandelbrot/rayon/2w/256/max_iter=1000/chunk=4`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseIdentity {
    pub workload: String,
    pub strategy: String,
    pub workers: usize,
    /// The size as the scenario gave it.
    pub size: u64,
    /// The size measured (`size * workers`-ish for weak scaling).
    pub effective_size: u64,
    pub weak: bool,
    /// Workload parameters as `name=value`, sorted by name.
    pub params: Vec<String>,
    /// Strategy tunables that were set, as `name=value`, sorted by name.
    pub tunables: Vec<String>,
    /// The input seed; `None` only for a results file older than per-case seeds whose scenario
    /// could not tell it.
    pub seed: Option<u64>,
    /// How the case's processes were launched ([`CaseResult::launch`]); `None` for cases that
    /// launch nothing, and for files from before it was recorded.
    pub launch: Option<String>,
    /// A device case's device ([`crate::scenario::DeviceCase::label`]); `None` for every other
    /// case, and for files from before devices were chosen.
    pub device: Option<String>,
    /// A device case's settings that differ from the defaults (`cache=warm`, `resident`).
    pub device_settings: Vec<String>,
}

impl CaseIdentity {
    pub fn of(c: &CaseResult) -> CaseIdentity {
        // Every tunable `StrategyParams` has, by its serialized name: a tunable added later is
        // part of the identity without touching this function.
        let tunables = match serde_json::to_value(&c.tunables) {
            Ok(serde_json::Value::Object(map)) => {
                map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| format!("{k}={v}")).collect()
            }
            _ => Vec::new(),
        };
        CaseIdentity {
            workload: c.workload.clone(),
            strategy: c.strategy.clone(),
            workers: c.workers,
            size: c.size,
            effective_size: c.effective_size,
            weak: c.scaling == Scaling::Weak,
            params: c.params.0.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            tunables,
            seed: c.seed,
            launch: c.launch.clone(),
            device: c.device.as_ref().map(|d| d.label()),
            device_settings: c.device.as_ref().map(|d| d.settings()).unwrap_or_default(),
        }
    }

    /// The part of the key after workload, strategy, workers and size: parameters, tunables,
    /// seed (when not the default), weak scaling, the launch (where there is one) and the
    /// device with its settings (device cases). Empty for a plain case.
    pub fn settings(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.params.is_empty() {
            parts.push(self.params.join(","));
        }
        parts.extend(self.tunables.iter().cloned());
        match self.seed {
            Some(s) if s == Settings::default().seed => {}
            Some(s) => parts.push(format!("seed={s}")),
            None => parts.push("seed=?".into()),
        }
        if self.weak {
            parts.push(format!("weak from {}", self.size));
        }
        if let Some(launch) = &self.launch {
            parts.push(format!("launch={launch}"));
        }
        if let Some(device) = &self.device {
            parts.push(format!("device={device}"));
        }
        parts.extend(self.device_settings.iter().cloned());
        parts.join("/")
    }
}

impl fmt::Display for CaseIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}w/{}", self.workload, self.strategy, self.workers, self.effective_size)?;
        let settings = self.settings();
        if !settings.is_empty() {
            write!(f, "/{settings}")?;
        }
        Ok(())
    }
}

impl CaseIdentity {
    /// Whether `self` and `other` are the same case for pairing two runs: equal, or equal but
    /// for a launch one of them does not record (a file written before launches were; an MPI
    /// case of such a file pairs with today's, whatever its launch, as it did then).
    pub fn pairs_with(&self, other: &CaseIdentity) -> bool {
        if self == other {
            return true;
        }
        if self.launch.is_some() && other.launch.is_some() {
            return false;
        }
        CaseIdentity { launch: None, ..self.clone() } == CaseIdentity { launch: None, ..other.clone() }
    }
}

/// Two cases of one results file with the same identity: which of them is "the" case is
/// unknowable, so comparing the file would pair arbitrary measurements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file}: cases {first} and {second} are both `{key}`: a comparison could not tell them apart; \
     give them distinct settings or measure them in separate runs"
)]
pub struct DuplicateCase {
    pub file: String,
    pub key: String,
    pub first: usize,
    pub second: usize,
}

/// Checks that no two cases of `cases` (from `file`) share an identity.
pub fn check_unique(cases: &[CaseResult], file: &str) -> Result<(), DuplicateCase> {
    let mut seen: std::collections::HashMap<CaseIdentity, usize> = std::collections::HashMap::new();
    for c in cases {
        if let Some(first) = seen.insert(CaseIdentity::of(c), c.id) {
            return Err(DuplicateCase {
                file: file.into(),
                key: CaseIdentity::of(c).to_string(),
                first,
                second: c.id,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Status;
    use crate::scenario::CaseSpec;
    use crate::strategy::StrategyParams;
    use crate::workload::{ParamValue, Params};

    fn case(id: usize, chunk: Option<usize>) -> CaseResult {
        let spec = CaseSpec {
            id,
            workload_index: 0,
            workload: "mandelbrot".into(),
            strategy: "threads-dynamic".into(),
            workers: 2,
            size: 256,
            effective_size: 256,
            scaling: Scaling::Strong,
            seed: 42,
            tunables: StrategyParams { chunk, ..StrategyParams::default() },
            notes: Vec::new(),
            device: None,
        };
        let params = Params([("max_iter".to_string(), ParamValue::Int(500))].into_iter().collect());
        CaseResult::unmeasured(&spec, &params, Status::Ok, "")
    }

    #[test]
    fn everything_that_changes_the_measurement_is_in_the_identity() {
        let base = case(0, Some(2));
        let id = CaseIdentity::of(&base);
        assert_eq!(id.to_string(), "mandelbrot/threads-dynamic/2w/256/max_iter=500/chunk=2");
        assert_eq!(CaseIdentity::of(&case(7, Some(2))), id, "the case number is not part of it");
        let differs = |f: &dyn Fn(&mut CaseResult)| {
            let mut c = base.clone();
            f(&mut c);
            assert_ne!(CaseIdentity::of(&c), id, "{c:?}");
            assert_ne!(CaseIdentity::of(&c).to_string(), id.to_string(), "keys must differ too");
        };
        differs(&|c| c.tunables.chunk = Some(4));
        differs(&|c| c.tunables.chunk = None);
        differs(&|c| c.tunables.capacity = Some(8));
        differs(&|c| c.seed = Some(7));
        differs(&|c| c.seed = None);
        differs(&|c| c.workers = 4);
        differs(&|c| c.effective_size = 512);
        differs(&|c| c.scaling = Scaling::Weak);
        differs(&|c| {
            c.params.0.insert("max_iter".into(), ParamValue::Int(1000));
        });
        differs(&|c| {
            c.params.0.insert("simd".into(), ParamValue::Int(1));
        });
        differs(&|c| c.strategy = "rayon".into());
        differs(&|c| c.launch = Some("mpirun --bind-to core".into()));
    }

    #[test]
    fn a_device_case_is_known_by_its_device_cache_and_residency() {
        use crate::scenario::{Cache, DeviceCase, DeviceChoice, DeviceTarget};
        let mut base = case(0, None);
        base.strategy = "opencl".into();
        base.workers = 1;
        let on = |name: &str, ordinal, cache, resident| DeviceCase {
            choice: DeviceChoice::All,
            target: Some(DeviceTarget { name: name.into(), ordinal }),
            cache,
            resident,
        };
        base.device = Some(on("NVIDIA H200", 0, Cache::Cold, false));
        let id = CaseIdentity::of(&base);
        assert_eq!(id.to_string(), "mandelbrot/opencl/1w/256/max_iter=500/device=NVIDIA H200");
        let mut keys = vec![id.to_string()];
        for other in [
            on("NVIDIA H200", 1, Cache::Cold, false),
            on("pthread-Intel Xeon", 0, Cache::Cold, false),
            on("NVIDIA H200", 0, Cache::Warm, false),
            on("NVIDIA H200", 0, Cache::Cold, true),
            DeviceCase { target: None, ..on("x", 0, Cache::Cold, false) },
        ] {
            let mut c = base.clone();
            c.device = Some(other);
            let other = CaseIdentity::of(&c);
            assert_ne!(other, id);
            keys.push(other.to_string());
        }
        assert_eq!(
            &keys[1..],
            [
                "mandelbrot/opencl/1w/256/max_iter=500/device=NVIDIA H200 #2",
                "mandelbrot/opencl/1w/256/max_iter=500/device=pthread-Intel Xeon",
                "mandelbrot/opencl/1w/256/max_iter=500/device=NVIDIA H200/cache=warm",
                "mandelbrot/opencl/1w/256/max_iter=500/device=NVIDIA H200/resident",
                "mandelbrot/opencl/1w/256/max_iter=500/device=none matching \"all\"",
            ]
        );
        // Two devices in one file are two cases.
        let mut second = base.clone();
        second.id = 1;
        second.device = Some(on("NVIDIA H200", 1, Cache::Cold, false));
        assert!(check_unique(&[base, second], "r.json").is_ok());
    }

    #[test]
    fn a_case_without_a_launch_pairs_with_one_launched_but_two_launches_must_agree() {
        let mut old = case(0, None);
        old.strategy = "mpi".into();
        let mut new = old.clone();
        new.launch = Some("mpirun --bind-to core".into());
        let (old, new) = (CaseIdentity::of(&old), CaseIdentity::of(&new));
        assert_ne!(old, new);
        assert!(old.pairs_with(&new) && new.pairs_with(&old), "a file from before launches pairs");
        let srun = CaseIdentity { launch: Some("srun".into()), ..new.clone() };
        assert!(!srun.pairs_with(&new), "two recorded launches must agree");
        let other = CaseIdentity { workers: 4, ..old.clone() };
        assert!(!other.pairs_with(&new), "only the launch may be missing");
    }

    #[test]
    fn cases_launched_differently_are_different_cases() {
        let launched = |how: &str| {
            let mut c = case(0, None);
            c.strategy = "mpi".into();
            c.launch = Some(how.into());
            c
        };
        let mpirun = CaseIdentity::of(&launched("mpirun --bind-to core"));
        assert_eq!(mpirun, CaseIdentity::of(&launched("mpirun --bind-to core")));
        assert_eq!(mpirun.to_string(), "mandelbrot/mpi/2w/256/max_iter=500/launch=mpirun --bind-to core");
        for other in [
            "srun",
            "mpiexec --bind-to core",
            "mpirun --oversubscribe --bind-to none",
            "mpirun --mca btl self,vader --bind-to core",
            "mpirun --bind-to core --hostfile hosts#0badcafe",
        ] {
            let id = CaseIdentity::of(&launched(other));
            assert_ne!(id, mpirun, "{other}");
            assert_ne!(id.to_string(), mpirun.to_string(), "{other}");
        }
        // Both in one file are two cases, not a duplicate.
        let (a, mut b) = (launched("mpirun --bind-to core"), launched("srun"));
        b.id = 1;
        assert!(check_unique(&[a, b], "r.json").is_ok());
    }

    #[test]
    fn a_case_without_a_launch_keeps_its_identity_and_key() {
        // A case that launches nothing has the identity and key it had before launches were
        // recorded, so results from before still pair with new ones.
        let c = case(0, Some(2));
        assert_eq!(c.launch, None);
        let id = CaseIdentity::of(&c);
        assert_eq!(id.launch, None);
        assert_eq!(id.to_string(), "mandelbrot/threads-dynamic/2w/256/max_iter=500/chunk=2");
        let mut old: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert!(old.get("launch").is_none(), "left out when absent: {old}");
        old.as_object_mut().unwrap().remove("launch");
        let read: CaseResult = serde_json::from_value(old).unwrap();
        assert_eq!(CaseIdentity::of(&read), id);
    }

    #[test]
    fn two_cases_with_one_identity_are_an_error_naming_file_and_cases() {
        assert!(check_unique(&[case(0, Some(2)), case(1, Some(4))], "r.json").is_ok());
        let e = check_unique(&[case(0, Some(2)), case(1, Some(4)), case(2, Some(2))], "r.json").unwrap_err();
        assert_eq!((e.first, e.second), (0, 2));
        let text = e.to_string();
        assert!(text.starts_with("r.json: cases 0 and 2"), "{text}");
        assert!(text.contains("chunk=2"), "{text}");
    }
}
