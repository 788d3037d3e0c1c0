#!/usr/bin/env bash
# parlab's MPI ping-pong and bandwidth beside a C yardstick, in one sitting, on 2 ranks:
#   ping_pong (mpi)  vs ci/reference/osu.c latency    (MPI_Send/MPI_Recv, half the round trip)
#   bandwidth (mpi)  vs ci/reference/osu.c bandwidth  (windows of 64 MPI_Isend/MPI_Irecv + ack)
# The C program runs under `mpirun -n 2 --bind-to core`, as parlab starts its ranks on a machine
# with 2 cores or more. Best of RUNS runs of each side, interleaved (C latency, C bandwidth, then
# parlab: both sides of a ratio share the machine's mood). parlab's numbers are medians over its
# adaptive samples (default sampling: 5 to 30 samples, 3 s, 2% CI); the C program's are averages
# over OSU's iteration counts. Prints the table, the ratios parlab / C for 8-byte latency and
# 4 MiB bandwidth (target: within 10%), the 8-byte latency over `channels` and `process` (pipes)
# from the same parlab run, and how many round trips parlab's sampling spent against OSU's.
# Needs mpicc and mpirun (Debian: libopenmpi-dev, openmpi-bin). Measure on a quiet machine: it
# says how busy it was.
# Usage: ci/reference/mpi-yardstick.sh [sizes, default "8 1024 65536 1048576 4194304"]
# Environment: RUNS (3), BW_LARGE_ITERS (50: windows timed above 8 KiB; OSU's 1000 would move
# 256 GiB at 4 MiB).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sizes=${1:-"8 1024 65536 1048576 4194304"}
runs=${RUNS:-3}
bw_large=${BW_LARGE_ITERS:-50}
for tool in mpicc mpirun; do
  command -v $tool >/dev/null || { echo "mpi-yardstick: $tool not found; install libopenmpi-dev and openmpi-bin" >&2; exit 2; }
done
# OpenMPI refuses to launch as root unless told that it is meant.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
case " $sizes " in *" 8 "*) ;; *) echo "mpi-yardstick: the sizes must include 8 (the latency target)" >&2; exit 2 ;; esac
case " $sizes " in *" 4194304 "*) ;; *) echo "mpi-yardstick: the sizes must include 4194304 (the bandwidth target)" >&2; exit 2 ;; esac

mpicc -O2 "$here/osu.c" -o "$work/osu"
cargo build --release --quiet --features mpi --manifest-path "$root/Cargo.toml"
parlab="${CARGO_TARGET_DIR:-$root/target}/release/parlab"
osu() { mpirun -n 2 --bind-to core "$work/osu" "$@"; }

echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); $(mpirun --version | head -1); best of $runs runs each"

toml_sizes=$(sed 's/ /, /g' <<<"$sizes")
cat >"$work/mpi-yardstick.toml" <<TOML
[scenario]
name = "mpi-yardstick"
description = "parlab's MPI ping-pong and bandwidth at the C yardstick's sizes"
[defaults]
workers = [2]
timeout = "300s"
[[workload]]
kind = "ping_pong"
size = [$toml_sizes]
strategies = ["mpi"]
[[workload]]
kind = "bandwidth"
size = [$toml_sizes]
strategies = ["mpi"]
[[workload]]
kind = "ping_pong"
size = 8
workers = 1
strategies = ["channels", "process"]
TOML

for r in $(seq "$runs"); do
  # shellcheck disable=SC2086
  osu latency $sizes >"$work/c-latency$r.txt"
  # shellcheck disable=SC2086
  osu bandwidth -I "$bw_large" $sizes >"$work/c-bandwidth$r.txt"
  "$parlab" run "$work/mpi-yardstick.toml" --out "$work/run$r" >"$work/run$r.txt" 2>&1 || {
    cat "$work/run$r.txt" >&2
    exit 1
  }
done
echo "   load average afterwards $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work" "$runs" "$bw_large" <<'PY'
import json, re, sys
work, runs, bw_large = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def c_lines(kind, key):
    """size -> [value of `key` in each run] from the C program's lines."""
    out = {}
    for r in range(1, runs + 1):
        for line in open(f"{work}/c-{kind}{r}.txt"):
            f = dict(re.findall(r"(\S+)=(\S+)", line))
            out.setdefault(int(f["size"]), []).append(float(f[key]))
    return out

c_lat, c_bw = c_lines("latency", "one_way_ns"), c_lines("bandwidth", "bytes_per_s")
p_lat, p_bw, quote, spent = {}, {}, {}, {}
for r in range(1, runs + 1):
    for c in json.load(open(f"{work}/run{r}/results.json"))["cases"]:
        if c["status"] != "ok" or not c["verification"]["passed"]:
            sys.exit(f"parlab run {r}: {c['workload']} {c['strategy']} {c['size']}: {c['status']} "
                     f"{c.get('reason') or c['verification']['detail']}")
        key = (c["workload"], c["strategy"], c["size"])
        if c["workload"] == "ping_pong" and c["strategy"] == "mpi":
            p_lat.setdefault(c["size"], []).append(c["latency_ns"])
            # Round trips sampled: samples x runs per sample x trips per run (2 one-way
            # messages each); the trips per run are the throughput's work / (2 x size).
            s = c["stats"]
            trips = c["throughput"]["median"] * s["median"] / 1e9 / (2 * c["size"])
            half = (s["ci_high"] - s["ci_low"]) / 2 / s["median"]
            spent.setdefault(c["size"], []).append(
                (len(c["samples_ns"]), c["batch"], round(trips), c["warmup_runs"], half))
        elif c["workload"] == "bandwidth" and c["strategy"] == "mpi":
            p_bw.setdefault(c["size"], []).append(c["throughput"]["median"])
        elif c["workload"] == "ping_pong" and c["size"] == 8:
            quote.setdefault(c["strategy"], []).append(c["latency_ns"])

print("| size | C latency (best) | parlab `ping_pong` mpi latency (best median) | ratio | C bandwidth (best) | parlab `bandwidth` mpi (best median) | ratio |")
print("|---|---|---|---|---|---|---|")
for size in sorted(c_lat):
    cl, pl = min(c_lat[size]), min(p_lat[size])
    cb, pb = max(c_bw[size]), max(p_bw[size])
    print(f"| {size} B | {cl:.0f} ns | {pl:.0f} ns | {pl / cl:.2f} | {cb / 1e9:.3f} GB/s | {pb / 1e9:.3f} GB/s | {pb / cb:.2f} |")
lat8 = min(p_lat[8]) / min(c_lat[8])
bw4 = max(p_bw[4194304]) / max(c_bw[4194304])
print(f"ratios (parlab / C): 8 B latency {lat8:.2f} (target <= 1.10), 4 MiB bandwidth {bw4:.2f} (target >= 0.90)")
print("8 B one-way latency, same parlab runs (best median): " + ", ".join(
    [f"mpi {min(p_lat[8]):.0f} ns"] + [f"{s} {min(v):.0f} ns" for s, v in sorted(quote.items())]))
print(f"round trips parlab's sampling spent (per run of the scenario: samples x runs/sample x trips/run; "
      f"warm-up runs apart), against OSU's 10,000 + 100 up to 8 KiB and 1,000 + 10 above:")
for size in sorted(spent):
    osu = 10100 if size <= 8192 else 1010
    for n, batch, trips, warm, half in spent[size]:
        print(f"  {size} B: {n} x {batch} x {trips} = {n * batch * trips} timed (+ {warm} warm-up runs of {trips});"
              f" CI half-width {100 * half:.2f}% of the median; OSU: {osu}")
print(f"(C bandwidth above 8 KiB: {bw_large} timed windows, not OSU's 1,000)")
PY
