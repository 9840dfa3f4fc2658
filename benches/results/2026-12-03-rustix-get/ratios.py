"""B/A per round from ab.sh's JSON lines: ops/s, p99 and peer CPU per GET;
min / median / max over the rounds.  python3 ratios.py FILE..."""
import json, sys, statistics as st
from collections import defaultdict

runs = defaultdict(dict)
for path in sys.argv[1:]:
    for line in open(path):
        if line.startswith("{"):
            r = json.loads(line)
            f = dict(kv.split("=") for kv in r["label"].split(";"))
            runs[(path, f["file"], f["rep"])][f["side"]] = r

def mmm(xs):
    return f"{min(xs):.3f} / {st.median(xs):.3f} / {max(xs):.3f}"

for file in ["small", "large"]:
    rows = [d for (p, f, _), d in runs.items() if f == file and "A" in d and "B" in d]
    if not rows:
        continue
    ops = [d["B"]["ops_s"] / d["A"]["ops_s"] for d in rows]
    p99 = [d["B"]["p99_us"] / d["A"]["p99_us"] for d in rows]
    cpu = [(d["B"]["peer_cpu_ticks"] / d["B"]["ops"]) / (d["A"]["peer_cpu_ticks"] / d["A"]["ops"]) for d in rows]
    med = lambda s, k: st.median(d[s][k] for d in rows)
    errs = sum(d[s]["errors"] for d in rows for s in "AB")
    print(f"{file:5s} rounds {len(rows):2d}  A ops/s {med('A', 'ops_s'):9.1f}  B ops/s {med('B', 'ops_s'):9.1f}  "
          f"B/A ops/s {mmm(ops)}  p99 {mmm(p99)}  CPU/GET {mmm(cpu)}  errors {errs}")
    print(f"      sum over rounds: B/A ops {sum(d['B']['ops'] for d in rows) / sum(d['A']['ops'] for d in rows):.3f}  "
          f"CPU/GET {(sum(d['B']['peer_cpu_ticks'] for d in rows) / sum(d['B']['ops'] for d in rows)) / (sum(d['A']['peer_cpu_ticks'] for d in rows) / sum(d['A']['ops'] for d in rows)):.3f}")
