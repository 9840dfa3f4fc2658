#!/usr/bin/env bash
# Records assets/demo.gif from a real three-peer session: an index server,
# two headless peers (hostB, hostC) and the full-screen peer hostA, which
# asciinema records while this script types into it like a person would
# (through tmux). The cast is then drawn frame by frame into a GIF by
# scripts/cast_to_gif.py.
#
# Needs tmux, and Python with asciinema, pyte and Pillow:
#   apt-get install tmux; pip install asciinema pyte pillow
#
# Usage: scripts/record.sh [OUT.gif]   (default assets/demo.gif; the cast
#        is kept beside it as OUT.cast)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-assets/demo.gif}"
cast="${out%.gif}.cast"
cols=100
rows=30
for tool in tmux asciinema; do
  command -v "$tool" >/dev/null || { echo "record.sh needs $tool" >&2; exit 1; }
done

cargo build --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/p2pci"
PANE=rec
. scripts/lib/session.sh
# A pause a viewer can read the screen in.
beat() { sleep "${1:-1.2}"; }

start_server "$bin"
holder "$bin" hostB 8700 8602
holder "$bin" hostC 8700 8595

# asciinema runs the screen peer in its own terminal, inside a tmux pane of
# the recorded size; keys sent to the pane reach the peer through it.
mkdir -p "$(dirname "$out")"
peer_cmd="$bin peer --bind 127.0.0.1 --host hostA --rfcs 8600 8601 --dir $work/hostA --server $server --advertise --auto-advertise --refresh 2"
tmux -S "$sock" -f /dev/null new-session -d -s rec -x "$cols" -y "$rows" \
  "asciinema rec --quiet --overwrite -c '$peer_cmd' '$cast'; sleep 60"
wait_for "Index (6)"
beat 2

keys p; wait_for "p or Esc closes"; beat 2
keys Escape; beat 0.6
# An Index row: hostC's 8595 (newest first: hostA's two, hostC's 8700, 8595).
keys Home j j j; beat 0.8
keys d; wait_for "✔ 8595"; beat 1.5
# A lookup, then a download from the second holder.
keys -l /8700; beat 0.8
keys Enter; wait_for "2 holder(s)"; beat 1.2
keys j; beat 0.6
keys Enter; wait_for "✔ 8700"; beat 1.5
# A file dropped into hostA's folder is shared at once…
cp RFCs/rfc8603.txt "$work/rfc8603.tmp" && mv "$work/rfc8603.tmp" "$work/hostA/rfc8603.txt"
wait_for "Local RFCs (5)"; beat 2
# …and hostB downloads it from hostA: the upload shows in the log.
echo "get 8603" >"$work/hostB.in"
wait_for "served RFC 8603"; beat 2
keys Tab Tab Tab; beat 0.6
keys PageUp; beat 1.5
keys End; beat 1
keys '?'; wait_for "? or Esc closes"; beat 2.5
keys Escape; beat 0.6
keys q
for _ in $(seq 100); do [ -s "$cast" ] && ! screen | grep -qF "Protocol log" && break; sleep 0.1; done
sleep 0.5

python3 scripts/cast_to_gif.py "$cast" "$out"
