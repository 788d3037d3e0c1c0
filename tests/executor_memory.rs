//! Executors hold memory for the tasks in flight, never for every task of a run: a size that
//! makes millions of tasks must not make millions of allocations live at once (`async` spawned
//! every task up front, `channels` kept every completion until the last task was sent). Alone
//! in its own test binary, so no other test allocates while the peak resident set is read.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parlab::strategy::{self, Exec, ExecConfig, StrategyParams};

/// Resets the kernel's high-water mark of this process's resident set; `false` where the
/// system does not allow it (not Linux, `/proc` read-only).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The resident-set high-water mark since the last reset, in bytes.
fn peak_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    let kb: u64 = line["VmHWM:".len()..].trim().trim_end_matches("kB").trim().parse().expect("a number");
    kb * 1024
}

#[test]
fn executors_hold_memory_for_the_tasks_in_flight_not_for_every_task() {
    // Bytes per task the growth must stay under: before the fix, `async` held a task cell of a
    // few hundred bytes per task and `channels` about 16 B per completion.
    const BYTES_PER_TASK: u64 = 4;
    for (name, tasks) in [("async", 1_000_000usize), ("channels", 2_000_000)] {
        let config = ExecConfig {
            workers: 2,
            params: StrategyParams::default(),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let exec = Exec::new(strategy::find(name).unwrap(), &config).unwrap();
        // Threads started and pools warm before the peak is reset.
        exec.run_tasks(10_000, &|_| ());
        if !reset_peak() {
            eprintln!("note: the peak resident set cannot be reset here; not checked");
            return;
        }
        let before = peak_bytes();
        let done = std::sync::atomic::AtomicUsize::new(0);
        exec.run_tasks(tasks, &|_| {
            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let grown = peak_bytes().saturating_sub(before);
        assert_eq!(done.into_inner(), tasks, "{name}");
        assert!(
            grown <= tasks as u64 * BYTES_PER_TASK,
            "{name}: the peak resident set grew by {grown} B over {tasks} tasks ({} B per task)",
            grown / tasks as u64
        );
    }
}
