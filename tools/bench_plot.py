#!/usr/bin/env python3
"""Scaling plot of a weft Google Benchmark JSON file, as plain SVG 1.1.

Usage:
    bench_plot.py RESULTS.json OUT.svg
    (or bench_table.py RESULTS.json --svg OUT.svg, which also prints the tables)

One panel per benchmark family and set of non-`workers` arguments (e.g. fib n:30)
that has a oneTBB peer and a `workers` argument; if no family has a oneTBB peer,
every family with a `workers` argument gets a panel. In a panel: x = workers,
y = speedup over the same peer at 1 worker (time at 1 worker / time), one polyline
with markers per weft peer (weft, weft_gather, ...) and for oneTBB, and the dashed
ideal line y = x. A panel whose family ran at a single worker count (a 1-core
machine) says so instead of plotting. The caption names the machine from the JSON's
`context` (host_name, num_cpus, mhz_per_cpu, date).

Standard library only; no matplotlib.
"""

import math
import os
import sys
from xml.sax.saxutils import escape, quoteattr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_table as bt  # noqa: E402

PANEL_W, PANEL_H = 480, 340
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 56, 16, 34, 46
COLUMNS = 2
HEADER_H, FOOTER_H = 44, 10
COLORS = {"weft": "#1f77b4", "tbb": "#d62728"}
OTHER_COLORS = ["#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
MARKERS = ["circle", "square", "triangle", "diamond"]


def plot_groups(res):
    """Groups to plot: those with workers and a tbb peer, else all with workers."""
    with_workers = [g for g in bt.groups(res).values() if g.has_workers()]
    with_tbb = [g for g in with_workers if "tbb" in g.scaled_peers()]
    return with_tbb or with_workers


def series(g):
    """[(peer, [(workers, speedup)])] for the weft peers and oneTBB of a group."""
    out = []
    for peer in g.scaled_peers():
        if not (bt.is_weft_peer(peer) or peer == "tbb"):
            continue
        cells = g.peers[peer]
        base = cells.get("1").value() if cells.get("1") is not None else None
        if not base:
            continue
        pts = []
        for w in g.worker_counts():
            v = cells[w].value() if w in cells else None
            if v:
                pts.append((float(w), base / v))
        if len(pts) > 1:
            out.append((peer, pts))
    return out


def nice_step(span, target=6):
    """A 1/2/5 x 10^k step giving about `target` ticks over span."""
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def ticks(hi, integer=False):
    """Tick values from 0 to at least hi."""
    step = nice_step(hi)
    if integer:
        step = max(1.0, round(step))
    n = int(math.ceil(hi / step - 1e-9))
    return [i * step for i in range(n + 1)]


def fmt_tick(v):
    return "%d" % v if float(v).is_integer() else "%g" % v


def marker(kind, x, y, color):
    """An SVG marker element centred on (x, y)."""
    if kind == "circle":
        return '<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (x, y, color)
    if kind == "square":
        return '<rect x="%.1f" y="%.1f" width="7" height="7" fill="%s"/>' % (x - 3.5, y - 3.5, color)
    if kind == "triangle":
        pts = "%.1f,%.1f %.1f,%.1f %.1f,%.1f" % (x, y - 4.5, x - 4, y + 3.5, x + 4, y + 3.5)
    else:
        pts = "%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" % (x, y - 4.5, x + 4.5, y, x, y + 4.5, x - 4.5, y)
    return '<polygon points="%s" fill="%s"/>' % (pts, color)


def text(x, y, s, size=11, anchor="start", extra=""):
    return '<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s"%s>%s</text>' % (
        x, y, size, anchor, extra, escape(str(s)))


def style_of(peers):
    """peer -> (color, marker kind, legend name); weft and oneTBB always look the same."""
    fixed = {"weft": ("circle", COLORS["weft"]), "tbb": ("square", COLORS["tbb"])}
    out, i = {}, 0
    for p in peers:
        kind, color = fixed.get(p, (None, None))
        if kind is None:
            kind = MARKERS[2 + i % 2]
            color, i = OTHER_COLORS[i % len(OTHER_COLORS)], i + 1
        out[p] = (color, kind, bt.peer_title(p))
    return out


def axes(x0, y0, w, h, xt, yt, sx, sy):
    """Frame, grid, ticks and axis labels of a panel."""
    out = ['<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>'
           % (x0, y0, w, h)]
    for v in xt:
        x = sx(v)
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>' % (x, y0, x, y0 + h))
        out.append(text(x, y0 + h + 14, fmt_tick(v), 10, "middle"))
    for v in yt:
        y = sy(v)
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>' % (x0, y, x0 + w, y))
        out.append(text(x0 - 5, y + 3.5, fmt_tick(v), 10, "end"))
    out.append(text(x0 + w / 2, y0 + h + 32, "workers", 11, "middle"))
    out.append(text(x0 - 40, y0 + h / 2, "speedup over 1 worker", 11, "middle",
                    ' transform="rotate(-90 %.1f %.1f)"' % (x0 - 40, y0 + h / 2)))
    return out


def legend(x, y, styles):
    """Legend box at top-left (x, y) of the plot area."""
    rows = list(styles.values()) + [None]
    out = ['<rect x="%.1f" y="%.1f" width="120" height="%d" fill="white" fill-opacity="0.85" '
           'stroke="#aaa"/>' % (x, y, 16 * len(rows) + 6)]
    for i, st in enumerate(rows):
        ly = y + 13 + 16 * i
        if st is None:
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#777" '
                       'stroke-dasharray="5,4"/>' % (x + 6, ly - 4, x + 30, ly - 4))
            out.append(text(x + 36, ly, "ideal (y = x)", 10))
            continue
        color, kind, name = st
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>'
                   % (x + 6, ly - 4, x + 30, ly - 4, color))
        out.append(marker(kind, x + 18, ly - 4, color))
        out.append(text(x + 36, ly, name, 10))
    return out


def panel(g, ox, oy):
    """SVG elements of one panel with its top-left corner at (ox, oy)."""
    out = [text(ox + PANEL_W / 2, oy + 20, g.title(), 13, "middle", ' font-weight="bold"')]
    x0, y0 = ox + MARGIN_L, oy + MARGIN_T
    w, h = PANEL_W - MARGIN_L - MARGIN_R, PANEL_H - MARGIN_T - MARGIN_B
    data = series(g)
    counts = g.worker_counts()
    if len(counts) < 2 or not data:
        why = ("only one worker count (%s): no scaling to plot" % ", ".join(counts)
               if len(counts) < 2 else "no peer has times at 1 worker and at more")
        out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#f8f8f8" stroke="#aaa"/>'
                   % (x0, y0, w, h))
        out.append(text(x0 + w / 2, y0 + h / 2, why, 12, "middle"))
        return out
    max_w = max(float(c) for c in counts if bt.num_key(c)[0] == 0)
    max_y = max([max_w] + [s for _, pts in data for _, s in pts]) * 1.05
    xt, yt = ticks(max_w, integer=True), ticks(max_y)
    sx = lambda v: x0 + w * v / xt[-1]  # noqa: E731
    sy = lambda v: y0 + h - h * v / yt[-1]  # noqa: E731
    out += axes(x0, y0, w, h, xt, yt, sx, sy)
    out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#777" stroke-width="1.5" '
               'stroke-dasharray="5,4"/>' % (sx(1), sy(1), sx(max_w), sy(max_w)))
    styles = style_of([p for p, _ in data])
    for peer, pts in data:
        color, kind, _ = styles[peer]
        path = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in pts)
        out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>' % (path, color))
        out += [marker(kind, sx(x), sy(y), color) for x, y in pts]
    out += legend(x0 + 8, y0 + 8, styles)
    return out


def render_svg(res):
    """The whole SVG document of a results file, as a string."""
    gs = plot_groups(res)
    n = max(1, len(gs))
    cols = min(COLUMNS, n)
    rows = (n + cols - 1) // cols
    width, height = max(cols * PANEL_W, 2 * PANEL_W), HEADER_H + rows * PANEL_H + FOOTER_H
    body = [text(10, 18, "weft scaling: speedup over 1 worker",
                 14, extra=' font-weight="bold"'),
            text(10, 36, bt.machine_line(res.context) + "; " + os.path.basename(res.path)
                 + "; speedup = time at 1 worker / time", 11, extra=' fill="#333"')]
    if not gs:
        body.append(text(width / 2, HEADER_H + PANEL_H / 2,
                         "no benchmark with a workers argument in this file", 12, "middle"))
    for i, g in enumerate(gs):
        body += panel(g, (i % cols) * PANEL_W, HEADER_H + (i // cols) * PANEL_H)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" '
            'viewBox="0 0 %d %d" font-family=%s>\n<title>%s</title>\n'
            '<rect width="100%%" height="100%%" fill="white"/>\n%s\n</svg>\n'
            % (width, height, width, height, quoteattr("DejaVu Sans, Arial, sans-serif"),
               escape("weft scaling, " + bt.machine_line(res.context)), "\n".join(body)))


def write_svg(res, path):
    """Write the scaling plot of parsed Results to path."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_svg(res))


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        write_svg(bt.load(argv[1]), argv[2])
    except (bt.BenchError, OSError) as e:
        print("bench_plot: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
