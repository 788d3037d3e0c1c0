//! Deterministic pipeline tests: a scripted clock makes every statistic predictable, and the
//! test-only `faulty` workload panics, hangs or lies on request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::machine::Machine;
use crate::results::Status;
use crate::scenario;

fn machine() -> Machine {
    let mut m = Machine::detect();
    m.logical_cpus = 2;
    m
}

fn plan(text: &str) -> Plan {
    scenario::parse("test.toml", text, &machine()).expect("valid scenario")
}

fn scripted() -> RunOptions {
    // 1 ms of work at one worker, divided perfectly among workers: speedup == workers.
    let clock = ScriptedClock(|case: &CaseSpec, _sample: usize| 1_000_000 / case.workers as u64);
    RunOptions {
        clock: Arc::new(clock),
        interrupt: Arc::new(AtomicBool::new(false)),
        ..RunOptions::default()
    }
}

const FAST: &str = "warmup = \"0ms\"\nmin_samples = 3\nmax_samples = 5\ntimeout = \"5s\"\n";

#[test]
fn scripted_clock_gives_exact_statistics_and_speedups() {
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = [1, 2]\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 4096\nstrategies = [\"threads\", \"rayon\"]\n"
    ));
    let results = run(&p, &machine(), &mut Listeners::default(), &scripted());
    assert!(results.complete);
    assert_eq!(results.cases.len(), 5, "sequential + 2 strategies x 2 worker counts");
    for c in &results.cases {
        assert_eq!(c.status, Status::Ok, "{c:?}");
        let s = c.stats.as_ref().unwrap();
        assert_eq!(s.median, 1e6 / c.workers as f64);
        assert_eq!((s.ci_low, s.ci_high), (s.median, s.median), "constant samples: a zero-width CI");
        // Constant samples meet any target CI at once, so sampling stops at min_samples.
        assert_eq!(c.samples_ns.len(), 3);
        assert!(c.verification.as_ref().unwrap().passed);
        let t = c.throughput.as_ref().unwrap();
        assert_eq!(t.unit, "samples/s");
        assert!((t.median - 4096.0 / (s.median * 1e-9)).abs() < 1e-6);
        if c.strategy == "sequential" {
            assert_eq!(c.speedup, None);
        } else {
            assert_eq!(c.speedup, Some(c.workers as f64));
            assert_eq!(c.efficiency, Some(1.0));
            if c.workers > 1 {
                assert_eq!(c.karp_flatt, Some(0.0));
            }
        }
    }
}

#[test]
fn sampling_stops_at_max_samples_when_noisy() {
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 1\ntarget_ci = 0.0001\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\nstrategies = []\n"
    ));
    let noisy = ScriptedClock(|_: &CaseSpec, i: usize| 1000 + (i as u64 % 3) * 400);
    let options = RunOptions { clock: Arc::new(noisy), ..RunOptions::default() };
    let results = run(&p, &machine(), &mut Listeners::default(), &options);
    assert_eq!(results.cases[0].samples_ns.len(), 5);
}

fn faulty(fault: u8) -> Plan {
    plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 2\n\
         [[workload]]\nkind = \"faulty\"\nsize = 100\ntimeout = \"300ms\"\nparams = {{ fault = {fault} }}\n\
         strategies = [\"threads\", \"rayon\"]\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\nstrategies = [\"threads\"]\n"
    ))
}

#[test]
fn a_panicking_case_is_marked_and_the_run_goes_on() {
    let results = run(&faulty(1), &machine(), &mut Listeners::default(), &RunOptions::default());
    let status: Vec<_> = results.cases.iter().map(|c| (c.strategy.as_str(), c.status)).collect();
    assert_eq!(
        status,
        [
            ("sequential", Status::Ok),
            ("threads", Status::Panicked),
            ("rayon", Status::Panicked),
            ("sequential", Status::Ok),
            ("threads", Status::Ok),
        ]
    );
    let reason = results.cases[1].reason.as_deref().unwrap();
    assert!(reason.contains("deliberate panic"), "{reason}");
    assert_eq!(results.cases[1].speedup, None);
}

#[test]
fn a_hanging_case_times_out_and_the_run_goes_on() {
    let results = run(&faulty(2), &machine(), &mut Listeners::default(), &RunOptions::default());
    assert_eq!(results.cases[1].status, Status::TimedOut);
    assert!(results.cases[1].reason.as_deref().unwrap().contains("timeout"));
    assert_eq!(results.cases[2].status, Status::TimedOut);
    assert_eq!(results.cases[4].status, Status::Ok, "the next workload still runs");
    assert!(results.complete);
}

#[test]
fn a_wrong_answer_is_flagged_and_gets_no_speedup() {
    let results = run(&faulty(3), &machine(), &mut Listeners::default(), &scripted());
    let bad = &results.cases[1];
    assert_eq!(bad.status, Status::FailedVerification);
    assert!(!bad.verification.as_ref().unwrap().passed);
    assert!(bad.stats.is_some(), "the samples are kept");
    assert_eq!((bad.speedup, bad.efficiency), (None, None));
    assert_eq!(results.failures(), 2);
}

#[test]
fn an_interrupt_stops_the_run_and_keeps_what_was_measured() {
    struct StopAfterFirst(Arc<AtomicBool>, Mutex<usize>);
    impl Listener for StopAfterFirst {
        fn case_finished(&mut self, _: &crate::results::CaseResult) {
            *self.1.lock().unwrap() += 1;
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let options = scripted();
    let mut stop = StopAfterFirst(options.interrupt.clone(), Mutex::new(0));
    let results = run(&faulty(0), &machine(), &mut stop, &options);
    assert!(!results.complete);
    assert_eq!(results.cases.len(), 1);
    assert_eq!(results.cases[0].status, Status::Ok);
}

#[test]
fn weak_scaling_grows_the_size_with_workers() {
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = [1, 2]\nscaling = \"weak\"\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\nstrategies = [\"threads\"]\n"
    ));
    let results = run(&p, &machine(), &mut Listeners::default(), &scripted());
    let sizes: Vec<_> =
        results.cases.iter().map(|c| (c.strategy.as_str(), c.workers, c.effective_size)).collect();
    assert_eq!(
        sizes,
        [("sequential", 1, 1000), ("threads", 1, 1000), ("sequential", 1, 2000), ("threads", 2, 2000)]
    );
    assert!(results.cases.iter().all(|c| c.status == Status::Ok));
    assert_eq!(results.cases[3].karp_flatt, None, "Karp-Flatt is for strong scaling");
}

#[test]
fn events_arrive_in_order() {
    #[derive(Default)]
    struct Log(Vec<String>);
    impl Listener for Log {
        fn run_started(&mut self, _: &Plan, _: &Machine, cases: &[CaseSpec]) {
            self.0.push(format!("run {}", cases.len()));
        }
        fn case_started(&mut self, c: &CaseSpec) {
            self.0.push(format!("start {}", c.id));
        }
        fn sample(&mut self, _: &CaseSpec, n: usize, max: usize, _: f64) {
            self.0.push(format!("sample {n}/{max}"));
        }
        fn case_finished(&mut self, r: &crate::results::CaseResult) {
            self.0.push(format!("done {}", r.id));
        }
        fn run_finished(&mut self, r: &Results) {
            self.0.push(format!("end {}", r.cases.len()));
        }
    }
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 1\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 100\nstrategies = []\n"
    ));
    let mut log = Log::default();
    run(&p, &machine(), &mut log, &scripted());
    assert_eq!(log.0, ["run 1", "start 0", "sample 1/5", "sample 2/5", "sample 3/5", "done 0", "end 1"]);
}

/// Threads whose name (inherited by unnamed threads they spawn) is `parlab-case-{id}`.
fn case_threads(ids: &[usize]) -> usize {
    let names: Vec<String> = ids.iter().map(|id| format!("parlab-case-{id}")).collect();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| names.iter().any(|n| comm.trim() == n))
        .count()
}

#[test]
fn a_deadlocked_queue_times_out_and_its_threads_end() {
    // Capacity 0: the hand-rolled queue and the semaphore buffer can never accept a message,
    // while crossbeam's channel treats 0 as a rendezvous and finishes.
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 2\n\
         [[workload]]\nkind = \"producer_consumer\"\nsize = 1000\ntimeout = \"1s\"\n\
         params = {{ capacity = 0 }}\nstrategies = [\"condvar-queue\", \"semaphore\", \"channels\"]\n"
    ));
    let results = run(&p, &machine(), &mut Listeners::default(), &RunOptions::default());
    let status: Vec<_> = results.cases.iter().map(|c| (c.strategy.as_str(), c.status)).collect();
    assert_eq!(
        status,
        [
            ("sequential", Status::Ok),
            ("condvar-queue", Status::TimedOut),
            ("semaphore", Status::TimedOut),
            ("channels", Status::Ok),
        ]
    );
    assert!(results.complete);
    // The abandoned producers and consumers see the cancellation flag and end.
    let deadline = Instant::now() + Duration::from_secs(5);
    while case_threads(&[1, 2]) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(case_threads(&[1, 2]), 0, "threads of the abandoned cases are still running");
}

#[test]
fn cases_record_peak_rss_and_ping_pong_its_latency() {
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 2\n\
         [[workload]]\nkind = \"ping_pong\"\nsize = 64\nparams = {{ round_trips = 50 }}\nstrategies = [\"channels\"]\n"
    ));
    let results = run(&p, &machine(), &mut Listeners::default(), &scripted());
    for c in &results.cases {
        assert_eq!(c.status, Status::Ok, "{c:?}");
        // The scripted clock says 1 ms per run at one worker: 100 one-way messages per run.
        let want = 1e6 / c.workers as f64 / 100.0;
        assert_eq!(c.latency_ns, Some(want), "{}", c.strategy);
        if std::fs::write("/proc/self/clear_refs", "5").is_ok() {
            assert!(c.peak_rss_bytes.is_some_and(|b| b > 1 << 20), "{:?}", c.peak_rss_bytes);
        }
    }
}

#[test]
fn a_case_that_cannot_be_stopped_ends_the_process_s_measuring() {
    // `fault = 4` busy-loops for 1.5 s without looking at the flag: after the 300 ms timeout and
    // a 200 ms grace its thread is still running, so the runner must not measure the next case
    // beside it; it stops and names the case, for the caller to continue in a fresh process.
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 2\n\
         [[workload]]\nkind = \"faulty\"\nsize = 1500\ntimeout = \"300ms\"\nparams = {{ fault = 4 }}\n\
         strategies = [\"threads\"]\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\nstrategies = [\"threads\"]\n"
    ));
    let options = RunOptions { grace: Duration::from_millis(200), ..RunOptions::default() };
    let results = run(&p, &machine(), &mut Listeners::default(), &options);
    let stuck = &results.cases[1];
    assert_eq!(stuck.status, Status::TimedOut);
    assert_eq!(results.abandoned_case, Some(stuck.id));
    assert!(stuck.notes.iter().any(|n| n.contains("still running")), "{:?}", stuck.notes);
    assert_eq!(results.cases.len(), 2, "nothing after the stuck case ran in this process");
    assert!(!results.complete);
}

#[test]
fn a_cancelled_sequential_kernel_ends_within_the_grace_period() {
    // The reproduction: a sequential pi case far too big for its timeout. Its single task
    // now looks at the flag every 64 grains, so its thread ends within the grace period and
    // the run goes on in this process (tests/cli.rs checks from outside that nothing of it is
    // left running beside the next case). Scalar, because this is a debug build, where the
    // vector paths' intrinsics are calls and a piece of 64 grains takes seconds.
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 2\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = \"20G\"\ntimeout = \"300ms\"\nstrategies = []\n\
         params = {{ simd = \"scalar\" }}\n\
         [[workload]]\nkind = \"spin\"\nsize = 4\nstrategies = [\"threads\"]\n"
    ));
    let results = run(&p, &machine(), &mut Listeners::default(), &RunOptions::default());
    assert_eq!(results.cases[0].status, Status::TimedOut);
    assert_eq!(
        results.abandoned_case, None,
        "the sequential kernel did not stop: {:?}",
        results.cases[0].notes
    );
    assert!(results.complete);
    assert!(results.cases[1..].iter().all(|c| c.status == Status::Ok));
}

/// A clock whose every reading takes 100 ns whatever it times, with 10 ns of overhead.
struct SlowClock;
impl Clock for SlowClock {
    fn measure(&self, _: &CaseSpec, _: usize, f: &mut dyn FnMut()) -> u64 {
        f();
        100
    }
    fn overhead_ns(&self) -> f64 {
        10.0
    }
}

#[test]
fn runs_shorter_than_100_clock_overheads_are_timed_in_batches() {
    assert_eq!(batch_size(1e6, 25.0), 1);
    assert_eq!(batch_size(2500.0, 25.0), 1);
    assert_eq!(batch_size(30.0, 25.0), 84);
    assert_eq!(batch_size(0.001, 25.0), MAX_BATCH);
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 1\n\
         [[workload]]\nkind = \"empty\"\nsize = 1\nstrategies = []\n"
    ));
    let options = RunOptions { clock: Arc::new(SlowClock), ..RunOptions::default() };
    let results = run(&p, &machine(), &mut Listeners::default(), &options);
    let c = &results.cases[0];
    // Warm runs read 100 ns, 90 of them kernel past the 10 ns clock, against a 1000 ns floor:
    // batches of 12, each read as 100 ns.
    assert_eq!(c.batch, 12);
    assert!(c.samples_ns.iter().all(|&ns| ns == 100.0 / 12.0), "{:?}", c.samples_ns);
    assert!(c.warmup_runs >= 3, "a kernel short enough to batch gets warm runs: {}", c.warmup_runs);
    assert_eq!(results.clock_overhead_ns, Some(10.0));
}

/// Warm-up: one cold run of 500 µs, then warm runs of 100 ns; every timed batch reads 1206 ns.
struct ColdStartClock(std::sync::atomic::AtomicU64);

impl Clock for ColdStartClock {
    fn measure(&self, _: &CaseSpec, sample: usize, f: &mut dyn FnMut()) -> u64 {
        f();
        if sample != usize::MAX {
            return 1206;
        }
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            500_000
        } else {
            100
        }
    }
    fn overhead_ns(&self) -> f64 {
        10.0
    }
}

#[test]
fn the_batch_is_sized_from_warm_runs_and_per_run_times_are_not_rounded() {
    let p = plan(
        "[scenario]\nname = \"t\"\n[defaults]\nwarmup = \"1ms\"\nmin_samples = 3\nmax_samples = 5\n\
         timeout = \"5s\"\nworkers = 1\n[[workload]]\nkind = \"empty\"\nsize = 1\nstrategies = []\n",
    );
    let clock = ColdStartClock(std::sync::atomic::AtomicU64::new(0));
    let options = RunOptions { clock: Arc::new(clock), ..RunOptions::default() };
    let results = run(&p, &machine(), &mut Listeners::default(), &options);
    let c = &results.cases[0];
    assert!(c.warmup_runs >= 2, "{}", c.warmup_runs);
    // Warm runs take 100 ns (90 past the clock's 10) against a 1000 ns floor: batches of 12.
    // The mean of the warm-up, cold run included, is at least 200 ns and would give batches
    // of 6 or fewer.
    assert_eq!(c.batch, 12);
    // 1206 ns per batch of 12 is 100.5 ns per run, not 101.
    assert!(c.samples_ns.iter().all(|&ns| ns == 100.5), "{:?}", c.samples_ns);
    assert_eq!(c.stats.as_ref().unwrap().median, 100.5);
}

/// Every warm run reads 110 ns on a clock whose own overhead is 100 ns: 10 ns of kernel. A
/// timed batch reads the overhead plus 10 ns per run.
struct CostlyClock;

impl Clock for CostlyClock {
    fn measure(&self, _: &CaseSpec, sample: usize, f: &mut dyn FnMut()) -> u64 {
        f();
        if sample == usize::MAX {
            110
        } else {
            100 + 10 * 1000
        }
    }
    fn overhead_ns(&self) -> f64 {
        100.0
    }
}

#[test]
fn the_batch_holds_100_clock_overheads_of_kernel_not_of_kernel_and_clock() {
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = 1\n\
         [[workload]]\nkind = \"empty\"\nsize = 1\nstrategies = []\n"
    ));
    let options = RunOptions { clock: Arc::new(CostlyClock), ..RunOptions::default() };
    let results = run(&p, &machine(), &mut Listeners::default(), &options);
    let c = &results.cases[0];
    // 10 ns of kernel: 1000 runs make 100 overheads. Sized from the 110 ns reading, the batch
    // would be 91 runs and each sample 11% high.
    assert_eq!(c.batch, 1000);
    assert!(c.samples_ns.iter().all(|&ns| (ns - 10.1).abs() < 1e-9), "{:?}", c.samples_ns);
}

#[test]
fn merged_processes_concatenate_their_phases_and_drop_mismatched_ones() {
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = [1]\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 4096\nstrategies = [\"threads\"]\n"
    ));
    let results = run(&p, &machine(), &mut Listeners::default(), &scripted());
    let base = results.cases[0].clone();
    let n = base.samples_ns.len();
    let with = |names: [&str; 2], at: f64| {
        let mut part = base.clone();
        part.phases = names
            .iter()
            .enumerate()
            .map(|(k, name)| PhaseSamples { name: name.to_string(), samples_ns: vec![at + k as f64; n] })
            .collect();
        part
    };
    let merged = merge_processes(vec![
        (with(["kernel", "other"], 1.0), 0, Instant::now()),
        (with(["kernel", "other"], 5.0), 8, Instant::now()),
    ]);
    assert_eq!(merged.samples_ns.len(), 2 * n);
    assert_eq!(merged.phases.len(), 2);
    assert_eq!(merged.phases[0].name, "kernel");
    assert_eq!(merged.phases[0].samples_ns, [vec![1.0; n], vec![5.0; n]].concat());
    assert_eq!(merged.phases[1].samples_ns, [vec![2.0; n], vec![6.0; n]].concat());
    assert!(!merged.notes.iter().any(|note| note.contains("phases")), "{:?}", merged.notes);

    let mismatched = merge_processes(vec![
        (with(["kernel", "other"], 1.0), 0, Instant::now()),
        (with(["copy", "other"], 1.0), 8, Instant::now()),
    ]);
    assert!(mismatched.phases.is_empty());
    assert!(
        mismatched.notes.iter().any(|note| note.starts_with("phases are left out: process 2 reported")),
        "{:?}",
        mismatched.notes
    );
}

#[test]
fn merged_processes_keep_their_means_over_ranks_only_where_every_process_has_them() {
    let p = plan(&format!(
        "[scenario]\nname = \"t\"\n[defaults]\n{FAST}workers = [1]\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 4096\nstrategies = [\"threads\"]\n"
    ));
    let results = run(&p, &machine(), &mut Listeners::default(), &scripted());
    let base = results.cases[0].clone();
    assert!(base.rank_mean_ns.is_empty(), "threads run on no ranks");
    let n = base.samples_ns.len();
    let with = |mean: Option<f64>| {
        let mut part = base.clone();
        part.rank_mean_ns = mean.map_or(Vec::new(), |m| vec![m; n]);
        part
    };
    let merged =
        merge_processes(vec![(with(Some(1.0)), 0, Instant::now()), (with(Some(2.0)), 8, Instant::now())]);
    assert_eq!(merged.rank_mean_ns, [vec![1.0; n], vec![2.0; n]].concat());
    assert_eq!(merged.rank_mean_median_ns(), Some(1.5));
    let partial =
        merge_processes(vec![(with(Some(1.0)), 0, Instant::now()), (with(None), 8, Instant::now())]);
    assert!(partial.rank_mean_ns.is_empty(), "means that would not line up with the samples are dropped");
}
