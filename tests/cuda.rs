//! The `cuda` strategies through the `parlab` binary, and the CUDA kernels through NVRTC.
//!
//! - Without a driver (CI), every `cuda` case is `unavailable` with the reason, nothing panics,
//!   and `parlab detect` says why it lists no CUDA device; with a GPU, driver and NVRTC, every
//!   case verifies on tiny sizes with the phases `transfer_in`, `kernel` and `transfer_out`.
//! - NVRTC needs no GPU: where `libnvrtc` can be loaded (CI installs it from PyPI, see
//!   `ci/test.sh`), every `.cu` program compiles for two architectures; elsewhere that test
//!   says that it skipped.
//! - Without the feature, the cases are `unavailable: built without the cuda feature`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_parlab");

/// Every workload with a CUDA kernel, at tiny sizes that leave remainders (no multiple of a block
/// or of a tile).
const TINY: &str = r#"
[scenario]
name = "cuda-tiny"

[defaults]
workers = [1, 2]
warmup = "0ms"
min_samples = 3
max_samples = 4
timeout = "60s"

[[workload]]
kind = "stream_triad"
size = 10007
strategies = ["sequential", "cuda"]

[[workload]]
kind = "pi_monte_carlo"
size = 200003
strategies = ["sequential", "cuda"]

[[workload]]
kind = "matmul"
size = 29
strategies = ["sequential", "cuda", "cuda-tiled"]

[[workload]]
kind = "mandelbrot"
size = 37
params = { max_iter = 300 }
strategies = ["sequential", "cuda"]

[[workload]]
kind = "nbody"
size = 37
params = { steps = 3 }
strategies = ["sequential", "cuda"]

[[workload]]
kind = "histogram"
size = 100003
params = { bins = 37, skew = 0.3 }
strategies = ["sequential", "cuda"]

# More bins than 48 KiB of shared memory holds: counted with global atomics.
[[workload]]
kind = "histogram"
size = 10007
params = { bins = 1048576 }
strategies = ["sequential", "cuda"]
"#;

/// How many CUDA cases [`TINY`] has on one device.
const TINY_CASES: usize = 8;

/// Runs `parlab run` on `scenario`; returns its results.
fn run(dir: &Path, scenario: &str) -> Value {
    let file = dir.join("s.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = dir.join("out");
    let output = Command::new(EXE).arg("run").arg(&file).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

fn cuda_cases(results: &Value) -> Vec<Value> {
    results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["strategy"].as_str().unwrap().starts_with("cuda"))
        .cloned()
        .collect()
}

#[cfg(feature = "cuda")]
#[test]
fn cuda_cases_verify_on_a_gpu_or_are_unavailable_with_the_reason() {
    use parlab::backend::Backend;
    let dir = tempfile::tempdir().unwrap();
    let results = run(dir.path(), TINY);
    let cases = cuda_cases(&results);
    // One case per workload and device: a device has no worker count, whatever `workers` lists.
    let devices = parlab::machine::cuda::listed().as_ref().map_or(0, Vec::len).max(1);
    assert_eq!(cases.len(), TINY_CASES * devices, "{results}");
    match parlab::backend::cuda::CudaBackend.availability() {
        Err(why) => {
            // No driver (CI), no device or no NVRTC: the reason, the same for every case.
            let why = why.to_string();
            eprintln!("no CUDA here, checked the unavailable path: {why}");
            for case in &cases {
                assert_eq!(case["status"], "unavailable", "{case}");
                assert_eq!(case["reason"].as_str().unwrap(), why, "{case}");
            }
            if parlab::machine::cuda::driver_library().is_err() {
                assert!(why.starts_with("no CUDA device: ") && why.contains("libcuda.so"), "{why}");
            }
        }
        Ok(()) => {
            let gpus = parlab::machine::cuda::listed().as_ref().unwrap();
            // The results name the devices the cases ran on.
            for gpu in gpus {
                assert!(
                    results["machine"]["gpus"].as_array().unwrap().iter().any(|g| g["api"] == "cuda"
                        && g["name"] == gpu.name.as_str()
                        && g["cuda"]["compute_capability"].is_string()),
                    "{}",
                    results["machine"]
                );
            }
            for case in &cases {
                assert_eq!(case["status"], "ok", "{case}");
                assert_eq!(case["verification"]["passed"], true, "{case}");
                assert_eq!(case["workers"], 1, "{case}");
                assert!(case["efficiency"].is_null() && case["speedup"].is_number(), "{case}");
                let notes: Vec<&str> =
                    case["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
                let named = |gpu: &parlab::machine::Gpu| {
                    notes
                        .iter()
                        .any(|n| n.starts_with(&format!("ran on the CUDA device {} (ordinal", gpu.name)))
                };
                assert!(gpus.iter().any(named), "{case}");
                assert!(notes.iter().any(|n| n.contains("empty-kernel launch latency ")), "{case}");
                assert!(notes.iter().any(|n| n.starts_with("cache cold: ")), "{case}");
                let phases = case["phases"].as_array().unwrap();
                let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
                assert_eq!(names, ["transfer_in", "kernel", "transfer_out", "other"], "{case}");
                for (i, sample) in case["samples_ns"].as_array().unwrap().iter().enumerate() {
                    let sample = sample.as_f64().unwrap();
                    let named: f64 = phases[..3].iter().map(|p| p["samples_ns"][i].as_f64().unwrap()).sum();
                    assert!(named <= sample + 1.0, "sample {i}: phases {named} > {sample}: {case}");
                    assert!(
                        phases[1]["samples_ns"][i].as_f64().unwrap() > 0.0,
                        "a kernel takes time: {case}"
                    );
                    assert!(
                        phases[2]["samples_ns"][i].as_f64().unwrap() > 0.0,
                        "the output comes back: {case}"
                    );
                }
                if case["workload"] == "stream_triad" {
                    assert!(
                        notes.iter().any(|n| n.starts_with("device bandwidth (kernel phase only")),
                        "{case}"
                    );
                }
            }
        }
    }
}

#[cfg(feature = "cuda")]
#[test]
fn detect_says_why_it_lists_no_cuda_device() {
    let json = Command::new(EXE).args(["detect", "--json"]).output().unwrap();
    assert_eq!(json.status.code(), Some(0), "{}", String::from_utf8_lossy(&json.stderr));
    let machine: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(machine["probed"].as_array().unwrap().iter().any(|p| p == "gpu"), "{machine}");
    let text = Command::new(EXE).arg("detect").output().unwrap();
    assert_eq!(text.status.code(), Some(0), "{}", String::from_utf8_lossy(&text.stderr));
    let text = String::from_utf8(text.stdout).unwrap();
    match parlab::machine::cuda::devices() {
        Ok(found) => {
            for g in found {
                assert!(text.contains(&format!("device:         {}: cuda, gpu, ", g.name)), "{text}");
            }
        }
        Err(why) => {
            let note = format!("no CUDA device: {why}");
            assert!(machine["notes"].as_array().unwrap().iter().any(|n| n == note.as_str()), "{machine}");
            assert!(text.contains(&format!("note:           {note}")), "{text}");
        }
    }
}

/// Every CUDA program, and the empty kernel, compiles with NVRTC for two architectures (NVRTC
/// runs without a GPU); a broken program fails with NVRTC's log.
#[cfg(feature = "cuda")]
#[test]
fn every_cuda_kernel_compiles_with_nvrtc() {
    use parlab::backend::cuda::{compile, nvrtc_options, nvrtc_version, EMPTY, PROGRAMS};
    if let Err(why) = parlab::machine::cuda::nvrtc_library() {
        eprintln!("skipped: {why}");
        return;
    }
    eprintln!("NVRTC {}", nvrtc_version().unwrap());
    let programs = PROGRAMS.iter().copied().chain([("empty", EMPTY)]);
    for (workload, source) in programs {
        // Ampere (A100) and Hopper (H100, H200).
        for arch in [(8, 0), (9, 0)] {
            let options = nvrtc_options(workload, arch);
            let cubin = compile(source, &format!("{workload}.cu"), &options)
                .unwrap_or_else(|e| panic!("{workload} for sm_{}{}: {e}", arch.0, arch.1));
            assert!(cubin.starts_with(b"\x7fELF"), "{workload}: a CUBIN is an ELF image");
        }
    }
    let broken = "extern \"C\" __global__ void triad(double *a) { a[0] = undeclared; }";
    let e = compile(broken, "broken.cu", &nvrtc_options("stream_triad", (9, 0))).unwrap_err();
    assert!(e.contains("NVRTC could not compile broken.cu") && e.contains("undeclared"), "{e}");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn without_the_feature_a_cuda_case_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let results = run(dir.path(), TINY);
    let cases = cuda_cases(&results);
    assert_eq!(cases.len(), TINY_CASES, "{results}");
    for case in cases {
        assert_eq!(
            (&case["status"], &case["reason"]),
            (&"unavailable".into(), &"built without the cuda feature".into()),
            "{case}"
        );
    }
}

/// With a GPU: `resident = true` leaves the samples without `transfer_in`, `cache = "warm"`
/// flushes nothing, and a selector that matches no CUDA device makes the cases `unavailable`
/// naming the devices here. Without one, the same cases are `unavailable` with the backend's
/// reason.
#[cfg(feature = "cuda")]
#[test]
fn resident_warm_cases_upload_nothing_and_a_selector_matching_none_is_unavailable() {
    use parlab::backend::Backend;
    let settings = |extra: &str| TINY.replacen("[defaults]\n", &format!("[defaults]\n{extra}\n"), 1);
    let dir = tempfile::tempdir().unwrap();
    let resident = cuda_cases(&run(dir.path(), &settings("resident = true\ncache = \"warm\"")));
    let dir = tempfile::tempdir().unwrap();
    let none = cuda_cases(&run(dir.path(), &settings("device = \"no such device\"")));
    assert_eq!(none.len(), TINY_CASES);
    match parlab::backend::cuda::CudaBackend.availability() {
        Err(why) => {
            for case in resident.iter().chain(&none) {
                assert_eq!(
                    (case["status"].as_str(), case["reason"].as_str()),
                    (Some("unavailable"), Some(&*why.to_string()))
                );
            }
        }
        Ok(()) => {
            for case in &resident {
                assert_eq!(case["status"], "ok", "{case}");
                let names: Vec<&str> =
                    case["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
                assert_eq!(names, ["kernel", "transfer_out", "other"], "{case}");
                let notes = case["notes"].to_string();
                assert!(
                    notes.contains("resident: the inputs were uploaded once") && notes.contains("cache warm"),
                    "{case}"
                );
            }
            for case in &none {
                assert_eq!(case["status"], "unavailable", "{case}");
                let reason = case["reason"].as_str().unwrap();
                assert!(
                    reason.starts_with(
                        "no CUDA device matches `device = \"no such device\"`: the CUDA devices here are "
                    ),
                    "{reason}"
                );
            }
        }
    }
}
