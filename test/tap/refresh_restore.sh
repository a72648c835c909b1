#!/usr/bin/env bash
# History and the daily refresh survive pg_dump: a database with score history, metric history
# and an alert rule override is dumped (custom format) and restored into a fresh database. The
# restored history must be the same row for row, the row-level security on it must be back,
# and refresh() must work at once (its materialized views are recreated by CREATE EXTENSION,
# populated, so they can be refreshed concurrently) and give the same dashboards.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"
export PGOPTIONS='-c jit=off -c client_min_messages=warning'

src=hs_refresh_restore_src dst=hs_refresh_restore_dst
dir=$(mktemp -d "$WORK/refresh_restore.XXXXXX")
chmod 755 "$dir"

echo "1..8"
throwaway_databases $src $dst
"$PGBIN/createdb" $src && q $src -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $src"; exit 1; }

q $src >/dev/null <<'SQL'
SET timezone = 'UTC';
SELECT setseed(0.125);
INSERT INTO health_score.accounts (account_id, started_on)
SELECT format('r%s', lpad(i::text, 3, '0')), '2025-01-01' FROM generate_series(1, 50) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, '2025-01-01'::timestamptz + random() * interval '60 days', round((random() * 100)::numeric, 1)
  FROM health_score.accounts a CROSS JOIN (SELECT DISTINCT input FROM health_score.metrics) m
 CROSS JOIN generate_series(1, 5);
SELECT count(*) FROM health_score.backfill('2025-01-15', '2025-03-01', '7 days');
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days) VALUES ('score_drop', true, 10, 14);
SQL
# What the source shows: history, metric history, alerts and trends as text, to compare.
history_sql="SELECT count(*) || ':' || count(score) || ':' || md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s', as_of, account_id, score, band, coverage, config_version, dimension_scores), ',' ORDER BY account_id, as_of)) FROM health_score.score_history"
metrics_sql="SELECT count(*) || ':' || md5(string_agg(format('%s|%s|%s|%s|%s', as_of, account_id, metric, sub_score, contribution), ',' ORDER BY account_id, as_of, metric)) FROM health_score.metric_history"
alerts_sql="SELECT count(*) || ':' || md5(string_agg(format('%s|%s|%s|%s', account_id, score, rules, priority), ',' ORDER BY priority_rank)) FROM health_score.alerts"
src_history=$(q $src -c "$history_sql")
src_metrics=$(q $src -c "$metrics_sql")
src_alerts=$(q $src -c "$alerts_sql")
echo "# source: history $src_history, metric history $src_metrics, alerts $src_alerts"
check "the source has history, metric history and alerts to compare" \
    "$(q $src -c "SELECT (SELECT count(*) FROM health_score.score_history) = 350 AND (SELECT count(score) FROM health_score.score_history) > 300
                      AND (SELECT count(*) FROM health_score.metric_history) > 5000 AND (SELECT count(*) FROM health_score.alerts) > 0")" "t"

"$PGBIN/pg_dump" -Fc -f "$dir/src.dump" $src && "$PGBIN/createdb" $dst && "$PGBIN/pg_restore" -d $dst "$dir/src.dump" 2>"$dir/restore.err"
check "pg_restore without errors" "$(cat "$dir/restore.err")" ""
check "the score history is the same row for row" "$(q $dst -c "$history_sql")" "$src_history"
check "the metric history too" "$(q $dst -c "$metrics_sql")" "$src_metrics"
check "the alert rule override is kept, so the alerts are the same" "$(q $dst -c "$alerts_sql")" "$src_alerts"
# The metric history is stored by month (each a partition of metric_history_days of its own,
# which pg_dump keeps as a table): each must have row-level security and its policy again.
check "row-level security on the history is back, on each month of the metric history too" \
    "$(q $dst -c "SELECT string_agg(c.relname || ' ' || c.relrowsecurity || ' ' || coalesce(p.policies, '-'), ', ' ORDER BY c.relname)
                    FROM pg_class c
                    LEFT JOIN (SELECT tablename, string_agg(policyname, ' ' ORDER BY policyname) AS policies FROM pg_policies
                                WHERE schemaname = 'health_score' GROUP BY 1) p ON p.tablename = c.relname
                   WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind IN ('r', 'p')
                     AND (c.relname = 'score_history' OR c.relname LIKE 'metric\_history\_days%')")" \
    "metric_history_days true visible_accounts, metric_history_days_2025_01 true visible_accounts, metric_history_days_2025_02 true visible_accounts, score_history true visible_accounts"
# refresh() at once: today's snapshot and every materialized view refreshed concurrently.
check "refresh() works on the restored database" "$(q $dst -c 'SELECT health_score.refresh()' 2>&1)" "50"
check "and its dashboards match the source's after the same refresh" \
    "$(q $dst -c "SELECT count(*) || ':' || md5(string_agg(format('%s|%s|%s', account_id, score, band), ',' ORDER BY account_id)) FROM health_score.account_health_mv")" \
    "$(q $src -c 'SELECT health_score.refresh()' >/dev/null; q $src -c "SELECT count(*) || ':' || md5(string_agg(format('%s|%s|%s', account_id, score, band), ',' ORDER BY account_id)) FROM health_score.account_health_mv")"

[ $failed -eq 0 ]
