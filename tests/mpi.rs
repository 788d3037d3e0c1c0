//! The `mpi` strategy through the `parlab` binary and a real `mpirun` (`mpi` builds): every
//! case of a small scenario verifies on 1 and 2 ranks, reports its kernel, communication and
//! other phases and where each rank ran, and leaves no rank or daemon behind; a case that cannot
//! launch is `unavailable`, with the reason.
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_parlab");

const SMALL: &str = r#"
[scenario]
name = "mpi-small"

[defaults]
workers = [1, 2]
warmup = "0ms"
min_samples = 3
max_samples = 4
timeout = "60s"

[[workload]]
kind = "pi_monte_carlo"
size = 200000
strategies = ["sequential", "mpi"]

[[workload]]
kind = "histogram"
size = 100003
params = { bins = 61, skew = 0.25 }
strategies = ["sequential", "mpi"]

[[workload]]
kind = "stencil_heat"
size = 41
params = { iters = 7 }
strategies = ["sequential", "mpi", "mpi-nonblocking"]

[[workload]]
kind = "matmul"
size = 37
strategies = ["sequential", "mpi"]

[[workload]]
kind = "nbody"
size = 53
params = { steps = 3 }
strategies = ["sequential", "mpi"]
"#;

/// The strategies that run on MPI ranks.
const MPI_STRATEGIES: [&str; 2] = ["mpi", "mpi-nonblocking"];

/// Processes carrying the run marker of the `parlab` whose pid was `parent` (its markers are
/// `<pid>-<nanos>`): (pid, command line).
fn carrying_run_marker_of(parent: u32) -> Vec<(u32, String)> {
    let want = format!("{}={parent}-", parlab::marker::ENV);
    parlab::marker::processes_with(|entry| entry.starts_with(want.as_bytes()))
}

/// Runs `parlab run` on `scenario` with `path` as its PATH (the inherited one when `None`);
/// returns its results and whatever still carried its run marker once it ended (killed).
fn run(dir: &Path, scenario: &str, path: Option<&str>) -> (Value, Vec<(u32, String)>) {
    let (results, left, status, stderr) = run_any(dir, scenario, path);
    assert_eq!(status, Some(0), "{stderr}");
    (results, left)
}

/// [`run`], whatever the exit status: also that status and what it said on stderr.
fn run_any(
    dir: &Path,
    scenario: &str,
    path: Option<&str>,
) -> (Value, Vec<(u32, String)>, Option<i32>, String) {
    run_with(dir, scenario, path, &[])
}

/// [`run_any`] with `extra` arguments to `parlab run`.
fn run_with(
    dir: &Path,
    scenario: &str,
    path: Option<&str>,
    extra: &[&str],
) -> (Value, Vec<(u32, String)>, Option<i32>, String) {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = dir.join("out");
    let mut command = Command::new(EXE);
    command
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let child = command.spawn().unwrap();
    let parent = child.id();
    let output = child.wait_with_output().unwrap();
    let left = carrying_run_marker_of(parent);
    for (pid, _) in &left {
        // SAFETY: a plain syscall on a pid just read; at worst it has already exited.
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let results = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("no results ({e}): {stderr}"));
    (serde_json::from_str(&results).unwrap(), left, output.status.code(), stderr)
}

#[test]
fn mpi_cases_verify_with_phases_and_placement_and_leave_no_rank_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (results, left) = run(dir.path(), SMALL, None);
    assert_eq!(left, [], "nothing outlives the run");
    let cases = results["cases"].as_array().unwrap();
    let mut measured = 0;
    for case in cases {
        assert_eq!(case["status"], "ok", "{case}");
        assert_eq!(case["verification"]["passed"], true, "{case}");
        if !MPI_STRATEGIES.contains(&case["strategy"].as_str().unwrap()) {
            continue;
        }
        measured += 1;
        let ranks = case["workers"].as_u64().unwrap();
        // The launch is measured apart from the samples.
        assert!(case["setup_ns"].as_u64().unwrap() > 0, "{case}");
        let names: Vec<&str> =
            case["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["kernel", "communication", "other"], "{case}");
        // Beside each sample (the slowest rank), the mean over ranks: never above it, and on
        // one rank the same region.
        let samples = case["samples_ns"].as_array().unwrap();
        let means = case["rank_mean_ns"].as_array().unwrap_or_else(|| panic!("a mean over ranks: {case}"));
        assert_eq!(means.len(), samples.len(), "{case}");
        for (mean, sample) in means.iter().zip(samples) {
            let (mean, sample) = (mean.as_f64().unwrap(), sample.as_f64().unwrap());
            assert!(mean > 0.0 && mean <= sample + 1.0, "mean {mean} beside sample {sample}: {case}");
            if ranks == 1 {
                assert!(sample - mean <= 1.0, "one rank: mean {mean} is its sample {sample}");
            }
        }
        let placement = case["placement"].as_array().unwrap();
        assert_eq!(placement.len() as u64, ranks, "{case}");
        let mut pids = Vec::new();
        for (r, p) in placement.iter().enumerate() {
            assert_eq!(p["role"], format!("rank {r}"), "{case}");
            assert_eq!(p["host"], results["hosts"][0]["hostname"], "{case}");
            pids.push(p["pid"].as_u64().unwrap());
            assert!(p["cpus"].is_string(), "the binding each rank had: {case}");
        }
        pids.dedup();
        assert_eq!(pids.len() as u64, ranks, "a process per rank: {case}");
        assert!(
            case["verification"]["detail"].as_str().unwrap().contains(&format!("({ranks} ranks)")),
            "{case}"
        );
        // Kernels with a SIMD choice say which one their ranks ran, as threaded cases do.
        if ["pi_monte_carlo", "nbody", "stencil_heat", "matmul"].contains(&case["workload"].as_str().unwrap())
        {
            assert!(case["isa"].as_str().is_some_and(|isa| !isa.is_empty()), "{case}");
        }
    }
    // Five workloads with `mpi`, stencil_heat with `mpi-nonblocking` too, on 1 and 2 ranks.
    assert_eq!(measured, (5 + 1) * 2, "every MPI case ran");
    for (workload, strategy) in
        [("stencil_heat", "mpi"), ("stencil_heat", "mpi-nonblocking"), ("matmul", "mpi"), ("nbody", "mpi")]
    {
        for ranks in [1, 2] {
            assert!(
                cases
                    .iter()
                    .any(|c| c["workload"] == workload && c["strategy"] == strategy && c["workers"] == ranks),
                "{workload} with {strategy} on {ranks} ranks"
            );
        }
    }
}

#[test]
fn an_mpi_case_without_a_launcher_is_unavailable_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A PATH holding nothing: no mpirun to launch the ranks with.
    let empty = dir.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let (results, left) = run(dir.path(), SMALL, Some(empty.to_str().unwrap()));
    assert_eq!(left, []);
    for case in results["cases"].as_array().unwrap() {
        if MPI_STRATEGIES.contains(&case["strategy"].as_str().unwrap()) {
            assert_eq!(case["status"], "unavailable", "{case}");
            assert_eq!(case["reason"], "mpirun not found", "{case}");
        } else {
            assert_eq!(case["status"], "ok", "{case}");
        }
    }
}

#[test]
fn a_workload_without_an_mpi_version_or_this_one_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = r#"
[scenario]
name = "mpi-unsupported"
[defaults]
workers = 2
warmup = "0ms"
min_samples = 2
max_samples = 2
[[workload]]
kind = "stream_triad"
size = 1000
strategies = ["mpi"]
[[workload]]
kind = "matmul"
size = 16
strategies = ["mpi-nonblocking"]
"#;
    let (results, left) = run(dir.path(), scenario, None);
    assert_eq!(left, []);
    let cases = results["cases"].as_array().unwrap();
    let case = cases.iter().find(|c| c["strategy"] == "mpi").expect("an mpi case");
    assert_eq!(case["status"], "unsupported", "{case}");
    assert!(case["reason"].as_str().unwrap().contains("has no MPI version"), "{case}");
    // matmul has an MPI version, but no neighbour messages to overlap.
    let case = cases.iter().find(|c| c["strategy"] == "mpi-nonblocking").expect("an mpi-nonblocking case");
    assert_eq!(case["status"], "unsupported", "{case}");
    assert!(case["reason"].as_str().unwrap().contains("no neighbour messages"), "{case}");
}

/// Sampling that goes on until `max_time` (3 s) or the case's timeout, whichever is first, of
/// runs long enough (some 100 ms in a debug build) that a timeout lands inside one.
fn long_sampling(timeout: &str) -> String {
    format!(
        r#"
[scenario]
name = "mpi-long"
[defaults]
workers = [2]
warmup = "0ms"
min_samples = 3
max_samples = 1000000
max_time = "3s"
target_ci = 0.0001
timeout = "{timeout}"
[[workload]]
kind = "pi_monte_carlo"
size = 10000000
strategies = ["mpi"]
"#
    )
}

/// The pids of this run's ranks (processes carrying its run marker that run `mpi-worker`, but
/// not mpirun, which names it too).
fn ranks_of(parent: u32) -> Vec<u32> {
    carrying_run_marker_of(parent)
        .into_iter()
        .filter(|(_, cmd)| cmd.ends_with(" mpi-worker") && !cmd.contains("mpirun"))
        .map(|r| r.0)
        .collect()
}

#[test]
fn a_rank_killed_while_sampling_fails_its_case_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, long_sampling("60s")).unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(EXE)
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let parent = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ranks = loop {
        let ranks = ranks_of(parent);
        if ranks.len() == 2 || std::time::Instant::now() > deadline {
            break ranks;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(ranks.len(), 2, "the job's two ranks started");
    // Well inside the sampling, which goes on for 3 s.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // SAFETY: a plain syscall on a pid just read, a rank of the run this test started.
    unsafe {
        libc::kill(*ranks.iter().max().unwrap() as i32, libc::SIGKILL);
    }
    let status = child.wait().unwrap();
    let left = carrying_run_marker_of(parent);
    assert_eq!(left, [], "nothing outlives the run");
    assert_eq!(status.code(), Some(1), "a failed case");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let cases = results["cases"].as_array().unwrap();
    let case = cases.iter().find(|c| c["strategy"] == "mpi").expect("an mpi case");
    assert_eq!(case["status"], "error", "{case}");
    let reason = case["reason"].as_str().unwrap();
    assert!(reason.contains("mpirun") && reason.contains("ended without answering"), "{reason}");
}

#[test]
fn a_timed_out_job_is_ended_by_mpirun_with_no_rank_left_to_find() {
    let dir = tempfile::tempdir().unwrap();
    let (results, left, status, stderr) = run_any(dir.path(), &long_sampling("1500ms"), None);
    assert_eq!(left, [], "nothing outlives the run");
    assert_eq!(status, Some(1), "a timed-out case: {stderr}");
    let cases = results["cases"].as_array().unwrap();
    let case = cases.iter().find(|c| c["strategy"] == "mpi").expect("an mpi case");
    assert_eq!(case["status"], "timed_out", "{case}");
    // mpirun ended its ranks on SIGTERM: the runner's scan for the case's marker found none.
    let notes = case["notes"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert!(notes.iter().all(|n| !n.as_str().unwrap_or_default().contains("left")), "{case}");
}

/// `parlab run` on a scenario that is refused before anything runs: its exit code and stderr.
fn refused(dir: &Path, scenario: &str) -> (Option<i32>, String) {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = Command::new(EXE).arg("run").arg(&file).arg("--out").arg(dir.join("out")).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const EXCHANGE_HEAD: &str = r#"
[scenario]
name = "mpi-exchange"
[defaults]
workers = [2]
warmup = "0ms"
min_samples = 2
max_samples = 3
timeout = "60s"
"#;

#[test]
fn mpi_section_errors_exit_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.toml").display().to_string();
    let workload = "[[workload]]\nkind = \"exchange\"\nstrategies = [\"mpi\"]\n";
    // The `[mpi]` body starts on line 11, after the head's ten lines.
    for (body, field, says) in [
        ("launcher = \"mpirum\"", "mpi.launcher", "did you mean `mpirun`?"),
        ("hostfil = \"hosts\"", "mpi.hostfil", "did you mean `hostfile`?"),
        ("hostfile = \"no-such-hosts\"", "mpi.hostfile", "no-such-hosts"),
    ] {
        let (code, stderr) = refused(dir.path(), &format!("{EXCHANGE_HEAD}[mpi]\n{body}\n{workload}"));
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{file}:11:")), "{stderr}");
        assert!(stderr.contains(field) && stderr.contains(says), "{stderr}");
    }
}

#[test]
fn mpiexec_with_a_hostfile_runs_a_sendrecv_exchange_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts"), "localhost slots=2\n").unwrap();
    let scenario = format!(
        "{EXCHANGE_HEAD}[mpi]\nlauncher = \"mpiexec\"\nhostfile = \"hosts\"\n\
         [[workload]]\nkind = \"exchange\"\nsize = [1, 65536, \"2MiB\"]\nstrategies = [\"mpi\"]\n"
    );
    let (results, left) = run(dir.path(), &scenario, None);
    assert_eq!(left, []);
    let hosts = dir.path().join("hosts").display().to_string();
    let mpi: Vec<&Value> =
        results["cases"].as_array().unwrap().iter().filter(|c| c["strategy"] == "mpi").collect();
    assert_eq!(mpi.len(), 3);
    for case in mpi {
        assert_eq!(case["status"], "ok", "{case}");
        let detail = case["verification"]["detail"].as_str().unwrap();
        assert!(detail.contains("each of 2 ranks received its peer's"), "{case}");
        let notes: Vec<&str> = case["notes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let launched = notes.iter().find(|n| n.starts_with("ranks started by")).expect("the launch noted");
        assert!(
            launched.contains("mpiexec -n 2 ") && launched.contains(&format!("--hostfile {hosts}")),
            "{launched}"
        );
        assert!(
            !launched.contains(&format!("{}=", parlab::runner::marker::ENV)),
            "names, not values: {launched}"
        );
        // What of it changes the measurement is part of the case's identity; with a hostfile
        // the slots place the ranks, and parlab adds no binding of its own.
        let launch = case["launch"].as_str().unwrap_or_default();
        assert!(launch.starts_with("mpiexec --hostfile hosts#"), "{case}");
        assert!(!launched.contains("--bind-to"), "{launched}");
    }
}

#[test]
fn head_to_head_blocking_sends_deadlock_time_out_with_a_hint_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = format!(
        "{EXCHANGE_HEAD}[[workload]]\nkind = \"exchange\"\nsize = \"1MiB\"\nparams = {{ order = \"head-to-head\" }}\n\
         strategies = [\"mpi\"]\ntimeout = \"3s\"\n"
    );
    let started = std::time::Instant::now();
    let (results, left, code, stderr) = run_any(dir.path(), &scenario, None);
    assert_eq!(left, [], "no rank or launcher outlives the run");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "the timeout ended it");
    let case = results["cases"].as_array().unwrap().iter().find(|c| c["strategy"] == "mpi").unwrap();
    assert_eq!(case["status"], "timed_out", "{case}");
    let reason = case["reason"].as_str().unwrap();
    assert!(reason.contains("within the case timeout of 3s"), "{reason}");
    assert!(
        reason
            .contains("hint: both ranks send first: order the sends (even ranks send first) or use sendrecv"),
        "{reason}"
    );
    let notes = case["notes"].as_array().unwrap();
    assert!(
        notes.iter().all(|n| !n.as_str().unwrap().contains("left")),
        "the marker scan found none: {case}"
    );
}

#[test]
fn head_to_head_below_the_eager_limits_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = format!(
        "{EXCHANGE_HEAD}[[workload]]\nkind = \"exchange\"\nsize = 4096\nparams = {{ order = \"head-to-head\" }}\n\
         strategies = [\"mpi\"]\n"
    );
    let (code, stderr) = refused(dir.path(), &scenario);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("workload[0].size") && stderr.contains("eager"), "{stderr}");
}

#[test]
fn detect_names_the_mpi_library_and_the_launcher() {
    let out = Command::new(EXE).arg("detect").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("mpi:")).expect("an mpi line");
    let launcher = parlab::subprocess::find_on_path("mpirun").expect("mpirun, as every test here needs");
    assert!(line.contains("MPI"), "the library's own name and version: {line}");
    assert!(line.contains(&format!("launcher {} (", launcher.display())), "{line}");
    let json: Value =
        serde_json::from_slice(&Command::new(EXE).args(["detect", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert!(json["probed"].as_array().unwrap().iter().any(|p| p == "mpi"), "{json}");
    assert!(json["mpi"].as_str().unwrap().contains("MPI"), "{json}");
}

#[test]
fn the_plans_launcher_decides_availability() {
    let dir = tempfile::tempdir().unwrap();
    // A PATH whose only launcher is mpirun: a scenario asking for mpiexec cannot launch.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let mpirun = parlab::subprocess::find_on_path("mpirun").expect("mpirun");
    std::os::unix::fs::symlink(&mpirun, bin.join("mpirun")).unwrap();
    let scenario = format!(
        "{EXCHANGE_HEAD}[mpi]\nlauncher = \"mpiexec\"\n[[workload]]\nkind = \"exchange\"\nsize = 64\nstrategies = [\"mpi\"]\n"
    );
    let (results, left) = run(dir.path(), &scenario, Some(bin.to_str().unwrap()));
    assert_eq!(left, []);
    let case = results["cases"].as_array().unwrap().iter().find(|c| c["strategy"] == "mpi").unwrap();
    assert_eq!(case["status"], "unavailable", "{case}");
    assert_eq!(case["reason"], "mpiexec not found", "{case}");
}

/// A rank that hangs inside the timed region (outside any MPI call, looking at nothing) while
/// the other waits for it in a collective: the case is `timed_out`, the launcher and both ranks
/// are ended, and the run goes on to the next case, which verifies.
#[cfg(feature = "fault-injection")]
#[test]
fn a_rank_hung_inside_a_run_times_its_case_out_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = r#"
[scenario]
name = "mpi-hung-rank"
[defaults]
workers = [2]
warmup = "0ms"
min_samples = 2
max_samples = 3
timeout = "2s"
[[workload]]
kind = "faulty"
size = 1000
params = { fault = 2 }
strategies = ["mpi"]
[[workload]]
kind = "faulty"
size = 1000
params = { fault = 0 }
strategies = ["mpi"]
"#;
    let started = std::time::Instant::now();
    let (results, left, code, stderr) = run_any(dir.path(), scenario, None);
    assert_eq!(left, [], "no rank or launcher outlives the run");
    assert_eq!(code, Some(1), "a timed-out case: {stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "the timeout ended it");
    let mpi: Vec<&Value> =
        results["cases"].as_array().unwrap().iter().filter(|c| c["strategy"] == "mpi").collect();
    assert_eq!(mpi.len(), 2, "{results}");
    let (hung, next) = (mpi[0], mpi[1]);
    assert_eq!(hung["params"]["fault"], 2, "{hung}");
    assert_eq!(hung["status"], "timed_out", "{hung}");
    let reason = hung["reason"].as_str().unwrap();
    assert!(reason.contains("did not finish within the case timeout of 2s"), "{reason}");
    let notes = hung["notes"].as_array().unwrap();
    assert!(
        notes.iter().all(|n| !n.as_str().unwrap().contains("left")),
        "the marker scan found none: {hung}"
    );
    // A timed-out case is the same case as one that finished: its launch is recorded too.
    assert!(hung["launch"].as_str().is_some_and(|l| l.starts_with("mpirun ")), "{hung}");
    assert_eq!(next["params"]["fault"], 0, "{next}");
    assert_eq!(next["status"], "ok", "{next}");
    assert_eq!(next["verification"]["passed"], true, "{next}");
    assert_eq!(next["placement"].as_array().unwrap().len(), 2, "{next}");
}

#[test]
fn every_collective_verifies_on_two_ranks_with_a_time_per_operation() {
    const OPS: [&str; 7] = ["bcast", "scatter", "gather", "allgather", "reduce", "allreduce", "alltoall"];
    const SIZES: [u64; 3] = [4, 4096, 65536];
    let dir = tempfile::tempdir().unwrap();
    // Two ranks, a couple of samples: the same head as the exchange tests.
    let mut scenario = EXCHANGE_HEAD.to_string();
    for op in OPS {
        scenario += &format!(
            "[[workload]]\nkind = \"collectives\"\nsize = {SIZES:?}\n\
             params = {{ op = \"{op}\", iterations = 20 }}\nstrategies = [\"mpi\"]\n"
        );
    }
    let (results, left) = run(dir.path(), &scenario, None);
    assert_eq!(left, [], "no rank or launcher outlives the run");
    let mut rows = Vec::new();
    for case in results["cases"].as_array().unwrap().iter().filter(|c| c["strategy"] == "mpi") {
        assert_eq!(case["status"], "ok", "{case}");
        assert_eq!(case["verification"]["passed"], true, "{case}");
        let op = case["params"]["op"].as_str().unwrap();
        let size = case["size"].as_u64().unwrap();
        let detail = case["verification"]["detail"].as_str().unwrap();
        assert!(detail.starts_with(&format!("{op} of ")) && detail.contains("over 2 ranks"), "{detail}");
        let latency = case["latency_ns"].as_f64().expect("a time per operation");
        let median = case["stats"]["median"].as_f64().unwrap();
        assert!(latency > 0.0 && (latency * 20.0 - median).abs() <= median * 1e-9, "{case}");
        rows.push((op.to_string(), size));
    }
    let mut want: Vec<(String, u64)> =
        OPS.iter().flat_map(|op| SIZES.iter().map(move |&s| (op.to_string(), s))).collect();
    rows.sort();
    want.sort();
    assert_eq!(rows, want, "a row per operation and size");
}

const OSU: &str = r#"
[scenario]
name = "mpi-osu"

[defaults]
workers = [2]
warmup = "0ms"
min_samples = 3
max_samples = 3
timeout = "60s"

[[workload]]
kind = "ping_pong"
size = [1, 8, "64KiB", "4MiB"]
params = { round_trips = 20 }
strategies = ["mpi"]

[[workload]]
kind = "bandwidth"
size = [1, 8, "64KiB", "4MiB"]
# A window of 8, not 64: the test binary is a debug build, and 64 x 4 MiB of messages to build
# and check would take it half a minute.
params = { windows = 2, window = 8 }
strategies = ["mpi"]
"#;

#[test]
fn osu_latency_and_bandwidth_give_a_verified_row_per_size_on_two_ranks_only() {
    let dir = tempfile::tempdir().unwrap();
    let (results, left) = run(dir.path(), OSU, None);
    assert_eq!(left, [], "no rank outlives the run");
    let cases = results["cases"].as_array().unwrap();
    for workload in ["ping_pong", "bandwidth"] {
        let rows: Vec<&Value> =
            cases.iter().filter(|c| c["workload"] == workload && c["strategy"] == "mpi").collect();
        let sizes: Vec<u64> = rows.iter().map(|c| c["size"].as_u64().unwrap()).collect();
        assert_eq!(sizes, [1, 8, 64 << 10, 4 << 20], "a row per size: {workload}");
        for case in rows {
            assert_eq!(case["status"], "ok", "{case}");
            assert_eq!(case["verification"]["passed"], true, "{case}");
            assert!(case["verification"]["detail"].as_str().unwrap().ends_with("(2 ranks)"), "{case}");
            assert!(case["throughput"]["median"].as_f64().unwrap() > 0.0, "{case}");
            // Latency is ping-pong's alone: a window's throughput is not a latency.
            let latency = case["latency_ns"].as_f64();
            if workload == "ping_pong" {
                assert!(latency.is_some_and(|ns| ns > 0.0), "{case}");
            } else {
                assert_eq!(latency, None, "{case}");
            }
        }
    }
    // Any other rank count is refused before anything runs, with the reason.
    for workload in ["ping_pong", "bandwidth"] {
        let scenario = OSU.replace("workers = [2]", "workers = [2, 3]");
        let scenario = scenario.split("[[workload]]").filter(|p| !p.contains("kind") || p.contains(workload));
        let (code, stderr) = refused(dir.path(), &scenario.collect::<Vec<_>>().join("[[workload]]"));
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("workload[0].workers") && stderr.contains("exactly 2 ranks"), "{stderr}");
    }
}

#[test]
fn the_command_line_hostfile_stands_in_for_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts"), "localhost slots=2\n").unwrap();
    let scenario =
        format!("{EXCHANGE_HEAD}[[workload]]\nkind = \"exchange\"\nsize = 4096\nstrategies = [\"mpi\"]\n");
    let hosts = dir.path().join("hosts");
    let (results, left, status, stderr) =
        run_with(dir.path(), &scenario, None, &["--hostfile", hosts.to_str().unwrap()]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(left, []);
    let case = results["cases"].as_array().unwrap().iter().find(|c| c["strategy"] == "mpi").unwrap();
    assert_eq!(case["status"], "ok", "{case}");
    assert!(case["launch"].as_str().unwrap().starts_with("mpirun --hostfile hosts#"), "{case}");
    let notes = case["notes"].to_string();
    assert!(notes.contains(&format!("--hostfile {}", hosts.display())), "{notes}");
}

#[test]
fn a_case_that_times_out_while_starting_is_still_the_same_case_and_the_gate_says_broken() {
    let dir = tempfile::tempdir().unwrap();
    // A measured case beside it, so that the gate has something to compare.
    let body = |timeout: &str| {
        format!(
            "[[workload]]\nkind = \"histogram\"\nsize = 1000\nstrategies = [\"sequential\"]\n\
             [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 100000\nstrategies = [\"mpi\"]\ntimeout = \"{timeout}\"\n"
        )
    };
    let base_dir = dir.path().join("base");
    std::fs::create_dir(&base_dir).unwrap();
    let (base, left) = run(&base_dir, &format!("{EXCHANGE_HEAD}{}", body("60s")), None);
    assert_eq!(left, []);
    // 1 ms: mpirun cannot even start its ranks in that time.
    let cur_dir = dir.path().join("cur");
    std::fs::create_dir(&cur_dir).unwrap();
    let (current, left, status, stderr) = run_any(&cur_dir, &format!("{EXCHANGE_HEAD}{}", body("1ms")), None);
    assert_eq!(left, [], "nothing outlives the run");
    assert_eq!(status, Some(1), "{stderr}");
    let mpi =
        |r: &Value| r["cases"].as_array().unwrap().iter().find(|c| c["strategy"] == "mpi").unwrap().clone();
    let (was, now) = (mpi(&base), mpi(&current));
    assert_eq!(was["status"], "ok", "{was}");
    assert_eq!(now["status"], "timed_out", "{now}");
    assert_eq!(now["launch"], was["launch"], "the launch comes from the plan, not from how the case went");
    let gate = Command::new(EXE)
        .args(["compare"])
        .arg(base_dir.join("out/results.json"))
        .arg(cur_dir.join("out/results.json"))
        .arg("--out")
        .arg(dir.path().join("cmp"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&gate.stdout).into_owned() + &String::from_utf8_lossy(&gate.stderr);
    assert_eq!(gate.status.code(), Some(1), "{said}");
    assert!(said.contains("BROKEN"), "{said}");
}
