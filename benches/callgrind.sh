#!/usr/bin/env bash
# Instructions per request of one server build, counted by callgrind: the
# whole server under DURATION s of one loadgen scenario; prints the
# inclusive cost per request of the connection task and its main parts.
# Repeatable whatever else the machine runs (callgrind counts instructions,
# not seconds): how ADD C=50 was compared across builds (BENCHMARKS.md).
#
#   benches/callgrind.sh NAME "target/release/p2pci" [SERVER ARGS...]
#   benches/callgrind.sh old /tmp/old/p2pci
#   SCENARIO=lookup CONNS=1 benches/callgrind.sh new target/release/p2pci
# Loopback only; bounded by DURATION. Output in target/callgrind/NAME.*
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 bin=$2; shift 2
out=target/callgrind; mkdir -p "$out"
port=${PORT:-17791}
valgrind --tool=callgrind --callgrind-out-file="$out/$name.out" "$bin" server --quiet --bind 127.0.0.1 --port "$port" "$@" \
  >/dev/null 2>"$out/$name.err" &
server=$!
sleep 3
target/release/examples/loadgen --json --label "$name" --duration "${DURATION:-5}" --warmup 0 --proto p2pci \
  --target "127.0.0.1:$port" --scenario "${SCENARIO:-add}" --conns "${CONNS:-50}" --depth 1 --k 10000 >"$out/$name.json"
kill -INT "$server"; wait "$server" || true
python3 - "$out/$name.out" "$out/$name.json" <<'PY'
import json, re, subprocess, sys
ops = json.load(open(sys.argv[2]))["ops"]
text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=99.9", sys.argv[1]],
                      capture_output=True, text=True, check=True).stdout
cost = {}
for line in text.splitlines():
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\S+:(.*?) \[", line)
    if m:
        cost[m.group(2)] = max(cost.get(m.group(2), 0), int(m.group(1).replace(",", "")) / ops)
print(f"{ops} requests")
for key in ["TrackedFuture<F> as core::future::future::Future>::poll", "MemoryStore as p2pci::store::IndexStore>::add",
            "MemoryStore as p2pci::store::IndexStore>::lookup_page", "parse_p2s", "try_io"]:
    print(f"{cost.get(key, 0):9.1f}  {key}")
PY
