#!/usr/bin/env bash
# Throughput of the trust-list endpoint on loopback, bounded in time (wrk -d).
#
#   bash trust-list/scripts/load-test.sh [SECONDS] [CONNECTIONS]
#
# Builds the release binaries, makes a development key directory in a temporary folder,
# builds and signs a list, serves it on 127.0.0.1 (a free port), and runs wrk against
# GET /trust-list (200, full body), the same with If-None-Match (304), ?since=<current> (204)
# and /trust-list.json. Traffic goes to 127.0.0.1 only; the server is stopped by its PID.
# Needs wrk (Debian: apt-get install -y wrk).
set -euo pipefail
secs=${1:-10}
conns=${2:-64}
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
cargo build --release --manifest-path "$root/Cargo.toml" -p vaxpass-trust-list --features cli -p vaxpass-keys --features vaxpass-keys/cli >&2
bin=$target/release
work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
"$bin/vaxpass-keys" dev-init "$work/keys" >/dev/null
"$bin/vaxpass-trust-list" build --keys "$work/keys" -o "$work/list.cbor" >/dev/null
"$bin/vaxpass-trust-list" sign --keys "$work/keys" --list "$work/list.cbor" -o "$work/list.cose" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/vaxpass-trust-list" serve --list "$work/list.cose" --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/trust-list" && break; sleep 0.1; done
etag=$(curl -sI "http://127.0.0.1:$port/trust-list" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
seq=$(curl -sI "http://127.0.0.1:$port/trust-list" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-trust-list-sequence"{print $2}')
echo "list: $(stat -c %s "$work/list.cose") bytes, sequence $seq, ETag $etag; $(nproc) cores; wrk -t1 -c$conns -d${secs}s"
run() {
    local name=$1; shift
    local rps
    rps=$(timeout $((secs + 20)) wrk -t1 -c"$conns" -d"${secs}s" "$@" | awk '/Requests\/sec/{print $2}')
    printf '%-34s %12s requests/s\n' "$name" "$rps"
}
run "GET /trust-list (200)" "http://127.0.0.1:$port/trust-list"
run "GET /trust-list If-None-Match (304)" -H "If-None-Match: $etag" "http://127.0.0.1:$port/trust-list"
run "GET /trust-list?since=$seq (204)" "http://127.0.0.1:$port/trust-list?since=$seq"
run "GET /trust-list.json (200)" "http://127.0.0.1:$port/trust-list.json"
