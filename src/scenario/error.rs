//! Errors in scenario files: each names the file, line, column and field, and the fix where
//! one is known.

use std::fmt;
use std::ops::Range;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<Located>),
}

/// A problem at a place in a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending key, e.g. `workload[2].size`.
    pub field: String,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: `{}`: {}", self.file, self.line, self.column, self.field, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets into 1-based line and column numbers for one source text.
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
        (line, column)
    }

    pub fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.error_help(span, field, message, None)
    }

    pub fn error_help(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> ScenarioError {
        let (line, column) = self.line_col(span.start);
        ScenarioError::Invalid(Box::new(Located {
            file: self.name.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
            help,
        }))
    }

    /// Converts a TOML syntax or shape error, recovering the field path from the text.
    pub fn toml_error(&self, err: &toml::de::Error) -> ScenarioError {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().trim().to_string();
        let field = self.field_at(span.start);
        let help = unknown_field_help(&message);
        self.error_help(span, field, message, help)
    }

    /// The dotted path of the key whose value or name sits at `offset`, worked out from the
    /// nearest table header above it (counting `[[workload]]` entries) and the key on the line.
    fn field_at(&self, offset: usize) -> String {
        let (line_no, _) = self.line_col(offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let mut table = String::new();
        let mut workload_index = 0usize;
        for line in lines.iter().take(line_no.saturating_sub(1)) {
            let t = line.trim();
            if t.starts_with("[[workload]]") {
                workload_index += 1;
                table = format!("workload[{}]", workload_index - 1);
            } else if t.starts_with('[') {
                table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
                if table.starts_with("workload.") {
                    table = table.replacen(
                        "workload",
                        &format!("workload[{}]", workload_index.saturating_sub(1)),
                        1,
                    );
                }
            }
        }
        let current = lines.get(line_no.saturating_sub(1)).map(|l| l.trim()).unwrap_or("");
        let key = current.split('=').next().filter(|_| current.contains('=')).map(str::trim).unwrap_or("");
        match (table.is_empty(), key.is_empty()) {
            (true, true) => "(top level)".into(),
            (true, false) => key.into(),
            (false, true) => table,
            (false, false) => format!("{table}.{key}"),
        }
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`", suggests the closest expected name.
fn unknown_field_help(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(unknown, names.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None => Some(format!("known keys here: {}", names.join(", "))),
    }
}

/// The candidate closest to `name` by edit distance, if it is plausibly a typo of it.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = Source { name: "x.toml", text: "a = 1\nbb = 2\n" };
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        assert_eq!(s.line_col(11), (2, 6));
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("mandlebrot", ["mandelbrot", "matmul"]), Some("mandelbrot"));
        assert_eq!(closest("zzz", ["mandelbrot", "matmul"]), None);
        assert_eq!(
            unknown_field_help("unknown field `wokers`, expected one of `workers`, `warmup`"),
            Some("did you mean `workers`?".into())
        );
    }

    #[test]
    fn field_paths_follow_tables() {
        let text =
            "[scenario]\nname = \"x\"\n[[workload]]\nkind = \"a\"\n[[workload]]\nkind = \"b\"\nsize = -1\n";
        let s = Source { name: "x.toml", text };
        let offset = text.find("-1").unwrap();
        assert_eq!(s.field_at(offset), "workload[1].size");
        assert_eq!(s.field_at(text.find("\"x\"").unwrap()), "scenario.name");
    }
}
