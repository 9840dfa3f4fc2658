#!/usr/bin/env python3
"""Redis CPU for one batch script (lib.lua + batch.lua, as the writer sends
it) of N first-time ADDs, from Redis's own `INFO cpu`, one script at a time
on one connection. Tells the script's fixed cost from its cost per change
(run it for several N), and an edited copy of the script from the original.

    redis-server --port 27870 --save "" &
    cat src/store/redis/scripts/lib.lua src/store/redis/scripts/batch.lua > /tmp/b.lua
    for n in 1 10 50; do benches/batch_script.py 27870 /tmp/b.lua $n 3000; done

It FLUSHALLs that Redis. At one script at a time the figures include the
wake-up Redis pays per request (about 24 µs on a small VM, the same for
`return 0`); differences between N are the script's.
"""
import socket, sys, time

if len(sys.argv) != 5:
    sys.exit(__doc__)
port = int(sys.argv[1]); script = open(sys.argv[2]).read(); n = int(sys.argv[3]); batches = int(sys.argv[4])
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
def enc(*a):
    out = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)
def read():
    l = f.readline()
    t = l[:1]
    if t in b"+-:": return l
    if t == b"$":
        k = int(l[1:]); 
        if k < 0: return None
        d = f.read(k + 2); return d
    if t == b"*":
        return [read() for _ in range(int(l[1:]))]
def cmd(*a):
    s.sendall(enc(*a)); return read()
cmd("FLUSHALL")
sha = cmd("SCRIPT", "LOAD", script).strip()
def cpu():
    info = cmd("INFO", "cpu").decode()
    d = dict(l.split(":") for l in info.split("\r\n") if ":" in l)
    return float(d["used_cpu_user"]) + float(d["used_cpu_sys"])
P = "{p2pci}:"; srv = "00000000000000aa"
conn_i = 0; rfc = 0; token = 0
def batch():
    global rfc, token
    keys = [P+"seq", P+"rec", P+"peers:"+srv, P+"servers", P+"log", P+"lease:"+srv, P+"bytes", P+"fence:"+srv, P+"dig:"+srv]
    args = [P, srv, 10000, 2000, 10**12, token + 1, token]
    token += 1
    for i in range(n):
        rfc += 1; conn = rfc % 50
        keys.append(P+"peer:"+srv+":"+str(conn))
        args += ["a", conn, rfc, 5000, "host%d" % conn, "A forty byte title of some RFC, roughly.", 120, 12345]
    return enc("EVALSHA", sha, len(keys), *keys, *args)
reqs = [batch() for _ in range(batches)]
c0 = cpu(); t0 = time.time()
for r in reqs:
    s.sendall(r); x = read()
    if isinstance(x, bytes) and x.startswith(b"-"): print(x); break
t1 = time.time(); c1 = cpu()
print("n=%d scripts=%d cpu/batch %.1f us, per change %.2f us, wall/batch %.1f us" % (n, batches, (c1-c0)/batches*1e6, (c1-c0)/batches/n*1e6, (t1-t0)/batches*1e6))
