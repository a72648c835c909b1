#!/usr/bin/env bash
# bench/kernels.sh: the C aggregates against the plain SQL an analyst would write and against
# the scan floor, on 10 million observations (10,000 accounts x 10 metrics x 100 days), in a
# throwaway cluster. Each query reads its aggregate (count(x) over the grouped result), so the
# planner cannot drop it. Prints medians of BENCH_RUNS (default 5) interleaved runs.
#   bench/kernels.sh                 # serial plans (one core per query)
#   BENCH_PARALLEL=2 bench/kernels.sh   # up to 2 parallel workers per query
#   BENCH_ACCOUNTS=1000 bench/kernels.sh  # a smaller table for a quick look
source "$(dirname "$0")/common.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-10000}
PARALLEL=${BENCH_PARALLEL:-0}

ensure_packages $BASE_PACKAGES
setup_cluster

log "loading $((ACCOUNTS * 10 * 100)) observations"
# Rows arrive in time order, as an append-only feed would store them: the rows of one
# account and metric are spread over the whole table.
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION health_score;
CREATE TABLE obs AS
SELECT 'acct-' || a AS account_id,
       'metric_' || m AS metric,
       '2024-06-01'::timestamptz - d * interval '1 day' - (a % 1440) * interval '1 minute' AS observed_at,
       ((a * 31 + m * 17 + d * 7) % 1001) / 10.0::float8 AS value,
       (1 + m % 5)::float8 AS weight
  FROM generate_series(0, 99) AS d, generate_series(1, $ACCOUNTS) AS a, generate_series(1, 10) AS m;
VACUUM ANALYZE obs;
-- the decay state alone (no final function), to measure its size
CREATE AGGREGATE decay_state(float8, timestamptz, timestamptz, interval) (
    SFUNC = health_score.decay_accum, STYPE = float8[], INITCOND = '{0,0,0,0,0,0}');
CREATE AGGREGATE wavg_state(float8, float8) (
    SFUNC = health_score.weighted_avg_accum, STYPE = float8[], INITCOND = '{0,0,0}');
SQL
psql -X -At -c "SELECT 'table: ' || count(*) || ' rows, ' || pg_size_pretty(pg_table_size('obs')) FROM obs"

# Every timed query runs with the same settings; the hash table fits in memory.
export PGOPTIONS="-c max_parallel_workers_per_gather=$PARALLEL -c work_mem=512MB -c jit=off"

AS_OF="'2024-06-01'::timestamptz"
HALF_LIFE="'30 days'::interval"
# The plain-SQL decay weight, as an analyst writes it: exp(-ln 2 * age / half-life).
WEIGHT="exp(-ln(2) * extract(epoch FROM $AS_OF - observed_at) / extract(epoch FROM $HALF_LIFE))"

echo
echo "== decayed_avg, grouped by account and metric ($((ACCOUNTS * 10)) groups of 100 rows)"
compare \
    "count(*) (scan floor)" \
    "SELECT count(x) FROM (SELECT account_id, metric, count(*) AS x FROM obs GROUP BY account_id, metric) s" \
    "decayed_avg (C)" \
    "SELECT count(x) FROM (SELECT account_id, metric, health_score.decayed_avg(value, observed_at, $AS_OF, $HALF_LIFE) AS x FROM obs GROUP BY account_id, metric) s" \
    "decayed_sum (C)" \
    "SELECT count(x) FROM (SELECT account_id, metric, health_score.decayed_sum(value, observed_at, $AS_OF, $HALF_LIFE) AS x FROM obs GROUP BY account_id, metric) s" \
    "plain SQL sum(v*exp(..))/sum(exp(..))" \
    "SELECT count(x) FROM (SELECT account_id, metric, sum(value * $WEIGHT) / sum($WEIGHT) AS x FROM obs WHERE observed_at <= $AS_OF GROUP BY account_id, metric) s"

echo
echo "== weighted_avg, grouped by account and metric"
compare \
    "plain SQL sum(w*s)/sum(w)" \
    "SELECT count(x) FROM (SELECT account_id, metric, sum(weight * value) / sum(weight) AS x FROM obs GROUP BY account_id, metric) s" \
    "weighted_avg (C)" \
    "SELECT count(x) FROM (SELECT account_id, metric, health_score.weighted_avg(value, weight) AS x FROM obs GROUP BY account_id, metric) s" \
    "weighted_avg + weighted_coverage (C)" \
    "SELECT count(x + y) FROM (SELECT account_id, metric, health_score.weighted_avg(value, weight) AS x, health_score.weighted_coverage(value, weight) AS y FROM obs GROUP BY account_id, metric) s"

echo
echo "== the results agree: largest relative difference, C against plain SQL"
psql -X -At <<SQL
SELECT 'decayed_avg: ' || max(abs(c - p) / abs(p)) FROM (
  SELECT health_score.decayed_avg(value, observed_at, $AS_OF, $HALF_LIFE) AS c,
         sum(value * $WEIGHT)::float8 / sum($WEIGHT)::float8 AS p
    FROM obs WHERE account_id IN ('acct-1', 'acct-2', 'acct-3') GROUP BY account_id, metric) s;
SELECT 'weighted_avg: ' || max(abs(c - p) / abs(p)) FROM (
  SELECT health_score.weighted_avg(value, weight) AS c, sum(weight * value) / sum(weight) AS p
    FROM obs GROUP BY account_id, metric) s;
SQL

echo
echo "== aggregate state size per group (bytes), whatever the number of rows"
psql -X -At <<SQL
SELECT format('decayed_avg state after %s rows: %s bytes; weighted_avg state: %s bytes', n,
              pg_column_size(decay_state(value, observed_at, $AS_OF, $HALF_LIFE)),
              pg_column_size(wavg_state(value, weight)))
  FROM (VALUES (1), (100), (10000), (1000000), ($((ACCOUNTS * 1000)))) AS v(n),
       LATERAL (SELECT * FROM obs LIMIT n) AS o
 GROUP BY n ORDER BY n;
SQL

echo
echo "== hash aggregate memory: the same $((ACCOUNTS * 10)) groups fed 10, 50 and 100 rows each (serial plan)"
for days in 10 50 100; do
    PGOPTIONS="$PGOPTIONS -c max_parallel_workers_per_gather=0" psql -X -At -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)
        SELECT count(x) FROM (SELECT account_id, metric, health_score.decayed_avg(value, observed_at, $AS_OF, $HALF_LIFE) AS x
                                FROM obs WHERE observed_at > $AS_OF - interval '$days days'
                               GROUP BY account_id, metric) s" |
        awk -v d="$days" '/HashAggregate/ { agg = 1 } /Memory Usage/ && agg && !done { sub(/^ */, ""); print d " days: " $0; done = 1 }
                          /Seq Scan/ { match($0, /rows=[0-9]+/); rows = substr($0, RSTART + 5, RLENGTH - 5) } END { print "   rows scanned: " rows }'
done

echo
echo "== plan of the timed decayed_avg query (max_parallel_workers_per_gather=$PARALLEL)"
psql -X -At -c "EXPLAIN (COSTS OFF)
    SELECT count(x) FROM (SELECT account_id, metric, health_score.decayed_avg(value, observed_at, $AS_OF, $HALF_LIFE) AS x
                            FROM obs GROUP BY account_id, metric) s"
