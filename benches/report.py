#!/usr/bin/env python3
"""Turns benches/compare.sh output (results.jsonl) into Markdown tables of
ratios p2pci / anchor, min/median/max over the repetitions, and one SVG
picture (ops/s against connections). Standard library only.

    python3 benches/report.py target/bench-results/results.jsonl target/bench-results
"""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    runs, extra = [], {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            if "proto" not in d:
                extra.update(d)
                continue
            tags = dict(kv.split("=", 1) if "=" in kv else (kv, "1") for kv in d["label"].split(";") if kv)
            d["rep"] = tags.get("rep", "1")
            d["file"] = tags.get("file", "")
            d["scale"] = "scale" in tags
            d["mem"] = tags.get("mem", "")
            runs.append(d)
    return runs, extra


def mmm(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def med(xs):
    return statistics.median(xs) if xs else 0.0


def pairs(runs, anchor, key):
    """{case: [(p2pci run, anchor run), ...]} matched within a repetition."""
    by = defaultdict(dict)
    for r in runs:
        if r["scale"] or r["mem"]:
            continue
        k = key(r)
        if k is not None:
            by[(k, r["rep"])][r["proto"]] = r
    out = defaultdict(list)
    for (case, _rep), d in sorted(by.items()):
        if "p2pci" in d and anchor in d:
            out[case].append((d["p2pci"], d[anchor]))
    return out


def ratio(a, b):
    return a / b if b else None


def main():
    path, outdir = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "."
    runs, extra = load(path)
    lines = []
    p = lines.append

    p("### Index operations: p2pci ÷ Redis (same client, same run)\n")
    p("Ratios min / median / max over the repetitions. ops/s: higher is better for p2pci;")
    p("p99: p2pci ÷ Redis, lower is better for p2pci (target ≤ 1.00).\n")
    p("| scenario | conns | depth | p2pci ops/s (median) | Redis ops/s (median) | ops/s ratio | p99 ratio | errors |")
    p("|---|---:|---:|---:|---:|---|---|---:|")
    idx = pairs(runs, "redis", lambda r: (r["scenario"], r["conns"], r["depth"]))
    for (scen, conns, depth), ps in sorted(idx.items(), key=lambda kv: (["add", "lookup", "list"].index(kv[0][0]), kv[0][1], kv[0][2])):
        if scen == "list":
            continue
        p(f"| {scen} | {conns} | {depth} | {med([a['ops_s'] for a, _ in ps]):,.0f} | {med([b['ops_s'] for _, b in ps]):,.0f} "
          f"| {mmm([ratio(a['ops_s'], b['ops_s']) for a, b in ps])} | {mmm([ratio(a['p99_us'], b['p99_us']) for a, b in ps])} "
          f"| {sum(a['errors'] for a, _ in ps)} / {sum(b['errors'] for _, b in ps)} |")

    p("\n### LIST of K records ÷ Redis LRANGE of K items\n")
    p("| K | p2pci MB/s (median) | Redis MB/s (median) | bytes/s ratio | p99 ratio |")
    p("|---:|---:|---:|---|---|")
    for (scen, conns, depth), ps in idx.items():
        if scen != "list":
            continue
        k = ps[0][0]["k"]
        p(f"| {k} | {med([a['bytes_s'] for a, _ in ps]) / 1e6:,.1f} | {med([b['bytes_s'] for _, b in ps]) / 1e6:,.1f} "
          f"| {mmm([ratio(a['bytes_s'], b['bytes_s']) for a, b in ps])} | {mmm([ratio(a['p99_us'], b['p99_us']) for a, b in ps])} |")

    p("\n### File GET: p2pci upload server ÷ nginx\n")
    p("| file | conns | p2pci (median) | nginx (median) | ratio | p99 ratio | errors |")
    p("|---|---:|---:|---:|---|---|---:|")
    gets = pairs(runs, "http", lambda r: (r["file"], r["conns"]) if r["scenario"] == "get" else None)
    for (file, conns), ps in sorted(gets.items(), key=lambda kv: str(kv[0])):
        if file == "small":
            unit, f = "req/s", (lambda r: r["ops_s"])
            label = f"RFC-sized ({extra.get('small_file', '?')} B)"
        else:
            unit, f = "MB/s", (lambda r: r["bytes_s"] / 1e6)
            label = "100 MiB"
        p(f"| {label} | {conns} | {med([f(a) for a, _ in ps]):,.1f} {unit} | {med([f(b) for _, b in ps]):,.1f} {unit} "
          f"| {mmm([ratio(f(a), f(b)) for a, b in ps])} | {mmm([ratio(a['p99_us'], b['p99_us']) for a, b in ps])} "
          f"| {sum(a['errors'] for a, _ in ps)} / {sum(b['errors'] for _, b in ps)} |")

    churn = [r for r in runs if r["scenario"] == "churn"]
    if churn:
        p("\n### Churn (p2pci only): peers join, ADD R = 100, leave, with lookups in flight\n")
        p("| lookups/s | lookup p99 µs | peers joined+left /s | errors |")
        p("|---|---|---|---:|")
        p(f"| {mmm([r['ops_s'] for r in churn])} | {mmm([r['p99_us'] for r in churn])} "
          f"| {mmm([r['cycles_s'] for r in churn])} | {sum(r['errors'] for r in churn)} |")

    scale = [r for r in runs if r["scale"]]
    if scale:
        p("\n### LOOKUP latency against index size (p2pci, 1 connection, no pipelining)\n")
        p("| K | p50 µs | p99 µs | p99.9 µs | p99 ÷ p99 at K=1k (same repetition) |")
        p("|---:|---|---|---|---|")
        base = {r["rep"]: r["p99_us"] for r in scale if r["k"] == 1000}
        for k in sorted({r["k"] for r in scale}):
            rs = [r for r in scale if r["k"] == k]
            p(f"| {k:,} | {mmm([r['p50_us'] for r in rs])} | {mmm([r['p99_us'] for r in rs])} | {mmm([r['p999_us'] for r in rs])} "
              f"| {mmm([ratio(r['p99_us'], base.get(r['rep'], 0)) for r in rs])} |")

    mem = {r["mem"]: r for r in runs if r["mem"]}
    p("\n### Memory (resident, VmRSS)\n")
    p("| what | measured | target |")
    p("|---|---|---|")
    if "idle" in mem:
        r = mem["idle"]
        per = (r["rss_after_kb"] - r["rss_before_kb"]) * 1024 / max(1, r["conns"])
        p(f"| server, per idle peer connection ({r['conns']:,} connections, {r['ops']:,} registered) | {per:,.0f} B | ≤ 8,192 B |")
    if "records" in mem:
        r = mem["records"]
        per = (r["rss_after_kb"] - r["rss_before_kb"]) * 1024 / max(1, r["k"]) - 40
        p(f"| server, per record beyond its 40-byte title ({r['k']:,} records) | {per:,.0f} B | ≤ 256 B |")
    if "peer_idle_kb" in extra:
        p(f"| idle peer process | {extra['peer_idle_kb'] / 1024:.1f} MiB | ≤ 20 MiB |")
        p(f"| the same peer after serving every GET run | {extra['peer_after_kb'] / 1024:.1f} MiB | |")

    print("\n".join(lines))
    svg(runs, f"{outdir}/ops_vs_conns.svg")


def svg(runs, path):
    """ops/s against connections, LOOKUP and ADD, p2pci and Redis, depth 1
    and 16 (medians over repetitions), log-log."""
    import math

    series = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r["scenario"] in ("add", "lookup") and not r["scale"] and r["proto"] in ("p2pci", "redis"):
            series[(r["scenario"], r["proto"], r["depth"])][r["conns"]].append(r["ops_s"])
    if not series:
        return
    W, H, L, R, T, B = 720, 440, 80, 200, 40, 50
    xs = sorted({c for s in series.values() for c in s})
    ys = [med(v) for s in series.values() for v in s.values() if med(v) > 0]
    y0, y1 = 10 ** math.floor(math.log10(min(ys))), 10 ** math.ceil(math.log10(max(ys)))
    def X(c):
        return L + (xs.index(c) / max(1, len(xs) - 1)) * (W - L - R)
    def Y(v):
        return T + (1 - (math.log10(v) - math.log10(y0)) / (math.log10(y1) - math.log10(y0))) * (H - T - B)
    colors = {"p2pci": "#c0392b", "redis": "#2c3e50"}
    dash = {("lookup", 1): "", ("lookup", 16): "", ("add", 1): "6,4", ("add", 16): "6,4"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="22" font-size="15">ops/s against connections (median of repetitions; same client, same run)</text>']
    e = y0
    while e <= y1:
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(e):.1f}" y2="{Y(e):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{Y(e) + 4:.1f}" text-anchor="end">{e:,.0f}</text>')
        e *= 10
    for c in xs:
        out.append(f'<text x="{X(c):.1f}" y="{H - B + 18}" text-anchor="middle">{c}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">connections</text>')
    out.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="black"/>')
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="black"/>')
    ly = T + 10
    for (scen, proto, depth), pts in sorted(series.items()):
        pts = sorted((c, med(v)) for c, v in pts.items())
        d = " ".join(f"{X(c):.1f},{Y(v):.1f}" for c, v in pts)
        width = 3 if depth > 1 else 1.5
        out.append(f'<polyline points="{d}" fill="none" stroke="{colors[proto]}" stroke-width="{width}" '
                   f'stroke-dasharray="{dash.get((scen, depth), "")}"/>')
        for c, v in pts:
            out.append(f'<circle cx="{X(c):.1f}" cy="{Y(v):.1f}" r="3" fill="{colors[proto]}"/>')
        out.append(f'<line x1="{W - R + 10}" x2="{W - R + 40}" y1="{ly}" y2="{ly}" stroke="{colors[proto]}" '
                   f'stroke-width="{width}" stroke-dasharray="{dash.get((scen, depth), "")}"/>')
        out.append(f'<text x="{W - R + 46}" y="{ly + 4}">{proto} {scen}, depth {depth}</text>')
        ly += 20
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
