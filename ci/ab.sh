#!/usr/bin/env bash
# The CI regression gate: builds BASE_REV in a git worktree and the working tree, then runs both
# builds interleaved on a scenario with `parlab ab`. Exit codes are parlab's: 0 no regression,
# 1 regression, 2 bad input, 3 the machine was too noisy to judge.
# Usage: ci/ab.sh BASE_REV [SCENARIO, default scenarios/ci.toml] [extra `parlab ab` options]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: ci/ab.sh BASE_REV [SCENARIO] [options]}
scenario=${2:-scenarios/ci.toml}
shift $(( $# >= 2 ? 2 : 1 ))
# 3% is the threshold ci/gate-calibration.sh measured on the 2-core runner: no false alarm in
# 60 A/A comparisons, and every 5% and 10% slowdown caught.
[ $# -gt 0 ] || set -- --threshold 3%

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
"$out/parlab-head" ab "$out/parlab-base" "$out/parlab-head" "$scenario" --out "$out" "$@"
code=$?
set -e
echo "report: $out/compare.html, summary: $out/compare.md"
exit $code
