#!/usr/bin/env bash
# The CI regression gate: builds BASE_REV in a git worktree and the working tree, then runs both
# builds interleaved on a scenario with `parlab ab --fail-on-inconclusive`: a gate that cannot
# decide blocks rather than passes. Exit codes are parlab's: 0 no regression (every case decided),
# 1 a case regressed or broke, 2 bad input, 3 the gate could not decide (the null control was too
# noisy for the threshold, or a case stayed inconclusive after its adaptive blocks).
# Usage: ci/ab.sh BASE_REV [SCENARIO, default scenarios/ci.toml] [extra `parlab ab` options]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: ci/ab.sh BASE_REV [SCENARIO] [options]}
scenario=${2:-scenarios/ci.toml}
shift $(( $# >= 2 ? 2 : 1 ))
# The defaults come from ci/gate-calibration.sh on the 2-core runner (see ci/README.md): at 10%
# the gate decided every A/A case and caught 25% more work in every 2-worker case; at 3% two-worker
# cases on a 2-vCPU VM never decide. Adaptive blocks up to 150 let the budget, not the count,
# bound the gate. Options given here replace both.
[ $# -gt 0 ] || set -- --threshold 10% --max-runs 150

out=${PARLAB_AB_OUT:-reports/ab-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT

echo "==> building the base revision $base"
git worktree add --detach --force "$tree" "$base" >/dev/null
# A shared target folder would rebuild one tree over the other; each keeps its own.
cargo build --release --quiet --manifest-path "$tree/Cargo.toml"
cp "$tree/target/release/parlab" "$out/parlab-base"

echo "==> building the working tree"
cargo build --release --quiet
cp target/release/parlab "$out/parlab-head"

echo "==> parlab ab (base vs head) on $scenario"
set +e
"$out/parlab-head" ab "$out/parlab-base" "$out/parlab-head" "$scenario" --out "$out" --fail-on-inconclusive "$@"
code=$?
set -e
echo "report: $out/compare.html, summary: $out/compare.md"
exit $code
