#!/usr/bin/env bash
# Several servers, one index in Redis: side by side in one run, through the
# same client (examples/loadgen.rs), on loopback only.
#
#   benches/shared.sh                      # about 2 minutes
#   DURATION=2 RECORDS=200000 benches/shared.sh
#   ONLY=ops REPEAT=3 benches/shared.sh    # LOOKUP and ADD only, three rounds
#   ONLY=load LAYOUTS="10000" benches/shared.sh  # a new server loading, one layout
#   P2PCI_BIN=/path/to/p2pci ONLY=ops ...  # another build of the server (A/B)
#
# Measures:
#   * LOOKUP and ADD (p50/p99, ops/s) at 1 and 50 connections through the
#     in-memory server, a Redis-backed server, and Redis itself (GET/SET);
#   * cross-server staleness (examples/staleness.rs) idle and under load;
#   * Redis memory per record (through a Redis-backed server's ADDs);
#   * the time a new server takes to load RECORDS records, in three layouts.
# Output: $OUT/shared.jsonl (loadgen and staleness JSON lines) and a summary
# on standard output. Two redis-servers: one holds the shared index, the
# other is the anchor (loadgen's Redis runs start with FLUSHALL).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-3}
REPEAT=${REPEAT:-1}
WARMUP=${WARMUP:-1}
RECORDS=${RECORDS:-1000000}
OUT=${OUT:-target/bench-results}
BASE=${BASE_PORT:-27700}
MEM_PORT=$BASE; A_PORT=$((BASE + 1)); B_PORT=$((BASE + 2)); C_PORT=$((BASE + 3))
STORE_REDIS=$((BASE + 10)); ANCHOR_REDIS=$((BASE + 11))

command -v redis-server >/dev/null || { echo "redis-server is needed (scripts/test.sh installs it)" >&2; exit 1; }
cargo build --release --locked --bin p2pci --example loadgen --example staleness
BIN=${P2PCI_BIN:-${CARGO_TARGET_DIR:-target}/release/p2pci}
LOADGEN=${CARGO_TARGET_DIR:-target}/release/examples/loadgen
STALENESS=${CARGO_TARGET_DIR:-target}/release/examples/staleness

mkdir -p "$OUT"
WORK=$(mktemp -d)
. scripts/lib/procs.sh
cleanup() {
  set +e
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

rcli() { redis-cli -p "$1" "${@:2}"; }
start_redis() { # start_redis PORT
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis-$1.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 50); do rcli "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "redis on $1 did not start" >&2; exit 1
}
start_server() { # start_server PORT [ARGS...]; sets SERVER_PID once it serves
  # All load comes from 127.0.0.1: the per-address cap would cap the load
  # generator; and one connection ADDing for seconds passes the 20,000
  # records a peer may hold (every ADD past it answered 400, and counted as 0 ops/s).
  "$BIN" server --quiet --bind 127.0.0.1 --port "$1" --max-connections-per-address 1000000 \
    --max-records-per-peer 1000000000 --max-index-memory 16GiB "${@:2}" 2>"$WORK/server-$1.log" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  for _ in $(seq 600); do
    if grep -q "listening" "$WORK/server-$1.log" && { [ $# -eq 1 ] || grep -q "sharing its index" "$WORK/server-$1.log"; }; then
      return
    fi
    sleep 0.05
  done
  echo "server on $1 did not start:" >&2; cat "$WORK/server-$1.log" >&2; exit 1
}

start_redis "$STORE_REDIS"
start_redis "$ANCHOR_REDIS"
STORE=(--store "redis://127.0.0.1:$STORE_REDIS")

RESULTS="$OUT/shared.jsonl"
: > "$RESULTS"
lg() { # lg LABEL ARGS...
  local label=$1; shift
  "$LOADGEN" --json --label "$label" --duration "$DURATION" --warmup "$WARMUP" "$@" >>"$RESULTS" 2>>"$OUT/shared-loadgen.log" \
    || echo "loadgen failed: $*" >&2
}

echo "== LOOKUP and ADD: memory, redis-backed, redis" >&2
start_server "$MEM_PORT"
start_server "$A_PORT" "${STORE[@]}"
for round in $(seq "$([ "${ONLY:-}" = load ] && echo 0 || echo "$REPEAT")"); do
  for scenario in lookup add; do
    for conns in 1 50; do
      # Fresh state for each ADD run: it adds distinct RFCs.
      lg "store=memory" --proto p2pci --target "127.0.0.1:$MEM_PORT" --scenario $scenario --conns $conns --k 10000
      lg "store=redis" --proto p2pci --target "127.0.0.1:$A_PORT" --scenario $scenario --conns $conns --k 10000
      lg "store=anchor" --proto redis --target "127.0.0.1:$ANCHOR_REDIS" --scenario $scenario --conns $conns --k 10000
    done
  done
done

if [ -z "${ONLY:-}" ]; then

  echo "== Redis memory per record" >&2
  rcli "$STORE_REDIS" flushall >/dev/null
  sleep 1 # the servers re-publish nothing (their peers are gone) and carry on
  before=$(rcli "$STORE_REDIS" info memory | awk -F: '/^used_memory:/ {print $2+0}')
  lg "mem=redis" --proto p2pci --target "127.0.0.1:$A_PORT" --scenario idle --conns 1 --k 100000 --title-len 40 \
    --warmup 0.5 --duration 0.5 &
  LG=$!
  for _ in $(seq 600); do [ "$(rcli "$STORE_REDIS" hlen '{p2pci}:rec')" -ge 100000 ] && break; sleep 0.1; done
  after=$(rcli "$STORE_REDIS" info memory | awk -F: '/^used_memory:/ {print $2+0}')
  n=$(rcli "$STORE_REDIS" hlen '{p2pci}:rec')
  wait $LG || true
  echo "{\"scenario\":\"redis_memory\",\"records\":$n,\"bytes\":$((after - before)),\"bytes_per_record\":$(( (after - before) / (n > 0 ? n : 1) ))}" >>"$RESULTS"

  echo "== staleness, idle and under load" >&2
  rcli "$STORE_REDIS" flushall >/dev/null
  sleep 1
  start_server "$B_PORT" "${STORE[@]}"
  "$STALENESS" --json --writer "127.0.0.1:$A_PORT" --reader "127.0.0.1:$B_PORT" --samples 500 --base 3000000 \
    | sed 's/"scenario":"staleness"/"scenario":"staleness","load":"idle"/' >>"$RESULTS"
  # Load on both servers: LOOKUPs on the reader, ADDs on the writer.
  "$LOADGEN" --json --label "load=lookup" --proto p2pci --target "127.0.0.1:$B_PORT" --scenario lookup --conns 50 \
    --k 10000 --duration 8 --warmup 1 >>"$RESULTS" 2>>"$OUT/shared-loadgen.log" &
  L1=$!
  "$LOADGEN" --json --label "load=add" --proto p2pci --target "127.0.0.1:$A_PORT" --scenario add --conns 8 \
    --duration 8 --warmup 1 >>"$RESULTS" 2>>"$OUT/shared-loadgen.log" &
  L2=$!
  sleep 2
  "$STALENESS" --json --writer "127.0.0.1:$A_PORT" --reader "127.0.0.1:$B_PORT" --samples 500 --base 4000000 \
    | sed 's/"scenario":"staleness"/"scenario":"staleness","load":"busy"/' >>"$RESULTS"
  wait $L1 $L2 || true

fi

if [ "${ONLY:-}" != ops ]; then
  # Three layouts: 1000 peers holding distinct RFCs; RFCs 1..10000 with
  # RECORDS / 10000 holders each (as a real index looks: RFC numbers are
  # few); and one RFC held by every peer (a chain as long as the index).
  for rfcs in ${LAYOUTS:-distinct 10000 1}; do
    echo "== a new server loading $RECORDS records ($rfcs)" >&2
    rcli "$STORE_REDIS" flushall >/dev/null
    # Records as a server stores them, with its digest and a lease that
    # does not expire (so no one reaps them and the copy's check agrees).
    python3 benches/seed_records.py "$RECORDS" $([ "$rfcs" = distinct ] || echo "$rfcs") | rcli "$STORE_REDIS" --pipe >/dev/null
    t0=$(date +%s.%N)
    start_server "$C_PORT" "${STORE[@]}"
    t1=$(date +%s.%N)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
    echo "{\"scenario\":\"load_snapshot\",\"rfcs\":\"$rfcs\",\"records\":$(rcli "$STORE_REDIS" hlen '{p2pci}:rec'),\"seconds\":$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'),\"server_rss_kb\":$rss}" >>"$RESULTS"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  done
fi

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(x): return f"{x:,.0f}"
print("| scenario | conns | store | ops/s | p50 µs | p99 µs |")
print("|---|---:|---|---:|---:|---:|")
for r in rows:
    if r.get("scenario") in ("lookup", "add") and r.get("label", "").startswith("store="):
        print(f"| {r['scenario']} | {r['conns']} | {r['label'][6:]} | {f(r['ops_s'])} | {r['p50_us']:.0f} | {r['p99_us']:.0f} |")
# Ratios per round (rows come in rounds of 12: lookup then add, 1 then 50
# connections, memory / redis-backed / Redis itself).
ops = [r for r in rows if r.get("scenario") in ("lookup", "add") and r.get("label", "").startswith("store=")]
print()
print("| round | LOOKUP 1: redis-backed / memory | LOOKUP 50 | ADD 1: redis-backed / memory | ADD 50 | ADD 1: redis-backed / SET | ADD 50 | ADD 1: memory / SET | ADD 50 |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for i in range(0, len(ops) - 11, 12):
    g = {(r["scenario"], r["conns"], r["label"][6:]): r["ops_s"] for r in ops[i:i + 12]}
    q = lambda s, c, a, b: f"{g[(s, c, a)] / g[(s, c, b)]:.2f}" if g.get((s, c, b)) else "-"
    print(f"| {i // 12 + 1} | {q('lookup', 1, 'redis', 'memory')} | {q('lookup', 50, 'redis', 'memory')} "
          f"| {q('add', 1, 'redis', 'memory')} | {q('add', 50, 'redis', 'memory')} "
          f"| {q('add', 1, 'redis', 'anchor')} | {q('add', 50, 'redis', 'anchor')} "
          f"| {q('add', 1, 'memory', 'anchor')} | {q('add', 50, 'memory', 'anchor')} |")
for r in rows:
    if r.get("scenario") in ("staleness", "redis_memory", "load_snapshot") or r.get("label", "").startswith("load="):
        print(json.dumps(r)[:300])
PY
