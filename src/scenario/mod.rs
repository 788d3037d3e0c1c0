//! Scenario files: parse, then validate.
//!
//! [`raw`] mirrors the TOML one to one; [`plan`] resolves names, expands worker sweeps, fills
//! defaults and rejects anything wrong with an error naming file, line, column and field, before
//! anything is measured. Downstream code sees only the validated [`Plan`].

pub mod device;
mod error;
mod mpi;
mod plan;
mod raw;

pub use device::{Cache, DeviceCase, DeviceChoice, DeviceTarget, PlanDevice};
pub use error::{closest, Located, ScenarioError};
pub use mpi::{Launcher, MpiSettings};
pub use plan::{limits, CaseSpec, Plan, Scaling, Settings, SizeNote, WorkloadPlan, MAX_PROCESSES};

use crate::machine::Machine;

/// The built-in default scenario (`parlab run` with no file): the same text as `scenarios/quick.toml`.
pub const BUILTIN_QUICK: &str = include_str!("../../scenarios/quick.toml");

/// Reads and validates a scenario file.
pub fn load(path: &std::path::Path, machine: &Machine) -> Result<Plan, ScenarioError> {
    let text = crate::input::read_to_string(path, crate::input::SCENARIO)
        .map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
    parse(&path.display().to_string(), &text, machine)
}

/// Validates scenario text; `name` is used in error messages and recorded as the plan's source.
pub fn parse(name: &str, text: &str, machine: &Machine) -> Result<Plan, ScenarioError> {
    let source = error::Source { name, text };
    let raw: raw::RawScenario = toml::from_str(text).map_err(|e| source.toml_error(&e))?;
    plan::build(&source, raw, machine)
}

#[cfg(test)]
mod tests;
