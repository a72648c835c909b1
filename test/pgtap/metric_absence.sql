-- No event is a zero, not a gap, and rates are read over the time an account has existed.
-- metrics.absent_means = 'zero' (the default of decayed_sum, decayed_rate and days_since) gives
-- an account live at as_of with no observation of the metric's input a raw value of 0, or for
-- days_since the days since accounts.started_on, which then goes through the metric's curve;
-- 'unknown' (decayed_avg, latest) leaves the metric out as before. A decayed_rate is the decayed
-- sum over the decayed exposure since started_on, (h / ln 2)(1 - 2^(-A/h)) for a half-life of
-- h days and A days since started_on (at most max_age, at least 7), instead of an endless
-- history's h / ln 2. Every expected number here is computed from its closed form.
BEGIN;
SELECT plan(31);
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = error;   -- the feed's bad row is expected
\ir ../lib/helpers.sql

CREATE TEMP TABLE t_as_of AS SELECT timestamptz '2025-06-30 00:00+00' AS as_of;
INSERT INTO health_score.accounts (account_id, started_on) VALUES
 ('ab-young', '2025-05-31'),   -- 30 days old, a login every day
 ('ab-new', '2025-06-27'),     -- 3 days old, a login every day
 ('ab-old', '2020-01-01'),     -- years old, a login every day for 60 days
 ('ab-nostart', NULL),         -- start unknown, a login every day for 30 days
 ('ab-idle', '2025-01-01'),    -- 180 days old: surveys and levels, never a login
 ('ab-blank', '2025-06-20'),   -- 10 days old, no observation at all
 ('ab-blank-nostart', NULL),   -- start unknown, no observation at all
 ('ab-bad', '2025-01-01');     -- its only login row, in a feed, is NaN
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a, 'login', timestamptz '2025-06-30 00:00+00' - k * interval '1 day', 1
  FROM (VALUES ('ab-young', 30), ('ab-new', 4), ('ab-old', 60), ('ab-nostart', 30)) v(a, n),
       generate_series(0, n - 1) k
UNION ALL
SELECT 'ab-idle', m, timestamptz '2025-06-01 00:00+00', v
  FROM (VALUES ('seat_penetration', 86), ('executive_sponsor', 3), ('nps', 9), ('outcome_achievement', 80),
               ('payment_behaviour', 0)) x(m, v);
CREATE TABLE pg_temp.t_feed (account_id text, metric text, observed_at timestamptz, value float8);
INSERT INTO pg_temp.t_feed VALUES ('ab-bad', 'login', '2025-06-29 00:00+00', 'NaN');
INSERT INTO health_score.feeds (name, relation) VALUES ('ab_feed', 'pg_temp.t_feed');

-- sums(n, h): the decayed count of daily events at as_of, as_of - 1 day, ..., as_of - (n-1) days
CREATE FUNCTION pg_temp.sums(n int, h float8) RETURNS float8 LANGUAGE sql IMMUTABLE
AS $$ SELECT sum(2 ^ (-k / h)) FROM generate_series(0, n - 1) k $$;
-- exposure(a, h): the decayed days of a history of a days, h / ln 2 * (1 - 2^(-a/h))
CREATE FUNCTION pg_temp.exposure(a float8, h float8) RETURNS float8 LANGUAGE sql IMMUTABLE
AS $$ SELECT h / ln(2) * (1 - 2 ^ (-a / h)) $$;

CREATE TEMP TABLE t_ms AS SELECT * FROM health_score.metric_scores((SELECT as_of FROM t_as_of)) WHERE account_id LIKE 'ab-%';
CREATE TEMP TABLE t_as AS SELECT * FROM health_score.account_scores((SELECT as_of FROM t_as_of)) WHERE account_id LIKE 'ab-%';
CREATE FUNCTION pg_temp.raw(a text, m text) RETURNS float8 LANGUAGE sql STABLE
AS $$ SELECT raw_value FROM t_ms WHERE account_id = a AND metric = m $$;

-- ==== the seeded defaults and the validation ===================================================
SELECT is(ARRAY(SELECT name FROM health_score.metrics WHERE is_default AND absent_means = 'zero' ORDER BY name),
          '{champion_advocacy,expansion_conversations,login_frequency,login_recency,support_tickets}',
          'seeded: zero for the decayed_sum, decayed_rate and days_since metrics');
SELECT is((SELECT bool_and(absent_means = CASE WHEN aggregation IN ('decayed_sum', 'decayed_rate', 'days_since')
                                               THEN 'zero' ELSE 'unknown' END) FROM health_score.metrics), true,
          'every seeded metric follows the rule by aggregation');
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, breakpoints, scores, direction)
VALUES ('ab_calls', 'product', 1, 'ab_calls', 'decayed_rate', '{0,1}', '{0,100}', 'higher'),
       ('ab_level', 'product', 1, 'ab_level', 'latest', '{0,1}', '{0,100}', 'higher');
SELECT is(ARRAY(SELECT absent_means FROM health_score.metrics WHERE name IN ('ab_calls', 'ab_level') ORDER BY name),
          '{zero,unknown}', 'left out on insert, absent_means takes the default of the aggregation');
UPDATE health_score.metrics SET absent_means = 'unknown' WHERE name = 'ab_calls';
SELECT is((SELECT absent_means FROM health_score.metrics WHERE name = 'ab_calls'), 'unknown', 'an explicit value is kept');
UPDATE health_score.metrics SET absent_means = NULL WHERE name = 'ab_calls';
SELECT is((SELECT absent_means FROM health_score.metrics WHERE name = 'ab_calls'), 'zero', 'NULL sets the default again');
SELECT throws_ok($$UPDATE health_score.metrics SET absent_means = 'nothing' WHERE name = 'ab_calls'$$, '23514',
                 'metric "ab_calls": absent_means must be unknown or zero, got "nothing"',
                 'any other value is refused, naming the metric');
DELETE FROM health_score.metrics WHERE name IN ('ab_calls', 'ab_level');

-- ==== rates over the time an account has existed ===============================================
SELECT ok(pg_temp.near(pg_temp.raw('ab-young', 'login_frequency'), pg_temp.sums(30, 30) / pg_temp.exposure(30, 30)),
          'a daily login for the 30 days since the start: the decayed count over (30 / ln 2)(1 - 2^-1) days');
SELECT ok(pg_temp.raw('ab-young', 'login_frequency') BETWEEN 0.99 AND 1.03,
          'which is a rate of about 1 a day (' || round(pg_temp.raw('ab-young', 'login_frequency')::numeric, 4) || ')');
SELECT ok(pg_temp.sums(30, 30) * ln(2) / 30 BETWEEN 0.49 AND 0.52,
          'over an endless history the same logins read as about 0.5 a day');
SELECT ok(pg_temp.near(pg_temp.raw('ab-new', 'login_frequency'), pg_temp.sums(4, 30) / pg_temp.exposure(7, 30)),
          'an account 3 days old is read over the minimum exposure of 7 days');
SELECT ok(pg_temp.near(pg_temp.raw('ab-old', 'login_frequency'), pg_temp.sums(60, 30) * ln(2) / 30),
          'years after the start the exposure is an endless history''s, h / ln 2');
SELECT ok(pg_temp.near(pg_temp.raw('ab-nostart', 'login_frequency'), pg_temp.sums(30, 30) * ln(2) / 30),
          'without started_on, the endless history''s exposure stays');
SELECT ok(pg_temp.near(pg_temp.raw('ab-young', 'login_frequency'), pg_temp.raw('ab-nostart', 'login_frequency') / (1 - 2 ^ (-1.0))),
          'the same logins read as twice the rate once the account is known to be 30 days old');
SELECT is((SELECT sub_score FROM t_ms WHERE account_id = 'ab-young' AND metric = 'login_frequency'),
          health_score.scale(pg_temp.raw('ab-young', 'login_frequency'), '{0,0.033,0.07,0.143,0.7,1}', '{0,30,50,70,90,100}'),
          'and the curve reads the corrected rate');

-- max_age caps the exposure: only the last 10 days of an old account's logins count
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, max_age, breakpoints, scores, direction)
VALUES ('ab_rate_10d', 'product', 1, 'login', 'decayed_rate', '30 days', '10 days', '{0,1}', '{0,100}', 'higher'),
       ('ab_recency_10d', 'product', 1, 'login', 'days_since', '30 days', '10 days', '{0,60}', '{100,0}', 'lower');
SELECT ok(pg_temp.near((SELECT raw_value FROM health_score.metric_scores((SELECT as_of FROM t_as_of))
                         WHERE account_id = 'ab-old' AND metric = 'ab_rate_10d'),
                       pg_temp.sums(10, 30) / pg_temp.exposure(10, 30)),
          'with max_age 10 days, the exposure is that of 10 days');
UPDATE health_score.observations SET observed_at = observed_at - interval '20 days' WHERE account_id = 'ab-old';
SELECT is((SELECT raw_value FROM health_score.metric_scores((SELECT as_of FROM t_as_of))
            WHERE account_id = 'ab-old' AND metric = 'ab_recency_10d'), 10::float8,
          'days_since with no login within max_age: max_age days, what the metric can see');
SELECT is((SELECT raw_value FROM health_score.metric_scores((SELECT as_of FROM t_as_of))
            WHERE account_id = 'ab-old' AND metric = 'ab_rate_10d'), 0::float8,
          'and the rate is 0');
UPDATE health_score.observations SET observed_at = observed_at + interval '20 days' WHERE account_id = 'ab-old';
DELETE FROM health_score.metrics WHERE name IN ('ab_rate_10d', 'ab_recency_10d');

-- ==== no event is a zero ========================================================================
SELECT results_eq($$SELECT metric, raw_value, round(sub_score::numeric, 9) FROM t_ms WHERE account_id = 'ab-blank' ORDER BY metric$$,
                  $$VALUES ('champion_advocacy', 0::float8, 40::numeric), ('expansion_conversations', 0, 50),
                           ('login_frequency', 0, 0), ('login_recency', 10, round(75 + (55 - 75) * (10 - 7) / 7.0, 9)),
                           ('support_tickets', 0, 60)$$,
                  'an account without any observation has the zero metrics: 0, and 10 days since its start');
SELECT is((SELECT count(*) FROM t_ms WHERE account_id = 'ab-blank-nostart' AND metric = 'login_recency'), 0::bigint,
          'without started_on, days_since stays unknown');
SELECT is((SELECT count(*) FROM t_ms WHERE account_id = 'ab-blank-nostart'), 4::bigint,
          'and the other zero metrics are 0');
SELECT results_eq($$SELECT metric, raw_value FROM t_ms WHERE account_id = 'ab-idle' AND metric LIKE 'login%' ORDER BY metric$$,
                  $$VALUES ('login_frequency', 0::float8), ('login_recency', 180::float8)$$,
                  'an account that never logged in: a rate of 0, 180 days since its start');
SELECT is((SELECT count(*) FROM t_ms WHERE account_id = 'ab-idle'
            AND metric IN ('workflow_completion', 'feature_adoption', 'csat', 'roi')), 0::bigint,
          'unknown metrics without observations stay out');
-- by hand, unweighted segment: product (3 x 0 + 2 x 0 + 3 x 95) / 8; relationship (3 x 95 + 2 x 87.5
-- + 60 tickets + 40 advocacy) / 7; business (4 x 83.33 + 2 x 100 + 50 expansion) / 7; 40/30/30
SELECT results_eq($$SELECT score, coverage, band FROM t_as WHERE account_id = 'ab-idle'$$,
                  $$SELECT round(((40 * 285 / 8.0) + (30 * 560 / 7.0) + (30 * (4 * (75 + 25 / 3.0) + 250) / 7.0)) / 100, 2)::float8,
                           round((8 / 15.0 * 0.4 + 7 / 14.0 * 0.3 + 7 / 12.0 * 0.3), 4)::float8, 'yellow'$$,
                  'the idle account scores low: its zeros go through the curves, coverage counts them');
SELECT results_eq($$SELECT score, coverage, reason FROM t_as WHERE account_id = 'ab-blank'$$,
                  $$VALUES (NULL::float8, round((5 / 15.0 * 0.4 + 2 / 14.0 * 0.3 + 1 / 12.0 * 0.3), 4)::float8,
                            'coverage 0.2012 below min_coverage 0.5')$$,
                  'an account without observations has the coverage of its zero metrics');

-- the same book with every metric unknown when absent: the behaviour before absent_means
UPDATE health_score.metrics SET absent_means = 'unknown';
CREATE TEMP TABLE t_ms_unknown AS SELECT * FROM health_score.metric_scores((SELECT as_of FROM t_as_of)) WHERE account_id LIKE 'ab-%';
CREATE TEMP TABLE t_as_unknown AS SELECT * FROM health_score.account_scores((SELECT as_of FROM t_as_of)) WHERE account_id LIKE 'ab-%';
SELECT results_eq($$SELECT score, coverage, reason FROM t_as_unknown WHERE account_id = 'ab-idle'$$,
                  $$VALUES (NULL::float8, round((3 / 15.0 * 0.4 + 5 / 14.0 * 0.3 + 6 / 12.0 * 0.3), 4)::float8,
                            'coverage 0.3371 below min_coverage 0.5')$$,
                  'with unknown, the idle account''s logins are left out and it falls under min_coverage');
SELECT is((SELECT count(*) FROM t_ms_unknown WHERE account_id IN ('ab-blank', 'ab-blank-nostart')), 0::bigint,
          'with unknown, accounts without observations have no metric rows');
SELECT is((SELECT reason FROM t_as_unknown WHERE account_id = 'ab-blank'), 'no observations',
          'and no score, for want of observations');
-- (to 1e-12: a parallel plan may sum the rows of an account in another order)
SELECT is((SELECT count(*) FROM t_ms z
             LEFT JOIN t_ms_unknown u USING (account_id, metric)
            WHERE z.raw_value <> 0 AND z.metric <> 'login_recency'
              AND NOT coalesce(abs(z.raw_value - u.raw_value) <= 1e-12 * greatest(abs(u.raw_value), 1)
                               AND abs(z.sub_score - u.sub_score) <= 1e-12 * greatest(abs(u.sub_score), 1), false)), 0::bigint,
          'every observed value is the same under unknown');
UPDATE health_score.metrics SET absent_means = NULL;

-- ==== a bad row is never a zero ==================================================================
SELECT results_eq($$SELECT metric, raw_value FROM t_ms WHERE account_id = 'ab-bad' AND metric LIKE 'login%' ORDER BY metric$$,
                  $$VALUES ('login_frequency', NULL::float8), ('login_recency', NULL)$$,
                  'a login input spoilt by a NaN row has no value, not 0');
SELECT results_eq($$SELECT score, reason FROM t_as WHERE account_id = 'ab-bad'$$,
                  $$VALUES (NULL::float8, 'feed "ab_feed": login has value NaN')$$,
                  'and the account''s score is NULL, with the reason');
SELECT results_eq($$SELECT metric, raw_value FROM t_ms WHERE account_id = 'ab-bad' AND raw_value IS NOT NULL ORDER BY metric$$,
                  $$VALUES ('champion_advocacy', 0::float8), ('expansion_conversations', 0), ('support_tickets', 0)$$,
                  'its other zero metrics are 0');

SELECT * FROM finish();
ROLLBACK;
