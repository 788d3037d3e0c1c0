//! The scenario file as written: serde structs that mirror the TOML one to one, with spans kept
//! on every value that validation may need to point at. Nothing outside `scenario` sees these.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub scenario: RawMeta,
    #[serde(default)]
    pub defaults: RawSettings,
    #[serde(default)]
    pub strategy: BTreeMap<Spanned<String>, RawStrategy>,
    #[serde(default)]
    pub workload: Vec<Spanned<RawWorkload>>,
    pub mpi: Option<RawMpi>,
}

/// `[mpi]`: how the ranks of `mpi` cases are started.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMpi {
    pub launcher: Option<Spanned<String>>,
    pub args: Option<Spanned<Vec<Spanned<String>>>>,
    pub hostfile: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMeta {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
}

/// Settings that `[defaults]` gives and each `[[workload]]` may override.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub workers: Option<Spanned<toml::Value>>,
    pub warmup: Option<Spanned<String>>,
    pub min_samples: Option<Spanned<i64>>,
    pub max_samples: Option<Spanned<i64>>,
    pub max_time: Option<Spanned<String>>,
    pub target_ci: Option<Spanned<toml::Value>>,
    pub timeout: Option<Spanned<String>>,
    pub scaling: Option<Spanned<String>>,
    pub seed: Option<Spanned<i64>>,
    pub processes: Option<Spanned<i64>>,
    /// Device strategies only (see [`super::device`]): which devices, the cache, residency.
    pub device: Option<Spanned<String>>,
    pub cache: Option<Spanned<String>>,
    pub resident: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStrategy {
    pub chunk: Option<Spanned<i64>>,
    pub capacity: Option<Spanned<i64>>,
}

/// serde cannot combine `flatten` with `deny_unknown_fields`, so the overridable settings are
/// repeated here and gathered by [`RawWorkload::settings`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub kind: Spanned<String>,
    pub size: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub params: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    pub strategies: Option<Spanned<toml::Value>>,
    pub chunk: Option<Spanned<i64>>,
    pub workers: Option<Spanned<toml::Value>>,
    pub warmup: Option<Spanned<String>>,
    pub min_samples: Option<Spanned<i64>>,
    pub max_samples: Option<Spanned<i64>>,
    pub max_time: Option<Spanned<String>>,
    pub target_ci: Option<Spanned<toml::Value>>,
    pub timeout: Option<Spanned<String>>,
    pub scaling: Option<Spanned<String>>,
    pub seed: Option<Spanned<i64>>,
    pub processes: Option<Spanned<i64>>,
    /// Device strategies only (see [`super::device`]): which devices, the cache, residency.
    pub device: Option<Spanned<String>>,
    pub cache: Option<Spanned<String>>,
    pub resident: Option<Spanned<bool>>,
}

impl RawWorkload {
    pub fn settings(&self) -> RawSettings {
        RawSettings {
            workers: self.workers.clone(),
            warmup: self.warmup.clone(),
            min_samples: self.min_samples.clone(),
            max_samples: self.max_samples.clone(),
            max_time: self.max_time.clone(),
            target_ci: self.target_ci.clone(),
            timeout: self.timeout.clone(),
            scaling: self.scaling.clone(),
            seed: self.seed.clone(),
            processes: self.processes.clone(),
            device: self.device.clone(),
            cache: self.cache.clone(),
            resident: self.resident.clone(),
        }
    }
}
