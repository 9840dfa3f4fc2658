#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the real parts the
# tests start themselves, then `cargo test`. Quiet: one line per step here,
# apt's own output in target/test-setup.log.
#
#   tmux            the terminal UI's end-to-end test
#   redis-server    the shared index
#   redis-sentinel  the shared index's failover test (Sentinel)
#   promtool        checks the metrics (taken alone from Debian's prometheus
#                   package: the package itself would bring the whole server,
#                   its web assets and a system service, ~100 MB)
#   man             renders the man page
#   systemd-analyze verifies the systemd units in contrib/
#
# A test whose part is missing fails, naming it; with P2PCI_SKIP_MISSING=1 it
# is skipped instead, and the skips are counted after the run.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p target
LOG=target/test-setup.log
: >"$LOG"
TOOLS="$PWD/target/tools/bin"
export PATH="$TOOLS:$PATH"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
step() { printf '%s\n' "$*"; }
fail() { printf '%s (see %s)\n' "$*" "$LOG" >&2; exit 1; }

apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  step "apt-get update"
  $SUDO apt-get update >>"$LOG" 2>&1 || fail "apt-get update failed"
  apt_updated=1
}

# tool:package pairs installed with apt when the tool is missing.
APT_TOOLS=(tmux:tmux redis-server:redis-server redis-sentinel:redis-sentinel man:man-db systemd-analyze:systemd)
need_apt=()
for pair in "${APT_TOOLS[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
if ((${#need_apt[@]})); then
  apt_update
  step "installing ${need_apt[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need_apt[@]}" >>"$LOG" 2>&1 \
    || fail "apt-get install ${need_apt[*]} failed"
  # The packages start system services; the tests start their own.
  $SUDO service redis-server stop >>"$LOG" 2>&1 || true
  $SUDO service redis-sentinel stop >>"$LOG" 2>&1 || true
fi

if ! command -v promtool >/dev/null 2>&1; then
  apt_update
  step "fetching promtool (from Debian's prometheus package, nothing else installed)"
  work=$(mktemp -d)
  (cd "$work" && apt-get download prometheus) >>"$LOG" 2>&1 || fail "apt-get download prometheus failed"
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool 2>>"$LOG" \
    || fail "promtool not found in the prometheus package"
  mkdir -p "$TOOLS"
  install -m 0755 "$work/usr/bin/promtool" "$TOOLS/promtool"
  rm -rf "$work"
fi

for pair in "${APT_TOOLS[@]}" promtool:prometheus; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || fail "${pair%%:*} is missing and could not be installed"
done
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust from https://rustup.rs first" >&2
  exit 1
fi

SKIPPED="${CARGO_TARGET_DIR:-target}/tmp/skipped-missing-tools.txt"
rm -f "$SKIPPED"
step "cargo test --locked $*"
status=0
cargo test --locked "$@" || status=$?
if [ -s "$SKIPPED" ]; then
  echo "skipped for a missing tool (P2PCI_SKIP_MISSING=1): $(wc -l <"$SKIPPED") test(s)"
  sed 's/^/  /' "$SKIPPED"
fi
exit "$status"
