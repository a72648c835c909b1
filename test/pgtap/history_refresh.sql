-- refresh() and the dashboard materialized views: each can be refreshed concurrently, each
-- equals its view after a refresh, every history object is documented, and the history follows
-- the accounts' row-level security.
BEGIN;
SELECT plan(27);

SET LOCAL timezone = 'UTC';
SET LOCAL jit = off;
SET LOCAL client_min_messages = warning;
SELECT setseed(0.75);

INSERT INTO health_score.accounts (account_id, segment, mrr, owner)
SELECT format('m%s', lpad(i::text, 3, '0')), (ARRAY['smb', 'enterprise', NULL])[1 + i % 3], 100 * i,
       CASE WHEN i <= 5 THEN 'history_csm_a' ELSE 'history_csm_b' END
  FROM generate_series(1, 60) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, now() - random() * interval '90 days', round((random() * 100)::numeric, 1)
  FROM health_score.accounts a CROSS JOIN (SELECT DISTINCT input FROM health_score.metrics) m
 CROSS JOIN generate_series(1, 4);

-- ==== the materialized views ========================================================================
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'm' ORDER BY 1),
          '{account_health_mv,action_queue_mv,alerts_mv,band_summary_mv,dimension_breakdown_mv,score_trends_mv,upsell_candidates_mv}',
          'a materialized view per dashboard view');
SELECT is((SELECT count(*) FROM pg_class c
            WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'm'
              AND NOT EXISTS (SELECT 1 FROM pg_index i
                               WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                                 AND i.indpred IS NULL AND i.indexprs IS NULL)),
          0::bigint, 'each has a plain unique index, as REFRESH ... CONCURRENTLY requires');

CREATE MATERIALIZED VIEW health_score.my_own_mv AS SELECT 1 AS x;   -- a user's, without a unique index
SELECT is(health_score.refresh(), 60,
          'refresh() snapshots today and returns the accounts written (a user''s materialized view, which could not be refreshed concurrently, is left alone)');
DROP MATERIALIZED VIEW health_score.my_own_mv;
SELECT is((SELECT count(*) FROM health_score.score_history WHERE as_of = current_date), 60::bigint,
          'today''s snapshot is in the history');
SELECT is((SELECT reltuples::bigint FROM pg_class WHERE oid = 'health_score.score_history'::regclass), 60::bigint,
          'and the statistics count its rows (snapshot() analyses the history): the readers of the new date look accounts up by account');

-- After a refresh each materialized view holds what its view shows (same moment: the views read
-- health_score.as_of, pinned here to the transaction's start, which refresh() also sees).
SELECT set_config('health_score.as_of', now()::text, true);
SELECT health_score.refresh();
SELECT set_eq($$SELECT * FROM health_score.account_health_mv$$, $$SELECT * FROM health_score.account_health$$,
              'account_health_mv = account_health');
SELECT set_eq($$SELECT * FROM health_score.dimension_breakdown_mv$$, $$SELECT * FROM health_score.dimension_breakdown$$,
              'dimension_breakdown_mv = dimension_breakdown');
SELECT set_eq($$SELECT * FROM health_score.band_summary_mv$$, $$SELECT * FROM health_score.band_summary$$,
              'band_summary_mv = band_summary');
SELECT set_eq($$SELECT * FROM health_score.action_queue_mv$$, $$SELECT * FROM health_score.action_queue$$,
              'action_queue_mv = action_queue');
SELECT set_eq($$SELECT * FROM health_score.upsell_candidates_mv$$, $$SELECT * FROM health_score.upsell_candidates$$,
              'upsell_candidates_mv = upsell_candidates');
SELECT set_eq($$SELECT * FROM health_score.score_trends_mv$$, $$SELECT * FROM health_score.score_trends$$,
              'score_trends_mv = score_trends');
SELECT set_eq($$SELECT * FROM health_score.alerts_mv$$, $$SELECT * FROM health_score.alerts$$,
              'alerts_mv = alerts');
SELECT is((SELECT count(*) FROM health_score.account_health_mv), 60::bigint, 'and they are not empty');

-- Without the setting the copies are as of the snapshot refresh() takes (midnight at the start
-- of today), from its metric rows: the views at that instant, today's scores in the history,
-- and the observations read about once (the snapshot), not once more per view.
SELECT set_config('health_score.as_of', '', true);
CREATE TEMP TABLE reads_before AS
SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n
  FROM pg_stat_xact_user_tables WHERE relid = 'health_score.observations'::regclass;
SELECT health_score.refresh();
SELECT cmp_ok((SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables
                WHERE relid = 'health_score.observations'::regclass) - (SELECT n FROM reads_before),
              '<', 2 * (SELECT count(*) FROM health_score.observations),
              'refresh() reads the observations for its snapshot, not again for each materialized view');
SELECT is(current_setting('health_score.as_of'), '', 'and leaves health_score.as_of as it found it');
SELECT set_config('health_score.as_of', current_date::timestamptz::text, true);
SELECT ok((SELECT count(*) FROM (SELECT * FROM health_score.account_health_mv EXCEPT SELECT * FROM health_score.account_health) d) = 0
          AND (SELECT count(*) FROM (SELECT * FROM health_score.dimension_breakdown_mv EXCEPT SELECT * FROM health_score.dimension_breakdown) d) = 0
          AND (SELECT count(*) FROM (SELECT * FROM health_score.action_queue_mv EXCEPT SELECT * FROM health_score.action_queue) d) = 0
          AND (SELECT count(*) FROM (SELECT * FROM health_score.upsell_candidates_mv EXCEPT SELECT * FROM health_score.upsell_candidates) d) = 0
          AND (SELECT count(*) FROM (SELECT * FROM health_score.band_summary_mv EXCEPT SELECT * FROM health_score.band_summary) d) = 0,
          'the copies equal their views at midnight at the start of today');
SELECT set_eq($$SELECT account_id, score, band FROM health_score.account_health_mv$$,
              $$SELECT account_id, score::numeric(18,2), band FROM health_score.score_history WHERE as_of = current_date$$,
              'account_health_mv holds today''s scores of score_history');
-- The snapshot's rows serve only their own date: a snapshot of another date before the
-- dashboards' refresh leaves them to score as the views do (in a savepoint: the history below
-- counts today's snapshot only).
SAVEPOINT other_date;
SELECT health_score.snapshot(current_date - 1);
SELECT is(health_score.refresh_rows(current_date::timestamptz), NULL, 'no rows to read outside a refresh');
SELECT health_score.refresh_dashboards(current_date);
SELECT is((SELECT count(*) FROM (SELECT * FROM health_score.account_health_mv EXCEPT SELECT * FROM health_score.account_health) d),
          0::bigint, 'after a snapshot of another date the copies are still their views at that instant');
ROLLBACK TO SAVEPOINT other_date;

-- ==== documentation ==================================================================================
SELECT is(ARRAY(SELECT c.relname || '.' || a.attname
                  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE c.relnamespace = 'health_score'::regnamespace
                   AND (c.relname IN ('score_history', 'metric_history', 'alert_rules', 'score_trends', 'band_changes',
                                      'effective_alert_rules', 'alerts') OR c.relkind = 'm')
                   AND col_description(c.oid, a.attnum) IS NULL
                 ORDER BY 1),
          '{}'::text[], 'every column of the history tables, views and materialized views has a comment');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'health_score'::regnamespace
                   AND p.proname IN ('snapshot', 'backfill', 'sparkline', 'band_rank', 'trends', 'alerts_at',
                                     'attribution', 'attribution_check', 'attribution_summary', 'backtest_check', 'backtest_points',
                                     'backtest', 'backtest_bands', 'backtest_check_horizons', 'backtest_points_of',
                                     'backtest_of', 'backtest_whatif', 'backtest_compare',
                                     'refresh', 'schedule_refresh', 'unschedule_refresh')
                   AND obj_description(p.oid, 'pg_proc') IS NULL),
          '{}'::text[], 'every history function has a comment');

-- ==== row-level security ================================================================================
CREATE ROLE history_csm_a NOLOGIN IN ROLE health_score_csm;
SELECT health_score.restrict_accounts_to_owners();
SET LOCAL ROLE history_csm_a;
SELECT is((SELECT count(*) FROM health_score.score_history), 5::bigint,
          'a CSM sees the history of its own five accounts only (today''s snapshot, taken twice, kept once)');
SELECT is((SELECT count(DISTINCT account_id) FROM health_score.metric_history), 5::bigint,
          'and their metric history only');
SELECT is((SELECT count(*) FROM health_score.score_trends), 5::bigint, 'and their trends only');
SELECT throws_ok($$SELECT count(*) FROM health_score.account_health_mv$$, '42501', NULL,
                 'the materialized views, which cannot filter rows, are closed to CSMs');
RESET ROLE;
CREATE ROLE history_bi NOLOGIN IN ROLE health_score_reader;
SET LOCAL ROLE history_bi;
SELECT is((SELECT count(*) FROM health_score.account_health_mv), 60::bigint, 'readers (BI tools) read them whole');
SELECT is((SELECT count(*) FROM health_score.score_history), 60::bigint, 'and the whole history');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
