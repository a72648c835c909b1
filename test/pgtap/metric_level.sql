-- The metric level of scoring (the function metric_level, src/metric_level.c) gives the rows
-- the SQL formulation it replaced gave, kept in test/lib/metric_rows_reference.sql: every
-- column of every metric row equal to the bit, from the same raw values, on the demo book
-- (300 accounts) at three dates, after configuration changes (absent_means zero on a latest
-- metric, max_ages on a decayed_rate and on days_since, a curve made banded, segment weights
-- changed and added, a fourth dimension, a metric disabled), with accounts whose started_on is
-- unknown or a few days old, and with NaN rows in a feed (the spoilt metrics have no value).
-- Then a hand-made call checked against its closed form, and the function's refusals.
--
-- The demo generator commits a transaction of its own, so the book goes into a database of its
-- own, dropped at the end; the tests themselves run in one transaction, rolled back.
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS hs_metric_level;
CREATE DATABASE hs_metric_level;
\c hs_metric_level
SET client_min_messages = warning;
CREATE EXTENSION pgtap;
CREATE EXTENSION health_score;
\set accounts 300
\set end_date 2025-12-31
\o /dev/null
\ir ../../examples/demo/generate.sql
\o

BEGIN;
SELECT plan(12);
\ir ../lib/helpers.sql
\ir ../lib/metric_rows_reference.sql
SET LOCAL timezone = 'UTC';

-- raw_values_sql(): the raw values from every observation, as metric_scores_sql reads them
CREATE FUNCTION pg_temp.raw_values_sql() RETURNS text
LANGUAGE sql AS $$
SELECT format($q$
    SELECT o.account_id,
           health_score.metric_values(o.value, o.observed_at, $1, o.metric,
               (SELECT array_agg(c.input ORDER BY c.slot) FROM catalog c),
               (SELECT array_agg(c.half_life ORDER BY c.slot) FROM catalog c),
               (SELECT array_agg(c.max_age ORDER BY c.slot) FROM catalog c),
               (SELECT array_agg(c.aggregation ORDER BY c.slot) FROM catalog c)) FILTER (WHERE NOT o.bad) AS raw_values,
           bool_or(o.bad) AS bad
      FROM (%s) o
     WHERE o.observed_at <= $1
     GROUP BY o.account_id
$q$, health_score.observations_sql())
$$;

-- differences(as_of): the metric rows that differ between the reference query and
-- metric_rows_sql over the same raw values, each as "reference | new"; and the count of rows.
CREATE FUNCTION pg_temp.differences(as_of timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        WITH o AS (%s), n AS (%s)
        SELECT coalesce(o::text, 'none') || ' | ' || coalesce(n::text, 'none')
          FROM o FULL JOIN n ON n.account_id = o.account_id AND n.metric = o.metric
         WHERE o.account_id IS NULL OR n.account_id IS NULL
            OR (o.dimension, o.raw_value, o.sub_score, o.effective_weight, o.contribution, o.coverage_share)
               IS DISTINCT FROM
               (n.dimension, n.raw_value, n.sub_score, n.effective_weight, n.contribution, n.coverage_share)
         ORDER BY 1 $q$,
        pg_temp.metric_rows_sql_reference(pg_temp.raw_values_sql()), health_score.metric_rows_sql(pg_temp.raw_values_sql()))
        USING as_of;
END
$$;

-- ---- the demo book as generated ---------------------------------------------------------------
SELECT is_empty($$SELECT * FROM pg_temp.differences('2025-12-31')$$,
                'the demo book at its end: every metric row equals the reference''s');
SELECT ok((SELECT count(*) > 4000 AND count(*) FILTER (WHERE raw_value = 0) > 100
                  AND count(DISTINCT effective_weight) > 30 AND count(DISTINCT metric) = 21
             FROM health_score.metric_scores('2025-12-31')),
          'which has thousands of rows, zeros for absent events, and many weights');
SELECT is_empty($$SELECT * FROM pg_temp.differences('2025-02-01')$$,
                'the demo book in February, young accounts (decayed rates over their first days) included');
SELECT is_empty($$SELECT * FROM pg_temp.differences('2025-07-01')$$,
                'and in July');

-- ---- started_on unknown or a few days ago ------------------------------------------------------
UPDATE health_score.accounts SET started_on = NULL WHERE account_id IN (SELECT account_id FROM health_score.accounts ORDER BY account_id LIMIT 20);
UPDATE health_score.accounts SET started_on = date '2025-12-28'
 WHERE account_id IN (SELECT account_id FROM health_score.accounts WHERE churned_on IS NULL ORDER BY account_id OFFSET 20 LIMIT 10);
SELECT is_empty($$SELECT * FROM pg_temp.differences('2025-12-31')$$,
                'accounts whose start is unknown (no exposure, no days_since for absent logins) or 3 days old');

-- ---- the configuration changed in every way that reaches the metric level ------------------------
UPDATE health_score.metrics SET absent_means = 'zero' WHERE name = 'roi';
UPDATE health_score.metrics SET max_age = '45 days' WHERE name IN ('login_frequency', 'login_recency');
UPDATE health_score.metrics SET curve = 'banded' WHERE name = 'csat';
UPDATE health_score.metrics SET enabled = false WHERE name = 'nps';
UPDATE health_score.segment_dimension_weights SET weight = 45 WHERE segment = 'enterprise' AND dimension = 'relationship';
INSERT INTO health_score.segment_metric_weights (segment, metric, weight) VALUES ('mid_market', 'seat_penetration', 5);
INSERT INTO health_score.dimensions (name, weight, description) VALUES ('community', 10, 'Forum activity.');
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve,
                                  breakpoints, scores, direction, description)
VALUES ('forum_posts', 'community', 1, 'forum_post', 'decayed_rate', '14 days', 'linear',
        '{0,0.1,0.5}', '{30,70,100}', 'higher', 'Posts in the community forum.');
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, 'forum_post', timestamptz '2025-12-31 00:00+00' - (i * 5 + a.k % 7) * interval '1 day', 1
  FROM (SELECT account_id, row_number() OVER (ORDER BY account_id) AS k FROM health_score.accounts) a,
       generate_series(0, 10) i
 WHERE a.k % 3 = 0 AND i <= a.k % 11;
SELECT is_empty($$SELECT * FROM pg_temp.differences('2025-12-31')$$,
                'after the changes: absent zeros, max_ages, a banded curve, segment weights, a fourth dimension, a metric off');
SELECT is_empty($$SELECT * FROM pg_temp.differences('2025-03-15')$$,
                'and so in March');

-- ---- NaN rows in a feed: the metrics they spoil have no value -------------------------------------
CREATE TABLE pg_temp.t_bad_feed AS
SELECT a.account_id, 'csat'::text AS metric, timestamptz '2025-12-01 00:00+00' AS observed_at, 'NaN'::float8 AS value
  FROM (SELECT account_id FROM health_score.accounts WHERE churned_on IS NULL ORDER BY account_id DESC LIMIT 3) a
UNION ALL
SELECT a.account_id, 'login', '2025-12-02', 'Infinity'
  FROM (SELECT account_id FROM health_score.accounts WHERE churned_on IS NULL ORDER BY account_id DESC LIMIT 2) a;
SET LOCAL client_min_messages = error;
INSERT INTO health_score.feeds (name, relation) VALUES ('bad', 'pg_temp.t_bad_feed');
SELECT is_empty($$SELECT * FROM pg_temp.differences('2025-12-31')$$,
                'NaN and infinite rows in a feed: the same rows');
SELECT is((SELECT count(*) FROM health_score.metric_scores('2025-12-31') WHERE raw_value IS NULL), 7::bigint,
          'the spoilt metrics (csat of three accounts, login_frequency and login_recency of two) have rows without values');
DELETE FROM health_score.feeds;

-- ---- by hand: the closed form of one call ---------------------------------------------------------
-- slot a: latest 4 on a linear curve 0-10 -> 40; slot b: not observed, absent zero ->
-- 0 -> banded 20 (0 lies in the first band, from -1); slot c: decayed_rate 2 over an exposure of 10 days at a half-life of 10 ->
-- 2 / (1 - 2^-1) = 4 -> linear 0-8 -> 50; slot d: no data. Dimensions x (a, b) weight 1 and
-- y (c, d) weight 3; metric weights 1, 3, 2, 2: a 1/4 * 1/4, b 3/4 * 1/4, c 1 * 3/4.
SELECT results_eq(
    $$SELECT metric, dimension, raw_value, sub_score, effective_weight, contribution, coverage_share
        FROM health_score.metric_level('{4,NULL,2,NULL}', 10, NULL, '{a,b,c,d}', '{x,x,y,y}',
                                       '{latest,decayed_sum,decayed_rate,latest}', '{unknown,zero,zero,unknown}',
                                       '{30,30,10,30}', '{NULL,NULL,NULL,NULL}', '{linear,banded,linear,linear}',
                                       '{0,10,-1,1,0,8,0,1}', '{2,2,2,2}', '{0,100,20,30,0,100,0,100}', '{2,2,2,2}',
                                       '{1,1,2,2}', '{1,3,2,2}', '{1,3}', '{0.1,0.2,0.3,0.4}')$$,
    $$VALUES ('a'::text, 'x'::text, 4::float8, 40::float8, 0.0625::float8, 2.5::float8, 0.1::float8),
             ('b', 'x', 0, 20, 0.1875, 3.75, 0.2),
             ('c', 'y', 4, 50, 0.75, 37.5, 0.3)$$,
    'a call by hand: absent zero, a decayed rate over its exposure, both curves and the weights of the slots with data');

-- ---- refusals -----------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM health_score.metric_level('{1}', 10, NULL, '{a}', '{x}', '{latest}', '{unknown}',
                                                            '{30}', '{NULL}', '{linear}', '{0,1}', '{2}', '{0,100}', '{2}',
                                                            '{1}', '{0}', '{1}', '{1}')$$,
                 '22023', 'weights must be greater than zero, got 0', 'a zero weight is refused, naming the argument');
SELECT throws_ok($$SELECT * FROM health_score.metric_level('{1}', 10, NULL, '{a}', '{x}', '{latest}', '{unknown}',
                                                            '{30}', '{NULL}', '{linear}', '{1,0}', '{2}', '{0,100}', '{2}',
                                                            '{1}', '{1}', '{1}', '{1}')$$,
                 '22023', 'breakpoints must be strictly increasing, but element 2 (0) follows 1',
                 'a curve whose breakpoints fall is refused when it is used, as scale refuses it');

SELECT * FROM finish();
ROLLBACK;

\c :home
DROP DATABASE hs_metric_level;
