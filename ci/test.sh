#!/usr/bin/env bash
# Every check this machine supports: installs the system packages the optional features need
# (as root or with sudo, when it can), then formatting, lints and tests with each feature set
# that builds here. A plain `cargo test` needs nothing but Rust; this script does more.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- system packages -------------------------------------------------------------------------
# libopenblas-dev: the dgemm yardstick of ci/reference/yardsticks.sh (not run here).
# libopenmpi-dev, openmpi-bin, libclang-dev: the mpi feature (its bindings are made by bindgen).
# iproute2: the network namespaces of ci/multihost-check.sh; slurm-wlm and munge: the one-node
# cluster of ci/slurm-check.sh, which starts daemons of its own (the packages' services are kept
# from starting while they install: see policy-rc.d below).
# python3: the results checks of ci/multihost-check.sh and ci/slurm-check.sh.
# ocl-icd-opencl-dev: the opencl feature's ICD loader; pocl-opencl-icd: an OpenCL CPU device, so
# that every OpenCL case runs for real; clinfo: says which platforms and devices the log had.
packages=(pkg-config libhwloc-dev libudev-dev chromium libopenblas-dev libopenmpi-dev openmpi-bin libclang-dev iproute2 slurm-wlm munge python3 ocl-icd-opencl-dev pocl-opencl-icd clinfo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="no"; fi
  fi
  if [ "$sudo" = "no" ]; then
    log "cannot install ${missing[*]} (not root, no sudo): skipping the checks that need them"
  else
    log "installing ${missing[*]}"
    # A policy-rc.d that refuses every start keeps the packages' daemons (munge, slurmctld,
    # slurmd) from starting as they install; a policy already there is left as it was.
    # In a subshell whose EXIT trap removes a policy of its own, whether apt-get succeeds,
    # fails or is interrupted: a policy left behind would keep every later install's services
    # from starting.
    (
      policy=/usr/sbin/policy-rc.d
      if [ ! -e $policy ]; then
        trap '$sudo rm -f $policy' EXIT
        printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
        $sudo chmod 755 $policy
      fi
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    )
  fi
fi

features=(fault-injection)
if pkg-config --exists hwloc 2>/dev/null && pkg-config --exists libudev 2>/dev/null; then
  have_hwloc=1
else
  have_hwloc=0
  log "hwloc or libudev not found: the hwloc feature is not checked on this machine"
fi
all_features="fault-injection"
[ $have_hwloc = 1 ] && all_features="fault-injection,hwloc"

# The mpi feature needs the MPI library (found through pkg-config), libclang for its bindings,
# and a launcher to run the ranks with.
if command -v mpirun >/dev/null && pkg-config --exists mpi 2>/dev/null && ldconfig -p 2>/dev/null | grep -q libclang; then
  have_mpi=1
  all_features="$all_features,mpi"
  # OpenMPI refuses to launch as root unless told that it is meant.
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
else
  have_mpi=0
  log "mpirun, the MPI library or libclang not found: the mpi feature is not checked on this machine"
fi

# The opencl feature links the OpenCL ICD loader (found through pkg-config). Its tests run with
# whatever device is here: with none they check the `unavailable` path and say that they skipped
# the device test (tests/opencl.rs).
if pkg-config --exists OpenCL 2>/dev/null; then
  have_opencl=1
  all_features="$all_features,opencl"
  if command -v clinfo >/dev/null; then clinfo -l || true; fi
else
  have_opencl=0
  log "the OpenCL ICD loader (ocl-icd-opencl-dev) not found: the opencl feature is not checked on this machine"
fi

# The cuda feature builds with nothing installed (the driver, NVRTC and NVML are loaded at run
# time). No GPU here: tests/cuda.rs checks that its cases are `unavailable` with the reason, and
# compiles every CUDA kernel with NVRTC, which needs no GPU: PyPI's wheel brings libnvrtc.so.12.
# Without pip or its network that test says that it skipped.
all_features="$all_features,cuda"
device_features=cuda
[ $have_opencl = 1 ] && device_features="opencl,cuda"
nvrtc_lib=/opt/nvrtc/nvidia/cuda_nvrtc/lib
if [ ! -e $nvrtc_lib/libnvrtc.so.12 ] && [ -w /opt ] && command -v python3 >/dev/null; then
  log "installing NVRTC (nvidia-cuda-nvrtc-cu12) into /opt/nvrtc"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target /opt/nvrtc \
    nvidia-cuda-nvrtc-cu12==12.9.86 || log "could not install NVRTC: the CUDA kernels are not compiled here"
fi
if [ -e $nvrtc_lib/libnvrtc.so.12 ]; then
  export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# matmul's tuned kernel must start no threads of its own (the strategies split the work):
# nothing in the build may turn on matrixmultiply's "threading" feature.
tree=$(cargo tree -e features -i matrixmultiply --features "$all_features") || {
  echo "cargo tree failed: cannot check matrixmultiply's features" >&2
  exit 1
}
if grep -q '"threading"' <<<"$tree"; then
  echo 'matrixmultiply is built with its "threading" feature: matmul under `sequential` would not be one thread' >&2
  exit 1
fi

# --- formatting and lints ----------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy --all-targets --features $all_features -- -D warnings"
cargo clippy --all-targets --features "$all_features" -- -D warnings
if [ "$all_features" != "fault-injection" ]; then
  # The default build's own code paths (no hwloc, no MPI) are linted too.
  log "cargo clippy --all-targets --features fault-injection -- -D warnings"
  cargo clippy --all-targets --features fault-injection -- -D warnings
fi

# --- tests -------------------------------------------------------------------------------------
log "cargo test (default features, plus the test-only fault-injection workloads)"
cargo test --features fault-injection

# Already run above; again here with their output, so the log says which instruction sets this
# CPU has (checked) and which it lacks (skipped, with a note each).
log "SIMD dispatch agreement: every path this CPU supports against the scalar one"
cargo test --lib --features fault-injection workload::simd -- --nocapture --test-threads 1

if [ $have_hwloc = 1 ]; then
  log "cargo test --features hwloc"
  cargo test --features hwloc,fault-injection
fi

if [ $have_mpi = 1 ]; then
  # tests/mpi.rs: every MPI case of a small scenario verifies on 1 and 2 ranks, with phases,
  # placement, and no rank left behind.
  # opencl and cuda join this build rather than adding one of their own (tests/opencl.rs and
  # tests/cuda.rs take seconds).
  mpi_features="mpi,$device_features,fault-injection"
  log "cargo test --features $mpi_features"
  cargo test --features "$mpi_features"
  # The C yardstick of ci/reference/mpi-yardstick.sh (run by hand: a measurement) compiles.
  mpicc -fsyntax-only -Wall -Werror ci/reference/osu.c
  if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null; then
    log "ci/multihost-check.sh (MPI ranks on three network namespaces as three hosts)"
    # The binary the tests just used (the same features: no second build).
    cargo build --features "$mpi_features" --quiet
    ci/multihost-check.sh
    if command -v slurmctld >/dev/null; then
      log "ci/slurm-check.sh (MPI ranks by srun and mpirun in a one-node Slurm cluster's allocation)"
      ci/slurm-check.sh
    fi
    log "ci/interrupt-check.sh (Ctrl-C stops the host checks at once and leaves nothing behind)"
    if command -v slurmctld >/dev/null; then
      ci/interrupt-check.sh
    else
      ci/interrupt-check.sh --only multihost
      ci/interrupt-check.sh --only wiring
    fi
  fi
fi

if [ $have_mpi = 0 ]; then
  # tests/opencl.rs: every OpenCL case verifies on the device here (PoCL's CPU device in CI);
  # tests/cuda.rs: see above.
  log "cargo test --features $device_features"
  cargo test --features "$device_features,fault-injection"
fi

log "cargo bench --no-run (the criterion benches compile)"
cargo bench --no-run --quiet

if [ -x ci/browser-check.sh ]; then
  if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    log "ci/browser-check.sh (the HTML report in headless Chromium)"
    ci/browser-check.sh
  else
    log "chromium not found: skipping the browser check"
  fi
fi

log "all checks passed"
