#!/usr/bin/env python3
"""Turns benches/ab.sh output (results.jsonl) into a Markdown table: for each
scenario, B/A ratios of ops/s, of p99 latency and (where ab.sh recorded it)
of the server's CPU time per request, min / median / max over the
repetitions (each repetition's A and B were measured back to back), and the
median absolute figures. With a Redis column (side R), also B/R. Standard
library only.

    python3 benches/ab_report.py target/ab-results/results.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def mmm(xs):
    if not xs:
        return "n/a"
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def main(path):
    runs = defaultdict(dict)  # (scenario, conns, depth) -> {(side, rep): run}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            tags = dict(kv.split("=", 1) for kv in d["label"].split(";") if "=" in kv)
            runs[(d["scenario"], d["conns"], d["depth"])][(tags["side"], tags["rep"])] = d
    has_redis = any(side == "R" for cell in runs.values() for side, _ in cell)
    head = "| scenario | conns | depth | B/A ops/s | B/A p99 | B/A CPU/op | A ops/s | B ops/s | A p99 µs | B p99 µs |"
    rule = "|---|---|---|---|---|---|---|---|---|---|"
    if has_redis:
        head += " B/Redis ops/s |"
        rule += "---|"
    print(head)
    print(rule)
    for key in sorted(runs):
        cell = runs[key]
        reps = sorted({rep for _, rep in cell})
        ops, p99, cpu, br = [], [], [], []
        for rep in reps:
            a, b, r = cell.get(("A", rep)), cell.get(("B", rep)), cell.get(("R", rep))
            if a and b and a["ops_s"] and a["p99_us"]:
                ops.append(b["ops_s"] / a["ops_s"])
                p99.append(b["p99_us"] / a["p99_us"])
                if a.get("server_cpu_s") and b.get("server_cpu_s") and a["ops"] and b["ops"]:
                    cpu.append((b["server_cpu_s"] / b["ops"]) / (a["server_cpu_s"] / a["ops"]))
            if b and r and r["ops_s"]:
                br.append(b["ops_s"] / r["ops_s"])

        def med(side, field):
            xs = [cell[(side, rep)][field] for rep in reps if (side, rep) in cell]
            return statistics.median(xs) if xs else 0

        row = (
            f"| {key[0]} | {key[1]} | {key[2]} | {mmm(ops)} | {mmm(p99)} | {mmm(cpu)} | {med('A', 'ops_s'):.0f} | "
            f"{med('B', 'ops_s'):.0f} | {med('A', 'p99_us'):.0f} | {med('B', 'p99_us'):.0f} |"
        )
        if has_redis:
            row += f" {mmm(br)} |"
        print(row)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/ab-results/results.jsonl")
