#!/usr/bin/env bash
# bench/backfill.sh: the cost of history. Loads the demo dataset (examples/demo/generate.sql,
# 10,000 accounts and a year of daily observations of the default metrics by default) into a
# throwaway cluster, backfills 90 daily snapshots and reports the time per day; compares one
# snapshot with scoring the same day without storing it. Then the backtests whose AUC the
# README quotes: the demo dataset of scripts/demo (2,000 accounts, its year backfilled weekly)
# with a what-if comparison on it, and CDNOW's real purchase history.
#   bench/backfill.sh                      # 10,000 accounts, 90 days
#   BENCH_ACCOUNTS=2000 BENCH_DAYS=30 bench/backfill.sh   # a quick look
#   BENCH_BACKTEST=0 bench/backfill.sh     # the backfill timing only
source "$(dirname "$0")/common.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-10000}
DEMO_ACCOUNTS=${BENCH_DEMO_ACCOUNTS:-2000}
DAYS=${BENCH_DAYS:-90}
BACKTEST=${BENCH_BACKTEST:-1}
END_DATE=2025-12-31

ensure_packages $BASE_PACKAGES
setup_cluster

createdb bench
export PGDATABASE=bench
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
log "generating the demo dataset: $ACCOUNTS accounts, observations up to $END_DATE"
psql -X -q -v ON_ERROR_STOP=1 -v accounts="$ACCOUNTS" -v end_date="$END_DATE" -f "$TOP/examples/demo/generate.sql"
psql -X -q -c 'VACUUM ANALYZE health_score.observations' -c 'VACUUM ANALYZE health_score.accounts'
psql -X -At -c "SELECT 'observations: ' || count(*) || ' rows, ' || pg_size_pretty(pg_table_size('health_score.observations')) || '; accounts: ' || (SELECT count(*) FROM health_score.accounts) FROM health_score.observations"

export PGOPTIONS="-c jit=off -c client_min_messages=warning"

echo
echo "== one day: scoring alone against a snapshot (scoring, metric detail, writing history)"
compare \
    "account_scores(as_of) alone" \
    "SELECT count(*) FROM health_score.account_scores('$END_DATE')" \
    "account_scores + metric_scores alone" \
    "SELECT (SELECT count(*) FROM health_score.account_scores('$END_DATE')) + (SELECT count(*) FROM health_score.metric_scores('$END_DATE'))" \
    "snapshot(as_of)" \
    "SELECT health_score.snapshot('$END_DATE')"

echo
echo "== backfill of $DAYS daily snapshots ending $END_DATE"
psql -X -q -v ON_ERROR_STOP=1 -c "DELETE FROM health_score.score_history" -c "DELETE FROM health_score.metric_history_days"
start=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE backfill_run AS
    SELECT * FROM health_score.backfill(date '$END_DATE' - $DAYS + 1, '$END_DATE', '1 day')"
total=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
psql -X -P footer=off -c "SELECT count(*) AS days, round(avg(accounts)) AS accounts_per_day,
       round(sum(seconds)::numeric, 1) AS seconds_total,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 2) AS median_s_per_day,
       round(min(seconds)::numeric, 2) AS min_s, round(max(seconds)::numeric, 2) AS max_s
  FROM backfill_run"
echo "wall clock of the backfill call (with the final ANALYZE): $total s"
psql -X -At -c "SELECT 'score_history: ' || (SELECT count(*) FROM health_score.score_history) || ' rows, '
       || pg_size_pretty(pg_total_relation_size('health_score.score_history'))
       || '; metric_history: ' || (SELECT count(*) FROM health_score.metric_history) || ' rows, '
       || pg_size_pretty((SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
                           WHERE i.inhparent = 'health_score.metric_history_days'::regclass))"

echo
echo "== reading the history: trends and alerts at the last day"
compare \
    "score_trends" "SELECT count(*) FROM health_score.score_trends" \
    "alerts" "SELECT count(*) FROM health_score.alerts" \
    "refresh() (snapshot + 7 materialized views)" "SELECT health_score.refresh()"

[ "$BACKTEST" = 1 ] || exit 0

echo
echo "== backtest on the demo data ($DEMO_ACCOUNTS accounts): the year backfilled weekly"
createdb demo
export PGDATABASE=demo
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
psql -X -q -v ON_ERROR_STOP=1 -v accounts="$DEMO_ACCOUNTS" -v end_date="$END_DATE" -f "$TOP/examples/demo/generate.sql"
start=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM health_score.backfill('2025-01-07', '$END_DATE', '7 days')" >/dev/null
echo "weekly backfill: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
psql -X -P footer=off -c "SELECT horizon_days, churned, stayed, round(auc::numeric, 4) AS auc,
       false_positives, round(false_positive_rate::numeric, 4) AS fp_rate,
       false_negatives, round(false_negative_rate::numeric, 4) AS fn_rate,
       round(top_decile_churn_rate::numeric, 4) AS top_decile_churn_rate, round(top_decile_lift::numeric, 2) AS lift
  FROM health_score.backtest('{30,60,90}')"
psql -X -P footer=off -c "SELECT horizon_days, band, points, churned, round(churn_rate::numeric, 4) AS churn_rate
  FROM health_score.backtest_bands('{30,60,90}')"

echo
echo "== what-if on the same points: every half-life halved (backtest_compare, rolled back)"
start=$(date +%s.%N)
psql -X -q -P footer=off <<'SQL'
BEGIN;
UPDATE health_score.metrics SET half_life = half_life / 2;
SELECT source, version, horizon_days, churned, stayed, round(auc::numeric, 4) AS auc,
       false_positives, false_negatives, round(top_decile_lift::numeric, 2) AS lift
  FROM health_score.backtest_compare();
ROLLBACK;
SQL
echo "backtest_compare (52 stored dates, rescored): $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

echo
echo "== backtest on CDNOW (examples/cdnow/load.sql, examples/cdnow/backtest.sql)"
createdb cdnow
psql -X -q -d cdnow -c 'CREATE EXTENSION health_score'
(cd "$TOP" && psql -X -q -d cdnow -f examples/cdnow/load.sql && psql -X -P footer=off -d cdnow -f examples/cdnow/backtest.sql)
