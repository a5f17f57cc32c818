#!/usr/bin/env bash
# A/B of two weft_bench binaries on a noisy machine: runs BASE then NEW, ROUNDS times,
# alternating (so both see the same phases of the machine's noise), and prints the
# median real time of each benchmark, and of each of its counters, for both and the
# change in percent.
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
# Google Benchmark's own fields; every other number in a row is a user counter.
OWN = {"family_index", "per_family_instance_index", "repetitions", "repetition_index",
       "threads", "iterations", "real_time", "cpu_time"}
def load(side):
    rows = collections.defaultdict(lambda: collections.defaultdict(list))
    units = {}
    for i in range(1, rounds + 1):
        for b in json.load(open(f"{folder}/{side}.{i}.json"))["benchmarks"]:
            if b.get("run_type", "iteration") != "iteration" or "error_occurred" in b:
                continue
            units[b["name"]] = b["time_unit"]
            rows[b["name"]]["real_time"].append(b["real_time"])
            for key, value in b.items():
                if key not in OWN and isinstance(value, (int, float)) and not isinstance(value, bool):
                    rows[b["name"]][key].append(value)
    return rows, units
(base, units), (new, _) = load("base"), load("new")
lines = []
for name, fields in base.items():
    if name not in new: continue
    for field, samples in fields.items():
        if field not in new[name]: continue
        label = name if field == "real_time" else f"  {field}"
        unit = units[name] if field == "real_time" else ""
        b = statistics.median(samples)
        n = statistics.median(new[name][field])
        change = f"{100 * (n / b - 1):+7.1f}%" if b else "      -"
        lines.append((label, f"{b:10.4g}{unit:>2s}", f"{n:10.4g}{unit:>2s}", change))
width = max((len(l[0]) for l in lines), default=10)
print(f"{'benchmark (counters indented)':{width}s} {'base':>12s} {'new':>12s} {'change':>8s}")
for label, b, n, change in lines:
    print(f"{label:{width}s} {b} {n} {change}")
PY
