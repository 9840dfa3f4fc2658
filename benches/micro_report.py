#!/usr/bin/env python3
"""Ratios from `cargo bench --bench protocol` output (divan's table):
for each p2pci_* line, its throughput ÷ that of the matching http_* line
(same group, same message; *_owned_p2pci goes with the same http_* line), from the median times. Several runs may be
concatenated in the input; min / median / max over them are printed.

    cargo bench --bench protocol > out.txt; python3 benches/micro_report.py out.txt
"""
import re
import statistics
import sys
from collections import defaultdict

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
ROW = re.compile(r"^[│ ]*[├╰]─ (\S+)\s+([\d.]+) (\w+)\s+│\s+([\d.]+) (\w+)\s+│\s+([\d.]+) (\w+)")
GROUP = re.compile(r"^[├╰]─ (\S+)\s+│")


def anchor_name(name):
    """The HTTP line a p2pci line is compared with: `add_p2pci` and
    `add_owned_p2pci` (the same parse, copying its text) both go with `add_http`."""
    return name.replace("_owned_p2pci", "_http").replace("_p2pci", "_http")


def main():
    runs = []  # list of {(group, name): median ns}
    group = None
    current = None
    for line in open(sys.argv[1], encoding="utf-8"):
        if line.startswith("protocol ") or line.startswith("Timer precision"):
            if current:
                runs.append(current)
            current = {}
            continue
        g = GROUP.match(line)
        if g:
            group = g.group(1)
            continue
        m = ROW.match(line)
        if m and current is not None:
            current[(group, m.group(1))] = float(m.group(6)) * UNITS[m.group(7)]
    if current:
        runs.append(current)
    ratios = defaultdict(list)
    times = defaultdict(list)
    for run in runs:
        for (g, name), t in run.items():
            times[(g, name)].append(t)
            if "p2pci" not in name:
                continue
            anchor = (g, anchor_name(name))
            if anchor in run:
                ratios[(g, name.replace("_p2pci", ""))].append(run[anchor] / t)
    print("| group | message | p2pci median ns | httparse / HTTP median ns | throughput ratio p2pci ÷ HTTP (min / median / max) |")
    print("|---|---|---:|---:|---|")
    for (g, msg), rs in sorted(ratios.items()):
        ours = statistics.median(times[(g, msg + "_p2pci")])
        theirs = statistics.median(times[(g, anchor_name(msg + "_p2pci"))])
        print(f"| {g} | {msg} | {ours:.0f} | {theirs:.0f} | {min(rs):.2f} / {statistics.median(rs):.2f} / {max(rs):.2f} |")


if __name__ == "__main__":
    main()
