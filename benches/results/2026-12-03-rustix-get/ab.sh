#!/usr/bin/env bash
# GET A/B: two headless peers (A, B) serve the same folder (the files of
# benches/compare.sh: rfc8600.txt as rfc1.txt, 100 MiB as rfc2.txt); each
# round runs RFC-sized GET at 16 conns and 100 MiB GET at 1 conn against
# both, the order swapped every round. Peer CPU (utime + stime from
# /proc/PID/stat, 10 ms ticks) is read around each run.
#   A=/tmp/rustix-ab/p2pci-base B=/tmp/rustix-ab/p2pci-new LG=/tmp/rustix-ab/loadgen \
#     ROUNDS=8 DUR=3 OUT=/tmp/rustix-ab/ab.jsonl ab.sh
set -u
cd "$(dirname "$0")/../../.."
W=$(mktemp -d /tmp/rustix-ab-w.XXXX)
mkdir -p "$W/files"
cp RFCs/rfc8600.txt "$W/files/rfc1.txt"
head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' 'x' > "$W/files/rfc2.txt"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.5; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT INT TERM
"$A" server --quiet --bind 127.0.0.1 --port 27854 2>/dev/null & PIDS+=($!)
sleep 0.5
mkfifo "$W/a.in" "$W/b.in"; exec 3<>"$W/a.in"; exec 4<>"$W/b.in"
PEER=(peer --headless --bind 127.0.0.1 --dir "$W/files" --server 127.0.0.1:27854 --upload-max-connections-per-address 1000000)
"$A" "${PEER[@]}" --host a --port 27855 <"$W/a.in" >/dev/null 2>"$W/a.log" & APID=$!; PIDS+=($APID)
"$B" "${PEER[@]}" --host b --port 27856 <"$W/b.in" >/dev/null 2>"$W/b.log" & BPID=$!; PIDS+=($BPID)
sleep 1
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # run SIDE FILE CONNS REP
  local port pid; if [ "$1" = A ]; then port=27855 pid=$APID; else port=27856 pid=$BPID; fi
  local c0; c0=$(cpu "$pid")
  local line; line=$(timeout 30 "$LG" --json --label "rep=$4;side=$1;file=$2" --duration "${DUR:-3}" --warmup 1 \
    --scenario get --proto p2pci --target "127.0.0.1:$port" --conns "$3" --rfc "$([ "$2" = small ] && echo 1 || echo 2)")
  local c1; c1=$(cpu "$pid")
  echo "${line%\}},\"peer_cpu_ticks\":$((c1 - c0))}" | tee -a "$OUT" | cut -c1-160 >&2
}
: > "$OUT"
for rep in $(seq 1 "${ROUNDS:-8}"); do
  if [ $((rep % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  for f in "small 16" "large 1"; do
    for side in $order; do run "$side" $f "$rep"; done
  done
done
