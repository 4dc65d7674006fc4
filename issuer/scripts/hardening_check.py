#!/usr/bin/env python3
"""Before/after check of issue 12, items 4 and 10, against a `vaxpass-issuer` binary.

Starts `BIN serve --demo` on 127.0.0.1 (any free port) in a fresh data directory with standard
output a pipe (as a log file would be), then reports:

- the modes of the data directory, issuer.db(-wal, -shm) and registry.csv;
- whether the staff token was printed to standard output;
- a slow body: a POST with `Content-Length: 100000` whose body comes one byte a second; how
  long the server kept the connection open (at most --slow-limit seconds are tried);
- connections from one address: how many of --connections kept-alive connections from
  127.0.0.1 are served, and whether one from 127.0.0.2 still is.

Only loopback traffic; bounded in time; the server is stopped at the end.

  python3 issuer/scripts/hardening_check.py /var/tmp/vaxpass-old/release/vaxpass-issuer
"""

import argparse
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time


def start(binary, data):
    env = dict(os.environ, VAXPASS_LOG="warn")
    for var in ("DATABASE_URL", "VAXPASS_LISTEN", "VAXPASS_DATA_DIR", "VAXPASS_KEYS"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [binary, "serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip() == "stop with Ctrl-C":
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    base = next(l.split("listening on http://", 1)[1] for l in lines if "listening on " in l)
    host, port = base.rsplit(":", 1)
    return proc, lines, host, int(port)


def mode(path):
    try:
        return oct(stat.S_IMODE(os.stat(path).st_mode))
    except FileNotFoundError:
        return "absent"


def healthz(sock):
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    sock.settimeout(5)
    try:
        data = sock.recv(64)
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200")


def connect(src, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--slow-limit", type=float, default=75.0)
    ap.add_argument("--connections", type=int, default=80)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vaxpass-check-") as tmp:
        data = os.path.join(tmp, "data")
        proc, lines, host, port = start(args.binary, data)
        try:
            print(f"binary: {args.binary}")
            for name in ["", "issuer.db", "issuer.db-wal", "issuer.db-shm", "registry.csv",
                         "demo-tokens.env", "demo-example.json"]:
                print(f"mode {name or '(data directory)'}: {mode(os.path.join(data, name))}")
            printed = any(l.startswith("export VAXPASS_TOKEN=") for l in lines)
            print(f"staff token printed to a non-terminal standard output: {printed}")

            s = socket.create_connection((host, port))
            s.sendall(b"POST /api/v1/lookup HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            t0 = time.time()
            closed_after = None
            s.settimeout(1.0)
            while time.time() - t0 < args.slow_limit:
                try:
                    s.sendall(b" ")
                except OSError:
                    closed_after = time.time() - t0
                    break
                try:
                    if s.recv(4096) == b"":
                        closed_after = time.time() - t0
                        break
                    # An answer came: wait for the close.
                except socket.timeout:
                    pass
                except OSError:
                    closed_after = time.time() - t0
                    break
            s.close()
            if closed_after is None:
                print(f"slow body (1 byte/s): connection still open after {args.slow_limit:.0f} s")
            else:
                print(f"slow body (1 byte/s): connection closed after {closed_after:.1f} s")

            socks = [connect("127.0.0.1", host, port) for _ in range(args.connections)]
            served = sum(healthz(c) for c in socks)
            other = connect("127.0.0.2", host, port)
            print(f"connections from 127.0.0.1: {served} of {args.connections} served; "
                  f"one from 127.0.0.2 served: {healthz(other)}")
            for c in socks + [other]:
                c.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
