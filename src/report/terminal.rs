//! The tables printed at the end of a run: the same data as `summary.md` (the per-workload
//! tables, then the workload x strategy summary grid), aligned for a terminal. A case with
//! phases or item latencies gets them on indented lines under its row.

use super::table::{self, SummaryGrid};
use crate::results::Results;

/// Renders the per-workload tables and the summary grid as aligned plain text.
pub fn render(results: &Results) -> String {
    let mut out = String::new();
    for t in table::tables(results) {
        let rows: Vec<Vec<&str>> = t.rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        // Numbers right-aligned, names and status left-aligned.
        if !rows.is_empty() {
            let text = aligned(&t.header, &rows, |i| t.numeric(i));
            // A case's phases and item latencies go on lines of their own, just under its row.
            for (i, line) in text.lines().enumerate() {
                out.push_str(line);
                out.push('\n');
                let row = i.checked_sub(1).and_then(|r| t.details.get(r));
                for detail in row.into_iter().flat_map(|(_, lines)| lines) {
                    out.push_str(&format!("    {detail}\n"));
                }
            }
        }
        for (i, note) in t.notes.iter().enumerate() {
            out.push_str(&format!("[{}] {note}\n", i + 1));
        }
        for n in &t.not_run {
            out.push_str(&format!("not run: {}\n", n.text()));
        }
        out.push_str(&format!("=> {}\n\n", t.verdict));
    }
    let grid = table::summary(results);
    if !grid.rows.is_empty() {
        let header = grid.header();
        let text = grid.text_rows();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<&str>> = text.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        out.push_str(&format!("{}:\n", SummaryGrid::TITLE));
        let last = header.len() - 1;
        out.push_str(&aligned(&header, &rows, |i| i > 0 && i < last));
        if grid.has_labelled() {
            out.push_str(&format!("{}\n", SummaryGrid::LABELLED));
        }
        if grid.has_not_applicable() {
            out.push_str(&format!("{}\n", SummaryGrid::NOT_APPLICABLE));
        }
    }
    out.push_str(&format!("\n{}\n", table::measurement(results)));
    out
}

/// A header and rows padded into columns; `right(i)` right-aligns column `i`.
fn aligned(header: &[&str], rows: &[Vec<&str>], right: impl Fn(usize) -> bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = " ".repeat(w.saturating_sub(c.chars().count()));
                if right(i) {
                    format!("{pad}{c}")
                } else {
                    format!("{c}{pad}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}
