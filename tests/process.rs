//! The process strategies through the `parlab` binary: every workload with a process version
//! verifies under `process` and `process-shm`, and a worker killed mid-case fails that case with
//! its exit status while the run goes on and leaves no worker behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_parlab");

fn results(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

fn cases(results: &Value) -> &Vec<Value> {
    results["cases"].as_array().unwrap()
}

const TINY: &str = r#"
[scenario]
name = "tiny-processes"

[defaults]
workers = [1, 2]
warmup = "0ms"
min_samples = 2
max_samples = 3
timeout = "30s"

[[workload]]
kind = "pi_monte_carlo"
size = 20000
strategies = ["process", "process-shm"]

[[workload]]
kind = "mandelbrot"
size = 33
strategies = ["process", "process-shm"]

[[workload]]
kind = "stream_triad"
size = 4099
strategies = ["process", "process-shm"]

[[workload]]
kind = "stream_triad"
size = 1000
chunk = 7
strategies = ["process", "process-shm"]

[[workload]]
kind = "matmul"
size = 8
strategies = ["process", "process-shm"]
"#;

#[test]
fn every_workload_with_a_process_version_verifies_under_both_strategies() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let out = dir.path().join("out");
    let status = Command::new(EXE)
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let results = results(&out);
    let mut measured = 0;
    for case in cases(&results) {
        let (workload, strategy) = (case["workload"].as_str().unwrap(), case["strategy"].as_str().unwrap());
        if workload == "matmul" && strategy != "sequential" {
            assert_eq!(case["status"], "unsupported", "{case}");
            assert!(case["reason"].as_str().unwrap().contains("no multi-process version"), "{case}");
            continue;
        }
        assert_eq!(case["status"], "ok", "{workload} x {strategy}: {}", case["reason"]);
        assert_eq!(case["verification"]["passed"], true);
        if strategy.starts_with("process") {
            measured += 1;
            // Process start-up is recorded apart from the samples.
            assert!(case["setup_ns"].as_u64().unwrap() > 0, "{case}");
            // Each worker's place: this host, a pid of its own.
            let placement = case["placement"].as_array().unwrap();
            assert_eq!(placement.len() as u64, case["workers"].as_u64().unwrap(), "{case}");
            for (k, p) in placement.iter().enumerate() {
                assert_eq!(p["role"], format!("worker {}", k + 1));
                assert_eq!(p["host"], results["hosts"][0]["hostname"], "{case}");
                assert!(p["pid"].as_u64().is_some_and(|pid| pid > 0), "{case}");
            }
        }
    }
    assert_eq!(results["hosts"].as_array().unwrap().len(), 1, "one host: this one");
    assert_eq!(measured, 4 * 2 * 2, "four workload sizes x two strategies x two worker counts");
}

#[test]
fn a_case_process_sends_back_where_its_workers_ran() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("isolated.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"isolated\"\n[defaults]\nworkers = 2\nwarmup = \"0ms\"\nmin_samples = 2\n\
         max_samples = 2\ntimeout = \"30s\"\n[[workload]]\nkind = \"pi_monte_carlo\"\nsize = 20000\n\
         strategies = [\"process-shm\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = Command::new(EXE)
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--isolate", "process"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let results = results(&out);
    let case = cases(&results).iter().find(|c| c["strategy"] == "process-shm").unwrap();
    assert_eq!(case["status"], "ok", "{case}");
    // The case ran in a child process: its placement came back inside the result it sent.
    let placement = case["placement"].as_array().unwrap();
    assert_eq!(
        placement.iter().map(|p| p["role"].as_str().unwrap()).collect::<Vec<_>>(),
        ["worker 1", "worker 2"]
    );
}

/// Processes whose environment holds `tag`: the workers of the parlab run given that tag.
fn tagged(tag: &str) -> Vec<i32> {
    let needle = format!("PARLAB_TEST_TAG={tag}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

fn is_worker(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"worker"))
}

#[test]
fn a_killed_worker_fails_its_case_and_the_run_goes_on_with_no_worker_left() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("kill.toml");
    // A case long enough to be caught running, then one that must still run afterwards.
    std::fs::write(
        &scenario,
        r#"
[scenario]
name = "kill"
[defaults]
warmup = "0ms"
min_samples = 10
max_samples = 10
max_time = "60s"
timeout = "120s"
[[workload]]
kind = "pi_monte_carlo"
size = 2000000
workers = 2
strategies = ["process"]
[[workload]]
kind = "mandelbrot"
size = 40
workers = 2
strategies = ["process-shm"]
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let tag = format!("{}-{:?}", std::process::id(), Instant::now());
    let mut parlab = Command::new(EXE)
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("PARLAB_TEST_TAG", &tag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        let workers: Vec<i32> = tagged(&tag).into_iter().filter(|p| is_worker(*p)).collect();
        if let Some(&pid) = workers.first() {
            break pid;
        }
        assert!(Instant::now() < deadline, "no worker process ever appeared");
        assert!(parlab.try_wait().unwrap().is_none(), "parlab ended before any worker was seen");
        std::thread::sleep(Duration::from_millis(2));
    };
    // SAFETY: sends a signal to a worker process this test's parlab started.
    assert_eq!(unsafe { libc::kill(victim, libc::SIGKILL) }, 0);
    let status = parlab.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a failed case makes the run exit 1");
    let results = results(&out);
    assert_eq!(results["complete"], true, "the run went on to the end");
    let cases = cases(&results);
    let killed = cases.iter().find(|c| c["strategy"] == "process").unwrap();
    assert_eq!(killed["status"], "error", "{killed}");
    let reason = killed["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("pid {victim}")) && reason.contains("died"), "{reason}");
    assert!(reason.contains("SIGKILL") || reason.contains("signal: 9"), "the exit status is given: {reason}");
    let after = cases.iter().find(|c| c["strategy"] == "process-shm").unwrap();
    assert_eq!(after["status"], "ok", "{after}");
    let left = tagged(&tag);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// Starts `parlab run` on a long process case; returns it with its tag once both workers are up.
fn run_until_workers_start(dir: &Path) -> (std::process::Child, String, Vec<i32>) {
    let scenario = dir.join("long.toml");
    std::fs::write(
        &scenario,
        r#"
[scenario]
name = "long"
[defaults]
warmup = "0ms"
min_samples = 3
max_samples = 3
timeout = "120s"
# A trip costs nanoseconds in the sequential baseline and microseconds through pipes: a short
# baseline, then a process case that runs for many seconds.
[[workload]]
kind = "ping_pong"
size = 8
params = { round_trips = 10_000_000 }
workers = 2
strategies = ["process-shm"]
"#,
    )
    .unwrap();
    let tag = format!("{}-{:?}", std::process::id(), Instant::now());
    let mut parlab = Command::new(EXE)
        .args(["run", scenario.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()])
        .env("PARLAB_TEST_TAG", &tag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let workers: Vec<i32> = tagged(&tag).into_iter().filter(|p| is_worker(*p)).collect();
        if workers.len() == 2 {
            return (parlab, tag, workers);
        }
        assert!(Instant::now() < deadline, "the workers never all appeared");
        assert!(parlab.try_wait().unwrap().is_none(), "parlab ended before its workers were seen");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn workers_die_with_a_killed_parlab() {
    let dir = tempfile::tempdir().unwrap();
    let (mut parlab, tag, workers) = run_until_workers_start(dir.path());
    // SIGKILL: parlab gets no chance to clean up; the kernel's parent-death signal must.
    parlab.kill().unwrap();
    parlab.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tagged(&tag).is_empty() {
        assert!(Instant::now() < deadline, "workers {workers:?} outlived parlab: {:?}", tagged(&tag));
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_worker_subcommand_is_hidden_and_refuses_to_run_by_hand() {
    let help = Command::new(EXE).arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("worker"));
    let by_hand = Command::new(EXE).arg("worker").stdin(Stdio::null()).output().unwrap();
    assert!(!by_hand.status.success());
    assert!(String::from_utf8_lossy(&by_hand.stderr).contains("parlab's own"));
}
