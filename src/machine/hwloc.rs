//! Machine detection through hwloc, compiled with the `hwloc` feature.
//!
//! hwloc knows more platforms and more firmware quirks than a hand-written sysfs walk, so
//! [`Machine::detect`] prefers it and falls back to sysfs only when it fails. hwloc says
//! nothing about available memory or the compiler, so those come from the sysfs helpers, with
//! hwloc's own answers kept as fallbacks where it has one.
//!
//! [`describe`] turns any hwloc topology into a [`Machine`]; tests hand it hwloc's synthetic
//! topologies (which carry cache and memory sizes as attributes, e.g. `l3:1(size=260MB)`), so
//! that they describe the same machine on every host.

use super::{sysfs, Cache, Machine};
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::{CacheType, ObjectType};
use hwlocality::object::TopologyObject;
use hwlocality::topology::builder::TypeFilter;
use hwlocality::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};

const CPU_CACHE_TYPES: [ObjectType; 8] = [
    ObjectType::L1Cache,
    ObjectType::L2Cache,
    ObjectType::L3Cache,
    ObjectType::L4Cache,
    ObjectType::L5Cache,
    ObjectType::L1ICache,
    ObjectType::L2ICache,
    ObjectType::L3ICache,
];

pub(super) fn detect() -> Result<Machine, String> {
    // hwlocality is still an alpha and asserts on data it does not expect; a machine it cannot
    // describe should fall back to sysfs, not abort the whole run.
    panic::catch_unwind(AssertUnwindSafe(detect_inner))
        .unwrap_or_else(|_| Err("hwlocality panicked while reading the topology".to_owned()))
}

fn detect_inner() -> Result<Machine, String> {
    // Instruction caches are filtered out by default; keeping them makes both backends report
    // the same cache list.
    let topology = Topology::builder()
        .with_cpu_icache_type_filter(TypeFilter::KeepAll)
        .and_then(|builder| builder.build())
        .map_err(|e| format!("could not build the hwloc topology: {e}"))?;
    describe(&topology, true)
}

/// The machine a topology describes. `this_host`: the topology is this machine's, so what hwloc
/// does not know (available memory, hostname, kernel, usable CPUs) is asked of the system;
/// otherwise (a synthetic or XML topology) only hwloc answers, and the whole memory counts as
/// available.
fn describe(topology: &Topology, this_host: bool) -> Result<Machine, String> {
    let mut notes = Vec::new();

    let logical_cpus = topology.objects_with_type(ObjectType::PU).len();
    if logical_cpus == 0 {
        return Err("hwloc found no processing units".to_owned());
    }
    if let Some(Ok(usable)) = this_host.then(std::thread::available_parallelism) {
        if usable.get() < logical_cpus {
            notes.push(format!(
                "this process may use only {usable} of the {logical_cpus} CPUs hwloc sees \
                 (affinity mask or cgroup limit)"
            ));
        }
    }

    let sockets = match topology.objects_with_type(ObjectType::Package).len() {
        0 => {
            notes.push("hwloc reported no packages; assuming 1 socket".to_owned());
            1
        }
        n => n,
    };
    let physical_cores = match topology.objects_with_type(ObjectType::Core).len() {
        0 => {
            notes.push("hwloc reported no cores; assuming no SMT".to_owned());
            logical_cpus
        }
        n => n.min(logical_cpus),
    };
    let numa_nodes = topology.objects_with_type(ObjectType::NUMANode).len().max(1);

    let caches = caches(topology, &mut notes);
    let root = topology.root_object();

    let cpu_model = topology
        .objects_with_type(ObjectType::Package)
        .find_map(|package| info(package, "CPUModel"))
        .or_else(|| this_host.then(|| sysfs::cpu_model().ok()).flatten())
        .unwrap_or_else(|| {
            notes.push("neither hwloc nor /proc/cpuinfo named the CPU model".to_owned());
            "unknown".to_owned()
        });

    // /proc/meminfo is preferred because hwloc only knows the total, not what is available.
    let meminfo = if this_host { sysfs::meminfo() } else { Err("not this host".to_owned()) };
    let (memory_total_bytes, memory_available_bytes) = match meminfo {
        Ok(m) => (m.total_bytes, m.available_bytes),
        Err(_) if !this_host => (root.total_memory(), root.total_memory()),
        Err(e) => {
            notes.push(format!(
                "could not read memory availability ({e}); total from hwloc, available recorded \
                 as 0"
            ));
            (root.total_memory(), 0)
        }
    };

    let hostname = this_host
        .then(|| sysfs::hostname().ok())
        .flatten()
        .or_else(|| info(root, "HostName"))
        .unwrap_or_else(|| {
            notes.push("neither the system nor hwloc gave a hostname".to_owned());
            "unknown".to_owned()
        });
    let os =
        match this_host.then(|| sysfs::kernel_release().ok()).flatten().or_else(|| info(root, "OSRelease")) {
            Some(release) => format!("{} {release}", std::env::consts::OS),
            None => {
                notes.push("neither the system nor hwloc gave the OS release".to_owned());
                std::env::consts::OS.to_owned()
            }
        };

    Ok(Machine {
        source: "hwloc".to_owned(),
        hostname,
        cpu_model,
        architecture: std::env::consts::ARCH.to_owned(),
        sockets,
        physical_cores,
        logical_cpus,
        caches,
        numa_nodes,
        memory_total_bytes,
        memory_available_bytes,
        os,
        compiler: sysfs::compiler(),
        gpus: Vec::new(),
        mpi: None,
        notes,
        probed: Vec::new(),
    })
}

fn info(object: &TopologyObject, key: &str) -> Option<String> {
    let value = object.info(key)?.to_string_lossy().trim().to_owned();
    (!value.is_empty()).then_some(value)
}

/// One entry per (level, kind), with one instance per hwloc cache object.
fn caches(topology: &Topology, notes: &mut Vec<String>) -> Vec<Cache> {
    let mut groups: BTreeMap<(u8, String), (BTreeSet<u64>, usize)> = BTreeMap::new();
    let mut unsized_caches = 0;
    for object_type in CPU_CACHE_TYPES {
        for object in topology.objects_with_type(object_type) {
            let Some(ObjectAttributes::Cache(attributes)) = object.attributes() else {
                continue;
            };
            let Some(size) = attributes.size() else {
                unsized_caches += 1;
                continue;
            };
            let kind = match attributes.cache_type() {
                CacheType::Data => "data",
                CacheType::Instruction => "instruction",
                CacheType::Unified => "unified",
                _ => "unknown",
            };
            let level = u8::try_from(attributes.depth()).unwrap_or(u8::MAX);
            let group = groups.entry((level, kind.to_owned())).or_default();
            group.0.insert(size.get());
            group.1 += 1;
        }
    }
    if unsized_caches > 0 {
        notes.push(format!("hwloc did not know the size of {unsized_caches} caches; they were left out"));
    }
    if groups.is_empty() {
        notes.push("hwloc reported no CPU caches".to_owned());
    }
    groups
        .into_iter()
        .map(|((level, kind), (sizes, instances))| {
            // Same policy as the sysfs backend: one size per record, so keep the largest.
            let largest = sizes.last().copied().unwrap_or(0);
            if sizes.len() > 1 {
                notes.push(format!(
                    "L{level} {kind} cache sizes differ between instances ({sizes:?} bytes); \
                     recorded the largest"
                ));
            }
            Cache { level, kind, size_bytes: largest, instances }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_reports_a_plausible_machine() {
        let m = detect().expect("hwloc detection should work on the test machine");
        assert_eq!(m.source, "hwloc");
        assert!(m.logical_cpus >= 1, "{m:?}");
        assert!(m.physical_cores >= 1, "{m:?}");
        assert!(m.sockets >= 1, "{m:?}");
        assert!(m.numa_nodes >= 1, "{m:?}");
        assert!(m.logical_cpus >= m.physical_cores, "{m:?}");
        println!("{m:#?}");
    }

    /// A synthetic topology: one package, `llc` shared, a private L2 and L1d per core, no SMT.
    /// Sizes in bytes: hwloc's `MB` and `GB` suffixes in synthetic descriptions are powers of ten.
    fn synthetic(cores: usize, llc: u64, memory: u64) -> Machine {
        let description = format!(
            "numa:1(memory={memory}) pack:1 l3u:1(size={llc}) l2u:{cores}(size={}) l1d:1(size={}) core:1 pu:1",
            1 << 20,
            48 << 10
        );
        let builder =
            Topology::builder().from_synthetic(&description).unwrap_or_else(|e| panic!("{description}: {e}"));
        let topology = builder.build().unwrap_or_else(|e| panic!("{description}: {e}"));
        describe(&topology, false).expect("a synthetic topology describes a machine")
    }

    #[test]
    fn synthetic_topologies_describe_the_same_machine_everywhere() {
        for llc in [8u64 << 20, 260 << 20] {
            for memory in [2u64 << 30, 64 << 30] {
                let m = synthetic(2, llc, memory);
                assert_eq!(
                    (m.logical_cpus, m.physical_cores, m.sockets, m.numa_nodes),
                    (2, 2, 1, 1),
                    "{m:?}"
                );
                assert_eq!(m.last_level_cache_bytes(), Some(llc), "{m:?}");
                let l2 = m.caches.iter().find(|c| c.level == 2).expect("an L2");
                assert_eq!((l2.size_bytes, l2.instances), (1 << 20, 2), "{m:?}");
                assert_eq!((m.memory_total_bytes, m.memory_available_bytes), (memory, memory), "{m:?}");
                // The built-in scenario is accepted on it, whatever the cache and memory.
                crate::scenario::parse("<built-in quick>", crate::scenario::BUILTIN_QUICK, &m)
                    .unwrap_or_else(|e| panic!("{llc} B LLC, {memory} B: {e}"));
            }
        }
    }

    #[test]
    fn hwloc_agrees_with_sysfs() {
        let from_hwloc = detect().expect("hwloc detection should work on the test machine");
        let from_sysfs = sysfs::detect();
        assert_eq!(from_hwloc.logical_cpus, from_sysfs.logical_cpus);
        assert_eq!(from_hwloc.physical_cores, from_sysfs.physical_cores);
        assert_eq!(from_hwloc.sockets, from_sysfs.sockets);
        assert_eq!(from_hwloc.numa_nodes, from_sysfs.numa_nodes);
    }
}
