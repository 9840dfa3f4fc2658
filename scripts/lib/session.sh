# Shared by the scripts that drive a real session on loopback (screenshot,
# recording, the screen under load): a scratch folder, a private tmux
# server, every started process stopped on exit, and waiting for the screen.
# Source it after `set -euo pipefail`; set PANE (the tmux session name)
# before using `screen`, `keys` or `wait_for`.

work="$(mktemp -d)"
sock="$work/tmux.sock"
pids=()
session_cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap session_cleanup EXIT

# What the pane shows now.
screen() { tmux -S "$sock" capture-pane -p -t "$PANE"; }
# Keys to the pane (tmux send-keys arguments).
keys() { tmux -S "$sock" send-keys -t "$PANE" "$@"; }
# Waits until the pane shows $1, at most $2 seconds (15 by default).
wait_for() {
  for _ in $(seq $(( ${2:-15} * 10 ))); do
    screen | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  echo "timed out waiting for: $1" >&2
  screen >&2
  exit 1
}

# Starts `$1 server` on a free loopback port, quiet; sets `server` to its
# HOST:PORT.
start_server() {
  "$1" server --bind 127.0.0.1 --port 0 --quiet 2>"$work/server.err" &
  pids+=($!)
  for _ in $(seq 50); do grep -q "listening on" "$work/server.err" && break; sleep 0.1; done
  server="$(grep -o '127\.0\.0\.1:[0-9]*' "$work/server.err" | head -1)"
  [ -n "$server" ] || { echo "the server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }
}

# A headless peer of binary $1 named $2 that holds RFCs $3…, advertised;
# its stdin stays open (a fifo only this script writes).
holder() {
  local bin="$1" host="$2"; shift 2
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
