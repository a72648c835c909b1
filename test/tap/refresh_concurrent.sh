#!/usr/bin/env bash
# Readers keep working while the dashboard is refreshed: pgbench clients read the materialized
# views (and the live trend and alert views) while refresh() runs again and again, and while one
# refresh holds its locks for seconds. Every read runs with a short lock_timeout, so a reader that
# had to wait for the refresh would fail; pgbench must report zero failed transactions.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"

db=hs_refresh_concurrent
dir=$(mktemp -d "$WORK/refresh_concurrent.XXXXXX")
chmod 755 "$dir"

echo "1..8"
throwaway_databases "$db"
"$PGBIN/createdb" "$db"
q "$db" -c 'CREATE EXTENSION health_score' || { echo "Bail out! CREATE EXTENSION failed"; exit 1; }

# 500 accounts, 10 observations of every catalog metric over the last 60 days, and 60 days
# of score history written directly (so trends and alerts have something to show).
q "$db" <<'SQL'
SELECT setseed(0.5);
INSERT INTO health_score.accounts (account_id)
SELECT format('acct%s', lpad(i::text, 4, '0')) FROM generate_series(1, 500) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.name, now() - (random() * interval '60 days'), round((random() * 100)::numeric, 1)
  FROM health_score.accounts a CROSS JOIN (SELECT DISTINCT input AS name FROM health_score.metrics) m CROSS JOIN generate_series(1, 10);
INSERT INTO health_score.score_history (as_of, account_id, score, band, alert_tier, coverage, config_version)
SELECT d::date, a.account_id, s.score, health_score.band(s.score), health_score.alert_tier(s.score), 1,
       health_score.config_version()
  FROM health_score.accounts a
 CROSS JOIN generate_series(current_date - 60, current_date - 1, interval '1 day') d
 CROSS JOIN LATERAL (SELECT round(greatest(0, least(100, 50 + 40 * sin(hashtext(a.account_id) + extract(doy FROM d) / 9.0)))::numeric, 1)::float8 AS score) s;
ANALYZE;
SQL
SECONDS=0
written=$(q "$db" -c "SELECT health_score.refresh()")
echo "# one refresh: ${SECONDS} s"
check_that "refresh() snapshots every account (got $written)" '[ "$written" = 500 ]'
check_that "the materialized views are populated" \
    '[ "$(q "$db" -c "SELECT (SELECT count(*) FROM health_score.score_trends_mv) = 500 AND (SELECT count(*) FROM health_score.alerts_mv) > 0
                      AND (SELECT count(*) FROM health_score.account_health_mv) = 500
                      AND (SELECT sum(accounts) FROM health_score.band_summary_mv) = 500
                      AND (SELECT count(DISTINCT account_id) FROM health_score.dimension_breakdown_mv) = 500")" = t ]'

# The read script: every statement must get its locks within 200 ms.
cat >"$dir/read.sql" <<'SQL'
SET lock_timeout = '200ms';
SELECT count(*), avg(score) FROM health_score.score_trends_mv;
SELECT account_id, score, rules FROM health_score.alerts_mv ORDER BY priority_rank LIMIT 20;
SELECT * FROM health_score.score_trends_mv WHERE account_id = 'acct0042';
SELECT count(*) FROM health_score.score_history WHERE as_of = current_date;
SELECT * FROM health_score.account_health_mv ORDER BY score LIMIT 20;
SELECT * FROM health_score.band_summary_mv;
SELECT * FROM health_score.action_queue_mv LIMIT 20;
SELECT * FROM health_score.dimension_breakdown_mv WHERE account_id = 'acct0007';
SELECT count(*) FROM health_score.upsell_candidates_mv;
SQL

# Refresh in a loop while pgbench reads; one refresh keeps its transaction open for 3 seconds.
(
    end=$((SECONDS + 8)) runs=0
    while [ $SECONDS -lt $end ]; do
        q "$db" -c 'SELECT health_score.refresh()' >/dev/null || { echo "refresh failed" >&2; exit 1; }
        runs=$((runs + 1))
    done
    echo "$runs" >"$dir/refreshes"
) &
loop_pid=$!
(
    sleep 1
    q "$db" -c 'BEGIN' -c 'SELECT health_score.refresh()' -c 'SELECT pg_sleep(3)' -c 'COMMIT' >/dev/null
) &
long_pid=$!
"$PGBIN/pgbench" -n -c 4 -j 2 -T 10 -f "$dir/read.sql" "$db" >"$dir/pgbench.out" 2>&1
bench_rc=$?
wait $loop_pid; loop_rc=$?
wait $long_pid; long_rc=$?

sed "s/^/# /" "$dir/pgbench.out"
check_that "pgbench ran to the end (exit $bench_rc)" '[ $bench_rc -eq 0 ]'
tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/pgbench.out")
fails=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/pgbench.out")
check_that "the readers completed transactions ($tx)" '[ "${tx:-0}" -gt 100 ]'
check_that "zero failed reads (${fails:-missing})" '[ "${fails:-}" = 0 ] && ! grep -qiE "error|abort" "$dir/pgbench.out"'
check_that "the refresh loop succeeded ($(cat "$dir/refreshes" 2>/dev/null || echo 0) refreshes)" \
    '[ $loop_rc -eq 0 ] && [ "$(cat "$dir/refreshes" 2>/dev/null || echo 0)" -ge 1 ]'
check_that "the long refresh committed" '[ $long_rc -eq 0 ]'
check_that "history still has one row per account and date" \
    '[ "$(q "$db" -c "SELECT count(*) = count(DISTINCT (account_id, as_of)) AND count(*) FILTER (WHERE as_of = current_date) = 500 FROM health_score.score_history")" = t ]'

[ $failed -eq 0 ]
