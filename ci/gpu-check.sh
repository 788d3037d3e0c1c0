#!/usr/bin/env bash
# parlab on an NVIDIA GPU, for real: runs scenarios/gpu.toml (CUDA, and OpenCL where NVIDIA's
# OpenCL driver is installed, beside the best CPU strategies at sizes that matter on an
# H100/H200-class GPU), prints the summary and the GPU figures (triad bandwidth against the
# peak, matmul GFLOP/s, the transfers' share of the headline time, launch latency, SM clocks),
# and exits non-zero if any case fails. About 5 minutes; stopped after 8.
#
# For a machine with an NVIDIA GPU and driver, possibly without network:
#   ci/gpu-check.sh [PARLAB]      a parlab built elsewhere with --features cuda,opencl
#                                 (or PARLAB=path); else this builds one with
#                                 `cargo build --release --offline --features cuda,opencl`
#                                 (the crates must be in cargo's cache: `cargo fetch` first).
# The kernels are compiled at run time by NVRTC (libnvrtc.so.12): the CUDA toolkit's, or
# PyPI's nvidia-cuda-nvrtc-cu12 (looked for under /opt/nvrtc and python3's site-packages).
# Every CUDA case must run and verify; an OpenCL case may be `unavailable` (no NVIDIA OpenCL
# ICD), an unsupported pair is fine, anything else fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
fail() { printf 'gpu-check: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || fail "python3 not found: it reads the results"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi -L || true
else
  log "nvidia-smi not found: relying on parlab's own detection"
fi

bin=${1:-${PARLAB:-}}
if [ -z "$bin" ]; then
  features=cuda,opencl
  if ! pkg-config --exists OpenCL 2>/dev/null; then
    # The opencl feature links the ICD loader at build time.
    log "the OpenCL ICD loader (ocl-icd-opencl-dev) is not installed: building with --features cuda only"
    features=cuda
  fi
  log "cargo build --release --offline --features $features"
  cargo build --release --offline --features "$features" --quiet
  bin=target/release/parlab
fi
[ -x "$bin" ] || fail "no parlab binary at $bin"
bin=$(realpath "$bin")

# NVRTC: where cudarc's loader does not find it already, the usual places it is installed.
# cudarc's kernels are built for NVRTC 12 (cuda-12080): only a libnvrtc.so.12 counts as found,
# and only a folder holding one is put first (an unversioned libnvrtc.so there may be another
# major version, which cudarc would try first). The cache is read whole before it is searched:
# `grep -q` ending the pipe early would make ldconfig's SIGPIPE read as "not found" under pipefail.
ld_cache=$(ldconfig -p 2>/dev/null || true)
if ! grep 'libnvrtc\.so\.12' <<<"$ld_cache" >/dev/null; then
  for dir in /opt/nvrtc/nvidia/cuda_nvrtc/lib /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import site; print(" ".join(p + "/nvidia/cuda_nvrtc/lib" for p in site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null); do
    if [ -e "$dir/libnvrtc.so.12" ]; then
      export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      log "NVRTC from $dir"
      break
    fi
  done
fi

log "parlab detect"
"$bin" detect
"$bin" detect --json >"${TMPDIR:-/tmp}/parlab-gpu-detect.json"
python3 - "${TMPDIR:-/tmp}/parlab-gpu-detect.json" <<'PY' || fail "parlab finds no CUDA device (see the notes above)"
import json, sys
m = json.load(open(sys.argv[1]))
if not any(g["api"] == "cuda" for g in m.get("gpus", [])):
    sys.exit(1)
PY

out=$(mktemp -d /tmp/parlab-gpu.XXXXXX)
log "parlab run scenarios/gpu.toml --out $out"
# 8 minutes at most, whatever the cases do (each has its own timeout too).
status=0
timeout --signal=INT --kill-after=30s 480s "$bin" run scenarios/gpu.toml --out "$out" || status=$?
[ -f "$out/results.json" ] || fail "the run left no results (exit $status)"

log "GPU figures"
python3 - "$out/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
for c in r["cases"]:
    s, name = c["status"], f'{c["workload"]} {c["strategy"]} size {c["size"]}'
    device = c["strategy"].startswith(("cuda", "opencl"))
    if s == "ok" or s == "unsupported" or (s == "unavailable" and c["strategy"].startswith("opencl")):
        pass
    else:
        bad.append(f"{name}: {s}: {c.get('reason')}")
    if not device or s != "ok":
        continue
    median = c["stats"]["median"]
    phases = {p["name"]: sorted(p["samples_ns"])[len(p["samples_ns"]) // 2] for p in c.get("phases", [])}
    moved = phases.get("transfer_in", 0) + phases.get("transfer_out", 0)
    line = f"{name}: median {median / 1e6:.3f} ms, kernel {phases.get('kernel', 0) / 1e6:.3f} ms, transfers {100 * moved / median:.0f}% of the headline"
    if c["workload"] == "matmul":
        n = c["size"]
        line += f", {2 * n ** 3 / median:.0f} GFLOP/s headline, {2 * n ** 3 / max(phases.get('kernel', 1), 1):.0f} GFLOP/s kernel only"
    print(line)
    for note in c.get("notes", []):
        if "launch latency" in note or note.startswith(("device bandwidth", "short kernels", "SM clock", "throttled", "the SM clock")):
            print(f"    {note}")
if bad:
    print("\nFAILED cases:")
    for b in bad:
        print(f"  {b}")
    sys.exit(1)
print(f"\nall {len(r['cases'])} cases ok (or unsupported, or OpenCL unavailable)")
PY
[ "$status" -eq 0 ] || fail "parlab run exited $status"
log "results in $out"
