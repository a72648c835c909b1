-- The account level of scoring (the aggregate score_account, src/account_score.c) gives the
-- rows the SQL formulation it replaced gave, kept in test/lib/account_scores_reference.sql:
-- every column equal (scores to the bit, dimension_scores as text, so 72.50 stays 72.50), on
-- the demo book (300 accounts) at two dates, after configuration changes (segment weights, a
-- fourth dimension, bands re-partitioned, min_coverage raised and set onto an account's
-- coverage exactly), with NaN rows in a feed (the reason names them), and on metric rows made
-- by hand: ties in the weakest metrics (by name, in the database's collation), values on and
-- next to every rounding boundary, rows without values, 2,000 random accounts. account_scores,
-- snapshot (score_history) and the views read the same. Then the aggregate's refusals.
--
-- The demo generator commits a transaction of its own, so the book goes into a database of its
-- own, dropped at the end; the tests themselves run in one transaction, rolled back.
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS hs_account_level;
CREATE DATABASE hs_account_level;
\c hs_account_level
SET client_min_messages = warning;
CREATE EXTENSION pgtap;
CREATE EXTENSION health_score;
\set accounts 300
\set end_date 2025-12-31
\o /dev/null
\ir ../../examples/demo/generate.sql
\o

BEGIN;
SELECT plan(31);
\ir ../lib/helpers.sql
\ir ../lib/account_scores_reference.sql
SET LOCAL timezone = 'UTC';

-- differences(metric_rows, as_of): the accounts whose rows differ between the reference query
-- and account_scores_sql over the same metric rows, each as "account: reference | new".
CREATE FUNCTION pg_temp.differences(metric_rows text, as_of timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        WITH o AS (%s), n AS (%s)
        SELECT coalesce(o.account_id, n.account_id) || ': ' || coalesce(o::text, 'none') || ' | ' || coalesce(n::text, 'none')
          FROM o FULL JOIN n ON n.account_id = o.account_id
         WHERE o.account_id IS NULL OR n.account_id IS NULL
            OR (o.score, o.band, o.alert_tier, o.coverage, o.product_score, o.relationship_score, o.business_score,
                o.reason, o.dimension_scores::text, o.weakest_metrics)
               IS DISTINCT FROM
               (n.score, n.band, n.alert_tier, n.coverage, n.product_score, n.relationship_score, n.business_score,
                n.reason, n.dimension_scores::text, n.weakest_metrics)
         ORDER BY 1 $q$,
        pg_temp.account_scores_sql_reference(metric_rows), health_score.account_scores_sql(metric_rows))
        USING as_of;
END
$$;

-- rows_of(metric_rows, as_of): the rows of account_scores_sql over metric_rows (with is_query,
-- of the query text given instead)
CREATE FUNCTION pg_temp.rows_of(metric_rows text, as_of timestamptz, is_query boolean DEFAULT false)
RETURNS TABLE (account_id text, score float8, band text, alert_tier text, coverage float8, product_score float8,
               relationship_score float8, business_score float8, reason text, dimension_scores jsonb,
               weakest_metrics text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE CASE WHEN is_query THEN metric_rows ELSE health_score.account_scores_sql(metric_rows) END
        USING as_of;
END
$$;

-- kept(as_of): the metric rows at as_of in a table, as snapshot keeps them
CREATE FUNCTION pg_temp.kept(as_of timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS pg_temp.t_metric_rows;
    CREATE TEMP TABLE t_metric_rows AS SELECT * FROM health_score.metric_scores(as_of);
    ANALYZE pg_temp.t_metric_rows;
END
$$;

-- ---- the demo book as generated ---------------------------------------------------------------
SELECT pg_temp.kept('2025-12-31');
SELECT is_empty($$SELECT * FROM pg_temp.differences('pg_temp.t_metric_rows', '2025-12-31')$$,
                'the demo book at its end: every account''s row equals the reference''s');
SELECT ok((SELECT count(*) FILTER (WHERE score IS NOT NULL) > 200 AND count(*) FILTER (WHERE reason LIKE 'coverage % below min_coverage %') > 0
                  AND count(DISTINCT band) = 4 AND count(DISTINCT alert_tier) = 4
             FROM health_score.account_scores('2025-12-31')),
          'which scores most accounts, in every band and tier, and leaves some under min_coverage');
SELECT is_empty($$SELECT * FROM pg_temp.differences('(' || health_score.metric_scores_sql() || ')', '2025-12-31')$$,
                'the same over the scoring query itself, as account_scores runs it');
SELECT pg_temp.kept('2025-04-15');
SELECT is_empty($$SELECT * FROM pg_temp.differences('pg_temp.t_metric_rows', '2025-04-15')$$,
                'the demo book in April: accounts not yet started or already gone are left out alike');

-- ---- the configuration changed in every way that reaches the account level ----------------------
-- segment weights: one changed, one removed, a new segment profile; a fourth dimension with a
-- metric fed for a third of the accounts; bands and tiers re-partitioned; min_coverage raised
UPDATE health_score.segment_dimension_weights SET weight = 45 WHERE segment = 'enterprise' AND dimension = 'relationship';
DELETE FROM health_score.segment_metric_weights WHERE segment = 'smb' AND metric = 'login_frequency';
INSERT INTO health_score.dimensions (name, weight, description) VALUES ('community', 10, 'Forum activity.');
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve,
                                  breakpoints, scores, direction, description)
VALUES ('forum_posts', 'community', 1, 'forum_post', 'decayed_sum', '14 days', 'linear',
        '{0,1,4}', '{30,70,100}', 'higher', 'Posts in the community forum.');
INSERT INTO health_score.segment_dimension_weights (segment, dimension, weight) VALUES
    ('mid_market', 'product', 35), ('mid_market', 'relationship', 35), ('mid_market', 'business', 20),
    ('mid_market', 'community', 10);
INSERT INTO health_score.segment_metric_weights (segment, metric, weight) VALUES ('mid_market', 'seat_penetration', 5);
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, 'forum_post', timestamptz '2025-12-31 00:00+00' - (i * 5 + a.k % 7) * interval '1 day', 1
  FROM (SELECT account_id, row_number() OVER (ORDER BY account_id) AS k FROM health_score.accounts) a,
       generate_series(0, 10) i
 WHERE a.k % 3 = 0 AND i <= a.k % 11;
UPDATE health_score.bands SET min_score = 75 WHERE band = 'green';
UPDATE health_score.bands SET max_score = 75 WHERE band = 'yellow';
UPDATE health_score.alert_tiers SET min_score = 80 WHERE tier = 'healthy';
UPDATE health_score.alert_tiers SET max_score = 80 WHERE tier = 'warning';
UPDATE health_score.settings SET min_coverage = 0.8;
SELECT pg_temp.kept('2025-12-31');
SELECT is_empty($$SELECT * FROM pg_temp.differences('pg_temp.t_metric_rows', '2025-12-31')$$,
                'after the changes: segment weights, a fourth dimension, bands and tiers moved, min_coverage 0.8');
SELECT ok((SELECT count(*) FILTER (WHERE dimension_scores ? 'community') > 50
                  AND count(*) FILTER (WHERE reason = 'coverage ' || coverage || ' below min_coverage 0.8') > 20
                  AND count(*) FILTER (WHERE band = 'green' AND score < 80) > 0
             FROM health_score.account_scores('2025-12-31')),
          'which puts the community dimension into dimension_scores, more accounts under min_coverage, and 75-80 in green');

-- min_coverage set onto the coverage of some accounts exactly: they score (coverage >= min_coverage)
UPDATE health_score.settings SET min_coverage = (SELECT coverage FROM health_score.account_scores('2025-12-31')
                                                  WHERE coverage < 1 GROUP BY coverage ORDER BY count(*) DESC, coverage LIMIT 1);
SELECT is_empty($$SELECT * FROM pg_temp.differences('pg_temp.t_metric_rows', '2025-12-31')$$,
                'min_coverage equal to accounts'' coverage: the same rows');
SELECT ok((SELECT count(*) > 0 FROM health_score.account_scores('2025-12-31')
            WHERE coverage = (SELECT min_coverage FROM health_score.settings) AND score IS NOT NULL),
          'and the accounts exactly at min_coverage are scored');

-- NaN rows in a feed: the accounts' scores are NULL, with the feed's problems as the reason
CREATE TABLE pg_temp.t_bad_feed AS
SELECT a.account_id, 'nps'::text AS metric, timestamptz '2025-12-01 00:00+00' AS observed_at, 'NaN'::float8 AS value
  FROM (SELECT account_id FROM health_score.accounts WHERE churned_on IS NULL ORDER BY account_id LIMIT 3) a
UNION ALL
SELECT a.account_id, 'login', '2025-12-02', 'Infinity'
  FROM (SELECT account_id FROM health_score.accounts WHERE churned_on IS NULL ORDER BY account_id LIMIT 2) a;
SET LOCAL client_min_messages = error;
INSERT INTO health_score.feeds (name, relation) VALUES ('bad', 'pg_temp.t_bad_feed');
UPDATE health_score.settings SET min_coverage = 0.5;
SELECT pg_temp.kept('2025-12-31');
SELECT is_empty($$SELECT * FROM pg_temp.differences('pg_temp.t_metric_rows', '2025-12-31')$$,
                'NaN and infinite rows in a feed: the same rows');
SELECT is((SELECT array_agg(reason ORDER BY reason) FROM health_score.account_scores('2025-12-31') WHERE reason LIKE 'feed %'),
          ARRAY['feed "bad": login has value Infinity; feed "bad": nps has value NaN',
                'feed "bad": login has value Infinity; feed "bad": nps has value NaN',
                'feed "bad": nps has value NaN'],
          'the three accounts with bad rows lose their score, the reason naming the feed, metric and value');
DELETE FROM health_score.feeds;
RESET client_min_messages;

-- ---- metric rows made by hand --------------------------------------------------------------------
INSERT INTO health_score.accounts (account_id, segment)
SELECT 'hand-' || i, 'smb' FROM generate_series(1, 2100) i;
CREATE TABLE pg_temp.t_hand (account_id text, metric text, dimension text, raw_value float8, sub_score float8,
                             effective_weight float8, contribution float8, coverage_share float8);

-- Ties: four metrics that cost the same points, named so that a byte order and a linguistic
-- one may differ; and a metric whose points come from a NULL effective weight (sorted first).
INSERT INTO pg_temp.t_hand VALUES
 ('hand-1', 'delta', 'product', 1, 50, 0.25, 12.5, 0.25), ('hand-1', 'gamma', 'product', 1, 50, 0.25, 12.5, 0.25),
 ('hand-1', 'beta', 'business', 1, 50, 0.25, 12.5, 0.25), ('hand-1', 'alpha', 'relationship', 1, 50, 0.25, 12.5, 0.25),
 ('hand-2', 'b_x', 'product', 1, 20, 0.2, 4, 0.2), ('hand-2', 'bx', 'product', 1, 20, 0.2, 4, 0.2),
 ('hand-2', 'B_x', 'product', 1, 20, 0.2, 4, 0.2), ('hand-2', 'b-x', 'product', 1, 20, 0.2, 4, 0.2),
 ('hand-2', 'a', 'product', 1, 100, 0.2, 20, 0.2),
 ('hand-3', 'x', 'product', 1, 90, NULL, NULL, 0.5), ('hand-3', 'y', 'product', 1, 0, 0.5, 0, 0.25),
 ('hand-3', 'z', 'product', 1, 10, 0.5, 5, 0.25);

-- Rounding: one product metric per account whose contribution (effective weight 1) is the
-- score, whose sub-score and coverage share land on or next to a half: 1.005 is below it in
-- binary but on it in 15 digits, which is what numeric rounds.
INSERT INTO pg_temp.t_hand
SELECT 'hand-' || (10 + i), 'm', 'product', 1, s, 1, x, c
  FROM unnest(ARRAY[1.005, 2.675, 1.115, 0.125, 0.135, 72.345, 99.995, 99.99499999999999, 100.005, 0.005, 0.015,
                    -0.005, -1.005, 42.4999999999999, 1e13 + 0.125, 12345678.905, 0, 100, 55.555, 8.345]::float8[],
              ARRAY[0.5, 1.5, 47.5, 99.5, 2.4999999999999996, 99.49999999999999, 0, 100, 12.5, 87.50000000000001,
                    0.49999999999999994, 50.5, 33.5, 66.5, 10.5, 0.05, 99.9, 45.5, 0.5, 1]::float8[],
              ARRAY[0.50005, 0.49995, 0.123449999999, 1.00005, 0.99995, 0.5, 0.49999999999999994, 0.50004999999999,
                    0.8, 1.2, 0.66665, 0.00005, 0.7, 0.75555, 0.9, 0.55, 0.6, 0.65, 0.12345, -0.5]::float8[])
       WITH ORDINALITY AS v(x, s, c, i);

-- Rows without values (a metric spoilt by a bad row), alone or beside others; a dimension
-- whose only row has none.
INSERT INTO pg_temp.t_hand VALUES
 ('hand-40', 'm1', 'product', NULL, NULL, NULL, NULL, NULL),
 ('hand-41', 'm1', 'product', NULL, NULL, NULL, NULL, NULL), ('hand-41', 'm2', 'business', 5, 80, 1, 80, 0.7),
 ('hand-42', 'm1', 'community', NULL, NULL, NULL, NULL, NULL), ('hand-42', 'm2', 'product', 5, 80, 0.5, 40, 0.4),
 ('hand-42', 'm3', 'relationship', 5, 60, 0.5, 30, 0.4);

-- 2,000 random accounts: up to 14 rows over five dimensions, sub-scores and weights from small
-- sets (so that ties are common) or continuous, now and then a row without values.
SELECT setseed(0.42);
INSERT INTO pg_temp.t_hand
SELECT 'hand-' || (100 + a), m.name, d.name, v.raw, v.sub, v.ew, v.ew * v.sub * (1 + v.noise), v.ew * v.cov
  FROM generate_series(1, 2000) a
 CROSS JOIN LATERAL (SELECT 1 + floor(random() * 14)::int AS n) k
 CROSS JOIN LATERAL generate_series(1, k.n) j
 CROSS JOIN LATERAL (SELECT (ARRAY['adoption', 'Adoption', 'a_doption', 'login', 'log-in', 'nps', 'seats', 'tickets',
                                   'sponsor', 'roi', 'payment', 'outcome', 'renewal', 'zeta'])[j] AS name) m
 CROSS JOIN LATERAL (SELECT (ARRAY['product', 'relationship', 'business', 'community', 'Ω'])[1 + (a + j) % 5] AS name) d
 CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.03 THEN NULL ELSE 1 END AS raw,
                            CASE WHEN random() < 0.5 THEN round(random() * 20) * 5 ELSE random() * 100 END AS sub,
                            CASE WHEN random() < 0.5 THEN (ARRAY[0.05, 0.1, 0.125, 0.2])[1 + floor(random() * 4)::int]
                                 ELSE random() / k.n + 1e-9 END AS ew,
                            CASE WHEN random() < 0.2 THEN (random() - 0.5) * 1e-9 ELSE 0 END AS noise,
                            random() * 1.3 AS cov) r0
 CROSS JOIN LATERAL (SELECT r0.raw, CASE WHEN r0.raw IS NOT NULL THEN r0.sub END AS sub,
                            CASE WHEN r0.raw IS NOT NULL THEN r0.ew END AS ew, r0.noise, r0.cov) v;
ANALYZE pg_temp.t_hand;

SELECT is_empty($$SELECT * FROM pg_temp.differences('pg_temp.t_hand', '2025-12-31')$$,
                'rows made by hand: ties, rounding boundaries, rows without values, 2,000 random accounts');
CREATE TEMP TABLE t_hand_scored AS SELECT * FROM pg_temp.rows_of('pg_temp.t_hand', '2025-12-31');
SELECT is((SELECT weakest_metrics FROM t_hand_scored WHERE account_id = 'hand-1'), 'alpha 50, beta 50, delta 50',
          'four metrics that cost the same points: the first three by name');
SELECT is((SELECT weakest_metrics FROM t_hand_scored WHERE account_id = 'hand-2'),
          (SELECT string_agg(m || ' 20', ', ' ORDER BY m) FROM (SELECT m FROM unnest(ARRAY['b_x', 'bx', 'B_x', 'b-x']) m
                                                                 ORDER BY m LIMIT 3) t),
          'in the order of the database''s collation, as ORDER BY sorts them; a sub-score of 100 costs nothing');
-- ICU orders b_x, B_x, b-x, bx; bytes B_x, b-x, b_x, bx: ties follow the aggregate's collation
SELECT coalesce((SELECT collname FROM pg_collation WHERE collname = 'und-x-icu'), 'C') AS tie_collation \gset
SELECT is((SELECT (health_score.score_account(m COLLATE :"tie_collation", 'product', 1, 20, 0.2, 4, 0.2, 0.5,
                                              '{a}', '{0}', '{100}', '{b}', '{0}', '{100}')).weakest_metrics
             FROM unnest(ARRAY['b_x', 'bx', 'B_x', 'b-x']) m),
          (SELECT string_agg(m || ' 20', ', ' ORDER BY m COLLATE :"tie_collation")
             FROM (SELECT m FROM unnest(ARRAY['b_x', 'bx', 'B_x', 'b-x']) m ORDER BY m COLLATE :"tie_collation" LIMIT 3) t),
          format('ties in another collation (%s) are ordered in it', :'tie_collation'));
SELECT is((SELECT weakest_metrics FROM t_hand_scored WHERE account_id = 'hand-3'), 'x 90, y 0, z 10',
          'a metric without effective weight costs NULL points, which sort first as in ORDER BY ... DESC');
SELECT is((SELECT (product_score, score, dimension_scores::text) FROM t_hand_scored WHERE account_id = 'hand-11'),
          (1.01::float8, 1.01::float8, '{"product": 1.01}'::text),
          '1.005 rounds to 1.01 as numeric rounds its 15 digits, though it is 1.00499999999999989... in binary');
SELECT is_empty($$SELECT h.account_id, h.product_score, h.score, h.coverage, h.weakest_metrics, v.contribution, v.sub_score, v.coverage_share
                    FROM t_hand_scored h JOIN pg_temp.t_hand v USING (account_id)
                   WHERE v.metric = 'm' AND v.account_id IN (SELECT 'hand-' || i FROM generate_series(11, 30) i)
                     AND (h.product_score IS DISTINCT FROM round(v.contribution::numeric, 2)::float8
                          OR h.dimension_scores ->> 'product' IS DISTINCT FROM round(v.contribution::numeric, 2)::text
                          OR h.coverage IS DISTINCT FROM round(least(v.coverage_share, 1)::numeric, 4)::float8
                          OR h.weakest_metrics IS DISTINCT FROM CASE WHEN v.sub_score < 100 THEN 'm ' || round(v.sub_score::numeric) END
                          OR (h.score IS NOT NULL AND h.score IS DISTINCT FROM
                              round(least(greatest(v.contribution, 0), 100)::numeric, 2)::float8))$$,
                'on and next to every rounding boundary: dimension scores, scores, coverage and weakest sub-scores as numeric rounds them');
SELECT is((SELECT (score, coverage, reason, dimension_scores, weakest_metrics) FROM t_hand_scored WHERE account_id = 'hand-5'),
          (NULL::float8, 0::float8, 'no observations'::text, NULL::jsonb, NULL::text),
          'an account without metric rows: coverage 0, no observations');
SELECT is((SELECT (score, reason, dimension_scores::text, weakest_metrics) FROM t_hand_scored WHERE account_id = 'hand-40'),
          (NULL::float8, NULL::text, '{"product": null}'::text, NULL::text),
          'an account whose only row has no values: no score, its dimension null in dimension_scores');

-- ---- what reads the account level -------------------------------------------------------------------
SELECT is(health_score.snapshot('2025-12-31'), (SELECT count(*)::int FROM health_score.account_scores('2025-12-31')),
          'snapshot writes every live account');
SELECT pg_temp.kept('2025-12-31');
SELECT is_empty($q$
    SELECT * FROM (SELECT h.account_id, h.score, h.band, h.alert_tier, h.coverage, h.product_score, h.relationship_score,
                          h.business_score, h.reason, h.dimension_scores::text
                     FROM health_score.score_history h WHERE h.as_of = '2025-12-31') h
    EXCEPT
    SELECT * FROM (SELECT o.account_id, o.score, o.band, o.alert_tier, o.coverage, o.product_score, o.relationship_score,
                          o.business_score, o.reason, o.dimension_scores::text
                     FROM pg_temp.rows_of(pg_temp.account_scores_sql_reference('pg_temp.t_metric_rows'), '2025-12-31', true) o) o
$q$, 'score_history as snapshot writes it holds the reference''s rows');
SELECT is((SELECT count(*) FROM health_score.account_health), (SELECT count(*) FROM health_score.account_scores(health_score.current_as_of())),
          'the views read it');

-- ---- refusals ------------------------------------------------------------------------------------------
CREATE TEMP VIEW t_one AS
SELECT 'm'::text AS metric, 'product'::text AS dimension, 1::float8 AS raw_value, 50::float8 AS sub_score,
       1::float8 AS effective_weight, 50::float8 AS contribution, 1::float8 AS coverage_share;
CREATE AGGREGATE pg_temp.foreign_state(text) (SFUNC = array_agg_transfn, STYPE = internal,
                                             FINALFUNC = health_score.score_account_final);
SELECT throws_ok($$SELECT pg_temp.foreign_state(metric) FROM t_one$$, '22023', NULL,
                 'the final function refuses the state of another aggregate');
SELECT throws_ok($$SELECT health_score.score_account(NULL, dimension, raw_value, sub_score, effective_weight, contribution,
                                                     coverage_share, 0.5, '{a}', '{0}', '{100}', '{b}', '{0}', '{100}') FROM t_one$$,
                 '22004', 'metric must not be NULL', 'a NULL metric is refused, naming it');
SELECT throws_ok($$SELECT health_score.score_account(metric, dimension, raw_value, 101, effective_weight, contribution,
                                                     coverage_share, 0.5, '{a}', '{0}', '{100}', '{b}', '{0}', '{100}') FROM t_one$$,
                 '22003', 'sub_score must be within 0 and 100, got 101', 'a sub-score above 100 is refused');
SELECT throws_ok($$SELECT health_score.score_account(metric, dimension, raw_value, sub_score, 'NaN', contribution,
                                                     coverage_share, 0.5, '{a}', '{0}', '{100}', '{b}', '{0}', '{100}') FROM t_one$$,
                 '22023', 'effective_weight must be a finite number, got NaN', 'a NaN effective weight is refused');
SELECT throws_ok($$SELECT health_score.score_account(metric, dimension, raw_value, sub_score, effective_weight, contribution,
                                                     coverage_share, 0.5, '{a,b}', '{0}', '{100}', '{b}', '{0}', '{100}') FROM t_one$$,
                 '2202E', 'bands, band_mins and band_maxes must have the same length', 'bands of different lengths are refused');
SELECT throws_ok($$SELECT health_score.score_account(metric, dimension, raw_value, sub_score, effective_weight, contribution,
                                                     coverage_share, 0.5, ARRAY['a' || i], '{0}', '{100}', '{b}', '{0}', '{100}')
                     FROM t_one, generate_series(1, 2) i$$,
                 '22023', NULL, 'bands that change within a group are refused');
SELECT throws_ok($$SELECT health_score.score_account(metric, 'd' || i, raw_value, sub_score, effective_weight, contribution,
                                                     coverage_share, 0.5, '{a}', '{0}', '{100}', '{b}', '{0}', '{100}')
                     FROM t_one, generate_series(1, 1001) i$$,
                 '54000', NULL, 'more than 1000 dimensions in one account are refused');
-- bands that overlap (possible until the commit checks them): an error, as the lookup's was
UPDATE health_score.bands SET min_score = 50 WHERE band = 'yellow';
SELECT throws_ok($$SELECT * FROM health_score.account_scores('2025-12-31')$$, '21000', NULL,
                 'a score owned by two bands is an error (21000)');
SELECT throws_ok(format('SELECT * FROM (%s) s', replace(pg_temp.account_scores_sql_reference('pg_temp.t_metric_rows'), '$1', quote_literal('2025-12-31'))),
                 '21000', NULL, 'as it was in the reference');

SELECT * FROM finish();
ROLLBACK;

\c :home
SET client_min_messages = warning;
DROP DATABASE hs_account_level;
