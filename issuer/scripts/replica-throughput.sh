#!/usr/bin/env bash
# The API's throughput side by side in one run (issue 18): SQLite (one process), PostgreSQL with
# one replica, PostgreSQL with two replicas on one database (two load generators at half the
# connections each, started together). Release binaries; a PostgreSQL server at $PG (trust auth).
# Per PostgreSQL run it also prints the server's transactions and rows per certificate
# (pg_stat_database deltas). SKIP_SQLITE=1 leaves the SQLite run out; DB_SET="name = value" sets a
# PostgreSQL setting on the test database only (diagnostics).
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
# Diagnostics only, e.g. DB_SET="synchronous_commit = off" (never for a real service).
if [[ -n ${DB_SET:-} ]]; then psql -q "$PG/postgres" -c "ALTER DATABASE $db SET $DB_SET" >/dev/null; fi

# serve NAME ARGS... : starts a replica in the background (log in $work/NAME.out).
serve() {
  local name=$1
  shift
  VAXPASS_LOG=warn "$BIN" serve --listen 127.0.0.1:0 $EXTRA "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  echo $! >"$work/$name.pid"
}
# url NAME: the replica's URL once it listens.
url() {
  for _ in $(seq 1 600); do
    if grep -q '^listening on ' "$work/$1.out"; then
      grep -m1 '^listening on ' "$work/$1.out" | sed 's/^listening on //'
      return
    fi
    sleep 0.2
  done
  echo "serve $1 did not start: $(cat "$work/$1.out")" >&2
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

if [[ -z ${SKIP_SQLITE:-} ]]; then
echo "== SQLite, one process ($(date -u +%H:%M:%S) UTC) =="
serve sqlite --demo --data-dir "$work/sqlite"
load "$(url sqlite)" "$(token "$work/sqlite")" "$work/sqlite/registry.csv" "$CONN"
kill "$(cat "$work/sqlite.pid")"; wait "$(cat "$work/sqlite.pid")" 2>/dev/null || true
fi

echo "== PostgreSQL, one replica ($(date -u +%H:%M:%S) UTC) =="
serve pg-a --demo --data-dir "$work/pg" --database "$PG/$db"
a=$(url pg-a)
s0=$(stats); c0=$(certs)
load "$a" "$(token "$work/pg")" "$work/pg/registry.csv" "$CONN"
s1=$(stats); c1=$(certs); per_cert "$s0" "$s1" "$c0" "$c1"

echo "== PostgreSQL, two replicas, $((CONN / 2)) connections each ($(date -u +%H:%M:%S) UTC) =="
serve pg-b --insecure-plain-http --data-dir "$work/pg" --database "$PG/$db"
b=$(url pg-b)
s0=$(stats); c0=$(certs)
load "$a" "$(token "$work/pg")" "$work/pg/registry.csv" $((CONN / 2)) >"$work/a.txt" &
la=$!
load "$b" "$(token "$work/pg")" "$work/pg/registry.csv" $((CONN / 2)) >"$work/b.txt" &
lb=$!
wait "$la" "$lb"
echo "-- replica A"; cat "$work/a.txt"
echo "-- replica B"; cat "$work/b.txt"
s1=$(stats); c1=$(certs); per_cert "$s0" "$s1" "$c0" "$c1"
"$BIN" audit verify --database "$PG/$db"
