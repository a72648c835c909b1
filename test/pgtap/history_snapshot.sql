-- snapshot(), backfill() and attribution() against the live scoring: a snapshot of a date is
-- account_scores(that date); running it twice replaces; attribution sums to the score change.
BEGIN;
SELECT plan(36);

SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;
SET LOCAL jit = off;
-- Serial plans: the metric history is compared to the bit with metric_scores(). A parallel scan
-- hands the rows to its processes as they come, so its sums add in an order that changes from
-- run to run, and differ in the last bits; the rows other tests inserted and rolled back can
-- leave observations large enough for one.
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT setseed(0.25);

-- 40 accounts, 6 observations of every catalog metric in January-March 2024; acc40 starts
-- without any observation, acc39 churns on 2024-03-01.
INSERT INTO health_score.accounts (account_id, started_on, churned_on)
SELECT format('acc%s', lpad(i::text, 2, '0')), '2023-06-01',
       CASE WHEN i = 39 THEN '2024-03-01'::date END
  FROM generate_series(1, 40) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.name,
       '2024-01-01'::timestamptz + random() * interval '90 days', round((random() * 100)::numeric, 1)
  FROM health_score.accounts a CROSS JOIN (SELECT DISTINCT input AS name FROM health_score.metrics) m CROSS JOIN generate_series(1, 6)
 WHERE a.account_id <> 'acc40';

-- ==== snapshot ===================================================================================
SELECT is(health_score.snapshot('2024-02-15'),
          (SELECT count(*)::int FROM health_score.account_scores('2024-02-15')),
          'snapshot() returns the number of accounts scored');
SELECT cmp_ok((SELECT count(*) FROM health_score.score_history WHERE score IS NOT NULL), '>', 30::bigint,
              'most accounts have a score');
CREATE TEMP TABLE first_take AS SELECT * FROM health_score.score_history;
CREATE TEMP TABLE first_metrics AS SELECT * FROM health_score.metric_history;
SELECT is(health_score.snapshot('2024-02-15'), (SELECT count(*)::int FROM first_take), 'a second snapshot of the date');
SELECT is((SELECT count(*) FROM health_score.score_history), (SELECT count(*) FROM first_take),
          'snapshot twice: the rows are replaced, not duplicated');
SELECT set_eq(
    $$SELECT as_of, account_id, score, band, alert_tier, coverage, config_version FROM health_score.score_history$$,
    $$SELECT as_of, account_id, score, band, alert_tier, coverage, config_version FROM first_take$$,
    'snapshot twice: the same scores');
SELECT set_eq($$SELECT * FROM health_score.metric_history$$, $$SELECT * FROM first_metrics$$,
              'snapshot twice: the same metric history');
SELECT set_eq(
    $$SELECT account_id, score, band, alert_tier, coverage, product_score, relationship_score, business_score,
             dimension_scores::text, reason
        FROM health_score.score_history WHERE as_of = '2024-02-15'$$,
    $$SELECT account_id, score, band, alert_tier, coverage, product_score, relationship_score, business_score,
             dimension_scores::text, reason
        FROM health_score.account_scores('2024-02-15')$$,
    'the snapshot of a date is the live account_scores() at that date');
SELECT set_eq(
    $$SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution
        FROM health_score.metric_history WHERE as_of = '2024-02-15'$$,
    $$SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution
        FROM health_score.metric_scores('2024-02-15')$$,
    'the metric history of a date is the live metric_scores() at that date');
SELECT is((SELECT score FROM health_score.score_history WHERE account_id = 'acc40'), NULL::float8,
          'an account without data has a NULL score, never 0');
SELECT is((SELECT count(DISTINCT config_version) FROM health_score.score_history
            WHERE config_version = health_score.config_version()), 1::bigint,
          'each row records the configuration version it was scored with');
SELECT is((SELECT count(*) FROM health_score.score_history WHERE churn_risk IS NOT NULL), 0::bigint,
          'no churn model trained: churn risk is NULL');

-- ==== backfill ===================================================================================
SELECT results_eq(
    $$SELECT as_of, accounts FROM health_score.backfill('2024-01-20', '2024-03-20', '10 days')$$,
    $$SELECT d::date, (SELECT count(*)::int FROM health_score.account_scores(d))
        FROM generate_series('2024-01-20'::timestamptz, '2024-03-20', '10 days') d$$,
    'backfill: one row per date, step apart, with the accounts written');
SELECT is((SELECT count(DISTINCT as_of) FROM health_score.score_history), 8::bigint,
          'seven backfilled dates and the earlier snapshot');
CREATE TEMP TABLE backfilled AS SELECT * FROM health_score.score_history;
SELECT set_eq(
    $$SELECT as_of, account_id, score, band, coverage, product_score, relationship_score, business_score
        FROM health_score.score_history WHERE as_of <> '2024-02-15'$$,
    $$SELECT d::date, s.account_id, s.score, s.band, s.coverage, s.product_score, s.relationship_score, s.business_score
        FROM generate_series('2024-01-20'::timestamptz, '2024-03-20', '10 days') d
       CROSS JOIN LATERAL health_score.account_scores(d) s$$,
    'backfill is point in time: each date equals live account_scores(that date)');
SELECT is((SELECT count(*) FROM health_score.score_history WHERE as_of = '2024-03-10' AND account_id = 'acc39'),
          (SELECT count(*) FROM health_score.account_scores('2024-03-10') WHERE account_id = 'acc39'),
          'a churned account is in the history exactly when account_scores lists it');
SELECT results_eq(
    $$SELECT count(*) FROM health_score.backfill('2024-01-20', '2024-03-20', '10 days')$$,
    $$VALUES (7::bigint)$$, 'backfill again');
SELECT set_eq($$SELECT as_of, account_id, score, band, coverage, config_version FROM health_score.score_history$$,
              $$SELECT as_of, account_id, score, band, coverage, config_version FROM backfilled$$,
              'backfill twice: the same rows (the dates done skipped), not duplicated');
SELECT results_eq($$SELECT as_of FROM health_score.backfill('2024-01-31', '2024-04-30', '1 month')$$,
                  $$VALUES ('2024-01-31'::date), ('2024-02-29'), ('2024-03-31'), ('2024-04-30')$$,
                  'a step of one month follows the calendar');
SELECT throws_ok($$SELECT * FROM health_score.backfill('2024-03-01', '2024-02-01', '1 day')$$, '22023',
                 'from_date 2024-03-01 is after to_date 2024-02-01', 'from after to is refused');
SELECT throws_ok($$SELECT * FROM health_score.backfill('2024-01-01', '2024-02-01', '-1 day')$$, '22023', NULL,
                 'a negative step is refused');

-- ==== attribution ================================================================================
SELECT is((SELECT max(abs(s.score - c.total))
             FROM health_score.score_history s
             JOIN (SELECT account_id, as_of, sum(contribution) AS total FROM health_score.metric_history
                    GROUP BY 1, 2) c USING (account_id, as_of)
            WHERE s.score IS NOT NULL) <= 0.005 + 1e-9, true,
          'precondition: a score is the sum of its metric contributions, rounded to two decimals');
SELECT is((SELECT max(abs(t.score - f.score - a.total))
             FROM (SELECT account_id, sum(change) AS total FROM health_score.attribution('2024-01-20', '2024-03-20')
                    GROUP BY 1) a
             JOIN health_score.score_history f ON f.account_id = a.account_id AND f.as_of = '2024-01-20'
             JOIN health_score.score_history t ON t.account_id = a.account_id AND t.as_of = '2024-03-20') < 1e-9,
          true, 'attribution: the parts sum to the score change of every account');

SELECT is((SELECT count(*) FROM health_score.attribution('2024-01-20', '2024-03-20')
            WHERE component = 'configuration' AND change <> 0), 0::bigint,
          'same configuration at both dates: the configuration part is 0');
SELECT is((SELECT max(abs(s.change - s.product_change - s.relationship_change - s.business_change
                          - s.configuration_change - s.rounding_change))
             FROM health_score.attribution_summary('2024-01-20', '2024-03-20') s) < 1e-9, true,
          'attribution_summary: the dimension parts and the configuration part sum to the change');
SELECT is((SELECT max(abs(change)) FROM health_score.attribution('2024-01-20', '2024-03-20')
            WHERE component = 'rounding') <= 0.01 + 1e-9, true,
          'the rounding part is at most 0.01 points (the scores are stored to two decimals)');
SELECT is((SELECT count(*) FROM health_score.attribution_summary('2024-01-20', '2024-03-20')),
          (SELECT count(*) FROM health_score.score_history f
             JOIN health_score.score_history t ON t.account_id = f.account_id AND t.as_of = '2024-03-20'
            WHERE f.as_of = '2024-01-20' AND f.score IS NOT NULL AND t.score IS NOT NULL),
          'attribution_summary: one row per account scored at both dates');

-- A configuration change between the two dates: double the weight of the product dimension.
CREATE TEMP TABLE version_before AS SELECT health_score.config_version() AS v;
UPDATE health_score.dimensions SET weight = weight * 2 WHERE name = 'product';
SELECT cmp_ok(health_score.config_version(), '>', (SELECT v FROM version_before),
              'precondition: the weight change raised config_version()');
SELECT health_score.snapshot('2024-03-20');
SELECT is((SELECT max(abs(t.score - f.score - a.total))
             FROM (SELECT account_id, sum(change) AS total FROM health_score.attribution('2024-01-20', '2024-03-20')
                    GROUP BY 1) a
             JOIN health_score.score_history f ON f.account_id = a.account_id AND f.as_of = '2024-01-20'
             JOIN health_score.score_history t ON t.account_id = a.account_id AND t.as_of = '2024-03-20') < 1e-9,
          true, 'after a configuration change the parts still sum to the change');
SELECT is((SELECT max(abs(a.change - (r.total - f.total)))
             FROM health_score.attribution('2024-01-20', '2024-03-20') a
             JOIN (SELECT account_id, sum(contribution) AS total FROM health_score.metric_history
                    WHERE as_of = '2024-01-20' GROUP BY 1) f ON f.account_id = a.account_id
             JOIN (SELECT account_id, sum(contribution) AS total FROM health_score.metric_scores('2024-01-20')
                    GROUP BY 1) r ON r.account_id = a.account_id
            WHERE a.component = 'configuration') < 1e-9,
          true, 'the configuration part is the from-date score rescored with the new configuration, minus the old one');
SELECT cmp_ok((SELECT count(*) FROM health_score.attribution('2024-01-20', '2024-03-20')
                WHERE component = 'configuration' AND abs(change) > 1e-9), '>', 0::bigint,
              'the weight change shows in the configuration part');
SELECT is((SELECT count(*) FROM health_score.attribution('2024-01-20', '2024-03-20')
            WHERE component = 'metric' AND dimension IS NULL), 0::bigint,
          'every metric row names its dimension');

-- ==== churn risk ================================================================================
-- With an account churn model trained, snapshots carry account_churn_risk(as_of).
UPDATE health_score.accounts SET churned_on = '2024-03-25' WHERE account_id <= 'acc10';
SELECT lives_ok($$SELECT health_score.train_account_churn_model('history test', '2024-02-15', '30 days',
                    ARRAY['outcome_achievement', 'workflow_completion'],
                    l2 => 1)$$, 'precondition: an account churn model trains');
-- (From 2024-03-16 on, once the model's window of churn, 30 days after 2024-02-15, is over.)
SELECT health_score.snapshot('2024-03-20');
SELECT is((SELECT count(*) FROM health_score.score_history WHERE as_of = '2024-03-20' AND churn_risk IS NOT NULL),
          (SELECT count(*) FROM health_score.account_churn_risk('2024-03-20') WHERE churn_risk IS NOT NULL),
          'with a model, every account it can score has a churn risk in the snapshot');
SELECT set_eq($$SELECT account_id, churn_risk FROM health_score.score_history WHERE as_of = '2024-03-20'$$,
              $$SELECT s.account_id, r.churn_risk FROM health_score.account_scores('2024-03-20') s
                  LEFT JOIN health_score.account_churn_risk('2024-03-20') r USING (account_id)$$,
              'the snapshot''s churn risk is account_churn_risk at that date');
CREATE TEMP TABLE kept_metric_rows AS SELECT * FROM health_score.metric_scores('2024-02-15');
SELECT set_eq($$SELECT * FROM health_score.account_churn_risk('2024-02-15', 'kept_metric_rows')$$,
              $$SELECT * FROM health_score.account_churn_risk('2024-02-15')$$,
              'account_churn_risk over kept metric rows equals scoring again');
SELECT ok((SELECT count(*) FROM health_score.account_churn_risk('2024-02-15', 'kept_metric_rows') WHERE churn_risk IS NOT NULL) > 0,
          'and it has risks to compare');

SELECT * FROM finish();
ROLLBACK;
