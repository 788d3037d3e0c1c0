//! The `opencl` strategies through the `parlab` binary: with the `opencl` feature and a device
//! (PoCL's CPU device in CI), every OpenCL case verifies on tiny sizes (f64, `opencl-tiled`,
//! `opencl-f32`, resident inputs, a warm cache) and each sample's phases are `transfer_in`
//! (none when resident), `kernel` and `transfer_out`, adding up to at most the sample; the
//! notes say the cache state, the launch latency and residency; a `device` selector picks the
//! cases' devices; with no platform the case is `unavailable` with the loader's reason; without
//! the feature it is `unavailable: built without the opencl feature`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_parlab");

/// Every workload with an OpenCL kernel, at tiny sizes that leave remainders (a size that is no
/// multiple of a work-group or of the work-items' blocks).
const TINY: &str = r#"
[scenario]
name = "opencl-tiny"

[defaults]
workers = [1, 2]
warmup = "0ms"
min_samples = 3
max_samples = 4
timeout = "60s"

[[workload]]
kind = "stream_triad"
size = 10007
strategies = ["sequential", "opencl", "opencl-f32"]

[[workload]]
kind = "pi_monte_carlo"
size = 200003
strategies = ["sequential", "opencl"]

[[workload]]
kind = "matmul"
size = 29
strategies = ["sequential", "opencl", "opencl-tiled", "opencl-f32"]

[[workload]]
kind = "mandelbrot"
size = 37
params = { max_iter = 300 }
strategies = ["sequential", "opencl"]

[[workload]]
kind = "nbody"
size = 37
params = { steps = 3 }
strategies = ["sequential", "opencl"]

[[workload]]
kind = "histogram"
size = 100003
params = { bins = 37, skew = 0.3 }
strategies = ["sequential", "opencl"]

# More bins than PoCL's 2 MiB of local memory holds: counted with global atomics.
[[workload]]
kind = "histogram"
size = 10007
params = { bins = 1048576 }
strategies = ["sequential", "opencl"]

# Inputs kept on the device, the cache left warm (another size: the `sequential` baseline of an
# entry of the same size would be the same case twice).
[[workload]]
kind = "matmul"
size = 30
strategies = ["sequential", "opencl", "opencl-f32"]
resident = true
cache = "warm"

[[workload]]
kind = "nbody"
size = 37
params = { steps = 2 }
strategies = ["sequential", "opencl"]
resident = true
"#;

/// How many OpenCL cases [`TINY`] has on one device.
const TINY_CASES: usize = 13;

/// Runs `parlab run` on `scenario` with `env` set; returns its results.
fn run(dir: &Path, scenario: &str, env: &[(&str, &str)]) -> Value {
    let file = dir.join("s.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = dir.join("out");
    let output = Command::new(EXE)
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

fn opencl_cases(results: &Value) -> Vec<Value> {
    results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["strategy"].as_str().unwrap().starts_with("opencl"))
        .cloned()
        .collect()
}

#[cfg(feature = "opencl")]
#[test]
fn opencl_cases_verify_with_transfer_and_kernel_phases() {
    if let Err(why) = parlab::machine::opencl::chosen() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let results = run(dir.path(), TINY, &[]);
    let cases = opencl_cases(&results);
    // The results name the device the cases ran on.
    let device = results["machine"]["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["api"] == "opencl")
        .unwrap_or_else(|| panic!("an OpenCL device in the machine: {}", results["machine"]))["name"]
        .as_str()
        .unwrap()
        .to_string();
    // One case per workload: a device has no worker count, whatever `workers` lists.
    assert_eq!(cases.len(), TINY_CASES, "{results}");
    for case in &cases {
        assert_eq!(case["status"], "ok", "{case}");
        assert_eq!(case["verification"]["passed"], true, "{case}");
        assert_eq!(case["workers"], 1, "{case}");
        assert!(case["efficiency"].is_null() && case["speedup"].is_number(), "{case}");
        assert!(case["setup_ns"].as_u64().unwrap() > 0, "{case}");
        assert!(
            case["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains(&format!("ran on the OpenCL device {device};"))),
            "{case}"
        );
        let resident = case["device"]["resident"] == true;
        let phases = case["phases"].as_array().unwrap();
        let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
        let phase = |name: &str| {
            phases.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}: {case}"))
        };
        if resident {
            // Uploaded once in the setup: no sample uploads anything.
            assert_eq!(names, ["kernel", "transfer_out", "other"], "{case}");
        } else {
            assert_eq!(names, ["transfer_in", "kernel", "transfer_out", "other"], "{case}");
        }
        let samples = case["samples_ns"].as_array().unwrap();
        for (i, sample) in samples.iter().enumerate() {
            let sample = sample.as_f64().unwrap();
            let named: f64 = phases
                .iter()
                .filter(|p| p["name"] != "other")
                .map(|p| p["samples_ns"][i].as_f64().unwrap())
                .sum();
            assert!(named <= sample + 1.0, "sample {i}: phases {named} > {sample}: {case}");
            assert!(phase("kernel")["samples_ns"][i].as_f64().unwrap() > 0.0, "a kernel takes time: {case}");
            assert!(
                phase("transfer_out")["samples_ns"][i].as_f64().unwrap() > 0.0,
                "the output comes back: {case}"
            );
        }
        if !resident
            && ["stream_triad", "matmul", "nbody", "histogram"].contains(&case["workload"].as_str().unwrap())
        {
            assert!(
                phase("transfer_in")["samples_ns"][0].as_f64().unwrap() > 0.0,
                "the inputs go up: {case}"
            );
        }
        // The notes say how it ran: the launch latency, the cache, residency, precision.
        let notes = case["notes"].to_string();
        // A kernel shorter than 100 launch latencies is timed by the runner in batches of whole
        // runs, so that the results' batch says so and every phase is the mean over the batch's
        // own runs (the review found a kernel phase measured beside the sample, warm).
        assert_eq!(notes.contains("short kernels ("), case["batch"].as_u64().unwrap() > 1, "{case}");
        if case["workload"] == "stream_triad" && case["strategy"] == "opencl" {
            assert!(case["batch"].as_u64().unwrap() > 1, "a 10k-element triad is short: {case}");
        }
        assert!(notes.contains("launch latency of an empty kernel: "), "{notes}");
        if case["device"]["cache"] == "warm" {
            assert!(notes.contains("cache warm: nothing is flushed"), "{notes}");
        } else {
            assert!(notes.contains("cache cold: before each sample"), "{notes}");
            // Only a case that uploads inputs after the flush says that the upload warms them.
            let uploads =
                !resident && !["pi_monte_carlo", "mandelbrot"].contains(&case["workload"].as_str().unwrap());
            assert_eq!(notes.contains("the upload that follows"), uploads, "{notes}");
        }
        assert_eq!(notes.contains("resident: the inputs were uploaded once"), resident, "{notes}");
        let f32 = case["strategy"] == "opencl-f32";
        assert_eq!(notes.contains("computed in f32"), f32, "{notes}");
        if f32 && case["workload"] == "stream_triad" {
            let detail = case["verification"]["detail"].as_str().unwrap();
            assert!(detail.contains("f32 epsilons"), "the f32 tolerance is stated: {detail}");
        }
        // The case names its device: in its key, its results and its notes.
        assert_eq!(case["device"]["target"]["name"], device.as_str(), "{case}");
        assert_eq!(case["device"]["choice"], "all", "{case}");
    }
    let notes = |bins: u64| -> String {
        let case =
            cases.iter().find(|c| c["workload"] == "histogram" && c["params"]["bins"] == bins).unwrap();
        case["notes"].to_string()
    };
    assert!(notes(37).contains("local atomics"), "{}", notes(37));
    assert!(notes(1 << 20).contains("global atomic"), "{}", notes(1 << 20));
}

/// [`TINY`] with a `device` selector in `[defaults]`.
#[cfg(feature = "opencl")]
fn tiny_on(device: &str) -> String {
    TINY.replacen("[defaults]\n", &format!("[defaults]\ndevice = \"{device}\"\n"), 1)
}

#[cfg(feature = "opencl")]
#[test]
fn a_device_selector_picks_the_cases_devices_and_one_that_matches_none_is_unavailable() {
    let Ok(device) = parlab::machine::opencl::chosen() else {
        eprintln!("skipped: no OpenCL device");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // PoCL's device is a CPU: "cpu" and a part of its name pick it, "gpu" none.
    let kind = device.kind.clone().unwrap_or_default();
    let part: String = device.name.chars().take(6).collect();
    let results = run(dir.path(), &tiny_on(&part.to_uppercase()), &[]);
    let cases = opencl_cases(&results);
    assert_eq!(cases.len(), TINY_CASES, "{results}");
    assert!(cases
        .iter()
        .all(|c| c["status"] == "ok" && c["device"]["target"]["name"] == device.name.as_str()));
    let other = if kind == "gpu" { "cpu" } else { "gpu" };
    let dir = tempfile::tempdir().unwrap();
    let results = run(dir.path(), &tiny_on(other), &[]);
    for case in opencl_cases(&results) {
        assert_eq!(case["status"], "unavailable", "{case}");
        let reason = case["reason"].as_str().unwrap();
        assert!(reason.starts_with(&format!("no OpenCL device matches `device = \"{other}\"`")), "{reason}");
        assert!(reason.contains(&device.name), "names the devices there are: {reason}");
    }
    // The CPU strategies are untouched: one sequential case per entry, each verified.
    let sequential: Vec<&Value> =
        results["cases"].as_array().unwrap().iter().filter(|c| c["strategy"] == "sequential").collect();
    assert_eq!(sequential.len(), TINY.matches("[[workload]]").count());
    assert!(sequential.iter().all(|c| c["status"] == "ok" && c.get("device").is_none()));
}

#[cfg(feature = "opencl")]
#[test]
fn with_no_platform_an_opencl_case_is_unavailable_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // ocl-icd reads vendor drivers from this folder instead of /etc/OpenCL/vendors: none here.
    let empty = dir.path().join("no-vendors");
    std::fs::create_dir(&empty).unwrap();
    let results = run(dir.path(), TINY, &[("OCL_ICD_VENDORS", empty.to_str().unwrap())]);
    let cases = opencl_cases(&results);
    assert_eq!(cases.len(), TINY_CASES, "{results}");
    for case in cases {
        assert_eq!(case["status"], "unavailable", "{case}");
        let reason = case["reason"].as_str().unwrap();
        assert!(reason.starts_with("no OpenCL device: "), "{case}");
        assert!(reason.contains("no platform"), "the loader's reason: {case}");
    }
}

#[cfg(not(feature = "opencl"))]
#[test]
fn without_the_feature_an_opencl_case_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let results = run(dir.path(), TINY, &[]);
    let cases = opencl_cases(&results);
    assert_eq!(cases.len(), TINY_CASES, "{results}");
    for case in cases {
        assert_eq!(
            (&case["status"], &case["reason"]),
            (&"unavailable".into(), &"built without the opencl feature".into()),
            "{case}"
        );
    }
}

#[cfg(feature = "opencl")]
#[test]
fn a_buffer_larger_than_the_device_allocates_is_unsupported_with_the_sizes() {
    // The review's reproduction: PoCL told to have 1 GiB (256 MiB in one buffer) and a 40M
    // triad (320 MB a buffer) ended as `error` with the driver's banner over several lines.
    if let Err(why) = parlab::machine::opencl::chosen() {
        eprintln!("skipped: {why}");
        return;
    }
    let small = &[("POCL_MEMORY_LIMIT", "1")];
    let probe = Command::new(EXE).args(["detect"]).envs(small.iter().copied()).output().unwrap();
    if !String::from_utf8_lossy(&probe.stdout).contains("1.0 GiB global memory") {
        eprintln!("skipped: the OpenCL device here is not PoCL, or ignores POCL_MEMORY_LIMIT");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario =
        "[scenario]\nname = \"big\"\n[defaults]\nwarmup = \"0ms\"\nmin_samples = 2\nmax_samples = 2\n\
                    [[workload]]\nkind = \"stream_triad\"\nsize = 40000000\nstrategies = [\"opencl\"]\n";
    let results = run(dir.path(), scenario, small);
    let case = &opencl_cases(&results)[0];
    assert_eq!(case["status"], "unsupported", "{case}");
    let reason = case["reason"].as_str().unwrap();
    assert!(reason.contains("allocates at most 256 MiB in one buffer") && !reason.contains('\n'), "{reason}");
}
