#!/usr/bin/env bash
# bench/citus.sh: the scoring pass and a snapshot on one server against a Citus coordinator with
# two workers, all on this machine: the same cores and memory, so the figures show the plan's
# shape and Citus's overhead, not a speed-up. The demo book (examples/demo/generate.sql) is
# loaded into both, on the cluster through the coordinator after distribute(). Each query's
# medians of BENCH_RUNS runs, side by side, and from EXPLAIN ANALYZE on the coordinator the rows
# and bytes that moved between the coordinator and the workers, against the observations' size.
# Needs Citus as the tests do: installed, or CITUS_SOURCE naming its source (scripts/citus.sh).
#   bench/citus.sh                          # 10,000 accounts, 32 shards
#   BENCH_ACCOUNTS=2000 BENCH_SHARDS=8 bench/citus.sh
source "$(dirname "$0")/common.sh"
source "$TOP/scripts/citus.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-10000}
SHARDS=${BENCH_SHARDS:-32}
END_DATE=2025-12-31

ensure_packages $BASE_PACKAGES
setup_cluster
found=$(citus_find "$WORK/inst") || { echo "no Citus: $found" >&2; exit 1; }
log "$found"
# Workers as big as the single server: the same memory settings on every node.
citus_cluster "$WORK/citus" 2 "shared_buffers = 512MB" "max_worker_processes = 16" "max_parallel_workers = 8" \
    "maintenance_work_mem = 256MB" || { tail -n 5 "$WORK"/citus/node*.log; exit 1; }
trap 'rc=$?; citus_stop; (exit $rc); cleanup' EXIT
coordinator=${CITUS_PORTS[0]}
export PGOPTIONS="-c jit=off -c client_min_messages=warning"

createdb bench
export PGDATABASE=bench
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
citus_psql "$coordinator" -c 'CREATE EXTENSION health_score' -c "SELECT * FROM health_score.distribute($SHARDS)" >/dev/null
log "generating the demo book, $ACCOUNTS accounts, on the server and through the coordinator"
for run in "psql -X -q" "citus_psql $coordinator"; do
    $run -v ON_ERROR_STOP=1 -v accounts="$ACCOUNTS" -v end_date="$END_DATE" -c 'SET client_min_messages = error' \
        -f "$TOP/examples/demo/generate.sql" -c 'VACUUM ANALYZE health_score.observations' >/dev/null
done
psql -X -At -c "SELECT 'observations: ' || count(*) || ' rows, ' || pg_size_pretty(pg_table_size('health_score.observations')) FROM health_score.observations"
citus_psql "$coordinator" -c "SELECT 'on Citus: ' || count(*) || ' rows in $SHARDS shards, ' || pg_size_pretty(citus_table_size('health_score.observations')) FROM health_score.observations"

# time_on WHERE SQL: the client-side time of one run in ms; WHERE is single (the server, up to
# 2 parallel workers), serial (the server, no parallel workers) or cluster (the coordinator).
time_on() {
    local args=(-X -q -v ON_ERROR_STOP=1 -o /dev/null -c '\timing on')
    case $1 in
        single) psql "${args[@]}" -c "$2" ;;
        serial) PGOPTIONS="$PGOPTIONS -c max_parallel_workers_per_gather=0" psql "${args[@]}" -c "$2" ;;
        cluster) psql -h "$CITUS_SOCKET" -p "$coordinator" -U postgres -d postgres "${args[@]}" -c "$2" ;;
    esac | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}
# side_by_side LABEL SQL: the medians on the server (parallel, serial) and the cluster, runs
# interleaved, with the cluster's ratio to the server's serial run.
side_by_side() {
    local label=$1 sql=$2 where run a=() b=() d=()
    for where in single serial cluster; do time_on $where "$sql" >/dev/null; done
    for run in $(seq "$BENCH_RUNS"); do
        a+=("$(time_on single "$sql")") b+=("$(time_on serial "$sql")") d+=("$(time_on cluster "$sql")")
    done
    awk -v l="$label" -v p="$(median "${a[@]}")" -v s="$(median "${b[@]}")" -v c="$(median "${d[@]}")" \
        'BEGIN { printf "%-34s %12.0f %12.0f %12.0f %8.2f\n", l, p, s, c, c / s }'
}
echo
printf '%-34s %12s %12s %12s %8s\n' "median ms of $BENCH_RUNS runs" "one server" "serial" "Citus" "ratio"
side_by_side "account_scores(as_of)" "SELECT count(*) FROM health_score.account_scores('$END_DATE')"
side_by_side "metric_scores(as_of)" "SELECT count(*) FROM health_score.metric_scores('$END_DATE')"
side_by_side "snapshot(as_of)" "SELECT health_score.snapshot('$END_DATE')"

# moved LABEL < SQL: rows the coordinator received from the workers (the Citus scans' actual
# rows) and bytes between coordinator and workers (intermediate results and tuples received).
moved() {
    citus_psql "$coordinator" -c 'SET citus.coordinator_aggregation_strategy = disabled' -f - |
        awk -v l="$1" '/Custom Scan \(Citus Adaptive\) \(actual/ { sub(/.*rows=/, ""); sub(/ .*/, ""); r += $0 }
                       /Intermediate Data Size:|Tuple data received from nodes:/ {
                           v = $(NF - 1); u = $NF; b += v * (u == "kB" ? 1024 : u == "MB" ? 1048576 : 1) }
                       END { printf "%-34s %14d %14.0f\n", l, r, b / 1024 }'
}
explain="EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
echo
printf '%-34s %14s %14s\n' "moved on Citus (EXPLAIN ANALYZE)" "rows received" "kB moved"
moved "account_scores query" <<SQL
SELECT format('PREPARE q(timestamptz) AS %s', health_score.account_scores_sql('(' || health_score.metric_scores_sql() || ')')) \gexec
$explain EXECUTE q('$END_DATE');
SQL
moved "metric_scores query" <<SQL
SELECT format('PREPARE q(timestamptz) AS %s', health_score.metric_scores_sql()) \gexec
$explain EXECUTE q('$END_DATE');
SQL
moved "decayed_avg by metric" <<SQL
$explain SELECT metric, health_score.decayed_avg(value, observed_at, '$END_DATE', '30 days') FROM health_score.observations GROUP BY metric;
SQL
citus_psql "$coordinator" -c "SELECT 'the observations: ' || count(*) || ' rows, ' || citus_table_size('health_score.observations') / 1024 || ' kB' FROM health_score.observations"
