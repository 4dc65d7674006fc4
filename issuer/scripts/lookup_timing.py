#!/usr/bin/env python3
"""Does the answer time of POST /api/v1/lookup tell what exists? (issue 12, item 3)

Starts `BIN serve --demo` on 127.0.0.1 (any free port) in a fresh data directory, issues
certificates to some persons of the demo's synthetic registry, then sends lookups of three
classes, interleaved at random, and times each answer (request written to response read, on
kept-alive loopback connections):

  hit_wrong_name  an ID with a certificate, right birth date, sex and dose date, wrong name
  unknown_id      a well-formed CCCD number that is not in the registry
  no_certificate  a registry person without a certificate (their own details)

Every answer must be the same 404. It prints the medians (and 10th/90th percentiles) per class
and, for each pair of classes, the two-sample Kolmogorov-Smirnov D with its asymptotic p-value
and the Mann-Whitney U (normal approximation, two-sided p-value). A p-value below 0.01 means
the two classes are told apart by their timing.

Only loopback traffic; bounded in samples and time; the server is stopped at the end.

  python3 issuer/scripts/lookup_timing.py /var/tmp/vaxpass-old/release/vaxpass-issuer
  python3 issuer/scripts/lookup_timing.py target/release/vaxpass-issuer --samples 2000 --workers 16

The rate limits are raised for the run (flags of the binary), and every request comes on a
fresh connection from its own loopback source address (127.1.0.1, 127.1.0.2, ...), timed from
the request written to the answer read, so that thousands of attempts on a few IDs are
answered rather than refused (the buckets refill by whole seconds).
"""

import argparse
import csv
import http.client
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

HIGH = "1000000000"


def start(binary, data):
    help_text = subprocess.run(
        [binary, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    args = [
        binary, "serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir", data,
        "--lookup-per-minute", HIGH, "--lookup-per-id-per-hour", HIGH,
    ]
    if "--lookup-per-id-network-per-hour" in help_text:
        args += ["--lookup-per-id-network-per-hour", HIGH]
    env = dict(os.environ, VAXPASS_LOG="warn")
    for var in ("DATABASE_URL", "VAXPASS_LISTEN", "VAXPASS_DATA_DIR", "VAXPASS_KEYS"):
        env.pop(var, None)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True, env=env)
    lines = []
    deadline = time.time() + 600
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip() == "stop with Ctrl-C" or time.time() > deadline:
            break
    base = next(l.split("listening on ", 1)[1] for l in lines if "listening on " in l)
    token = None
    tokens_file = os.path.join(data, "demo-tokens.env")
    sources = lines + (open(tokens_file).read().splitlines() if os.path.exists(tokens_file) else [])
    for l in sources:
        if l.startswith("export VAXPASS_TOKEN="):
            token = l.split("=", 1)[1].strip()
    if token is None:
        proc.terminate()
        sys.exit("no staff token found in the demo's output or token file")
    m = re.match(r"http://([^:]+):(\d+)", base)
    # Drain standard output so that the server never blocks on it.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, m.group(1), int(m.group(2)), token


def call(conn, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body) if body is not None else ""
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def ks(a, b):
    """Two-sample Kolmogorov-Smirnov D and its asymptotic p-value."""
    a, b = sorted(a), sorted(b)
    n, m = len(a), len(b)
    i = j = 0
    d = 0.0
    while i < n and j < m:
        x = min(a[i], b[j])
        while i < n and a[i] == x:
            i += 1
        while j < m and b[j] == x:
            j += 1
        d = max(d, abs(i / n - j / m))
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    p = 0.0
    for k in range(1, 101):
        p += 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
    return d, min(1.0, max(0.0, p))


def mann_whitney(a, b):
    """U of the first sample, and the two-sided p-value (normal approximation, ties corrected)."""
    n, m = len(a), len(b)
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = r
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u = r1 - n * (n + 1) / 2
    mu = n * m / 2
    nn = n + m
    sigma = math.sqrt(n * m / 12 * ((nn + 1) - ties / (nn * (nn - 1))))
    z = (u - mu) / sigma if sigma > 0 else 0.0
    p = math.erfc(abs(z) / math.sqrt(2))
    return u, z, p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--samples", type=int, default=2000, help="answers timed per class")
    ap.add_argument("--workers", type=int, default=1, help="connections sending at once")
    ap.add_argument("--certified", type=int, default=100, help="persons given a certificate")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    rnd = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="vaxpass-timing-") as tmp:
        data = os.path.join(tmp, "data")
        proc, host, port, token = start(args.binary, data)
        try:
            run(args, rnd, data, host, port, token)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(args, rnd, data, host, port, token):
    with open(os.path.join(data, "registry.csv"), newline="", encoding="utf-8") as f:
        persons = [r for r in csv.DictReader(f) if len(r["id_number"]) == 12]
    ids = {p["id_number"] for p in persons}
    rnd.shuffle(persons)
    certified = persons[: args.certified]
    uncertified = persons[args.certified : args.certified * 2]
    dose_date = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))

    conn = http.client.HTTPConnection(host, port, timeout=30)
    for p in certified:
        record = {
            "id_number": p["id_number"], "full_name": p["full_name"],
            "date_of_birth": p["date_of_birth"], "sex": p["sex"],
            "vaccine": {"mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007"},
            "dose_number": 2, "series_total": 2, "date": dose_date,
        }
        status, body = call(conn, "POST", "/api/v1/dose-records", record, token)
        if status != 201:
            sys.exit(f"submit: {status} {body[:200]!r}")
        rid = json.loads(body)["id"]
        status, body = call(conn, "POST", f"/api/v1/dose-records/{rid}/confirm", None, token)
        if status != 200:
            sys.exit(f"confirm: {status} {body[:200]!r}")

    def details(p, name=None):
        return {"full_name": name or p["full_name"], "date_of_birth": p["date_of_birth"],
                "sex": p["sex"], "id_number": p["id_number"], "last_dose_date": dose_date}

    unknown = []
    while len(unknown) < args.certified:
        base = rnd.choice(persons)["id_number"]
        cand = base[:6] + "".join(rnd.choice("0123456789") for _ in range(6))
        if cand not in ids:
            unknown.append(dict(rnd.choice(persons), id_number=cand))

    classes = {
        "hit_wrong_name": [details(p, p["full_name"] + " An") for p in certified],
        "unknown_id": [details(p) for p in unknown],
        "no_certificate": [details(p) for p in uncertified],
    }
    # Every class in turn (in a random order each round), its persons in turn: an ID comes
    # back only every 3 x --certified requests.
    plan = []
    for k in range(args.samples):
        order = list(classes)
        rnd.shuffle(order)
        plan += [(c, classes[c][k % len(classes[c])]) for c in order]
    # Warm-up: caches, the database's pages.
    warm = plan[: 3 * 50]

    times = {c: [] for c in classes}
    bad = []
    lock = threading.Lock()
    counter = [0]

    def source():
        # A fresh loopback source address for every request (127.1.0.1, 127.1.0.2, ...: Linux
        # routes all of 127.0.0.0/8 to the loopback interface), so that the per-address and
        # per-network limits, whose buckets refill by whole seconds, never refuse one.
        with lock:
            k = counter[0]
            counter[0] += 1
        return f"127.{1 + (k // (254 * 256)) % 250}.{(k // 254) % 256}.{1 + k % 254}"

    def worker(items, record):
        for cls, body in items:
            payload = json.dumps(body).encode()
            req = (b"POST /api/v1/lookup HTTP/1.1\r\nHost: localhost\r\n"
                   b"Content-Type: application/json\r\nContent-Length: "
                   + str(len(payload)).encode() + b"\r\nConnection: close\r\n\r\n" + payload)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((source(), 0))
            sock.connect((host, port))
            sock.settimeout(30)
            # Timed: the request written to the whole answer read (the server closes).
            t0 = time.perf_counter_ns()
            sock.sendall(req)
            answer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            t1 = time.perf_counter_ns()
            sock.close()
            if record:
                status = answer[9:12].decode(errors="replace")
                with lock:
                    if status != "404":
                        bad.append((cls, status))
                    times[cls].append((t1 - t0) / 1000.0)

    def fan_out(items, record):
        threads = [threading.Thread(target=worker, args=(items[i :: args.workers], record))
                   for i in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    fan_out(warm, False)
    started = time.time()
    fan_out(plan, True)
    elapsed = time.time() - started
    if bad:
        sys.exit(f"answers other than 404: {bad[:5]} ({len(bad)} in all)")

    print(f"binary: {args.binary}")
    print(f"samples per class: {args.samples}, workers: {args.workers}, "
          f"certified persons: {args.certified}, run: {elapsed:.1f} s; all answers 404")
    print(f"{'class':<16} {'median µs':>10} {'p10 µs':>10} {'p90 µs':>10}")
    for c, xs in times.items():
        print(f"{c:<16} {percentile(xs, 0.5):>10.1f} {percentile(xs, 0.1):>10.1f} "
              f"{percentile(xs, 0.9):>10.1f}")
    names = list(times)
    print(f"{'pair':<34} {'KS D':>7} {'KS p':>10} {'MW z':>8} {'MW p':>10}")
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = times[names[i]], times[names[j]]
            d, p = ks(a, b)
            _, z, pu = mann_whitney(a, b)
            print(f"{names[i] + ' vs ' + names[j]:<34} {d:>7.4f} {p:>10.3g} {z:>8.2f} {pu:>10.3g}")


if __name__ == "__main__":
    main()
