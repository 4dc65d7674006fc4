#!/usr/bin/env python3
"""Answer times of the web pages under concurrent clients, on loopback.

    python3 issuer/scripts/web_load.py URL [--clients 200] [--requests 10]

URL: a running `vaxpass-issuer serve` (e.g. `serve --demo`). Each client opens its own
HTTP/1.1 connection, reads the portal page `GET /` once (for its CSRF cookie and token), then
sends `--requests` lookups `POST /lookup` of details that match nobody (a random unknown ID
number each), and `--requests` more `GET /`. Prints the count, the status codes and the 50th/90th/99th percentiles and maximum of
each kind. Every lookup answer waits for the lookup's answer-time floor (100 ms + up to 20 ms
of jitter by default), whatever it says. From one address, run the service with
`--max-connections-per-address 512 --lookup-per-minute 100000`, or most answers are refused
connections or 429 (which take the same floor).
"""

import argparse
import http.client
import random
import re
import statistics
import threading
import time
import urllib.parse


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def client(host, port, n, out, lock):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/")
    r = conn.getresponse()
    body = r.read().decode()
    cookie = r.getheader("set-cookie", "").split(";")[0]
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', body).group(1)
    def form():
        # A new unknown ID number each time: the per-ID limits do not answer for the database.
        return urllib.parse.urlencode({
            "csrf": token, "full_name": "Nguyễn Văn Không Có", "dob-day": "1", "dob-month": "1",
            "dob-year": "1980", "sex": "M", "id_number": f"0010800{random.randrange(10**5):05d}",
            "last-day": "1", "last-month": "9", "last-year": "2021",
        })
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    mine = {"lookup": [], "page": [], "status": {}}
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/lookup", body=form(), headers=headers)
        r = conn.getresponse()
        r.read()
        mine["lookup"].append(time.perf_counter() - t)
        mine["status"][("lookup", r.status)] = mine["status"].get(("lookup", r.status), 0) + 1
        t = time.perf_counter()
        conn.request("GET", "/", headers={"Cookie": cookie})
        r = conn.getresponse()
        r.read()
        mine["page"].append(time.perf_counter() - t)
        mine["status"][("page", r.status)] = mine["status"].get(("page", r.status), 0) + 1
    conn.close()
    with lock:
        out["lookup"] += mine["lookup"]
        out["page"] += mine["page"]
        for k, v in mine["status"].items():
            out["status"][k] = out["status"].get(k, 0) + v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--requests", type=int, default=10)
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    out = {"lookup": [], "page": [], "status": {}}
    lock = threading.Lock()
    threads = [threading.Thread(target=client, args=(u.hostname, u.port or 80, args.requests, out, lock))
               for _ in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    print(f"{args.clients} clients x {args.requests} lookups + {args.requests} pages in {wall:.1f} s")
    print("status codes:", dict(sorted(out["status"].items())))
    for kind in ("lookup", "page"):
        ms = [v * 1000 for v in out[kind]]
        print(f"{kind:>6}: n={len(ms)} p50={percentile(ms, 50):.1f} ms p90={percentile(ms, 90):.1f} ms "
              f"p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms mean={statistics.mean(ms):.1f} ms")


if __name__ == "__main__":
    main()
