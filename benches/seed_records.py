#!/usr/bin/env python3
"""Writes N records into a Redis as one p2pci server would hold them, in
Redis protocol on standard output (for `redis-cli --pipe`): the records,
the sequence, and that server's digest, membership and a lease that does
not expire, so that no server reaps the records and every copy's check
agrees with Redis (a copy that differs is reloaded).

    benches/seed_records.py 1000000 | redis-cli -p PORT --pipe
    benches/seed_records.py 1000000 10000 | ...  # RFCs 1..10000, 100 holders each

With no second argument, 1000 peers hold a thousand distinct RFCs each;
with RFCS, every peer holds RFCs 1..RFCS (so each RFC has N / RFCS
holders: a chain of that length in every copy).
"""
import sys

SERVER = 0xAA
M = (1 << 64) - 1


def weight(conn, rfc):
    # src/store/redis/digest.rs, `weight`.
    z = ((conn * 0x9E3779B97F4A7C15) & M) ^ rfc
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    z ^= z >> 31
    return (z >> 40) + 1


def cmd(out, *args):
    out.append(b"*%d\r\n" % len(args))
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))


def main():
    n = int(sys.argv[1])
    rfcs = int(sys.argv[2]) if len(sys.argv) > 2 else None
    srv = "%016x" % SERVER
    out, total, step = [], 0, 1000
    for start in range(1, n + 1, step):
        args = ["HSET", "{p2pci}:rec"]
        for i in range(start, min(start + step, n + 1)):
            conn, rfc = ((i - 1) // rfcs, (i - 1) % rfcs + 1) if rfcs else (i % 1000, i)
            args += [i, f"{srv} {conn} {rfc} 5000 host{conn} A forty byte title of some RFC, roughly."]
            total += weight(conn, rfc)
        cmd(out, *args)
        if len(out) > 4096:
            sys.stdout.buffer.write(b"".join(out))
            out.clear()
    cmd(out, "SET", "{p2pci}:seq", n)
    cmd(out, "HSET", f"{{p2pci}}:dig:{srv}", "n", n, "s", total)
    cmd(out, "SADD", "{p2pci}:servers", srv)
    cmd(out, "SET", f"{{p2pci}}:lease:{srv}", 1)
    sys.stdout.buffer.write(b"".join(out))


main()
