#!/usr/bin/env bash
# A short sqlsmith run (the long one is bench/sqlsmith.sh): 600 random queries over the
# extension's tables, views and functions, from a role that is not a superuser, against the
# demo book with history and churn models (test/lib/sqlsmith_setup.sql). No backend may be
# killed by a signal, a session opened before must survive, and no query may fail with an
# internal error (XX000) raised by the extension (read from the server log, where that role's
# errors carry their SQLSTATE and location). Bounded to about a minute.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"
export PGOPTIONS='-c client_min_messages=warning'

db=hs_sqlsmith queries=600 seed=${SMITH_SEED:-42}
echo "1..5"
throwaway_databases $db
drop_role() { "$PGBIN/psql" -X -q -d postgres -c 'DROP ROLE IF EXISTS hs_smith' >/dev/null 2>&1; }
trap 'drop_throwaway_databases; drop_role' EXIT
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $db"; exit 1; }
q $db -v accounts=100 -v end_date=2025-12-31 -f examples/demo/generate.sql >/dev/null &&
    q $db -f test/lib/sqlsmith_setup.sql >/dev/null || { echo "Bail out! cannot load the book"; exit 1; }

"$PGBIN/psql" -X -q -d $db -c "SET application_name = 'hs_smith_watch'; SELECT pg_sleep(3600)" >/dev/null 2>&1 &
watch_pid=$!
log_start=$(stat -c %s "$WORK/server.log")
timeout 90 sqlsmith --target="host=$PGHOST port=$PGPORT dbname=$db user=hs_smith" --exclude-catalog \
    --max-queries=$queries --seed="$seed" --verbose >/dev/null 2>"$WORK/sqlsmith.err"
rc=$?
tail -c +"$((log_start + 1))" "$WORK/server.log" >"$WORK/sqlsmith.log"

check "sqlsmith ran its $queries queries (seed $seed) within 90 s" \
    "$rc $(sed -n 's/^queries: //p' "$WORK/sqlsmith.err" | tail -n 1)" "0 $queries"
killed=$(grep -E 'was terminated by signal|terminated by exception' "$WORK/sqlsmith.log")
check "no backend was killed by a signal" "$killed" ""
check "a session opened before is still alive" \
    "$(q $db -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hs_smith_watch'")" "1"
check_that "the role's errors reach the server log with their SQLSTATE" \
    "grep -qE 'ERROR:  [0-9A-Z]{5}: ' '$WORK/sqlsmith.log'"
# An XX000 raised by the extension (its C files or PL/pgSQL, by the LOCATION line) fails the
# test; one from PostgreSQL's own functions, which sqlsmith also calls, is only shown.
ours_re=" ($(cd src && ls *.c | sed 's/\.c$//' | paste -sd '|')|pl_exec)\.c:"
internal=$(grep -A1 --no-group-separator -E 'ERROR:  XX000' "$WORK/sqlsmith.log" | paste - - | cut -c1-300)
check "no query failed with XX000 (internal error) raised by the extension" \
    "$(grep -E "LOCATION:  .*$ours_re" <<<"$internal")" ""
grep -vE "LOCATION:  .*$ours_re" <<<"$internal" | grep . | sed 's/^/# in PostgreSQL itself: /'
true

q $db -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hs_smith_watch'" >/dev/null
wait $watch_pid 2>/dev/null
[ $failed -eq 0 ]
