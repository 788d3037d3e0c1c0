//! Cases run through backends on the case protocol: `test-phases` and `test-orphan` run a whole
//! case in `parlab case-program`, a child program that reports phases and item latencies and
//! verifies with the workload's own verifier; `test-orphan` also leaves a grandchild behind.
//! Needs the test-only backends: `cargo test --features fault-injection --test backends`.
#![cfg(feature = "fault-injection")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parlab::backend::{self, BackendError, CaseJob, Session, CASE_MARKER_ENV};
use parlab::results::PhaseSamples;
use parlab::scenario::{CaseSpec, Scaling};
use parlab::strategy::{ExecConfig, StrategyParams};

/// Runs `f` with a session of `backend` on `pi_monte_carlo` at `size`, under a marker of its
/// own (returned too), cancelled by `cancel`.
fn with_session<R>(
    backend: &str,
    size: u64,
    cancel: Arc<AtomicBool>,
    f: impl FnOnce(&str, Box<dyn Session + '_>) -> R,
) -> R {
    let spec = CaseSpec {
        id: 0,
        workload_index: 0,
        workload: "pi_monte_carlo".into(),
        strategy: backend.into(),
        workers: 1,
        size,
        effective_size: size,
        scaling: Scaling::Strong,
        seed: 11,
        tunables: StrategyParams::default(),
        notes: Vec::new(),
        device: None,
    };
    let workload = parlab::workload::find("pi_monte_carlo").unwrap();
    let params = parlab::workload::default_params(workload);
    let instance: Arc<dyn parlab::workload::Instance> = workload.prepare(size, &params, 11).unwrap().into();
    let marker = format!("backends-test-{}-{backend}-{size}", std::process::id());
    let job = CaseJob {
        spec: &spec,
        params: &params,
        seed: 11,
        strategy: parlab::strategy::find(backend).unwrap(),
        config: ExecConfig { workers: 1, params: StrategyParams::default(), cancel },
        instance: &*instance,
        clock: Arc::new(parlab::clock::RealClock),
        marker: (CASE_MARKER_ENV, marker.clone()),
        mpi: Default::default(),
    };
    let b = backend::find(backend).expect("a test backend");
    b.availability().expect("the parlab binary is built");
    let session = b.start(job).expect("the program starts and says it is ready");
    f(&marker, session)
}

/// Processes carrying the case marker `value`: (pid, command line).
fn carrying(value: &str) -> Vec<(u32, String)> {
    parlab::marker::survivors(CASE_MARKER_ENV, value)
}

#[test]
fn test_phases_reports_setup_and_kernel_phases_items_and_a_verification() {
    with_session("test-phases", 100_000, Arc::new(AtomicBool::new(false)), |marker, mut session| {
        assert!(session.setup_ns() > 0);
        let placement = session.placement();
        assert_eq!(placement.len(), 1);
        assert_eq!(placement[0].role, "program");
        let pid = placement[0].pid.expect("it says its pid");
        assert_eq!(
            carrying(marker).iter().map(|c| c.0).collect::<Vec<_>>(),
            [pid],
            "the program carries the marker"
        );
        let warmup = session.sample(usize::MAX, 1).unwrap();
        assert_eq!(warmup.items_ns.len(), 1);
        let mut totals = Vec::new();
        let mut phases = Vec::new();
        for index in 0..3 {
            let s = session.sample(index, 4).unwrap();
            let names: Vec<&str> = s.phases.iter().map(|(n, _)| n.as_ref()).collect();
            assert_eq!(names, ["setup", "kernel"]);
            let sum: u64 = s.phases.iter().map(|p| p.1).sum();
            assert!(sum <= s.ns, "phases {sum} ns within the sample's {} ns", s.ns);
            assert_eq!(s.items_ns.len(), 4, "one latency per run");
            assert!(s.items_ns.iter().all(|&x| x > 0.0));
            let kernel = s.phases[1].1 as f64;
            assert!(
                (s.items_ns.iter().sum::<f64>() - kernel).abs() < 1.0,
                "the items are the runs' kernel times"
            );
            totals.push(s.ns as f64);
            phases.push(s.phases.iter().map(|(n, ns)| (n.to_string(), *ns as f64)).collect());
        }
        // What the runner will make of them: setup, kernel and a non-negative remainder.
        let out = PhaseSamples::from_samples(&totals, &phases).unwrap();
        assert_eq!(out.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["setup", "kernel", "other"]);
        let v = session.verify().unwrap();
        assert!(v.passed, "{}", v.detail);
        drop(session);
        assert_eq!(carrying(marker), []);
    });
}

#[test]
fn cancelling_a_sample_returns_at_once_and_ends_the_program() {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    with_session("test-phases", 1_000_000, cancel, |marker, mut session| {
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::Relaxed);
        });
        let asked = Instant::now();
        // Far more runs than 200 ms allow.
        assert_eq!(session.sample(0, 1_000_000), Err(BackendError::Cancelled));
        assert!(asked.elapsed() < Duration::from_secs(2), "{:?}", asked.elapsed());
        setter.join().unwrap();
        drop(session);
        assert_eq!(carrying(marker), []);
    });
}

#[test]
fn test_orphan_leaves_exactly_one_grandchild_carrying_the_case_marker() {
    let marker =
        with_session("test-orphan", 10_000, Arc::new(AtomicBool::new(false)), |marker, mut session| {
            session.sample(0, 2).unwrap();
            assert!(session.verify().unwrap().passed);
            drop(session);
            marker.to_string()
        });
    let left = carrying(&marker);
    // End it before asserting, so a failure leaves nothing behind either.
    for (pid, _) in &left {
        // SAFETY: a plain syscall on a pid just read; at worst it has already exited.
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, "sleep 300");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !carrying(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(carrying(&marker), []);
}

/// Processes carrying the run marker of the `parlab` whose pid was `parent` (its markers are
/// `<pid>-<nanos>`): (pid, command line).
fn carrying_run_marker_of(parent: u32) -> Vec<(u32, String)> {
    let want = format!("{}={parent}-", parlab::marker::ENV);
    parlab::marker::processes_with(|entry| entry.starts_with(want.as_bytes()))
}

const THROUGH_RUN: &str = r#"
[scenario]
name = "backends"
[defaults]
workers = 1
warmup = "0ms"
min_samples = 3
max_samples = 5
[[workload]]
kind = "pi_monte_carlo"
size = 20000
strategies = ["sequential", "test-phases", "test-orphan"]
"#;

#[test]
fn parlab_run_measures_cases_on_the_protocol_backends_and_ends_what_they_leave() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("backends.toml");
    std::fs::write(&scenario, THROUGH_RUN).unwrap();
    let out = dir.path().join("out");
    let exe = assert_cmd::cargo::cargo_bin("parlab");
    let child = std::process::Command::new(exe)
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let parent = child.id();
    let output = child.wait_with_output().unwrap();
    let left = carrying_run_marker_of(parent);
    for (pid, _) in &left {
        // SAFETY: a plain syscall on a pid just read; at worst it has already exited.
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(left, [], "nothing outlives the run");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let cases = results["cases"].as_array().unwrap();
    let case = |strategy: &str| {
        cases.iter().find(|c| c["strategy"] == strategy).unwrap_or_else(|| panic!("no `{strategy}` case"))
    };
    for c in cases {
        assert_eq!(c["status"], "ok", "{c}");
    }
    let phases = case("test-phases");
    let names: Vec<&str> =
        phases["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["setup", "kernel", "other"]);
    assert!(phases["item_latency"].is_object(), "{phases}");
    let orphan = case("test-orphan");
    let notes: Vec<&str> = orphan["notes"].as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    assert!(notes.iter().any(|n| n.contains("left 1 process")), "{notes:?}");
}

/// A host the run did not start on, as its program describes it, reaches `Results::hosts` and the
/// case's placement whether the case ran on a thread or in a case process (whose results come
/// back one case at a time), and `results.jsonl` keeps it for a resumed run.
#[test]
fn a_program_on_another_host_is_listed_under_every_isolation() {
    for isolate in ["thread", "process"] {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("hosts.toml");
        std::fs::write(&scenario, THROUGH_RUN.replace(r#", "test-orphan""#, "")).unwrap();
        let out = dir.path().join("out");
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("parlab"))
            .args(["run", "--isolate", isolate])
            .arg(&scenario)
            .arg("--out")
            .arg(&out)
            .env(parlab::backend::testing::HOSTNAME_ENV, "node-b")
            .output()
            .unwrap();
        assert!(output.status.success(), "{isolate}: {}", String::from_utf8_lossy(&output.stderr));
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
        let hosts: Vec<&str> =
            results["hosts"].as_array().unwrap().iter().map(|h| h["hostname"].as_str().unwrap()).collect();
        assert_eq!(hosts.len(), 2, "{isolate}: {hosts:?}");
        assert_eq!(hosts[1], "node-b", "{isolate}");
        let case =
            results["cases"].as_array().unwrap().iter().find(|c| c["strategy"] == "test-phases").unwrap();
        assert_eq!(case["placement"][0]["host"], "node-b", "{isolate}: {case}");
        let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
        assert!(
            lines.lines().any(|l| l.contains("test-phases") && l.contains(r#""hostname":"node-b""#)),
            "{isolate}"
        );
    }
}
