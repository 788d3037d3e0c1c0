#!/usr/bin/env bash
# Measures the regression gate's own quality on this machine, instead of assuming it:
#  (a) A/A: the same binary against itself, N times, on scenarios/ci.toml: the false-alarm rate
#      (cases reported regressed or improved where nothing changed);
#  (b) A/B with a known slowdown: the calibrated `spin` workload with work_units 1000 vs 1050
#      (5%) and vs 1100 (10%): the detection rate.
# Usage: ci/gate-calibration.sh [N trials, default 10] [threshold, default 3%]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
threshold=${2:-3%}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin="$work/parlab"
cp target/release/parlab "$bin"

spin_scenario() { # $1 = work_units
  cat <<TOML
[scenario]
name = "spin-$1"
description = "calibrated spin for the gate's detection rate"
[defaults]
workers = 1
warmup = "30ms"
min_samples = 15
max_samples = 15
max_time = "2s"
timeout = "20s"
[[workload]]
kind = "spin"
size = [2, 3, 4, 5]
params = { work_units = $1 }
strategies = []
TOML
}
spin_scenario 1000 > "$work/spin-1000.toml"
spin_scenario 1050 > "$work/spin-1050.toml"
spin_scenario 1100 > "$work/spin-1100.toml"

tally() { # $1 = label, $2.. = compare.json files
  python3 - "$@" <<'PY'
import json, sys
label, files = sys.argv[1], sys.argv[2:]
counts, total, noisy = {}, 0, 0
for f in files:
    c = json.load(open(f))
    noisy += any(n["verdict"] in ("regressed", "improved") for n in c["null_control"])
    for case in c["cases"]:
        counts[case["verdict"]] = counts.get(case["verdict"], 0) + 1
        total += 1
rate = lambda v: 100.0 * counts.get(v, 0) / total
print(f"{label}: {total} case comparisons in {len(files)} gate runs: "
      + ", ".join(f"{v} {counts.get(v, 0)} ({rate(v):.1f}%)" for v in ("regressed", "improved", "unchanged", "inconclusive"))
      + f"; null control flagged noise in {noisy} run(s)")
PY
}

start=$(date +%s)
for arm in aa slow5 slow10; do
  files=()
  for i in $(seq 1 "$n"); do
    out="$work/$arm-$i"
    case $arm in
      aa) args=(scenarios/ci.toml) ;;
      slow5) args=("$work/spin-1000.toml" --scenario-b "$work/spin-1050.toml") ;;
      slow10) args=("$work/spin-1000.toml" --scenario-b "$work/spin-1100.toml") ;;
    esac
    t0=$(date +%s)
    "$bin" ab "$bin" "$bin" "${args[@]}" --threshold "$threshold" --out "$out" >/dev/null 2>&1 || true
    echo "  $arm trial $i: $(( $(date +%s) - t0 )) s" >&2
    files+=("$out/compare.json")
  done
  case $arm in
    aa) tally "A/A (false alarms = regressed + improved)" "${files[@]}" ;;
    slow5) tally "A/B 5% slower (detected = regressed)" "${files[@]}" ;;
    slow10) tally "A/B 10% slower (detected = regressed)" "${files[@]}" ;;
  esac
done
echo "threshold $threshold, alpha 0.01, 8 blocks per case; total $(( $(date +%s) - start )) s"
