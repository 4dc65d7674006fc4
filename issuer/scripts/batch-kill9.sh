#!/usr/bin/env bash
# kill -9 in the middle of an N-certificate batch run on SQLite (default 1,000,000), then a
# restart; checks that every record is issued once with unique UVCIs and that the audit log is
# intact. Build first: cargo build --release -p vaxpass-issuer -p vaxpass-tools.
# Usage: batch-kill9.sh [N]
set -uo pipefail
B=${VAXPASS_ISSUER:-target/release/vaxpass-issuer}
BB=${VAXPASS_BATCH_BENCH:-target/release/vaxpass-batch-bench}
N=${1:-1000000}; KILL_AT=$((N * 2 / 5))
D=$(mktemp -d /var/tmp/batch-kill9.XXXXXX)
URL="sqlite://$D/issuer.db?mode=rwc"
$BB --count 1000 --dir $D/b > $D/bench-small.log 2>&1 || { echo bench failed; cat $D/bench-small.log; exit 1; }
KEYS=$D/b/keys
ls $KEYS/keys.toml >/dev/null || exit 1
echo "== seed"; /usr/bin/time -f "%e s" $B batch seed --database "$URL" --count $N 2>&1 | tail -3
count() { python3 -c "import sqlite3;c=sqlite3.connect('file:$D/issuer.db?mode=ro',uri=True,timeout=30);print(c.execute('select count(*) from certificates').fetchone()[0])"; }
echo "== run 1 (killed with SIGKILL once 40 % of the certificates are committed)"
$B batch issue --database "$URL" --keys $KEYS --pending --progress lines > $D/run1.log 2>&1 &
PID=$!
while kill -0 $PID 2>/dev/null; do n=$(count 2>/dev/null || echo 0); if [ "${n:-0}" -ge $KILL_AT ]; then kill -9 $PID; echo "killed at $n committed certificates"; break; fi; sleep 0.5; done
wait $PID 2>/dev/null; echo "run 1 exit: $?"
echo "committed after the kill: $(count)"
echo "== run 2 (restart)"
/usr/bin/time -f "%e s" $B batch issue --database "$URL" --keys $KEYS --pending --progress lines 2>&1 | tail -6
echo "== check"
python3 - <<PY
import sqlite3
c=sqlite3.connect('$D/issuer.db')
print('certificates, distinct UVCIs, distinct records:', c.execute('select count(*), count(distinct uvci), count(distinct dose_record_id) from certificates').fetchone())
print('records by status:', c.execute('select status, count(*) from dose_records group by status').fetchall())
PY
$B audit verify --database "$URL"
rm -rf $D
