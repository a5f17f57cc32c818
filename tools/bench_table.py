#!/usr/bin/env python3
"""Print weft-vs-peer tables from a Google Benchmark JSON file; compare two runs;
draw a scaling plot.

Usage:
    bench_table.py RESULTS.json [--compare OLD.json] [--svg OUT.svg]

    --compare OLD.json   after the tables, print every benchmark present in both
                         files: old time, new time, change in percent (negative =
                         faster), grouped by family; then the benchmarks found in
                         only one of the files.
    --compare-name NAME  the name to print for OLD.json (tools/weft passes the
                         caller's path when it compares against a saved copy).
    --svg OUT.svg        write a scaling plot (speedup over 1 worker against
                         workers, per family; see bench_plot.py).

Benchmark names follow  family/peer[/key:value...]  e.g.
    fib/weft/workers:2/n:30   fib/tbb/workers:2/n:30   fib/serial/n:30
    timer/wheel/insert_cancel/timers:1000
Suffixes Google Benchmark adds (/real_time, /iterations:N, ...) are ignored.

Tables. One table per family and per set of non-`workers` arguments (fib n:30 and
fib n:32 get separate tables) when the family has a `workers` argument. Rows are
worker counts; columns:
    workers
    weft, weft_gather, ...   time of each weft peer (peers named weft*)
    oneTBB                   time of the tbb peer
    <weft peer>/oneTBB       ratio per weft peer; below 1 means weft is faster
    speedup <peer>           the peer's time at 1 worker / its time at this row
    other peers              time of any other peer that has a workers argument
    serial                   peers without a workers argument (one number,
                             repeated on every row)
    counters                 user counters (e.g. median_us), one column each,
                             prefixed with the peer when several peers have some
Families without a `workers` argument anywhere (timer, memory, sleep_lateness, ...)
get one simple table per family: benchmark, time, and a column per user counter.

Times are real (wall-clock) time per iteration, each in a readable unit (ns, us,
ms, s). With repetitions, the median of the repetitions is used (from the raw runs
if present, else from the `_median` aggregate, else from `_mean`); counters too.
Missing entries print as '-'; a benchmark that reported an error prints
'error: <message>'.

Exit status: 0 on success, 1 for an unreadable or malformed file, 2 for bad usage.
Standard library only (Python 3.7+).
"""

import argparse
import json
import math
import os
import statistics
import sys
from collections import OrderedDict

# Suffixes Google Benchmark adds to a registered name.
_GB_SUFFIX_KEYS = ("real_time", "process_time", "manual_time")
_GB_SUFFIX_PREFIXES = ("min_time:", "min_warmup_time:", "iterations:",
                       "repeats:", "threads:")
_UNIT_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Keys of a benchmark entry that are not user counters.
_STANDARD_KEYS = frozenset((
    "name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
    "iterations", "real_time", "cpu_time", "time_unit", "aggregate_name",
    "aggregate_unit", "error_occurred", "error_message", "family_index",
    "per_family_instance_index", "label"))


class BenchError(Exception):
    """A results file that cannot be read or is not Google Benchmark JSON."""


# ---------------------------------------------------------------- names and peers

def split_name(name):
    """'fib/weft/workers:2/n:30/real_time' -> ('fib', 'weft', {'workers': '2', 'n': '30'}).

    Positional parts after the peer (e.g. 'insert_cancel') become arg0, arg1, ...
    Returns None for an empty name.
    """
    parts = [p for p in name.split("/") if p]
    parts = [p for p in parts
             if p not in _GB_SUFFIX_KEYS and not p.startswith(_GB_SUFFIX_PREFIXES)]
    if not parts:
        return None
    family, rest = parts[0], parts[1:]
    peer = ""
    if rest and ":" not in rest[0]:
        peer, rest = rest[0], rest[1:]
    args = OrderedDict()
    for i, p in enumerate(rest):
        if ":" in p:
            k, v = p.split(":", 1)
        else:
            k, v = "arg%d" % i, p
        args[k] = v
    return family, peer, args


def canonical_name(family, peer, args):
    """The name without Google Benchmark's suffixes; positional args unnamed."""
    parts = [family] + ([peer] if peer else [])
    for k, v in args.items():
        parts.append(v if k.startswith("arg") and k[3:].isdigit() else "%s:%s" % (k, v))
    return "/".join(parts)


def num_key(v):
    """Sort key that orders numbers numerically and puts them before strings."""
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))


def is_weft_peer(peer):
    return peer == "weft" or peer.startswith("weft_")


def peer_order(peer):
    """weft, weft_*, tbb, others, serial."""
    if peer == "weft":
        return (0, "")
    if is_weft_peer(peer):
        return (1, peer)
    if peer == "tbb":
        return (2, "")
    if peer == "serial":
        return (4, "")
    return (3, peer)


def peer_title(peer):
    return {"tbb": "oneTBB"}.get(peer, peer or "-")


# ---------------------------------------------------------------- data model

class Cell:
    """All measurements of one benchmark instance (one canonical name)."""

    def __init__(self, family, peer, args, workers):
        self.family, self.peer, self.args, self.workers = family, peer, args, workers
        self.runs = []          # real_time in ns of each iteration run
        self.aggregates = {}    # aggregate name -> real_time in ns
        self.counters = OrderedDict()      # counter -> values of the runs
        self.agg_counters = {}  # aggregate name -> {counter: value}
        self.error = None
        self.label = ""

    @property
    def name(self):
        args = OrderedDict()
        if self.workers is not None:
            args["workers"] = self.workers
        args.update(self.args)
        return canonical_name(self.family, self.peer, args)

    def value(self):
        """Median real time in ns, or None (an error in any run, or nothing usable)."""
        if self.error is not None:
            return None
        if self.runs:
            return statistics.median(self.runs)
        for agg in ("median", "mean"):
            if agg in self.aggregates:
                return self.aggregates[agg]
        return None

    def counter_values(self):
        """Counter name -> median over the runs (or the median/mean aggregate)."""
        if self.counters:
            return OrderedDict((k, statistics.median(v)) for k, v in self.counters.items())
        for agg in ("median", "mean"):
            if agg in self.agg_counters:
                return OrderedDict(self.agg_counters[agg])
        return OrderedDict()

    def add(self, b):
        """Record one benchmark entry of the JSON."""
        if b.get("label"):
            self.label = str(b["label"])
        if b.get("error_occurred"):
            self.error = str(b.get("error_message") or "unknown")
            return
        unit = b.get("time_unit", "ns")
        if unit not in _UNIT_TO_NS or not _is_number(b.get("real_time")):
            return
        t_ns = float(b["real_time"]) * _UNIT_TO_NS[unit]
        counters = OrderedDict((k, float(v)) for k, v in b.items()
                               if k not in _STANDARD_KEYS and _is_number(v))
        if b.get("run_type") == "aggregate":
            agg = b.get("aggregate_name", "")
            if agg in ("median", "mean"):
                self.aggregates[agg] = t_ns
                self.agg_counters[agg] = counters
        else:
            self.runs.append(t_ns)
            for k, v in counters.items():
                self.counters.setdefault(k, []).append(v)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Results:
    """A parsed results file: context, cells by canonical name, repetitions."""

    def __init__(self, path):
        self.path = path
        self.context = {}
        self.cells = OrderedDict()   # canonical name -> Cell
        self.repetitions = 1
        self.raw_runs = False


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise BenchError("cannot read %s: %s" % (path, e.strerror or e))
    except (ValueError, UnicodeDecodeError) as e:
        raise BenchError("%s is not valid JSON: %s" % (path, e))
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise BenchError("%s is not Google Benchmark JSON (no 'benchmarks' list)" % path)
    return data


def _entry_run_name(b):
    """The instance name of an entry (aggregates: without the _median suffix)."""
    run_name = b.get("run_name") or b.get("name", "")
    if b.get("run_type") == "aggregate" and not b.get("run_name"):
        suffix = "_" + str(b.get("aggregate_name", ""))
        if suffix != "_" and run_name.endswith(suffix):
            run_name = run_name[: -len(suffix)]
    return run_name


def load(path):
    """Parse a Google Benchmark JSON file into Results; raises BenchError."""
    data = _read_json(path)
    res = Results(path)
    ctx = data.get("context")
    res.context = ctx if isinstance(ctx, dict) else {}
    for b in data["benchmarks"]:
        if not isinstance(b, dict):
            raise BenchError("%s: a benchmark entry is not an object" % path)
        parsed = split_name(str(_entry_run_name(b)))
        if parsed is None:
            continue
        family, peer, args = parsed
        workers = args.pop("workers", None)
        cell = Cell(family, peer, args, workers)
        cell = res.cells.setdefault(cell.name, cell)
        cell.add(b)
        reps = b.get("repetitions", 1)
        if _is_number(reps):
            res.repetitions = max(res.repetitions, int(reps))
        if b.get("run_type") != "aggregate" and not b.get("error_occurred"):
            res.raw_runs = True
    return res


class Group:
    """Cells of one family sharing the same non-workers arguments."""

    def __init__(self, family, args):
        self.family, self.args = family, args
        self.peers = OrderedDict()    # peer -> workers (None or str) -> Cell

    def title(self):
        if not self.args:
            return self.family
        return self.family + "  " + " ".join(
            v if k.startswith("arg") else "%s:%s" % (k, v) for k, v in self.args)

    def has_workers(self):
        return any(w is not None for cells in self.peers.values() for w in cells)

    def scaled_peers(self):
        """Peers with a workers argument, in display order."""
        return sorted((p for p, c in self.peers.items() if any(w is not None for w in c)),
                      key=peer_order)

    def constant_peers(self):
        """Peers without a workers argument (e.g. serial), in display order."""
        return sorted((p for p, c in self.peers.items() if None in c and
                       not any(w is not None for w in c)), key=peer_order)

    def worker_counts(self):
        return sorted({w for c in self.peers.values() for w in c if w is not None},
                      key=num_key)


def groups(res):
    """(family, non-workers args) -> Group, in file order."""
    out = OrderedDict()
    for cell in res.cells.values():
        key = (cell.family, tuple(cell.args.items()))
        g = out.setdefault(key, Group(*key))
        g.peers.setdefault(cell.peer, OrderedDict())[cell.workers] = cell
    return out


# ---------------------------------------------------------------- formatting

def fmt_ns(ns):
    """A time in ns in a readable unit: '93.2 ms', '30.3 ns', '1.25 s'."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= scale:
            return _three_digits(ns / scale) + " " + unit
    return _three_digits(ns) + " ns"


def _three_digits(x):
    if abs(x) >= 100:
        return "%.1f" % x
    if abs(x) >= 10:
        return "%.2f" % x
    return "%.3f" % x


def fmt_cell(cell):
    if cell is None:
        return "-"
    v = cell.value()
    if v is None:
        return "error: %s" % cell.error if cell.error is not None else "-"
    return fmt_ns(v)


def fmt_counter(x):
    """Compact: 3 significant digits with k/M/G (or m/u/n) suffixes."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if float(x).is_integer() and abs(x) < 10000:
        return "%d" % x
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0),
                          ("m", 1e-3), ("u", 1e-6), ("n", 1e-9)):
        if abs(x) >= scale:
            return "%.3g%s" % (x / scale, suffix)
    return "%.3g" % x


def fmt_ratio(num, den):
    """num/den of two cells' times, '-' if either is missing."""
    a = num.value() if num is not None else None
    b = den.value() if den is not None else None
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def render(headers, rows):
    """Right-aligned text table, first column left-aligned."""
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]

    def line(r):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()
    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


# ---------------------------------------------------------------- tables

def _counter_columns(cells):
    """[(peer, counter)] in first-seen order over the given cells."""
    cols = OrderedDict()
    for c in cells:
        for k in c.counter_values():
            cols[(c.peer, k)] = True
    return list(cols)


def _counter_headers(cols):
    multi_peer = len({p for p, _ in cols}) > 1
    return ["%s:%s" % (peer_title(p), k) if multi_peer else k for p, k in cols]


def worker_table(g):
    """The table of a group with a workers argument, as text."""
    scaled, constant = g.scaled_peers(), g.constant_peers()
    weft_peers = [p for p in scaled if is_weft_peer(p)]
    tbb = g.peers.get("tbb") if "tbb" in scaled else None
    others = [p for p in scaled if p != "tbb" and not is_weft_peer(p)]
    all_cells = [c for p in g.peers.values() for c in p.values()]
    counters = _counter_columns(all_cells)

    headers = ["workers"] + [peer_title(p) for p in weft_peers]
    headers += ["oneTBB"] if tbb is not None else []
    headers += ["%s/oneTBB" % p for p in weft_peers] if tbb is not None else []
    headers += ["speedup %s" % peer_title(p) for p in weft_peers + (["tbb"] if tbb else [])]
    headers += [peer_title(p) for p in others + constant]
    headers += _counter_headers(counters)

    rows = []
    for w in g.worker_counts():
        row = [w] + [fmt_cell(g.peers[p].get(w)) for p in weft_peers]
        if tbb is not None:
            row.append(fmt_cell(tbb.get(w)))
            row += [fmt_ratio(g.peers[p].get(w), tbb.get(w)) for p in weft_peers]
        for p in weft_peers + (["tbb"] if tbb else []):
            row.append(fmt_ratio(g.peers[p].get("1"), g.peers[p].get(w)))
        row += [fmt_cell(g.peers[p].get(w)) for p in others]
        row += [fmt_cell(g.peers[p].get(None)) for p in constant]
        row += [_counter_at(g, p, k, w) for p, k in counters]
        rows.append(row)
    return render(headers, rows)


def _counter_at(g, peer, counter, workers):
    """The counter of peer at this worker count (or the peer's single instance)."""
    cells = g.peers.get(peer, {})
    cell = cells.get(workers, cells.get(None) if len(cells) == 1 else None)
    if cell is None:
        return "-"
    return fmt_counter(cell.counter_values().get(counter))


def simple_table(family, cells):
    """Benchmark / time / counters table for cells without a workers argument."""
    counters = OrderedDict((k, True) for c in cells for k in c.counter_values())
    headers = ["benchmark", "time"] + list(counters) + (
        ["label"] if any(c.label for c in cells) else [])
    rows = []
    for c in cells:
        name = c.name[len(family) + 1:] if c.name.startswith(family + "/") else c.name
        vals = c.counter_values()
        row = [name, fmt_cell(c)] + [fmt_counter(vals.get(k)) for k in counters]
        if len(headers) > 2 + len(counters):
            row.append(c.label)
        rows.append(row)
    return render(headers, rows)


def _how(res):
    if res.repetitions <= 1:
        return "single run"
    if res.raw_runs:
        return "median of %d repetitions" % res.repetitions
    return "median (or mean) aggregate of %d repetitions" % res.repetitions


def machine_line(context):
    """'vm, 2 CPUs @ 2596 MHz, 2026-11-21T13:03:44+00:00' from the JSON context."""
    mhz = context.get("mhz_per_cpu")
    return "%s, %s CPUs%s, %s" % (context.get("host_name", "?"), context.get("num_cpus", "?"),
                                  " @ %s MHz" % mhz if mhz else "", context.get("date", "?"))


def format_tables(res):
    """Every table of a results file, as text."""
    blocks, simple = [], OrderedDict()
    for g in groups(res).values():
        if g.has_workers():
            blocks.append(g.title() + "\n" + worker_table(g))
        else:
            for cells in g.peers.values():
                simple.setdefault(g.family, []).extend(cells.values())
    for family, cells in simple.items():
        blocks.append(family + "\n" + simple_table(family, cells))
    if not blocks:
        return "no benchmarks in %s" % res.path
    head = [machine_line(res.context) if res.context else res.path,
            "real time per iteration, %s; weft/oneTBB < 1: weft is faster; "
            "speedup = time at 1 worker / time" % _how(res)]
    return "\n".join(head) + "\n\n" + "\n\n".join(blocks)


# ---------------------------------------------------------------- compare

def _sort_key(cell):
    return (cell.family, peer_order(cell.peer),
            [num_key(v) for v in cell.args.values()], num_key(cell.workers))


def format_compare(old, new, old_name=None):
    """Old/new/change table for benchmarks in both files, plus the unmatched ones."""
    both = sorted((c for n, c in new.cells.items() if n in old.cells), key=_sort_key)
    rows, logs, family = [], [], None
    for c in both:
        o, n = old.cells[c.name].value(), c.value()
        if c.family != family and rows:
            rows.append(["", "", "", ""])
        family = c.family
        change = "-"
        if o and n is not None:
            change = "%+.1f%%" % ((n - o) / o * 100)
            logs.append(math.log(n / o)) if n > 0 else None
        rows.append([c.name, fmt_cell(old.cells[c.name]), fmt_cell(c), change])
    out = ["comparison: %s (old) -> %s (new); change < 0: faster"
           % (old_name or old.path, new.path)]
    if rows:
        out.append(render(["benchmark", "old", "new", "change"], rows))
    else:
        out.append("no benchmark is present in both files")
    if logs:
        out.append("geometric mean of new/old over %d benchmarks: %+.1f%%"
                   % (len(logs), (math.exp(sum(logs) / len(logs)) - 1) * 100))
    out += _only_in("only in old", old, new) + _only_in("only in new", new, old)
    return "\n".join(out)


def _only_in(title, a, b):
    names = sorted((c for n, c in a.cells.items() if n not in b.cells), key=_sort_key)
    if not names:
        return []
    return ["", "%s (%d):" % (title, len(names))] + ["  " + c.name for c in names]


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench_table.py", add_help=True,
                                 description="weft benchmark tables (see the module docstring)")
    ap.add_argument("results")
    ap.add_argument("--compare", metavar="OLD.json")
    ap.add_argument("--compare-name", metavar="NAME", help=argparse.SUPPRESS)
    ap.add_argument("--svg", metavar="OUT.svg")
    return ap.parse_args(argv)


def main(argv):
    args = parse_args(argv[1:])
    try:
        res = load(args.results)
        old = load(args.compare) if args.compare else None
        print(format_tables(res))
        if old is not None:
            print()
            print(format_compare(old, res, args.compare_name))
        if args.svg:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import bench_plot
            bench_plot.write_svg(res, args.svg)
    except BenchError as e:
        print("bench_table: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("bench_table: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
