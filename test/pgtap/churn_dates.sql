-- The churn date as the README states it: accounts.churned_on is the first day the account is
-- gone, counted from midnight at its start; an account is scored up to the day before, and the
-- day before reads the observations up to that midnight, or through that day.
BEGIN;
SELECT plan(5);
SET LOCAL timezone = 'UTC';
INSERT INTO health_score.accounts (account_id, started_on, churned_on) VALUES ('date-1', '2025-01-01', '2025-06-10');
INSERT INTO health_score.observations (account_id, metric, observed_at, value) VALUES
    ('date-1', 'nps', '2025-06-01', 2), ('date-1', 'nps', '2025-06-09 12:00', 10);

SELECT is((SELECT count(*) FROM health_score.account_scores('2025-06-10') WHERE account_id = 'date-1'), 0::bigint,
          'not scored on its churn date');
SELECT is((SELECT count(*) FROM health_score.account_scores('2025-06-09 23:59:59') WHERE account_id = 'date-1'), 1::bigint,
          'scored up to its end');
SELECT is((SELECT raw_value FROM health_score.metric_scores(date '2025-06-10' - 1) WHERE account_id = 'date-1' AND metric = 'nps'),
          2::float8, 'churned_on - 1: the observations up to midnight at the start of the day before');
SELECT cmp_ok((SELECT raw_value FROM health_score.metric_scores(date '2025-06-10' - interval '1 second')
                WHERE account_id = 'date-1' AND metric = 'nps'), '>', 2::float8,
              'churned_on - 1 second: that last day''s observations too');
SELECT is((SELECT count(*) FROM health_score.account_scores('2025-01-01') WHERE account_id = 'date-1'), 1::bigint,
          'and scored from midnight at the start of started_on');
SELECT * FROM finish();
ROLLBACK;
