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
///
/// The arithmetic is exact, in integers: a value that is not a whole number of items, or that
/// does not fit in 64 bits, is refused rather than rounded (`f64` has 53 bits of mantissa, so
/// `"18446744073709551616"` would otherwise become `u64::MAX`).
pub fn parse_size(text: &str) -> Result<SizeValue, String> {
    let s: String = text.trim().chars().filter(|c| *c != '_').collect();
    if s.is_empty() {
        return Err("empty size".into());
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (whole, fraction) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!("`{text}` does not start with a number"));
    }
    let (suffix, bytes) = match suffix.strip_suffix('B') {
        Some(rest) => (rest, true),
        None => (suffix, false),
    };
    let factor: u128 = match suffix {
        "" => 1,
        "k" | "K" => 1000,
        "M" => 1000u128.pow(2),
        "G" => 1000u128.pow(3),
        "T" => 1000u128.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use k, M, G (x1000) or Ki, Mi, Gi (x1024), with B for bytes, e.g. \"64MiB\""
            ))
        }
    };
    let too_large = || format!("`{text}` is too large: sizes must fit in 64 bits (at most {})", u64::MAX);
    // Digits beyond 39 overflow u128 anyway; refuse them before parsing.
    if whole.len() > 39 || fraction.len() > 30 {
        return Err(too_large());
    }
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
    let fraction = fraction.trim_end_matches('0');
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| too_large())? };
    let fraction_value = fraction.checked_mul(factor).ok_or_else(too_large)?;
    if fraction_value % scale != 0 {
        return Err(format!("`{text}` is not a whole number"));
    }
    let value = whole
        .checked_mul(factor)
        .and_then(|v| v.checked_add(fraction_value / scale))
        .ok_or_else(too_large)?;
    let value = u64::try_from(value).map_err(|_| too_large())?;
    Ok(SizeValue { value, bytes })
}

/// The longest duration a scenario may give: a day. Longer ones are typos, and far longer ones
/// overflow the clock arithmetic (`Instant + Duration` panics).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Parses durations such as `"200ms"`, `"2s"`, `"1m 30s"`, at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. \"500ms\", \"2s\", \"1m\""))?;
    if d > MAX_DURATION {
        return Err(format!("`{text}` is longer than the limit of 24h"));
    }
    Ok(d)
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

/// Formats a count compactly with three significant digits, e.g. `10M`, `1.5k`, `136M`
/// (136,314,880), `512`. Tables show this; the exact count is in `results.json` and the CSV.
pub fn format_count(n: u64) -> String {
    for (factor, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        let v = n as f64 / factor;
        if v >= 1.0 {
            // Three significant digits, without trailing zeros: 1.5k, 12.3M, 136M.
            let decimals = if v >= 100.0 {
                0
            } else if v >= 10.0 {
                1
            } else {
                2
            };
            let text = format!("{v:.decimals$}");
            let text =
                if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
            return format!("{text}{suffix}");
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
        assert!(parse_size("1.2.3").is_err());
        assert!(parse_size(".").is_err());
        assert_eq!(parse_size(".5k"), Ok(count(500)));
        assert_eq!(parse_size("1.50M"), Ok(count(1_500_000)));
    }

    #[test]
    fn sizes_are_exact_integers() {
        let count = |v| SizeValue { value: v, bytes: false };
        assert_eq!(parse_size("18446744073709551615"), Ok(count(u64::MAX)));
        assert_eq!(parse_size("9007199254740993"), Ok(count(9_007_199_254_740_993)), "2^53 + 1");
        assert!(parse_size("18446744073709551616").unwrap_err().contains("too large"));
        assert!(parse_size("20000000000000000000T").unwrap_err().contains("too large"));
        assert!(parse_size(&"9".repeat(400)).unwrap_err().contains("too large"));
        assert!(parse_size("1.0000001k").unwrap_err().contains("whole number"));
        assert_eq!(parse_size("0.5Ki"), Ok(count(512)));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("2 fortnights").is_err());
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        assert!(parse_duration("25h").unwrap_err().contains("limit"));
        assert!(parse_duration("400000000000y").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(128 << 20), "128 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12), "12 B");
        assert_eq!(format_count(10_000_000), "10M");
        assert_eq!(format_count(1500), "1.5k");
        assert_eq!(format_count(1234), "1.23k");
        assert_eq!(format_count(136_314_880), "136M");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(65_536), "65.5k");
        assert_eq!(format_ns(12_345_678.0), "12.3 ms");
        assert_eq!(format_ns(850.0), "850 ns");
        assert_eq!(format_si(1.98e10), "19.8 G");
    }
}
