//! Human units in scenario files: sizes (`10M`, `64MiB`, `10_000_000`) and durations (`200ms`).
//!
//! Counts take SI suffixes (`k`, `M`, `G`: powers of 1000) or binary ones (`Ki`, `Mi`, `Gi`);
//! a trailing `B` makes the value a byte count, which a workload converts to its own items.

use std::time::Duration;

/// A parsed size: how many, and whether the user wrote bytes or a plain count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeValue {
    pub value: u64,
    pub bytes: bool,
}

/// Parses `"10M"`, `"64MiB"`, `"1.5G"`, `"10_000"`; the error says what was expected.
pub fn parse_size(text: &str) -> Result<SizeValue, String> {
    let s: String = text.trim().chars().filter(|c| *c != '_').collect();
    if s.is_empty() {
        return Err("empty size".into());
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let number: f64 = num.parse().map_err(|_| format!("`{text}` does not start with a number"))?;
    let (suffix, bytes) = match suffix.strip_suffix('B') {
        Some(rest) => (rest, true),
        None => (suffix, false),
    };
    let factor: f64 = match suffix {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use k, M, G (x1000) or Ki, Mi, Gi (x1024), with B for bytes, e.g. \"64MiB\""
            ))
        }
    };
    let value = number * factor;
    if value.fract() != 0.0 {
        return Err(format!("`{text}` is not a whole number"));
    }
    if value > u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(SizeValue { value: value as u64, bytes })
}

/// Parses durations such as `"200ms"`, `"2s"`, `"1m 30s"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. \"500ms\", \"2s\", \"1m\""))
}

/// Formats a byte count with binary units, e.g. `128 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Formats a count compactly, e.g. `10M`, `1.5k`, `512`.
pub fn format_count(n: u64) -> String {
    for (factor, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        let v = n as f64 / factor;
        if v >= 1.0 && (n as f64 % (factor / 10.0)) == 0.0 {
            return format!("{}{suffix}", trim_float(v));
        }
    }
    n.to_string()
}

/// Formats nanoseconds with a unit that keeps three significant digits, e.g. `12.3 ms`.
pub fn format_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".into();
    }
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig3(v))
}

/// Formats a rate with an SI prefix, e.g. `19.8 G` for 1.98e10.
pub fn format_si(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    for (factor, prefix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if v.abs() >= factor {
            return format!("{} {prefix}", sig3(v / factor));
        }
    }
    format!("{} ", sig3(v))
}

fn sig3(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let count = |v| SizeValue { value: v, bytes: false };
        let bytes = |v| SizeValue { value: v, bytes: true };
        assert_eq!(parse_size("10_000_000"), Ok(count(10_000_000)));
        assert_eq!(parse_size("10M"), Ok(count(10_000_000)));
        assert_eq!(parse_size("1.5k"), Ok(count(1500)));
        assert_eq!(parse_size("4Ki"), Ok(count(4096)));
        assert_eq!(parse_size("64MiB"), Ok(bytes(64 << 20)));
        assert_eq!(parse_size("1GB"), Ok(bytes(1_000_000_000)));
        assert_eq!(parse_size("512B"), Ok(bytes(512)));
        assert!(parse_size("12 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_size("1.5").unwrap_err().contains("whole number"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-5").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("2 fortnights").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(128 << 20), "128 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12), "12 B");
        assert_eq!(format_count(10_000_000), "10M");
        assert_eq!(format_count(1500), "1.5k");
        assert_eq!(format_count(1234), "1234");
        assert_eq!(format_ns(12_345_678.0), "12.3 ms");
        assert_eq!(format_ns(850.0), "850 ns");
        assert_eq!(format_si(1.98e10), "19.8 G");
    }
}
