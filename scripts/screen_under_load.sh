#!/usr/bin/env bash
# Does a full screen slow the peer's uploads? Measures, in one run on
# loopback: GET latency from the full-screen peer (in a 200×50 tmux pane)
# with an empty index, with a million records on the server, then with them
# on its screen (idle, and while it scrolls), and the peer's memory before
# and after loading them.
#
# The million records belong to a loadgen `idle` run that ADDs them, then
# holds its connection open and sends nothing, so that the phases differ
# only in the records (a holder that kept looking up would load the two
# cores in every phase but the first, and measure that instead). The screen
# peer LISTs them (r). Bounded: each phase is a few seconds; everything
# started is stopped.
#
# Usage: scripts/screen_under_load.sh [RECORDS]   (default 999000: with the peer's own record, just under the engine's 1,000,000-record cap on a LIST answer)
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-999000}"
command -v tmux >/dev/null || { echo "needs tmux" >&2; exit 1; }
cargo build --release --quiet --bin p2pci --example loadgen
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
PANE=tui
. scripts/lib/session.sh

start_server "$target/p2pci"
upload_port=$(( 20000 + RANDOM % 20000 ))

tmux -S "$sock" -f /dev/null new-session -d -s tui -x 200 -y 50 \
  "exec $target/p2pci peer --bind 127.0.0.1 --port $upload_port --host hostA --rfcs 8700 --dir $work/hostA --server $server --advertise --refresh 0"
wait_for "Index (1)"
peer_pid="$(tmux -S "$sock" display -p -t tui '#{pane_pid}')"
rss() { awk '/VmRSS/ {print $2}' "/proc/$peer_pid/status"; }

get() { # label
  "$target/examples/loadgen" --proto p2pci --scenario get --target "127.0.0.1:$upload_port" --rfc 8700 \
    --conns 1 --duration 5 --warmup 1 --label "$1" 2>&1 | grep -iE "p50|p99|ops/s|errors" || true
}
echo "== GET from the screen peer, empty index (RSS $(rss) KiB)"
get empty

"$target/examples/loadgen" --proto p2pci --scenario idle --target "$server" --k "$records" \
  --conns 1 --duration 600 --warmup 0 --label holder >"$work/holder.out" 2>&1 &
pids+=($!)
sleep 15
echo "== GET from the screen peer, $records records on the server, none on the screen"
get holder
before="$(rss)"
# Once loadgen's prefill is done, a LIST (r) brings every record to the screen.
for _ in $(seq 60); do
  keys r
  sleep 3
  screen | grep -qF "Index ($(( records + 1 ))" && break
done
wait_for "Index ($(( records + 1 ))" 60
after="$(rss)"
echo "== $records records on the screen; peer RSS $before -> $after KiB" \
  "($(( (after - before) * 1024 / records )) bytes per record)"
echo "== GET from the screen peer, $records records on its screen, no keys"
get full-idle
# Scroll the screen while uploads are measured: redraws and GETs together.
( for _ in $(seq 40); do keys PageDown; sleep 0.15; done ) &
scroller=$!
echo "== GET from the screen peer, $records records on its screen, scrolling (PgDn 6/s)"
get full-scrolling
wait "$scroller"
