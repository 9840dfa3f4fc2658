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
PANE=tui
. scripts/lib/session.sh

start_server "$bin"
holder "$bin" hostB 8700 8602
holder "$bin" hostC 8700 8595

tmux -S "$sock" -f /dev/null new-session -d -s tui -x "$cols" -y "$rows" \
  "$bin peer --bind 127.0.0.1 --host hostA --rfcs 8600 8601 --dir $work/hostA --server $server --advertise"
wait_for "Index (6)"

# Download an Index row (from the top, newest first: hostA's own two, then hostC's 8700
# and 8595), then look up RFC 8700 and download it from its second holder.
keys Home j j j d
wait_for "✔ 8595"
keys -l /8700
keys Enter
wait_for "2 holder(s)"
keys j Enter
wait_for "✔ 8700"
# hostB fetches one of hostA's RFCs: the log shows the upload being served.
echo "get 8600" >"$work/hostB.in"
wait_for "served RFC 8600"
sleep 0.3

tmux -S "$sock" capture-pane -e -p -t tui >"$work/screen.ansi"
python3 scripts/ansi_to_png.py "$work/screen.ansi" "$out" "$cols" "$rows"
echo "wrote $out"
