#!/usr/bin/env python3
"""Full-scale figure for issue 17, item 2: what clients that ask for a huge
LOOKUP answer and never read it cost the index server.

Runs a p2pci server binary on 127.0.0.1 (nothing else is ever a target),
gives RFC 8600 HOLDERS holders (one connection each, 8,000-byte titles: an
answer of about 40 MB), then opens SILENT connections that each send one
LOOKUP RFC 8600 and never read. Reports the server's resident set before
and after, settled. Then one client reads the whole answer and its record
count is checked. Every phase is bounded in count and time.

Usage: scripts/attack-lookup-answers.py [--binary target/release/p2pci]
           [--holders 5000] [--silent 100]

The server is started with --max-connections-per-address lifted (every
connection here comes from 127.0.0.1) and --max-index-memory 4GiB.

Measured once (2 cores, release builds, one run each):

    this round's server:  5000 holders, 94 MiB holding them;
      100 clients that LOOKUP (answers of 40 MB each) and never read: RSS +9 MiB (99 KiB each)
      a reader meanwhile: 5000 of 5000 records, 40.2 MB in 0.78 s
    the server before it (--silent 20, to keep the run small):
      20 clients that LOOKUP and never read: RSS +766 MiB (39,243 KiB each: every answer built whole)
"""

import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settled(pid, limit=30.0):
    """The resident set once it has not changed for 1 s (at most `limit` s)."""
    last, stable, deadline = -1, 0, time.time() + limit
    while stable < 10 and time.time() < deadline:
        time.sleep(0.1)
        now = rss_kib(pid)
        stable = stable + 1 if now == last else 0
        last = now
    return last


def request(method, arg, host, port, title=None):
    lines = [f"{method} {arg} P2P-CI/1.0", f"Host: {host}", f"Port: {port}"]
    if title is not None:
        lines.append(f"Title: {title}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(s, deadline):
    """One whole P2S answer: status line, blank, records, blank."""
    buf = b""
    while time.time() < deadline:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0 and buf.endswith(b"\r\n\r\n") and len(buf) > head_end + 4:
            return buf
        if buf == b"P2P-CI/1.0 404 Not Found\r\n\r\n\r\n":
            return buf
    return buf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/p2pci")
    ap.add_argument("--holders", type=int, default=5000)
    ap.add_argument("--silent", type=int, default=100)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))

    extra = []
    help_text = subprocess.run([a.binary, "server", "--help"], capture_output=True, text=True).stdout
    if "--max-connections-per-address" in help_text:
        extra = ["--max-connections-per-address", "1000000", "--max-index-memory", "4GiB"]
    server = subprocess.Popen(
        [a.binary, "server", "--quiet", "--bind", "127.0.0.1", "--port", "0", *extra],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "warn"})
    try:
        port = None
        deadline = time.time() + 10
        while port is None and time.time() < deadline:
            line = server.stderr.readline()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            sys.exit("the server did not say where it listens")
        pid = server.pid
        idle = settled(pid)

        holders = []
        t0 = time.time()
        for i in range(a.holders):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(request("ADD", "RFC 8600", f"holder{i}", 1000 + i % 60000, f"{i} " + "T" * 8000))
            answer = read_answer(s, time.time() + 10)
            if not answer.startswith(b"P2P-CI/1.0 200 OK"):
                sys.exit(f"ADD {i} answered {answer[:60]!r}")
            holders.append(s)
        before = settled(pid)
        print(f"{a.holders} holders of RFC 8600 with 8 KiB titles in {time.time() - t0:.1f} s;"
              f" server RSS {idle // 1024} MiB idle, {before // 1024} MiB holding them")

        silent = []
        for _ in range(a.silent):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(request("LOOKUP", "RFC 8600", "silent", 1, "t"))
            silent.append(s)
        after = settled(pid)
        grown = after - before
        answer_mb = a.holders * 8030 / 1e6
        print(f"{a.silent} clients that LOOKUP (answers of {answer_mb:.0f} MB each) and never read:"
              f" RSS +{grown // 1024} MiB ({grown / max(a.silent, 1):.0f} KiB each)")

        reader = socket.create_connection(("127.0.0.1", port), timeout=30)
        reader.sendall(request("LOOKUP", "RFC 8600", "reader", 1, "t"))
        t0 = time.time()
        answer = read_answer(reader, time.time() + 60)
        records = answer.count(b"\r\nRFC 8600 ")
        print(f"a reader meanwhile: {records} of {a.holders} records, {len(answer) / 1e6:.1f} MB"
              f" in {time.time() - t0:.2f} s")
        for s in silent + holders + [reader]:
            s.close()
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
