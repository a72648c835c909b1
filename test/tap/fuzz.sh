#!/usr/bin/env bash
# Fuzz: every function and aggregate of the extension (read from the catalog, so new ones are
# covered) called from a valid base call with one argument at a time replaced by NULL, NaN,
# +-Infinity, 0, negative and huge numbers, empty, NULL-element, 2-D, mismatched and very long
# arrays, +-infinity and extreme times, zero, negative and huge intervals and odd text, and
# with every argument bad at once (test/lib/fuzz.sql; aggregates over three rows, as such and
# as window functions), in a database with the demo book, snapshots and two churn models.
# Each call runs in its own transaction, rolled back, under a statement_timeout. Passes when
# nothing crashed (the postmaster's start time is unchanged and a session opened before is
# still alive) and no call failed with XX000 (an internal error: a bug, not a refusal);
# prints each offender.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"
export PGOPTIONS='-c client_min_messages=error'

db=hs_fuzz
echo "1..4"
throwaway_databases $db
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $db"; exit 1; }
q $db -v accounts=200 -v end_date=2025-12-31 -f examples/demo/generate.sql >/dev/null &&
    q $db -v as_of=2025-12-31 -f examples/demo/churn_model.sql >/dev/null &&
    q $db >/dev/null <<'SQL' || { echo "Bail out! cannot load the book"; exit 1; }
SELECT health_score.backfill('2025-09-30', '2025-12-31', '1 month');
SELECT health_score.snapshot('2025-10-31'), health_score.snapshot('2025-12-31');
CREATE VIEW public.fuzz_feed_rows AS SELECT account_id, metric, observed_at, value FROM health_score.observations;
CREATE TABLE public.fuzz_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x, (i * 53) % 7 < 3 AS churned FROM generate_series(1, 60) i;
SELECT health_score.train_churn_model('fuzz_model', 'public.fuzz_rows', '{x}', 'churned');
SQL

calls=$WORK/fuzz_calls.txt
q $db -f test/lib/fuzz.sql >"$calls" || { echo "Bail out! cannot generate the calls"; exit 1; }
ncalls=$(wc -l <"$calls")
nfunctions=$(cut -f1 "$calls" | sort -u | wc -l)
echo "# $ncalls calls of $nfunctions functions and aggregates"

started=$(q $db -c 'SELECT pg_postmaster_start_time()')
# A session that must outlive the run: any backend crash would end it.
"$PGBIN/psql" -X -q -d $db -c "SET application_name = 'hs_fuzz_watch'; SELECT pg_sleep(3600)" >/dev/null 2>&1 &
watch_pid=$!
for _ in $(seq 50); do
    [ "$(q $db -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hs_fuzz_watch'")" = 1 ] && break
    sleep 0.1
done

# One psql per function, two at a time; a psql that loses its connection ends, and the next
# one waits for the server to accept connections again.
mkdir -p "$WORK/fuzz"
cut -f1 "$calls" | sort -u | awk '{ printf "%05d\t%s\n", NR, $0 }' >"$WORK/fuzz/functions"
run_function() {
    local id=$1 signature=$2 dir=$WORK/fuzz
    awk -F '\t' -v s="$signature" '$1 == s { print $2 }' "$calls" >"$dir/$id.sql"
    until "$PGBIN/pg_isready" -q; do sleep 0.2; done
    { echo '\set VERBOSITY verbose'; echo '\set ECHO errors'; echo "SET statement_timeout = '3s';"
      cat "$dir/$id.sql"; } | "$PGBIN/psql" -X -q -d $db >/dev/null 2>"$dir/$id.err"
    echo $? >"$dir/$id.rc"
}
export -f run_function
export calls WORK PGBIN db
start_s=$(date +%s)
awk -F '\t' '{ print $1; print $2 }' "$WORK/fuzz/functions" |
    tr '\n' '\0' | xargs -0 -n 2 -P 2 bash -c 'run_function "$1" "$2"' _
seconds=$(( $(date +%s) - start_s ))
echo "# the calls took $seconds s"

# Offenders: a psql that lost its connection (a crash), and every XX000 with its statement.
crashed=$(for f in "$WORK"/fuzz/*.err; do
              grep -l -E 'server closed the connection|connection to server was lost|terminated abnormally' "$f"
          done 2>/dev/null | sort -u)
internal=$(cat "$WORK"/fuzz/*.err | grep -A3 -E '^ERROR:  XX000' | grep -E '^(ERROR|STATEMENT)' || true)
check "the postmaster was not restarted" "$(q $db -c 'SELECT pg_postmaster_start_time()')" "$started"
check "a session opened before the calls is still alive" \
    "$(q $db -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hs_fuzz_watch'")" "1"
if [ -z "$crashed" ]; then ok "no call lost its connection"; else
    not_ok "no call lost its connection"
    for f in $crashed; do
        echo "#   $(awk -F '\t' -v id="$(basename "$f" .err)" '$1 == id { print $2 }' "$WORK/fuzz/functions"):"
        grep -B1 -E 'server closed|connection to server was lost' "$f" | grep STATEMENT | sed 's/^/#     /' | head -n 3
    done
fi
if [ -z "$internal" ]; then ok "no call failed with XX000 (internal error)"; else
    not_ok "no call failed with XX000 (internal error)"
    sed 's/^/#   /' <<<"$internal"
fi
q $db -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hs_fuzz_watch'" >/dev/null
wait $watch_pid 2>/dev/null
[ $failed -eq 0 ]
