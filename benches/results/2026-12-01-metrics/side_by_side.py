#!/usr/bin/env python3
"""Side by side: p2pci with metrics off and on, each as a ratio to its
anchor (Redis or nginx) measured in the same run.

    python3 side_by_side.py off/results.jsonl on/results.jsonl
"""
import json
import sys


def load(path):
    runs = {}
    for line in open(path):
        r = json.loads(line)
        if "proto" not in r:
            continue
        key = (r["scenario"], r.get("conns"), r.get("depth"), r["label"].split(";file=")[-1] if "file=" in r["label"] else "")
        runs.setdefault(key, {})[r["proto"]] = r
    return runs


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


off, on = load(sys.argv[1]), load(sys.argv[2])
print("| scenario | conns | depth | off: p2pci ops/s | off: ÷ anchor | on: p2pci ops/s | on: ÷ anchor | on ÷ off (ratios) | p99 ÷ anchor off / on |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for key in off:
    if key not in on or "p2pci" not in off[key]:
        continue
    scenario, conns, depth, file = key
    a, b = off[key], on[key]
    anchor = next((p for p in ("redis", "http") if p in a), None)
    pa, pb = a["p2pci"], b["p2pci"]
    name = scenario + (f" ({file})" if file else "")
    if anchor is None:
        print(f"| {name} | {conns} | {depth or ''} | {fmt(pa['ops_s'])} | | {fmt(pb['ops_s'])} | | {pb['ops_s'] / pa['ops_s']:.2f} (absolute) | |")
        continue
    ra = pa["ops_s"] / a[anchor]["ops_s"]
    rb = pb["ops_s"] / b[anchor]["ops_s"]
    la = pa["p99_us"] / a[anchor]["p99_us"]
    lb = pb["p99_us"] / b[anchor]["p99_us"]
    print(f"| {name} | {conns} | {depth or ''} | {fmt(pa['ops_s'])} | {ra:.2f} | {fmt(pb['ops_s'])} | {rb:.2f} | {rb / ra:.2f} | {la:.2f} / {lb:.2f} |")
