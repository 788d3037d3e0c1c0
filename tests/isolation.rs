//! A case never measures beside another: a case that cannot be stopped sends the rest of the
//! run to a fresh process, `--isolate process` kills a stuck case with everything it started,
//! and `--processes N` measures each case in N processes. Needs the test-only `faulty`
//! workload: `cargo test --features fault-injection`.
#![cfg(feature = "fault-injection")]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn parlab() -> Command {
    Command::cargo_bin("parlab").expect("binary built")
}

/// A case that ignores its cancellation for 4 s after a 300 ms timeout, then one that fails
/// verification if any thread of another case is alive beside it, then an ordinary one.
const STUCK: &str = r#"
[scenario]
name = "stuck"
[defaults]
workers = 2
warmup = "0ms"
min_samples = 2
max_samples = 3
timeout = "300ms"
[[workload]]
kind = "faulty"
size = 4000
params = { fault = 4 }
strategies = ["threads"]
[[workload]]
kind = "faulty"
size = 100
params = { fault = 5 }
strategies = ["threads"]
[[workload]]
kind = "pi_monte_carlo"
size = 10000
strategies = ["threads"]
"#;

fn results(out: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

fn statuses(results: &Value) -> Vec<String> {
    results["cases"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap().to_string()).collect()
}

/// Processes still alive that a parlab run with pid `parent` started as case processes.
fn case_processes_of(parent: u32) -> Vec<String> {
    let want = format!("PARLAB_CASE_PARENT={parent}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let env = std::fs::read(e.path().join("environ")).ok()?;
            env.split(|&b| b == 0)
                .any(|v| v == want.as_bytes())
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn a_case_that_cannot_be_stopped_sends_the_rest_of_the_run_to_a_fresh_process() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("stuck.toml");
    std::fs::write(&scenario, STUCK).unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("continuing the remaining cases in a fresh process"));
    let r = results(&out);
    // The `fault = 5` case verifies: no thread of the stuck case was alive beside it.
    assert_eq!(statuses(&r), ["ok", "timed_out", "ok", "ok", "ok", "ok"]);
    assert_eq!(r["complete"], true);
    let notes = r["cases"][1]["notes"].to_string();
    assert!(notes.contains("still running"), "{notes}");
    assert!(out.join("resume-plan.json").is_file(), "the fresh process ran the first one's plan");
    let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 6, "every case once in results.jsonl");
}

#[test]
fn isolated_cases_are_killed_with_everything_they_started() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("stuck.toml");
    std::fs::write(&scenario, STUCK).unwrap();
    let out = dir.path().join("out");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_parlab"))
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--isolate", "process"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let r = results(&out);
    assert_eq!(statuses(&r), ["ok", "timed_out", "ok", "ok", "ok", "ok"]);
    assert_eq!(case_processes_of(pid), Vec::<String>::new(), "case processes left behind");
}

#[test]
fn a_crashing_case_process_fails_its_case_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("crash.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"crash\"\n[defaults]\nworkers = 2\nwarmup = \"0ms\"\nmin_samples = 2\nmax_samples = 3\n\
         [[workload]]\nkind = \"faulty\"\nsize = 100\nparams = { fault = 6 }\nstrategies = [\"threads\"]\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 10000\nstrategies = [\"threads\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--isolate", "process"])
        .assert()
        .code(1);
    let r = results(&out);
    assert_eq!(statuses(&r), ["ok", "error", "ok", "ok"]);
    let reason = r["cases"][1]["reason"].as_str().unwrap();
    assert!(reason.contains("signal 6"), "{reason}");
}

#[test]
fn processes_measure_each_case_in_several_processes() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("p.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"p\"\n[defaults]\nworkers = 2\nwarmup = \"0ms\"\nmin_samples = 3\nmax_samples = 5\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 20000\nstrategies = [\"threads\"]\n\
         [[workload]]\nkind = \"matmul\"\nsize = 24\nstrategies = [\"rayon\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--processes", "3"])
        .assert()
        .success();
    let r = results(&out);
    assert_eq!(statuses(&r), ["ok", "ok", "ok", "ok"]);
    for case in r["cases"].as_array().unwrap() {
        let p = &case["processes"];
        assert_eq!(p["count"], 3, "{case}");
        let offsets: Vec<u64> =
            p["align_offsets"].as_array().unwrap().iter().map(|o| o.as_u64().unwrap()).collect();
        assert_eq!(offsets.len(), 3);
        assert!(offsets[0] != offsets[1] && offsets[1] != offsets[2], "{offsets:?}");
        let samples = case["samples_ns"].as_array().unwrap().len();
        assert!((9..=15).contains(&samples), "3 processes x 3..5 samples, got {samples}");
        let (lo, mid, hi) = (
            case["stats"]["ci_low"].as_f64().unwrap(),
            case["stats"]["median"].as_f64().unwrap(),
            case["stats"]["ci_high"].as_f64().unwrap(),
        );
        assert!(lo <= mid && mid <= hi, "{lo} {mid} {hi}");
    }
}

#[test]
fn spread_paces_the_rounds_and_every_case_has_a_rerun_interval() {
    // Without --spread the three rounds of these tiny cases start within a second or two; with
    // it, each case's last process starts at least the spread after its first, and the idle wait
    // before a round still stops at once on Ctrl-C.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("p.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"p\"\n[defaults]\nworkers = 1\nwarmup = \"0ms\"\nmin_samples = 3\nmax_samples = 5\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 20000\nstrategies = []\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--processes", "3"])
        .args(["--spread", "3s"])
        .assert()
        .success();
    let r = results(&out);
    let case = &r["cases"][0];
    let p = &case["processes"];
    let span = p["span_s"].as_f64().unwrap();
    assert!((3.0..20.0).contains(&span), "processes spanned {span} s");
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let (rlo, lo, hi, rhi) = (
        f(&p["rerun_low_ns"]),
        f(&case["stats"]["ci_low"]),
        f(&case["stats"]["ci_high"]),
        f(&p["rerun_high_ns"]),
    );
    assert!(rlo < lo && lo <= hi && hi < rhi, "rerun {rlo}..{rhi}, CI {lo}..{hi}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("A rerun of as many processes is expected within"), "{summary}");

    // Ctrl-C while idling before a round: the run stops within a second with exit 130.
    let out2 = dir.path().join("out2");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_parlab"))
        .args(["run", scenario.to_str().unwrap(), "--out", out2.to_str().unwrap(), "--processes", "3"])
        .args(["--spread", "10m"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // The first round writes nothing to the log (the case is merged at the end): wait for it to
    // have run, then interrupt the wait for the second.
    std::thread::sleep(std::time::Duration::from_secs(2));
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let killed = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(killed.elapsed().as_secs() < 5, "took {:?} to stop", killed.elapsed());
    assert_eq!(output.status.code(), Some(130));
    assert!(start.elapsed().as_secs() < 60);
}

#[test]
fn every_case_s_processes_span_the_spread_whatever_its_count() {
    // The review's reproduction: rounds paced from the start of the run, by the largest count,
    // gave a 2-process case 2.0 s and a 5-process case 6.6 s of an 8 s spread.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("p.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"p\"\n[defaults]\nworkers = 1\nwarmup = \"0ms\"\nmin_samples = 3\nmax_samples = 5\n\
         [[workload]]\nkind = \"matmul\"\nsize = 64\nprocesses = 2\nstrategies = []\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 20000\nprocesses = 4\nstrategies = []\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--spread", "3s"])
        .assert()
        .success();
    let r = results(&out);
    for case in r["cases"].as_array().unwrap() {
        let span = case["processes"]["span_s"].as_f64().unwrap();
        assert!((3.0..20.0).contains(&span), "{} spanned {span} s", case["workload"]);
    }
}

#[test]
fn a_spread_run_whose_cases_ended_does_not_idle() {
    // The only case run (the sequential baseline is left out) fails in its first process:
    // nothing is left to pace, so the run must not sit out the rest of the spread.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("crash.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"crash\"\n[defaults]\nworkers = 2\nwarmup = \"0ms\"\nmin_samples = 2\nmax_samples = 3\n\
         [[workload]]\nkind = \"faulty\"\nsize = 100\nparams = { fault = 6 }\nstrategies = [\"threads\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let start = std::time::Instant::now();
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--processes", "3"])
        .args(["--case", "1", "--spread", "60s"])
        .assert()
        .code(1);
    assert!(start.elapsed().as_secs() < 30, "idled for {:?}", start.elapsed());
}

#[test]
fn a_spread_with_one_process_per_case_is_refused() {
    // It would pace nothing: said, not silently ignored.
    parlab()
        .args(["run", "--case", "0", "--spread", "10m"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("every case here runs in one"));
}

#[test]
fn a_spread_longer_than_an_hour_is_refused_before_anything_runs() {
    parlab()
        .args(["run", "--processes", "3", "--spread", "90h"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("longer than the longest spread, 1h"));
}

#[test]
fn ctrl_c_on_a_case_that_cannot_be_stopped_ends_the_run() {
    // The review's reproduction: the interrupted case's thread lingers, which used to send the
    // rest of the run to a fresh process that finished it and exited 0.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("stuck.toml");
    std::fs::write(
        &scenario,
        STUCK.replace("timeout = \"300ms\"", "timeout = \"60s\"").replace("size = 4000", "size = 8000"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_parlab"))
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first (sequential) case is quick; then the stuck one runs for 8 s.
    let log = out.join("results.jsonl");
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(true, |s| s.lines().count() < 1) {
        assert!(start.elapsed().as_secs() < 60, "no case finished within a minute");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    let r = results(&out);
    assert_eq!(r["complete"], false);
    assert_eq!(statuses(&r), ["ok", "interrupted"]);
}

/// Sets the interrupt flag as soon as `after` processes have finished, as Ctrl-C would.
struct InterruptAfter {
    after: usize,
    seen: usize,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl parlab::runner::Listener for InterruptAfter {
    fn process_finished(
        &mut self,
        _: &parlab::scenario::CaseSpec,
        _: usize,
        _: usize,
        _: &parlab::results::CaseResult,
    ) {
        self.seen += 1;
        if self.seen == self.after {
            self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[test]
fn an_interrupted_multi_process_run_says_how_many_processes_each_case_had() {
    use parlab::runner::{run, Isolation, Listeners, RunOptions};
    let mut machine = parlab::machine::Machine::detect();
    machine.logical_cpus = 2;
    let text = "[scenario]\nname = \"p\"\n[defaults]\nworkers = 2\nwarmup = \"0ms\"\nmin_samples = 3\n\
                max_samples = 3\n[[workload]]\nkind = \"pi_monte_carlo\"\nsize = 20000\nstrategies = [\"threads\"]\n";
    let plan = parlab::scenario::parse("p.toml", text, &machine).unwrap();
    let options = RunOptions {
        isolation: Isolation::Process { exe: env!("CARGO_BIN_EXE_parlab").into() },
        processes: Some(3),
        ..RunOptions::default()
    };
    // Round 1 of both cases (sequential, threads), then round 2 of the first: interrupted there.
    let mut stop = InterruptAfter { after: 3, seen: 0, flag: options.interrupt.clone() };
    let results = run(&plan, &machine, &mut Listeners(vec![&mut stop]), &options);
    assert!(!results.complete);
    let notes: Vec<String> = results.cases.iter().map(|c| c.notes.join("; ")).collect();
    assert_eq!(results.cases.len(), 2, "{notes:?}");
    assert!(notes[0].contains("measured in 2 of 3 processes"), "{notes:?}");
    assert!(notes[1].contains("measured in 1 of 3 processes"), "{notes:?}");
}
