#!/usr/bin/env bash
# Does a run's 95% CI hold across runs? Runs SCENARIO K times (each a separate parlab process)
# and, for every case and every ordered pair of runs (a, b), checks whether run a's CI contains
# run b's median. A CI that only reflects noise within one process contains other runs'
# medians far less often than its level promises; `--processes N` measures the spread between
# processes (the issue's goal is 90%; see ci/README.md for what it reaches). Extra arguments go to `parlab run` (e.g. `--processes 5`). With several processes it also
# checks the rerun interval, the range the report says the next run should land in.
#
#   ci/coverage-check.sh scenarios/coverage.toml 8                 # one process per case
#   ci/coverage-check.sh scenarios/coverage.toml 8 --processes 5   # five per case
#   ci/coverage-check.sh scenarios/coverage.toml 6 --processes 5 --spread 90s  # over 90 s each
# PARLAB_BIN=path checks that binary instead of building one.
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
rerun_in = rerun_total = 0
print(f"\n{'case':<44} {'CI holds':>10} {'rerun holds':>12}  medians (min..max)")
for k, case in enumerate(data[0]["cases"]):
    if case["status"] != "ok":
        continue
    name = f"{case['workload']} {case['strategy']} {case['workers']}w {case['effective_size']}"
    cases = [d["cases"][k] for d in data]
    stats = [c["stats"] for c in cases]
    # The rerun interval (a 95% prediction interval for another run's centre) exists for cases
    # measured in several processes.
    reruns = [(c.get("processes") or {}).get("rerun_low_ns") for c in cases]
    inside = pairs = r_in = r_pairs = 0
    for a in range(runs):
        for b in range(runs):
            if a != b:
                pairs += 1
                inside += stats[a]["ci_low"] <= stats[b]["median"] <= stats[a]["ci_high"]
                if reruns[a] is not None:
                    p = cases[a]["processes"]
                    r_pairs += 1
                    r_in += p["rerun_low_ns"] <= stats[b]["median"] <= p["rerun_high_ns"]
    medians = [s["median"] for s in stats]
    total_in += inside
    total += pairs
    rerun_in += r_in
    rerun_total += r_pairs
    rerun = f"{r_in:>5}/{r_pairs:<6}" if r_pairs else f"{'-':>12}"
    print(f"{name:<44} {inside:>4}/{pairs:<5} {rerun}  {min(medians)/1e3:.1f}..{max(medians)/1e3:.1f} us")
pct = 100.0 * total_in / max(total, 1)
print(f"\ncoverage: {total_in}/{total} = {pct:.0f}% of (run, other run) pairs have the other run's median "
      f"inside the run's 95% CI; {runs} runs took {elapsed} s ({elapsed / runs:.1f} s per run) "
      f"with `parlab run {extra}`")
if rerun_total:
    print(f"rerun interval: {rerun_in}/{rerun_total} = {100.0 * rerun_in / rerun_total:.0f}% of pairs have the other "
          f"run's median inside the run's 95% prediction interval for a rerun (a CI holds another run's "
          f"estimate only about 83-88% of the time even when it is exact)")
PY
