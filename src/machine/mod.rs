//! Machine detection: what the harness runs on.
//!
//! Every results file records the machine so that numbers are never read without their context.
//! With the `hwloc` feature the topology comes from hwloc (through `hwlocality`); without it,
//! detection falls back to `std`, `/proc` and `/sys`, and [`Machine::source`] says which was used.
//!
//! Tests never describe the machine they run on: [`fixture::Synthetic`] writes a fake `/sys` and
//! `/proc` tree that [`Machine::from_root`] reads with the same parser. The binary reads such a
//! tree instead of `/` when `PARLAB_MACHINE_ROOT` names one (for end-to-end tests only).

use serde::{Deserialize, Serialize};

pub mod cuda;
pub mod fixture;
pub mod hosts;
#[cfg(feature = "hwloc")]
mod hwloc;
pub mod mpi;
pub mod opencl;
mod sysfs;

/// Names a fake `/sys` + `/proc` tree for [`Machine::detect`] to read instead of the machine.
pub const ROOT_ENV: &str = "PARLAB_MACHINE_ROOT";

/// Everything parlab knows about the machine it measured on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// Where the topology came from: `"hwloc"` or `"sysfs"`.
    pub source: String,
    pub hostname: String,
    pub cpu_model: String,
    pub architecture: String,
    pub sockets: usize,
    pub physical_cores: usize,
    pub logical_cpus: usize,
    /// One entry per cache level and kind (data, instruction, unified).
    pub caches: Vec<Cache>,
    pub numa_nodes: usize,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    /// e.g. `"linux 6.1.0-18-amd64"`.
    pub os: String,
    /// Compiler that built parlab, e.g. `"rustc 1.95.0 (...)"`.
    pub compiler: String,
    /// Empty until a GPU feature is enabled and finds devices.
    #[serde(default)]
    pub gpus: Vec<Gpu>,
    /// `None` until the MPI feature is enabled and finds a runtime.
    #[serde(default)]
    pub mpi: Option<String>,
    /// Notes on what could not be detected, and why.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The optional probes this build ran (`"gpu"`, `"mpi"`): an empty [`Machine::gpus`] means
    /// "none found" only when `"gpu"` is here, else "not probed in this build".
    #[serde(default)]
    pub probed: Vec<String>,
}

/// An optional probe (GPUs, MPI) whose answer [`Machine::describe_probe`] words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Gpu,
    Mpi,
}

impl Probe {
    pub fn key(self) -> &'static str {
        match self {
            Probe::Gpu => "gpu",
            Probe::Mpi => "mpi",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cache {
    pub level: u8,
    /// `"data"`, `"instruction"` or `"unified"`.
    pub kind: String,
    /// Size of one instance.
    pub size_bytes: u64,
    /// How many instances the machine has (e.g. one L2 per core).
    pub instances: usize,
}

/// The devices that described themselves, out of `tries` (one per device): a device that will
/// not answer a query must not hide the others, so it is left out (with a warning on stderr
/// naming why), and only when no device is left are the reasons (joined) the answer. `Ok(empty)` when there was no device to try.
pub fn described(tries: Vec<Result<Gpu, String>>) -> Result<Vec<Gpu>, String> {
    let (ok, failed): (Vec<_>, Vec<_>) = tries.into_iter().partition(Result::is_ok);
    let ok: Vec<Gpu> = ok.into_iter().filter_map(Result::ok).collect();
    let failed: Vec<String> = failed.into_iter().filter_map(Result::err).collect();
    if ok.is_empty() && !failed.is_empty() {
        return Err(failed.join("; "));
    }
    // Left out, but not silently: the listing (detect, the run's machine) would otherwise show
    // fewer devices than there are with no reason.
    for why in &failed {
        eprintln!("warning: a device was left out of the listing: {why}");
    }
    Ok(ok)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Gpu {
    pub name: String,
    pub api: String,
    /// Global memory.
    pub memory_bytes: u64,
    /// The platform (OpenCL) the device belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `"gpu"`, `"cpu"`, `"accelerator"` or `"other"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_units: Option<u64>,
    /// The global-memory cache's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_work_group_size: Option<u64>,
    /// The device's version string, e.g. `"OpenCL 3.0 PoCL ..."`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether the device computes in f64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp64: Option<bool>,
    /// What the CUDA driver and NVML add (CUDA devices only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<cuda::CudaDevice>,
}

impl Gpu {
    /// One line for `parlab detect`: everything known about the device.
    pub fn line(&self) -> String {
        use crate::units::format_bytes;
        let mut parts = vec![self.api.clone()];
        if let Some(p) = &self.platform {
            parts.push(format!("platform {p}"));
        }
        if let Some(k) = &self.kind {
            parts.push(k.clone());
        }
        if let Some(n) = self.compute_units {
            parts.push(format!("{n} compute units"));
        }
        parts.push(format!("{} global memory", format_bytes(self.memory_bytes)));
        if let Some(c) = self.cache_bytes {
            parts.push(format!("{} global-memory cache", format_bytes(c)));
        }
        if let Some(w) = self.max_work_group_size {
            parts.push(format!("work-groups up to {w}"));
        }
        if let Some(v) = &self.version {
            parts.push(v.clone());
        }
        if let Some(f) = self.fp64 {
            parts.push(if f { "fp64".into() } else { "no fp64".into() });
        }
        if let Some(c) = &self.cuda {
            parts.extend(c.describe());
        }
        format!("{}: {}", self.name, parts.join(", "))
    }
}

impl Machine {
    /// Detects the machine, preferring hwloc when compiled in and falling back to sysfs; reads
    /// the tree that `PARLAB_MACHINE_ROOT` names instead, when it is set.
    pub fn detect() -> Machine {
        if let Some(root) = std::env::var_os(ROOT_ENV).filter(|r| !r.is_empty()) {
            let mut m = Machine::from_root(std::path::Path::new(&root));
            m.notes.push(format!(
                "read from the tree at {} ({ROOT_ENV}), not this machine",
                root.to_string_lossy()
            ));
            return m;
        }
        #[cfg(feature = "hwloc")]
        {
            match hwloc::detect() {
                Ok(m) => return m,
                Err(e) => {
                    let mut m = sysfs::detect();
                    m.notes.push(format!("hwloc detection failed, fell back to sysfs: {e}"));
                    return m;
                }
            }
        }
        #[allow(unreachable_code)]
        sysfs::detect()
    }

    /// Detects the machine described by a `/sys` and `/proc` tree under `root` (`/` is this
    /// machine); see [`fixture`].
    pub fn from_root(root: &std::path::Path) -> Machine {
        sysfs::detect_at(root)
    }

    /// What a probe found, in words: the devices or runtime, `none found`, or `not probed` when
    /// this build has no such probe (so that an empty list is never read as an absence).
    pub fn describe_probe(&self, probe: Probe) -> String {
        let found: Vec<String> = match probe {
            Probe::Gpu => self
                .gpus
                .iter()
                .map(|g| format!("{} ({}, {})", g.name, g.api, crate::units::format_bytes(g.memory_bytes)))
                .collect(),
            Probe::Mpi => self.mpi.iter().cloned().collect(),
        };
        if !found.is_empty() {
            found.join("; ")
        } else if self.probed.iter().any(|p| p == probe.key()) {
            "none found".into()
        } else if probe == Probe::Mpi {
            "not probed (built without the mpi feature)".into()
        } else {
            "not probed (this build has no support for it compiled in)".into()
        }
    }

    /// Size of the largest (last-level) cache instance, if any cache was found.
    pub fn last_level_cache_bytes(&self) -> Option<u64> {
        self.caches
            .iter()
            .filter(|c| c.kind != "instruction")
            .max_by_key(|c| (c.level, c.size_bytes))
            .map(|c| c.size_bytes)
    }
}

/// This host's name (as [`Machine::hostname`] reads it), or `"unknown"`: where a backend's
/// worker processes on this host ran.
pub fn hostname() -> String {
    sysfs::hostname().unwrap_or_else(|_| "unknown".to_owned())
}
