-- backfill resumes: a date already done (its history written under the current configuration)
-- is skipped unless redo; a configuration change makes every date due again; the old calls
-- (two or three arguments) still work; backfill_commit_each refuses to run inside a
-- transaction block. A date's rows keep their physical place (ctid) when it is skipped and
-- move when it is snapshotted again, so the tests see which dates were written.
BEGIN;
SELECT plan(31);

SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;
SET LOCAL jit = off;
SELECT setseed(0.5);

INSERT INTO health_score.accounts (account_id, started_on)
SELECT format('bf%s', lpad(i::text, 2, '0')), '2023-06-01' FROM generate_series(1, 20) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, '2024-01-01'::timestamptz + random() * interval '60 days', round((random() * 100)::numeric, 1)
  FROM health_score.accounts a CROSS JOIN (SELECT DISTINCT input FROM health_score.metrics) m CROSS JOIN generate_series(1, 5);

-- keep_places() records every history row's place; moved_dates() lists the dates whose rows
-- moved since: those written again.
CREATE TEMP TABLE places AS SELECT as_of, account_id, ctid::text AS place FROM health_score.score_history;
CREATE FUNCTION pg_temp.keep_places() RETURNS void LANGUAGE sql AS $$
    TRUNCATE places;
    INSERT INTO places SELECT as_of, account_id, ctid::text FROM health_score.score_history;
$$;
CREATE FUNCTION pg_temp.moved_dates() RETURNS date[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(DISTINCT h.as_of ORDER BY h.as_of), '{}')
      FROM health_score.score_history h
      LEFT JOIN places p ON p.as_of = h.as_of AND p.account_id = h.account_id
     WHERE p.place IS DISTINCT FROM h.ctid::text
$$;

-- ==== the first run takes every date ============================================================
CREATE TEMP TABLE run AS SELECT * FROM health_score.backfill('2024-02-01', '2024-02-10');
SELECT is((SELECT count(*) FILTER (WHERE NOT skipped) || ' taken, ' || count(*) FILTER (WHERE skipped) || ' skipped' FROM run),
          '10 taken, 0 skipped', 'first run: all 10 dates snapshotted');
SELECT is((SELECT count(DISTINCT as_of) FROM health_score.score_history), 10::bigint, 'ten dates in the history');
SELECT is((SELECT bool_and(config_version = health_score.config_version()) FROM health_score.score_history), true,
          'each written under the current configuration');
SELECT pg_temp.keep_places();
CREATE TEMP TABLE first_rows AS SELECT * FROM health_score.score_history;

-- ==== the same run again skips them all ===========================================================
TRUNCATE run;
INSERT INTO run SELECT * FROM health_score.backfill('2024-02-01', '2024-02-10');
SELECT is((SELECT count(*) FILTER (WHERE NOT skipped) || ' taken, ' || count(*) FILTER (WHERE skipped) || ' skipped' FROM run),
          '0 taken, 10 skipped', 'the same run again: every date skipped');
SELECT is(pg_temp.moved_dates(), '{}'::date[], 'and no row of the history was written again');
SELECT results_eq($$SELECT as_of, accounts FROM run ORDER BY as_of$$,
                  $$SELECT as_of, count(*)::int FROM health_score.score_history GROUP BY 1 ORDER BY 1$$,
                  'a skipped date reports the accounts its history holds');

-- ==== an interrupted run: the dates missing are taken, the others skipped ===========================
DELETE FROM health_score.metric_history WHERE as_of IN ('2024-02-03', '2024-02-05', '2024-02-07');
DELETE FROM health_score.score_history WHERE as_of IN ('2024-02-03', '2024-02-05', '2024-02-07');
SELECT is(health_score.backfill_done('2024-02-03'), false, 'backfill_done: a date without history is not done');
SELECT is(health_score.backfill_done('2024-02-04'), true, 'backfill_done: a date snapshotted under this configuration is');
SELECT results_eq($$SELECT total, pending FROM health_score.backfill_dates('2024-02-01', '2024-02-10', '1 day', false) LIMIT 1$$,
                  $$VALUES (10, 3)$$, 'backfill_dates: 10 dates, 3 to snapshot');
SELECT results_eq($$SELECT total, pending FROM health_score.backfill_dates('2024-02-01', '2024-02-10', '1 day', true) LIMIT 1$$,
                  $$VALUES (10, 10)$$, 'and with redo all 10');
SELECT pg_temp.keep_places();
TRUNCATE run;
INSERT INTO run SELECT * FROM health_score.backfill('2024-02-01', '2024-02-10', '1 day');
SELECT is(ARRAY(SELECT as_of FROM run WHERE NOT skipped ORDER BY as_of),
          '{2024-02-03,2024-02-05,2024-02-07}'::date[], 'resumed: only the three missing dates are snapshotted');
SELECT is(pg_temp.moved_dates(), '{2024-02-03,2024-02-05,2024-02-07}'::date[],
          'and only their rows are written');
SELECT set_eq($$SELECT as_of, account_id, score, band, alert_tier, coverage, dimension_scores::text, reason, config_version
                  FROM health_score.score_history$$,
              $$SELECT as_of, account_id, score, band, alert_tier, coverage, dimension_scores::text, reason, config_version
                  FROM first_rows$$,
              'the history equals the uninterrupted run''s');

-- ==== a wider range takes only the new dates ======================================================
SELECT pg_temp.keep_places();
TRUNCATE run;
INSERT INTO run SELECT * FROM health_score.backfill('2024-01-29', '2024-02-12');
SELECT is(ARRAY(SELECT as_of FROM run WHERE NOT skipped ORDER BY as_of),
          '{2024-01-29,2024-01-30,2024-01-31,2024-02-11,2024-02-12}'::date[],
          'a wider range: the five new dates are snapshotted, the ten done are skipped');
SELECT is(pg_temp.moved_dates(), '{2024-01-29,2024-01-30,2024-01-31,2024-02-11,2024-02-12}'::date[],
          'and the ten keep their rows');
SELECT results_eq($$SELECT as_of FROM health_score.backfill('2024-01-29', '2024-02-12', '7 days') WHERE skipped$$,
                  $$VALUES ('2024-01-29'::date), ('2024-02-05'), ('2024-02-12')$$,
                  'the three-argument call of 0.1.0 still works, and skips the dates done');

-- ==== redo ======================================================================================
SELECT pg_temp.keep_places();
TRUNCATE run;
INSERT INTO run SELECT * FROM health_score.backfill('2024-02-01', '2024-02-05', redo => true);
SELECT is((SELECT count(*) FILTER (WHERE NOT skipped) FROM run), 5::bigint, 'redo: every date is snapshotted again');
SELECT is(pg_temp.moved_dates(), '{2024-02-01,2024-02-02,2024-02-03,2024-02-04,2024-02-05}'::date[],
          'and its rows written again');
SELECT set_eq($$SELECT as_of, account_id, score FROM health_score.score_history WHERE as_of <= '2024-02-10' AND as_of >= '2024-02-01'$$,
              $$SELECT as_of, account_id, score FROM first_rows$$,
              'with the same scores');

-- ==== a configuration change makes every date due again ==============================================
UPDATE health_score.metrics SET weight = weight * 2 WHERE name = (SELECT min(name) FROM health_score.metrics WHERE enabled);
SELECT is(health_score.backfill_done('2024-02-04'), false, 'after a configuration change, no date is done');
SELECT pg_temp.keep_places();
TRUNCATE run;
INSERT INTO run SELECT * FROM health_score.backfill('2024-02-01', '2024-02-10');
SELECT is((SELECT count(*) FILTER (WHERE NOT skipped) || ' taken, ' || count(*) FILTER (WHERE skipped) || ' skipped' FROM run),
          '10 taken, 0 skipped', 'the run after a configuration change snapshots all 10 dates again');
SELECT is(cardinality(pg_temp.moved_dates()), 10, 'and writes them');
SELECT is((SELECT count(*) FROM health_score.score_history
            WHERE as_of BETWEEN '2024-02-01' AND '2024-02-10' AND config_version <> health_score.config_version()), 0::bigint,
          'under the new configuration');
SELECT set_eq($$SELECT as_of, account_id, score, band FROM health_score.score_history WHERE as_of BETWEEN '2024-02-01' AND '2024-02-10'$$,
              $$SELECT d::date, s.account_id, s.score, s.band
                  FROM generate_series('2024-02-01'::timestamptz, '2024-02-10', '1 day') d
                 CROSS JOIN LATERAL health_score.account_scores(d) s$$,
              'each date equals live account_scores under the new configuration');
SELECT is(health_score.backfill_done('2024-01-29'), false, 'a date outside the run keeps its old configuration: not done');

-- ==== a date without accounts is never done ===========================================================
SELECT results_eq($$SELECT accounts, skipped FROM health_score.backfill('2023-01-01', '2023-01-01')$$,
                  $$VALUES (0, false)$$, 'a date before every account started: nothing written');
SELECT results_eq($$SELECT accounts, skipped FROM health_score.backfill('2023-01-01', '2023-01-01')$$,
                  $$VALUES (0, false)$$, 'so it is taken again each time (a cheap snapshot)');

-- ==== arguments and the procedure ==================================================================
SELECT throws_ok($$SELECT * FROM health_score.backfill('2024-02-01', '2024-02-10', '1 day', NULL)$$, '22004',
                 'redo must not be NULL', 'redo NULL is refused');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text || ' ' || p.prokind::text || ' ' || p.pronargdefaults FROM pg_proc p
                 WHERE p.pronamespace = 'health_score'::regnamespace AND p.proname IN ('backfill', 'backfill_commit_each')
                 ORDER BY 1),
          ARRAY['health_score.backfill(date,date,interval,boolean) f 2',
                'health_score.backfill_commit_each(date,date,interval,boolean) p 2'],
          'one backfill function, step and redo defaulted, and the committing procedure');
CREATE TEMP TABLE before_call AS SELECT count(*) AS n FROM health_score.score_history;
SELECT throws_ok($$CALL health_score.backfill_commit_each('2023-06-01', '2023-06-03')$$, '2D000', NULL,
                 'backfill_commit_each inside a transaction block fails at once (2D000: it cannot commit)');
SELECT is((SELECT count(*) FROM health_score.score_history), (SELECT n FROM before_call),
          'and writes nothing');

SELECT * FROM finish();
ROLLBACK;
