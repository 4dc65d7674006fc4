#!/usr/bin/env bash
# Times `batch issue` and `batch reissue --signed-by` side by side on N certificates (SQLite):
# two development key directories A and B, `batch seed`, `batch issue --pending` with A, then
# `batch reissue --signed-by <A's DSC>` with B (B's manifest does not list A, so the withdrawal
# is only printed). Build first: cargo build --release -p vaxpass-issuer -p vaxpass-keys
#   issuer/scripts/reissue-bench.sh 1000000
set -euo pipefail
N=${1:-100000}
T=${CARGO_TARGET_DIR:-target}
B=${BIN:-$T/release/vaxpass-issuer}
K=${KEYS_BIN:-$T/release/vaxpass-keys}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
"$K" dev-init "$D/keys-a" >/dev/null
"$K" dev-init "$D/keys-b" >/dev/null
URL="sqlite://$D/issuer.db?mode=rwc"
"$B" batch seed --database "$URL" --count "$N"
echo "== batch issue"
"$B" batch issue --pending --database "$URL" --keys "$D/keys-a" --progress none | tail -3
KID=$(grep -F -A1 '[[dsc]]' "$D/keys-a/keys.toml" | grep 'kid = ' | head -1 | cut -d'"' -f2)
echo "== batch reissue --signed-by $KID"
"$B" batch reissue --database "$URL" --keys "$D/keys-b" --signed-by "$KID" --progress none
uptime
