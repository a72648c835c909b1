-- Every history function refuses an infinite date (22023), naming the argument, instead of
-- returning nothing or a message about NULL; NULL is refused where it has no meaning (22004)
-- and means the latest snapshot where it is the default (trends, alerts_at).
BEGIN;
SELECT plan(29);

SET LOCAL timezone = 'UTC';
INSERT INTO health_score.score_history (as_of, account_id, score, band, config_version)
VALUES ('2024-03-01', 'a', 50, 'orange', 1), ('2024-03-31', 'a', 40, 'red', 1);

SELECT throws_ok($$SELECT * FROM health_score.trends('infinity')$$, '22023',
                 'as_of must be a finite date, got infinity', 'trends: infinity is refused');
SELECT throws_ok($$SELECT * FROM health_score.trends('-infinity')$$, '22023',
                 'as_of must be a finite date, got -infinity', 'trends: -infinity is refused');
SELECT is((SELECT as_of FROM health_score.trends(NULL)), '2024-03-31'::date,
          'trends: NULL is the latest snapshot');
SELECT throws_ok($$SELECT * FROM health_score.alerts_at('infinity')$$, '22023',
                 'as_of must be a finite date, got infinity', 'alerts_at: infinity is refused');
SELECT throws_ok($$SELECT * FROM health_score.alerts_at('-infinity')$$, '22023',
                 'as_of must be a finite date, got -infinity', 'alerts_at: -infinity is refused');
SELECT is((SELECT as_of FROM health_score.alerts_at(NULL)), '2024-03-31'::date,
          'alerts_at: NULL is the latest snapshot');

SELECT throws_ok($$SELECT * FROM health_score.attribution('-infinity', '2024-03-31')$$, '22023',
                 'from_date must be a finite date, got -infinity', 'attribution: from_date -infinity is named');
SELECT throws_ok($$SELECT * FROM health_score.attribution('2024-03-01', 'infinity')$$, '22023',
                 'to_date must be a finite date, got infinity', 'attribution: to_date infinity is named');
SELECT throws_ok($$SELECT * FROM health_score.attribution_summary('-infinity', '2024-03-31')$$, '22023',
                 'from_date must be a finite date, got -infinity', 'attribution_summary: from_date -infinity is named');
SELECT throws_ok($$SELECT * FROM health_score.attribution(NULL, '2024-03-31')$$, '22004',
                 'from_date and to_date must not be NULL', 'attribution: NULL is refused');

SELECT throws_ok($$SELECT health_score.snapshot('infinity')$$, '22023',
                 'as_of must be a finite date, got infinity', 'snapshot: infinity is refused');
SELECT throws_ok($$SELECT health_score.snapshot('-infinity')$$, '22023',
                 'as_of must be a finite date, got -infinity', 'snapshot: -infinity is refused');
SELECT throws_ok($$SELECT * FROM health_score.backfill('-infinity', '2024-03-31')$$, '22023',
                 'from_date must be a finite date, got -infinity', 'backfill: from_date -infinity is named');
SELECT throws_ok($$SELECT * FROM health_score.backfill('2024-03-01', 'infinity')$$, '22023',
                 'to_date must be a finite date, got infinity', 'backfill: to_date infinity is named');
SELECT throws_ok($$SELECT * FROM health_score.backfill('2024-03-01', NULL)$$, '22004',
                 'from_date, to_date and step must not be NULL', 'backfill: NULL is refused');

SELECT is(health_score.check_date('as_of', '2024-03-01'), '2024-03-01'::date, 'check_date returns a finite date');
SELECT is(health_score.check_date('as_of', NULL), NULL::date, 'check_date passes NULL');

-- Dates that are no timestamps (after 294276-12-31) and steps or horizons that would leave the
-- range of timestamps are refused naming the argument, not with PostgreSQL's own message.
SELECT throws_ok($$SELECT health_score.snapshot('5874897-12-31')$$, '22008',
                 'as_of must be a date up to 294276-12-31 (the last timestamp), got 5874897-12-31',
                 'snapshot: a date after the last timestamp is named');
SELECT throws_ok($$SELECT * FROM health_score.trends('294277-01-01')$$, '22008',
                 'as_of must be a date up to 294276-12-31 (the last timestamp), got 294277-01-01',
                 'trends: a date after the last timestamp is named');
SELECT throws_ok($$SELECT * FROM health_score.backfill('5874897-12-30', '5874897-12-31')$$, '22008',
                 'from_date must be a date up to 294276-12-31 (the last timestamp), got 5874897-12-30',
                 'backfill: from_date after the last timestamp is named');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{30}', NULL, '5874897-12-31')$$, '22008',
                 'to_date must be a date up to 294276-12-31 (the last timestamp), got 5874897-12-31',
                 'backtest: to_date after the last timestamp is named, before it is printed');
SELECT throws_ok($$SELECT * FROM health_score.backtest_whatif('2024-03-01', '5874897-12-31')$$, '22008',
                 'to_date must be a date up to 294276-12-31 (the last timestamp), got 5874897-12-31',
                 'backtest_whatif: to_date after the last timestamp is named');
SELECT is(health_score.check_date('as_of', '294276-12-31'), '294276-12-31'::date, 'check_date: the last timestamp''s date passes');
SELECT is(health_score.step_dates('2024-01-31', '2024-04-30', '1 month'),
          '{2024-01-31,2024-02-29,2024-03-31,2024-04-30}'::date[], 'step_dates: monthly steps follow the calendar');
SELECT is(health_score.step_dates('2024-01-31', '2024-04-30', '178000000 years'), '{2024-01-31}'::date[],
          'step_dates: a step longer than any span gives from_date alone, not an overflow');
SELECT is(health_score.step_dates('2024-03-01', '2024-03-01', '1 day'), '{2024-03-01}'::date[], 'step_dates: one day');
SELECT throws_ok($$SELECT * FROM health_score.backtest_whatif('2024-03-01', '2024-03-31', '1 hour')$$, '22023',
                 'step must be a positive whole number of days, weeks, months or years, got 01:00:00',
                 'backtest_whatif: its step is checked as backfill''s');
SELECT throws_ok($$SELECT * FROM health_score.train_account_churn_model('m', '2024-01-01', '178000000 years', ARRAY['login_frequency'])$$,
                 '22023', 'as_of + horizon (2024-01-01 00:00:00+00 + 178000000 years) is in the future: the accounts that will churn by then are not known yet',
                 'train_account_churn_model: a horizon past the last timestamp is in the future, not an overflow');
SELECT throws_ok($$SELECT * FROM health_score.train_account_churn_model('m', '1960-01-01', '60 years', ARRAY['login_frequency'], snapshots => 120)$$,
                 '22008', 'the earliest snapshot date, as_of - (snapshots - 1) x horizon (1960-01-01 00:00:00+00 - 119 x 60 years), is before the first timestamp',
                 'train_account_churn_model: snapshot dates before the first timestamp are named');

SELECT * FROM finish();
ROLLBACK;
