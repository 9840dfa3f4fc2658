#!/usr/bin/env bash
# Side-by-side benchmark: p2pci against Redis (index scenarios) and nginx
# (file GET), through the same client (examples/loadgen.rs), in one run, on
# loopback only. Installs redis-server and nginx when missing (apt), starts
# everything on free loopback ports, runs every scenario against each
# (interleaved, REPEAT times), stops everything it started, and prints the
# tables of ratios p2pci / anchor (benches/report.py).
#
#   benches/compare.sh                 # full run (about 15 minutes)
#   REPEAT=1 DURATION=2 benches/compare.sh   # a quick look
#   SERVER_ARGS="--metrics 127.0.0.1:19734" PEER_ARGS="--metrics 127.0.0.1:19735" \
#     benches/compare.sh                 # with extra options for the server and the peer
#
# Output: $OUT/results.jsonl (one JSON line per loadgen run), $OUT/report.md,
# $OUT/ops_vs_conns.svg. OUT defaults to target/bench-results.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
OUT=${OUT:-target/bench-results}
P2PCI_PORT=${P2PCI_PORT:-17734}
UPLOAD_PORT=${UPLOAD_PORT:-17735}
REDIS_PORT=${REDIS_PORT:-16379}
NGINX_PORT=${NGINX_PORT:-18080}
SKIP_SCALE=${SKIP_SCALE:-0}
# Extra options for the p2pci server and peer under test (split on spaces).
read -r -a SERVER_EXTRA <<<"${SERVER_ARGS:-}"
read -r -a PEER_EXTRA <<<"${PEER_ARGS:-}"
# Every client here comes from 127.0.0.1 and one connection may hold a
# million records: the per-address and per-peer caps, defences against one
# hostile client, are lifted so that they do not cap the load generator.
UNCAPPED=(--max-connections-per-address 1000000 --max-records-per-peer 1000000000 --max-index-memory 16GiB)
PEER_UNCAPPED=(--upload-max-connections-per-address 1000000)

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
if ((${#need[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --locked --bin p2pci --example loadgen
BIN=target/release/p2pci
LOADGEN=target/release/examples/loadgen

mkdir -p "$OUT"
WORK=$(mktemp -d)
chmod 755 "$WORK"  # nginx workers run as another user
. scripts/lib/procs.sh
cleanup() {
  set +e
  exec 3>&- 2>/dev/null
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  stop_all 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The files: an RFC-sized one (rfc1.txt) and 100 MiB (rfc2.txt), served by
# both the p2pci upload server and nginx from the same folder.
mkdir -p "$WORK/files" "$WORK/nginx"
cp RFCs/rfc8600.txt "$WORK/files/rfc1.txt"
head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' 'x' > "$WORK/files/rfc2.txt"
SMALL=$(stat -c %s "$WORK/files/rfc1.txt")

"$BIN" server --quiet --bind 127.0.0.1 --port "$P2PCI_PORT" "${UNCAPPED[@]}" "${SERVER_EXTRA[@]}" 2>"$WORK/server.log" &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --protected-mode yes --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
daemon on;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/files;
  }
}
CONF
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
sleep 1

# A real peer whose upload server serves the same folder; its standard input
# stays open (and idle) until the end.
mkfifo "$WORK/peer.in"
exec 3<>"$WORK/peer.in"
"$BIN" peer --headless --host bench --bind 127.0.0.1 --port "$UPLOAD_PORT" --dir "$WORK/files" "${PEER_UNCAPPED[@]}" "${PEER_EXTRA[@]}" \
  --server "127.0.0.1:$P2PCI_PORT" <"$WORK/peer.in" >/dev/null 2>"$WORK/peer.log" &
PEER_PID=$!; PIDS+=("$PEER_PID")
sleep 1

RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
lg() { # lg LABEL ARGS... : one loadgen run, its JSON line appended
  local label=$1; shift
  "$LOADGEN" --json --label "$label" --duration "$DURATION" --warmup "$WARMUP" "$@" >>"$RESULTS" 2>>"$OUT/loadgen.log" \
    || echo "loadgen failed: $*" >&2
  tail -n 1 "$RESULTS" | cut -c1-200 >&2
}
P2=(--proto p2pci --target "127.0.0.1:$P2PCI_PORT")
RD=(--proto redis --target "127.0.0.1:$REDIS_PORT")

PEER_IDLE_KB=$(awk '/VmRSS/ {print $2}' "/proc/$PEER_PID/status")

for rep in $(seq 1 "$REPEAT"); do
  echo "== repetition $rep of $REPEAT" >&2
  for scenario in add lookup; do
    for conns in 1 50 500; do
      for depth in 1 16; do
        lg "rep=$rep" "${P2[@]}" --scenario $scenario --conns $conns --depth $depth --k 10000
        lg "rep=$rep" "${RD[@]}" --scenario $scenario --conns $conns --depth $depth --k 10000
      done
    done
  done
  lg "rep=$rep" "${P2[@]}" --scenario list --conns 1 --k 10000
  lg "rep=$rep" "${RD[@]}" --scenario list --conns 1 --k 10000
  lg "rep=$rep;file=small" --proto p2pci --target "127.0.0.1:$UPLOAD_PORT" --scenario get --conns 16 --rfc 1
  lg "rep=$rep;file=small" --proto http --target "127.0.0.1:$NGINX_PORT" --scenario get --conns 16 --path /rfc1.txt
  lg "rep=$rep;file=large" --proto p2pci --target "127.0.0.1:$UPLOAD_PORT" --scenario get --conns 1 --rfc 2
  lg "rep=$rep;file=large" --proto http --target "127.0.0.1:$NGINX_PORT" --scenario get --conns 1 --path /rfc2.txt
  lg "rep=$rep" "${P2[@]}" --scenario churn --conns 4 --churners 4 --r 100 --k 10000
done

if [ "$SKIP_SCALE" != 1 ]; then
  echo "== index at scale, memory" >&2
  for rep in $(seq 1 "$REPEAT"); do
    for k in 1000 100000 1000000; do
      lg "rep=$rep;scale" "${P2[@]}" --scenario lookup --conns 1 --depth 1 --k $k --server-pid "$SERVER_PID"
    done
  done
  # Memory on fresh servers, so that no earlier run's freed memory hides
  # what these cost.
  fresh() { # fresh PORT: a new quiet server; sets FRESH_PID
    "$BIN" server --quiet --bind 127.0.0.1 --port "$1" "${UNCAPPED[@]}" 2>/dev/null &
    FRESH_PID=$!; PIDS+=("$FRESH_PID"); sleep 0.5
  }
  fresh $((P2PCI_PORT + 10))
  lg "mem=idle" --proto p2pci --target "127.0.0.1:$((P2PCI_PORT + 10))" --scenario idle --conns 10000 --k 0 \
    --warmup 8 --duration 2 --server-pid "$FRESH_PID"
  kill "$FRESH_PID"
  fresh $((P2PCI_PORT + 11))
  lg "mem=records" --proto p2pci --target "127.0.0.1:$((P2PCI_PORT + 11))" --scenario idle --conns 1 --k 1000000 \
    --title-len 40 --warmup 1 --duration 1 --server-pid "$FRESH_PID"
  kill "$FRESH_PID"
fi
PEER_AFTER_KB=$(awk '/VmRSS/ {print $2}' "/proc/$PEER_PID/status")
echo "{\"peer_idle_kb\":$PEER_IDLE_KB,\"peer_after_kb\":$PEER_AFTER_KB,\"small_file\":$SMALL}" >> "$RESULTS"

python3 benches/report.py "$RESULTS" "$OUT" | tee "$OUT/report.md"
