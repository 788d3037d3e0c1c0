//! Synthetic machines for tests: a fake `/sys` and `/proc` tree that [`Machine::from_root`]
//! reads exactly as it reads the real one.
//!
//! A unit test that asked the real machine would give different answers on a 4 MiB-cache laptop
//! and a 260 MiB-cache server; a test that describes its machine here gives the same answer on
//! both, and goes through the real sysfs parser on the way.

use std::fs;
use std::io;
use std::path::Path;

use super::Machine;

/// What a synthetic machine has: one socket, `cores` cores without SMT, a private L1d and L2
/// per core and one shared last-level cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synthetic {
    pub cores: usize,
    pub l2_bytes: u64,
    pub llc_bytes: u64,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
}

impl Synthetic {
    /// A 2-core machine with the given last-level cache and available memory (total: twice the
    /// available, at least 1 GiB more).
    pub fn new(llc_bytes: u64, memory_available_bytes: u64) -> Synthetic {
        Synthetic {
            cores: 2,
            l2_bytes: 1 << 20,
            llc_bytes,
            memory_total_bytes: memory_available_bytes
                .saturating_mul(2)
                .max(memory_available_bytes + (1 << 30)),
            memory_available_bytes,
        }
    }

    /// Writes the tree under `root` (which should be an empty folder).
    pub fn write(&self, root: &Path) -> io::Result<()> {
        let cpu_dir = root.join("sys/devices/system/cpu");
        fs::create_dir_all(&cpu_dir)?;
        fs::write(cpu_dir.join("online"), format!("0-{}\n", self.cores - 1))?;
        let all = format!("0-{}\n", self.cores - 1);
        for cpu in 0..self.cores {
            let dir = cpu_dir.join(format!("cpu{cpu}"));
            fs::create_dir_all(dir.join("topology"))?;
            fs::write(dir.join("topology/physical_package_id"), "0\n")?;
            fs::write(dir.join("topology/core_id"), format!("{cpu}\n"))?;
            let caches = [
                (1, "Data", 48 << 10, format!("{cpu}\n")),
                (2, "Unified", self.l2_bytes, format!("{cpu}\n")),
                (3, "Unified", self.llc_bytes, all.clone()),
            ];
            for (i, (level, kind, bytes, shared)) in caches.iter().enumerate() {
                let index = dir.join(format!("cache/index{i}"));
                fs::create_dir_all(&index)?;
                fs::write(index.join("level"), format!("{level}\n"))?;
                fs::write(index.join("type"), format!("{kind}\n"))?;
                fs::write(index.join("size"), format!("{}K\n", bytes >> 10))?;
                fs::write(index.join("shared_cpu_list"), shared)?;
            }
        }
        fs::create_dir_all(root.join("sys/devices/system/node/node0"))?;
        fs::create_dir_all(root.join("proc/sys/kernel"))?;
        fs::write(
            root.join("proc/meminfo"),
            format!(
                "MemTotal: {} kB\nMemFree: {} kB\nMemAvailable: {} kB\n",
                self.memory_total_bytes >> 10,
                self.memory_available_bytes >> 10,
                self.memory_available_bytes >> 10
            ),
        )?;
        fs::write(root.join("proc/cpuinfo"), "processor\t: 0\nmodel name\t: Synthetic CPU\n")?;
        fs::write(root.join("proc/sys/kernel/hostname"), "synthetic\n")?;
        fs::write(root.join("proc/sys/kernel/osrelease"), "6.1.0-synthetic\n")?;
        Ok(())
    }

    /// Writes the tree under `root` and detects the machine from it.
    pub fn detect(&self, root: &Path) -> io::Result<Machine> {
        self.write(root)?;
        Ok(Machine::from_root(root))
    }
}
