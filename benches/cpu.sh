#!/usr/bin/env bash
# CPU time per operation: the in-memory server and a Redis-backed one
# (server and Redis counted together), for LOOKUP and ADD at 1 and 50
# connections. CPU per operation holds still on a busy machine where
# operations per second do not (other work takes the cores, not the
# instructions), so it is the A/B figure when the machine is shared;
# throughput on a quiet machine (benches/shared.sh) is the published one.
#
#   benches/cpu.sh                          # this checkout's release build
#   P2PCI_BIN=/path/to/p2pci benches/cpu.sh # another build (A/B)
#   DURATION=3 SCENARIOS="add" CONNS="50" benches/cpu.sh
#
# Output: one line per run: scenario, connections, store, operations,
# server and Redis CPU µs per operation, and their sum.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-3}
SCENARIOS=${SCENARIOS:-"lookup add"}
CONNS=${CONNS:-"1 50"}
BASE=${BASE_PORT:-27800}
command -v redis-server >/dev/null || { echo "redis-server is needed (scripts/test.sh installs it)" >&2; exit 1; }
cargo build --release --locked --quiet --bin p2pci --example loadgen
BIN=${P2PCI_BIN:-${CARGO_TARGET_DIR:-target}/release/p2pci}
LOADGEN=${CARGO_TARGET_DIR:-target}/release/examples/loadgen
WORK=$(mktemp -d)
. scripts/lib/procs.sh
cleanup() {
  set +e
  stop_all 0
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
# utime + stime of a process, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# said LINE PID: waits until loadgen (PID) has written LINE on stderr; a
# loadgen that exits first ends the script with its log.
said() {
  until grep -q "$1" "$WORK/lg.log"; do
    kill -0 "$2" 2>/dev/null || { cat "$WORK/lg.log" >&2; exit 1; }
    sleep 0.01
  done
}
port=$BASE
for scenario in $SCENARIOS; do
  for conns in $CONNS; do
    for store in memory redis; do
      port=$((port + 2))
      redis_pid=""
      args=()
      if [ "$store" = redis ]; then
        redis-server --port $((port + 1)) --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
        redis_pid=$!; PIDS+=("$redis_pid")
        for _ in $(seq 50); do redis-cli -p $((port + 1)) ping >/dev/null 2>&1 && break; sleep 0.1; done
        args=(--store "redis://127.0.0.1:$((port + 1))")
      fi
      "$BIN" server --quiet --bind 127.0.0.1 --port "$port" --max-connections-per-address 1000000 \
        --max-records-per-peer 1000000000 --max-index-memory 16GiB "${args[@]}" 2>"$WORK/server.log" &
      pid=$!; PIDS+=("$pid")
      for _ in $(seq 200); do grep -q listening "$WORK/server.log" && break; sleep 0.05; done
      # Prefill and warm-up are not counted: the CPU is read when loadgen
      # says its measured part starts and again when it says it ends.
      "$LOADGEN" --json --proto p2pci --target "127.0.0.1:$port" --scenario "$scenario" --conns "$conns" \
        --k 10000 --warmup 1 --duration "$DURATION" >"$WORK/lg.json" 2>"$WORK/lg.log" &
      lg=$!
      said "loadgen: measuring" $lg
      s0=$(ticks "$pid"); r0=0; [ -n "$redis_pid" ] && r0=$(ticks "$redis_pid")
      sleep "$DURATION" # no polling while it measures: a poll costs CPU too
      said "loadgen: measured" $lg
      s1=$(ticks "$pid"); r1=0; [ -n "$redis_pid" ] && r1=$(ticks "$redis_pid")
      wait $lg
      python3 - "$WORK/lg.json" "$scenario" "$conns" "$store" $((s1 - s0)) $((r1 - r0)) "$HZ" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read())
sc, conns, store, s, rd, hz = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
us = lambda t: t / hz * 1e6 / r["ops"]
print(json.dumps({"scenario": sc, "conns": int(conns), "store": store, "ops_s": round(r["ops_s"]),
    "server_us": round(us(s), 2), "redis_us": round(us(rd), 2), "total_us": round(us(s + rd), 2)}))
PY
      kill -9 "$pid" $redis_pid 2>/dev/null || true
      wait "$pid" $redis_pid 2>/dev/null || true
    done
  done
done
