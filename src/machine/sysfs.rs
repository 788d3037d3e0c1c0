//! Machine detection without hwloc, from `std`, `/proc` and `/sys`.
//!
//! This backend always compiles, so a results file can be labelled on any build. It reads the
//! Linux sysfs topology directly; where a file is missing, or on a system that is not Linux, it
//! falls back to what `std` knows and says so in [`Machine::notes`], so that a results file never
//! claims more than was actually seen. The `/proc` helpers are shared with the hwloc backend,
//! because hwloc has nothing better to offer for memory, hostname or kernel release.
//!
//! Every path is read below a root directory, `/` for the real machine: tests point it at a
//! fixture tree ([`super::fixture`]) so that they describe a synthetic machine, the same on
//! every host.

use super::{Cache, Machine};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const CPU_DIR: &str = "sys/devices/system/cpu";
const NODE_DIR: &str = "sys/devices/system/node";

pub(super) fn detect() -> Machine {
    detect_at(Path::new("/"))
}

/// Detection with every file read below `root`. Only the real root (`/`) consults what this
/// process may use (`available_parallelism`), which a fixture cannot describe.
pub(super) fn detect_at(root: &Path) -> Machine {
    let real = root == Path::new("/");
    let mut notes = Vec::new();
    let linux = cfg!(target_os = "linux") || !real;
    if !linux {
        notes.push(format!(
            "sysfs detection only understands Linux; on {} the topology is a guess built from \
             the logical CPU count",
            std::env::consts::OS
        ));
    }

    let parallelism = if real {
        std::thread::available_parallelism().map(|n| n.get())
    } else {
        Err(std::io::Error::other("not probed for a fixture root"))
    };
    // The online list is read even when `available_parallelism` works, because the latter is
    // cut down by affinity masks and cgroup quotas and would misdescribe the machine.
    let online = if linux {
        match online_cpus(root) {
            Ok(cpus) => Some(cpus),
            Err(e) => {
                notes.push(format!("could not read the online CPU list ({e})"));
                None
            }
        }
    } else {
        None
    };
    let logical_cpus = match (&online, &parallelism) {
        (Some(cpus), Ok(usable)) => {
            if *usable < cpus.len() {
                notes.push(format!(
                    "this process may use only {usable} of the {} online CPUs (affinity mask or \
                     cgroup limit)",
                    cpus.len()
                ));
            }
            cpus.len()
        }
        (Some(cpus), Err(_)) => cpus.len(),
        (None, Ok(usable)) => *usable,
        (None, Err(e)) => {
            notes.push(format!("available_parallelism failed too ({e}); assuming 1 logical CPU"));
            1
        }
    };

    let (sockets, physical_cores) = match online.as_deref().map(|cpus| sockets_and_cores(root, cpus)) {
        Some(Ok(counts)) => counts,
        Some(Err(e)) => {
            notes.push(format!("could not read the CPU topology ({e}); assuming 1 socket and no SMT"));
            (1, logical_cpus)
        }
        None => {
            if linux {
                notes.push("without the online CPU list, assuming 1 socket and no SMT".to_owned());
            }
            (1, logical_cpus)
        }
    };

    let caches = match &online {
        Some(cpus) => caches(root, cpus, &mut notes),
        None => {
            if linux {
                notes.push("without the online CPU list, caches were not read".to_owned());
            }
            Vec::new()
        }
    };

    let numa_nodes = if linux {
        match numa_nodes(root) {
            Ok(n) => n,
            Err(e) => {
                notes.push(format!("could not count NUMA nodes ({e}); assuming 1"));
                1
            }
        }
    } else {
        1
    };

    let cpu_model = cpu_model_at(root).unwrap_or_else(|e| {
        notes.push(format!("could not read the CPU model ({e})"));
        "unknown".to_owned()
    });
    let (memory_total_bytes, memory_available_bytes) = memory_or_note(root, &mut notes);
    let hostname = hostname_at(root, real).unwrap_or_else(|e| {
        notes.push(format!("could not read the hostname ({e})"));
        "unknown".to_owned()
    });
    let os = os_at(root, &mut notes);

    Machine {
        source: "sysfs".to_owned(),
        hostname,
        cpu_model,
        architecture: std::env::consts::ARCH.to_owned(),
        sockets: sockets.max(1),
        // Distinct (package, core) pairs can only exceed the CPU count if sysfs contradicts
        // itself; clamping keeps the invariant that downstream code relies on.
        physical_cores: physical_cores.clamp(1, logical_cpus.max(1)),
        logical_cpus: logical_cpus.max(1),
        caches,
        numa_nodes: numa_nodes.max(1),
        memory_total_bytes,
        memory_available_bytes,
        os,
        compiler: compiler(),
        gpus: Vec::new(),
        mpi: None,
        notes,
        probed: Vec::new(),
    }
}

fn read_trimmed(path: impl AsRef<Path>) -> Result<String, String> {
    let path = path.as_ref();
    fs::read_to_string(path).map(|s| s.trim().to_owned()).map_err(|e| format!("{}: {e}", path.display()))
}

fn online_cpus(root: &Path) -> Result<Vec<usize>, String> {
    let path = root.join(CPU_DIR).join("online");
    let text = read_trimmed(&path)?;
    match parse_cpu_list(&text) {
        Some(cpus) if !cpus.is_empty() => Ok(cpus),
        _ => Err(format!("{}: cannot parse {text:?}", path.display())),
    }
}

fn sockets_and_cores(root: &Path, cpus: &[usize]) -> Result<(usize, usize), String> {
    let read_id = |path: PathBuf| -> Result<i64, String> {
        let text = read_trimmed(&path)?;
        text.parse().map_err(|_| format!("{}: not a number: {text:?}", path.display()))
    };
    let mut packages = BTreeSet::new();
    let mut cores = BTreeSet::new();
    for cpu in cpus {
        let dir = root.join(CPU_DIR).join(format!("cpu{cpu}/topology"));
        let package = read_id(dir.join("physical_package_id"))?;
        let core = read_id(dir.join("core_id"))?;
        packages.insert(package);
        // core_id is only unique within a package, hence the pair.
        cores.insert((package, core));
    }
    Ok((packages.len(), cores.len()))
}

struct CacheIndex {
    level: u8,
    kind: String,
    size_bytes: u64,
    shared_with: Vec<usize>,
}

fn read_cache_index(dir: &Path) -> Result<CacheIndex, String> {
    let level_text = read_trimmed(dir.join("level"))?;
    let level =
        level_text.parse().map_err(|_| format!("{}/level: not a number: {level_text:?}", dir.display()))?;
    let kind = cache_kind(&read_trimmed(dir.join("type"))?);
    let size_text = read_trimmed(dir.join("size"))?;
    let size_bytes = parse_cache_size(&size_text)
        .ok_or_else(|| format!("{}/size: cannot parse {size_text:?}", dir.display()))?;
    let shared_text = read_trimmed(dir.join("shared_cpu_list"))?;
    let shared_with = parse_cpu_list(&shared_text)
        .ok_or_else(|| format!("{}/shared_cpu_list: cannot parse {shared_text:?}", dir.display()))?;
    Ok(CacheIndex { level, kind, size_bytes, shared_with })
}

fn cache_kind(sysfs_type: &str) -> String {
    match sysfs_type {
        "Data" => "data".to_owned(),
        "Instruction" => "instruction".to_owned(),
        "Unified" => "unified".to_owned(),
        other => other.to_lowercase(),
    }
}

/// One entry per (level, kind); an instance is a distinct set of CPUs sharing one cache.
fn caches(root: &Path, cpus: &[usize], notes: &mut Vec<String>) -> Vec<Cache> {
    #[derive(Default)]
    struct Group {
        sizes: BTreeSet<u64>,
        instances: BTreeSet<Vec<usize>>,
    }
    let mut groups: BTreeMap<(u8, String), Group> = BTreeMap::new();
    let mut failures = Vec::new();
    for cpu in cpus {
        let dir = root.join(CPU_DIR).join(format!("cpu{cpu}/cache"));
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                failures.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with("index") {
                continue;
            }
            match read_cache_index(&entry.path()) {
                Ok(index) => {
                    let group = groups.entry((index.level, index.kind)).or_default();
                    group.sizes.insert(index.size_bytes);
                    group.instances.insert(index.shared_with);
                }
                Err(e) => failures.push(e),
            }
        }
    }
    if let Some(first) = failures.first() {
        notes.push(format!("{} cache entries could not be read, first: {first}", failures.len()));
    }
    if groups.is_empty() {
        notes.push("no cache information found in sysfs".to_owned());
    }
    groups
        .into_iter()
        .map(|((level, kind), group)| {
            // Hybrid CPUs have different cache sizes per core type, but the record has room
            // for one size; the largest is kept and the spread is noted.
            let largest = group.sizes.last().copied().unwrap_or(0);
            if group.sizes.len() > 1 {
                notes.push(format!(
                    "L{level} {kind} cache sizes differ between CPUs ({:?} bytes); recorded the \
                     largest",
                    group.sizes
                ));
            }
            Cache { level, kind, size_bytes: largest, instances: group.instances.len() }
        })
        .collect()
}

fn numa_nodes(root: &Path) -> Result<usize, String> {
    let dir = root.join(NODE_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        // Kernels built without CONFIG_NUMA have no node directory: one node is the truth there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(1),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let count = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("node").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    Ok(count.max(1))
}

/// The highest CPU id a CPU list may name. Linux allows 8192 (`CONFIG_NR_CPUS`); the cap only
/// keeps a corrupt or hand-written list (`0-18446744073709551615` in a `PARLAB_MACHINE_ROOT`
/// tree) from being expanded into more memory than the machine has.
const MAX_CPU_ID: usize = 1 << 16;

/// Parses a kernel CPU list such as `"0-3,8,10-11"`; `None` if it is malformed or names a CPU
/// past [`MAX_CPU_ID`].
fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let text = text.trim();
    let mut cpus = Vec::new();
    if text.is_empty() {
        return Some(cpus);
    }
    for part in text.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((first, last)) => {
                let first: usize = first.trim().parse().ok()?;
                let last: usize = last.trim().parse().ok()?;
                if first > last || last > MAX_CPU_ID {
                    return None;
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(part.parse::<usize>().ok().filter(|id| *id <= MAX_CPU_ID)?),
        }
        // Repeated ranges could still add up: no list holds more CPUs than there are ids.
        if cpus.len() > MAX_CPU_ID + 1 {
            cpus.sort_unstable();
            cpus.dedup();
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Parses a sysfs cache size such as `"32768K"` or `"2M"` into bytes.
fn parse_cache_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last()? {
        (i, 'K' | 'k') => (&text[..i], 1 << 10),
        (i, 'M' | 'm') => (&text[..i], 1 << 20),
        (i, 'G' | 'g') => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(multiplier)
}

/// The two `/proc/meminfo` figures a results file records, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MemInfo {
    pub(super) total_bytes: u64,
    pub(super) available_bytes: u64,
}

/// `Err` carries why; `MemAvailable` (Linux 3.14+) falls back to `MemFree` on older kernels.
fn parse_meminfo(text: &str) -> Result<MemInfo, String> {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(Ok(value)) = words.next().map(str::parse::<u64>) else {
            continue;
        };
        let bytes = match words.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => value,
        };
        fields.insert(key.trim(), bytes);
    }
    let total_bytes = *fields.get("MemTotal").ok_or("no MemTotal line")?;
    let available_bytes = *fields
        .get("MemAvailable")
        .or_else(|| fields.get("MemFree"))
        .ok_or("neither MemAvailable nor MemFree")?;
    Ok(MemInfo { total_bytes, available_bytes })
}

#[cfg_attr(not(feature = "hwloc"), allow(dead_code))]
pub(super) fn meminfo() -> Result<MemInfo, String> {
    meminfo_at(Path::new("/"))
}

fn meminfo_at(root: &Path) -> Result<MemInfo, String> {
    let path = root.join("proc/meminfo");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_meminfo(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn memory_or_note(root: &Path, notes: &mut Vec<String>) -> (u64, u64) {
    match meminfo_at(root) {
        Ok(m) => (m.total_bytes, m.available_bytes),
        Err(e) => {
            notes.push(format!("could not read memory size ({e}); recorded 0"));
            (0, 0)
        }
    }
}

/// Picks the CPU model out of `/proc/cpuinfo`; the key differs between architectures.
fn parse_cpu_model(text: &str) -> Option<String> {
    // x86 says "model name"; arm32 "Processor" (aarch64 often says nothing), MIPS "cpu model",
    // POWER "cpu", and some boards only name themselves in "Model" or "Hardware".
    const KEYS: [&str; 6] = ["model name", "Processor", "cpu model", "cpu", "Model", "Hardware"];
    KEYS.iter().find_map(|wanted| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            let value = value.trim();
            (key.trim() == *wanted && !value.is_empty()).then(|| value.to_owned())
        })
    })
}

#[cfg_attr(not(feature = "hwloc"), allow(dead_code))]
pub(super) fn cpu_model() -> Result<String, String> {
    cpu_model_at(Path::new("/"))
}

fn cpu_model_at(root: &Path) -> Result<String, String> {
    let path = root.join("proc/cpuinfo");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_cpu_model(&text).ok_or_else(|| format!("{}: no model line", path.display()))
}

#[cfg_attr(not(feature = "hwloc"), allow(dead_code))]
pub(super) fn hostname() -> Result<String, String> {
    hostname_at(Path::new("/"), true)
}

/// `environment`: whether the process environment may answer (the real root only).
fn hostname_at(root: &Path, environment: bool) -> Result<String, String> {
    let mut errors = Vec::new();
    for path in ["proc/sys/kernel/hostname", "etc/hostname"] {
        let path = root.join(path);
        match read_trimmed(&path) {
            Ok(name) if !name.is_empty() => return Ok(name),
            Ok(_) => errors.push(format!("{}: empty", path.display())),
            Err(e) => errors.push(e),
        }
    }
    if !environment {
        return Err(errors.join("; "));
    }
    // Non-Linux shells usually export one of these, which beats recording nothing.
    for var in ["HOSTNAME", "COMPUTERNAME"] {
        if let Ok(name) = std::env::var(var) {
            if !name.trim().is_empty() {
                return Ok(name.trim().to_owned());
            }
        }
    }
    Err(errors.join("; "))
}

#[cfg_attr(not(feature = "hwloc"), allow(dead_code))]
pub(super) fn kernel_release() -> Result<String, String> {
    read_trimmed("/proc/sys/kernel/osrelease")
}

fn os_at(root: &Path, notes: &mut Vec<String>) -> String {
    match read_trimmed(root.join("proc/sys/kernel/osrelease")) {
        Ok(release) => format!("{} {release}", std::env::consts::OS),
        Err(e) => {
            if cfg!(target_os = "linux") {
                notes.push(format!("could not read the kernel release ({e})"));
            }
            std::env::consts::OS.to_owned()
        }
    }
}

pub(super) fn compiler() -> String {
    option_env!("PARLAB_RUSTC_VERSION").unwrap_or("rustc (unknown version)").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse_with_suffixes() {
        assert_eq!(parse_cache_size("32768K"), Some(33_554_432));
        assert_eq!(parse_cache_size("48K\n"), Some(49_152));
        assert_eq!(parse_cache_size("2M"), Some(2 * 1024 * 1024));
        assert_eq!(parse_cache_size("1G"), Some(1 << 30));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size(""), None);
        assert_eq!(parse_cache_size("K"), None);
        assert_eq!(parse_cache_size("12X"), None);
    }

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("0-3\n"), Some(vec![0, 1, 2, 3]));
        assert_eq!(parse_cpu_list("0-1,4,6-7"), Some(vec![0, 1, 4, 6, 7]));
        assert_eq!(parse_cpu_list("4,0-1"), Some(vec![0, 1, 4]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
        assert_eq!(parse_cpu_list("0,,1"), None);
    }

    #[test]
    fn cpu_lists_past_the_id_cap_are_malformed_not_expanded() {
        // Expanded as written, this list would need 2^64 entries and abort.
        assert_eq!(parse_cpu_list("0-18446744073709551615"), None);
        assert_eq!(parse_cpu_list(&format!("0-{}", MAX_CPU_ID + 1)), None);
        assert_eq!(parse_cpu_list(&(MAX_CPU_ID + 1).to_string()), None);
        assert_eq!(parse_cpu_list(&format!("0-{MAX_CPU_ID}")).map(|c| c.len()), Some(MAX_CPU_ID + 1));
        // The same wide range many times over stays one CPU per id.
        let repeated = vec![format!("0-{MAX_CPU_ID}"); 64].join(",");
        assert_eq!(parse_cpu_list(&repeated).map(|c| c.len()), Some(MAX_CPU_ID + 1));
    }

    #[test]
    fn meminfo_parses_kilobytes_into_bytes() {
        let text = "MemTotal:       24684092 kB\n\
                    MemFree:        23961152 kB\n\
                    MemAvailable:   24303776 kB\n\
                    HugePages_Total:       0\n";
        assert_eq!(
            parse_meminfo(text),
            Ok(MemInfo { total_bytes: 24_684_092 * 1024, available_bytes: 24_303_776 * 1024 })
        );
    }

    #[test]
    fn meminfo_without_available_uses_free() {
        let text = "MemTotal: 2048 kB\nMemFree: 1024 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Ok(MemInfo { total_bytes: 2048 * 1024, available_bytes: 1024 * 1024 })
        );
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
    }

    #[test]
    fn cpu_model_comes_from_the_right_key() {
        let x86 = "processor\t: 0\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n";
        assert_eq!(parse_cpu_model(x86).as_deref(), Some("AMD EPYC"));
        let power = "processor\t: 0\ncpu\t\t: POWER9 (raw), altivec supported\n";
        assert_eq!(parse_cpu_model(power).as_deref(), Some("POWER9 (raw), altivec supported"));
        assert_eq!(parse_cpu_model("processor\t: 0\n"), None);
    }

    #[test]
    fn cache_types_map_to_kinds() {
        assert_eq!(cache_kind("Data"), "data");
        assert_eq!(cache_kind("Instruction"), "instruction");
        assert_eq!(cache_kind("Unified"), "unified");
    }

    #[test]
    fn a_fixture_tree_is_read_as_the_machine_it_describes() {
        let dir = tempfile::tempdir().unwrap();
        let spec = super::super::fixture::Synthetic::new(260 << 20, 2 << 30);
        spec.write(dir.path()).unwrap();
        let m = detect_at(dir.path());
        assert_eq!((m.logical_cpus, m.physical_cores, m.sockets, m.numa_nodes), (2, 2, 1, 1));
        assert_eq!(m.last_level_cache_bytes(), Some(260 << 20));
        assert_eq!(m.memory_available_bytes, 2 << 30);
        assert_eq!((m.hostname.as_str(), m.cpu_model.as_str()), ("synthetic", "Synthetic CPU"));
        assert_eq!(m.os, format!("{} 6.1.0-synthetic", std::env::consts::OS));
        let l2 = m.caches.iter().find(|c| c.level == 2).unwrap();
        assert_eq!((l2.size_bytes, l2.instances), (1 << 20, 2));
        assert!(m.notes.is_empty(), "{:?}", m.notes);
        // Nothing probed GPUs or MPI: an empty list must not read as "none found".
        use super::super::Probe;
        assert!(m.describe_probe(Probe::Gpu).starts_with("not probed"));
        let mut probed = m.clone();
        probed.probed = vec!["gpu".into(), "mpi".into()];
        assert_eq!(probed.describe_probe(Probe::Gpu), "none found");
        probed.mpi = Some("Open MPI 4.1".into());
        assert_eq!(probed.describe_probe(Probe::Mpi), "Open MPI 4.1");
    }

    #[test]
    fn detect_reports_a_plausible_machine() {
        let m = detect();
        assert_eq!(m.source, "sysfs");
        assert!(m.logical_cpus >= 1, "{m:?}");
        assert!(m.physical_cores >= 1, "{m:?}");
        assert!(m.sockets >= 1, "{m:?}");
        assert!(m.numa_nodes >= 1, "{m:?}");
        assert!(m.logical_cpus >= m.physical_cores, "{m:?}");
        for cache in &m.caches {
            assert!(cache.instances >= 1, "{m:?}");
        }
        println!("{m:#?}");
    }
}
