#!/usr/bin/env python3
"""Issue 12 (bulk upload and CSV items): hostile bulk uploads against two `serve --demo`
servers on loopback, the old binary and the new one, measured in one run.

Figures: peak RSS (VmHWM of /proc/PID/status) after a 4 MiB upload of `x\\n` lines; the time
of a CSV record of one quote and 64k line breaks; the worst `/healthz` latency while two
such 192 KiB uploads run at once; and, on the new binary only, peak RSS after 64 MiB hostile
uploads (bad lines, `,` rows, over-long lines, one quote left open).

Usage: bulk-hostile.py OLD_BINARY NEW_BINARY
  (e.g. /var/tmp/vaxpass-old/release/vaxpass-issuer target/release/vaxpass-issuer)
Loopback only; every request loop is bounded; the servers are stopped at the end.
"""
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TIMEOUT = 600  # seconds, per request
# Scaled down for debug builds (the old parser is quadratic): BULK_HOSTILE_NEWLINES=16384
# BULK_HOSTILE_CONCURRENT_KIB=48.
NEWLINES = int(os.environ.get("BULK_HOSTILE_NEWLINES", 65536))
CONCURRENT_KIB = int(os.environ.get("BULK_HOSTILE_CONCURRENT_KIB", 192))


class Server:
    def __init__(self, binary, port):
        self.dir = tempfile.mkdtemp(prefix="bulk-hostile.", dir="/var/tmp")
        self.port = port
        self.log = open(os.path.join(self.dir, "serve.log"), "w+")
        self.proc = subprocess.Popen(
            [binary, "serve", "--demo", "--listen", f"127.0.0.1:{port}",
             "--data-dir", os.path.join(self.dir, "data")],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.token = None
        for _ in range(600):  # at most 60 s to start
            self.log.flush()
            # Older builds print the token; newer ones keep it in a 0600 file of the data
            # directory when standard output is not a terminal.
            text = open(self.log.name).read()
            tokens = os.path.join(self.dir, "data", "demo-tokens.env")
            if os.path.exists(tokens):
                text += open(tokens).read()
            m = re.search(r"export VAXPASS_TOKEN=['\"]?([^\s'\"]+)", text)
            if m and self.healthz() is not None:
                self.token = m.group(1)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if self.token is None:
            self.stop()
            sys.exit(f"{binary} did not start (see {self.log.name})")

    def healthz(self):
        """Seconds taken by GET /healthz, or None when it fails."""
        try:
            t = time.monotonic()
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("GET", "/healthz")
            c.getresponse().read()
            c.close()
            return time.monotonic() - t
        except OSError:
            return None

    def upload(self, content_type, body):
        """(status, answer bytes, seconds)."""
        t = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            c.request("POST", "/api/v1/dose-records:bulk", body=body, headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": content_type})
        except (BrokenPipeError, ConnectionResetError):
            pass  # a cut upload: the server answered before reading all of the body
        try:
            r = c.getresponse()
        except (ConnectionResetError, http.client.RemoteDisconnected):
            return "cut (connection closed)", 0, time.monotonic() - t
        data = r.read()
        c.close()
        return r.status, len(data), time.monotonic() - t

    def status(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) // 1024  # MiB
        return -1

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


HEADER = (b"id_number,full_name,date_of_birth,sex,vaccine_mp,vaccine_ma,vaccine_vp,"
          b"dose_number,series_total,date\n")


def open_quote(newlines):
    return HEADER + b'"' + b"\n" * newlines


def figures(name, srv):
    print(f"== {name} (pid {srv.proc.pid}, port {srv.port})")
    print(f"  VmHWM after start: {srv.status('VmHWM')} MiB")
    st, size, secs = srv.upload("application/x-ndjson", b"x\n" * (2 << 20))
    print(f"  4 MiB of x lines: HTTP {st}, answer {size} bytes, {secs:.2f} s, "
          f"VmHWM {srv.status('VmHWM')} MiB, VmRSS after {srv.status('VmRSS')} MiB")
    st, size, secs = srv.upload("text/csv", open_quote(NEWLINES))
    print(f"  CSV record of one quote and {NEWLINES} line breaks: HTTP {st}, {secs:.2f} s")
    # Two concurrent 192 KiB open-quote uploads; /healthz sampled meanwhile (bounded loop).
    body = open_quote(CONCURRENT_KIB * 1024)
    done = []
    threads = [threading.Thread(target=lambda: done.append(srv.upload("text/csv", body)))
               for _ in range(2)]
    for t in threads:
        t.start()
    worst, samples = 0.0, 0
    while len(done) < 2 and samples < 2000:
        time.sleep(0.02)
        h = srv.healthz()
        samples += 1
        worst = max(worst, h if h is not None else 60.0)
    for t in threads:
        t.join()
    print(f"  /healthz during two concurrent {CONCURRENT_KIB} KiB open-quote uploads: worst "
          f"{worst * 1000:.0f} ms over {samples} samples; uploads took "
          f"{', '.join(f'{d[2]:.2f} s' for d in done)}")


def hostile_64(srv):
    n = 64 << 20
    line = b"y" * (70 * 1024) + b"\n"
    cases = [
        ("x lines", "application/x-ndjson", b"x\n" * (n // 2)),
        (", rows", "text/csv", HEADER + b",\n" * ((n - len(HEADER)) // 2)),
        ("70 KiB lines", "application/x-ndjson", line * (n // len(line))),
        ("one open quote", "text/csv", open_quote(n - len(HEADER) - 1)),
    ]
    print(f"== new binary, 64 MiB hostile uploads (pid {srv.proc.pid})")
    print(f"  VmHWM after start: {srv.status('VmHWM')} MiB")
    for name, ct, body in cases:
        st, size, secs = srv.upload(ct, body)
        del body
        print(f"  {name}: HTTP {st}, answer {size} bytes, {secs:.2f} s, "
              f"VmHWM so far {srv.status('VmHWM')} MiB")
    cases.clear()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    old, new = sys.argv[1], sys.argv[2]
    servers = []
    try:
        if old != "-":  # "-": the new binary only
            servers.append(Server(old, 18471))
            figures("old binary " + old, servers[-1])
        servers.append(Server(new, 18472))
        figures("new binary " + new, servers[-1])
        servers.append(Server(new, 18473))
        hostile_64(servers[-1])
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
