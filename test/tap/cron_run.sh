#!/usr/bin/env bash
# The real pg_cron runs the scheduled refresh: schedule_refresh('* * * * *') in the database
# pg_cron serves (cron.database_name, the shared test database), wait for the job's first run
# (at most about a minute), and check that it took today's snapshot and filled the dashboards.
# Everything it adds is removed again, pg_cron included.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN.
source "$(dirname "$0")/../lib/tap.sh"

db=$("$PGBIN/psql" -X -At -d postgres -c "SELECT current_setting('cron.database_name', true)")

echo "1..5"
if [ -z "$db" ] || ! q "$db" -c 'SELECT 1' >/dev/null 2>&1; then
    echo "Bail out! pg_cron is not preloaded with cron.database_name set to an existing database"
    exit 1
fi
if q "$db" -c "SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'" | grep -q 1; then
    echo "Bail out! pg_cron is already created in $db: refusing to touch another test's jobs"
    exit 1
fi

cleanup() {
    q "$db" -c 'SELECT health_score.unschedule_refresh()' >/dev/null 2>&1
    q "$db" -c 'DROP EXTENSION IF EXISTS pg_cron' >/dev/null 2>&1
    q "$db" <<'SQL' >/dev/null 2>&1
DELETE FROM health_score.observations WHERE account_id LIKE 'cron-run-%';
DELETE FROM health_score.accounts WHERE account_id LIKE 'cron-run-%';
DELETE FROM health_score.metric_history WHERE account_id LIKE 'cron-run-%';
DELETE FROM health_score.score_history WHERE account_id LIKE 'cron-run-%';
SELECT health_score.refresh();
SQL
}
trap cleanup EXIT

q "$db" <<'SQL'
CREATE EXTENSION pg_cron;
INSERT INTO health_score.accounts (account_id) VALUES ('cron-run-1'), ('cron-run-2'), ('cron-run-3');
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, now() - interval '2 days', 50
  FROM health_score.accounts a CROSS JOIN (SELECT DISTINCT input FROM health_score.metrics) m
 WHERE a.account_id LIKE 'cron-run-%';
SQL
job=$(q "$db" -c "SELECT health_score.schedule_refresh('* * * * *')")
check_that "schedule_refresh('* * * * *') returns a job id ($job)" '[ -n "$job" ]'

# The job runs at the next minute boundary.
status=
for _ in $(seq 1 90); do
    status=$(q "$db" -c "SELECT status FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed') ORDER BY start_time DESC LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
message=$(q "$db" -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $job ORDER BY start_time DESC LIMIT 1")
echo "# job $job: status ${status:-none}, message ${message:-none}"
check_that "pg_cron ran health_score.refresh() (status ${status:-none}, message: ${message:-none})" '[ "$status" = succeeded ]'
check_that "the job took today's snapshot of the accounts" \
    '[ "$(q "$db" -c "SELECT count(*) FROM health_score.score_history WHERE as_of = current_date AND account_id LIKE '"'"'cron-run-%'"'"' AND score IS NOT NULL")" = 3 ]'
check_that "and refreshed the dashboards' materialized views" \
    '[ "$(q "$db" -c "SELECT count(*) FROM health_score.account_health_mv WHERE account_id LIKE '"'"'cron-run-%'"'"'")" = 3 ]'
check_that "unschedule_refresh() removes the job" '[ "$(q "$db" -c "SELECT health_score.unschedule_refresh()")" = t ]'

[ $failed -eq 0 ]
