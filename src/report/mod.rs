//! Reports: everything a run writes or prints, from the results alone.
//!
//! File formats are exporters, one per file, built by the one `match` in [`exporter`]; the
//! terminal table, `summary.md` and the HTML report share the rows of [`table`], so they always
//! show the same data. The HTML report draws its charts with [`charts`]; [`compare`] renders
//! several runs side by side. Live output (progress bars, the JSON Lines log) listens to the
//! runner's events.

pub mod charts;
pub mod compare;
mod csv;
pub mod html;
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
    Html,
    Csv,
}

impl Format {
    pub const ALL: &'static [Format] = &[Format::Json, Format::Markdown, Format::Csv, Format::Html];
    /// What `parlab report` re-renders from a results file (all but the results file itself).
    pub const RENDERED: &'static [Format] = &[Format::Markdown, Format::Csv, Format::Html];
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
        Format::Html => Box::new(html::Html),
        Format::Csv => Box::new(csv::Csv),
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

/// Reads a `results.json`, refusing files written by a newer schema than this parlab reads.
pub fn load(path: &Path) -> anyhow::Result<Results> {
    let text = crate::input::read_to_string(path, crate::input::RESULTS)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // Only the version is read first, into a struct that skips every other field without
    // building it: a `serde_json::Value` of the whole file would take several times the file's
    // size (up to the 1 GiB input limit) before the version could refuse it.
    #[derive(serde::Deserialize)]
    struct Version {
        #[serde(default)]
        schema_version: VersionField,
    }
    // Only an object is read for its version (serde would also take `[999]` as the struct).
    let object = text.trim_start().starts_with('{');
    let version = match serde_json::from_str::<Version>(if object { &text } else { "" }) {
        Ok(v) => v.schema_version.0,
        // JSON, but not an object (or one serde refuses, with two versions): not ours, said as
        // for an object without a version.
        Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() => None,
        Err(e) => return Err(e).with_context(|| format!("{} is not JSON", path.display())),
    };
    match version {
        None => anyhow::bail!("{} is not a parlab results file (it has no schema_version)", path.display()),
        Some(v) if v > crate::results::SCHEMA_VERSION as u64 => anyhow::bail!(
            "{} has results schema {v}, newer than this parlab reads ({}); use a newer parlab",
            path.display(),
            crate::results::SCHEMA_VERSION
        ),
        Some(_) => {}
    }
    let results: Results = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid parlab results file", path.display()))?;
    // Reports expand the stored scenario into its cases: a file whose scenario claims more than
    // any scenario may is not parlab's, and must not make that expansion exhaust memory.
    let cases = results.scenario.case_count();
    if cases > crate::scenario::limits::MAX_CASES {
        anyhow::bail!(
            "{} is not a valid parlab results file: its scenario expands to {cases} cases, more than \
             the limit of {}",
            path.display(),
            crate::scenario::limits::MAX_CASES
        );
    }
    Ok(results)
}

/// A results file's `schema_version`: the number when it is an unsigned integer, `None` for
/// anything else, which is skipped without being built (an array or object there could be as
/// large as the file).
#[derive(Default)]
struct VersionField(Option<u64>);

impl<'de> serde::Deserialize<'de> for VersionField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = VersionField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a schema version")
            }
            fn visit_u64<E>(self, v: u64) -> Result<VersionField, E> {
                Ok(VersionField(Some(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<VersionField, E> {
                Ok(VersionField(u64::try_from(v).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<VersionField, E> {
                Ok(VersionField(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<VersionField, E> {
                Ok(VersionField(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<VersionField, E> {
                Ok(VersionField(None))
            }
            fn visit_unit<E>(self) -> Result<VersionField, E> {
                Ok(VersionField(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<VersionField, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(VersionField(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<VersionField, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(VersionField(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Writes the comparison of `runs` (the first is the baseline) as `index.html` in `dir`.
pub fn write_comparison(runs: &[compare::Run], dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("index.html");
    let text = compare::render(runs)?;
    let tmp = dir.join(".index.html.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
