#!/usr/bin/env bash
# bench/sqlsmith.sh: random SQL from sqlsmith against the extension, bounded. A throwaway
# cluster gets the demo book (examples/demo/generate.sql), a year of monthly snapshots and two
# churn models (test/lib/sqlsmith_setup.sql); sqlsmith then connects as a role that is not a
# superuser and generates queries over the extension's tables, views and functions
# (--exclude-catalog leaves the system catalogs out of the FROM clauses, so every query reads
# or writes the extension's relations and many call its functions), each under a 1 s
# statement_timeout. Reports the queries run, the crashes (a backend killed by a signal, as
# the server log says, and whether a session opened before survived) and the internal errors
# (XX000) with their messages, and the time taken.
#   bench/sqlsmith.sh                                   # 20,000 queries, 2 processes
#   SMITH_QUERIES=2000 SMITH_JOBS=1 SMITH_SEED=7 bench/sqlsmith.sh
source "$(dirname "$0")/common.sh"

QUERIES=${SMITH_QUERIES:-20000}
JOBS=${SMITH_JOBS:-2}
SEED=${SMITH_SEED:-1}
ACCOUNTS=${SMITH_ACCOUNTS:-200}

ensure_packages $BASE_PACKAGES sqlsmith
setup_cluster

createdb smith
export PGDATABASE=smith
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
log "loading the demo book: $ACCOUNTS accounts, snapshots, churn models"
psql -X -q -v ON_ERROR_STOP=1 -v accounts="$ACCOUNTS" -v end_date=2025-12-31 -f "$TOP/examples/demo/generate.sql"
psql -X -q -v ON_ERROR_STOP=1 -v as_of=2025-12-31 -f "$TOP/examples/demo/churn_model.sql" >/dev/null
PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -f "$TOP/test/lib/sqlsmith_setup.sql" >/dev/null

# A session that must outlive the run: any backend crash ends every session.
psql -X -q -c "SET application_name = 'smith_watch'; SELECT pg_sleep(86400)" >/dev/null 2>&1 &
watch_pid=$!
log_start=$(stat -c %s "$WORK/server.log")
per_job=$(( (QUERIES + JOBS - 1) / JOBS ))
log "sqlsmith: $JOBS x $per_job queries, seeds $SEED.."
start=$(date +%s)
for j in $(seq 0 $((JOBS - 1))); do
    sqlsmith --target="host=$PGHOST port=$PGPORT dbname=smith user=hs_smith" --exclude-catalog \
        --max-queries="$per_job" --seed=$((SEED + j)) --verbose >/dev/null 2>"$WORK/smith.$j.err" &
done
wait_failed=0
for p in $(jobs -p); do [ "$p" = "$watch_pid" ] || wait "$p" || wait_failed=$((wait_failed + 1)); done
seconds=$(( $(date +%s) - start ))

tail -c +"$((log_start + 1))" "$WORK/server.log" >"$WORK/smith.log"
crashes=$(grep -cE 'was terminated by signal|terminated by exception' "$WORK/smith.log" || true)
internal=$(grep -cE 'ERROR:  XX000' "$WORK/smith.log" || true)
logged=$(grep -cE 'ERROR:  [0-9A-Z]{5}: ' "$WORK/smith.log" || true)
# Where each XX000 was raised (the LOCATION line after it): in the extension's C files or
# PL/pgSQL (the database has no other functions), or in PostgreSQL's own code.
ours_re=" ($(cd "$TOP/src" && ls *.c | sed 's/\.c$//' | paste -sd '|')|pl_exec)\.c:"
locations=$(grep -A1 --no-group-separator -E 'ERROR:  XX000' "$WORK/smith.log" | sed -n 's/.*LOCATION:  //p')
ours=$(grep -cE "$ours_re" <<<"$locations" || true)
alive=$(psql -X -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'smith_watch'")
# sqlsmith prints its counts now and then and at the end: the last ones of each process
last() { for f in "$WORK"/smith.*.err; do sed -n "s/^$1//p" "$f" | tail -n 1; done; }
queries=$(last 'queries: ' | awk '{ n += $1 } END { print n + 0 }')
rate=$(last 'error rate: ' | awk '{ s += $1; n++ } END { if (n) printf "%.2f", s / n }')
psql -X -q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'smith_watch'" >/dev/null
wait "$watch_pid" 2>/dev/null || true

echo
echo "sqlsmith $(sqlsmith --version 2>&1 | head -n 1), $JOBS processes, seeds $SEED-$((SEED + JOBS - 1)), $ACCOUNTS accounts"
echo "queries:               ${queries:-?} (asked for $((per_job * JOBS)))"
echo "error rate:            ${rate:-?} (errors of all kinds, most from sqlsmith's typing of pg_catalog)"
echo "crashes:               $crashes (backends killed by a signal); watch session alive: $alive"
echo "internal errors XX000: $internal (of $logged errors logged with their SQLSTATE), $ours raised by the extension"
echo "sqlsmith runs failed:  $wait_failed"
echo "time:                  $seconds s"
if [ "$internal" -gt 0 ]; then
    echo "XX000 messages:"
    grep -A1 --no-group-separator -E 'ERROR:  XX000' "$WORK/smith.log" | sed -n 's/.*ERROR:  XX000: //p; s/.*LOCATION:  /    at /p' |
        paste - - | sort | uniq -c | sort -rn | head -n 20
fi
[ "$crashes" -eq 0 ] && [ "$alive" = 1 ] && [ "$ours" -eq 0 ]
