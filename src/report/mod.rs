//! Reports: everything a run writes or prints, from the results alone.
//!
//! File formats are exporters, one per file, built by the one `match` in [`exporter`]; the
//! terminal table and `summary.md` share the rows of [`table`], so they always show the same
//! data. Live output (progress bars, the JSON Lines log) listens to the runner's events.

mod json;
mod markdown;
pub mod progress;
pub mod table;
pub mod terminal;
pub mod writer;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::results::Results;

/// The formats a report can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Markdown,
}

impl Format {
    pub const ALL: &'static [Format] = &[Format::Json, Format::Markdown];
}

/// One output file rendered from results.
trait Exporter {
    fn file_name(&self) -> &'static str;
    fn render(&self, results: &Results) -> anyhow::Result<String>;
}

fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Json => Box::new(json::Json),
        Format::Markdown => Box::new(markdown::Markdown),
    }
}

/// Renders `results` in `format` as a string.
pub fn render(results: &Results, format: Format) -> anyhow::Result<String> {
    exporter(format).render(results)
}

/// Writes `results` in `format` into `dir`, atomically (temp file, then rename), and returns
/// the path: a reader never sees half a file, even if the run is killed mid-write.
pub fn write(results: &Results, format: Format, dir: &Path) -> anyhow::Result<PathBuf> {
    let e = exporter(format);
    let path = dir.join(e.file_name());
    let text = e.render(results)?;
    let tmp = dir.join(format!(".{}.tmp", e.file_name()));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
