#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after the other.
#
#   ./scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Uses cargo-fuzz (libFuzzer, AddressSanitizer). The machine has only stable
# Rust, so RUSTC_BOOTSTRAP=1 lets stable rustc take the nightly-only flags
# cargo-fuzz passes (-Zsanitizer, -Cpasses=sancov). Seeds in fuzz/seeds/ are
# copied into the working corpus fuzz/corpus/ (not committed); a crash lands
# in fuzz/artifacts/<target>/ and makes this script fail.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(p2s_request p2s_response get_request get_response_head)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  echo "=== fuzzing $t for ${secs}s"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=4096 -print_final_stats=1
done
