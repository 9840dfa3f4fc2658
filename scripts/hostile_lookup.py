#!/usr/bin/env python3
"""Issue 17, item 9 at full scale: a hostile index answers a LOOKUP with
200,000 holders under names that do not resolve (h<i>.invalid).

Starts a stand-in index server (here, on the loopback), the release peer
(headless, one thread, as by default) against it, and asks the peer to
download the RFC. Meanwhile GETs of the peer's own RFC go to its upload
server every 100 ms. Prints how long the peer took to take the answer (its
"OK lookup" line and its "more holder(s)" notice) and the slowest GET.

Bounded: the probing runs for --seconds (default 20), each GET has a 5 s
timeout, and the peer is closed (then killed) at the end.

Usage: scripts/hostile_lookup.py [--holders N] [--seconds S] [--binary PATH]
(build first: cargo build --release)
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serve_index(listener, answer):
    def conn(c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                c.sendall(answer(head))
        except OSError:
            return

    while True:
        try:
            c, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=conn, args=(c,), daemon=True).start()


def get_time(port, rfc):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET RFC {rfc} P2P-CI/1.0\r\nHost: prober\r\nOS: test\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"P2P-CI/1.0 200 OK\r\n"):
        raise RuntimeError(f"bad answer {data[:80]!r}")
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--holders", type=int, default=200_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "p2pci"))
    args = ap.parse_args()

    dead = closed_port()
    records = b"".join(f"RFC 9999 Big h{i}.invalid {dead}\r\n".encode() for i in range(args.holders))
    big = b"P2P-CI/1.0 200 OK\r\n\r\n" + records + b"\r\n"

    def answer(head):
        return big if head.startswith(b"LOOKUP ") else b"P2P-CI/1.0 200 OK\r\n\r\n"

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    index_port = listener.getsockname()[1]
    threading.Thread(target=serve_index, args=(listener, answer), daemon=True).start()

    work = tempfile.mkdtemp(prefix="hostile_lookup.")
    peer = subprocess.Popen(
        [args.binary, "peer", "--headless", "--host", "me", "--bind", "127.0.0.1",
         "--server", f"127.0.0.1:{index_port}", "--rfcs", "8600",
         "--rfc-dir", os.path.join(ROOT, "RFCs"), "--dir", os.path.join(work, "me")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    seen = {}
    upload = threading.Event()
    upload_port = [0]

    def read_out():
        for raw in peer.stdout:
            line = raw.decode("utf-8", "replace")
            now = time.monotonic()
            if "upload server on" in line and not upload.is_set():
                upload_port[0] = int(line.split("upload server on ")[1].split(";")[0].rsplit(":", 1)[1])
                upload.set()
            if line.startswith("* connected to index server"):
                seen.setdefault("connected", now)
            if line.startswith("OK lookup RFC 9999"):
                seen.setdefault("lookup", now)
                seen["lookup_line"] = line.strip()
            if "more holder(s)" in line:
                seen.setdefault("dropped", now)
                seen["dropped_line"] = line.strip()
            if line.startswith("ERR from h"):
                seen["tried"] = seen.get("tried", 0) + 1

    threading.Thread(target=read_out, daemon=True).start()
    try:
        if not upload.wait(10):
            sys.exit("the peer did not start")
        deadline = time.monotonic() + 10
        while "connected" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        # A baseline first, then the download.
        times = [get_time(upload_port[0], 8600) for _ in range(5)]
        asked = time.monotonic()
        peer.stdin.write(b"get 9999\n")
        peer.stdin.flush()
        slowest, failed, during = 0.0, 0, []
        end = asked + args.seconds
        while time.monotonic() < end:
            try:
                t = get_time(upload_port[0], 8600)
                during.append(t)
                slowest = max(slowest, t)
            except (OSError, RuntimeError):
                failed += 1
            time.sleep(0.1)
        lookup = seen.get("lookup")
        dropped = seen.get("dropped")
        print(f"holders in the answer: {args.holders}")
        print(f"answer handled (OK lookup line): {lookup - asked:.2f} s" if lookup else "no OK lookup line")
        print(f"dropped-holders notice: {dropped - asked:.2f} s: {seen.get('dropped_line')}" if dropped
              else "no dropped-holders notice")
        print(f"holders tried in {args.seconds:.0f} s: {seen.get('tried', 0)}")
        print(f"GETs before: slowest {max(times) * 1000:.1f} ms")
        print(f"GETs during and after: {len(during)} answered, {failed} failed, "
              f"slowest {slowest * 1000:.1f} ms")
    finally:
        try:
            peer.stdin.write(b"close\n")
            peer.stdin.flush()
            peer.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            peer.kill()
            peer.wait()
        listener.close()


if __name__ == "__main__":
    main()
