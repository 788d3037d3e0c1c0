//! The table printed at the end of a run: the same rows as `summary.md`, aligned for a terminal.

use super::table::{self, HEADER};
use crate::results::Results;

/// Renders the per-workload tables as aligned plain text.
pub fn render(results: &Results) -> String {
    let mut out = String::new();
    for t in table::tables(results) {
        let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
        for row in &t.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    let pad = w.saturating_sub(c.chars().count());
                    // Numbers right-aligned, names and status left-aligned.
                    if (2..9).contains(&i) {
                        format!("{}{c}", " ".repeat(pad))
                    } else {
                        format!("{c}{}", " ".repeat(pad))
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        out.push_str(&line(HEADER.to_vec()));
        out.push('\n');
        for row in &t.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
            out.push('\n');
        }
        out.push_str(&format!("=> {}\n\n", t.verdict));
    }
    out
}
