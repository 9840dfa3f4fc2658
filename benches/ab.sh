#!/usr/bin/env bash
# A/B benchmark of two index servers through the same load generator, in one
# run, interleaved: each scenario runs against A, then B, REPEAT times, and
# benches/ab_report.py prints B/A ratios (min/median/max) for ops/s and p99.
# Anything that serves P2P-CI on a port will do as A or B: two builds of
# p2pci (before/after a change), one build with and without --metrics, the
# in-memory store against the Redis store. Optionally Redis itself (SET/GET
# through the same client) as a third column, for scale.
#
#   A="target/old/p2pci server" B="target/release/p2pci server" benches/ab.sh
#   B_ARGS="--metrics 127.0.0.1:19100" benches/ab.sh      # A and B default to this tree's release build
#   WITH_REDIS=1 REPEAT=3 DURATION=3 benches/ab.sh
#
# Each server command gets `--quiet --bind 127.0.0.1 --port N` appended.
# ADD on one connection for seconds passes the default 20,000 records a peer
# may hold: give a build that has the cap
# B_ARGS="--max-records-per-peer 1000000000 --max-index-memory 16GiB", so the
# check runs (and is measured) but does not refuse.
# Before each run, the script waits (up to SETTLE_MAX seconds, default 15)
# until no server is still busy: a server whose ADD run has ended spends
# seconds removing the departed peers' records (about 3 s of one core after
# a 4 s ADD run at 50x16), and on a two-core machine that work would
# otherwise land in the next run, the other side's, and skew its ratio.
# Output: $OUT/results.jsonl, $OUT/report.md (OUT defaults to target/ab-results).
# Loopback only; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
OUT=${OUT:-target/ab-results}
A_PORT=${A_PORT:-17744}
B_PORT=${B_PORT:-17745}
REDIS_PORT=${REDIS_PORT:-16389}
CONNS=${CONNS:-"1 50"}
DEPTHS=${DEPTHS:-"1 16"}
SCENARIOS=${SCENARIOS:-"add lookup"}

[ "${NO_BUILD:-0}" = 1 ] || cargo build --release --locked --bin p2pci --example loadgen
A=${A:-target/release/p2pci server}
B=${B:-target/release/p2pci server}
LOADGEN=target/release/examples/loadgen

mkdir -p "$OUT"
. scripts/lib/procs.sh
trap stop_all EXIT INT TERM

# shellcheck disable=SC2086 # the commands are word lists on purpose
$A ${A_ARGS:-} --quiet --bind 127.0.0.1 --port "$A_PORT" 2>"$OUT/a.log" &
PIDS+=("$!")
# shellcheck disable=SC2086
$B ${B_ARGS:-} --quiet --bind 127.0.0.1 --port "$B_PORT" 2>"$OUT/b.log" &
PIDS+=("$!")
if [ "${WITH_REDIS:-0}" = 1 ]; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    >"$OUT/redis.log" 2>&1 &
  PIDS+=("$!")
fi
sleep 1

# CPU ticks (user + system) a process has used so far; 0 when unknown.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
settle() { # waits until neither A nor B used CPU in the last 200 ms (bounded)
  local deadline=$((SECONDS + ${SETTLE_MAX:-15})) before after pid
  while [ "$SECONDS" -lt "$deadline" ]; do
    before=""; for pid in "${PIDS[@]:0:2}"; do before="$before $(ticks "$pid")"; done
    sleep 0.2
    after=""; for pid in "${PIDS[@]:0:2}"; do after="$after $(ticks "$pid")"; done
    [ "$before" = "$after" ] && return 0
  done
  echo "servers still busy after ${SETTLE_MAX:-15} s; measuring anyway" >&2
}

RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
lg() { # lg LABEL PID ARGS...: one loadgen run against server PID, its JSON
  # line given the CPU seconds the server spent during it (warm-up included,
  # so set WARMUP=0 to compare CPU per request; the removals after the
  # connections close are not): steadier than ops/s on a busy machine.
  local label=$1 pid=$2; shift 2
  settle
  local t0; t0=$(ticks "$pid")
  "$LOADGEN" --json --label "$label" --duration "$DURATION" --warmup "$WARMUP" "$@" >>"$RESULTS" 2>>"$OUT/loadgen.log" \
    || echo "loadgen failed: $*" >&2
  local cpu; cpu=$(awk -v a="$t0" -v b="$(ticks "$pid")" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", (b - a) / hz }')
  sed -i '$ s/}$/,"server_cpu_s":'"$cpu"'}/' "$RESULTS"
  tail -n 1 "$RESULTS" | cut -c1-160 >&2
}
for rep in $(seq 1 "$REPEAT"); do
  echo "== repetition $rep of $REPEAT" >&2
  for scenario in $SCENARIOS; do
    for conns in $CONNS; do
      for depth in $DEPTHS; do
        lg "side=A;rep=$rep" "${PIDS[0]}" --proto p2pci --target "127.0.0.1:$A_PORT" --scenario "$scenario" --conns "$conns" --depth "$depth" --k 10000
        lg "side=B;rep=$rep" "${PIDS[1]}" --proto p2pci --target "127.0.0.1:$B_PORT" --scenario "$scenario" --conns "$conns" --depth "$depth" --k 10000
        if [ "${WITH_REDIS:-0}" = 1 ]; then
          lg "side=R;rep=$rep" "${PIDS[2]}" --proto redis --target "127.0.0.1:$REDIS_PORT" --scenario "$scenario" --conns "$conns" --depth "$depth" --k 10000
        fi
      done
    done
  done
done
python3 benches/ab_report.py "$RESULTS" | tee "$OUT/report.md"
