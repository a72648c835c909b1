-- Alert windows at any snapshot cadence, and the unusual_drop rule, over score histories written
-- by hand: every expected figure is worked out here, independently of alerts_at.
BEGIN;
SELECT plan(40);

SET LOCAL timezone = 'UTC';

-- put(account, days, scores, risks): one snapshot per day given.
CREATE FUNCTION pg_temp.put(account text, days date[], scores float8[], risks float8[] DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO health_score.score_history (as_of, account_id, score, band, alert_tier, coverage,
                                            churn_risk, config_version)
    SELECT days[i], account, round(scores[i]::numeric, 2)::float8, health_score.band(scores[i]),
           health_score.alert_tier(scores[i]), 1, risks[i], 1
      FROM generate_subscripts(days, 1) i
$$;

-- ==== windows and snapshot cadence ==============================================================
-- The same account, snapshotted daily, weekly and at month ends up to 2024-07-31: 85 with a
-- churn risk of 10 % until 2024-07-09, then 62 and 40 %. A flat account beside each: 85, 10 %.
-- 2024-07-31 - 30 days is 2024-07-01: the daily history has a snapshot there, the weekly one
-- 5 days before it (2024-06-26), the monthly one 1 day before it (2024-06-30).
CREATE TEMP TABLE cadence (name text, days date[]);
INSERT INTO cadence VALUES
    ('daily', ARRAY(SELECT d::date FROM generate_series('2024-01-01'::date, '2024-07-31', '1 day') d)),
    ('weekly', ARRAY(SELECT ('2024-07-31'::date - 7 * k) FROM generate_series(30, 0, -1) k)),
    ('monthly', ARRAY(SELECT (date_trunc('month', '2024-01-01'::date + make_interval(months => k))
                              + interval '1 month - 1 day')::date FROM generate_series(0, 6) k));
SELECT pg_temp.put('fall_' || c.name, c.days,
                   ARRAY(SELECT CASE WHEN d < '2024-07-10' THEN 85 ELSE 62 END::float8 FROM unnest(c.days) d),
                   ARRAY(SELECT CASE WHEN d < '2024-07-10' THEN 10 ELSE 40 END::float8 FROM unnest(c.days) d)),
       pg_temp.put('flat_' || c.name, c.days, array_fill(85::float8, ARRAY[cardinality(c.days)]),
                   array_fill(10::float8, ARRAY[cardinality(c.days)]))
  FROM cadence c;

SELECT is((SELECT array_agg(d ORDER BY d) FROM unnest((SELECT days FROM cadence WHERE name = 'monthly')) d
            WHERE d >= '2024-05-31'), '{2024-05-31,2024-06-30,2024-07-31}'::date[],
          'the monthly history is at month ends, 31 and 30 days apart');
SELECT results_eq(
    $$SELECT account_id, score_drop, churn_risk_rise, best_band, 'score_drop' = ANY (rules),
             'churn_risk_rise' = ANY (rules), 'band_downgrade' = ANY (rules)
        FROM health_score.alerts_at('2024-07-31') ORDER BY account_id$$,
    $$VALUES ('fall_daily', 23::float8, 30::float8, 'green', true, true, true),
             ('fall_monthly', 23::float8, 30::float8, 'green', true, true, true),
             ('fall_weekly', 23::float8, 30::float8, 'green', true, true, true)$$,
    'daily, weekly and monthly histories of the same fall all raise score_drop, churn_risk_rise and band_downgrade; the flat accounts nothing');
SELECT is((SELECT rules FROM health_score.alerts_at('2024-07-31') WHERE account_id = 'fall_monthly'),
          '{score_drop,churn_risk_rise,band_downgrade}'::text[],
          'monthly: the window reaches back to the month end before it (four past changes are too few for unusual_drop)');
SELECT is((SELECT count(*) FROM health_score.alerts_at('2024-07-31') WHERE account_id LIKE 'flat%'), 0::bigint,
          'a flat account raises nothing at any cadence');

-- The tolerance: a 30-day window reaches back at most greatest(7, 30 / 4) = 7 days before
-- 2024-07-01, to 2024-06-24; a 60-day window at most 15 days before 2024-06-01, to 2024-05-17.
SELECT pg_temp.put('gap37', '{2024-06-24,2024-07-31}', '{85,62}'),
       pg_temp.put('gap38', '{2024-06-23,2024-07-31}', '{85,62}'),
       pg_temp.put('gap75', '{2024-05-17,2024-07-31}', '{85,62}'),
       pg_temp.put('gap76', '{2024-05-16,2024-07-31}', '{85,62}'),
       -- two snapshots before the window: it starts at the later one
       pg_temp.put('two_before', '{2024-06-24,2024-06-28,2024-07-31}', '{85,70,50}');
SELECT is((SELECT score_drop FROM health_score.alerts_at('2024-07-31') WHERE account_id = 'gap37'), 23::float8,
          '30-day window: a snapshot 37 days back (7 days before the window) is compared with');
SELECT is((SELECT count(*) FROM health_score.alerts_at('2024-07-31') WHERE account_id = 'gap38'), 0::bigint,
          '30-day window: a snapshot 38 days back is not');
SELECT is((SELECT score_drop FROM health_score.alerts_at('2024-07-31') WHERE account_id = 'two_before'), 20::float8,
          'the window starts at the latest snapshot at or before 30 days back (70), not an older one (85)');
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days) VALUES ('score_drop', true, 20, 60);
SELECT is((SELECT score_drop FROM health_score.alerts_at('2024-07-31') WHERE account_id = 'gap75'), 23::float8,
          '60-day window: a snapshot 75 days back (15 = 60 / 4 days before the window) is compared with');
SELECT is((SELECT count(*) FROM health_score.alerts_at('2024-07-31') WHERE account_id = 'gap76'), 0::bigint,
          '60-day window: a snapshot 76 days back is not');
DELETE FROM health_score.alert_rules;

-- ==== unusual_drop ==============================================================================
SELECT results_eq(
    $$SELECT enabled, threshold, window_days, weight, min_history, is_default
        FROM health_score.effective_alert_rules WHERE rule = 'unusual_drop'$$,
    $$VALUES (true, 3.5::float8, 30, 1::float8, 8, true)$$,
    'unusual_drop is on by default: 3.5 robust z-scores over 30 days, given 8 past changes');

-- Worked by hand, with snapshots exactly 30 days apart so that each change is the step from the
-- snapshot before: 90, then the changes -4, 4, -8, 0, -12, 8, -4, 0, then -30 at 2025-09-28.
-- Sorted, the eight past changes are -12 -8 -4 -4 0 0 4 8: median -2; their distances from it
-- 2 2 2 2 6 6 10 10: MAD 4. z = (-30 - -2) / (1.4826 * 4) = -4.7214...
SELECT pg_temp.put('handmade', ARRAY(SELECT '2025-01-01'::date + 30 * k FROM generate_series(0, 9) k),
                   '{90,86,90,82,82,70,78,74,74,44}');
-- The same without its first snapshot: seven past changes.
SELECT pg_temp.put('short', ARRAY(SELECT '2025-01-01'::date + 30 * k FROM generate_series(1, 9) k),
                   '{86,90,82,82,70,78,74,74,44}');
-- Never moved (MAD 0, taken as 2 points): a fall of 10 is z = -10 / 2.9652 = -3.37, of 11 -3.71.
SELECT pg_temp.put('flat10', ARRAY(SELECT '2025-01-01'::date + 30 * k FROM generate_series(0, 9) k),
                   array_append(array_fill(75::float8, ARRAY[9]), 65)),
       pg_temp.put('flat11', ARRAY(SELECT '2025-01-01'::date + 30 * k FROM generate_series(0, 9) k),
                   array_append(array_fill(75::float8, ARRAY[9]), 64));
-- Ramping up by 10 every 30 days, then 1 point down: against its median (+10) that is
-- z = -11 / 2.9652 = -3.71, but a rise that stops is no drop: measured from 0, z = -0.34.
SELECT pg_temp.put('ramp', ARRAY(SELECT '2025-01-01'::date + 30 * k FROM generate_series(0, 9) k),
                   '{5,15,25,35,45,55,65,75,85,84}');

SELECT results_eq(
    $$SELECT compared_with, score_change, past_changes, median_change, mad, z
        FROM health_score.score_change_z('2025-09-28') WHERE account_id = 'handmade'$$,
    $$VALUES ('2025-08-29'::date, -30::float8, 8, -2::float8, 4::float8, -28 / (1.4826::float8 * 4))$$,
    'score_change_z: the change, its comparison snapshot, and the median, MAD and z worked by hand');
SELECT is((SELECT rules FROM health_score.alerts_at('2025-09-28') WHERE account_id = 'handmade'),
          '{score_drop,unusual_drop,band_downgrade,low_score}'::text[], 'handmade: unusual_drop fires');
SELECT is((SELECT priority FROM health_score.alerts_at('2025-09-28') WHERE account_id = 'handmade'),
          (100 - 44) + 30 + (-2 - -30)::float8,
          'its priority: 56 below 100, 30 points lost, 28 points below its median change');
SELECT results_eq(
    $$SELECT past_changes, z FROM health_score.score_change_z('2025-09-28') WHERE account_id = 'short'$$,
    $$VALUES (7, NULL::float8)$$, 'seven past changes are too few: no z');
SELECT is((SELECT 'unusual_drop' = ANY (rules) FROM health_score.alerts_at('2025-09-28') WHERE account_id = 'short'),
          false, 'and no unusual_drop, though the fall is the same');
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days, min_history)
VALUES ('unusual_drop', true, 3.5, 30, 7);
SELECT is((SELECT 'unusual_drop' = ANY (rules) FROM health_score.alerts_at('2025-09-28') WHERE account_id = 'short'),
          true, 'with min_history = 7 it fires');
DELETE FROM health_score.alert_rules;
SELECT results_eq(
    $$SELECT account_id, mad, z FROM health_score.score_change_z('2025-09-28')
       WHERE account_id IN ('flat10', 'flat11') ORDER BY 1$$,
    $$VALUES ('flat10', 0::float8, -10 / (1.4826::float8 * 2)), ('flat11', 0::float8, -11 / (1.4826::float8 * 2))$$,
    'MAD 0 is taken as 2 points: no division by zero');
SELECT is(ARRAY(SELECT account_id FROM health_score.alerts_at('2025-09-28')
                 WHERE 'unusual_drop' = ANY (rules) AND account_id LIKE 'flat%'), '{flat11}'::text[],
          'a flat account alerts on a fall of 11 points (z -3.71), not of 10 (z -3.37)');
SELECT results_eq(
    $$SELECT median_change, z FROM health_score.score_change_z('2025-09-28') WHERE account_id = 'ramp'$$,
    $$VALUES (10::float8, -1 / (1.4826::float8 * 2))$$,
    'ramp: a change below a rising median is measured from 0');
SELECT is((SELECT count(*) FROM health_score.alerts_at('2025-09-28') WHERE account_id = 'ramp'), 0::bigint,
          'a ramp that stops rising raises nothing');

-- Steady and volatile: weekly snapshots up to 2025-06-30 (31 of them). steady sits at 78 and
-- wobbles half a point; volatile swings around 60 by up to 30 points a week. Both fall 15
-- points after 2025-06-02 (so the last four snapshots are 15 lower).
CREATE TEMP TABLE weekly AS
SELECT j, ('2025-06-30'::date - 7 * (30 - j)) AS day,
       CASE WHEN '2025-06-30'::date - 7 * (30 - j) > '2025-06-02' THEN -15 ELSE 0 END AS fall
  FROM generate_series(0, 30) j;
SELECT pg_temp.put('steady', ARRAY(SELECT day FROM weekly ORDER BY j),
                   ARRAY(SELECT 78 + 0.5 * sin(2.3 * j + 1.15) + fall FROM weekly ORDER BY j)),
       pg_temp.put('volatile', ARRAY(SELECT day FROM weekly ORDER BY j),
                   ARRAY(SELECT 60 + 16.5 * sin(2.3 * j + 1.15) + fall FROM weekly ORDER BY j)),
       pg_temp.put('stable60w', ARRAY(SELECT day FROM weekly ORDER BY j), array_fill(60::float8, ARRAY[31]));
SELECT cmp_ok((SELECT max(abs(h.score - p.score)) FROM health_score.score_history h
                 JOIN health_score.score_history p ON p.account_id = h.account_id AND p.as_of = h.as_of - 7
                WHERE h.account_id = 'volatile' AND h.as_of <= '2025-06-02'), '>=', 29::float8,
              'volatile swings up to 30 points a week');

-- An independent computation: for each snapshot at least 30 days back, its change against the
-- latest snapshot 30 to 37 days before it (one lookup each), the median by sorting, the MAD.
CREATE FUNCTION pg_temp.median(v float8[]) RETURNS float8 LANGUAGE sql AS $$
    SELECT CASE WHEN n % 2 = 1 THEN s[n / 2 + 1] ELSE (s[n / 2] + s[n / 2 + 1]) / 2 END
      FROM (SELECT ARRAY(SELECT x FROM unnest(v) x ORDER BY x) AS s, cardinality(v) AS n) q
$$;
CREATE FUNCTION pg_temp.change(account text, on_day date) RETURNS float8 LANGUAGE sql AS $$
    SELECT round((h.score - (SELECT p.score FROM health_score.score_history p
                              WHERE p.account_id = account AND p.as_of BETWEEN on_day - 37 AND on_day - 30
                              ORDER BY p.as_of DESC LIMIT 1))::numeric, 2)::float8
      FROM health_score.score_history h WHERE h.account_id = account AND h.as_of = on_day
$$;
CREATE TEMP TABLE expected_z AS
SELECT a.account, pg_temp.change(a.account, '2025-06-30') AS change, cardinality(c.past) AS n,
       pg_temp.median(c.past) AS median,
       pg_temp.median(ARRAY(SELECT abs(x - pg_temp.median(c.past)) FROM unnest(c.past) x)) AS mad
  FROM (VALUES ('steady'), ('volatile')) a(account)
 CROSS JOIN LATERAL (SELECT ARRAY(SELECT pg_temp.change(a.account, h.as_of) FROM health_score.score_history h
                                   WHERE h.account_id = a.account AND h.as_of <= '2025-06-30'::date - 30
                                     AND pg_temp.change(a.account, h.as_of) IS NOT NULL) AS past) c;
SELECT results_eq(
    $$SELECT account_id, past_changes, round(z::numeric, 9) FROM health_score.score_change_z('2025-06-30')
       WHERE account_id IN ('steady', 'volatile') ORDER BY 1$$,
    $$SELECT account, n, round(((change - least(median, 0)) / (1.4826 * greatest(mad, 2)))::numeric, 9)
        FROM expected_z ORDER BY 1$$,
    'score_change_z matches the independent computation for steady and volatile');
SELECT is((SELECT n FROM expected_z WHERE account = 'steady'), 21, 'each has 21 past changes (weekly, 30 days or more back, with a snapshot 35 days before them)');
SELECT cmp_ok((SELECT z FROM health_score.score_change_z('2025-06-30') WHERE account_id = 'steady'), '<', -4::float8,
              'steady: a 15-point fall is more than 4 robust z-scores below its past changes');
SELECT cmp_ok((SELECT z FROM health_score.score_change_z('2025-06-30') WHERE account_id = 'volatile'), '>', -2::float8,
              'volatile: the same fall is less than 2 below its own');
SELECT is((SELECT rules FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'steady'), '{unusual_drop}'::text[],
          'the steady account''s 15-point fall raises unusual_drop, and only it (below score_drop''s 20 points, no band change, above 60)');
SELECT is((SELECT 'unusual_drop' = ANY (rules) FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'volatile'),
          false, 'the same fall of the volatile account does not');
SELECT is((SELECT priority FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'steady'),
          (SELECT round(((100 - h.score) + a.score_drop + least(e.median, 0) - e.change)::numeric, 4)::float8
             FROM health_score.score_history h, health_score.alerts_at('2025-06-30') a, expected_z e
            WHERE h.account_id = 'steady' AND h.as_of = '2025-06-30' AND a.account_id = 'steady' AND e.account = 'steady'),
          'steady''s priority: points below 100, points lost, and the points of its fall below its median change (or 0)');
SELECT cmp_ok((SELECT priority_rank FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'steady'), '<',
              (SELECT priority_rank FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'stable60w'),
              'ranked with the other alerts: the steady account''s sudden fall to 63 comes before a stable 60');
SELECT is((SELECT priority FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'stable60w'), 40::float8,
          'a stable 60 keeps its priority of 40');

-- Settings.
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days, weight) VALUES ('unusual_drop', true, 3.5, 30, 0);
SELECT is((SELECT priority FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'steady'),
          (SELECT round(((100 - h.score) + a.score_drop)::numeric, 4)::float8
             FROM health_score.score_history h, health_score.alerts_at('2025-06-30') a
            WHERE h.account_id = 'steady' AND h.as_of = '2025-06-30' AND a.account_id = 'steady'),
          'weight 0: the unusual fall no longer adds to the priority');
UPDATE health_score.alert_rules SET threshold = 6, weight = 1 WHERE rule = 'unusual_drop';
SELECT is((SELECT count(*) FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'steady'), 0::bigint,
          'a threshold of 6 z-scores is beyond the steady account''s fall');
UPDATE health_score.alert_rules SET threshold = 3.5, enabled = false WHERE rule = 'unusual_drop';
SELECT is((SELECT count(*) FROM health_score.alerts_at('2025-06-30') WHERE account_id = 'steady'), 0::bigint,
          'disabled, unusual_drop raises nothing');
SELECT isnt((SELECT z FROM health_score.score_change_z('2025-06-30') WHERE account_id = 'steady'), NULL,
            'score_change_z still reports the z');
UPDATE health_score.alert_rules SET enabled = true, window_days = 14 WHERE rule = 'unusual_drop';
SELECT is((SELECT compared_with FROM health_score.score_change_z('2025-06-30') WHERE account_id = 'steady'),
          '2025-06-16'::date, 'the rule''s window_days sets the window of the changes compared');
DELETE FROM health_score.alert_rules;

-- Validation names the rule and the column.
SELECT throws_ok($$INSERT INTO health_score.alert_rules VALUES ('unusual_drop', true, 0, 30, 1)$$, '23514',
                 'alert rule unusual_drop: threshold is the robust z-score a fall must reach and must be above 0 and at most 100, got 0',
                 'unusual_drop refuses a threshold of 0');
SELECT throws_ok($$INSERT INTO health_score.alert_rules VALUES ('unusual_drop', true, 3.5, 30, 1, 1)$$, '23514',
                 'alert rule unusual_drop: min_history must be at least 2 past changes (a median and a spread need two), got 1',
                 'unusual_drop refuses a min_history of 1');
SELECT throws_ok($$INSERT INTO health_score.alert_rules VALUES ('score_drop', true, 20, 30, 1, 8)$$, '23514',
                 'alert rule score_drop: min_history applies to unusual_drop only, got 8',
                 'min_history is refused on another rule');
SELECT throws_ok($$INSERT INTO health_score.alert_rules VALUES ('unusual_drop', true, 3.5, 36501, 1)$$, '23514',
                 'alert rule unusual_drop: window_days must be within 1 and 36500, got 36501',
                 'a window of more than 100 years is refused');
SELECT lives_ok($$INSERT INTO health_score.alert_rules VALUES ('unusual_drop', false, 2.5, 90, 0.5, 12)$$,
                'a valid unusual_drop override is accepted');

SELECT * FROM finish();
ROLLBACK;
