//! The worker loop driven in memory, and real pools of `parlab worker` processes: every task
//! once, failures reported with the worker's exit status, and no process left behind.
//!
//! The pool tests need the parlab binary (`cargo test` builds it); without one they say so and
//! pass, and `tests/process.rs` covers the same ground through the binary.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::remote::wire::{self, FromWorker, ToWorker, LEN_BYTES};
use crate::remote::{copy_into, Split};
use crate::workload::Params;

fn job(workload: &str, size: u64) -> JobSpec {
    JobSpec { workload: workload.into(), params: Params::default(), size, seed: 7, shared: None }
}

fn frames(bytes: &[u8]) -> Vec<FromWorker<'_>> {
    let mut out = vec![];
    let mut at = 0;
    while at < bytes.len() {
        let len = wire::body_len(&bytes[at..]).unwrap().unwrap();
        out.push(FromWorker::decode(&bytes[at + LEN_BYTES..at + LEN_BYTES + len]).unwrap());
        at += LEN_BYTES + len;
    }
    out
}

#[test]
fn the_worker_loop_answers_each_request_in_memory() {
    let mut input = vec![];
    ToWorker::Task { task: 0, range: 0..10 }.encode(&mut input).unwrap();
    ToWorker::Setup(job("matmul", 8)).encode(&mut input).unwrap();
    ToWorker::Setup(job("pi_monte_carlo", 1000)).encode(&mut input).unwrap();
    ToWorker::Task { task: 3, range: 0..1000 }.encode(&mut input).unwrap();
    ToWorker::Ping(&[1, 2, 3]).encode(&mut input).unwrap();
    let mut output = vec![];
    worker::serve(&mut input.as_slice(), &mut output).expect("clean end of input");
    let got = frames(&output);
    assert!(matches!(got[0], FromWorker::Hello { protocol: wire::PROTOCOL, .. }), "{got:?}");
    assert!(matches!(&got[1], FromWorker::Failed(m) if m.contains("before any job")), "{got:?}");
    assert!(matches!(&got[2], FromWorker::Failed(m) if m.contains("no process version")), "{got:?}");
    assert_eq!(got[3], FromWorker::Ready);
    let FromWorker::Done { task: 3, payload } = got[4] else { panic!("{got:?}") };
    let mut hits = [0u64];
    copy_into(payload, &mut hits).unwrap();
    assert!((700..=850).contains(&hits[0]), "about pi/4 of 1000 samples: {}", hits[0]);
    assert_eq!(got[5], FromWorker::Pong(&[1, 2, 3]));
    assert_eq!(got.len(), 6);
}

#[test]
fn splits_cover_every_item_once() {
    for items in [0, 1, 5, 64, 1000] {
        for tasks in 1..9 {
            let split = Split { items, tasks };
            let covered: Vec<usize> = (0..tasks).flat_map(|t| split.range(t)).collect();
            assert_eq!(covered, (0..items).collect::<Vec<_>>());
        }
    }
}

/// A pool of real workers, or `None` (with a note) where no parlab binary was built.
fn pool(workers: usize, shared: bool) -> Option<Pool> {
    let exe = match worker_exe() {
        Ok(exe) => exe,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    Some(
        Pool::start(&exe, workers, shared, None, Arc::new(AtomicBool::new(false)), &[]).expect("pool starts"),
    )
}

/// Whether `pid` is still a process whose parent is this test (running or a zombie).
fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The name in parentheses may hold spaces: the parent pid is the second field after it.
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    after.split_whitespace().nth(1) == Some(&std::process::id().to_string())
}

#[test]
fn a_pool_runs_every_task_once_and_answers_pings() {
    let Some(pool) = pool(2, false) else { return };
    assert!(pool.startup() > Duration::ZERO);
    assert_eq!(pool.pids().len(), 2);
    let items = 100_000;
    let split = pool.split(items);
    assert_eq!(split.tasks, 32, "sixteen tasks per worker by default");
    let mut seen = vec![0; split.tasks];
    let mut total = 0;
    pool.run(&job("pi_monte_carlo", items as u64), items, &mut |task, range, payload| {
        assert_eq!(range, split.range(task));
        seen[task] += 1;
        let mut hits = [0u64];
        copy_into(payload, &mut hits)?;
        total += hits[0];
        Ok(())
    })
    .expect("run");
    assert_eq!(seen, vec![1; split.tasks]);
    assert!((77_000..80_000).contains(&total), "pi/4 of the samples: {total}");
    for size in [0, 8, 100_000] {
        pool.ping(&vec![5; size]).expect("ping");
    }
}

#[test]
fn a_killed_worker_is_reported_with_its_signal_and_none_is_left() {
    let Some(pool) = pool(2, false) else { return };
    let spec = job("pi_monte_carlo", 1000);
    pool.run(&spec, 1000, &mut |_, _, _| Ok(())).expect("first run");
    let pids = pool.pids();
    // SAFETY: sending a signal to a child process this test owns.
    assert_eq!(unsafe { libc::kill(pids[1] as i32, libc::SIGKILL) }, 0);
    let err = pool.run(&spec, 1000, &mut |_, _, _| Ok(())).expect_err("a dead worker fails the run");
    match &err {
        PoolError::Died { worker: 2, of: 2, pid, status, .. } => {
            assert_eq!(*pid, pids[1]);
            assert!(status.contains("SIGKILL") || status.contains("9"), "{status}");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains(&format!("pid {}", pids[1])), "{err}");
    assert!(pool.pids().is_empty(), "a failure stops every worker");
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} is still there");
    }
    let again = pool.run(&spec, 1000, &mut |_, _, _| Ok(())).expect_err("the pool stays broken");
    assert!(matches!(again, PoolError::Broken(_)), "{again}");
}

#[test]
fn writing_to_a_dead_worker_is_an_error_even_where_sigpipe_kills() {
    let Some(pool) = pool(1, false) else { return };
    let pid = pool.pids()[0];
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    // Wait until it is a zombie, so the next write surely finds its pipe closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z ") {
        assert!(Instant::now() < deadline, "the worker did not die");
        std::thread::sleep(Duration::from_millis(1));
    }
    // parlab's own disposition (`main` restores the default): unhandled, SIGPIPE would kill
    // this whole test binary. Restored afterwards for the other tests.
    // SAFETY: swapping a signal disposition; the previous one is put back below.
    let before = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let result = pool.ping(&[1; 8]);
    // SAFETY: as above.
    unsafe { libc::signal(libc::SIGPIPE, before) };
    let err = result.expect_err("the worker is dead");
    assert!(
        matches!(&err, PoolError::Died { status, .. } if status.contains("SIGKILL") || status.contains("9")),
        "{err}"
    );
}

#[test]
fn dropping_a_pool_kills_and_reaps_its_workers() {
    let Some(pool) = pool(3, true) else { return };
    let pids = pool.pids();
    assert!(pids.iter().all(|p| is_our_child(*p)));
    drop(pool);
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} outlived its pool");
    }
}

#[test]
fn a_cancelled_run_returns_promptly() {
    let Some(exe) = worker_exe().ok() else { return };
    let cancel = Arc::new(AtomicBool::new(false));
    let pool = Pool::start(&exe, 1, false, None, cancel.clone(), &[]).expect("pool starts");
    let flag = cancel.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let started = Instant::now();
    // Minutes of work for one worker: only cancellation ends it.
    let items = 1 << 40;
    let err = pool.run(&job("pi_monte_carlo", items as u64), items, &mut |_, _, _| Ok(())).unwrap_err();
    setter.join().unwrap();
    assert_eq!(err, PoolError::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn a_job_a_worker_cannot_prepare_fails_with_its_reason() {
    let Some(pool) = pool(1, false) else { return };
    let err = pool.run(&job("matmul", 8), 8, &mut |_, _, _| Ok(())).unwrap_err();
    assert!(
        matches!(&err, PoolError::Failed { message, .. } if message.contains("no process version")),
        "{err}"
    );
}
