#!/usr/bin/env bash
# Does a run's 95% CI hold across runs? Runs SCENARIO K times (each a separate parlab process)
# and, for every case and every ordered pair of runs (a, b), checks whether run a's CI contains
# run b's median. A CI that only reflects noise within one process contains other runs'
# medians far less often than its level promises; `--processes N` should bring it to at least
# 90%. Extra arguments go to `parlab run` (e.g. `--processes 5`).
#
#   ci/coverage-check.sh scenarios/coverage.toml 8                 # one process per case
#   ci/coverage-check.sh scenarios/coverage.toml 8 --processes 5   # five per case
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: ci/coverage-check.sh SCENARIO K [parlab run arguments...]}
runs=${2:?usage: ci/coverage-check.sh SCENARIO K [parlab run arguments...]}
shift 2
[ "$runs" -ge 2 ] || { echo "K must be at least 2" >&2; exit 2; }
[ -n "${PARLAB_BIN:-}" ] || cargo build --release --quiet
bin=${PARLAB_BIN:-target/release/parlab}
# KEEP=DIR keeps every run's results there for a closer look.
if [ -n "${KEEP:-}" ]; then
  work=$KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
start=$(date +%s)
for i in $(seq 1 "$runs"); do
  "$bin" run "$scenario" --out "$work/run-$i" "$@" >/dev/null 2>"$work/run-$i.log" \
    || { echo "run $i failed:"; cat "$work/run-$i.log"; exit 1; }
  echo "run $i of $runs done"
done
elapsed=$(( $(date +%s) - start ))
python3 - "$work" "$runs" "$elapsed" "$*" <<'PY'
import json, sys
work, runs, elapsed, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = [json.load(open(f"{work}/run-{i}/results.json")) for i in range(1, runs + 1)]
total_in = total = 0
print(f"\n{'case':<44} {'CI holds':>10}  medians (min..max)")
for k, case in enumerate(data[0]["cases"]):
    if case["status"] != "ok":
        continue
    name = f"{case['workload']} {case['strategy']} {case['workers']}w {case['effective_size']}"
    stats = [d["cases"][k]["stats"] for d in data]
    inside = pairs = 0
    for a in range(runs):
        for b in range(runs):
            if a != b:
                pairs += 1
                inside += stats[a]["ci_low"] <= stats[b]["median"] <= stats[a]["ci_high"]
    medians = [s["median"] for s in stats]
    total_in += inside
    total += pairs
    print(f"{name:<44} {inside:>4}/{pairs:<5} {min(medians)/1e3:.1f}..{max(medians)/1e3:.1f} us")
pct = 100.0 * total_in / max(total, 1)
print(f"\ncoverage: {total_in}/{total} = {pct:.0f}% of (run, other run) pairs have the other run's median "
      f"inside the run's 95% CI; {runs} runs took {elapsed} s ({elapsed / runs:.1f} s per run) "
      f"with `parlab run {extra}`")
PY
