#!/usr/bin/env python3
"""Summarizes ab.sh's output: per scenario, ops/s and p99 with metrics off
and on (min / median / max over the rounds), and the on ÷ off ratio of each
round's pair (run back to back)."""
import json
import statistics
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    side = r["label"].split(";")[0].split("=")[1]
    rnd = r["label"].split("round=")[1]
    by.setdefault((r["conns"], r["depth"]), {}).setdefault(rnd, {})[side] = r


def cpu_ns(r):
    # Per measured op; the warm-up's ops cost CPU too, so this overstates
    # both sides by the same share.
    return r["server_cpu_s"] * 1e9 / r["ops"]


def mmm(xs, f="{:,.0f}"):
    xs = sorted(xs)
    return " / ".join(f.format(x) for x in (xs[0], statistics.median(xs), xs[-1]))


print("| lookup, conns × depth | off ops/s | on ops/s | on ÷ off ops/s | off p99 µs | on p99 µs | on ÷ off p99 | server CPU ns per op, off | on | on ÷ off |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (conns, depth), rounds in by.items():
    pairs = [v for v in rounds.values() if "on" in v and "off" in v]
    off = [p["off"] for p in pairs]
    on = [p["on"] for p in pairs]
    print(
        f"| {conns} × {depth} | {mmm([r['ops_s'] for r in off])} | {mmm([r['ops_s'] for r in on])} | "
        f"{mmm([p['on']['ops_s'] / p['off']['ops_s'] for p in pairs], '{:.2f}')} | "
        f"{mmm([r['p99_us'] for r in off], '{:.1f}')} | {mmm([r['p99_us'] for r in on], '{:.1f}')} | "
        f"{mmm([p['on']['p99_us'] / p['off']['p99_us'] for p in pairs], '{:.2f}')} | "
        f"{mmm([cpu_ns(r) for r in off])} | {mmm([cpu_ns(r) for r in on])} | "
        f"{mmm([cpu_ns(p['on']) / cpu_ns(p['off']) for p in pairs], '{:.2f}')} |"
    )
