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
    // Another input seed is another measurement, for every case.
    let mut disjoint = fixture();
    for c in disjoint["cases"].as_array_mut().unwrap() {
        c["seed"] = Value::from(7);
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
    // A baseline saved by the parlab before schema 3 still gates: 3 only added fields.
    let baselines = dir.path().join("reports/baselines");
    let mut v2: Value =
        serde_json::from_str(&std::fs::read_to_string(baselines.join("main.json")).unwrap()).unwrap();
    v2["schema_version"] = Value::from(2);
    write(&baselines, "v2.json", &v2);
    let out = parlab()
        .current_dir(dir.path())
        .args(["run", "s.toml", "--out", "c", "--baseline", "v2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("spin/sequential/1w/2"), "{stderr}");
    assert!(dir.path().join("c/compare.md").exists());
}

/// Schema 3 only added fields beside the samples: a schema 2 file compares with a schema 3 one
/// (either way round); schema 1, which timed no batches, only with itself.
#[test]
fn compare_pairs_schema_2_with_3_but_not_1() {
    assert_eq!(parlab::results::SCHEMA_VERSION, 3);
    let dir = tempfile::tempdir().unwrap();
    let versioned = |v: &Value, version: u32| {
        let mut v = v.clone();
        v["schema_version"] = Value::from(version);
        v
    };
    let (steady, slowed) = (steady(), slowed(2, 1.3));
    let v2 = write(dir.path(), "v2.json", &versioned(&steady, 2));
    let v3 = write(dir.path(), "v3.json", &versioned(&slowed, 3));
    let v1 = write(dir.path(), "v1.json", &versioned(&steady, 1));
    parlab()
        .args(["compare", &v2, &v3, "--threshold", "5%", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::is_match(r"mandelbrot/threads/2w/\S+ .*regressed").unwrap());
    parlab().args(["compare", &v3, &v2, "--out"]).arg(dir.path()).assert().code(predicate::ne(2));
    parlab()
        .args(["compare", &v1, &v3, "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("schema version 1"));
    // Newer than this parlab: refused with a clear error, as before.
    let v4 = write(dir.path(), "v4.json", &versioned(&steady, 4));
    parlab()
        .args(["compare", &v2, &v4])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("results schema 4, newer than this parlab reads (3)"));
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
    // Not verified by parlab: in the results, in the tables and on the page.
    assert!(r["cases"][1]["verification"].is_null());
    assert!(r["cases"][1]["notes"][0].as_str().unwrap().contains("not verified by parlab"));
    for file in ["summary.md", "index.html"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(text.contains("not verified by parlab"), "{file}");
    }
    parlab().args(["import-criterion", dir.path().join("none").to_str().unwrap()]).assert().code(2);
}

/// Runs a tiny scenario with two `mandelbrot` entries that differ only in `chunk`, and returns
/// its results with the `chunk = 8` case made 1.8x slower than the `chunk = 1` one, so that
/// pairing them with each other could not pass unnoticed (it reported "1 improved, 0.556x").
fn two_chunks(dir: &std::path::Path) -> Value {
    std::fs::write(
        dir.join("chunks.toml"),
        "[scenario]\nname = \"chunks\"\n[defaults]\nworkers = 2\nwarmup = \"0ms\"\nmin_samples = 8\nmax_samples = 8\n\
         [[workload]]\nkind = \"mandelbrot\"\nsize = 32\nstrategies = [\"threads-dynamic\"]\nchunk = 1\n\
         [[workload]]\nkind = \"mandelbrot\"\nsize = 32\nstrategies = [\"threads-dynamic\"]\nchunk = 8\n",
    )
    .unwrap();
    parlab().current_dir(dir).args(["run", "chunks.toml", "--out", "run"]).assert().success();
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/results.json")).unwrap()).unwrap();
    let cases = v["cases"].as_array_mut().unwrap();
    let chunk = |c: &Value| c["tunables"]["chunk"].as_u64();
    let dynamic: Vec<usize> =
        (0..cases.len()).filter(|&i| cases[i]["strategy"] == "threads-dynamic").collect();
    assert_eq!(dynamic.len(), 2);
    assert_eq!(
        (chunk(&cases[dynamic[0]]), chunk(&cases[dynamic[1]])),
        (Some(1), Some(8)),
        "chunk is recorded"
    );
    // Steady synthetic samples, so the difference is beyond doubt whatever the machine did.
    let steady = |base: u64| -> Value { (0..8).map(|i| Value::from(base + i * 1_000)).collect() };
    cases[dynamic[0]]["samples_ns"] = steady(1_000_000);
    cases[dynamic[1]]["samples_ns"] = steady(1_800_000);
    v
}

#[test]
fn cases_differing_only_in_chunk_are_never_paired_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let results = write(dir.path(), "r.json", &two_chunks(dir.path()));
    // The file against itself: every case is paired with itself, so nothing changed.
    parlab().args(["compare", &results, &results, "--out"]).arg(dir.path()).assert().success().stdout(
        predicate::str::contains("0 regressed, 0 improved")
            .and(predicate::str::is_match(r"threads-dynamic/2w/32/\S*chunk=8 ").unwrap()),
    );
}

#[test]
fn two_cases_with_one_identity_are_bad_input_naming_file_and_cases() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = two_chunks(dir.path());
    for c in v["cases"].as_array_mut().unwrap() {
        c["tunables"]["chunk"] = Value::from(1);
    }
    let results = write(dir.path(), "dup.json", &v);
    parlab().args(["compare", &results, &results, "--out"]).arg(dir.path()).assert().code(2).stderr(
        predicate::str::contains("dup.json: cases").and(predicate::str::contains("are both `mandelbrot/")),
    );
    // The comparison page pairs cases the same way, and refuses the same file.
    parlab().args(["report", &results, &results, "--out"]).arg(dir.path().join("page")).assert().code(2);
}

/// The fixture with every measured case given 15 steady samples (within 1%), so that only what
/// a test changes can be undecided.
fn quiet() -> Value {
    let mut v = fixture();
    for (k, c) in v["cases"].as_array_mut().unwrap().iter_mut().enumerate() {
        if !c["samples_ns"].as_array().unwrap().is_empty() {
            let base = 1_000_000 * (k as u64 + 1);
            let samples: Vec<Value> =
                (0..15).map(|i| Value::from(base + (i * 2_654_435_761u64 % (base / 100)))).collect();
            c["samples_ns"] = Value::Array(samples);
        }
    }
    v
}

/// The quiet fixture with case 2's samples spread widely around +4%: neither clearly within
/// nor clearly beyond a 5% threshold.
fn undecidable() -> Value {
    let mut v = quiet();
    let samples: Vec<Value> = (0..15)
        .map(|i| Value::from((3_000_000.0 * 1.04 * (1.0 + 0.25 * ((i * 7 % 15) as f64 / 14.0 - 0.5))) as u64))
        .collect();
    v["cases"][2]["samples_ns"] = Value::Array(samples);
    v
}

#[test]
fn fail_on_inconclusive_exits_3_where_the_gate_cannot_decide() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = write(dir.path(), "baseline.json", &quiet());
    let same =
        ["compare", &baseline, &baseline, "--fail-on-inconclusive", "--out", dir.path().to_str().unwrap()];
    parlab().args(same).assert().success().stdout(predicate::str::contains("0 inconclusive"));
    let current = write(dir.path(), "current.json", &undecidable());
    let args = ["compare", &baseline, &current, "--out", dir.path().to_str().unwrap()];
    parlab().args(args).assert().success().stdout(predicate::str::contains(" 1 inconclusive"));
    parlab()
        .args(args)
        .arg("--fail-on-inconclusive")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("undecided"));
    // A regression still exits 1 with the flag: a decided failure outranks an undecided case.
    let mut slower = quiet();
    for s in slower["cases"][2]["samples_ns"].as_array_mut().unwrap() {
        *s = Value::from(s.as_u64().unwrap() * 13 / 10);
    }
    let slower = write(dir.path(), "slower.json", &slower);
    parlab()
        .args(["compare", &baseline, &slower, "--fail-on-inconclusive", "--out"])
        .arg(dir.path())
        .assert()
        .code(1);
}

#[test]
fn too_few_samples_get_no_interval_and_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = write(dir.path(), "baseline.json", &quiet());
    let mut few = quiet();
    let three: Vec<Value> = few["cases"][2]["samples_ns"].as_array().unwrap()[..3].to_vec();
    few["cases"][2]["samples_ns"] = Value::Array(three);
    let current = write(dir.path(), "few.json", &few);
    let args = ["compare", &baseline, &current, "--out", dir.path().to_str().unwrap()];
    parlab().args(args).assert().success().stdout(
        predicate::str::is_match(r"mandelbrot/threads/2w/\S+ .*no CI: n = 3.*insufficient data")
            .unwrap()
            .and(predicate::str::contains("0 inconclusive, 1 with insufficient data")),
    );
    parlab().args(args).arg("--fail-on-inconclusive").assert().code(3);
    let c: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("compare.json")).unwrap()).unwrap();
    let verdicts: Vec<&str> =
        c["cases"].as_array().unwrap().iter().map(|x| x["verdict"].as_str().unwrap()).collect();
    assert!(verdicts.contains(&"insufficient_data"), "{verdicts:?}");
}

#[test]
fn run_against_a_baseline_says_it_compares_single_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "[scenario]\nname = \"s\"\n[defaults]\nworkers = 1\nwarmup = \"0ms\"\nmin_samples = 5\nmax_samples = 5\n\
         [[workload]]\nkind = \"spin\"\nsize = 2\nparams = { work_units = 20 }\nstrategies = []\n",
    )
    .unwrap();
    parlab()
        .current_dir(dir.path())
        .args(["run", "s.toml", "--out", "a", "--save-baseline", "b"])
        .assert()
        .success();
    parlab()
        .current_dir(dir.path())
        .args(["run", "s.toml", "--out", "c", "--baseline", "b"])
        .assert()
        .stdout(predicate::str::contains("single runs compared").and(predicate::str::contains("parlab ab")));
}

#[test]
fn ab_refuses_max_runs_below_runs_and_a_bad_budget() {
    let bin = env!("CARGO_BIN_EXE_parlab");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
    parlab()
        .args(["ab", bin, bin, scenario, "--runs", "10", "--max-runs", "9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--max-runs 9 is below --runs 10"));
    parlab().args(["ab", bin, bin, scenario, "--budget", "soon"]).assert().code(2);
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

const SPIN: &str = "[scenario]\nname = \"s\"\n[defaults]\nworkers = 1\nwarmup = \"0ms\"\nmin_samples = 5\n\
                    max_samples = 5\n[[workload]]\nkind = \"spin\"\nsize = 2\nparams = { work_units = 20 }\n\
                    strategies = []\n";

/// `--baseline` and `--save-baseline` are checked before any case runs: a typo, a missing or
/// broken baseline costs nothing and exits 2, instead of a whole run and then 2.
#[test]
fn a_bad_baseline_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), SPIN).unwrap();
    let refused = |args: &[&str], said: &str| {
        parlab()
            .current_dir(dir.path())
            .args(["run", "s.toml", "--out", "out"])
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(said));
        assert!(!dir.path().join("out").exists(), "{args:?}: nothing may run or be written");
    };
    refused(&["--baseline", "does-not-exist"], "no baseline `does-not-exist`");
    refused(&["--baseline", "../x"], "baseline name `../x`");
    refused(&["--save-baseline", "../x"], "baseline name `../x`");
    let baselines = dir.path().join("reports/baselines");
    std::fs::create_dir_all(&baselines).unwrap();
    std::fs::write(baselines.join("broken.json"), "{\"not\": \"results\"}").unwrap();
    refused(&["--baseline", "broken"], "not a parlab results file");
    let mut old = fixture();
    old["schema_version"] = Value::from(1);
    std::fs::write(baselines.join("old.json"), old.to_string()).unwrap();
    refused(&["--baseline", "old"], "schema 1");
    refused(&["--baseline", "brokne"], "did you mean `broken`?");
    let mut dup = fixture();
    dup["schema_version"] = Value::from(parlab::results::SCHEMA_VERSION);
    let twice = dup["cases"][2].clone();
    dup["cases"].as_array_mut().unwrap().push(twice);
    std::fs::write(baselines.join("dup.json"), dup.to_string()).unwrap();
    refused(&["--baseline", "dup"], "are both");
}

/// A failed case exits 1 whatever the gate then says: not 2 when the baseline shares no case
/// with the run (or 3 when the gate is undecided), which would hide the failure. Saving such
/// results as a baseline says that they hold failures.
#[cfg(feature = "fault-injection")]
#[test]
fn a_failed_case_exits_1_whatever_the_gate_says() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), SPIN).unwrap();
    std::fs::write(
        dir.path().join("f.toml"),
        "[scenario]\nname = \"f\"\n[defaults]\nworkers = 2\nwarmup = \"0ms\"\nmin_samples = 2\nmax_samples = 3\n\
         [[workload]]\nkind = \"faulty\"\nsize = 100\nparams = { fault = 3 }\nstrategies = [\"threads\"]\n",
    )
    .unwrap();
    let run = |args: &[&str]| parlab().current_dir(dir.path()).arg("run").args(args).assert();
    run(&["s.toml", "--out", "a", "--save-baseline", "spin"]).success();
    run(&["f.toml", "--out", "b", "--save-baseline", "wrong"])
        .code(1)
        .stderr(predicate::str::contains("baseline `wrong` holds 1 failed case(s)"));
    // No case in common with the spin baseline: the gate cannot compare, the failure stands.
    run(&["f.toml", "--out", "c", "--baseline", "spin"]).code(1).stderr(
        predicate::str::contains("1 case(s) failed").and(predicate::str::contains("could not compare")),
    );
}

/// `ab` stopped by SIGTERM (a CI job cancelled) ends its run in flight with everything that run
/// started, and exits 130: the runs are in their own process groups, which no signal to `ab`
/// reaches by itself.
#[test]
fn a_terminated_gate_leaves_no_run_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), SPIN).unwrap();
    // A "build" whose every run hangs, with a child of its own.
    let marker = format!("{}.{}", 600, std::process::id());
    let script = dir.path().join("hangs");
    std::fs::write(&script, format!("#!/bin/sh\nsleep {marker} &\nsleep {marker}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gate = std::process::Command::new(env!("CARGO_BIN_EXE_parlab"))
        .current_dir(dir.path())
        .args(["ab", "hangs", "hangs", "s.toml", "--out", "out"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let alive = || {
        let out = std::process::Command::new("pgrep").args(["-f", &format!("sleep {marker}")]).output();
        out.map(|o| !o.stdout.is_empty()).unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !alive() {
        assert!(start.elapsed().as_secs() < 30, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-TERM", &gate.id().to_string()]).status().unwrap();
    let status = gate.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!alive(), "a run of the gate was left behind");
}
