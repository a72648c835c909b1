-- Backtests of one configuration on identical points: backtest() reads the snapshots of one
-- configuration version within a date range and refuses to mix versions; backtest_whatif()
-- rescores past dates under the configuration of the moment and equals backtest() of the same
-- dates and configuration; backtest_compare() puts both on the same points; neither writes.
-- The demo book (examples/demo/generate.sql, 100 accounts, 12 of which churn in 2025) commits
-- its rows, so it lives in a database of its own, dropped at the end.
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS hs_history_whatif;
CREATE DATABASE hs_history_whatif;
\c hs_history_whatif
SET client_min_messages = warning;
SET timezone = 'UTC';
SET jit = off;
CREATE EXTENSION pgtap;
CREATE EXTENSION health_score;
\set accounts 100
\set end_date 2025-12-31
\o /dev/null
\i examples/demo/generate.sql
-- The year, weekly, under the configuration as installed.
SELECT count(*) FROM health_score.backfill('2025-01-05', '2025-12-28', '7 days');
\o

BEGIN;
SELECT plan(41);

CREATE TEMP TABLE v0 AS SELECT health_score.config_version() AS version;
CREATE TEMP TABLE history_before AS
SELECT (SELECT count(*) FROM health_score.score_history) AS scores,
       (SELECT md5(string_agg(h::text, E'\n' ORDER BY h::text)) FROM health_score.score_history h) AS scores_md5,
       (SELECT count(*) FROM health_score.metric_history) AS metrics,
       (SELECT md5(string_agg(m::text, E'\n' ORDER BY m::text)) FROM health_score.metric_history m) AS metrics_md5;
CREATE TEMP VIEW history_now AS
SELECT (SELECT count(*) FROM health_score.score_history) AS scores,
       (SELECT md5(string_agg(h::text, E'\n' ORDER BY h::text)) FROM health_score.score_history h) AS scores_md5,
       (SELECT count(*) FROM health_score.metric_history) AS metrics,
       (SELECT md5(string_agg(m::text, E'\n' ORDER BY m::text)) FROM health_score.metric_history m) AS metrics_md5;

-- ==== the released calls ========================================================================
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'health_score'::regnamespace
                   AND p.proname IN ('backtest', 'backtest_points', 'backtest_bands') ORDER BY 1),
          '{"health_score.backtest(integer[],date,date,bigint)","health_score.backtest_bands(integer[],date,date,bigint)","health_score.backtest_points(integer[],date,date,bigint)"}',
          'one function each, the date range and configuration defaulted');
SELECT lives_ok($$SELECT * FROM health_score.backtest() UNION ALL SELECT * FROM health_score.backtest('{30}')$$,
                'backtest() and backtest(horizons) as released');
SELECT lives_ok($$SELECT count(*) FROM health_score.backtest_points('{30}')
                  UNION ALL SELECT count(*) FROM health_score.backtest_bands('{30}')$$,
                'backtest_points(horizons) and backtest_bands(horizons) as released');
SELECT cmp_ok((SELECT count(DISTINCT as_of) FROM health_score.backtest_points('{30}') WHERE churned), '>=', 8::bigint,
              'the churners are compared at eight dates or more');

CREATE TEMP TABLE old_result AS SELECT * FROM health_score.backtest();
CREATE TEMP TABLE old_points AS SELECT * FROM health_score.backtest_points();
CREATE TEMP TABLE old_bands AS SELECT * FROM health_score.backtest_bands();

-- ==== what-if of the configuration in use =======================================================
CREATE TEMP TABLE whatif_same AS SELECT * FROM health_score.backtest_whatif('2025-01-05', '2025-12-28', '7 days');
SELECT results_eq($$SELECT * FROM whatif_same$$, $$SELECT * FROM old_result$$,
                  'what-if of the same dates under the same configuration: backtest() exactly, AUC to the last bit');
SELECT set_eq(
    $$SELECT horizon_days, as_of, account_id, score, band, churned
        FROM health_score.backtest_points_of('{30,60,90}', NULL, NULL, NULL,
                 ARRAY(SELECT d::date FROM generate_series('2025-01-05'::date, '2025-12-28', '7 days') d), 'what-if')$$,
    $$SELECT * FROM old_points$$,
    'and the same points: accounts, dates, scores, bands and churn labels');
SELECT results_eq(
    $$SELECT source, version, horizon_days, churned, stayed, auc FROM health_score.backtest_compare()$$,
    $$SELECT s.source, (SELECT version FROM v0), r.horizon_days, r.churned, r.stayed, r.auc
        FROM old_result r CROSS JOIN (VALUES ('stored'), ('what-if')) s(source)
       ORDER BY r.horizon_days, s.source$$,
    'backtest_compare(): stored and what-if alike, each the backtest(), both of the version in use');
SELECT results_eq(
    $$SELECT * FROM history_now$$, $$SELECT * FROM history_before$$,
    'the what-ifs wrote nothing: score_history and metric_history unchanged, row for row');
SAVEPOINT read_only;
SET LOCAL transaction_read_only = on;
SELECT lives_ok($$SELECT count(*) FROM health_score.backtest_whatif('2025-10-05', '2025-12-28', '7 days', '{30}')
                  UNION ALL SELECT count(*) FROM health_score.backtest_compare('{30}', '2025-10-05')$$,
                'backtest_whatif and backtest_compare run in a read-only transaction');
ROLLBACK TO SAVEPOINT read_only;

-- ==== date range ================================================================================
SELECT is((SELECT count(*) FROM health_score.backtest_points('{30,60,90}', '2025-04-01', '2025-09-30')
            WHERE as_of < '2025-04-01' OR as_of > '2025-09-30'), 0::bigint,
          'backtest_points(from_date, to_date): no point outside the range');
SELECT is((SELECT min(as_of) >= '2025-07-01' FROM health_score.backtest_points('{30}', from_date => '2025-07-01')),
          true, 'from_date alone bounds from below');
SELECT is((SELECT max(as_of) <= '2025-06-30' FROM health_score.backtest_points('{30}', to_date => '2025-06-30')),
          true, 'to_date alone bounds from above');
-- The range reads exactly the snapshots of a history that holds only those dates.
CREATE TEMP TABLE in_range AS SELECT * FROM health_score.backtest('{30,60,90}', '2025-04-01', '2025-09-30');
CREATE TEMP TABLE in_range_points AS SELECT * FROM health_score.backtest_points('{30,60,90}', '2025-04-01', '2025-09-30');
CREATE TEMP TABLE in_range_bands AS SELECT * FROM health_score.backtest_bands('{30,60,90}', '2025-04-01', '2025-09-30');
SAVEPOINT range;
DELETE FROM health_score.score_history WHERE as_of < '2025-04-01' OR as_of > '2025-09-30';
SELECT set_eq($$SELECT * FROM health_score.backtest_points()$$, $$SELECT * FROM in_range_points$$,
              'the points of a range are those of a history cut to it');
SELECT results_eq($$SELECT * FROM health_score.backtest()$$, $$SELECT * FROM in_range$$,
                  'and so are its figures');
SELECT results_eq($$SELECT * FROM health_score.backtest_bands()$$, $$SELECT * FROM in_range_bands$$,
                  'and its churn rates per band');
ROLLBACK TO SAVEPOINT range;
SELECT results_eq($$SELECT * FROM health_score.backtest_whatif('2025-04-06', '2025-09-28', '7 days')$$,
                  $$SELECT * FROM in_range$$,
                  'what-if of the weekly dates in the range: backtest() of the range');
SELECT isnt((SELECT auc FROM in_range WHERE horizon_days = 30), (SELECT auc FROM old_result WHERE horizon_days = 30),
            'the range changes the figures (the test can tell)');

-- ==== a configuration change ====================================================================
-- The proposal: login recency weighs ten times as much, NPS nothing.
UPDATE health_score.metrics SET weight = 20 WHERE name = 'login_recency';
UPDATE health_score.metrics SET weight = 0.001 WHERE name = 'nps';
SELECT cmp_ok(health_score.config_version(), '>', (SELECT version FROM v0), 'the change is a new configuration version');
SELECT results_eq($$SELECT * FROM health_score.backtest(config_version => (SELECT version FROM v0))$$,
                  $$SELECT * FROM old_result$$,
                  'backtest(config_version) of the old version still gives the old figures');
SELECT results_eq($$SELECT * FROM health_score.backtest()$$, $$SELECT * FROM old_result$$,
                  'as does backtest(): the history holds that version only');
CREATE TEMP TABLE whatif_new AS SELECT * FROM health_score.backtest_whatif('2025-01-05', '2025-12-28', '7 days');
SELECT isnt((SELECT array_agg(auc ORDER BY horizon_days) FROM whatif_new),
            (SELECT array_agg(auc ORDER BY horizon_days) FROM old_result),
            'the what-if under the new configuration gives other AUCs');
SELECT results_eq($$SELECT horizon_days, churned, stayed FROM whatif_new$$,
                  $$SELECT horizon_days, churned, stayed FROM old_result$$,
                  'on as many points');
SELECT results_eq(
    $$SELECT source, version, horizon_days, churned, stayed, auc, false_positives, false_negatives, top_decile_lift
        FROM health_score.backtest_compare()$$,
    $$SELECT 'stored', (SELECT version FROM v0), horizon_days, churned, stayed, auc, false_positives, false_negatives, top_decile_lift
        FROM old_result
      UNION ALL
      SELECT 'what-if', health_score.config_version(), horizon_days, churned, stayed, auc, false_positives, false_negatives, top_decile_lift
        FROM whatif_new
      ORDER BY 3, 1$$,
    'backtest_compare(): the old figures beside the new, a row per configuration and horizon');
-- The new configuration's own snapshots of the same dates give what the what-if gave.
SAVEPOINT rescored;
SELECT count(*) FROM health_score.backfill('2025-01-05', '2025-12-28', '7 days') \g /dev/null
SELECT results_eq($$SELECT * FROM health_score.backtest()$$, $$SELECT * FROM whatif_new$$,
                  'a backfill under the new configuration gives the what-if''s figures');
ROLLBACK TO SAVEPOINT rescored;
SELECT results_eq($$SELECT * FROM history_now$$, $$SELECT * FROM history_before$$,
                  'the what-if and the comparison under the new configuration wrote nothing');

-- ==== identical points ==========================================================================
-- A proposal under which some scores are NULL (coverage below the minimum): the comparison keeps
-- to the accounts and dates scored under both, so both sides compare the same points.
CREATE TEMP TABLE compare_points AS
SELECT * FROM health_score.backtest_points_of('{30}', NULL, NULL, NULL, NULL, 'stored') WITH NO DATA;
SAVEPOINT coverage;
UPDATE health_score.settings SET min_coverage = 0.85;
INSERT INTO compare_points
SELECT * FROM health_score.backtest_points_of('{30,60,90}', NULL, NULL, (SELECT version FROM v0), NULL, 'compare');
SELECT cmp_ok((SELECT count(*) FROM compare_points WHERE source = 'stored'), '<', (SELECT count(*) FROM old_points),
              'the proposal leaves some accounts unscored: fewer points than the stored backtest');
SELECT set_eq($$SELECT horizon_days, as_of, account_id, churned FROM compare_points WHERE source = 'stored'$$,
              $$SELECT horizon_days, as_of, account_id, churned FROM compare_points WHERE source = 'what-if'$$,
              'both sides: the same accounts, dates and churn labels');
SELECT results_eq(
    $$SELECT horizon_days, churned, stayed FROM health_score.backtest_compare() WHERE source = 'stored'$$,
    $$SELECT horizon_days, churned, stayed FROM health_score.backtest_compare() WHERE source = 'what-if'$$,
    'backtest_compare() counts the same churned and stayed points on both sides');
ROLLBACK TO SAVEPOINT coverage;

-- ==== configurations are not mixed ==============================================================
SELECT is(health_score.snapshot('2025-12-31'), 88, 'a snapshot under the new configuration');
SELECT throws_ok($$SELECT * FROM health_score.backtest()$$, '22023',
                 format('score_history holds snapshots of 2 scoring configurations (versions %s, %s): name one with config_version',
                        (SELECT version FROM v0), health_score.config_version()),
                 'backtest() over two configurations is refused, naming both versions');
SELECT throws_ok($$SELECT * FROM health_score.backtest_points('{30}')$$, '22023', NULL, 'so is backtest_points()');
SELECT throws_ok($$SELECT * FROM health_score.backtest_bands('{30}')$$, '22023', NULL, 'and backtest_bands()');
SELECT throws_ok($$SELECT * FROM health_score.backtest_compare('{30}')$$, '22023', NULL, 'and backtest_compare()');
SELECT results_eq($$SELECT * FROM health_score.backtest(config_version => (SELECT version FROM v0))$$,
                  $$SELECT * FROM old_result$$, 'naming the old version compares its snapshots only');
SELECT results_eq($$SELECT * FROM health_score.backtest(to_date => '2025-12-28')$$,
                  $$SELECT * FROM old_result$$, 'as does a range holding only its snapshots');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{30}', config_version => health_score.config_version())$$, '22023',
                 format('horizon of 30 days: no churned account has a score that long before it churned (score history 2025-12-31 to 2025-12-31, configuration version %s)',
                        health_score.config_version()),
                 'the new version''s one snapshot cannot be compared 30 days ahead');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{30}', config_version => -1)$$, 'P0002',
                 'score_history has no snapshot of configuration version -1', 'an unknown version is refused');

-- ==== bad arguments =============================================================================
SELECT throws_ok($$SELECT * FROM health_score.backtest('{30}', '2026-01-01')$$, 'P0002',
                 'score_history has no snapshot from 2026-01-01', 'a range without snapshots is refused');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{30}', '2025-03-01', '2025-02-01')$$, '22023',
                 'from_date 2025-03-01 is after to_date 2025-02-01', 'a range in the wrong order is refused');
SELECT throws_ok($$SELECT * FROM health_score.backtest_whatif('2025-01-05', '2025-12-28', '7 days', '{0}')$$, '22023',
                 'horizons must be positive numbers of days, got 0', 'backtest_whatif checks its horizons');
SELECT throws_ok($$SELECT * FROM health_score.backtest_whatif('2025-01-05', '2025-12-28', '12 hours')$$, '22023', NULL,
                 'and its step, as backfill does');

SELECT * FROM finish();
ROLLBACK;

\c :home
DROP DATABASE hs_history_whatif;
