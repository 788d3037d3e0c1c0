//! Writes results as they come, so nothing measured is lost: each finished case is appended to
//! `results.jsonl` (and flushed), and every report format (`results.json`, `summary.md`,
//! `results.csv`, `index.html`) is written when the run ends, Ctrl-C included.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::Format;
use crate::results::{CaseResult, Results};
use crate::runner::Listener;

pub struct ResultsWriter {
    dir: PathBuf,
    jsonl: Option<BufWriter<File>>,
    /// Files written at the end, for the caller to print.
    pub written: Vec<PathBuf>,
    /// The first write error, reported by the caller (a listener cannot fail the run).
    pub error: Option<String>,
}

impl ResultsWriter {
    /// Creates `dir` and opens `results.jsonl` in it.
    pub fn create(dir: PathBuf) -> anyhow::Result<ResultsWriter> {
        Self::open(dir, false)
    }

    /// Creates `dir` and opens `results.jsonl` in it, appending to what is there when
    /// `resume` (a run continued in a fresh process), else starting it afresh.
    pub fn open(dir: PathBuf, resume: bool) -> anyhow::Result<ResultsWriter> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create the output folder {}: {e}", dir.display()))?;
        let path = dir.join("results.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resume)
            .truncate(!resume)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        Ok(ResultsWriter { dir, jsonl: Some(BufWriter::new(file)), written: Vec::new(), error: None })
    }

    fn note(&mut self, e: impl std::fmt::Display) {
        self.error.get_or_insert_with(|| e.to_string());
    }
}

impl Listener for ResultsWriter {
    fn case_finished(&mut self, result: &CaseResult) {
        let Some(out) = self.jsonl.as_mut() else {
            return;
        };
        let line = serde_json::to_string(result).map_err(|e| e.to_string());
        let written =
            line.and_then(|l| writeln!(out, "{l}").and_then(|_| out.flush()).map_err(|e| e.to_string()));
        if let Err(e) = written {
            self.note(format!("cannot append to results.jsonl: {e}"));
        }
    }

    fn run_finished(&mut self, results: &Results) {
        for format in Format::ALL {
            match super::write(results, *format, &self.dir) {
                Ok(path) => self.written.push(path),
                Err(e) => self.note(format!("{e:#}")),
            }
        }
    }
}
