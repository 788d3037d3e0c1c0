//! A workload's validated parameters (a leaf: the scenario fills them, workloads read them, and
//! they travel in job descriptions to other processes).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    /// One of a [`ParamSpec`]'s `choices`, e.g. `simd = "scalar"`.
    Text(Cow<'static, str>),
}

impl ParamValue {
    /// The value as a number; a name has none (NaN).
    pub fn as_f64(&self) -> f64 {
        match self {
            ParamValue::Int(i) => *i as f64,
            ParamValue::Float(f) => *f,
            ParamValue::Text(_) => f64::NAN,
        }
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Text(s) => f.write_str(s),
        }
    }
}

/// Validated parameters, every one present (defaults filled in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    pub fn int(&self, name: &str) -> i64 {
        match self.0.get(name) {
            Some(ParamValue::Int(i)) => *i,
            Some(ParamValue::Float(f)) => *f as i64,
            Some(ParamValue::Text(_)) | None => panic!("parameter `{name}` was not validated as a number"),
        }
    }
    pub fn float(&self, name: &str) -> f64 {
        self.0.get(name).map(|v| v.as_f64()).unwrap_or_else(|| panic!("parameter `{name}` was not validated"))
    }
    /// The name a choice parameter holds.
    pub fn text(&self, name: &str) -> &str {
        match self.0.get(name) {
            Some(ParamValue::Text(s)) => s,
            _ => panic!("parameter `{name}` was not validated as a name"),
        }
    }
}
