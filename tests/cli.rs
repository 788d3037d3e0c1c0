//! The `parlab` binary driven as a user would, in a temporary folder.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn parlab() -> Command {
    Command::cargo_bin("parlab").expect("binary built")
}

const TINY: &str = r#"
[scenario]
name = "tiny"
description = "every workload and strategy at tiny sizes"

[defaults]
workers = [1, 2]
warmup = "0ms"
min_samples = 3
max_samples = 4
timeout = "20s"

[[workload]]
kind = "pi_monte_carlo"
size = 20000

[[workload]]
kind = "mandelbrot"
size = 32

[[workload]]
kind = "stream_triad"
size = 4096

[[workload]]
kind = "matmul"
size = 24

[[workload]]
kind = "empty"
size = 2
"#;

#[test]
fn run_writes_valid_results_that_all_verify() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("speedup").and(predicate::str::contains("results.json")));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["schema_version"], 3);
    assert_eq!(results["complete"], true);
    assert_eq!(results["scenario"]["name"], "tiny");
    assert!(results["machine"]["logical_cpus"].as_u64().unwrap() >= 1);
    let cases = results["cases"].as_array().unwrap();
    // At least 5 workloads x (sequential + the 4 data-parallel strategies x 2 worker counts).
    assert!(cases.len() >= 5 * 9, "{} cases", cases.len());
    let not_run = |c: &&Value| c["status"] == "unsupported" || c["status"] == "unavailable";
    let measured: Vec<&Value> = cases.iter().filter(|c| !not_run(c)).collect();
    for c in cases.iter().filter(not_run) {
        assert!(c["reason"].as_str().is_some_and(|r| !r.is_empty()), "{c}");
        // Only MPI, OpenCL and CUDA depend on the build and the machine (the feature, a
        // launcher on PATH, a driver, a device).
        if c["status"] == "unavailable" {
            assert!(
                ["mpi", "mpi-nonblocking", "opencl", "opencl-tiled", "opencl-f32", "cuda", "cuda-tiled"]
                    .contains(&c["strategy"].as_str().unwrap()),
                "{c}"
            );
        }
    }
    assert!(measured.len() >= 5 * 9);
    for c in measured {
        assert_eq!(c["status"], "ok", "{c}");
        assert_eq!(c["verification"]["passed"], true, "{c}");
        let n = c["samples_ns"].as_array().unwrap().len();
        assert!((3..=4).contains(&n), "{n} samples");
        assert!(c["stats"]["median"].as_f64().unwrap() > 0.0);
    }
    // Every finished case was also appended to the JSON Lines log as it finished.
    let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), cases.len());
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("## matmul") && md.contains("| workload | strategy |"));
}

#[cfg(not(feature = "mpi"))]
#[test]
fn without_the_mpi_feature_mpi_cases_are_unavailable_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("mpi.toml");
    std::fs::write(
        &scenario,
        r#"
[scenario]
name = "no-mpi"
[defaults]
workers = 2
warmup = "0ms"
min_samples = 2
max_samples = 2
[[workload]]
kind = "pi_monte_carlo"
size = 1000
strategies = ["sequential", "mpi"]
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("built without the mpi feature"));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let cases = results["cases"].as_array().unwrap();
    let mpi = cases.iter().find(|c| c["strategy"] == "mpi").expect("an mpi case");
    assert_eq!(mpi["status"], "unavailable", "{mpi}");
    assert_eq!(mpi["reason"], "built without the mpi feature", "{mpi}");
    parlab().arg("list").assert().success().stdout(predicate::str::contains("mpi"));
}

#[test]
fn a_bad_scenario_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.toml");
    std::fs::write(&scenario, "[scenario]\nname = \"bad\"\n\n[[workload]]\nkind = \"mandlebrot\"\n").unwrap();
    parlab().current_dir(dir.path()).args(["run", "bad.toml"]).assert().code(2).stderr(
        predicate::str::contains("bad.toml:5:8")
            .and(predicate::str::contains("workload[0].kind"))
            .and(predicate::str::contains("did you mean `mandelbrot`?")),
    );
    assert!(!dir.path().join("reports").exists(), "nothing is measured or written on bad input");
}

#[test]
fn a_missing_scenario_file_exits_2() {
    parlab()
        .args(["run", "/nonexistent/x.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/x.toml"));
}

#[test]
fn list_shows_workloads_and_strategies_but_no_test_workloads() {
    parlab().arg("list").assert().success().stdout(
        predicate::str::contains("pi_monte_carlo")
            .and(predicate::str::contains("stream_triad"))
            .and(predicate::str::contains("threads-dynamic"))
            .and(predicate::str::contains("available"))
            .and(predicate::str::contains("faulty").not()),
    );
}

#[test]
fn detect_names_its_source() {
    parlab().arg("detect").assert().success().stdout(
        predicate::str::contains("logical cpus")
            .and(predicate::str::is_match("source: +(sysfs|hwloc)").unwrap())
            // A build without a GPU probe must say so, not claim there are none; an `opencl`
            // build lists what the loader offers, one `device:` line each (tests/opencl.rs and
            // machine::opencl check the fields). MPI is probed only in `mpi` builds
            // (tests/mpi.rs checks what the probe finds).
            .and(
                predicate::str::is_match(if cfg!(feature = "opencl") {
                    r"gpus: +(none found|.+ \(opencl, )"
                } else {
                    "gpus: +not probed"
                })
                .unwrap(),
            )
            .and(
                predicate::str::is_match(if cfg!(feature = "mpi") {
                    "mpi: +[^n]"
                } else {
                    r"mpi: +not probed \(built without the mpi feature\)"
                })
                .unwrap(),
            ),
    );
    let out = parlab().args(["detect", "--json"]).output().unwrap();
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(m["physical_cores"].as_u64().unwrap() >= 1);
}

#[test]
fn dry_run_validates_without_measuring() {
    parlab()
        .args(["run", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scenario `quick` is valid"));
}

/// Needs the test-only `faulty` workload: `cargo test --features fault-injection`.
#[cfg(feature = "fault-injection")]
#[test]
fn panics_and_hangs_do_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("faulty.toml");
    std::fs::write(
        &scenario,
        r#"
[scenario]
name = "faulty"
[defaults]
workers = 2
warmup = "0ms"
min_samples = 2
max_samples = 3
timeout = "500ms"
[[workload]]
kind = "faulty"
size = 100
params = { fault = 1 }
strategies = ["threads"]
[[workload]]
kind = "faulty"
size = 100
params = { fault = 2 }
strategies = ["threads-dynamic"]
[[workload]]
kind = "faulty"
size = 100
params = { fault = 3 }
strategies = ["rayon"]
[[workload]]
kind = "pi_monte_carlo"
size = 1000
strategies = ["threads"]
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    parlab()
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("panicked").and(predicate::str::contains("timed out")))
        .stderr(predicate::str::contains("3 case(s) failed"));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let status: Vec<&str> =
        results["cases"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["ok", "panicked", "ok", "timed_out", "ok", "failed_verification", "ok", "ok"]);
    let wrong = &results["cases"][5];
    assert!(wrong["speedup"].is_null(), "a wrong answer gets no speedup");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("FAILED verification"));
}

#[test]
fn ctrl_c_keeps_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("long.toml");
    // Long enough that the interrupt lands mid-run: each case samples for up to 2 s. The scalar
    // loop: unoptimised (debug) builds run the SIMD intrinsics out of line, far slower.
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"long\"\n[defaults]\nworkers = [1, 2]\nwarmup = \"0ms\"\nmin_samples = 1000\n\
         max_samples = 1000\nmax_time = \"2s\"\n[[workload]]\nkind = \"pi_monte_carlo\"\nsize = 200000\n\
         params = { simd = \"scalar\" }\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_parlab"))
        .args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first case has finished, then interrupt.
    let log = out.join("results.jsonl");
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(true, |s| s.lines().count() < 1) {
        assert!(start.elapsed().as_secs() < 60, "no case finished within a minute");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let code = child.wait().unwrap();
    assert_eq!(code.code(), Some(130));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["complete"], false);
    let cases = results["cases"].as_array().unwrap();
    assert!(!cases.is_empty() && cases.len() < 9, "{} cases", cases.len());
    assert_eq!(cases[0]["status"], "ok");
    let status: Vec<&str> = cases.iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(status.last(), Some(&"interrupted"), "the case in flight is marked: {status:?}");
}

/// The binary's main job on synthetic machines (`PARLAB_MACHINE_ROOT`): the built-in scenario is
/// never refused, whatever the cache and memory, and the triad's cases carry the STREAM note
/// where the rule cannot be met.
#[test]
fn the_builtin_scenario_is_accepted_on_small_and_large_machines() {
    for (llc, gib) in [(8u64 << 20, 2u64), (8 << 20, 64), (260 << 20, 2), (260 << 20, 64)] {
        let root = tempfile::tempdir().unwrap();
        parlab::machine::fixture::Synthetic::new(llc, gib << 30).write(root.path()).unwrap();
        let out =
            parlab().env(parlab::machine::ROOT_ENV, root.path()).args(["run", "--dry-run"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{llc} B LLC, {gib} GiB: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("scenario `quick` is valid"), "{stdout}");
        let stream_note = stdout.contains("STREAM's rule is not met");
        assert_eq!(stream_note, llc == 260 << 20 && gib == 2, "{llc} B LLC, {gib} GiB: {stdout}");
    }
}

#[test]
fn an_output_folder_that_cannot_be_made_is_an_internal_error_not_a_failed_case() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    parlab()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(blocked.join("out"))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("internal error"));
}

/// The issue's reproductions through the binary: each aborted, hung or ran unbounded before;
/// each is now exit 2 with file, line, column, field and the limit, before anything runs.
#[test]
fn the_reproductions_exit_2_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("workers = \"1..=1000000000\"", "`workload[0].workers`", "between 1 and 4096"),
        ("workers = [1000000000]", "`workload[0].workers`", "between 1 and 4096"),
        ("workers = 5000\nstrategies = [\"process\"]", "`workload[0].workers`", "between 1 and 4096"),
        ("max_samples = 1_000_000_000_000", "`workload[0].max_samples`", "between 1 and 1000000"),
        ("timeout = \"400000000000y\"", "`workload[0].timeout`", "limit of 24h"),
        ("size = \"18446744073709551616\"", "`workload[0].size`", "too large"),
    ];
    for (i, (line, field, limit)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("r{i}.toml"));
        std::fs::write(
            &path,
            format!("[scenario]\nname = \"r\"\n[[workload]]\nkind = \"pi_monte_carlo\"\n{line}\n"),
        )
        .unwrap();
        parlab().arg("run").arg(&path).arg("--out").arg(dir.path().join("out")).assert().code(2).stderr(
            predicate::str::contains(format!("r{i}.toml:5:"))
                .and(predicate::str::contains(*field))
                .and(predicate::str::contains(*limit)),
        );
    }
    // `spin` with 10G tasks under rayon: 240 GB of result slots on a 2 GiB machine.
    let root = tempfile::tempdir().unwrap();
    parlab::machine::fixture::Synthetic::new(8 << 20, 2 << 30).write(root.path()).unwrap();
    let path = dir.path().join("spin.toml");
    std::fs::write(
        &path,
        "[scenario]\nname = \"s\"\n[[workload]]\nkind = \"spin\"\nsize = \"10G\"\nstrategies = [\"rayon\"]\n",
    )
    .unwrap();
    parlab()
        .env(parlab::machine::ROOT_ENV, root.path())
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("spin.toml:5:").and(predicate::str::contains("`rayon` with")));
    assert!(!dir.path().join("out").exists(), "nothing ran, nothing was written");
}

/// A valid plan for the real machine, as JSON: what `--resume` and a case process read back.
fn plan_json() -> Value {
    let text = "[scenario]\nname = \"r\"\n[defaults]\nworkers = 1\nwarmup = \"0ms\"\nmin_samples = 2\n\
                max_samples = 3\n[[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\nstrategies = []\n";
    let plan = parlab::scenario::parse("r.toml", text, &parlab::machine::Machine::detect()).unwrap();
    serde_json::to_value(plan).unwrap()
}

/// `parlab run SCENARIO --out OUT --resume` exits 2, blaming `resume-plan.json` and `field`.
fn resume_is_refused(scenario: &std::path::Path, out: &std::path::Path, field: &str) {
    parlab()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("--resume")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("resume-plan.json").and(predicate::str::contains(field)));
}

/// `run --resume` reads `resume-plan.json` from the folder it is given: a plan past the limits
/// (edited, or left by another parlab) is bad input, before anything runs, where it aborted
/// (`max_samples` of 10^12), panicked (a timeout of 10^18 s) or panicked on an unknown workload.
#[test]
fn a_resume_plan_past_the_limits_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("r.toml");
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"r\"\n[[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\n",
    )
    .unwrap();
    let edits: [(&str, Value, &str); 3] = [
        ("max_samples", Value::from(1_000_000_000_000u64), "workload[0].max_samples: must be between"),
        ("timeout", Value::from(1e18), "workload[0].timeout: "),
        ("kind", Value::from("warp_drive"), "workload[0].kind: unknown workload"),
    ];
    for (key, value, field) in edits {
        let out = dir.path().join(format!("out-{key}"));
        std::fs::create_dir_all(&out).unwrap();
        let mut plan = plan_json();
        match key {
            "kind" => plan["workloads"][0]["kind"] = value,
            _ => plan["workloads"][0]["settings"][key] = value,
        }
        std::fs::write(out.join("resume-plan.json"), plan.to_string()).unwrap();
        resume_is_refused(&scenario, &out, field);
        assert!(!out.join("results.jsonl").exists(), "{key}: nothing ran");
    }
}

/// A resume plan is held to the memory its cases need, as a scenario is when parsed: a size
/// whose input cannot be allocated is bad input naming the size, where it aborted parlab
/// (`vec![0.0; 10^15]`, SIGABRT).
#[test]
fn a_resume_plan_past_the_memory_exits_2_naming_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[scenario]\nname = \"r\"\n[defaults]\nworkers = 1\nwarmup = \"0ms\"\nmin_samples = 2\n\
                max_samples = 3\n[[workload]]\nkind = \"stream_triad\"\nsize = 1000\nstrategies = []\n";
    let scenario = dir.path().join("r.toml");
    std::fs::write(&scenario, text).unwrap();
    let plan = parlab::scenario::parse("r.toml", text, &parlab::machine::Machine::detect()).unwrap();
    let mut plan = serde_json::to_value(plan).unwrap();
    plan["workloads"][0]["sizes"] = serde_json::json!([parlab::scenario::limits::MAX_SIZE]);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("resume-plan.json"), plan.to_string()).unwrap();
    // As an earlier process leaves it before its first case ends: else the run stops there.
    std::fs::write(out.join("results.jsonl"), "").unwrap();
    resume_is_refused(&scenario, &out, "workload[0].size: size 1000000000000000 needs");
    assert_eq!(std::fs::read_to_string(out.join("results.jsonl")).unwrap(), "", "nothing ran");
}

/// Input files are read only if they are regular and at most a limit: `/dev/zero` as a
/// scenario is refused at once, where it was read until the allocator aborted.
#[test]
fn an_endless_device_as_the_scenario_exits_2_at_once() {
    let started = std::time::Instant::now();
    parlab()
        .args(["run", "/dev/zero", "--dry-run"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/dev/zero").and(predicate::str::contains("not a regular file")));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

/// `report` reads results only from a regular file of at most 1 GiB: a folder is bad input.
#[test]
fn a_folder_as_the_results_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    parlab()
        .arg("report")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a folder, not a regular file"));
}

/// The hidden `case-child` subcommand holds the plan on its stdin to the same limits.
#[test]
fn a_case_process_refuses_a_plan_past_the_limits() {
    use std::io::Write;
    let mut plan = plan_json();
    plan["workloads"][0]["settings"]["max_samples"] = Value::from(1_000_000_000_000u64);
    let request = serde_json::json!({ "plan": plan, "case": 0, "align_offset": 0, "grace_ms": 100 });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_parlab"))
        .arg("case-child")
        // As parlab starts it: the child checks that this process is its parent.
        .env("PARLAB_CASE_PARENT", std::process::id().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("workload[0].max_samples"), "{stderr}");
}

/// A case process checks its own case's workload and size, not the whole plan: another
/// workload's size that does not fit the memory available now must not fail a small case.
#[test]
fn a_case_process_checks_only_its_own_case() {
    use std::io::Write;
    let mut plan = plan_json();
    let mut huge = plan["workloads"][0].clone();
    huge["kind"] = Value::from("stream_triad");
    huge["params"] = serde_json::json!({"scalar": 3.0, "simd": "auto"});
    huge["sizes"] = serde_json::json!([parlab::scenario::limits::MAX_SIZE]);
    plan["workloads"].as_array_mut().unwrap().push(huge);
    let request = serde_json::json!({ "plan": plan, "case": 0, "align_offset": 0, "grace_ms": 100 });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_parlab"))
        .arg("case-child")
        .env("PARLAB_CASE_PARENT", std::process::id().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"status\":\"ok\""), "{stderr}");
}

#[test]
fn a_bad_command_line_hostfile_exits_2_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    parlab()
        .current_dir(dir.path())
        .args(["run", "--hostfile", "/nonexistent/hosts"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--hostfile: cannot use `/nonexistent/hosts` as a hostfile"));
    // Slurm's allocation names the hosts: a hostfile beside `srun` is refused.
    std::fs::write(dir.path().join("hosts"), "localhost slots=2\n").unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "[scenario]\nname = \"s\"\n[mpi]\nlauncher = \"srun\"\n[[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\n",
    )
    .unwrap();
    parlab()
        .current_dir(dir.path())
        .args(["run", "s.toml", "--hostfile", "hosts"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--hostfile: `srun` takes its hosts from the Slurm allocation"));
    assert!(!dir.path().join("reports").exists(), "nothing is measured or written on bad input");
}
