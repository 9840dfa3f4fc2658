#!/usr/bin/env bash
# Interleaved A/B of the index server with metrics off and on: two release
# servers side by side, the same loadgen runs against each in turn, ROUNDS
# times, so machine noise hits both alike; with each run's server CPU time
# (user + system, from /proc) appended to its JSON line as `server_cpu_s`,
# which contention for the cores moves far less than throughput. Loopback
# only; stops what it starts.
#   benches/results/metrics/ab.sh > ab.jsonl
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROUNDS=${ROUNDS:-6}
BIN=${BIN:-target/release/p2pci}
LOADGEN=${LOADGEN:-target/release/examples/loadgen}
OFF=${OFF_PORT:-37734}; ON=${ON_PORT:-37736}; MET=${MET_PORT:-37737}
"$BIN" server --quiet --bind 127.0.0.1 --port "$OFF" 2>/dev/null & A=$!
"$BIN" server --quiet --bind 127.0.0.1 --port "$ON" --metrics "127.0.0.1:$MET" 2>/dev/null & B=$!
trap 'kill $A $B 2>/dev/null' EXIT
sleep 0.5
cpu() { # cpu PID: the process's user + system time, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
TICK=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
  for args in "--conns 50 --depth 16" "--conns 1 --depth 1"; do
    for side in off on; do
      port=$OFF; pid=$A; [ "$side" = on ] && port=$ON && pid=$B
      before=$(cpu "$pid")
      # shellcheck disable=SC2086
      line=$("$LOADGEN" --json --label "metrics=$side;round=$round" --proto p2pci --target "127.0.0.1:$port" \
        --scenario lookup $args --k 10000 --duration 2 --warmup 1)
      after=$(cpu "$pid")
      # Warm-up and loading the K records are in the CPU time too, alike on both sides.
      echo "${line%\}},\"server_cpu_s\":$(awk -v a="$after" -v b="$before" -v t="$TICK" 'BEGIN {print (a - b) / t}')}"
    done
  done
done
# The counters saw the traffic.
curl -s "http://127.0.0.1:$MET/metrics" | grep -E '^p2pci_server_requests_total\{method="(ADD|LOOKUP)",status="200"\}' >&2
