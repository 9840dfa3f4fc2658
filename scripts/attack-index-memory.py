#!/usr/bin/env python3
"""Full-scale figures for issue 17, item 1: what an ADD flood with 8 KiB
titles makes the index server hold, with the default caps
(--max-records-per-peer 20000, --max-index-memory 1GiB).

Runs the release binary on 127.0.0.1 (nothing else is ever a target) and,
each phase bounded in count and time:

1. one connection ADDs 30,000 distinct RFCs (8,000-byte titles), pipelined;
   the server's peak resident set and the ADDs refused are reported;
2. the connection closes: the resident set once its records are gone;
3. the same flood again: its peak, against the first one's;
4. 10 connections at once, 20,000 ADDs each (200,000 in all): the memory
   budget, not the per-peer cap, is what refuses them;
5. with --redis (a redis-server on a free port, nothing saved): phase 4
   through two servers sharing one Redis, and Redis's own used memory.

Usage: scripts/attack-index-memory.py [--redis] [--binary target/release/p2pci]

Measured once (2 cores, release build; before the caps one connection
reached 3.8 GB in 37 s, and with Redis 2.96 GB in the server plus 2.91 GB
in Redis):

    idle server: 5 MiB
    flood 1: one connection, 30000 ADDs of 8 KiB titles in 0.8 s: 20000 accepted, 10000 refused (400); peak RSS 161 MiB
      after its connection closed and its records went: RSS 7 MiB
    flood 2: one connection, 30000 ADDs of 8 KiB titles in 0.7 s: 20000 accepted, 10000 refused (400); peak RSS 161 MiB
      after its connection closed and its records went: RSS 7 MiB
    second flood's peak vs the first: +0.2 %
    10 connections x 20000 ADDs in 5.3 s: 131231 accepted, 68769 refused; peak RSS 1025 MiB
    redis, 2 servers, 10 connections x 20000 ADDs in 24.3 s: 131230 accepted, 68770 refused;
      server peaks 1037 MiB, 1035 MiB; redis used_memory 1044 MiB (empty: 0.9 MiB)
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

TITLE = "F" * 8000
PHASE_LIMIT = 180.0  # seconds, per phase


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    """The peak resident set of a process, sampled every 50 ms."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except OSError:
                return
            time.sleep(0.05)

    def done(self):
        self.stop = True
        self.thread.join()
        return self.peak


def start_server(binary, extra=()):
    p = subprocess.Popen(
        [binary, "server", "--bind", "127.0.0.1", "--port", "0", "--quiet", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, int(m.group(1))
        if not line and p.poll() is not None:
            break
    p.kill()
    sys.exit(f"the server did not start: {binary}")


def flood(port, host, first_rfc, count, result):
    """ADDs `count` distinct RFCs on one connection, a writer and a reader
    thread at once; result gets (accepted, refused)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(PHASE_LIMIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write():
        try:
            for start in range(0, count, 64):
                batch = "".join(
                    f"ADD RFC {first_rfc + r} P2P-CI/1.0\r\nHost: {host}\r\nPort: 1\r\nTitle: {TITLE}\r\n\r\n"
                    for r in range(start, min(start + 64, count))
                )
                s.sendall(batch.encode())
        except OSError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    ok = bad = 0
    tail = b""
    deadline = time.time() + PHASE_LIMIT
    while ok + bad < count and time.time() < deadline:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        # The 11 bytes kept cannot hold a whole 12-byte marker, so a status
        # split across reads is counted once, and no status twice.
        data = tail + chunk
        ok += data.count(b"P2P-CI/1.0 2")
        bad += data.count(b"P2P-CI/1.0 4")
        tail = data[-11:]
    writer.join(timeout=5)
    result.append((ok, bad, s))


def lookup_404(port, rfc):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(f"LOOKUP RFC {rfc} P2P-CI/1.0\r\nHost: probe\r\nPort: 1\r\n\r\n".encode())
    head = s.recv(64)
    s.close()
    return head.startswith(b"P2P-CI/1.0 404")


def until_gone(port, rfc):
    deadline = time.time() + 60
    while time.time() < deadline:
        if lookup_404(port, rfc):
            return
        time.sleep(0.1)
    sys.exit("the flood's records did not go within 60 s")


def mib(kib):
    return f"{kib / 1024:.0f} MiB"


def many(ports, conns, per_conn):
    """`conns` connections at once, spread over `ports`; returns (accepted, refused, sockets)."""
    results, threads = [], []
    for i in range(conns):
        t = threading.Thread(
            target=flood, args=(ports[i % len(ports)], f"flood{i}", 100_000 * (i + 1), per_conn, results)
        )
        t.start()
        threads.append(t)
    for t in threads:
        t.join(PHASE_LIMIT + 10)
    return sum(r[0] for r in results), sum(r[1] for r in results), [r[2] for r in results]


def redis_info(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"INFO memory\r\n")
    data = b""
    while b"used_memory:" not in data or not data.endswith(b"\r\n"):
        data += s.recv(65536)
    s.close()
    return int(re.search(rb"used_memory:(\d+)", data).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/p2pci")
    ap.add_argument("--redis", action="store_true", help="also phase 5, through Redis")
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)

    server, port = start_server(args.binary)
    try:
        idle = rss_kib(server.pid)
        print(f"idle server: {mib(idle)}")
        peaks = []
        for round in (1, 2):
            sampler = Sampler(server.pid)
            t0 = time.time()
            out = []
            flood(port, "flood", 100_000, 30_000, out)
            ok, bad, s = out[0]
            took = time.time() - t0
            peak = sampler.done()
            peaks.append(peak)
            print(f"flood {round}: one connection, 30000 ADDs of 8 KiB titles in {took:.1f} s: "
                  f"{ok} accepted, {bad} refused (400); peak RSS {mib(peak)}")
            s.close()
            until_gone(port, 100_000)
            time.sleep(0.5)
            print(f"  after its connection closed and its records went: RSS {mib(rss_kib(server.pid))}")
        print(f"second flood's peak vs the first: {100 * (peaks[1] - peaks[0]) / peaks[0]:+.1f} %")

        sampler = Sampler(server.pid)
        t0 = time.time()
        ok, bad, socks = many([port], 10, 20_000)
        peak = sampler.done()
        print(f"10 connections x 20000 ADDs in {time.time() - t0:.1f} s: {ok} accepted, {bad} refused; "
              f"peak RSS {mib(peak)}")
        for s in socks:
            s.close()
    finally:
        server.kill()
        server.wait()

    if args.redis:
        if not shutil.which("redis-server"):
            sys.exit("--redis: redis-server is not installed")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            rport = probe.getsockname()[1]
        redis = subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        servers = []
        try:
            time.sleep(0.5)
            url = f"redis://127.0.0.1:{rport}"
            before = redis_info(rport)
            servers = [start_server(args.binary, ["--store", url]) for _ in range(2)]
            samplers = [Sampler(p.pid) for p, _ in servers]
            t0 = time.time()
            ok, bad, socks = many([p for _, p in servers], 10, 20_000)
            peaks = [smp.done() for smp in samplers]
            time.sleep(1)
            used = redis_info(rport)
            print(f"redis, 2 servers, 10 connections x 20000 ADDs in {time.time() - t0:.1f} s: "
                  f"{ok} accepted, {bad} refused; server peaks {', '.join(mib(p) for p in peaks)}; "
                  f"redis used_memory {used / 2**20:.0f} MiB (empty: {before / 2**20:.1f} MiB)")
            for s in socks:
                s.close()
        finally:
            for p, _ in servers:
                p.kill()
                p.wait()
            redis.kill()
            redis.wait()


if __name__ == "__main__":
    main()
