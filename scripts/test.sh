#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the real parts the
# tests start themselves (tmux for the terminal UI's end-to-end test,
# redis-server for the shared index, promtool to check the metrics, man to
# render the man page), then
# `cargo test`. Tests never skip a missing part silently: with CI set, a
# missing tool fails the test that needs it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
if ((${#need_apt[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  # The packages start system services; the tests start their own.
  $SUDO service redis-server stop >/dev/null 2>&1 || true
  $SUDO service prometheus stop >/dev/null 2>&1 || true
fi
for tool in tmux redis-server promtool man; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is missing and could not be installed" >&2; exit 1; }
done
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust from https://rustup.rs first" >&2
  exit 1
fi

cargo test --locked "$@"
