#!/usr/bin/env bash
# Makes assets/screenshot.png from a real session: an index server, two
# headless peers and the full-screen peer in a tmux pane, driven by keys like
# a person would, captured with `tmux capture-pane -e` and rendered to a PNG
# by scripts/ansi_to_png.py (needs Python with Pillow, and tmux).
#
# Usage: scripts/screenshot.sh [OUT.png]   (default assets/screenshot.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-assets/screenshot.png}"
cols=100
rows=30

cargo build --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/p2pci"
work="$(mktemp -d)"
sock="$work/tmux.sock"
pids=()
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (at most 15 s) until the screen shows $1.
wait_for() {
  for _ in $(seq 150); do
    tmux -S "$sock" capture-pane -p -t tui | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  echo "timed out waiting for: $1" >&2
  tmux -S "$sock" capture-pane -p -t tui >&2
  exit 1
}

"$bin" server --bind 127.0.0.1 --port 0 --quiet 2>"$work/server.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$work/server.err" && break; sleep 0.1; done
server="$(grep -o '127\.0\.0\.1:[0-9]*' "$work/server.err" | head -1)"

# Two peers that hold RFCs; their stdin stays open (a fifo nobody writes).
peer() {
  local host="$1"; shift
  mkfifo "$work/$host.in"
  "$bin" peer --headless --advertise --bind 127.0.0.1 --host "$host" --rfcs "$@" \
    --dir "$work/$host" --server "$server" <"$work/$host.in" >"$work/$host.out" 2>&1 &
  pids+=($!)
  exec {fd}>"$work/$host.in"
  for _ in $(seq 50); do grep -q "OK advertised" "$work/$host.out" && return 0; sleep 0.1; done
  echo "$host did not advertise:" >&2
  cat "$work/$host.out" >&2
  exit 1
}
peer hostB 8700 8602
peer hostC 8700 8595

tmux -S "$sock" -f /dev/null new-session -d -s tui -x "$cols" -y "$rows" \
  "$bin peer --bind 127.0.0.1 --host hostA --rfcs 8600 8601 --dir $work/hostA --server $server --advertise"
wait_for "Index (6)"

# Download an Index row (newest first: hostA's own two, then hostC's 8700
# and 8595), then look up RFC 8700 and download it from its second holder.
tmux -S "$sock" send-keys -t tui j j j d
wait_for "✔ 8595"
tmux -S "$sock" send-keys -t tui -l /8700
tmux -S "$sock" send-keys -t tui Enter
wait_for "2 holder(s)"
tmux -S "$sock" send-keys -t tui j Enter
wait_for "✔ 8700"
# hostB fetches one of hostA's RFCs: the log shows the upload being served.
echo "get 8600" >"$work/hostB.in"
wait_for "served RFC 8600"
sleep 0.3

tmux -S "$sock" capture-pane -e -p -t tui >"$work/screen.ansi"
python3 scripts/ansi_to_png.py "$work/screen.ansi" "$out" "$cols" "$rows"
echo "wrote $out"
