#!/usr/bin/env bash
# Measures the regression gate's own quality on this machine, instead of assuming it, exactly as
# the gate runs in CI (`parlab ab --fail-on-inconclusive`, adaptive blocks, 3-minute budget):
#  (a) A/A: the same binary against itself, N times, on the gate's scenario: the false-alarm rate
#      (cases reported regressed or improved where nothing changed) and the undecided rate;
#  (b) A/B: the new arm runs the same scenario with S% more work in every workload (sizes or
#      work parameters scaled by the workload's work law, so not only `spin` slows down): the
#      detection rate of the 2-worker cases (those whose slowdown the goal names), and the
#      undecided rate.
# Each rate is count/N with its one-sided 95% Clopper-Pearson bound: upper for false alarms and
# undecided, lower for detection. Goals (issue 9): false alarms <= 1%, undecided <= 10%,
# detection of a 5% slowdown of a 2-worker case >= 90%, each trial within the 3-minute budget.
#
# Usage: ci/gate-calibration.sh [N trials per arm, default 20] [threshold, default 3%] [slowdowns in %, default "5"]
#   e.g. ci/gate-calibration.sh 50 3% "5 10"
# Environment: PARLAB_CAL_SCENARIO (default scenarios/ci.toml), PARLAB_CAL_ARGS (extra `parlab ab`
# options, e.g. "--budget 2m"), PARLAB_CAL_KEEP=DIR keeps every gate's output in DIR;
# PARLAB_CAL_REPORT_ONLY=1 (with PARLAB_CAL_KEEP) re-reports the runs kept there without running.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
threshold=${2:-3%}
slowdowns=${3:-5}
scenario=${PARLAB_CAL_SCENARIO:-scenarios/ci.toml}
read -r -a extra <<<"${PARLAB_CAL_ARGS:-}"
if [ -n "${PARLAB_CAL_KEEP:-}" ]; then
  work=$PARLAB_CAL_KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

# The statistics: Clopper-Pearson bounds, checked against closed forms before anything runs.
cat >"$work/stats.py" <<'PY'
import math

def _log_pmf(i, n, p):
    if p <= 0.0:
        return 0.0 if i == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if i == n else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
            + i * math.log(p) + (n - i) * math.log1p(-p))

def cdf(k, n, p):
    """P(X <= k) for X ~ Binomial(n, p)."""
    return min(1.0, sum(math.exp(_log_pmf(i, n, p)) for i in range(0, k + 1)))

def _bisect(f, want):
    """The p in [0, 1] where the decreasing f(p) equals want."""
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if f(mid) > want:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2

def upper(k, n, alpha=0.05):
    """One-sided (1 - alpha) Clopper-Pearson upper bound of a rate seen k times in n."""
    return 1.0 if k >= n else _bisect(lambda p: cdf(k, n, p), alpha)

def lower(k, n, alpha=0.05):
    """One-sided (1 - alpha) Clopper-Pearson lower bound of a rate seen k times in n."""
    # P(X >= k) = alpha, i.e. P(X <= k - 1) = 1 - alpha (decreasing in p).
    return 0.0 if k <= 0 else _bisect(lambda p: cdf(k - 1, n, p), 1.0 - alpha)

def check():
    # Closed forms at the edges: 0 of n -> 1 - alpha^(1/n); n of n -> alpha^(1/n).
    for n in (1, 10, 30, 299):
        assert abs(upper(0, n) - (1 - 0.05 ** (1 / n))) < 1e-9, n
        assert abs(lower(n, n) - 0.05 ** (1 / n)) < 1e-9, n
    # Symmetry, and the defining tail probabilities at an interior point.
    assert abs(upper(3, 20) - (1 - lower(17, 20))) < 1e-9
    assert abs(cdf(3, 20, upper(3, 20)) - 0.05) < 1e-9
    # The "rule of three": 0 of 299 bounds the rate at about 1%, 29 of 29 at about 90%.
    assert upper(0, 299) <= 0.01 < upper(0, 298)
    assert lower(29, 29) >= 0.9 > lower(28, 28)
    assert lower(0, 5) == 0.0 and upper(5, 5) == 1.0
PY
python3 -c "import sys; sys.path.insert(0, '$work'); import stats; stats.check()"

bin="$work/parlab"
if [ -z "${PARLAB_CAL_REPORT_ONLY:-}" ]; then
  cargo build --release --quiet
  cp target/release/parlab "$bin"
fi

# The slowed scenario: every workload gets S% more work, by the law its work follows in its size
# (pixels = size^2, flops ~ size^3) or, for `spin`, in its work_units. Sizes are integers, so the
# work actually injected is printed per workload.
slowed() { # $1 = slowdown in %, writes the scenario on stdout and the achieved work on stderr
  python3 - "$scenario" "$1" <<'PY'
import sys, tomllib
path, pct = sys.argv[1], float(sys.argv[2])
factor = 1 + pct / 100
doc = tomllib.load(open(path, "rb"))
power = {"mandelbrot": 2, "matmul": 3, "stencil_heat": 2}

def size_value(v):
    if isinstance(v, int):
        return v
    units = {"k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix in sorted(units, key=len, reverse=True):
        if v.endswith(suffix):
            return int(float(v[: -len(suffix)]) * units[suffix])
    return int(v)

def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise SystemExit(f"cannot write {v!r}")

out = []
for table in ("scenario", "defaults"):
    if table in doc:
        out.append(f"[{table}]")
        out += [f"{k} = {toml_value(v)}" for k, v in doc[table].items()]
for name, t in doc.get("strategy", {}).items():
    out.append(f"[strategy.{name}]")
    out += [f"{k} = {toml_value(v)}" for k, v in t.items()]
for w in doc.get("workload", []):
    w = dict(w)
    kind = w["kind"]
    if kind == "spin":
        params = dict(w.get("params", {}))
        base = params.get("work_units", 1000)
        params["work_units"] = round(base * factor)
        w["params"] = params
        achieved = params["work_units"] / base
    else:
        if "size" not in w or isinstance(w["size"], list):
            raise SystemExit(f"{path}: workload `{kind}` needs one explicit size to be slowed")
        base = size_value(w["size"])
        p = power.get(kind, 1)
        w["size"] = round(base * factor ** (1 / p))
        achieved = (w["size"] / base) ** p
    print(f"    {kind}: {100 * (achieved - 1):+.1f}% work", file=sys.stderr)
    out.append("[[workload]]")
    out += [f"{k} = {toml_value(v)}" for k, v in w.items()]
print("\n".join(out))
PY
}
for s in $slowdowns; do
  echo "==> A/B scenario with ${s}% more work:" >&2
  slowed "$s" >"$work/slow-$s.toml"
done

tally() { # $1 = arm label, $2 = kind (aa|ab), $3 = file with "exit seconds compare.json" lines
  python3 - "$work" "$@" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from stats import upper, lower
label, kind, runs_file = sys.argv[2], sys.argv[3], sys.argv[4]
runs = [line.split() for line in open(runs_file) if line.strip()]

def quiet(null, threshold):
    up = 1 + threshold
    e = null["evidence"]
    return e["n"] >= 5 and e["ci_low"] >= 1 / up and e["ci_high"] <= up

cases = false_alarm = undecided = two_w = detected = 0
per_workload = {}
exits, seconds, blocks, missing = {}, [], [], 0
for code, secs, path in runs:
    exits[code] = exits.get(code, 0) + 1
    seconds.append(int(secs))
    try:
        c = json.load(open(path))
    except (OSError, ValueError):
        missing += 1  # the gate failed before writing its verdicts (see its exit code)
        continue
    threshold = c["options"]["threshold"]
    for case, null in zip(c["cases"], c["null_control"]):
        cases += 1
        blocks.append(case["evidence"]["n"])
        v = case["verdict"]
        false_alarm += v in ("regressed", "improved")
        undecided += v in ("inconclusive", "insufficient_data") or not quiet(null, threshold)
        w = per_workload.setdefault(f'{case["workload"]}/{case["strategy"]}/{case["workers"]}w', [0, 0])
        w[0] += v == "regressed"
        w[1] += 1
        if case["workers"] == 2:
            two_w += 1
            # Detected: a regression the gate acts on, i.e. with its own null control quiet.
            detected += v == "regressed" and quiet(null, threshold)

def rate(k, n, bound):
    if n == 0:
        return "0/0"
    b = upper(k, n) if bound == "upper" else lower(k, n)
    return f"{k}/{n} = {100 * k / n:.1f}% (95% {bound} bound {100 * b:.1f}%)"

print(f"{label}: {len(runs)} gate runs, {cases} case comparisons")
print(f"  gate exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(exits.items()))
      + (f"; {missing} run(s) wrote no verdicts" if missing else ""))
if seconds:
    print(f"  wall time per gate run: mean {sum(seconds) / len(seconds):.0f} s, max {max(seconds)} s (budget 180 s)")
if blocks:
    print(f"  blocks per case: mean {sum(blocks) / len(blocks):.1f}, max {max(blocks)}")
print(f"  undecided (inconclusive, insufficient data, or null control too wide): {rate(undecided, cases, 'upper')}")
if kind == "aa":
    print(f"  false alarms (regressed or improved): {rate(false_alarm, cases, 'upper')}")
else:
    print(f"  detection of the 2-worker cases (regressed, own null control quiet): {rate(detected, two_w, 'lower')}")
    print("  detection per case: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(per_workload.items())))
PY
}

arm() { # $1 = name, $2.. = extra ab arguments; runs N gates and writes their outcomes
  local name=$1
  shift
  : >"$work/$name.runs"
  for i in $(seq 1 "$n"); do
    local out="$work/$name-$i"
    local t0 code
    t0=$(date +%s)
    set +e
    "$bin" ab "$bin" "$bin" "$scenario" "$@" --threshold "$threshold" --fail-on-inconclusive \
      "${extra[@]}" --out "$out" >"$out.log" 2>&1
    code=$?
    set -e
    local secs=$(( $(date +%s) - t0 ))
    echo "$code $secs $out/compare.json" >>"$work/$name.runs"
    echo "  $name trial $i/$n: exit $code, $secs s" >&2
  done
}

start=$(date +%s)
if [ -z "${PARLAB_CAL_REPORT_ONLY:-}" ]; then
  echo "==> calibrating the gate on $scenario: $n trials per arm, threshold $threshold, slowdowns ${slowdowns}%" >&2
  echo "    load now: $(cut -d' ' -f1-3 /proc/loadavg) (compare with $(nproc) CPUs: a busy machine widens every interval)" >&2
  arm aa
  for s in $slowdowns; do
    arm "slow$s" --scenario-b "$work/slow-$s.toml"
  done
fi

echo
echo "Gate calibration: $scenario, threshold $threshold, alpha 0.01, --fail-on-inconclusive, $n trials per arm"
echo "machine: $(nproc) CPUs, load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
tally "A/A (nothing changed)" aa "$work/aa.runs"
for s in $slowdowns; do
  tally "A/B (${s}% more work in every workload)" ab "$work/slow$s.runs"
done
python3 - "$work" "$slowdowns" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from stats import lower
work, slowdowns = sys.argv[1], [float(s) for s in sys.argv[2].split()]
found = None
for s in sorted(slowdowns):
    k = n = 0
    for line in open(f"{work}/slow{s:g}.runs"):
        try:
            c = json.load(open(line.split()[2]))
        except (OSError, ValueError):
            continue
        t = c["options"]["threshold"]
        for case, null in zip(c["cases"], c["null_control"]):
            e = null["evidence"]
            quiet = e["n"] >= 5 and e["ci_low"] >= 1 / (1 + t) and e["ci_high"] <= 1 + t
            if case["workers"] == 2:
                n += 1
                k += case["verdict"] == "regressed" and quiet
    if n and k / n >= 0.9:
        found = (s, k, n)
        break
if found:
    s, k, n = found
    print(f"smallest slowdown measured that the gate detected in at least 90% of 2-worker comparisons: "
          f"{s:g}% ({k}/{n}, 95% lower bound {100 * lower(k, n):.1f}%)")
else:
    print("no slowdown measured was detected in 90% of 2-worker comparisons: add larger ones (third argument)")
PY
echo "total $(( $(date +%s) - start )) s"
