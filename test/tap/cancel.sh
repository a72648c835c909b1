#!/usr/bin/env bash
# Long work in the C kernels can be cancelled: logit_condition on the largest state (500
# features, some seconds of Jacobi sweeps) stops with 57014 soon after statement_timeout
# fires, or after pg_cancel_backend from another session, instead of running to the end.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"

db=hs_cancel
echo "1..4"
throwaway_databases $db
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $db"; exit 1; }

# A valid logit_step state for 500 features: an information matrix with a dominant diagonal.
q $db >/dev/null <<'SQL' || { echo "Bail out! cannot build the state"; exit 1; }
CREATE TABLE big AS
SELECT ARRAY[500, 1000, 0, 500, -100]::float8[]
    || array_fill(0::float8, ARRAY[501])
    || (SELECT array_agg(CASE WHEN i = j THEN 501 ELSE sin(i * 7919 + j * 104729) END ORDER BY i, j)
          FROM generate_series(0, 500) i, generate_series(0, 500) j WHERE j >= i) AS state;
SQL

# run SQL: the SQLSTATE of the error (or "none") and the milliseconds taken, as "STATE MS".
run() {
    local start end out
    start=$(date +%s%N)
    out=$("$PGBIN/psql" -X -q -At -v VERBOSITY=sqlstate -d $db -c "$1" 2>&1 >/dev/null)
    end=$(date +%s%N)
    out=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\)$/\1/p' <<<"$out" | head -n 1)
    echo "${out:-none} $(( (end - start) / 1000000 ))"
}

read -r state ms < <(run "SET statement_timeout = '1s'; SELECT health_score.logit_condition(state) FROM big")
check "logit_condition under a 1 s statement_timeout fails with 57014" "$state" "57014"
check_that "and stops within 3 s (took $ms ms)" "[ $ms -lt 3000 ]"

# The same, cancelled from another session after half a second.
out=$WORK/cancel.out
( run "SET application_name = 'hs_cancel_me'; SELECT health_score.logit_condition(state) FROM big" >"$out" ) &
sleep 0.5
for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ "$(q $db -c "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
                    WHERE application_name = 'hs_cancel_me' AND state = 'active'")" = 1 ] && break
    sleep 0.2
done
wait
read -r state ms <"$out"
check "logit_condition cancelled by pg_cancel_backend fails with 57014" "$state" "57014"
check_that "and stops within 3 s (took $ms ms)" "[ $ms -lt 3000 ]"

[ $failed -eq 0 ]
