#!/usr/bin/env bash
# A black-box check of several servers sharing one index through Redis, as
# issue 11's "How it will be checked" describes: the release binary, a real
# redis-server, three servers (--lease 2), headless peers spread over them,
# loopback only. After each step LIST is compared on every server (the same
# records in the same order, and the records the live peers advertised):
#
#   1. a server killed with SIGKILL: its peers' records leave the survivors
#      within lease + 1 s;
#   2. Redis restarted empty: every live server re-publishes within a few
#      seconds, and no peer connection is closed;
#   3. a server added late serves the whole index from its first request;
#   4. Redis stopped for a while (connections refused, then a hung Redis):
#      servers keep answering, log the outage once, and catch up; a peer
#      joining and one leaving meanwhile are seen everywhere afterwards;
#   5. a stand-in for Redis that answers junk, and one that never answers:
#      an error logged with context, no panic, no hang (also at start-up).
#
#   scripts/blackbox-redis.sh          # about 2 minutes; exits non-zero on any mismatch
#   KEEP=1 scripts/blackbox-redis.sh   # keep the scratch folder (logs) afterwards
#   P2PCI_BIN=/path/to/p2pci scripts/blackbox-redis.sh   # a given binary, no build
set -euo pipefail
cd "$(dirname "$0")/.."

LEASE=2
command -v redis-server >/dev/null || { echo "redis-server is needed (scripts/test.sh installs it)" >&2; exit 1; }
if [ -z "${P2PCI_BIN:-}" ]; then cargo build --release --locked --quiet --bin p2pci; fi
BIN=${P2PCI_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/p2pci}
RFC_DIR=$PWD/RFCs

WORK=$(mktemp -d -t p2pci-blackbox.XXXXXX)
FAILS=0
. scripts/lib/procs.sh
cleanup() {
  set +e
  exec 3>&-
  stop_all
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The whole run is bounded.
( sleep 300; echo "blackbox: timed out after 300 s" >&2; kill -TERM $$ ) 2>/dev/null &
WATCHDOG=$!; PIDS+=("$WATCHDOG")

say() { echo "== $*" >&2; }
ok() { echo "   ok: $*" >&2; }
fail() { echo "   FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# LIST on a server, one "rfc host port" per record, in the server's order;
# "DOWN" when it does not answer within 2 s.
cat >"$WORK/list.py" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.settimeout(2)
    s.sendall(b"LIST ALL P2P-CI/1.0\r\nHost: blackbox\r\nPort: 1\r\n\r\n")
    buf = b""
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep and (rest == b"\r\n" or rest.endswith(b"\r\n\r\n") or b" 200 " not in head):
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 200 " not in head:
        print("DOWN", head.decode(errors="replace")); sys.exit(0)
    for line in rest.decode().split("\r\n"):
        if not line:
            break
        w = line.split(" ")
        print(w[1], w[-2], w[-1])
except Exception as e:
    print("DOWN", e)
PY
list() { python3 "$WORK/list.py" "$1"; }

# A stand-in for Redis: "junk" answers every read with nonsense, "mute"
# accepts and never answers.
cat >"$WORK/standin.py" <<'PY'
import socket, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(64)
held = []
def serve(c):
    try:
        while c.recv(65536):
            if mode == "junk":
                c.sendall(b"*2\r\n:zz\r\n$-7\r\n%%%garbage\x00\xff\r\n+OK\r\n")
    except OSError:
        pass
while True:
    c, _ = srv.accept()
    held.append(c)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

REDIS_PORT=$(free_port)
STORE="redis://127.0.0.1:$REDIS_PORT"
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >>"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!; PIDS+=("$REDIS_PID")
  for _ in $(seq 100); do rcli ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis did not start" >&2; exit 1
}
stop_redis() { kill -9 "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; }

declare -A SPID SPORT
start_server() { # start_server NAME [STORE]: waits until it listens
  local name=$1 port; port=$(free_port)
  "$BIN" server --quiet --bind 127.0.0.1 --port "$port" --store "${2:-$STORE}" --lease "$LEASE" \
    2>"$WORK/server-$name.log" &
  SPID[$name]=$!; SPORT[$name]=$port; PIDS+=("$!")
  for _ in $(seq 200); do
    grep -q "listening" "$WORK/server-$name.log" && return
    sleep 0.05
  done
  fail "server $name did not start"; cat "$WORK/server-$name.log" >&2; exit 1
}

declare -A PPID_ PRFCS
mkfifo "$WORK/stdin"
exec 3<>"$WORK/stdin" # held open: the headless peers never see the end of their input
start_peer() { # start_peer HOST SERVER RFC...
  local host=$1 server=$2; shift 2
  "$BIN" peer --headless --advertise --host "$host" --bind 127.0.0.1 --port "$(free_port)" \
    --server "127.0.0.1:${SPORT[$server]}" --rfc-dir "$RFC_DIR" --dir "$WORK/peer-$host" --rfcs "$@" \
    <"$WORK/stdin" >"$WORK/peer-$host.out" 2>&1 &
  PPID_[$host]=$!; PRFCS[$host]="$*"; PIDS+=("$!")
}
stop_peer() { kill -9 "${PPID_[$1]}" 2>/dev/null || true; unset "PRFCS[$1]"; }

# The records the live peers advertised, as "rfc host", sorted.
expected() {
  for h in "${!PRFCS[@]}"; do for r in ${PRFCS[$h]}; do echo "$r $h"; done; done | sort
}
records_of() { list "${SPORT[$1]}" | awk '{print $1, $2}' | sort; }

# check_views WHAT TIMEOUT SERVER...: every server lists the expected records,
# all in one order, within TIMEOUT seconds; prints the time it took.
check_views() {
  local what=$1 timeout=$2; shift 2
  local t0 want s first same
  t0=$(now); want=$(expected)
  while :; do
    same=1; first=""
    for s in "$@"; do
      [ "$(records_of "$s")" = "$want" ] || same=0
      if [ -z "$first" ]; then first=$(list "${SPORT[$s]}"); elif [ "$(list "${SPORT[$s]}")" != "$first" ]; then same=0; fi
    done
    [ $same = 1 ] && { ok "$what: $(echo "$want" | grep -c .) records, one order on $* (after $(since "$t0") s)"; return 0; }
    if [ "$(echo "$(since "$t0") > $timeout" | bc)" = 1 ]; then
      fail "$what: views differ after $timeout s"
      for s in "$@"; do echo "   --- $s:" >&2; diff <(echo "$want") <(records_of "$s") | head -8 >&2; done
      return 1
    fi
    sleep 0.05
  done
}

# The peers' established connections to the servers (their 4-tuples).
peer_conns() {
  local s filter=""
  for s in "$@"; do filter+="${filter:+ or }dport = :${SPORT[$s]}"; done
  ss -Htn state established "( $filter )" | awk '{print $3, $4}' | sort
}

no_panic() {
  if grep -l "panicked" "$WORK"/*.log "$WORK"/*.out 2>/dev/null; then fail "a panic in the logs above"; else ok "no panic in any log"; fi
}

# Standing up --------------------------------------------------------------
say "Redis on $REDIS_PORT, three servers (--lease $LEASE), seven headless peers"
start_redis
# Servers started against stand-ins that answer junk or nothing: they must
# log why and give up (after their 30 s start-up allowance), never panic.
JUNK_PORT=$(free_port); MUTE_PORT=$(free_port)
python3 "$WORK/standin.py" junk "$JUNK_PORT" 2>/dev/null & PIDS+=("$!")
python3 "$WORK/standin.py" mute "$MUTE_PORT" 2>/dev/null & PIDS+=("$!")
sleep 0.3
for kind in junk mute; do
  port=$JUNK_PORT; [ $kind = mute ] && port=$MUTE_PORT
  "$BIN" server --quiet --bind 127.0.0.1 --port 0 --store "redis://127.0.0.1:$port" --lease "$LEASE" \
    2>"$WORK/start-$kind.log" &
  eval "START_$kind=$!"; PIDS+=("$!")
done
T_START=$(now)

start_server s1; start_server s2; start_server s3
start_peer h1 s1 8595 8596 8600
start_peer h2 s1 8597 8600
start_peer h3 s2 8598 8600 8601
start_peer h4 s2 8695 8696
start_peer h5 s3 8697 8600
start_peer h6 s3 8698 8699 8700
check_views "start" 10 s1 s2 s3

# 1. SIGKILL ----------------------------------------------------------------
say "1. server s1 killed with SIGKILL"
kill -9 "${SPID[s1]}"; T_KILL=$(now)
# One poller, LIST every 20 ms on both survivors, for a precise time.
gone=$(python3 - "$T_KILL" "$((LEASE + 2))" "${SPORT[s2]}" "${SPORT[s3]}" <<'PY'
import socket, sys, time
t0, limit, ports = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
left = set(ports)
while left and time.time() - t0 < limit:
    for p in list(left):
        try:
            s = socket.create_connection(("127.0.0.1", int(p)), timeout=1)
            s.sendall(b"LIST ALL P2P-CI/1.0\r\nHost: blackbox\r\nPort: 1\r\n\r\n")
            buf = b""
            while not (buf.count(b"\r\n\r\n") >= 2 or buf.endswith(b"\r\n\r\n\r\n")):
                c = s.recv(65536)
                if not c: break
                buf += c
            s.close()
            if b" h1 " not in buf and b" h2 " not in buf:
                left.discard(p)
        except OSError:
            pass
    time.sleep(0.02)
print(f"{time.time() - t0:.2f}" if not left else "never")
PY
)
if [ "$gone" != never ] && [ "$(echo "$gone <= $LEASE + 1" | bc)" = 1 ]; then ok "s1's peers gone from s2 and s3 $gone s after the kill (lease $LEASE s)"
else fail "s1's peers still on a survivor ($gone; lease $LEASE s)"; fi
stop_peer h1; stop_peer h2 # their server is gone (each names only s1)
check_views "the survivors after the kill" 2 s2 s3 || true

# 2. Redis restarted empty -----------------------------------------------------
say "2. Redis restarted empty"
before=$(peer_conns s2 s3)
stop_redis; start_redis; T_REDIS=$(now)
until_republished() {
  local want; want=$(expected | grep -c .)
  while [ "$(rcli hlen '{p2pci}:rec')" != "$want" ]; do
    [ "$(echo "$(since "$T_REDIS") > 5" | bc)" = 1 ] && { fail "Redis holds $(rcli hlen '{p2pci}:rec') records, want $want"; return; }
    sleep 0.05
  done
  ok "Redis holds the $want live records again after $(since "$T_REDIS") s"
}
until_republished
check_views "after the restart" 5 s2 s3 || true
if [ "$(peer_conns s2 s3)" = "$before" ] && [ -n "$before" ]; then ok "no peer connection closed ($(echo "$before" | wc -l) kept)"
else fail "peer connections changed"; diff <(echo "$before") <(peer_conns s2 s3) >&2; fi

# 3. A late server --------------------------------------------------------------
say "3. server s4 started late"
start_server s4
first=$(records_of s4)
if [ "$first" = "$(expected)" ]; then ok "s4's first LIST is the whole index ($(echo "$first" | grep -c .) records)"
else fail "s4's first LIST"; diff <(expected) <(echo "$first") | head >&2; fi
start_peer h7 s4 8701 8600
check_views "a peer of s4" 5 s2 s3 s4 || true

# 4. Redis away -------------------------------------------------------------------
say "4. Redis away for 4 s (connections refused), a peer joining and one leaving meanwhile"
lines_before() { grep -c "redis unavailable" "$WORK/server-$1.log" || true; }
declare -A DOWN0
for s in s2 s3 s4; do DOWN0[$s]=$(lines_before $s); done
stop_redis
sleep 0.5
for s in s2 s3 s4; do
  [ "$(records_of $s)" = "$(expected)" ] && ok "$s answers LIST while Redis is away" || fail "$s's LIST while Redis is away"
done
start_peer h8 s3 8702 8600
stop_peer h4
sleep 3.5
for s in s2 s3 s4; do
  n=$(( $(lines_before $s) - ${DOWN0[$s]} ))
  [ "$n" = 1 ] && ok "$s logged the outage once" || fail "$s logged the outage $n times"
done
start_redis; T_REDIS=$(now)
until_republished
check_views "after the outage" 5 s2 s3 s4 || true
for s in s2 s3 s4; do
  grep -q "redis available" "$WORK/server-$s.log" && ok "$s reconnected" || fail "$s did not say it reconnected"
done

say "4b. Redis hung (SIGSTOP) for 4 s"
kill -STOP "$REDIS_PID"
sleep 0.5
for s in s2 s3 s4; do
  t0=$(now); got=$(records_of $s)
  [ "$got" = "$(expected)" ] && ok "$s answers LIST while Redis hangs ($(since "$t0") s)" || fail "$s's LIST while Redis hangs"
done
start_peer h9 s2 8703
sleep 3.5
kill -CONT "$REDIS_PID"
check_views "after the hang" 8 s2 s3 s4 || true

# 5. Garbage and silence ---------------------------------------------------------------
say "5. Redis replaced by a stand-in answering junk, then one never answering"
for kind in junk mute; do
  stop_redis
  python3 "$WORK/standin.py" $kind "$REDIS_PORT" 2>/dev/null & STANDIN=$!; PIDS+=("$STANDIN")
  sleep 3
  for s in s2 s3 s4; do
    t0=$(now); got=$(records_of $s)
    [ "$got" = "$(expected)" ] && ok "$s answers LIST with a $kind Redis ($(since "$t0") s)" || fail "$s's LIST with a $kind Redis"
  done
  kill -9 "$STANDIN"; wait "$STANDIN" 2>/dev/null || true
  start_redis; T_REDIS=$(now)
  until_republished
  check_views "after the $kind stand-in" 8 s2 s3 s4 || true
done
grep -h "unexpected answer\|did not answer\|redis unavailable while" "$WORK"/server-s*.log | sed 's/^/   log: /' | sort -u | head -6 >&2
if [ "$(peer_conns s2 s3 s4 | wc -l)" -ge 5 ]; then ok "peers still connected: $(peer_conns s2 s3 s4 | wc -l)"; else fail "peer connections lost"; fi

say "5b. servers started against the stand-ins give up with an error"
for kind in junk mute; do
  pid_var=START_$kind; pid=${!pid_var}
  while kill -0 "$pid" 2>/dev/null && [ "$(echo "$(since "$T_START") < 40" | bc)" = 1 ]; do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then fail "a server against the $kind stand-in still runs after 40 s"; continue; fi
  set +e; wait "$pid"; rc=$?; set -e
  last=$(grep -v "^\s*$" "$WORK/start-$kind.log" | tail -1)
  if [ $rc != 0 ] && grep -q "redis" "$WORK/start-$kind.log"; then ok "$kind: had exited ($rc) by $(since "$T_START") s: ${last:0:160}"
  else fail "$kind: exit $rc: $last"; fi
done

no_panic
if [ $FAILS -gt 0 ]; then say "$FAILS check(s) failed"; KEEP=1; exit 1; fi
say "every check passed"
