#!/usr/bin/env bash
# A/B of two weft_bench binaries on a noisy machine: runs BASE then NEW, ROUNDS times,
# alternating (so both see the same phases of the machine's noise), and prints the
# median real time of each benchmark for both and the change in percent.
#   tools/bench_ab.sh BASE_BENCH NEW_BENCH FILTER [ROUNDS=5]
# e.g. build the old commit in a worktree:
#   git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old-build -G Ninja \
#     -DCMAKE_BUILD_TYPE=Release && ninja -C /tmp/old-build weft_bench
#   tools/bench_ab.sh /tmp/old-build/bench/weft_bench build/release/bench/weft_bench '^spawn/'
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,9p' "$0" >&2; exit 2; }
base="$1" new="$2" filter="$3" rounds="${4:-5}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for ((i = 1; i <= rounds; ++i)); do
  for side in base new; do
    bin="$base"; [[ $side == new ]] && bin="$new"
    "$bin" --benchmark_filter="$filter" --benchmark_format=json 2>/dev/null > "$out/$side.$i.json"
  done
  printf '[%d/%d]\n' "$i" "$rounds" >&2
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys, collections
folder, rounds = sys.argv[1], int(sys.argv[2])
def load(side):
    times = collections.defaultdict(list)
    for i in range(1, rounds + 1):
        for b in json.load(open(f"{folder}/{side}.{i}.json"))["benchmarks"]:
            if b.get("run_type", "iteration") == "iteration" and "error_occurred" not in b:
                times[b["name"]].append((b["real_time"], b["time_unit"]))
    return times
base, new = load("base"), load("new")
width = max((len(k) for k in base), default=10)
print(f"{'benchmark':{width}s} {'base':>12s} {'new':>12s} {'change':>8s}")
for name, samples in base.items():
    if name not in new: continue
    unit = samples[0][1]
    b = statistics.median(t for t, _ in samples)
    n = statistics.median(t for t, _ in new[name])
    print(f"{name:{width}s} {b:10.2f}{unit:>2s} {n:10.2f}{unit:>2s} {100 * (n / b - 1):+7.1f}%")
PY
