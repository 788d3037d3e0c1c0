//! The pipeline's stages import only from the stages before them: no import cycle.
//!
//! Each top-level module of `src/` has a layer; a module may name (`crate::x`) only modules of a
//! lower layer (leaf modules are layer 0). Test code (`#[cfg(test)]` items, `tests.rs` files),
//! comments and string literals are left out: a unit test may build a scenario to test a
//! machine, a doc link may point forward. The check reads the sources, so it holds for every
//! feature set, compiled in or not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every top-level module and its layer, in pipeline order.
const LAYERS: &[(&str, usize)] = &[
    // Leaves: shared types and helpers, depending on no stage. Those that use another leaf sit
    // a layer above it, so leaves cannot form a cycle either.
    ("units", 0),
    ("stats", 0),
    ("align", 0),
    ("subprocess", 0),
    ("params", 0),
    ("limits", 0),
    ("ranks", 0),
    ("marker", 0),
    ("input", 1),
    ("remote", 1),
    ("machine", 2),
    ("strategy", 3),
    ("workload", 4),
    ("scenario", 5),
    ("clock", 6),
    ("results", 7),
    ("identity", 8),
    ("backend", 9),
    ("runner", 10),
    ("criterion_import", 11),
    ("compare", 11),
    ("report", 12),
];

/// The source with comments, string and character literals blanked and `#[cfg(test)]` items
/// removed.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal ('x' or an escape); a lifetime has no closing quote.
            i += 1;
            if chars.get(i) == Some(&'\\') {
                i += 1;
            }
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    strip_test_items(&out)
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Removes each item marked `#[cfg(test)]`: up to its `;` or its balanced `{ ... }`, or for a
/// field (of a struct or a struct expression), up to its `,` or the `}` closing the struct.
fn strip_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        // Braces end an item with a body; a `;` outside every bracket ends one without.
        let (mut depth, mut nest, mut end) = (0usize, 0usize, after.len());
        for (k, ch) in after.char_indices() {
            match ch {
                '(' | '[' => nest += 1,
                ')' | ']' => nest = nest.saturating_sub(1),
                '{' => depth += 1,
                // The struct around a last field without a trailing comma closes: it stays.
                '}' if depth == 0 => {
                    end = k;
                    break;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' | ',' if depth == 0 && nest == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules `code` names as `crate::x`, in `use crate::{x, ...}`, or through a
/// chain of `super::` that climbs to the crate root from a file `depth` modules deep
/// (`src/a.rs` and `src/a/mod.rs` are 1 deep, `src/a/b.rs` 2).
fn named_modules(code: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let (skip, after) = if rest.starts_with("crate::") && !path_continues(code, at) {
            ("crate::".len(), Some(&rest["crate::".len()..]))
        } else if rest.starts_with("super::") && !path_continues(code, at) {
            let mut chain = 0;
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                chain += 1;
                tail = t;
            }
            // Within the file's own top-level module unless the chain reaches the root.
            (rest.len() - tail.len(), (chain >= depth).then_some(tail))
        } else {
            let step = rest.chars().next().map_or(1, char::len_utf8);
            at += step;
            continue;
        };
        if let Some(after) = after {
            first_segments(after, &mut found);
        }
        at += skip;
    }
    found
}

/// Whether the path starting at `at` continues another (`a::crate::` cannot occur, but
/// `super::super::` is one chain, read from its start).
fn path_continues(code: &str, at: usize) -> bool {
    code[..at].ends_with("::")
}

/// The first segment of the path `after` (what follows `crate::`), or of each entry of a
/// `{a::b, c}` group, nested groups included.
fn first_segments(after: &str, found: &mut Vec<String>) {
    if let Some(group) = after.strip_prefix('{') {
        let mut depth = 1;
        let mut entry_start = true;
        let mut name = String::new();
        for ch in group.chars() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => entry_start = true,
                c if entry_start && (c.is_alphanumeric() || c == '_') => name.push(c),
                _ if entry_start && !name.is_empty() => {
                    found.push(std::mem::take(&mut name));
                    entry_start = false;
                }
                _ => {}
            }
        }
        if !name.is_empty() {
            found.push(name);
        }
    } else {
        let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && name != "self" {
            found.push(name);
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_stage_imports_a_later_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer: BTreeMap<&str, usize> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs");
        if top == "lib" || top == "main" || rel.file_name().is_some_and(|f| f == "tests.rs") {
            continue; // the crate root and the binary may use anything; test files are tests
        }
        seen.insert(top.to_string());
        let Some(&mine) = layer.get(top) else {
            wrong.push(format!("src/{top} has no layer: add it to LAYERS in tests/layers.rs"));
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let depth = rel.components().count() - usize::from(rel.ends_with("mod.rs"));
        for name in named_modules(&code, depth) {
            if name == top {
                continue;
            }
            match layer.get(name.as_str()) {
                Some(&theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!("{} (layer {mine}) uses crate::{name}", rel.display())),
                None => wrong.push(format!("{} uses crate::{name}, which has no layer", rel.display())),
            }
        }
    }
    for (name, _) in LAYERS {
        if !seen.contains(*name) {
            wrong.push(format!("LAYERS lists `{name}`, which src/ no longer has"));
        }
    }
    assert!(wrong.is_empty(), "imports against the pipeline's order:\n{}", wrong.join("\n"));
}

#[test]
fn the_scanner_sees_what_it_must() {
    let code = code_only(
        "use crate::{a::B, c};\n// crate::d\nlet s = \"crate::e\";\nlet r = r#\"crate::f\"#;\n\
         #[cfg(test)]\nmod tests { use crate::g; fn f() { let x = '{'; } }\nfn h() { crate::i::j(); }\n\
         #[cfg(test)]\nuse crate::k;\n",
    );
    assert_eq!(named_modules(&code, 1), ["a", "c", "i"]);
    // From the crate root's children, `super::` is `crate::`; deeper, it must climb far enough.
    let climbing = "use super::runner::X;\nuse super::super::report::Y;\nfn f() { super::sibling::g(); }\n";
    assert_eq!(named_modules(climbing, 1), ["runner", "report", "sibling"]);
    assert_eq!(named_modules(climbing, 2), ["report"]);
    assert_eq!(named_modules(climbing, 3), Vec::<String>::new());
    // A cfg(test) item whose signature holds a `;` is skipped whole.
    let code = code_only("#[cfg(test)]\nfn g() -> [u8; 2] { crate::runner::x() }\nuse crate::units;\n");
    assert_eq!(named_modules(&code, 1), ["units"]);
    // A cfg(test) field ends at its comma, or at the brace closing its struct.
    let code = code_only(
        "struct S {\n    #[cfg(test)]\n    a: crate::runner::A,\n    b: crate::units::B,\n}\n\
         fn f() -> S { S { b: B, #[cfg(test)] a: crate::runner::a() } }\nuse crate::stats;\n",
    );
    assert_eq!(named_modules(&code, 1), ["units", "stats"]);
}
