-- Trends, band changes, alerts and sparklines over a score history written by hand, so every
-- expected figure is worked out here independently of the scoring.
BEGIN;
SELECT plan(34);

SET LOCAL timezone = 'UTC';

-- history(account, first day, scores...): one snapshot per day from the first day.
CREATE FUNCTION pg_temp.history(account text, first_day date, scores float8[], risks float8[] DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO health_score.score_history (as_of, account_id, score, band, alert_tier, coverage,
                                            churn_risk, config_version)
    SELECT first_day + (i - 1)::int, account, scores[i], health_score.band(scores[i]),
           health_score.alert_tier(scores[i]), 1, risks[i], 1
      FROM generate_subscripts(scores, 1) i
$$;

-- 31 daily snapshots, 2024-03-01 to 2024-03-31.
-- fall: 85 for 20 days then 65 (a fast decline); stable60: 60 throughout; healthy: 90;
-- linear: 50 + 0.5 * day; riser: 70 with a churn risk going from 10 % to 30 %.
SELECT pg_temp.history('fall', '2024-03-01', array_cat(array_fill(85::float8, ARRAY[20]), array_fill(65::float8, ARRAY[11])));
SELECT pg_temp.history('stable60', '2024-03-01', array_fill(60::float8, ARRAY[31]));
SELECT pg_temp.history('healthy', '2024-03-01', array_fill(90::float8, ARRAY[31]));
SELECT pg_temp.history('linear', '2024-03-01', ARRAY(SELECT 50 + 0.5 * d FROM generate_series(0, 30) d));
SELECT pg_temp.history('riser', '2024-03-01', array_fill(70::float8, ARRAY[31]),
                       ARRAY(SELECT 10 + d * 20.0 / 30 FROM generate_series(0, 30) d));

-- ==== sparkline ===============================================================================
SELECT is(health_score.sparkline('{0,12.5,25,37.5,50,62.5,75,87.5,100}'), '▁▂▃▄▅▆▇██',
          'sparkline: one eighth of the 0-100 scale per step, 100 is the full block');
SELECT is(health_score.sparkline('{-5,NULL,120}'), '▁ █',
          'sparkline: out-of-range values clamp, NULL is a space');
SELECT is(health_score.sparkline('{10,20,30}', NULL, NULL), '▁▅█',
          'sparkline with NULL bounds spans the values'' own minimum and maximum');
SELECT is(health_score.sparkline('{}'), '', 'sparkline of no values is empty');
SELECT is(health_score.sparkline(NULL), NULL, 'sparkline of NULL is NULL');
SELECT throws_ok($$SELECT health_score.sparkline('{1}', 50, 10)$$, '22023', NULL,
                 'sparkline refuses lo above hi');

-- ==== trends ===================================================================================
SELECT is((SELECT max(as_of) FROM health_score.score_trends), '2024-03-31'::date,
          'score_trends reads the latest snapshot');
SELECT is((SELECT count(*) FROM health_score.score_trends), 5::bigint, 'one trend row per account');
SELECT results_eq(
    $$SELECT score, change_7d, change_30d, change_90d, band_30d_ago, band_change
        FROM health_score.score_trends WHERE account_id = 'fall'$$,
    $$VALUES (65::numeric, 0::numeric, -20::numeric, NULL::numeric, 'green', 'green → yellow')$$,
    'fall: 0 over 7 days, -20 over 30 days, no 90-day figure, green → yellow');
SELECT is((SELECT slope_30d FROM health_score.score_trends WHERE account_id = 'linear'), 0.5::numeric,
          'slope of a score rising half a point a day is 0.5');
SELECT is((SELECT slope_30d FROM health_score.score_trends WHERE account_id = 'stable60'), 0::numeric,
          'slope of a flat score is 0');
SELECT is((SELECT sparkline FROM health_score.score_trends WHERE account_id = 'fall'),
          repeat('▇', 19) || repeat('▆', 11),
          'fall''s sparkline: 30 days, 19 at 85 then 11 at 65');
SELECT is((SELECT churn_risk_change_30d FROM health_score.score_trends WHERE account_id = 'riser'),
          20::numeric, 'riser''s churn risk rose 20 points in 30 days');
SELECT is((SELECT change_7d FROM health_score.trends('2024-03-24') WHERE account_id = 'fall'), -20::float8,
          'trends at an earlier date: fall lost 20 points in the 7 days to 2024-03-24');
SELECT is((SELECT change_7d FROM health_score.trends('2024-03-05') WHERE account_id = 'fall'), NULL::float8,
          'no change figure without a snapshot that far back');

-- ==== band changes ==============================================================================
SELECT results_eq(
    $$SELECT account_id, as_of, previous_as_of, from_band, to_band, direction, score_before, score_after
        FROM health_score.band_changes ORDER BY account_id, as_of$$,
    $$VALUES ('fall', '2024-03-21'::date, '2024-03-20'::date, 'green', 'yellow', 'downgrade', 85::numeric, 65::numeric),
             ('linear', '2024-03-21'::date, '2024-03-20'::date, 'orange', 'yellow', 'upgrade', 59.5::numeric, 60::numeric)$$,
    'band_changes: fall''s downgrade and linear''s upgrade, nothing else');

-- ==== alerts ====================================================================================
SELECT results_eq(
    $$SELECT account_id, rules, score_drop, priority FROM health_score.alerts ORDER BY priority_rank$$,
    $$VALUES ('fall', '{score_drop,band_downgrade}'::text[], 20::numeric, 35 + 20::numeric),
             ('riser', '{churn_risk_rise}'::text[], 0::numeric, 30 + 20::numeric),
             ('stable60', '{low_score}'::text[], 0::numeric, 40::numeric)$$,
    'alerts: fall (drop and downgrade), riser (risk rising), stable60 (low), in priority order');
SELECT is(ARRAY(SELECT account_id FROM health_score.alerts ORDER BY priority_rank),
          '{fall,riser,stable60}', 'ranking: the fast decline 85 -> 65 first, the stable 60 last');
SELECT is((SELECT churn_risk_rise FROM health_score.alerts WHERE account_id = 'riser'), 20::numeric,
          'riser: churn risk up 20 points within 30 days');
SELECT is((SELECT count(*) FROM health_score.alerts WHERE account_id IN ('healthy', 'linear')), 0::bigint,
          'steady or improving accounts raise no alert');

-- Configurable thresholds and windows.
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days) VALUES ('score_drop', true, 25, 30);
SELECT is((SELECT rules FROM health_score.alerts WHERE account_id = 'fall'), '{band_downgrade}'::text[],
          'a 25-point threshold no longer flags a 20-point drop');
UPDATE health_score.alert_rules SET threshold = 20, window_days = 5 WHERE rule = 'score_drop';
SELECT is((SELECT score_drop FROM health_score.alerts WHERE account_id = 'fall'), 0::numeric,
          'a 5-day window does not see a drop 11 days old');
UPDATE health_score.alert_rules SET window_days = 11 WHERE rule = 'score_drop';
SELECT is((SELECT rules FROM health_score.alerts WHERE account_id = 'fall'), '{score_drop,band_downgrade}'::text[],
          'an 11-day window sees it again (2024-03-20 is 11 days before 2024-03-31)');
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days) VALUES ('low_score', false, 60, 1);
SELECT is((SELECT count(*) FROM health_score.alerts WHERE account_id = 'stable60'), 0::bigint,
          'a disabled rule raises nothing');
SELECT is((SELECT is_default FROM health_score.effective_alert_rules WHERE rule = 'churn_risk_rise'), true,
          'rules without an override keep their default');
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days, weight)
VALUES ('churn_risk_rise', true, 15, 30, 2);
SELECT is((SELECT priority FROM health_score.alerts WHERE account_id = 'riser'), 30 + 2 * 20::numeric,
          'the weight scales the churn-risk rise in the priority');
SELECT throws_ok($$INSERT INTO health_score.alert_rules VALUES ('score_drop_fast', true, 20, 30, 1)$$,
                 '23514', NULL, 'alert_rules refuses an unknown rule');
SELECT throws_ok($$UPDATE health_score.alert_rules SET window_days = 0 WHERE rule = 'score_drop'$$,
                 '23514', NULL, 'alert_rules refuses a window of 0 days');
DELETE FROM health_score.alert_rules;

-- The ranking claim itself, with a fresh 85 -> 65 account against stable 60 and stable 55.
SELECT pg_temp.history('decline', '2024-03-01', ARRAY(SELECT 85 - greatest(0, d - 10) FROM generate_series(0, 30) d)::float8[]);
SELECT pg_temp.history('stable55', '2024-03-01', array_fill(55::float8, ARRAY[31]));
SELECT is((SELECT score FROM health_score.alerts WHERE account_id = 'decline'), 65::numeric,
          'decline ends at 65');
SELECT cmp_ok((SELECT priority_rank FROM health_score.alerts WHERE account_id = 'decline'), '<',
              (SELECT priority_rank FROM health_score.alerts WHERE account_id = 'stable60'),
              'a decline 85 -> 65 ranks above a stable 60');
SELECT cmp_ok((SELECT priority_rank FROM health_score.alerts WHERE account_id = 'decline'), '<',
              (SELECT priority_rank FROM health_score.alerts WHERE account_id = 'stable55'),
              'and above a stable 55');
SELECT is((SELECT alert_tier FROM health_score.alerts WHERE account_id = 'stable55'), 'at_risk',
          'alerts carry the alert tier');
SELECT is(ARRAY(SELECT priority_rank FROM health_score.alerts ORDER BY priority DESC, score, account_id),
          ARRAY(SELECT generate_series(1, (SELECT count(*) FROM health_score.alerts))),
          'priority_rank follows priority');
SELECT is((SELECT count(*) FROM health_score.alerts_at('2024-03-15') WHERE account_id = 'fall'), 0::bigint,
          'alerts at an earlier date: fall was still fine on 2024-03-15');

SELECT * FROM finish();
ROLLBACK;
