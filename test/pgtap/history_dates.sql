-- Every history function refuses an infinite date (22023), naming the argument, instead of
-- returning nothing or a message about NULL; NULL is refused where it has no meaning (22004)
-- and means the latest snapshot where it is the default (trends, alerts_at).
BEGIN;
SELECT plan(17);

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

SELECT * FROM finish();
ROLLBACK;
