//! Device settings of a scenario: which devices a device strategy's cases run on (`device`),
//! whether the device's cache is flushed before each sample (`cache`) and whether the inputs stay
//! on the device between runs (`resident`). They apply to the strategies of
//! [`Family::Device`](crate::strategy::Family::Device) only, whatever their backend (OpenCL,
//! CUDA): every other strategy ignores them and gets no extra case from them.
//!
//! How a backend sees them: each device case's [`CaseSpec::device`](super::CaseSpec::device) is a
//! [`DeviceCase`]: the device it runs on (or `None`, with the selector, when none of the
//! backend's devices matched: the backend then says `unavailable` and why), `cache` and
//! `resident`. The plan expands a device strategy into one case per matching device from
//! [`Plan::devices`](super::Plan::devices), the devices the machine listed when the plan was
//! made ([`crate::machine::Machine::gpus`]); a device belongs to the strategies whose backend's
//! name is its `api` (`"opencl"`: the `opencl` backend).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `device = "gpu" | "cpu" | "all" | "<part of a device name>"`: which devices a device
/// strategy runs on, each its own case. The default is every device (`"all"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DeviceChoice {
    /// Every device of the backend.
    #[default]
    All,
    /// Devices whose type is GPU.
    Gpu,
    /// Devices whose type is CPU (PoCL's).
    Cpu,
    /// Devices whose name contains this text, ignoring case.
    Name(String),
}

impl DeviceChoice {
    /// Reads a selector: the three keywords, else a part of a device name (not empty).
    pub fn parse(text: &str) -> Result<DeviceChoice, String> {
        let t = text.trim();
        Ok(match t.to_ascii_lowercase().as_str() {
            "" => return Err("the device selector is empty".into()),
            "all" => DeviceChoice::All,
            "gpu" => DeviceChoice::Gpu,
            "cpu" => DeviceChoice::Cpu,
            _ => DeviceChoice::Name(t.to_string()),
        })
    }

    /// Whether a device of this name and type (`"gpu"`, `"cpu"`, ...) is chosen.
    pub fn matches(&self, name: &str, kind: Option<&str>) -> bool {
        match self {
            DeviceChoice::All => true,
            DeviceChoice::Gpu => kind == Some("gpu"),
            DeviceChoice::Cpu => kind == Some("cpu"),
            DeviceChoice::Name(part) => name.to_lowercase().contains(&part.to_lowercase()),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::All => f.write_str("all"),
            DeviceChoice::Gpu => f.write_str("gpu"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Name(part) => f.write_str(part),
        }
    }
}

impl From<DeviceChoice> for String {
    fn from(c: DeviceChoice) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DeviceChoice::parse(&s)
    }
}

/// `cache = "cold" | "warm"`: whether each sample starts with the device's cache flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cache {
    /// Before each sample (outside it) the backend writes a buffer of twice the device's
    /// global-memory cache, as nvbench flushes L2: no sample finds the last one's data cached.
    #[default]
    Cold,
    /// No flush: samples after the first may find their inputs in the device's cache.
    Warm,
}

impl Cache {
    pub fn name(self) -> &'static str {
        match self {
            Cache::Cold => "cold",
            Cache::Warm => "warm",
        }
    }
}

/// A device the plan saw on the machine ([`crate::machine::Machine::gpus`]), as cases name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDevice {
    /// The API that lists it, which is the name of the backend that runs on it (`"opencl"`).
    pub api: String,
    pub name: String,
    /// `"gpu"`, `"cpu"`, `"accelerator"`, `"other"`, where the API says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One device of a backend, found again at run time by name: the `ordinal`-th device of that
/// backend named `name` (0 for the first), so that two identical devices are two cases and a
/// change in the platforms' order does not swap them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceTarget {
    pub name: String,
    #[serde(default)]
    pub ordinal: usize,
}

impl DeviceTarget {
    /// The device as keys and reports show it: its name, with `#2`, `#3`... for a second, third
    /// device of the same name.
    pub fn label(&self) -> String {
        match self.ordinal {
            0 => self.name.clone(),
            k => format!("{} #{}", self.name, k + 1),
        }
    }
}

/// What a device case runs on, and how: [`super::CaseSpec::device`] for a strategy of
/// [`Family::Device`](crate::strategy::Family::Device), `None` for every other strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceCase {
    /// The scenario's selector, as written.
    pub choice: DeviceChoice,
    /// The device; `None` when none of the backend's devices matched `choice` (or there are
    /// none): the case is `unavailable`, and the backend says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<DeviceTarget>,
    #[serde(default)]
    pub cache: Cache,
    /// Inputs uploaded once in the case's setup; samples have no `transfer_in`.
    #[serde(default)]
    pub resident: bool,
}

impl DeviceCase {
    /// The device as keys and reports show it: its [`DeviceTarget::label`], or `none matching
    /// "<choice>"` where there was none.
    pub fn label(&self) -> String {
        match &self.target {
            Some(t) => t.label(),
            None => format!("none matching \"{}\"", self.choice),
        }
    }

    /// The settings that differ from the defaults, as `cache=warm`, `resident`.
    pub fn settings(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if self.cache != Cache::default() {
            parts.push(format!("cache={}", self.cache.name()));
        }
        if self.resident {
            parts.push("resident".to_string());
        }
        parts
    }
}

/// The targets of `choice` among `devices` of backend `api`, in the machine's order.
pub fn targets(devices: &[PlanDevice], api: &str, choice: &DeviceChoice) -> Vec<DeviceTarget> {
    let mine: Vec<&PlanDevice> = devices.iter().filter(|d| d.api == api).collect();
    mine.iter()
        .enumerate()
        .filter(|(_, d)| choice.matches(&d.name, d.kind.as_deref()))
        .map(|(i, d)| DeviceTarget {
            name: d.name.clone(),
            ordinal: mine[..i].iter().filter(|e| e.name == d.name).count(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(api: &str, name: &str, kind: &str) -> PlanDevice {
        PlanDevice { api: api.into(), name: name.into(), kind: Some(kind.into()) }
    }

    #[test]
    fn selectors_pick_by_type_or_by_part_of_the_name() {
        let devices = [
            dev("opencl", "pthread-AMD EPYC", "cpu"),
            dev("opencl", "NVIDIA H200", "gpu"),
            dev("opencl", "NVIDIA H200", "gpu"),
            dev("cuda", "NVIDIA H200", "gpu"),
        ];
        let names = |c: &str| -> Vec<String> {
            targets(&devices, "opencl", &DeviceChoice::parse(c).unwrap()).iter().map(|t| t.label()).collect()
        };
        assert_eq!(names("all"), ["pthread-AMD EPYC", "NVIDIA H200", "NVIDIA H200 #2"]);
        assert_eq!(names("GPU"), ["NVIDIA H200", "NVIDIA H200 #2"]);
        assert_eq!(names("cpu"), ["pthread-AMD EPYC"]);
        assert_eq!(names("h200"), ["NVIDIA H200", "NVIDIA H200 #2"]);
        assert!(names("radeon").is_empty());
        assert_eq!(targets(&devices, "cuda", &DeviceChoice::All).len(), 1);
        assert!(DeviceChoice::parse("  ").is_err());
    }

    #[test]
    fn selectors_and_cases_read_back_as_written() {
        for text in ["all", "gpu", "cpu", "H200"] {
            let c = DeviceChoice::parse(text).unwrap();
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<DeviceChoice>(&json).unwrap(), c);
        }
        assert!(serde_json::from_str::<DeviceChoice>("\"\"").is_err());
        let case = DeviceCase { choice: DeviceChoice::Gpu, target: None, cache: Cache::Warm, resident: true };
        assert_eq!(case.label(), "none matching \"gpu\"");
        assert_eq!(case.settings(), ["cache=warm", "resident"]);
        let back: DeviceCase = serde_json::from_str(&serde_json::to_string(&case).unwrap()).unwrap();
        assert_eq!(back, case);
    }
}
