#!/usr/bin/env bash
# Instructions per GET of one peer build, counted by callgrind (the same for
# the same binary and input whatever else the machine runs): a headless peer
# under valgrind serves OPS GETs of FILE (small: rfc8600.txt; large: 100 MiB)
# at CONNS connections from loadgen; prints the whole process's and the
# serve and open_shared inclusive instructions per GET.
#   callgrind.sh NAME PEER_BINARY SERVER_BINARY LOADGEN [small|large]
set -euo pipefail
cd "$(dirname "$0")/../../.."
name=$1 bin=$2 srv=$3 lg=$4 file=${5:-small}
out=${OUT:-/tmp/rustix-ab/callgrind}; mkdir -p "$out"
W=$(mktemp -d /tmp/rustix-cg.XXXX); mkdir -p "$W/files"
cp RFCs/rfc8600.txt "$W/files/rfc1.txt"
head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' 'x' > "$W/files/rfc2.txt"
"$srv" server --quiet --bind 127.0.0.1 --port 27954 2>/dev/null & spid=$!
mkfifo "$W/in"; exec 3<>"$W/in"
sleep 0.5
valgrind --tool=callgrind --callgrind-out-file="$out/$name.out" "$bin" peer --headless --host cg --bind 127.0.0.1 \
  --port 27955 --dir "$W/files" --server 127.0.0.1:27954 --upload-max-connections-per-address 1000000 \
  <"$W/in" >/dev/null 2>"$out/$name.err" & ppid=$!
sleep 4
if [ "$file" = small ]; then args=(--rfc 1 --conns "${CONNS:-16}" --max-ops "${OPS:-3000}"); else args=(--rfc 2 --conns 1 --max-ops "${OPS:-20}"); fi
"$lg" --json --label "$name" --duration 120 --warmup 0 --scenario get --proto p2pci --target 127.0.0.1:27955 "${args[@]}" >"$out/$name.json"
kill -INT "$ppid" 2>/dev/null || true; wait "$ppid" || true
kill "$spid"; wait "$spid" || true; rm -rf "$W"
ops=$(python3 -c "import json; print(json.load(open('$out/$name.json'))['ops'])")
# Inclusive instructions per GET: the whole process, the connection task
# (`serve`, into which the handler and body::send are inlined) and
# `Folder::open_shared` (openat2 and fstat).
callgrind_annotate --inclusive=yes --auto=no --threshold=99.9 "$out/$name.out" | awk -v n="$name" -v ops="$ops" '
  /PROGRAM TOTALS/ { gsub(",", "", $1); t = $1 }
  /upload::serve::\{\{closure/ { gsub(",", "", $1); s = $1 }
  /Folder::open_shared/ { gsub(",", "", $1); o = $1 }
  END { printf "%-12s GETs %5d  whole process/GET %9.0f  serve/GET %9.0f  open_shared/GET %6.0f\n", n, ops, t/ops, s/ops, o/ops }'
