-- The incremental snapshot against a full rescoring, day after day. 30 accounts get 120 days
-- of random rows, then 75 days of new rows, one snapshot a day (the incremental path, the
-- default), with what breaks the rolling forward along the way: late rows, updates and
-- deletes of old rows, rows dated at midnight and in the future, a feed, metrics with a
-- max_age of every kind, a change of weights and one of a half-life, a date going backwards,
-- a forced full rescoring and a TRUNCATE. Each day's scores are compared with
-- account_scores and metric_scores of that date, which read every row: every number within
-- 1e-9 relative (absolutely within 1e-12 of zero), the same bands, tiers and reasons. The
-- state's record says which path ran and how many rows it read: checked against what the test
-- itself wrote. Then metric_values_roll against metric_values, and the change log's trigger.
BEGIN;
SELECT plan(33);

SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;
SET LOCAL jit = off;
SELECT setseed(0.42);

-- A metric with a max_age of each kind: a decayed_avg and a decayed_sum (read from their
-- window), a latest (rolls, its value expires) and a days_since reading the input of a
-- decayed_rate without one.
UPDATE health_score.metrics SET max_age = '45 days' WHERE name = 'nps';
UPDATE health_score.metrics SET max_age = '60 days' WHERE name = 'expansion_conversations';
UPDATE health_score.metrics SET max_age = '20 days' WHERE name = 'roi';
UPDATE health_score.metrics SET max_age = '1 mon' WHERE name = 'login_recency';

CREATE TEMP TABLE t_run AS SELECT current_date - 200 AS d0;

-- 30 accounts in three segments, some started during the run, some churned during it.
INSERT INTO health_score.accounts (account_id, segment, started_on, churned_on)
SELECT format('inc%s', lpad(i::text, 2, '0')), (ARRAY['enterprise', 'mid_market', 'smb'])[1 + i % 3],
       (SELECT d0 FROM t_run) - 400 + (i * 17) % 440,
       CASE WHEN i % 10 = 0 THEN (SELECT d0 FROM t_run) + 5 * i END
  FROM generate_series(1, 30) i;

-- A value as each input means it: events of 1, signed sentiment and budget changes, else 0-100.
CREATE FUNCTION pg_temp.value_of(input text) RETURNS float8 LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN input IN ('login', 'support_tickets', 'champion_advocacy', 'expansion_conversations') THEN 1
                WHEN input = 'support_sentiment' THEN random() * 2 - 1
                WHEN input = 'budget_trend' THEN random() * 140 - 70
                ELSE random() * 100 END
$$;

-- load(from, to, share): rows observed in (from, to] for a share of the accounts and inputs.
CREATE FUNCTION pg_temp.load(from_ts timestamptz, to_ts timestamptz, share float8) RETURNS void LANGUAGE sql AS $$
    INSERT INTO health_score.observations (account_id, metric, observed_at, value)
    SELECT a.account_id, m.input, to_ts - random() * (to_ts - from_ts), pg_temp.value_of(m.input)
      FROM health_score.accounts a
     CROSS JOIN (SELECT DISTINCT input FROM health_score.metrics) m
     WHERE random() < share;
$$;

-- The feed: csat answers of a warehouse table, read whole at every snapshot.
CREATE TABLE pg_temp.t_feed (account_id text, metric text, observed_at timestamptz, value float8);
INSERT INTO pg_temp.t_feed
SELECT a.account_id, 'csat', (SELECT d0 FROM t_run) - random() * interval '120 days', 1 + random() * 4
  FROM health_score.accounts a CROSS JOIN generate_series(1, 3);
INSERT INTO health_score.feeds (name, relation) VALUES ('warehouse', 'pg_temp.t_feed');

-- 120 days of history before the run.
SELECT pg_temp.load((SELECT d0 FROM t_run) - 120, (SELECT d0 FROM t_run), 3.0 / 4) FROM generate_series(1, 40);

-- What each day's snapshot did and how it compares.
CREATE TEMP TABLE t_days (
    step int, as_of date, expected_mode text, mode text, reason text, rows_read bigint, expected_rows bigint,
    rescored int, expected_rescored int, table_rows bigint,
    accounts int, account_diffs int, metric_rows int, metric_row_diffs int, label_diffs int, max_rel float8);

-- close(a, b): within 1e-9 relative, or 1e-12 absolute near zero; NULL only with NULL.
CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
                ELSE abs(a - b) <= greatest(1e-9 * greatest(abs(a), abs(b)), 1e-12) END
$$;
CREATE FUNCTION pg_temp.rel(a float8, b float8) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a <> b THEN abs(a - b) / greatest(abs(a), abs(b)) ELSE 0 END
$$;

-- take(step, day, prev, late, expected_mode, full_rescore): snapshot day and compare it with a
-- full rescoring. prev is the state's as_of, late the accounts whose rows the test wrote at or
-- before it; the rows the snapshot should read follow from them.
CREATE FUNCTION pg_temp.take(step int, day date, prev date, late text[], expected_mode text,
                             full_rescore boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r t_days;
BEGIN
    r.step := step;
    r.as_of := day;
    r.expected_mode := expected_mode;
    r.table_rows := (SELECT count(*) FROM health_score.observations o WHERE o.observed_at <= day);
    r.expected_rows := CASE WHEN expected_mode = 'rebuilt' THEN r.table_rows
        ELSE (SELECT count(*) FROM health_score.observations o
               WHERE o.observed_at <= day AND (o.observed_at > prev OR o.account_id = ANY (late))) END;
    r.expected_rescored := CASE WHEN expected_mode = 'rebuilt'
        THEN (SELECT count(DISTINCT o.account_id) FROM health_score.observations o WHERE o.observed_at <= day)
        ELSE (SELECT count(DISTINCT a) FROM unnest(late) a) END;
    PERFORM health_score.snapshot(day, full_rescore);
    SELECT i.last_mode, i.last_reason, i.last_rows_read, i.last_accounts_rescored
      INTO r.mode, r.reason, r.rows_read, r.rescored FROM health_score.scoring_state_info i;

    CREATE TEMP TABLE t_full ON COMMIT DROP AS SELECT * FROM health_score.account_scores(day::timestamptz);
    SELECT count(*),
           count(*) FILTER (WHERE NOT (pg_temp.close(h.score, f.score) AND pg_temp.close(h.coverage, f.coverage)
                                       AND pg_temp.close(h.product_score, f.product_score)
                                       AND pg_temp.close(h.relationship_score, f.relationship_score)
                                       AND pg_temp.close(h.business_score, f.business_score))
                                  OR h.account_id IS NULL OR f.account_id IS NULL),
           count(*) FILTER (WHERE h.band IS DISTINCT FROM f.band OR h.alert_tier IS DISTINCT FROM f.alert_tier
                                  OR h.reason IS DISTINCT FROM f.reason)
      INTO r.accounts, r.account_diffs, r.label_diffs
      FROM (SELECT * FROM health_score.score_history WHERE as_of = day) h
      FULL JOIN t_full f USING (account_id);
    DROP TABLE t_full;

    -- the metric level through the state the snapshot left (rolling it to the same day again
    -- reads nothing), against metric_scores
    CREATE TEMP TABLE t_rolled ON COMMIT DROP AS SELECT * FROM health_score.rolled_metric_scores(day::timestamptz);
    SELECT count(*),
           count(*) FILTER (WHERE NOT (pg_temp.close(s.raw_value, f.raw_value) AND pg_temp.close(s.sub_score, f.sub_score)
                                       AND pg_temp.close(s.effective_weight, f.effective_weight)
                                       AND pg_temp.close(s.contribution, f.contribution)
                                       AND pg_temp.close(s.coverage_share, f.coverage_share))
                                  OR s.dimension IS DISTINCT FROM f.dimension),
           max(greatest(pg_temp.rel(s.raw_value, f.raw_value), pg_temp.rel(s.sub_score, f.sub_score),
                        pg_temp.rel(s.contribution, f.contribution)))
      INTO r.metric_rows, r.metric_row_diffs, r.max_rel
      FROM t_rolled s
      FULL JOIN health_score.metric_scores(day::timestamptz) f USING (account_id, metric);
    DROP TABLE t_rolled;
    INSERT INTO t_days SELECT r.*;
END
$$;

-- The run. Each day brings the rows observed that day; some days bring more.
DO $$
DECLARE
    d0 date := (SELECT d0 FROM t_run);
    day date;
    prev date := NULL;
    late text[];
    mode text;
    i int;
BEGIN
    FOR i IN 1..75 LOOP
        day := d0 + i;
        late := '{}';
        mode := CASE WHEN prev IS NULL THEN 'rebuilt' ELSE 'rolled' END;
        PERFORM pg_temp.load(day - 1, day, 0.4);
        IF i % 5 = 0 THEN   -- rows at midnight exactly: the day's scoring counts them
            INSERT INTO health_score.observations VALUES ('inc03', 'login', day, 1), ('inc04', 'roi', day, 2.5);
        END IF;
        IF i % 9 = 4 THEN   -- rows dated in the days to come: read once their day is scored
            INSERT INTO health_score.observations
            SELECT a.account_id, 'nps', day + 1 + random() * interval '3 days', random() * 10
              FROM health_score.accounts a WHERE random() < 0.3;
        END IF;
        IF i % 7 = 3 THEN   -- late rows: observed 2 to 90 days ago, arriving today
            INSERT INTO health_score.observations
            SELECT a, m, prev - (2 + random() * 88) * interval '1 day', pg_temp.value_of(m)
              FROM unnest(ARRAY[format('inc%s', lpad((1 + i % 30)::text, 2, '0')), 'inc07']) a,
                   unnest(ARRAY['support_sentiment', 'login', 'roi', 'nps']) m;
            late := late || ARRAY[format('inc%s', lpad((1 + i % 30)::text, 2, '0')), 'inc07'];
        END IF;
        IF i % 11 = 5 THEN  -- an old row corrected
            UPDATE health_score.observations SET value = value + 1
             WHERE account_id = 'inc12' AND metric = 'payment_behaviour' AND observed_at <= prev;
            late := late || '{inc12}'::text[];
        END IF;
        IF i % 13 = 6 THEN  -- old rows removed
            DELETE FROM health_score.observations WHERE account_id = 'inc15' AND observed_at < prev - 30;
            late := late || '{inc15}'::text[];
        END IF;
        IF i % 17 = 8 THEN  -- rows of today changed: no late data, they were never read
            UPDATE health_score.observations SET value = value / 2
             WHERE account_id = 'inc20' AND observed_at > prev;
        END IF;
        IF i = 20 THEN      -- weights and a curve: the state holds, the scores move
            UPDATE health_score.metrics SET weight = weight + 2 WHERE name IN ('nps', 'login_frequency');
            UPDATE health_score.segment_dimension_weights SET weight = weight + 10 WHERE segment = 'smb' AND dimension = 'business';
        END IF;
        IF i = 25 THEN      -- the feed grows: read whole, with a NaN row for one account
            INSERT INTO pg_temp.t_feed SELECT a.account_id, 'csat', day - random() * interval '1 day', 1 + random() * 4 FROM health_score.accounts a;
            INSERT INTO pg_temp.t_feed VALUES ('inc09', 'csat', day - 1, 'NaN');
        END IF;
        IF i = 30 THEN      -- a half-life: the state is rebuilt
            UPDATE health_score.metrics SET half_life = '45 days' WHERE name = 'support_sentiment';
            mode := 'rebuilt';
        END IF;
        IF i = 40 THEN      -- a date ten days back (a backfill): rebuilt there, then rolled from it
            PERFORM pg_temp.take(i, day - 10, prev, late, 'rebuilt');
            prev := day - 10;
            late := '{}';
        END IF;
        IF i = 60 THEN      -- the table truncated and loaded again
            CREATE TEMP TABLE t_copy ON COMMIT DROP AS SELECT * FROM health_score.observations;
            TRUNCATE health_score.observations;
            INSERT INTO health_score.observations SELECT * FROM t_copy;
            DROP TABLE t_copy;
            mode := 'rebuilt';
        END IF;
        IF i = 50 THEN      -- a full rescoring asked for
            mode := 'rebuilt';
        END IF;
        PERFORM pg_temp.take(i, day, prev, late, mode, i = 50);
        prev := day;
    END LOOP;
END
$$;

SELECT is((SELECT count(*) FROM t_days), 76::bigint, '76 snapshots taken over 75 days');
SELECT is((SELECT count(*) FROM t_days WHERE accounts = 0 OR metric_rows = 0), 0::bigint,
          'every snapshot scored accounts and metrics');
SELECT is((SELECT array_agg(as_of ORDER BY step, as_of) FROM t_days WHERE account_diffs > 0), NULL,
          'every day, every account''s score, coverage and dimension scores equal the full rescoring''s (1e-9 relative)');
SELECT is((SELECT array_agg(as_of ORDER BY step, as_of) FROM t_days WHERE label_diffs > 0), NULL,
          'every day, the same bands, alert tiers and reasons');
SELECT is((SELECT array_agg(as_of ORDER BY step, as_of) FROM t_days WHERE metric_row_diffs > 0), NULL,
          'every day, every metric''s raw value, sub-score, weight and contribution equal the full rescoring''s');
SELECT cmp_ok((SELECT max(max_rel) FROM t_days), '<=', 1e-12::float8,
              'the largest relative difference seen is within 1e-12');
SELECT diag('largest relative difference, incremental against full: ' || (SELECT max(max_rel) FROM t_days)
            || ' (' || (SELECT count(*) FROM t_days WHERE max_rel > 0) || ' of 76 days not equal to the bit)');
SELECT is((SELECT array_agg(step ORDER BY step, as_of) FROM t_days WHERE mode IS DISTINCT FROM expected_mode), NULL,
          'each snapshot rolled forward, or rebuilt where the test expects it');
SELECT is((SELECT count(*) FROM t_days WHERE mode = 'rolled'), 71::bigint, '71 of them rolled forward');
SELECT results_eq($$SELECT step, reason FROM t_days WHERE mode = 'rebuilt' ORDER BY step, as_of$$,
                  $$VALUES (1, 'no scoring state yet'),
                           (30, 'the metrics changed (inputs, half-lives, max_ages or aggregations)'),
                           (40, 'as_of ' || ((SELECT d0 FROM t_run) + 30)::timestamptz || ' is before the state''s '
                                || ((SELECT d0 FROM t_run) + 39)::timestamptz),
                           (50, 'a full rescoring was asked for'), (60, 'observations were truncated')$$,
                  'and says why it rebuilt');
SELECT is((SELECT array_agg(step ORDER BY step, as_of) FROM t_days WHERE rows_read <> expected_rows), NULL,
          'each snapshot read the rows observed since the last one and every row of the late accounts, no other');
SELECT is((SELECT array_agg(step ORDER BY step, as_of) FROM t_days WHERE rescored <> expected_rescored), NULL,
          'the accounts with late rows were scored again from all their rows');
SELECT cmp_ok((SELECT sum(rows_read)::float8 / sum(table_rows) FROM t_days WHERE mode = 'rolled'), '<', 0.05::float8,
              'rolling forward read under 5 % of the rows a full rescoring reads');
SELECT cmp_ok((SELECT count(*) FROM t_days WHERE rescored > 0 AND mode = 'rolled'), '>=', 10::bigint,
              'late rows, corrections and deletions came on at least 10 days');

-- ==== metric_values_roll against metric_values ==================================================
CREATE TEMP TABLE t_arrays AS
SELECT array_agg(input ORDER BY name) AS inputs, array_agg(half_life ORDER BY name) AS half_lives,
       array_agg(max_age ORDER BY name) AS max_ages, array_agg(aggregation ORDER BY name) AS aggregations
  FROM health_score.metrics WHERE enabled;
CREATE TEMP TABLE t_split AS
SELECT o.account_id,
       health_score.metric_values_state(o.value, o.observed_at, t.d, o.metric, a.inputs, a.half_lives, a.max_ages, a.aggregations)
           FILTER (WHERE o.observed_at <= t.d) AS before,
       health_score.metric_values_state(o.value, o.observed_at, t.d + 10, o.metric, a.inputs, a.half_lives, a.max_ages, a.aggregations)
           FILTER (WHERE o.observed_at > t.d) AS since,
       health_score.metric_values_state(o.value, o.observed_at, t.d + 10, o.metric, a.inputs, a.half_lives, a.max_ages, a.aggregations)
           AS all_rows,
       health_score.metric_values(o.value, o.observed_at, t.d + 10, o.metric, a.inputs, a.half_lives, a.max_ages, a.aggregations)
           AS raw_values
  FROM health_score.observations o, t_arrays a, (SELECT d0 + 40 AS d FROM t_run) t
 WHERE o.observed_at <= t.d + 10
 GROUP BY o.account_id;
-- the state of the rows up to d, rolled ten days on with the rows since (all_rows stands for
-- the rows within max_age: metric_values_state applied max_age at d + 10)
CREATE TEMP TABLE t_roll AS
SELECT s.account_id, s.raw_values,
       health_score.metric_values_final(health_score.metric_values_roll(s.before, t.d + 10, s.since, s.all_rows, a.max_ages)) AS rolled
  FROM t_split s, t_arrays a, (SELECT d0 + 40 AS d FROM t_run) t;
SELECT is((SELECT count(*) FROM t_roll r, LATERAL unnest(r.raw_values, r.rolled) u(full_value, rolled_value)
            WHERE NOT pg_temp.close(u.full_value, u.rolled_value)), 0::bigint,
          'metric_values_roll: the state of day d rolled ten days on with the rows since equals metric_values over all rows');
SELECT cmp_ok((SELECT count(*) FROM t_roll r, LATERAL unnest(r.raw_values, r.rolled) u(f, g) WHERE f IS NOT NULL),
              '>', 300::bigint, 'over more than 300 raw values');
SELECT is((SELECT count(*) FROM t_split s, t_arrays a, (SELECT d0 + 40 AS d FROM t_run) t,
                  LATERAL unnest(health_score.metric_values_final(health_score.metric_values_roll(NULL, t.d + 10, s.all_rows, NULL, a.max_ages)),
                                 s.raw_values) u(r, f)
            WHERE NOT pg_temp.close(u.r, u.f)),
          (SELECT count(*) FROM t_split s, t_arrays a, LATERAL unnest(s.raw_values, a.max_ages, a.aggregations) u(f, m, g)
            WHERE f IS NOT NULL AND m IS NOT NULL AND g LIKE 'decayed%'),
          'without the rows within max_age, exactly the decayed metrics with a max_age have no value');
SELECT is(health_score.metric_values_roll(NULL, now(), NULL, '{}', '{}'), '{}'::float8[],
          'metric_values_roll: no part, no rows: an empty state');
SELECT throws_ok($$SELECT health_score.metric_values_roll(s.all_rows, now() - interval '1000 days', NULL, NULL, a.max_ages)
                     FROM t_split s, t_arrays a LIMIT 1$$, '22023', 'as_of must not be before the as_of of state',
                 'a state does not roll backwards');
SELECT throws_ok($$SELECT health_score.metric_values_roll(NULL, now(), s.all_rows, NULL, a.max_ages) FROM t_split s, t_arrays a LIMIT 1$$,
                 '22023', 'fresh must be a state as of as_of', 'fresh rows must be as of as_of');
SELECT throws_ok($$SELECT health_score.metric_values_roll(s.all_rows, (SELECT d0 + 50 FROM t_run), NULL, NULL, a.max_ages[1:3])
                     FROM t_split s, t_arrays a LIMIT 1$$, '2202E', NULL, 'max_ages must have one element per metric');
SELECT throws_ok($$SELECT health_score.metric_values_roll(s.all_rows, (SELECT d0 + 50 FROM t_run),
                          (SELECT health_score.metric_values_state(1, now() - interval '300 days', (SELECT d0 + 50 FROM t_run), 'nps',
                                                                   '{nps}', '{30 days}', '{NULL}', '{decayed_avg}')), NULL, a.max_ages)
                     FROM t_split s, t_arrays a LIMIT 1$$, '22023', 'metric_values_roll: the states must come from the same metric arrays',
                 'states of other metric arrays are refused');
SELECT throws_ok($$SELECT health_score.metric_values_roll('{1,2,3}', now(), NULL, NULL, '{}')$$, '22023', NULL,
                 'a state built by hand is refused');
SELECT is(health_score.metric_values_final(health_score.metric_values_roll(
              health_score.metric_values_state(7, '2024-01-01', '2024-01-10', 'x', '{x}', '{30 days}', '{20 days}', '{latest}'),
              '2024-01-25', NULL, NULL, '{20 days}')),
          '{NULL}'::float8[], 'a latest value older than max_age expires as it rolls');
SELECT is(health_score.metric_values_final(health_score.metric_values_roll(
              health_score.metric_values_state(7, '2024-01-01', '2024-01-10', 'x', '{x}', '{30 days}', '{20 days}', '{latest}'),
              '2024-01-20', NULL, NULL, '{20 days}')),
          '{7}'::float8[], 'and stays within it');

-- ==== the change log ============================================================================
DELETE FROM health_score.observation_changes;
INSERT INTO health_score.observations VALUES ('inc01', 'nps', '2024-01-05', 7), ('inc02', 'nps', '2024-01-03', 8),
                                             ('inc01', 'nps', '2024-01-02', 9);
SELECT results_eq($$SELECT observed_from, accounts, observed_froms FROM health_score.observation_changes$$,
                  $$VALUES ('2024-01-02'::timestamptz, '{inc01,inc02}'::text[], '{2024-01-02,2024-01-03}'::timestamptz[])$$,
                  'an INSERT records its accounts, each with its oldest observed_at');
DELETE FROM health_score.observation_changes;
UPDATE health_score.observations SET observed_at = '2024-02-01' WHERE account_id = 'inc02' AND observed_at = '2024-01-03';
SELECT results_eq($$SELECT observed_from, accounts FROM health_score.observation_changes$$,
                  $$VALUES ('2024-01-03'::timestamptz, '{inc02}'::text[])$$,
                  'an UPDATE records the old and the new rows');
DELETE FROM health_score.observation_changes;
UPDATE health_score.observations SET value = value WHERE false;
SELECT is_empty($$SELECT * FROM health_score.observation_changes$$, 'a statement that touches no row records nothing');
DELETE FROM health_score.observations WHERE account_id = 'inc01' AND observed_at < '2024-01-06';
SELECT results_eq($$SELECT observed_from, accounts FROM health_score.observation_changes$$,
                  $$VALUES ('2024-01-02'::timestamptz, '{inc01}'::text[])$$, 'a DELETE records the rows removed');

CREATE ROLE hs_inc_loader;
GRANT USAGE ON SCHEMA health_score TO hs_inc_loader;
GRANT INSERT ON health_score.observations TO hs_inc_loader;
DELETE FROM health_score.observation_changes;
SET LOCAL ROLE hs_inc_loader;
SELECT lives_ok($$INSERT INTO health_score.observations VALUES ('inc05', 'nps', '2024-01-09', 6)$$,
                'a role granted INSERT on observations only loads rows: the trigger writes its record');
RESET ROLE;
SELECT is((SELECT accounts FROM health_score.observation_changes), '{inc05}'::text[], 'and the record is there');
SET LOCAL ROLE health_score_reader;
SELECT throws_ok($$SELECT * FROM health_score.observation_changes$$, '42501', NULL,
                 'readers cannot read the change log');
SELECT throws_ok($$SELECT * FROM health_score.scoring_state$$, '42501', NULL, 'nor the scoring state');
RESET ROLE;
CREATE TRIGGER t AFTER INSERT ON pg_temp.t_feed REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();
SELECT throws_ok($$INSERT INTO pg_temp.t_feed VALUES ('x', 'y', now(), 1)$$, '39P01',
                 'observations_changed is a trigger of health_score.observations only',
                 'the trigger function refuses any other table');

SELECT * FROM finish();
ROLLBACK;
