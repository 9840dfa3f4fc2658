# Shared by the benchmark and attack scripts: every process a script
# starts is added to PIDS (`PIDS+=("$!")`), and `stop_all` ends them:
# SIGTERM, a moment to exit cleanly (servers remove their peers and
# leases), then SIGKILL for whatever is left, and a wait so no child
# outlives the script. Source it after `set -euo pipefail`; call
# `stop_all` from the script's own exit trap.

PIDS=()
stop_all() { # stop_all [GRACE_SECONDS]
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep "${1:-0.3}"
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
