#!/usr/bin/env bash
# The connection attacks of issue 17 (items 3 and 7) at full scale, against
# the release binary, loopback only, bounded (about 2 minutes in all):
#
#   1. Index server, `--max-connections 500` (per address: the default,
#      256): 600 idle sockets from 127.0.0.2, then a client from 127.0.0.3
#      ADDs and LOOKUPs. Prints how many of the 600 were admitted / closed
#      and whether the client was served.
#   2. Upload server, at its defaults (1,024 connections, 32 per address):
#      cap + 50 = 1,074 sockets that send `GET RFC 8600 P2P-CI/1.0\r\nHo`
#      and stop, re-opened every 9 s for 30 s; meanwhile 10 real GETs from
#      127.0.0.1, each checked byte for byte. Run twice: the attacker on one
#      address (127.0.0.2: the per-address cap holds it), and spread over
#      40 addresses (127.0.0.2-41, 27 sockets each, under the per-address
#      cap: only eviction of the half-sent holds it).
#
#   scripts/attack-uploads.sh            # builds the release binary first
#   P2PCI_BIN=/path/to/p2pci scripts/attack-uploads.sh
#   KEEP=1 scripts/attack-uploads.sh     # keep the scratch folder (logs)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${P2PCI_BIN:-}" ]; then cargo build --release --locked --quiet --bin p2pci; fi
BIN=${P2PCI_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/p2pci}
RFC_DIR=$PWD/RFCs
# Both ends of every socket live on this machine.
ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d -t p2pci-attack.XXXXXX)
. scripts/lib/procs.sh
cleanup() {
  set +e
  exec 3>&- 2>/dev/null
  stop_all
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
( sleep 240; echo "attack-uploads: timed out after 240 s" >&2; kill -TERM $$ ) 2>/dev/null &
PIDS+=($!)

say() { echo "== $*" >&2; }

# Starts the index server with the given options; sets SERVER_PORT.
start_server() {
  "$BIN" server --bind 127.0.0.1 --port 0 --quiet "$@" 2>"$WORK/server.log" &
  PIDS+=($!)
  for _ in $(seq 100); do
    SERVER_PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/server.log" | head -1)
    [ -n "$SERVER_PORT" ] && return
    sleep 0.05
  done
  echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

say "1. index server, --max-connections 500: 600 idle sockets from 127.0.0.2, then a client from 127.0.0.3"
start_server --max-connections 500
RESULT1=0
python3 - "$SERVER_PORT" <<'EOF' || RESULT1=$?
import socket, sys, time
port = int(sys.argv[1])
held = []
for _ in range(600):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    held.append(s)
time.sleep(0.5)
closed = 0
for s in held:
    s.settimeout(0.01)
    try:
        if s.recv(1) == b"":
            closed += 1
    except socket.timeout:
        pass
    except OSError:
        closed += 1
print(f"   600 idle sockets from 127.0.0.2: {600 - closed} admitted, {closed} closed on arrival")
c = socket.socket()
c.bind(("127.0.0.3", 0))
c.settimeout(5)
t = time.monotonic()
served = False
try:
    c.connect(("127.0.0.1", port))
    c.sendall(b"ADD RFC 1 P2P-CI/1.0\r\nHost: real\r\nPort: 5000\r\nTitle: T\r\n\r\n"
              b"LOOKUP RFC 1 P2P-CI/1.0\r\nHost: real\r\nPort: 5000\r\n\r\n")
    got = b""
    while got.count(b"\r\n\r\n") < 2:
        chunk = c.recv(4096)
        if not chunk:
            break
        got += chunk
    served = got.count(b"P2P-CI/1.0 200 OK") == 2 and b"RFC 1 T real 5000" in got
except OSError as e:
    got = str(e).encode()
ms = (time.monotonic() - t) * 1000
print(f"   client from 127.0.0.3: ADD + LOOKUP {'served' if served else 'NOT served'} in {ms:.1f} ms")
sys.exit(0 if served else 1)
EOF

say "2. upload server at its defaults: cap + 50 half-sent GETs, re-opened every 9 s for 30 s; 10 real GETs"
mkdir -p "$WORK/peer"
cp "$RFC_DIR/rfc8600.txt" "$WORK/peer/"
# The peer's standard input stays open (fd 3) so it keeps running.
mkfifo "$WORK/peer.in"
"$BIN" peer --headless --bind 127.0.0.1 --port 0 --host victim --server "127.0.0.1:$SERVER_PORT" \
  --dir "$WORK/peer" <"$WORK/peer.in" >"$WORK/peer.out" 2>"$WORK/peer.err" &
PIDS+=($!)
exec 3>"$WORK/peer.in"
for _ in $(seq 100); do
  UPLOAD_PORT=$(sed -n 's/.*upload server on 127.0.0.1:\([0-9]*\);.*/\1/p' "$WORK/peer.out" | head -1)
  [ -n "$UPLOAD_PORT" ] && break
  sleep 0.05
done
[ -n "$UPLOAD_PORT" ] || { echo "the peer did not start" >&2; cat "$WORK/peer.err" >&2; exit 1; }

attack() { # attack LABEL ADDRESSES: cap + 50 half-sent over the addresses
  python3 - "$UPLOAD_PORT" "$RFC_DIR/rfc8600.txt" "$1" "$2" <<'EOF'
import socket, sys, threading, time
port, path, label, spread = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = open(path, "rb").read()
CAP = 1024
N = CAP + 50
addrs = [f"127.0.0.{2 + i}" for i in range(spread)]
HALF = b"GET RFC 8600 P2P-CI/1.0\r\nHo"
stop = threading.Event()
opened = [0]

def flood():
    held = []
    while not stop.is_set():
        for s in held:
            s.close()
        held = []
        for i in range(N):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addrs[i % len(addrs)], 0))
                s.connect(("127.0.0.1", port))
                s.sendall(HALF)
                held.append(s)
                opened[0] += 1
            except OSError:
                s.close()
        stop.wait(9)
    for s in held:
        s.close()

t = threading.Thread(target=flood)
t.start()
time.sleep(2)  # the first wave is in
ok, times = 0, []
start = time.monotonic()
for i in range(10):
    c = socket.socket()
    c.settimeout(5)
    t0 = time.monotonic()
    got = b""
    try:
        c.connect(("127.0.0.1", port))
        c.sendall(b"GET RFC 8600 P2P-CI/1.0\r\nHost: real\r\n\r\n")
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    c.close()
    head, _, rest = got.partition(b"\r\n\r\n")
    if head.startswith(b"P2P-CI/1.0 200 OK") and rest == body:
        ok += 1
        times.append((time.monotonic() - t0) * 1000)
    # 10 GETs spread over the 30 s.
    time.sleep(max(0, start + 3 * (i + 1) - time.monotonic()))
stop.set()
t.join()
worst = f", slowest {max(times):.1f} ms" if times else ""
print(f"   {label}: real GETs succeeded {ok}/10 (byte for byte){worst}; {opened[0]} half-sent sockets opened")
sys.exit(0 if ok == 10 else 1)
EOF
}
set +e
attack "1,074 half-sent from 127.0.0.2 alone" 1; RESULT2=$?
attack "1,074 half-sent spread over 127.0.0.2-41" 40; RESULT3=$?
set -e
refused=$(grep -c "refused" "$WORK/peer.err" || true)
say "done (upload server log lines mentioning refusals: $refused)"
[ "$RESULT1" = 0 ] && [ "$RESULT2" = 0 ] && [ "$RESULT3" = 0 ]
