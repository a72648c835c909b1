-- The backtest on real churn: CDNOW's purchase history (examples/cdnow/load.sql), scored 30, 60 and
-- 90 days before the churn date, with the AUC checked against a rank-sum computation.
BEGIN;
SELECT plan(12);

SET LOCAL timezone = 'UTC';
SET LOCAL jit = off;
SET LOCAL client_min_messages = warning;

\i examples/cdnow/load.sql

-- ==== the load =================================================================================
SELECT results_eq(
    $$SELECT count(*), count(churned_on), min(started_on), max(started_on)
        FROM health_score.accounts WHERE account_id LIKE 'cdnow-%'$$,
    $$VALUES (23570::bigint, 16512::bigint, '1997-01-01'::date, '1997-03-25'::date)$$,
    '23,570 customers, 16,512 (70.06 %) without a purchase after 1997-09-30, first purchases in Q1 1997');
SELECT results_eq(
    $$SELECT metric, count(*), round(sum(value)::numeric, 2) FROM health_score.observations
       WHERE account_id LIKE 'cdnow-%' GROUP BY metric ORDER BY metric$$,
    $$SELECT m, count(*), round(sum(CASE m WHEN 'cdnow_spend' THEN dollars ELSE 1 END), 2)
        FROM cdnow_purchases CROSS JOIN (VALUES ('cdnow_purchase'), ('cdnow_spend')) v(m)
       GROUP BY m ORDER BY m$$,
    'one purchase and one spend observation per purchase line');
SELECT is(ARRAY(SELECT name FROM health_score.metrics WHERE enabled ORDER BY name),
          '{cdnow_frequency,cdnow_monetary,cdnow_recency}', 'only the three CDNOW metrics score');

-- Customer 00002 bought twice on 1997-01-12 (1 and 5 CDs, $89 together) and never again.
SELECT results_eq(
    $$SELECT metric, round(raw_value::numeric, 6) FROM health_score.metric_scores('1997-09-01')
       WHERE account_id = 'cdnow-00002' ORDER BY metric$$,
    $$VALUES ('cdnow_frequency', round((2 * 2 ^ (-(231.5 / 90)) / (90 / ln(2) * (1 - 2 ^ (-(232 / 90.0)))))::numeric, 6)),
             ('cdnow_monetary', round((89 * 2 ^ (-(231.5 / 90)))::numeric, 6)),
             ('cdnow_recency', 231.5::numeric)$$,
    'customer 00002 on 1997-09-01: 231.5 days since noon of 1997-01-12, decayed purchases and dollars by hand; '
    'purchases per day over the decayed 232 days since its start');

-- ==== the backtest ===============================================================================
SELECT results_eq($$SELECT as_of, accounts FROM health_score.backfill('1997-07-03', '1997-09-01', '30 days')$$,
                  $$VALUES ('1997-07-03'::date, 23570), ('1997-08-02', 23570), ('1997-09-01', 23570)$$,
                  'backfill of the three dates 30, 60 and 90 days before the churn date');
CREATE TEMP TABLE result AS SELECT * FROM health_score.backtest();
CREATE TEMP TABLE points AS SELECT * FROM health_score.backtest_points();
SELECT results_eq($$SELECT horizon_days, churned, stayed FROM result$$,
                  $$VALUES (30, 16512::bigint, 7058::bigint), (60, 16512::bigint, 7058::bigint), (90, 16512::bigint, 7058::bigint)$$,
                  'every customer compared at every horizon');
SELECT results_eq($$SELECT horizon_days, as_of FROM points WHERE churned GROUP BY 1, 2 ORDER BY 1$$,
                  $$VALUES (30, '1997-09-01'::date), (60, '1997-08-02'), (90, '1997-07-03')$$,
                  'churners scored 30, 60 and 90 days before 1997-10-01');

-- AUC by the rank sum (Mann-Whitney): ties get their average rank.
SELECT is((SELECT array_agg(round(r.auc::numeric, 9) ORDER BY r.horizon_days) FROM result r),
          (SELECT array_agg(a ORDER BY horizon_days)
             FROM (SELECT horizon_days,
                          round(((sum(rk) FILTER (WHERE churned) - n1 * (n1 + 1) / 2.0) / (n1 * n0))::numeric, 9) AS a
                     FROM (SELECT horizon_days, churned,
                                  rank() OVER w + (count(*) OVER (PARTITION BY horizon_days, score) - 1) / 2.0 AS rk,
                                  count(*) FILTER (WHERE churned) OVER (PARTITION BY horizon_days) AS n1,
                                  count(*) FILTER (WHERE NOT churned) OVER (PARTITION BY horizon_days) AS n0
                             FROM points WINDOW w AS (PARTITION BY horizon_days ORDER BY 100 - score)) x
                    GROUP BY horizon_days, n1, n0) y),
          'backtest AUC equals the rank-sum AUC of the same points');
SELECT cmp_ok((SELECT auc FROM result WHERE horizon_days = 30), '>', 0.7::float8,
              'the scores predict CDNOW churn: AUC above 0.7 thirty days ahead');
SELECT ok((SELECT bool_and(auc > 0.5) AND bool_and(top_decile_lift > 1) FROM result),
          'better than chance at every horizon, and the riskiest decile churns more than the average');
SELECT is((SELECT array_agg(band ORDER BY churn_rate) FROM health_score.backtest_bands('{30}')),
          '{green,yellow,orange,red}', 'churn rate rises band by band from green to red');
SELECT results_eq(
    $$SELECT false_positives, false_negatives FROM result WHERE horizon_days = 30$$,
    $$SELECT count(*) FILTER (WHERE churned AND band = 'green'), count(*) FILTER (WHERE NOT churned AND band = 'red')
        FROM points WHERE horizon_days = 30$$,
    'false positives are green churners, false negatives red stayers');

SELECT * FROM finish();
ROLLBACK;
