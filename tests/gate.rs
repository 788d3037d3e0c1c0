//! The regression gate from the command line: `compare` exit codes on fixtures, and
//! `import-criterion` on a small criterion output folder.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lab.json");

fn parlab() -> Command {
    Command::cargo_bin("parlab").expect("binary built")
}

fn fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap()
}

fn write(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(v).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

/// The fixture with case 2 given 15 steady samples (about 3.9 ms, within 1%).
fn steady() -> Value {
    let mut v = fixture();
    let samples: Vec<Value> =
        (0..15).map(|i| Value::from(3_900_000 + (i * 2_654_435_761u64 % 40_000))).collect();
    v["cases"][2]["samples_ns"] = Value::Array(samples);
    v
}

/// The steady fixture with one case's samples made `factor` times slower.
fn slowed(case: usize, factor: f64) -> Value {
    let mut v = steady();
    let c = &mut v["cases"][case];
    let samples: Vec<Value> = c["samples_ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Value::from((s.as_f64().unwrap() * factor) as u64))
        .collect();
    c["samples_ns"] = Value::Array(samples);
    v
}

#[test]
fn compare_exits_1_on_a_regression_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    // Case 2 (mandelbrot/threads/2w) has steady samples: 30% slower is beyond any doubt.
    let baseline = write(dir.path(), "baseline.json", &steady());
    let current = write(dir.path(), "current.json", &slowed(2, 1.3));
    parlab()
        .args(["compare", &baseline, &current, "--threshold", "5%", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::is_match(r"mandelbrot/threads/2w/\S+ .*regressed").unwrap());
    let c: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("compare.json")).unwrap()).unwrap();
    let regressed: Vec<&str> = c["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["verdict"] == "regressed")
        .map(|x| x["key"].as_str().unwrap())
        .collect();
    assert_eq!(regressed.len(), 1, "{regressed:?}");
    assert!(regressed[0].starts_with("mandelbrot/threads/2w/"));
    let md = std::fs::read_to_string(dir.path().join("compare.md")).unwrap();
    assert!(md.contains("1 regressed"));
    assert!(dir.path().join("compare.html").exists());
}

#[test]
fn compare_exits_0_without_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    // Faster is not a failure.
    let baseline = write(dir.path(), "baseline.json", &steady());
    let current = write(dir.path(), "current.json", &slowed(2, 0.7));
    parlab()
        .args(["compare", &baseline, &current, "--out"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("0 regressed").and(predicate::str::contains("improved")));
}

#[test]
fn compare_exits_1_when_a_case_broke() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = write(dir.path(), "baseline.json", &steady());
    let mut broken = steady();
    broken["cases"][2]["status"] = Value::from("timed_out");
    let current = write(dir.path(), "current.json", &broken);
    parlab().args(["compare", &baseline, &current, "--out"]).arg(dir.path()).assert().code(1).stdout(
        predicate::str::contains("BROKEN mandelbrot/threads/2w/").and(predicate::str::contains("timed out")),
    );
}

#[test]
fn ab_refuses_too_few_runs() {
    let bin = env!("CARGO_BIN_EXE_parlab");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
    parlab()
        .args(["ab", bin, bin, scenario, "--runs", "4"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("use --runs 8"));
    parlab().args(["ab", bin, bin, scenario, "--alpha", "1.5"]).assert().code(2);
}

#[test]
fn compare_exits_2_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut other = fixture();
    other["schema_version"] = Value::from(99);
    let other = write(dir.path(), "v99.json", &other);
    parlab()
        .args(["compare", FIXTURE, &other])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("results schema 99"));
    let mut empty = fixture();
    empty["cases"] = Value::Array(vec![]);
    let empty = write(dir.path(), "empty.json", &empty);
    parlab()
        .args(["compare", FIXTURE, &empty])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no measured cases"));
    let mut disjoint = fixture();
    for c in disjoint["cases"].as_array_mut().unwrap() {
        c["workers"] = Value::from(64);
    }
    let disjoint = write(dir.path(), "disjoint.json", &disjoint);
    parlab()
        .args(["compare", FIXTURE, &disjoint])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no case in common"));
    parlab().args(["compare", FIXTURE, "/nonexistent.json"]).assert().code(2);
}

#[test]
fn named_baselines_are_saved_and_gated_against() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "[scenario]\nname = \"s\"\n[defaults]\nworkers = 1\nwarmup = \"0ms\"\nmin_samples = 5\nmax_samples = 5\n\
         [[workload]]\nkind = \"spin\"\nsize = 2\nparams = { work_units = 20 }\nstrategies = []\n",
    )
    .unwrap();
    parlab()
        .current_dir(dir.path())
        .args(["run", "s.toml", "--out", "a", "--save-baseline", "main"])
        .assert()
        .success()
        .stdout(predicate::str::contains("saved baseline `main`"));
    assert!(dir.path().join("reports/baselines/main.json").exists());
    // The same work again, gated against the saved baseline: the comparison is written beside it.
    let out = parlab()
        .current_dir(dir.path())
        .args(["run", "s.toml", "--out", "b", "--baseline", "main"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("spin/sequential/1w/2"), "{stdout}");
    assert!(dir.path().join("b/compare.md").exists());
    parlab().current_dir(dir.path()).args(["run", "s.toml", "--baseline", "../x"]).assert().code(2);
}

fn criterion_bench(dir: &std::path::Path, id: &str, value: &str, per_iter_ns: f64) {
    let mut parts = id.split('/');
    let (group, function) = (parts.next().unwrap(), parts.next().unwrap());
    let d = dir.join(group).join(function).join(value.replace('/', "_")).join("new");
    std::fs::create_dir_all(&d).unwrap();
    let bench = serde_json::json!({"group_id": group, "function_id": function, "value_str": value,
        "full_id": id, "directory_name": "x", "title": id, "throughput": {"Elements": 1000}});
    std::fs::write(d.join("benchmark.json"), bench.to_string()).unwrap();
    let iters: Vec<f64> = (1..=10).map(f64::from).collect();
    let times: Vec<f64> = iters.iter().map(|i| i * per_iter_ns).collect();
    let sample = serde_json::json!({"sampling_mode": "Linear", "iters": iters, "times": times});
    std::fs::write(d.join("sample.json"), sample.to_string()).unwrap();
}

#[test]
fn import_criterion_makes_a_parlab_report() {
    let dir = tempfile::tempdir().unwrap();
    let crit = dir.path().join("criterion");
    criterion_bench(&crit, "pi_monte_carlo/sequential/1w/1000", "1w/1000", 2000.0);
    criterion_bench(&crit, "pi_monte_carlo/threads/2w/1000", "2w/1000", 1000.0);
    let out = dir.path().join("out");
    parlab()
        .args(["import-criterion", crit.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("2.00x"));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["cases"].as_array().unwrap().len(), 2);
    assert_eq!(r["cases"][1]["speedup"], 2.0);
    assert!(out.join("index.html").exists() && out.join("summary.md").exists());
    parlab().args(["import-criterion", dir.path().join("none").to_str().unwrap()]).assert().code(2);
}

/// One meaning per exit code: a file parlab cannot use is bad input (2), a report parlab cannot
/// write is an internal error (4); neither is ever 1, which means "regressed" or "failed".
#[test]
fn compare_never_reads_a_broken_input_or_output_as_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where a file is expected: unreadable as a results file.
    parlab()
        .args(["compare", FIXTURE])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read"));
    // Valid JSON of another shape: not parlab results.
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"schema_version": 1, "cases": "no"}"#).unwrap();
    parlab().args(["compare", FIXTURE]).arg(&other).assert().code(2);
    let no_version = dir.path().join("no-version.json");
    std::fs::write(&no_version, r#"{"cases": []}"#).unwrap();
    parlab()
        .args(["compare", FIXTURE])
        .arg(&no_version)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no schema_version"));
    // A regression whose report cannot be written: an internal error, not a verdict.
    let baseline = write(dir.path(), "baseline.json", &steady());
    let current = write(dir.path(), "current.json", &slowed(2, 1.3));
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    parlab()
        .args(["compare", &baseline, &current, "--out"])
        .arg(blocked.join("out"))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("internal error"));
}
