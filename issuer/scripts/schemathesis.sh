#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the OpenAPI description of a running `serve --demo`: every
# operation of /openapi.json with generated valid and invalid requests, every check (all are on
# by default; schemathesis.toml turns one off for a few operations, saying why) (no 5xx, status codes, content types, headers and bodies as the description says them).
#
#   issuer/scripts/schemathesis.sh BIN [--max-time SECONDS] [--report DIR] [schemathesis options…]
#
# BIN is a built `vaxpass-issuer`. The demo runs in a fresh temporary data directory on a free
# loopback port, with the lookup's rate limits raised (the limits themselves are tested
# elsewhere; here they would turn most generated requests into 429s) and its answer delay off;
# requests carry the demo clinic's staff token. Which checks are off for which operation, and
# why, is in schemathesis.toml beside this script. The service is stopped at the end, and the
# exit status is schemathesis's.
set -euo pipefail

bin="$(realpath "${1:?usage: schemathesis.sh BIN [--max-time SECONDS] [--report DIR] [options]}")"
shift
here="$(cd "$(dirname "$0")" && pwd)"
max_time=120
report=""
extra=()
while (($#)); do
  case "$1" in
    --max-time) max_time="$2"; shift 2 ;;
    --report) report="$(realpath -m "$2")"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
command -v schemathesis >/dev/null || { echo "schemathesis.sh: schemathesis is not installed (pip install schemathesis)" >&2; exit 2; }

data="$(mktemp -d)"
log="$data.serve.log"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin" serve --demo --listen "127.0.0.1:$port" --data-dir "$data" \
  --lookup-per-minute 1000000 --lookup-per-id-network-per-hour 1000000 \
  --lookup-per-id-per-hour 1000000 --lookup-min-answer-ms 0 --lookup-answer-jitter-ms 0 \
  >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  [[ -s "$data/demo-tokens.env" ]] && curl -sf "http://127.0.0.1:$port/openapi.json" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "schemathesis.sh: the demo did not start" >&2; exit 2; }
  sleep 0.2
done
# shellcheck disable=SC1091
. "$data/demo-tokens.env"

# Two passes: the clinic's operations with the staff token, then the admin operations with the
# admin token (in one pass, the stateful phase revokes and rotates the staff token through the
# admin operations, and every clinic operation after it answers 401).
base=(--config-file "$here/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json"
  --max-time "$max_time" --workers 2 --suppress-health-check all)
status=0
cd "$data" # schemathesis keeps its .schemathesis/ cache in the working directory
pass() {
  local name="$1"
  shift
  local rep=()
  [[ -n "$report" ]] && rep=(--report junit --report-dir "$report/$name")
  echo "==> schemathesis, $name" >&2
  set +e
  schemathesis "${base[@]}" "${rep[@]}" "$@" "${extra[@]}"
  local rc=$?
  set -e
  ((rc == 0)) || status=$rc
}
pass clinic --header "Authorization: Bearer $VAXPASS_TOKEN" --exclude-path-regex '^/api/v1/admin/'
pass admin --header "Authorization: Bearer $VAXPASS_ADMIN_TOKEN" --include-path-regex '^/api/v1/admin/'
if grep -q 'panicked' "$log"; then
  echo "schemathesis.sh: the service panicked (log: $log)" >&2
  cp "$log" "${report:-/tmp}/serve.log" 2>/dev/null || true
  status=1
fi
exit "$status"
