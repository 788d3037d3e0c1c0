use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::backend::CASE_MARKER_ENV;
use crate::scenario::{CaseSpec, Scaling};
use crate::strategy::{ExecConfig, StrategyParams};

fn answer_error(line: &str) -> String {
    parse_answer(line.as_bytes()).expect_err(line)
}

#[test]
fn answers_parse_into_their_messages() {
    let ready = r#"{"ready": {"setup_ns": 5, "placement": [{"role": "worker 0", "host": "h", "pid": 7}],
        "host": {"hostname": "h", "cpu": "c", "logical_cpus": 2, "physical_cores": 1}}}"#
        .replace('\n', "");
    let FromProgram::Ready(r) = parse_answer(ready.as_bytes()).unwrap() else { panic!("not ready") };
    assert_eq!((r.setup_ns, r.placement[0].pid, r.placement[0].cpus.as_deref()), (5, Some(7), None));
    assert_eq!(r.isa, None, "a program that names no instruction set still speaks the protocol");
    let with_isa = ready.replace(r#""setup_ns": 5,"#, r#""setup_ns": 5, "isa": "avx2","#);
    let FromProgram::Ready(r) = parse_answer(with_isa.as_bytes()).unwrap() else { panic!("not ready") };
    assert_eq!(r.isa.as_deref(), Some("avx2"));
    // What a Rust program writes reads back the same, and leaves out an isa it does not have.
    let line = serde_json::to_string(&FromProgram::Ready(r.clone())).unwrap();
    assert!(line.contains(r#""isa":"avx2""#), "{line}");
    assert_eq!(parse_answer(line.as_bytes()).unwrap(), FromProgram::Ready(r.clone()));
    let none = serde_json::to_string(&FromProgram::Ready(Ready { isa: None, ..r })).unwrap();
    assert!(!none.contains("isa"), "{none}");
    let sample =
        r#"{"sample": {"ns": 100, "phases": [["setup", 10], ["kernel", 80]], "items_ns": [40.5, 39]}}"#;
    let FromProgram::Sample(s) = parse_answer(sample.as_bytes()).unwrap() else { panic!("not a sample") };
    assert_eq!(s.phases, [("setup".to_string(), 10), ("kernel".to_string(), 80)]);
    assert_eq!(s.items_ns, [40.5, 39.0]);
    assert_eq!(
        parse_answer(br#"{"error": "no such workload"}"#).unwrap(),
        FromProgram::Error("no such workload".into())
    );
    // What the harness sends reads back the same (programs written in Rust use these types).
    let start = ToProgram::Start(Start {
        workload: "pi_monte_carlo".into(),
        strategy: "mpi".into(),
        size: 10,
        params: Params::default(),
        seed: 1,
        workers: 2,
        protocol: VERSION,
    });
    let line = serde_json::to_string(&start).unwrap();
    assert!(line.starts_with(r#"{"start":{"workload":"pi_monte_carlo""#), "{line}");
    assert_eq!(parse_request(line.as_bytes()).unwrap(), start);
    let warmup = serde_json::to_string(&ToProgram::Sample(SampleRequest { index: None, runs: 3 })).unwrap();
    assert_eq!(warmup, r#"{"sample":{"index":null,"runs":3}}"#);
    assert_eq!(serde_json::to_string(&ToProgram::Verify(Verify {})).unwrap(), r#"{"verify":{}}"#);
}

#[test]
fn ready_may_list_every_host_and_a_session_keeps_each_once() {
    // Without `hosts`, as before: the one host.
    let FromProgram::Ready(r) = parse_answer(READY.as_bytes()).unwrap() else { panic!("not ready") };
    assert!(r.hosts.is_empty());
    // With it: rank 0's host first, each other host once.
    let ready = r#"{"ready": {"setup_ns": 3, "placement": [], "host": {"hostname": "a", "cpu": "c", "logical_cpus": 2, "physical_cores": 1},
        "hosts": [{"hostname": "a", "cpu": "c", "logical_cpus": 2, "physical_cores": 1}, {"hostname": "b", "cpu": "d", "logical_cpus": 8, "physical_cores": 4}]}}"#
        .replace('\n', "");
    let FromProgram::Ready(r) = parse_answer(ready.as_bytes()).unwrap() else { panic!("not ready") };
    assert_eq!(r.hosts.iter().map(|h| h.hostname.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let script = format!("read start; echo '{ready}'; read end");
    with_job(Arc::new(AtomicBool::new(false)), |job| {
        let session = start(sh(&script), "the script", &job, quick()).unwrap();
        let hosts = session.hosts();
        assert_eq!(hosts.iter().map(|h| h.hostname.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((hosts[1].cpu.as_str(), hosts[1].logical_cpus, hosts[1].physical_cores), ("d", 8, 4));
        assert_eq!(session.host().unwrap().hostname, "a");
    });
    // Every listed host is checked like `host`.
    let bad = ready.replace(r#""hostname": "b""#, r#""hostname": """#);
    assert!(answer_error(&bad).contains("at least one CPU"), "{bad}");
}

#[test]
fn malformed_answers_are_refused_with_the_reason() {
    let e = answer_error("{\"sample\": {\"ns\": 1,");
    assert!(e.contains("EOF") && e.contains("in `{\"sample\""), "{e}");
    let e = answer_error(r#"{"sample": {"ns": 1, "phases": [], "items_ns": [], "extra": 1}}"#);
    assert!(e.contains("unknown field `extra`"), "{e}");
    let e = answer_error(r#"{"samples": {"ns": 1, "phases": [], "items_ns": []}}"#);
    assert!(e.contains("unknown variant `samples`"), "{e}");
    let e = answer_error(r#"{"error": "a", "sample": {"ns": 1, "phases": [], "items_ns": []}}"#);
    assert!(!e.is_empty());
    let e = answer_error(r#"{"sample": {"ns": -1, "phases": [], "items_ns": []}}"#);
    assert!(e.contains("invalid value: integer `-1`"), "{e}");
    let e = answer_error(r#"{"sample": {"ns": 1.5, "phases": [], "items_ns": []}}"#);
    assert!(e.contains("invalid type: floating point"), "{e}");
    let e = answer_error(r#"{"sample": {"ns": 10, "phases": [["a b", 1]], "items_ns": []}}"#);
    assert!(e.contains("phase name `a b`"), "{e}");
    let e = answer_error(r#"{"sample": {"ns": 10, "phases": [], "items_ns": [-3]}}"#);
    assert!(e.contains("an item latency of -3 ns"), "{e}");
    let many = format!(
        r#"{{"sample": {{"ns": 10, "phases": [], "items_ns": [{}]}}}}"#,
        vec!["1"; MAX_ITEMS + 1].join(",")
    );
    assert!(answer_error(&many).contains("item latencies, more than"));
    let e = answer_error(
        r#"{"ready": {"setup_ns": 0, "placement": [], "host": {"hostname": "", "cpu": "", "logical_cpus": 0, "physical_cores": 0}}}"#,
    );
    assert!(e.contains("at least one CPU"), "{e}");
    let ready_with = |isa: &str| {
        format!(
            r#"{{"ready": {{"setup_ns": 0, "placement": [], "isa": {isa}, "host": {{"hostname": "h", "cpu": "", "logical_cpus": 1, "physical_cores": 1}}}}}}"#
        )
    };
    let e = answer_error(&ready_with(r#""avx 2""#));
    assert!(e.contains("instruction set `avx 2`"), "{e}");
    assert!(answer_error(&ready_with(r#""""#)).contains("instruction set ``"));
    assert!(answer_error(&ready_with("2")).contains("invalid type: integer"));
    let e = answer_error(&ready_with(r#""avx2", "isas": []"#));
    assert!(e.contains("unknown field `isas`"), "unknown fields are still refused: {e}");
    let long = format!(r#"{{"error": "{}"}}"#, "x".repeat(MAX_LINE));
    let e = answer_error(&long);
    assert!(e.contains("more than the 1048576 allowed"), "{e}");
    let e = parse_request(
        br#"{"start": {"workload": "w", "strategy": "s", "size": 1, "params": {}, "seed": 1, "workers": 1}}"#,
    )
    .unwrap_err();
    assert!(e.contains("missing field `protocol`"), "{e}");
}

#[test]
fn read_line_bounds_lines_and_notices_a_cut_one() {
    let mut input = &b"{\"verify\": {}}\nrest"[..];
    assert_eq!(read_line(&mut input).unwrap().unwrap(), b"{\"verify\": {}}");
    assert!(read_line(&mut input).unwrap_err().contains("middle of a line"));
    assert_eq!(read_line(&mut &b""[..]).unwrap(), None);
    let long = vec![b'a'; MAX_LINE + 10];
    assert!(read_line(&mut &long[..]).unwrap_err().contains("longer than"));
}

/// A case job for `pi_monte_carlo` at a small size, with a marker of its own.
fn with_job<R>(cancel: Arc<AtomicBool>, f: impl FnOnce(CaseJob<'_>) -> R) -> R {
    let spec = CaseSpec {
        id: 0,
        workload_index: 0,
        workload: "pi_monte_carlo".into(),
        strategy: "sequential".into(),
        workers: 1,
        size: 1000,
        effective_size: 1000,
        scaling: Scaling::Strong,
        seed: 7,
        tunables: StrategyParams::default(),
        notes: Vec::new(),
        device: None,
    };
    let workload = crate::workload::find("pi_monte_carlo").unwrap();
    let params = crate::workload::default_params(workload);
    let instance: Arc<dyn crate::workload::Instance> = workload.prepare(1000, &params, 7).unwrap().into();
    let marker = format!("protocol-test-{}-{:?}", std::process::id(), std::thread::current().id());
    f(CaseJob {
        spec: &spec,
        params: &params,
        seed: 7,
        strategy: crate::strategy::find("sequential").unwrap(),
        config: ExecConfig { workers: 1, params: StrategyParams::default(), cancel },
        instance: &*instance,
        clock: Arc::new(crate::clock::RealClock),
        marker: (CASE_MARKER_ENV, marker),
        mpi: Default::default(),
    })
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

const READY: &str = r#"{"ready": {"setup_ns": 3, "placement": [{"role": "rank 0", "host": "h", "pid": 1}], "host": {"hostname": "h", "cpu": "c", "logical_cpus": 1, "physical_cores": 1}}}"#;

fn quick() -> Waits {
    Waits {
        ready: Duration::from_secs(10),
        answer: Duration::from_secs(10),
        exit: Duration::from_millis(200),
        term: Duration::ZERO,
    }
}

/// Processes carrying the case marker `value`.
fn carrying(value: &str) -> Vec<u32> {
    crate::marker::survivors(CASE_MARKER_ENV, value).into_iter().map(|(pid, _)| pid).collect()
}

#[test]
fn a_program_that_answers_is_driven_through_a_case_and_its_group_ended() {
    // Answers every request in turn, and leaves a sleeper in its own group, which drop kills.
    let script = format!(
        r#"sleep 300 </dev/null >/dev/null 2>&1 &
read start; case "$start" in *'"protocol":1'*) ;; *) exit 9;; esac
echo '{}'
read s; echo '{{"sample": {{"ns": 100, "phases": [["kernel", 60]], "items_ns": [30, 30]}}}}'
read v; echo '{{"verification": {{"passed": true, "detail": "fine"}}}}'
read end; exit 0"#,
        READY.replace(r#""setup_ns": 3,"#, r#""setup_ns": 3, "isa": "avx2","#)
    );
    with_job(Arc::new(AtomicBool::new(false)), |job| {
        let marker = job.marker.1.clone();
        let mut session = start(sh(&script), "the script", &job, quick()).unwrap();
        assert!(session.setup_ns() > 0);
        assert_eq!(session.program_setup_ns(), 3);
        assert_eq!(session.host().unwrap().hostname, "h");
        assert_eq!(session.placement()[0].role, "rank 0");
        assert_eq!(Session::isa(&session), Some("avx2"), "as its `ready` named it");
        let s = session.sample(0, 2).unwrap();
        assert_eq!((s.ns, s.phases.len(), s.items_ns.len()), (100, 1, 2));
        assert_eq!(s.phases[0].0, "kernel");
        let v = session.verify().unwrap();
        assert!(v.passed && v.detail == "fine");
        assert_eq!(carrying(&marker).len(), 2, "the shell and its sleeper carry the marker");
        drop(session);
        assert_eq!(carrying(&marker), Vec::<u32>::new());
    });
}

#[test]
fn a_program_is_sent_sigterm_before_its_group_is_killed_only_where_asked() {
    // Like mpirun: its child runs outside its group, it ends that child on SIGTERM, and it does
    // not stop at the end of its input.
    let script = format!(
        r#"setsid sleep 300 </dev/null >/dev/null 2>&1 &
kid=$!
trap 'kill $kid; exit 0' TERM
read start
echo '{READY}'
while :; do sleep 0.02; done"#
    );
    for term in [Duration::from_secs(5), Duration::ZERO] {
        with_job(Arc::new(AtomicBool::new(false)), |job| {
            let marker = job.marker.1.clone();
            let session = start(sh(&script), "the script", &job, Waits { term, ..quick() }).unwrap();
            // The shell, its child, and now and then the loop's `sleep` (each in turn between
            // fork and exec, where its environment cannot be read for a moment).
            let deadline = Instant::now() + Duration::from_secs(5);
            while carrying(&marker).len() < 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(carrying(&marker).len() >= 2, "the shell and its child carry the marker");
            drop(session);
            // The program's own SIGTERM to its child is delivered, not waited for: give the
            // child a moment to die (a loaded machine may not run it at once).
            let mut left = carrying(&marker);
            let deadline = Instant::now() + Duration::from_secs(3);
            while !term.is_zero() && !left.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                left = carrying(&marker);
            }
            for pid in &left {
                // SAFETY: a plain syscall on a pid just read; at worst it has already exited.
                unsafe {
                    libc::kill(*pid as i32, libc::SIGKILL);
                }
            }
            if term.is_zero() {
                assert_eq!(left.len(), 1, "SIGKILL to the group leaves the child outside it");
            } else {
                assert_eq!(left, Vec::<u32>::new(), "the program ended its child on SIGTERM");
            }
        });
    }
}

fn failure(script: &str) -> BackendError {
    with_job(Arc::new(AtomicBool::new(false)), |job| match start(sh(script), "the script", &job, quick()) {
        Ok(mut s) => s.sample(0, 1).expect_err("the script breaks the protocol"),
        Err(e) => e,
    })
}

#[test]
fn a_program_that_fails_or_breaks_the_protocol_fails_the_case_with_its_words() {
    let e = failure("read l; echo 'cannot find numpy' >&2; exit 3").to_string();
    assert!(
        e.contains("the script ended without answering (exit code 3); it said: cannot find numpy"),
        "{e}"
    );
    let e = failure(r#"read l; echo '{"sample": {"ns": 1, "phases": [], "items_ns": []}}'"#).to_string();
    assert!(e.contains("answered `sample` where `ready` was due"), "{e}");
    let e = failure(&format!("read l; echo '{READY}'; read l; echo '{READY}'")).to_string();
    assert!(e.contains("answered `ready` where `sample` was due"), "{e}");
    let e = failure(r#"read l; echo '{"error": "no such workload"}'"#).to_string();
    assert!(e.contains("the script reported an error: no such workload"), "{e}");
    let e = failure(r#"read l; echo '{"ready": {"setup_ns": 1}}'"#).to_string();
    assert!(e.contains("broke the protocol: the script: missing field `placement`"), "{e}");
    let e = failure(&format!(
        r#"read l; echo '{READY}'; read l; echo '{{"sample": {{"ns": 0, "phases": [], "items_ns": []}}}}'"#
    ))
    .to_string();
    assert!(e.contains("timed 1 runs as 0 ns"), "{e}");
    let e = failure("head -c 2000000 /dev/zero | tr '\\0' a; sleep 5").to_string();
    assert!(e.contains("sent a line longer than 1048576 bytes"), "{e}");
    let e = failure("read l; kill -9 $$").to_string();
    assert!(e.contains("ended without answering (killed by signal 9)"), "{e}");
    let Err(BackendError::Setup { why, .. }) = with_job(Arc::new(AtomicBool::new(false)), |job| {
        start(Command::new("/nonexistent/program"), "it", &job, quick()).map(drop)
    }) else {
        panic!("a missing program starts nothing")
    };
    assert!(why.contains("cannot start it"), "{why}");
}

#[test]
fn a_silent_program_is_given_up_on_at_its_wait_or_at_cancellation() {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    with_job(cancel, |job| {
        let marker = job.marker.1.clone();
        let mut session =
            start(sh(&format!("read l; echo '{READY}'; sleep 300")), "it", &job, quick()).unwrap();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            flag.store(true, Ordering::Relaxed);
        });
        let asked = Instant::now();
        assert_eq!(session.sample(0, 1), Err(BackendError::Cancelled));
        assert!(asked.elapsed() < Duration::from_secs(2), "{:?}", asked.elapsed());
        setter.join().unwrap();
        let dropped = Instant::now();
        drop(session);
        assert!(dropped.elapsed() < Duration::from_secs(1), "a busy program is killed at once");
        assert!(carrying(&marker).is_empty());
    });
    with_job(Arc::new(AtomicBool::new(false)), |job| {
        let waits = Waits { ready: Duration::from_millis(200), ..quick() };
        let e = start(sh("sleep 300"), "it", &job, waits).map(drop).unwrap_err().to_string();
        assert!(e.contains("it did not answer within 200ms"), "{e}");
    });
}

#[test]
fn a_program_that_stops_reading_cannot_hang_the_case() {
    // Reads `start`, then answers every sample without ever reading again: the requests fill
    // its stdin (64 KiB), and the next write must wait on the cancellation flag, not block.
    let sample = r#"{"sample": {"ns": 100, "phases": [], "items_ns": []}}"#;
    let script = format!("read l; echo '{READY}'; while :; do echo '{sample}'; done");
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    with_job(cancel, |job| {
        let marker = job.marker.1.clone();
        let mut session = start(sh(&script), "it", &job, quick()).unwrap();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            flag.store(true, Ordering::Relaxed);
        });
        let asked = Instant::now();
        let outcome = loop {
            match session.sample(0, 1) {
                Ok(_) => assert!(asked.elapsed() < Duration::from_secs(5), "never cancelled"),
                Err(e) => break e,
            }
        };
        assert_eq!(outcome, BackendError::Cancelled);
        assert!(asked.elapsed() < Duration::from_secs(2), "{:?}", asked.elapsed());
        setter.join().unwrap();
        drop(session);
        assert!(carrying(&marker).is_empty());
    });
}

#[test]
fn phases_larger_than_their_sample_are_refused_at_once() {
    let e = answer_error(r#"{"sample": {"ns": 100, "phases": [["a", 60], ["b", 60]], "items_ns": []}}"#);
    assert!(e.contains("phases add up to 120 ns"), "{e}");
    // A nanosecond of rounding per phase is allowed.
    assert!(
        parse_answer(br#"{"sample": {"ns": 100, "phases": [["a", 51], ["b", 51]], "items_ns": []}}"#).is_ok()
    );
}

#[test]
fn a_mean_over_ranks_is_optional_and_at_most_the_sample() {
    let FromProgram::Sample(s) =
        parse_answer(br#"{"sample": {"ns": 100, "phases": [], "items_ns": [], "rank_mean_ns": 80}}"#)
            .unwrap()
    else {
        panic!("not a sample")
    };
    assert_eq!(s.rank_mean_ns, Some(80));
    let FromProgram::Sample(s) =
        parse_answer(br#"{"sample": {"ns": 100, "phases": [], "items_ns": []}}"#).unwrap()
    else {
        panic!("not a sample")
    };
    assert_eq!(s.rank_mean_ns, None, "programs on one process say nothing of ranks");
    let e = answer_error(r#"{"sample": {"ns": 100, "phases": [], "items_ns": [], "rank_mean_ns": 150}}"#);
    assert!(e.contains("mean over ranks is 150 ns"), "{e}");
}
