#!/usr/bin/env bash
# bench/observations.sh: what a read of one day of observations touches, the read an
# incremental daily snapshot makes (observed_at >= day AND observed_at < day + 1). Loads the
# demo dataset (examples/demo/generate.sql, 10,000 accounts and a year of observations by
# default) into a throwaway cluster, then measures with EXPLAIN (ANALYZE, BUFFERS) the shared
# blocks touched (hit or read) and the time of that read for 12 days spread over the year:
#   - as the generator stores the rows, account after account, with and without the BRIN
#     index on observed_at the extension creates;
#   - in time order (rows as daily loads store them), after the rewrite the README gives,
#     without an index, with the BRIN index, with BRIN at 128 pages a range (PostgreSQL's
#     default) and with a btree on observed_at, each with its size;
#   - in a copy partitioned by month (the user's own feed table), without an index.
# Then the full scoring (account_scores at the last day) in both orders, serial, median of
# BENCH_RUNS runs interleaved (the time-ordered book is a copy in a second database): time
# order costs the grouping by account its locality.
#   bench/observations.sh                         # 10,000 accounts
#   BENCH_ACCOUNTS=2000 bench/observations.sh     # a quick look
source "$(dirname "$0")/common.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-10000}
END_DATE=2025-12-31

ensure_packages $BASE_PACKAGES
setup_cluster

createdb bench
export PGDATABASE=bench
export PGOPTIONS="-c jit=off -c client_min_messages=warning -c max_parallel_workers_per_gather=0"
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
log "generating the demo dataset: $ACCOUNTS accounts, observations up to $END_DATE"
psql -X -q -v ON_ERROR_STOP=1 -v accounts="$ACCOUNTS" -v end_date="$END_DATE" -f "$TOP/examples/demo/generate.sql"
psql -X -q -c 'VACUUM ANALYZE health_score.observations'
psql -X -At -c "SELECT 'observations: ' || count(*) || ' rows, ' || pg_size_pretty(pg_relation_size('health_score.observations'))
       || ', ' || pg_relation_size('health_score.observations') / current_setting('block_size')::int || ' blocks, about '
       || round(count(*) / 365.0) || ' rows and '
       || round(pg_relation_size('health_score.observations') / current_setting('block_size')::int / 365.0) || ' blocks a day'
  FROM health_score.observations"

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE SCHEMA bench;
-- one_day(rel, day): EXPLAIN (ANALYZE, BUFFERS) of the read of one day of rel, run twice (the
-- second run measured): the blocks touched, the milliseconds and the scan that read the rows.
CREATE FUNCTION bench.one_day(rel regclass, day date, OUT blocks bigint, OUT ms float8, OUT scan text)
LANGUAGE plpgsql AS $$
DECLARE
    q text := format('SELECT count(*), sum(value) FROM %s WHERE observed_at >= %L::timestamptz AND observed_at < %L::timestamptz',
                     rel, day, day + 1);
    plan json;
    node json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) ' || q INTO plan;
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) ' || q INTO plan;
    blocks := (plan -> 0 -> 'Plan' ->> 'Shared Hit Blocks')::bigint + (plan -> 0 -> 'Plan' ->> 'Shared Read Blocks')::bigint;
    ms := (plan -> 0 ->> 'Execution Time')::float8;
    -- the node under the aggregate: of a partitioned table, an Append of the partitions read,
    -- or the scan of the one partition left
    node := plan -> 0 -> 'Plan' -> 'Plans' -> 0;
    scan := node ->> 'Node Type';
    IF scan = 'Append' THEN
        scan := (node -> 'Plans' -> 0 ->> 'Node Type') || ' of ' || json_array_length(node -> 'Plans') || ' partitions';
    ELSIF node ->> 'Relation Name' <> (SELECT c.relname FROM pg_class c WHERE c.oid = rel) THEN
        scan := scan || ' of 1 partition';
    END IF;
END
$$;
-- measure(layout, index, rel, index_rel): one line of the table (|-separated), over 12 days
-- of the year: the median blocks (and range), the median ms.
CREATE FUNCTION bench.measure(layout text, index text, rel regclass, index_rel regclass) RETURNS text
LANGUAGE sql AS $$
    SELECT concat_ws('|', layout, index, coalesce(pg_size_pretty(pg_relation_size(index_rel)), '-'),
                     string_agg(DISTINCT r.scan, ', '),
                     percentile_disc(0.5) WITHIN GROUP (ORDER BY r.blocks) || ' (' || min(r.blocks) || '-' || max(r.blocks) || ')',
                     round(percentile_cont(0.5) WITHIN GROUP (ORDER BY r.ms)::numeric, 2))
      FROM generate_series('2025-01-15'::date, '2025-12-30', '30 days') d
     CROSS JOIN LATERAL bench.one_day(rel, d::date) r
$$;
SQL
brin="CREATE INDEX observations_observed_at_idx ON health_score.observations USING brin (observed_at) WITH (pages_per_range = 32, autosummarize = on)"

log "the same book in time order, in a second database"
createdb -T bench bench_time
start=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -d bench_time <<'SQL'
BEGIN;
CREATE TEMP TABLE observations_in_time_order AS SELECT * FROM health_score.observations ORDER BY observed_at;
TRUNCATE health_score.observations;
INSERT INTO health_score.observations SELECT * FROM observations_in_time_order;
COMMIT;
VACUUM ANALYZE health_score.observations;
SQL
rewrite_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

log "one-day reads"
rows=$(
psql -X -q -At -v ON_ERROR_STOP=1 -d bench \
    -c "SELECT bench.measure('account order', 'BRIN, 32 pages a range (shipped)', 'health_score.observations', 'health_score.observations_observed_at_idx')" \
    -c "DROP INDEX health_score.observations_observed_at_idx" \
    -c "SELECT bench.measure('account order', 'none', 'health_score.observations', NULL)" \
    -c "$brin"
psql -X -q -At -v ON_ERROR_STOP=1 -d bench_time \
    -c "SELECT bench.measure('time order', 'BRIN, 32 pages a range (shipped)', 'health_score.observations', 'health_score.observations_observed_at_idx')" \
    -c "DROP INDEX health_score.observations_observed_at_idx" \
    -c "SELECT bench.measure('time order', 'none', 'health_score.observations', NULL)" \
    -c "CREATE INDEX brin_128 ON health_score.observations USING brin (observed_at)" \
    -c "SELECT bench.measure('time order', 'BRIN, 128 pages a range', 'health_score.observations', 'health_score.brin_128')" \
    -c "DROP INDEX health_score.brin_128" \
    -c "CREATE INDEX btree_observed_at ON health_score.observations (observed_at)" \
    -c "SELECT bench.measure('time order', 'btree on observed_at', 'health_score.observations', 'health_score.btree_observed_at')" \
    -c "DROP INDEX health_score.btree_observed_at" \
    -c "$brin"
psql -X -q -At -v ON_ERROR_STOP=1 -d bench_time <<'SQL'
CREATE TABLE bench.monthly (LIKE health_score.observations) PARTITION BY RANGE (observed_at);
DO $$
DECLARE
    m date;
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', min(observed_at)), max(observed_at), '1 month')::date
               FROM health_score.observations LOOP
        EXECUTE format('CREATE TABLE bench.%I PARTITION OF bench.monthly FOR VALUES FROM (%L) TO (%L)',
                       'monthly_' || to_char(m, 'YYYY_MM'), m, (m + interval '1 month')::date);
    END LOOP;
END
$$;
INSERT INTO bench.monthly SELECT * FROM health_score.observations ORDER BY observed_at;
VACUUM ANALYZE bench.monthly;
SELECT bench.measure('partitioned by month, time order', 'none', 'bench.monthly', NULL);
CREATE INDEX ON bench.monthly USING brin (observed_at) WITH (pages_per_range = 32);
SELECT bench.measure('partitioned by month, time order', 'BRIN, 32 pages a range', 'bench.monthly', NULL);
SQL
)

log "scoring every account, interleaved"
account_runs=() time_runs=()
scoring="SELECT count(*) FROM health_score.account_scores('$END_DATE')"
PGDATABASE=bench time_ms "$scoring" >/dev/null
PGDATABASE=bench_time time_ms "$scoring" >/dev/null
for _ in $(seq "$BENCH_RUNS"); do
    account_runs+=("$(PGDATABASE=bench time_ms "$scoring")")
    time_runs+=("$(PGDATABASE=bench_time time_ms "$scoring")")
done

echo
echo "== one day of observations (observed_at >= day AND observed_at < day + 1), 12 days of the year, serial"
{ echo "layout|index|index size|scan|blocks touched, median (min-max)|median ms"; echo "$rows"; } | column -t -s '|'
echo "rewriting the table in time order (sort, TRUNCATE, INSERT, VACUUM ANALYZE): $rewrite_s s"
echo
echo "== scoring every account at $END_DATE (account_scores), serial, median ms of $BENCH_RUNS interleaved"
echo "account order: $(median "${account_runs[@]}") (${account_runs[*]})"
echo "time order:    $(median "${time_runs[@]}") (${time_runs[*]})"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
