-- The compact metric history: the view metric_history over metric_history_days gives exactly
-- the rows the table of 0.1.0 held for the same data (snapshot wrote there the rows of
-- metric_scores with a raw value), to the bit, across catalog changes; one row per account
-- and date, in month partitions that carry the parent's owner, grants and row-level security;
-- DELETE through the view; a dropped or detached month.
BEGIN;
SELECT plan(36);

SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;
SET LOCAL jit = off;
SELECT setseed(0.5);

-- 30 accounts, each observing its own share of the catalog's inputs (so accounts differ in
-- their metrics), January to March 2024; cmp30 observes nothing.
INSERT INTO health_score.accounts (account_id, started_on, owner)
SELECT format('cmp%s', lpad(i::text, 2, '0')), '2023-06-01', CASE WHEN i <= 5 THEN 'hs_cmp_csm' END
  FROM generate_series(1, 30) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, '2024-01-01'::timestamptz + random() * interval '85 days', round((random() * 100)::numeric, 1)
  FROM health_score.accounts a
 CROSS JOIN (SELECT DISTINCT input, row_number() OVER (ORDER BY input) AS k
               FROM (SELECT DISTINCT input FROM health_score.metrics) i) m
 CROSS JOIN generate_series(1, 5)
 WHERE a.account_id <> 'cmp30' AND (right(a.account_id, 2)::int + m.k) % 4 <> 0;

-- the_old_rows(day): what snapshot() wrote into the table metric_history before 0.2.0, from
-- the live scoring: the metric rows of metric_scores at that date that have a raw value.
CREATE FUNCTION pg_temp.old_rows(day date) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT (day, m.account_id, m.metric, m.dimension, m.raw_value, m.sub_score, m.effective_weight, m.contribution)::text
      FROM health_score.metric_scores(day::timestamptz) m
     WHERE m.raw_value IS NOT NULL
$$;
CREATE FUNCTION pg_temp.view_rows(day date) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT (h.as_of, h.account_id, h.metric, h.dimension, h.raw_value, h.sub_score, h.effective_weight, h.contribution)::text
      FROM health_score.metric_history h
     WHERE h.as_of = day
$$;

-- Full rescorings: the storage is compared to the bit with metric_scores, which the
-- incremental path equals only up to the rounding of the decayed sums (within 1e-14 relative
-- here: the order of the additions; test/pgtap/incremental.sql checks that path).
SELECT is((SELECT sum(health_score.snapshot(d, full_rescore => true))::int
             FROM unnest('{2024-02-15,2024-02-29,2024-03-10}'::date[]) d), 90,
          'three snapshots of the 30 accounts');

-- ==== the rows of the view are those of the old table =================================================
SELECT bag_eq($$SELECT pg_temp.view_rows('2024-02-15')$$, $$SELECT pg_temp.old_rows('2024-02-15')$$,
              'metric_history gives, row for row and to the bit, what the table gave (2024-02-15)');
SELECT bag_eq($$SELECT pg_temp.view_rows('2024-02-29')$$, $$SELECT pg_temp.old_rows('2024-02-29')$$,
              'and on the last day of a month (2024-02-29)');
SELECT bag_eq($$SELECT pg_temp.view_rows('2024-03-10')$$, $$SELECT pg_temp.old_rows('2024-03-10')$$,
              'and in the next month (2024-03-10)');
SELECT cmp_ok((SELECT count(DISTINCT l.metrics) FROM health_score.metric_history_layouts l), '>', 2::bigint,
              'the accounts differ in their metrics: several layouts');
SELECT is((SELECT count(*) FROM health_score.metric_history_days),
          (SELECT count(*) FROM (SELECT DISTINCT as_of, account_id FROM health_score.metric_history) s),
          'one row per account and date');
SELECT is((SELECT count(*) FROM health_score.metric_history_days WHERE as_of = '2024-02-15'),
          (SELECT count(DISTINCT account_id) FROM health_score.metric_scores('2024-02-15') WHERE raw_value IS NOT NULL),
          'a row for every account with a metric, none for the account without observations');
SELECT is((SELECT count(contributions) FROM health_score.metric_history_days), 0::bigint,
          'snapshot stores no contribution: each is effective_weight * sub_score, which the view computes');
SELECT ok((SELECT bool_and(l.metrics = ARRAY(SELECT x FROM unnest(l.metrics) x ORDER BY x)
                           AND cardinality(l.metrics) = cardinality(l.dimensions))
             FROM health_score.metric_history_layouts l),
          'each layout lists its metrics in the catalog''s order (by name), with a dimension each');
SELECT is((SELECT count(*) FROM health_score.metric_history_layouts),
          (SELECT count(*) FROM (SELECT DISTINCT l.metrics, l.dimensions FROM health_score.metric_history_layouts l) s),
          'no layout twice');
SELECT ok((SELECT bool_and(cardinality(h.raw_values) = cardinality(l.metrics)
                           AND cardinality(h.sub_scores) = cardinality(l.metrics)
                           AND cardinality(h.effective_weights) = cardinality(l.metrics))
             FROM health_score.metric_history_days h JOIN health_score.metric_history_layouts l USING (layout)),
          'each row has a value per metric of its layout');
SELECT is((SELECT round(sum(h.contribution)::numeric, 2)::float8 FROM health_score.metric_history h
            WHERE h.as_of = '2024-02-15' AND h.account_id = 'cmp01'),
          (SELECT score FROM health_score.score_history WHERE as_of = '2024-02-15' AND account_id = 'cmp01'),
          'an account''s contributions still sum to its score');

-- ==== month partitions ========================================================================================
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'health_score.metric_history_days'::regclass),
          '{metric_history_days_2024_02,metric_history_days_2024_03}',
          'a partition per month, created by snapshot()');
SELECT is((SELECT array_agg(DISTINCT (c.relowner, c.relacl::text, c.relrowsecurity, c.relforcerowsecurity)::text)
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'health_score.metric_history_days'::regclass),
          (SELECT ARRAY[(c.relowner, c.relacl::text, c.relrowsecurity, c.relforcerowsecurity)::text] FROM pg_class c
            WHERE c.oid = 'health_score.metric_history_days'::regclass),
          'each has the owner, the grants and the row-level security of metric_history_days');
SELECT is((SELECT array_agg(DISTINCT (p.policyname, p.permissive, p.roles, p.cmd, p.qual, p.with_check)::text)
             FROM pg_policies p WHERE p.schemaname = 'health_score' AND p.tablename LIKE 'metric\_history\_days\_%'),
          (SELECT array_agg((p.policyname, p.permissive, p.roles, p.cmd, p.qual, p.with_check)::text)
             FROM pg_policies p WHERE p.schemaname = 'health_score' AND p.tablename = 'metric_history_days'),
          'and its policies');
SELECT is((SELECT count(*) FROM pg_depend d JOIN pg_inherits i ON i.inhrelid = d.objid
            WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
              AND i.inhparent = 'health_score.metric_history_days'::regclass), 0::bigint,
          'the partitions are not the extension''s (pg_dump keeps them and their rows)');
SELECT is(health_score.metric_history_partition('2024-03-31'), 'health_score.metric_history_days_2024_03'::regclass,
          'metric_history_partition finds the month''s partition');
SELECT is(health_score.metric_history_partition('2024-04-01')::text, 'health_score.metric_history_days_2024_04',
          'and creates one ahead');
SELECT throws_ok($$SELECT health_score.metric_history_partition('infinity')$$, '22023', NULL,
                 'an infinite date has no month');

-- ==== row-level security, through the view and in a partition =================================================
CREATE ROLE hs_cmp_csm IN ROLE health_score_csm;
DO $$ BEGIN PERFORM health_score.restrict_accounts_to_owners(true); END $$;
SET LOCAL ROLE hs_cmp_csm;
SELECT is((SELECT array_agg(DISTINCT account_id ORDER BY account_id) FROM health_score.metric_history),
          '{cmp01,cmp02,cmp03,cmp04,cmp05}', 'a CSM reads the metric history of their accounts only');
SELECT is((SELECT array_agg(DISTINCT account_id ORDER BY account_id) FROM health_score.metric_history_days_2024_02),
          '{cmp01,cmp02,cmp03,cmp04,cmp05}', 'also in a month''s partition read by its name');
RESET ROLE;
DO $$ BEGIN PERFORM health_score.restrict_accounts_to_owners(false); END $$;

-- ==== catalog changes: old rows keep their metrics and dimensions =============================================
CREATE TEMP TABLE before_change AS SELECT pg_temp.view_rows('2024-02-15') AS r;
UPDATE health_score.metrics SET enabled = false WHERE name = 'nps';
UPDATE health_score.metrics SET dimension = 'business' WHERE name = 'csat';
DO $$ BEGIN PERFORM health_score.snapshot('2024-03-20'); END $$;
SELECT bag_eq($$SELECT pg_temp.view_rows('2024-02-15')$$, $$SELECT r FROM before_change$$,
              'after a catalog change the history of earlier dates reads as it was written');
SELECT bag_eq($$SELECT pg_temp.view_rows('2024-03-20')$$, $$SELECT pg_temp.old_rows('2024-03-20')$$,
              'and a later date has the new catalog''s metrics and dimensions');
SELECT is((SELECT count(*) FROM health_score.metric_history WHERE as_of = '2024-02-15' AND metric = 'csat' AND dimension = 'relationship')
          + (SELECT count(*) FROM health_score.metric_history WHERE as_of = '2024-03-20' AND metric = 'csat' AND dimension = 'business'),
          (SELECT count(*) FROM health_score.metric_history WHERE metric = 'csat' AND as_of IN ('2024-02-15', '2024-03-20')),
          'csat belongs to relationship before the change and to business after it');

-- ==== the aggregate keeps any value ==========================================================================
SELECT is((SELECT row((a).layout_key, (a).metrics, (a).dimensions, (a).raw_values, (a).contributions)::text
             FROM (SELECT health_score.metric_history_arrays(m, d, r, s, w, c) AS a
                     FROM (VALUES ('b', 'x', 1::float8, 50::float8, 0.5::float8, 25::float8),
                                  ('a', NULL, 'NaN', NULL, 0.5, NULL)) v(m, d, r, s, w, c)) g),
          row(1, '{b,a}'::text[], '{x,NULL}'::text[], '{1,NaN}'::float8[], NULL::float8[])::text,
          'metric_history_arrays keeps the order of the rows, NULLs and NaN; contributions that are effective_weight * sub_score are not stored');
SELECT is((SELECT (health_score.metric_history_arrays(m, 'x', 1, s, w, c)).contributions
             FROM (VALUES ('a', 50::float8, 0.5::float8, 25.000000000000004::float8), ('b', 50, 0.5, 25)) v(m, s, w, c)),
          '{25.000000000000004,25}'::float8[], 'a contribution off by its last bit is stored, with the others');
SELECT is((SELECT (health_score.metric_history_arrays(m, 'x', 1, s, w, c)).contributions::text
             FROM (VALUES ('a', 50::float8, 0::float8, '-0'::float8)) v(m, s, w, c)),
          '{-0}', 'so is -0 where the product is 0');
SELECT is((SELECT (health_score.metric_history_arrays(m, 'x', 1, s, w, c)).contributions::text
             FROM (VALUES ('a', 50::float8, 0.5::float8, NULL::float8)) v(m, s, w, c)),
          '{NULL}', 'and a NULL contribution of factors that are not');
SELECT is((SELECT row(count(DISTINCT (a).layout_key), count((a).metrics), count(DISTINCT (a).layout_key) FILTER (WHERE k < 3))::text
             FROM (SELECT k, health_score.metric_history_arrays(m, 'x', 1, 1, 1, 1) AS a
                     FROM (VALUES (1, 'a'), (1, 'b'), (2, 'a'), (2, 'b'), (3, 'b')) v(k, m) GROUP BY k) g),
          row(2, 2, 1)::text,
          'groups with the same metrics share a layout_key, and only the first of them carries the names');
SELECT throws_ok($$SELECT health_score.metric_history_arrays(NULL, 'x', 1, 1, 1, 1)$$, '22004', 'metric must not be NULL',
                 'a row without a metric is refused');

-- ==== DELETE through the view ===============================================================================
CREATE TEMP TABLE before_delete AS SELECT pg_temp.view_rows('2024-02-29') AS r;
CREATE TEMP TABLE deleted AS
SELECT (h.as_of, h.account_id, h.metric, h.dimension, h.raw_value, h.sub_score, h.effective_weight, h.contribution)::text AS r
  FROM health_score.metric_history h WHERE h.as_of = '2024-02-29' AND h.account_id = 'cmp07' AND h.metric IN ('csat', 'roi');
DELETE FROM health_score.metric_history WHERE as_of = '2024-02-29' AND account_id = 'cmp07' AND metric IN ('csat', 'roi');
SELECT bag_eq($$SELECT pg_temp.view_rows('2024-02-29')$$, $$SELECT r FROM before_delete EXCEPT ALL SELECT r FROM deleted$$,
              'DELETE on metric_history removes those metric rows, and only those');
DELETE FROM health_score.metric_history WHERE as_of = '2024-02-29';
SELECT is((SELECT count(*) FROM health_score.metric_history_days WHERE as_of = '2024-02-29'), 0::bigint,
          'deleting every metric of a date removes its rows');

-- ==== a dropped or detached month ===========================================================================
DROP TABLE health_score.metric_history_days_2024_03;
SELECT is((SELECT count(*) FROM health_score.metric_history WHERE as_of >= '2024-03-01' AND as_of < '2024-04-01'), 0::bigint,
          'a dropped month reads as no metric history');
SELECT throws_ok($$SELECT * FROM health_score.attribution('2024-02-15', '2024-03-10')$$, 'P0002',
                 'no metric history for 2024-03-10', 'attribution to a date of a dropped month says so');
DO $$ BEGIN PERFORM health_score.snapshot('2024-03-10'); END $$;
SELECT lives_ok($$SELECT * FROM health_score.attribution('2024-02-15', '2024-03-10')$$,
                'a snapshot of the date writes the month again');
ALTER TABLE health_score.metric_history_days DETACH PARTITION health_score.metric_history_days_2024_02;
SELECT throws_ok($$SELECT health_score.snapshot('2024-02-20')$$, '55000', NULL,
                 'a snapshot into a detached month refuses, naming it');

SELECT * FROM finish();
ROLLBACK;
