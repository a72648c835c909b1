#!/usr/bin/env bash
# bench/history_bytes.sh: what the metric history takes per account, metric and day. Loads the
# demo dataset (10,000 accounts by default) into a throwaway cluster, snapshots the last days
# of its year, and measures the compact storage (metric_history_days, every month's partition
# with its primary key: pg_total_relation_size) against the same rows in the layout of 0.1.0
# (a table of one row per account, metric and date with its primary key and its index on
# as_of, filled from the view metric_history and vacuumed), both over the rows of the view.
#   bench/history_bytes.sh                                   # 10,000 accounts, 7 days
#   BENCH_ACCOUNTS=2000 BENCH_DAYS=3 bench/history_bytes.sh  # a quick look
source "$(dirname "$0")/common.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-10000}
DAYS=${BENCH_DAYS:-7}
END_DATE=2025-12-31

ensure_packages $BASE_PACKAGES
setup_cluster

createdb bench
export PGDATABASE=bench
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
log "generating the demo dataset: $ACCOUNTS accounts, observations up to $END_DATE"
psql -X -q -v ON_ERROR_STOP=1 -v accounts="$ACCOUNTS" -v end_date="$END_DATE" -f "$TOP/examples/demo/generate.sql"
psql -X -q -c 'VACUUM ANALYZE health_score.observations' -c 'VACUUM ANALYZE health_score.accounts'
export PGOPTIONS="-c jit=off -c client_min_messages=warning"

log "snapshots of the $DAYS days up to $END_DATE"
psql -X -q -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM health_score.backfill(date '$END_DATE' - $DAYS + 1, '$END_DATE')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
VACUUM ANALYZE health_score.metric_history_days;
-- The same rows as 0.1.0 stored them.
CREATE TABLE old_layout (
    as_of date NOT NULL, account_id text NOT NULL, metric text NOT NULL, dimension text,
    raw_value float8, sub_score float8, effective_weight float8, contribution float8,
    PRIMARY KEY (account_id, as_of, metric)
);
CREATE INDEX old_layout_as_of_idx ON old_layout (as_of);
INSERT INTO old_layout SELECT * FROM health_score.metric_history ORDER BY as_of, account_id, metric;
VACUUM ANALYZE old_layout;
SQL

echo
psql -X -P footer=off <<'SQL'
WITH parts AS (
    SELECT sum(pg_total_relation_size(i.inhrelid)) AS total, sum(pg_relation_size(i.inhrelid)) AS heap
      FROM pg_inherits i WHERE i.inhparent = 'health_score.metric_history_days'::regclass
), n AS (
    SELECT count(*) AS metric_rows, count(DISTINCT (as_of, account_id)) AS account_days,
           count(DISTINCT as_of) AS days
      FROM health_score.metric_history
)
SELECT layout, n.days, n.account_days, n.metric_rows,
       round(n.metric_rows::numeric / n.account_days, 1) AS metrics_per_account_day,
       pg_size_pretty(total) AS total, round(heap::numeric / n.metric_rows, 1) AS heap_bytes,
       round((total - heap)::numeric / n.metric_rows, 1) AS index_bytes,
       round(total::numeric / n.metric_rows, 1) AS bytes_per_account_metric_day,
       pg_size_pretty(total / n.days) AS per_day
  FROM n, (SELECT 'compact (0.2.0)' AS layout, total, heap FROM parts
           UNION ALL
           SELECT 'one row per metric (0.1.0)', pg_total_relation_size('old_layout'), pg_relation_size('old_layout')) s
 ORDER BY 1;
SQL
