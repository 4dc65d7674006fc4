#!/usr/bin/env bash
# The API's throughput side by side in one run (issue 18): SQLite (one process), PostgreSQL with
# one replica, PostgreSQL with two replicas on one database (two load generators at half the
# connections each, started together). Release binaries; a PostgreSQL server at $PG (trust auth).
# Per PostgreSQL run it also prints the server's transactions and rows per certificate
# (pg_stat_database deltas).
#
#   cargo build --release -p vaxpass-issuer --features cli -p vaxpass-tools
#   issuer/scripts/replica-throughput.sh            # CONN=32 DUR=10 by default
set -euo pipefail
T=${CARGO_TARGET_DIR:-target}/release
BIN=${BIN:-$T/vaxpass-issuer}
LG=${LG:-$T/vaxpass-loadgen}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
CONN=${CONN:-32}
DUR=${DUR:-10}
WARMUP=${WARMUP:-2}
EXTRA=${EXTRA:---submit-burst 0}
work=$(mktemp -d)
db=vaxpass_tp_$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$PG/postgres" -c "CREATE DATABASE $db" >/dev/null

# serve ARGS... : starts a replica, prints its URL once it listens.
serve() {
  local out=$work/serve-${#pids[@]}.out
  VAXPASS_LOG=warn "$BIN" serve --listen 127.0.0.1:0 $EXTRA "$@" >"$out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    if grep -q '^listening on ' "$out"; then
      grep -m1 '^listening on ' "$out" | sed 's/^listening on //'
      return
    fi
    sleep 0.2
  done
  echo "serve did not start: $(cat "$out")" >&2
  exit 1
}
token() { sed -n 's/^export VAXPASS_TOKEN=//p' "$1/demo-tokens.env"; }
load() { "$LG" --url "$1" --token "$2" --registry "$3" --connections "$4" --duration "$DUR" --warmup "$WARMUP"; }
stats() {
  psql -Atq "$PG/$db" -c "SELECT xact_commit, tup_inserted, tup_updated, tup_fetched FROM pg_stat_database WHERE datname = '$db'"
}
certs() { psql -Atq "$PG/$db" -c "SELECT count(*) FROM certificates"; }
per_cert() { # before after certs_before certs_after
  awk -F'|' -v b="$1" -v a="$2" -v c0="$3" -v c1="$4" 'BEGIN {
    split(b, x, "|"); split(a, y, "|"); n = c1 - c0; if (n < 1) n = 1;
    printf "  per certificate on the server: %.1f transactions, %.1f rows inserted, %.1f updated, %.1f fetched (%d certificates)\n",
      (y[1]-x[1])/n, (y[2]-x[2])/n, (y[3]-x[3])/n, (y[4]-x[4])/n, n }'
}

echo "== SQLite, one process ($(date -u +%H:%M:%S) UTC) =="
url=$(serve --demo --data-dir "$work/sqlite")
load "$url" "$(token "$work/sqlite")" "$work/sqlite/registry.csv" "$CONN"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "== PostgreSQL, one replica ($(date -u +%H:%M:%S) UTC) =="
url=$(serve --demo --data-dir "$work/pg" --database "$PG/$db")
s0=$(stats); c0=$(certs)
load "$url" "$(token "$work/pg")" "$work/pg/registry.csv" "$CONN"
s1=$(stats); c1=$(certs); per_cert "$s0" "$s1" "$c0" "$c1"

echo "== PostgreSQL, two replicas, $((CONN / 2)) connections each ($(date -u +%H:%M:%S) UTC) =="
url2=$(serve --insecure-plain-http --data-dir "$work/pg" --database "$PG/$db")
s0=$(stats); c0=$(certs)
load "$url" "$(token "$work/pg")" "$work/pg/registry.csv" $((CONN / 2)) >"$work/a.txt" &
la=$!
load "$url2" "$(token "$work/pg")" "$work/pg/registry.csv" $((CONN / 2)) >"$work/b.txt" &
lb=$!
wait "$la" "$lb"
echo "-- replica A"; cat "$work/a.txt"
echo "-- replica B"; cat "$work/b.txt"
s1=$(stats); c1=$(certs); per_cert "$s0" "$s1" "$c0" "$c1"
"$BIN" audit verify --database "$PG/$db"
