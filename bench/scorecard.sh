#!/usr/bin/env bash
# bench/scorecard.sh: scoring every account against the bare grouped scan of the same
# observations, on 10,000 accounts x 12 metric inputs x 90 days of daily observations
# (10.8 million rows) in health_score.observations, in a throwaway cluster. The 12 inputs feed
# 13 seeded metrics with a mix of aggregations (decayed_avg, decayed_rate, latest, days_since;
# login feeds both login_frequency and login_recency); the other seeded metrics have no data
# and are left out, as in a real deployment. Prints medians of BENCH_RUNS (default 5)
# interleaved runs, serial and with parallel workers.
#   bench/scorecard.sh                        # serial, then up to 2 workers per query
#   BENCH_PARALLEL="0" bench/scorecard.sh     # serial only
#   BENCH_ACCOUNTS=1000 bench/scorecard.sh    # a smaller table for a quick look
#   BENCH_EXPLAIN=1 bench/scorecard.sh        # also EXPLAIN ANALYZE the scoring query
source "$(dirname "$0")/common.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-10000}
PARALLEL_MODES=${BENCH_PARALLEL:-0 2}
AS_OF='2024-06-01 00:00:00+00'

ensure_packages $BASE_PACKAGES
setup_cluster

log "loading $ACCOUNTS accounts and $((ACCOUNTS * 12 * 90)) observations"
# Rows arrive in time order, as an append-only feed would store them: the rows of one account
# and metric are spread over the whole table. Values are deterministic and spread over each
# metric's curve around a health level per account (events, logins and tickets, are 1).
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION health_score;
INSERT INTO health_score.accounts (account_id, name, segment, plan, owner, mrr, started_on)
SELECT 'acct-' || a, 'Account ' || a, (ARRAY['enterprise', 'mid_market', 'smb'])[1 + a % 3],
       (ARRAY['basic', 'pro', 'business', 'enterprise'])[1 + a % 4], NULL, 50 + a % 5000, date '2023-01-01'
  FROM generate_series(1, $ACCOUNTS) AS a;
CREATE TEMP TABLE bench_inputs AS
SELECT row_number() OVER (ORDER BY input) AS m, input, event, lo, hi, lower_is_better
  FROM (SELECT DISTINCT ON (input) input, input IN ('login', 'support_tickets') AS event,
               direction = 'lower' AS lower_is_better,
               breakpoints[1] AS lo, breakpoints[cardinality(breakpoints)] AS hi
          FROM health_score.metrics
         WHERE input IN ('login', 'feature_adoption', 'seat_penetration', 'workflow_completion', 'integrations',
                         'support_tickets', 'support_sentiment', 'nps', 'response_time', 'outcome_achievement',
                         'roi', 'payment_behaviour')
         ORDER BY input, name) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT 'acct-' || a, i.input,
       timestamptz '$AS_OF' - (d + 1) * interval '1 day' + (a % 1440) * interval '1 minute',
       CASE WHEN i.event THEN 1
            ELSE i.lo + (i.hi - i.lo) * abs(CASE WHEN i.lower_is_better THEN 1 ELSE 0 END
                                            - (0.7 * (a * 7919 % 1000) / 1000.0 + 0.3 * ((a * 31 + i.m * 17 + d * 7) % 1001) / 1000.0)) END
  FROM generate_series(0, 89) AS d, generate_series(1, $ACCOUNTS) AS a, bench_inputs i
 ORDER BY d DESC, a, i.m;
VACUUM ANALYZE health_score.accounts, health_score.observations;
SQL
psql -X -At -c "SELECT format('observations: %s rows, %s accounts, %s inputs, %s (and %s of index)', count(*),
                              count(DISTINCT account_id), count(DISTINCT metric),
                              pg_size_pretty(pg_table_size('health_score.observations')),
                              pg_size_pretty(pg_indexes_size('health_score.observations')))
                  FROM health_score.observations"
psql -X -At -c "SELECT format('scored: %s of %s accounts, mean score %s, coverage %s-%s, %s metric rows', count(score), count(*),
                              round(avg(score)::numeric, 1), min(coverage), max(coverage),
                              (SELECT count(*) FROM health_score.metric_scores('$AS_OF')))
                  FROM health_score.account_scores('$AS_OF')"
psql -X -q -At -c "SET health_score.as_of = '$AS_OF'" -c "SELECT 'bands: ' || string_agg(band || ' ' || accounts, ', ') FROM health_score.band_summary"

FLOOR="SELECT count(*) FROM (SELECT account_id, metric, count(*) FROM health_score.observations GROUP BY 1, 2) s"
# Scoring groups by account only (fewer, larger groups): the lower floor of the two.
FLOOR_BY_ACCOUNT="SELECT count(*) FROM (SELECT account_id, count(*) FROM health_score.observations GROUP BY 1) s"
for parallel in $PARALLEL_MODES; do
    # The views read the moment to score at from health_score.as_of.
    export PGOPTIONS="-c max_parallel_workers_per_gather=$parallel -c jit=off -c health_score.as_of=$(printf %s "$AS_OF" | sed 's/ /\\ /g')"
    echo
    echo "== max_parallel_workers_per_gather=$parallel: scoring against the bare grouped scan"
    compare \
        "grouped scan (floor)" "$FLOOR" \
        "grouped scan by account only" "$FLOOR_BY_ACCOUNT" \
        "account_scores(as_of)" "SELECT count(score) FROM health_score.account_scores('$AS_OF')" \
        "metric_scores(as_of)" "SELECT count(sub_score) FROM health_score.metric_scores('$AS_OF')"
    echo
    echo "== max_parallel_workers_per_gather=$parallel: the views (at health_score.as_of)"
    compare \
        "grouped scan (floor)" "$FLOOR" \
        "account_health" "SELECT count(score) FROM health_score.account_health" \
        "dimension_breakdown" "SELECT count(score) FROM health_score.dimension_breakdown" \
        "band_summary" "SELECT sum(accounts) FROM health_score.band_summary" \
        "action_queue" "SELECT count(*) FROM health_score.action_queue" \
        "upsell_candidates" "SELECT count(*) FROM health_score.upsell_candidates"
done

# Where the time goes: the scoring query's grouped pass built up step by step, serial, with
# the former design (every row joined with the catalog) for comparison.
A="'$AS_OF'::timestamptz"
JOIN="FROM health_score.observations o JOIN health_score.metrics m ON m.input = o.metric
      WHERE m.enabled AND o.observed_at <= $A AND (m.max_age IS NULL OR o.observed_at > $A - m.max_age)"
export PGOPTIONS="-c max_parallel_workers_per_gather=0 -c jit=off"
echo
echo "== max_parallel_workers_per_gather=0: the grouped pass step by step"
compare \
    "grouped scan (floor)" "$FLOOR" \
    "+ observed_at <= as_of" \
    "SELECT count(*) FROM (SELECT account_id, metric, count(*) FROM health_score.observations WHERE observed_at <= $A GROUP BY 1, 2) s" \
    "metric_value, no join (one half-life)" \
    "SELECT count(x) FROM (SELECT account_id, metric, health_score.metric_value(value, observed_at, $A, interval '30 days', 'decayed_avg') AS x
                             FROM health_score.observations WHERE observed_at <= $A GROUP BY 1, 2) s" \
    "join metrics on input, metric_value" \
    "SELECT count(x) FROM (SELECT o.account_id, m.name,
                                  health_score.metric_value(o.value, o.observed_at, $A, m.half_life, m.aggregation) AS x
                             $JOIN GROUP BY 1, 2) s" \
    "metric_values by account (scoring's pass)" \
    "SELECT count(x) FROM (SELECT o.account_id,
                                  health_score.metric_values(o.value, o.observed_at, $A, o.metric,
                                      (SELECT array_agg(input ORDER BY name) FROM health_score.metrics WHERE enabled),
                                      (SELECT array_agg(half_life ORDER BY name) FROM health_score.metrics WHERE enabled),
                                      (SELECT array_agg(max_age ORDER BY name) FROM health_score.metrics WHERE enabled),
                                      (SELECT array_agg(aggregation ORDER BY name) FROM health_score.metrics WHERE enabled)) AS x
                             FROM health_score.observations o WHERE o.observed_at <= $A GROUP BY 1) s" \
    "metric_scores(as_of)" "SELECT count(sub_score) FROM health_score.metric_scores('$AS_OF')"

if [ "${BENCH_EXPLAIN:-0}" = 1 ]; then
    for parallel in $PARALLEL_MODES; do
        echo
        echo "== EXPLAIN ANALYZE of the scoring query behind metric_scores (max_parallel_workers_per_gather=$parallel)"
        sql=$(psql -X -At -c "SELECT health_score.metric_scores_sql()")
        PGOPTIONS="-c max_parallel_workers_per_gather=$parallel -c jit=off" psql -X -At \
            -c "PREPARE scoring(timestamptz) AS SELECT count(sub_score) FROM ($sql) s" \
            -c "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE scoring('$AS_OF')"
        echo
        echo "== EXPLAIN ANALYZE of the grouped scan (max_parallel_workers_per_gather=$parallel)"
        PGOPTIONS="-c max_parallel_workers_per_gather=$parallel -c jit=off" psql -X -At -c "EXPLAIN (ANALYZE, COSTS OFF) $FLOOR"
    done
fi
