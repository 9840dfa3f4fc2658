#!/usr/bin/env bash
# System calls per GET of one peer build (`strace -c -f` attached to a
# headless peer while loadgen makes 5,000 RFC-sized GETs at 16 conns, or 50
# 100 MiB GETs at 1 conn).
#   strace.sh NAME PEER_BINARY SERVER_BINARY LOADGEN small|large
set -eu
cd "$(dirname "$0")/../../.."
name=$1 bin=$2 srv=$3 lg=$4 file=$5
out=${OUT:-/tmp/rustix-ab/strace}; mkdir -p $out
W=$(mktemp -d /tmp/rustix-st.XXXX); mkdir -p "$W/files"
cp RFCs/rfc8600.txt "$W/files/rfc1.txt"
head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' 'x' > "$W/files/rfc2.txt"
"$srv" server --quiet --bind 127.0.0.1 --port 28054 2>/dev/null & spid=$!
mkfifo "$W/in"; exec 3<>"$W/in"; sleep 0.5
"$bin" peer --headless --host st --bind 127.0.0.1 --port 28055 --dir "$W/files" --server 127.0.0.1:28054 \
  --upload-max-connections-per-address 1000000 <"$W/in" >/dev/null 2>/dev/null & ppid=$!
sleep 1
strace -c -f -p $ppid -o $out/$name.txt & stpid=$!
sleep 1
if [ "$file" = small ]; then args=(--rfc 1 --conns 16 --max-ops 5000); else args=(--rfc 2 --conns 1 --max-ops 50); fi
"$lg" --json --label $name --duration 120 --warmup 0 --scenario get --proto p2pci --target 127.0.0.1:28055 "${args[@]}" > $out/$name.json
kill -INT $stpid; wait $stpid || true
kill -INT $ppid; wait $ppid || true; kill $spid; wait $spid || true; rm -rf "$W"
ops=$(python3 -c "import json;print(json.load(open('$out/$name.json'))['ops'])")
awk -v ops=$ops -v n=$name '$NF ~ /^(sendto|sendfile|openat|openat2|statx|accept4|recvfrom|epoll_wait|shutdown|close|write)$/ {printf "%s %s %.3f/GET\n", n, $NF, $4/ops}' $out/$name.txt
