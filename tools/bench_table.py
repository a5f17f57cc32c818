#!/usr/bin/env python3
"""Print weft-vs-peer tables from a Google Benchmark JSON file.

Benchmark names follow  family/peer[/key:value...]  e.g.
    fib/weft/workers:2/n:30   fib/tbb/workers:2/n:30   fib/serial/n:30
Google Benchmark appends suffixes such as /real_time; those are ignored.

One table per family and per set of non-`workers` arguments (so fib n:30 and
fib n:35 get separate tables). Rows are worker counts; columns are weft's time,
oneTBB's time, weft/oneTBB, weft's speedup over weft at 1 worker, and the serial
time (the same on every row). Peers other than weft/tbb/serial get extra columns.
Missing entries print as '-'; a benchmark that reported an error prints 'error'.

With repetitions, the median of the repetitions is reported (from the raw runs if
present, else from the `_median` aggregate, else from `_mean`).

Usage: bench_table.py results.json
Standard library only.
"""

import json
import statistics
import sys
from collections import OrderedDict

# Suffixes Google Benchmark adds to a registered name.
_GB_SUFFIX_KEYS = ("real_time", "process_time", "manual_time")
_GB_SUFFIX_PREFIXES = ("min_time:", "min_warmup_time:", "iterations:",
                       "repeats:", "threads:")
_UNIT_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
_PEER_TITLES = {"weft": "weft", "tbb": "oneTBB", "serial": "serial"}


def _split_name(name):
    """'fib/weft/workers:2/n:30/real_time' -> ('fib', 'weft', {'workers': '2', 'n': '30'})."""
    parts = [p for p in name.split("/") if p]
    parts = [p for p in parts
             if p not in _GB_SUFFIX_KEYS and not p.startswith(_GB_SUFFIX_PREFIXES)]
    if not parts:
        return None
    family = parts[0]
    rest = parts[1:]
    peer = ""
    if rest and ":" not in rest[0]:
        peer = rest[0]
        rest = rest[1:]
    args = OrderedDict()
    for i, p in enumerate(rest):
        if ":" in p:
            k, v = p.split(":", 1)
        else:  # positional argument (e.g. ->Arg(30) without a name)
            k, v = "arg%d" % i, p
        args[k] = v
    return family, peer, args


def _num_key(v):
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))


class Cell:
    """All measurements of one benchmark instance."""

    def __init__(self):
        self.runs = []        # real_time in ns of each iteration run
        self.aggregates = {}  # aggregate name -> real_time in ns
        self.error = None

    def value(self):
        if self.error is not None and not self.runs and not self.aggregates:
            return None
        if self.runs:
            return statistics.median(self.runs)
        for agg in ("median", "mean"):
            if agg in self.aggregates:
                return self.aggregates[agg]
        return None


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    # (family, frozen other args) -> peer -> workers -> Cell
    tables = OrderedDict()
    units = {}       # table key -> list of units seen
    reps = {}        # table key -> max repetitions seen
    raw_seen = {}    # table key -> any raw iteration runs?
    for b in data.get("benchmarks", []):
        run_name = b.get("run_name") or b.get("name", "")
        if b.get("run_type") == "aggregate" and not b.get("run_name"):
            agg = b.get("aggregate_name", "")
            suffix = "_" + agg
            if agg and run_name.endswith(suffix):
                run_name = run_name[: -len(suffix)]
        parsed = _split_name(run_name)
        if parsed is None:
            continue
        family, peer, args = parsed
        workers = args.pop("workers", None)
        key = (family, tuple(args.items()))
        cell = (tables.setdefault(key, OrderedDict())
                .setdefault(peer, OrderedDict())
                .setdefault(workers, Cell()))
        reps[key] = max(reps.get(key, 1), int(b.get("repetitions", 1) or 1))
        if b.get("error_occurred"):
            cell.error = b.get("error_message", "error")
            continue
        unit = b.get("time_unit", "ns")
        if "real_time" not in b or unit not in _UNIT_TO_NS:
            continue
        t_ns = float(b["real_time"]) * _UNIT_TO_NS[unit]
        if b.get("run_type") == "aggregate":
            agg = b.get("aggregate_name", "")
            if agg in ("median", "mean"):
                cell.aggregates[agg] = t_ns
                units.setdefault(key, []).append(unit)
        else:
            cell.runs.append(t_ns)
            raw_seen[key] = True
            units.setdefault(key, []).append(unit)
    return data.get("context", {}), tables, units, reps, raw_seen


def _fmt_time(cell, unit):
    if cell is None:
        return "-"
    v = cell.value()
    if v is None:
        return "error" if cell.error is not None else "-"
    x = v / _UNIT_TO_NS[unit]
    if x >= 100:
        return "%.1f" % x
    if x >= 10:
        return "%.2f" % x
    return "%.3f" % x


def _ratio(a, b):
    if a is None or b is None:
        return "-"
    va, vb = a.value(), b.value()
    if va is None or vb is None or vb == 0:
        return "-"
    return "%.2f" % (va / vb)


def _render(headers, rows):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    out = ["  ".join(str(h).rjust(w) for h, w in zip(headers, widths))]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def format_tables(path):
    context, tables, units, reps, raw_seen = load(path)
    blocks = []
    for key, peers in tables.items():
        family, other_args = key
        unit_list = units.get(key) or ["ns"]
        unit = max(set(unit_list), key=unit_list.count)
        n = reps.get(key, 1)
        if n > 1:
            how = ("median of %d repetitions" % n if raw_seen.get(key)
                   else "median (or mean) aggregate of %d repetitions" % n)
        else:
            how = "single run"
        title = family
        if other_args:
            title += "  " + " ".join("%s:%s" % kv for kv in other_args)
        title += "   (real time in %s, %s)" % (unit, how)

        scaled = [p for p in peers if any(w is not None for w in peers[p])]
        constant = [p for p in peers if p not in scaled]
        order = {"weft": 0, "tbb": 1, "serial": 2}
        scaled.sort(key=lambda p: (order.get(p, 9), p))
        constant.sort(key=lambda p: (order.get(p, 9), p))
        workers = sorted({w for p in scaled for w in peers[p] if w is not None}, key=_num_key)
        if not workers:
            workers = [None]

        weft = peers.get("weft", {})
        tbb = peers.get("tbb", {})
        base = weft.get("1")
        headers = ["workers", "weft", "oneTBB", "weft/oneTBB", "speedup vs weft@1"]
        extra_scaled = [p for p in scaled if p not in ("weft", "tbb")]
        headers += [_PEER_TITLES.get(p, p) for p in extra_scaled]
        const_cols = ["serial"] + [p for p in constant if p not in ("serial", "weft", "tbb")]
        headers += [_PEER_TITLES.get(p, p) for p in const_cols]
        rows = []
        for w in workers:
            wc, tc = weft.get(w), tbb.get(w)
            row = [w if w is not None else "-", _fmt_time(wc, unit), _fmt_time(tc, unit),
                   _ratio(wc, tc), _ratio(base, wc) if w is not None else "-"]
            row += [_fmt_time(peers[p].get(w), unit) for p in extra_scaled]
            # a peer without a workers argument is one number, repeated on every row
            for p in const_cols:
                cells = peers.get(p, {})
                row.append(_fmt_time(cells.get(None), unit))
            rows.append(row)
        blocks.append(title + "\n" + _render(headers, rows))
    if not blocks:
        return "no benchmarks in %s" % path
    head = []
    if context:
        head.append("%s, %s CPUs, %s" % (context.get("host_name", "?"),
                                         context.get("num_cpus", "?"),
                                         context.get("date", "?")))
    head.append("ratios: weft/oneTBB < 1 means weft is faster; "
                "speedup = weft@1 worker time / weft time")
    return "\n".join(head) + "\n\n" + "\n\n".join(blocks)


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        print(format_tables(argv[1]))
    except (OSError, ValueError) as e:
        print("bench_table: cannot read %s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
