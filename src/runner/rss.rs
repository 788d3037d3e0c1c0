//! Peak resident set size of a case, from Linux's `/proc`.
//!
//! Writing `5` to `/proc/self/clear_refs` resets the kernel's high-water mark of the process's
//! resident set (`VmHWM` in `/proc/self/status`) to the current resident set; reading `VmHWM`
//! later gives the peak since then. The runner resets it when a case's thread starts and reads
//! it just before verification, so the peak covers building the executor, the case's output,
//! warm-up and every sample, and not the reference the verifier may compute.
//!
//! Before the reset, memory that earlier cases freed is handed back to the system (glibc's
//! `malloc_trim`; glibc otherwise keeps freed heap pages resident), so the peak starts from what
//! is live. It is still process-wide: it includes what is resident when the case starts (the
//! prepared input, the harness, references kept by earlier cases) and anything other threads
//! allocate meanwhile (an abandoned case that is still running). Worker processes of the
//! process strategies are not in it.
//! Where the reset is not possible (not Linux, `/proc` not writable) no peak is reported:
//! a lifetime maximum would be misleading.

/// Resets the high-water mark; `false` when this system does not allow it.
pub fn reset_peak() -> bool {
    release_free_memory();
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Returns free heap pages to the system, so that they stop counting as resident.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's `malloc_trim` only gives free memory back (madvise/brk) and is
        // thread-safe; Rust's default allocator on this target is glibc's malloc.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The resident-set high-water mark since the last reset, in bytes.
pub fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        assert_eq!(parse_vm_hwm("Name:\tx\nVmHWM:\t    1936 kB\nVmRSS:\t 10 kB\n"), Some(1936 * 1024));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn a_reset_peak_sees_a_new_allocation() {
        if !reset_peak() {
            return; // not Linux, or /proc is read-only here
        }
        let before = peak_bytes().unwrap();
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = peak_bytes().unwrap();
        assert!(after >= before + (60 << 20), "{before} -> {after}");
    }
}
