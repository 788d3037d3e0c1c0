#!/usr/bin/env bash
# Runs the C/OpenMP triad yardstick and parlab's stream_triad in one sitting, on the same array
# size, and checks that parlab's best strategy reaches at least 85% of the C bandwidth.
# Usage: ci/reference/triad-compare.sh [elements per array, default 4x LLC / 8 bytes]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpus=$(nproc)
if [ $# -ge 1 ]; then
  n=$1
else
  llc=$(cat /sys/devices/system/cpu/cpu0/cache/index3/size 2>/dev/null || echo 8192K)
  n=$(( $(numfmt --from=iec "${llc%B}") * 4 / 8 ))
fi

gcc -O3 -march=native -fopenmp "$here/triad.c" -o "$work/triad"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"

echo "== C triad (gcc -O3 -march=native -fopenmp), $n elements per array, best of 20"
c_best=0
for t in 1 "$cpus"; do
  line=$(OMP_NUM_THREADS=$t "$work/triad" "$n" 20)
  echo "   $line"
  c_best=$(python3 -c "import sys; print(max(float('$c_best'), float('${line##*GB/s=}')))")
done

cat > "$work/triad.toml" <<TOML
[scenario]
name = "triad-vs-c"
description = "stream_triad beside the C/OpenMP yardstick"
[defaults]
workers = [1, "max"]
warmup = "300ms"
min_samples = 20
max_samples = 20
max_time = "10s"
[[workload]]
kind = "stream_triad"
size = $n
TOML
echo "== parlab stream_triad, same size"
"$root/target/release/parlab" run "$work/triad.toml" --out "$work/out" > "$work/parlab.txt"
grep -E "stream_triad|workload" "$work/parlab.txt" | sed 's/^/   /'

python3 - "$work/out/results.json" "$c_best" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
c_best = float(sys.argv[2])
ok = [c for c in results["cases"] if c["status"] == "ok"]
median = max(ok, key=lambda c: c["throughput"]["median"])
peak = max(ok, key=lambda c: c["effective_size"] * 24 / min(c["samples_ns"]))
med_gbs = median["throughput"]["median"] / 1e9
peak_gbs = peak["effective_size"] * 24 / min(peak["samples_ns"])
print(f"== C best {c_best:.2f} GB/s; parlab best median {med_gbs:.2f} GB/s "
      f"({median['strategy']}, {median['workers']} workers), best sample {peak_gbs:.2f} GB/s")
ratio = med_gbs / c_best
print(f"   parlab median / C best = {ratio:.3f} (goal >= 0.85)")
sys.exit(0 if ratio >= 0.85 else 1)
PY
