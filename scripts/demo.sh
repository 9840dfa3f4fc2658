#!/usr/bin/env bash
# A whole P2P-CI session in one terminal: the index server and three peers,
# side by side in tmux. hostA and hostB start with RFCs and advertise them;
# hostC starts empty, ready to look up and download.
#
#   ./scripts/demo.sh            # builds, then attaches to the session
#   tmux kill-session -t p2pci-demo   # ends it (or q in each peer, Ctrl-C in the server)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "demo.sh needs tmux (apt-get install tmux)" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/p2pci
session=p2pci-demo
port=${P2PCI_PORT:-7734}
work=$(mktemp -d -t p2pci-demo.XXXXXX)
tmux kill-session -t "$session" 2>/dev/null || true

peer() { # host, then starting RFCs
  local host=$1; shift
  local rfcs=""; [ $# -gt 0 ] && rfcs="--rfcs $*"
  echo "$bin peer --host $host --server 127.0.0.1:$port --rfc-dir $PWD/RFCs --dir $work/$host $rfcs --advertise"
}

tmux new-session -d -s "$session" -x 240 -y 60 -n p2pci "$bin server --bind 127.0.0.1 --port $port"
tmux split-window -t "$session" -h "$(peer hostA 8600 8601 8602)"
tmux split-window -t "$session" -v "$(peer hostB 8700 8701)"
tmux select-pane -t "$session":0.0
tmux split-window -t "$session" -v "$(peer hostC)"
tmux select-layout -t "$session" tiled >/dev/null
echo "peer folders are in $work"
if [ -t 1 ]; then exec tmux attach -t "$session"; fi
