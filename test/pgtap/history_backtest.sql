-- backtest(): which points it compares, and the AUC, false positives/negatives, band churn rates
-- and lift worked out by hand on a small score history.
BEGIN;
SELECT plan(19);

SET LOCAL timezone = 'UTC';

-- Daily snapshots 2024-01-01 .. 2024-06-30; an account is scored until the day before it churns.
--   c1  churns 2024-05-01: 70 until 2024-03-31, then 30
--   c2  churns 2024-06-01: 50
--   s4  churns 2024-06-20: 85 (a green account that churns)
--   s1 90, s2 40, s3 75, r1 20 (a red account that stays): never churn
--   early churned 2023-12-01, before the history: never scored
INSERT INTO health_score.accounts (account_id, churned_on) VALUES
    ('c1', '2024-05-01'), ('c2', '2024-06-01'), ('s4', '2024-06-20'),
    ('s1', NULL), ('s2', NULL), ('s3', NULL), ('r1', NULL), ('early', '2023-12-01');

INSERT INTO health_score.score_history (as_of, account_id, score, band, alert_tier, coverage, config_version)
SELECT d::date, a.account_id, s.score, health_score.band(s.score), health_score.alert_tier(s.score), 1, 1
  FROM generate_series('2024-01-01'::date, '2024-06-30'::date, interval '1 day') d
 CROSS JOIN health_score.accounts a
 CROSS JOIN LATERAL (SELECT CASE a.account_id
                            WHEN 'c1' THEN CASE WHEN d < '2024-04-01' THEN 70 ELSE 30 END
                            WHEN 'c2' THEN 50 WHEN 's4' THEN 85 WHEN 's1' THEN 90
                            WHEN 's2' THEN 40 WHEN 's3' THEN 75 WHEN 'r1' THEN 20 END::float8 AS score) s
 WHERE a.account_id <> 'early' AND (a.churned_on IS NULL OR d < a.churned_on);

-- ==== the points ================================================================================
SELECT results_eq(
    $$SELECT as_of, account_id, score FROM health_score.backtest_points('{30}') WHERE churned
       ORDER BY as_of$$,
    $$VALUES ('2024-04-01'::date, 'c1', 30::float8), ('2024-05-02'::date, 'c2', 50::float8),
             ('2024-05-21'::date, 's4', 85::float8)$$,
    '30 days: each churner scored 30 days before it churned');
SELECT results_eq(
    $$SELECT as_of, array_agg(account_id ORDER BY account_id) FROM health_score.backtest_points('{30}')
       WHERE NOT churned GROUP BY as_of ORDER BY as_of$$,
    $$VALUES ('2024-04-01'::date, '{c2,r1,s1,s2,s3,s4}'::text[]),
             ('2024-05-02'::date, '{r1,s1,s2,s3,s4}'::text[]),
             ('2024-05-21'::date, '{r1,s1,s2,s3}'::text[])$$,
    '30 days: at those dates, the accounts still there 30 days later');
SELECT results_eq(
    $$SELECT as_of, account_id, score FROM health_score.backtest_points('{60}') WHERE churned
       ORDER BY as_of$$,
    $$VALUES ('2024-03-02'::date, 'c1', 70::float8), ('2024-04-02'::date, 'c2', 50::float8),
             ('2024-04-21'::date, 's4', 85::float8)$$,
    '60 days: c1 was still at 70 sixty days before it churned');
SELECT is((SELECT count(*) FROM health_score.backtest_points('{30,30,60}')), 36::bigint,
          'a repeated horizon counts once (18 points per horizon)');

-- ==== the figures ===============================================================================
-- Stayed scores, the same at both horizons: 90 x3, 75 x3, 40 x3, 20 x3, 85 x2, 50 x1.
-- 30 days, churned {30, 50, 85}: pairs where the churner scored lower (ties half):
--   30 -> 12, 50 -> 8 + 0.5, 85 -> 3 + 1: 24.5 of 45.
-- 60 days, churned {70, 50, 85}: 70 -> 8, 50 -> 8.5, 85 -> 4: 20.5 of 45.
SELECT results_eq(
    $$SELECT horizon_days, churned, stayed, round(auc::numeric, 10), round(churn_rate::numeric, 10),
             false_positives, round(false_positive_rate::numeric, 10),
             false_negatives, round(false_negative_rate::numeric, 10)
        FROM health_score.backtest()$$,
    $$VALUES (30, 3::bigint, 15::bigint, round(24.5 / 45, 10), round(3 / 18.0, 10),
              1::bigint, round(1 / 3.0, 10), 3::bigint, round(3 / 15.0, 10)),
             (60, 3::bigint, 15::bigint, round(20.5 / 45, 10), round(3 / 18.0, 10),
              1::bigint, round(1 / 3.0, 10), 3::bigint, round(3 / 15.0, 10)),
             (90, 3::bigint, 15::bigint, round(20.5 / 45, 10), round(3 / 18.0, 10),
              1::bigint, round(1 / 3.0, 10), 3::bigint, round(3 / 15.0, 10))$$,
    'backtest(): AUC, churn rate, false positives (green, churned) and negatives (red, stayed) by hand');
-- The lowest-scored decile of 18 points is 2 points: r1 (20) twice, which stayed.
SELECT results_eq(
    $$SELECT top_decile_churn_rate, top_decile_lift FROM health_score.backtest('{30}')$$,
    $$VALUES (0::float8, 0::float8)$$,
    'riskiest decile: r1 twice, no churn, lift 0');

-- AUC against a plain pairwise count over the same points.
SELECT is((SELECT round(auc::numeric, 12) FROM health_score.backtest('{45}')),
          (SELECT round((sum(CASE WHEN p.score < n.score THEN 1 WHEN p.score = n.score THEN 0.5 ELSE 0 END)
                         / count(*))::numeric, 12)
             FROM health_score.backtest_points('{45}') p
             JOIN health_score.backtest_points('{45}') n ON p.churned AND NOT n.churned),
          'AUC equals the share of (churned, stayed) pairs where the churner scored lower');

SELECT results_eq(
    $$SELECT band, points, churned, churn_rate FROM health_score.backtest_bands('{30}')$$,
    $$VALUES ('green', 6::bigint, 1::bigint, 1 / 6.0::float8), ('yellow', 3::bigint, 0::bigint, 0::float8),
             ('orange', 5::bigint, 1::bigint, 1 / 5.0::float8), ('red', 4::bigint, 1::bigint, 1 / 4.0::float8)$$,
    'backtest_bands: churn rate per band, best band first');

-- ==== lift ======================================================================================
-- 20 accounts scored 1..20 on 2024-01-01 and 2024-01-31; a01, a02, a10 and a15 churn on 2024-03-01.
-- At 30 days: churned {1, 2, 10, 15} against the 16 others on 2024-01-31. The riskiest decile is
-- a01 and a02, both churned: rate 1 against 4/20 overall, lift 5. AUC: (16 + 16 + 9 + 5) / 64.
CREATE TEMP TABLE saved_history AS SELECT * FROM health_score.score_history;
DELETE FROM health_score.score_history;
INSERT INTO health_score.accounts (account_id, churned_on)
SELECT format('a%s', lpad(i::text, 2, '0')), CASE WHEN i IN (1, 2, 10, 15) THEN '2024-03-01'::date END
  FROM generate_series(1, 20) i;
INSERT INTO health_score.score_history (as_of, account_id, score, band, coverage, config_version)
SELECT d, format('a%s', lpad(i::text, 2, '0')), i, health_score.band(i), 1, 1
  FROM generate_series(1, 20) i CROSS JOIN (VALUES ('2024-01-01'::date), ('2024-01-31')) v(d);
SELECT results_eq(
    $$SELECT churned, stayed, auc, churn_rate, top_decile_churn_rate, top_decile_lift
        FROM health_score.backtest('{30}')$$,
    $$VALUES (4::bigint, 16::bigint, 46 / 64.0::float8, 0.2::float8, 1::float8, 5::float8)$$,
    'lift: the riskiest decile all churned, 5 times the overall rate');
DELETE FROM health_score.score_history;
INSERT INTO health_score.score_history SELECT * FROM saved_history;

-- ==== bad arguments =============================================================================
SELECT throws_ok($$SELECT * FROM health_score.backtest('{0}')$$, '22023',
                 'horizons must be positive numbers of days, got 0', 'a horizon of 0 days is refused');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{30,-7}')$$, '22023',
                 'horizons must be positive numbers of days, got -7', 'a negative horizon is refused');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{30,NULL}')$$, '22023',
                 'horizons must be positive numbers of days, got NULL', 'a NULL horizon is refused');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{}')$$, '22023', NULL, 'no horizon is refused');
SELECT throws_ok($$SELECT * FROM health_score.backtest(NULL)$$, '22023', NULL, 'NULL horizons are refused');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{200}')$$, '22023',
                 'horizon of 200 days: no churned account has a score that long before it churned (score history 2024-01-01 to 2024-06-30)',
                 'a horizon longer than the history is refused, naming the history''s span');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{172}')$$, '22023', NULL,
                 'the longest churned life in the history is 171 days (s4): 172 is refused');
SELECT results_eq($$SELECT horizon_days, churned FROM health_score.backtest('{171}')$$,
                  $$VALUES (171, 1::bigint)$$, 'and 171 compares s4 alone');
SELECT throws_ok($$SELECT * FROM health_score.backtest_bands('{0}')$$, '22023', NULL,
                 'backtest_bands checks its horizons too');
DELETE FROM health_score.score_history;
SELECT throws_ok($$SELECT * FROM health_score.backtest()$$, 'P0002', 'score_history is empty',
                 'an empty history is refused');

SELECT * FROM finish();
ROLLBACK;
