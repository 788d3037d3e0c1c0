//! `results.json`: the whole run in the versioned schema (docs/results-schema.md).

use super::Exporter;
use crate::results::Results;

pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        "results.json"
    }
    fn render(&self, results: &Results) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(results)? + "\n")
    }
}
