#!/usr/bin/env bash
# Several index servers, one index: Redis, two p2pci servers sharing their
# index through it, and three peers on different servers, in one tmux window.
# hostA (on server 1) and hostB (on server 2) advertise their RFCs; hostC (on
# server 2) starts empty and finds hostA's RFCs through server 2.
#
#   ./scripts/demo-redis.sh                  # builds, then attaches to the session
#   tmux kill-session -t p2pci-redis-demo    # ends it (Redis and all)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in tmux redis-server redis-cli; do
  command -v $tool >/dev/null || { echo "demo-redis.sh needs $tool (apt-get install tmux redis-server)" >&2; exit 1; }
done
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/p2pci
session=p2pci-redis-demo
redis_port=${REDIS_PORT:-6390}
port1=${P2PCI_PORT:-7734}
port2=$((port1 + 1))
work=$(mktemp -d -t p2pci-redis-demo.XXXXXX)
tmux kill-session -t "$session" 2>/dev/null || true
store="redis://127.0.0.1:$redis_port"

peer() { # server port, host, then starting RFCs
  local port=$1 host=$2; shift 2
  local rfcs=""; [ $# -gt 0 ] && rfcs="--rfcs $*"
  echo "$bin peer --host $host --server 127.0.0.1:$port --rfc-dir $PWD/RFCs --dir $work/$host $rfcs --advertise"
}
# A server retries Redis while it starts (up to 30 s); a peer retries its
# server with backoff: the order in which the panes start does not matter.

tmux new-session -d -s "$session" -x 240 -y 60 -n p2pci \
  "redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no"
tmux split-window -t "$session" -v \
  "$bin server --bind 127.0.0.1 --port $port1 --store $store --lease 5"
tmux split-window -t "$session" -v \
  "$bin server --bind 127.0.0.1 --port $port2 --store $store --lease 5"
tmux select-pane -t "$session":0.0
tmux split-window -t "$session" -h "$(peer "$port1" hostA 8600 8601 8602)"
tmux split-window -t "$session" -v "$(peer "$port2" hostB 8700 8701)"
tmux split-window -t "$session" -v "$(peer "$port2" hostC)"
tmux select-layout -t "$session" tiled >/dev/null
echo "Redis on $redis_port; servers on $port1 and $port2; peer folders in $work"
echo "Try: kill -9 one server and watch its peers' records leave the other within the lease (5 s)."
if [ -t 1 ]; then exec tmux attach -t "$session"; fi
