//! matmul's tuned kernel (the matrixmultiply crate) must start no threads of its own: the
//! strategies split the work, so `sequential` has to stay one thread. Alone in its own test
//! binary, so no other test's threads come and go while the threads are counted.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parlab::strategy::{self, Exec, ExecConfig, StrategyParams};
use parlab::workload;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn the_tuned_kernel_starts_no_threads_under_sequential() {
    if threads() == 0 {
        eprintln!("note: no /proc/self/task here; the thread count is not checked");
        return;
    }
    // matrixmultiply, were its "threading" feature on, would size its pool from this variable,
    // or else from the physical cores, starting none on a machine with one: force a pool so that
    // the test fails on any machine if the feature ever gets enabled. Read lazily, at the first
    // multiplication; this binary has no other test that could race with the write.
    std::env::set_var("MATMUL_NUM_THREADS", "4");
    let matmul = workload::find("matmul").unwrap();
    let params = workload::default_params(matmul);
    assert_eq!(params.text("kernel"), "tuned", "the tuned kernel is the default");
    let config = ExecConfig {
        workers: 1,
        params: StrategyParams::default(),
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let exec = Exec::new(strategy::find("sequential").unwrap(), &config).unwrap();
    // Big enough for matrixmultiply to split it over threads if its "threading" feature were on.
    let instance = matmul.prepare(300, &params, 1).unwrap();
    let mut kernel = instance.kernel();
    let before = threads();
    kernel.run(&exec);
    kernel.run(&exec);
    let after = threads();
    assert_eq!(before, after, "the kernel left threads behind");
    assert!(kernel.verify().passed);
    assert!(kernel.isa().is_some(), "the tuned kernel names the instruction set it ran");
}
