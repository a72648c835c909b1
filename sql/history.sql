-- The history functions' argument checks: every bad argument is refused with an SQLSTATE and a
-- message naming it.

-- snapshot
SELECT error_of($$SELECT health_score.snapshot(NULL)$$);
SELECT error_of($$SELECT health_score.snapshot('9999-01-01')$$);

-- backfill
SELECT error_of($$SELECT * FROM health_score.backfill('2024-03-01', '2024-02-01', '1 day')$$);
SELECT error_of($$SELECT * FROM health_score.backfill('2024-01-01', '2024-02-01', '0 days')$$);
SELECT error_of($$SELECT * FROM health_score.backfill('2024-01-01', '2024-02-01', '-1 day')$$);
SELECT error_of($$SELECT * FROM health_score.backfill('2024-01-01', '2024-02-01', '6 hours')$$);
SELECT error_of($$SELECT * FROM health_score.backfill('2024-01-01', '2024-02-01', '1 day 6 hours')$$);
SELECT error_of($$SELECT * FROM health_score.backfill(NULL, '2024-02-01', '1 day')$$);
SELECT error_of($$SELECT * FROM health_score.backfill('2024-01-01', '2024-02-01', NULL)$$);
SELECT error_of($$SELECT * FROM health_score.backfill('2024-01-01', '9999-01-01', '1 day')$$);
SELECT error_of($$SELECT * FROM health_score.backfill('2024-01-01', '2024-02-01', '1 day', NULL)$$);

-- backfill_commit_each checks the same, called outside a transaction block; inside one (here
-- in error_of's function) it cannot commit
\set VERBOSITY terse
CALL health_score.backfill_commit_each('2024-03-01', '2024-02-01');
CALL health_score.backfill_commit_each(NULL, '2024-02-01');
CALL health_score.backfill_commit_each('2024-01-01', '2024-02-01', '6 hours');
CALL health_score.backfill_commit_each('2024-01-01', '2024-02-01', '1 day', NULL);
CALL health_score.backfill_commit_each('2024-01-01', '9999-01-01');
\set VERBOSITY default
SELECT error_of($$CALL health_score.backfill_commit_each('2024-01-01', '2024-01-02')$$);

-- backfill: a row per date, the dates done skipped (its progress NOTICEs show timings: see
-- test/tap/backfill_resume.sh)
INSERT INTO health_score.accounts (account_id, started_on) VALUES ('r1', '2023-12-01'), ('r2', '2024-01-02');
SET client_min_messages = warning;
SELECT as_of, accounts, skipped FROM health_score.backfill('2024-01-01', '2024-01-15', '1 week');
SELECT as_of, accounts, skipped FROM health_score.backfill('2024-01-01', '2024-01-22', '1 week');
RESET client_min_messages;
SELECT as_of, account_id, score, reason FROM health_score.score_history ORDER BY as_of, account_id;
DELETE FROM health_score.score_history;
DELETE FROM health_score.metric_history;
DELETE FROM health_score.accounts;

-- attribution
SELECT error_of($$SELECT * FROM health_score.attribution('2024-03-01', '2024-02-01')$$);
SELECT error_of($$SELECT * FROM health_score.attribution('2024-01-01', NULL)$$);
SELECT error_of($$SELECT * FROM health_score.attribution('2024-01-01', '2024-02-01')$$);
SELECT error_of($$SELECT * FROM health_score.attribution_summary('2024-03-01', '2024-02-01')$$);

-- backtest
SELECT error_of($$SELECT * FROM health_score.backtest()$$);
INSERT INTO health_score.accounts (account_id, churned_on) VALUES ('a', '2024-04-01');
INSERT INTO health_score.score_history (as_of, account_id, score, config_version)
VALUES ('2024-01-01', 'a', 50, 1), ('2024-04-01', 'a', 50, 1);
SELECT error_of($$SELECT * FROM health_score.backtest('{0}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30,-1}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30,NULL}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest(NULL)$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30,365}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_points('{92}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_bands('{-30}')$$);
-- a date range and a configuration version
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', '2024-03-01', '2024-02-01')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', 'infinity')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', to_date => '-infinity')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', '2024-05-01')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', to_date => '2023-12-31')$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', config_version => 2)$$);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', to_date => '2024-03-31', config_version => 1)$$);
SELECT horizon_days, churned, stayed FROM health_score.backtest('{30}', to_date => '2024-03-31');
INSERT INTO health_score.score_history (as_of, account_id, score, config_version)
VALUES ('2024-02-01', 'a', 50, 2), ('2024-03-01', 'a', 50, 2);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_points('{30}', '2024-01-01', '2024-03-31')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_compare('{30}')$$);
SELECT horizon_days, churned, stayed FROM health_score.backtest('{30}', config_version => 1);
SELECT error_of($$SELECT * FROM health_score.backtest('{30}', '2024-04-01')$$);
-- backtest_whatif refuses what backfill refuses
SELECT error_of($$SELECT * FROM health_score.backtest_whatif(NULL, '2024-02-01')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_whatif('2024-03-01', '2024-02-01')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_whatif('2024-01-01', '9999-01-01')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_whatif('-infinity', '2024-02-01')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_whatif('2024-01-01', '2024-02-01', '1 day 6 hours')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_whatif('2024-01-01', '2024-02-01', horizons => '{}')$$);
SELECT error_of($$SELECT * FROM health_score.backtest_whatif('2024-01-01', '2024-02-01', horizons => '{30}')$$);
DELETE FROM health_score.score_history;
DELETE FROM health_score.accounts;

-- sparkline
SELECT health_score.sparkline('{0,20,40,60,80,100}') AS scale,
       health_score.sparkline('{3,1,NULL,2}', NULL, NULL) AS own_range;
SELECT error_of($$SELECT health_score.sparkline('{1,2}', 10, 0)$$);
SELECT error_of($$SELECT health_score.sparkline('{1,2}', 0, 'Infinity')$$);

-- scheduling: pg_cron is missing here, either from the server or (as in the suite's cluster,
-- where it is preloaded for another database) from this database; both refuse with 0A000.
SELECT error_of($$SELECT health_score.schedule_refresh()$$)
       ~ '^0A000: schedule_refresh needs (pg_cron|the pg_cron extension)' AS refused_without_pg_cron;
SELECT error_of($$SELECT health_score.schedule_refresh(NULL)$$);
SELECT health_score.unschedule_refresh() AS removed;

-- alert rules
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('score_jump', true, 20, 30, 1)$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('score_drop', true, 120, 30, 1)$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('score_drop', true, 20, 0, 1)$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('score_drop', true, 20, 30, -1)$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('score_drop', true, 20, 30, 'NaN')$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('score_drop', true, 20, 36501, 1)$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('low_score', true, 60, 1, 0, 8)$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('unusual_drop', true, 0, 30, 1)$$);
SELECT error_of($$INSERT INTO health_score.alert_rules VALUES ('unusual_drop', true, 3.5, 30, 1, 1)$$);
SELECT rule, enabled, threshold, window_days, weight, min_history, is_default FROM health_score.effective_alert_rules ORDER BY rule;

-- score_change_z
SELECT error_of($$SELECT * FROM health_score.score_change_z('infinity')$$);
SELECT count(*) FROM health_score.score_change_z();
