-- One bad value never stops the book. The observations table refuses NaN, infinite values and
-- infinite times; a feed whose columns have the wrong types is refused when it is added. At
-- scoring time a feed's NaN or infinite row makes only its account's score NULL (the spoilt
-- metric has no value), with a reason naming the feed; a feed that cannot be read (dropped,
-- changed, failing) is skipped and reported by check_feeds(); every other account scores as
-- without the feed, in account_scores, metric_scores, the views, snapshot() and refresh().
-- settings.bad_data = 'error' makes the same problems errors that name the feed.
BEGIN;
SELECT plan(23);
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = error;   -- the skipped feeds' WARNINGs are expected here

CREATE TEMP TABLE t_as_of AS SELECT timestamptz '2025-06-30 00:00+00' AS as_of;
SET LOCAL health_score.as_of = '2025-06-30 00:00+00';
INSERT INTO health_score.accounts (account_id, segment, started_on)
SELECT 'bd-' || i, 'smb', date '2024-01-01' FROM generate_series(1, 3) i;
-- every metric input observed for every account, at a value in the middle of its curve
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, timestamptz '2025-06-30 00:00+00' - d * interval '5 days',
       m.breakpoints[1 + (array_length(m.breakpoints, 1) - 1) / 2]
  FROM health_score.accounts a, (SELECT DISTINCT ON (input) input, breakpoints FROM health_score.metrics ORDER BY input, name) m,
       generate_series(1, 3) d
 WHERE a.account_id LIKE 'bd-%';
CREATE TEMP TABLE t_before AS SELECT * FROM health_score.account_scores((SELECT as_of FROM t_as_of)) WHERE account_id LIKE 'bd-%';

-- At the door.
SELECT throws_ok($$INSERT INTO health_score.observations VALUES ('bd-1', 'nps', '2025-06-01', 'NaN')$$, '23514', NULL,
                 'observations refuse a NaN value');
SELECT throws_ok($$INSERT INTO health_score.observations VALUES ('bd-1', 'nps', '2025-06-01', '-Infinity')$$, '23514', NULL,
                 'observations refuse an infinite value');
SELECT throws_ok($$INSERT INTO health_score.observations VALUES ('bd-1', 'nps', '-infinity', 1)$$, '23514', NULL,
                 'observations refuse an infinite observed_at');
CREATE TABLE pg_temp.t_text_value (account_id text, metric text, observed_at timestamptz, value text);
CREATE TABLE pg_temp.t_time_value (account_id text, metric text, observed_at time, value int);
CREATE TABLE pg_temp.t_int_account (account_id int, metric varchar, observed_at date, value numeric);
SELECT throws_like($$INSERT INTO health_score.feeds (name, relation) VALUES ('txt', 'pg_temp.t_text_value')$$,
                   'feed "txt": column value of % is text; it must be a number type%', 'a text value column is refused, naming feed and column');
SELECT throws_ok($$INSERT INTO health_score.feeds (name, relation) VALUES ('tm', 'pg_temp.t_time_value')$$, '42804', NULL,
                 'an observed_at that is not a date or time stamp is refused');
SELECT throws_like($$INSERT INTO health_score.feeds (name, relation) VALUES ('int', 'pg_temp.t_int_account')$$,
                   'feed "int": column account_id of % is integer; it must be a text type', 'an account_id that is not text is refused');

-- A feed with bad rows for two accounts: only they lose their score.
CREATE TABLE pg_temp.t_wh (account_id varchar, metric text, observed_at date, value numeric);
INSERT INTO pg_temp.t_wh VALUES ('bd-1', 'nps', '2025-06-20', 'NaN'), ('bd-2', 'login', '-infinity', 1),
                                ('bd-3', 'nps', '2025-06-20', 7);
INSERT INTO health_score.feeds (name, relation) VALUES ('wh', 'pg_temp.t_wh');
CREATE TEMP TABLE t_after AS SELECT * FROM health_score.account_scores((SELECT as_of FROM t_as_of)) WHERE account_id LIKE 'bd-%';
SELECT is((SELECT score FROM t_after WHERE account_id = 'bd-1'), NULL, 'a NaN value in a feed makes its account''s score NULL');
SELECT is((SELECT reason FROM t_after WHERE account_id = 'bd-1'), 'feed "wh": nps has value NaN', 'the reason names the feed, metric and problem');
SELECT is((SELECT reason FROM t_after WHERE account_id = 'bd-2'), 'feed "wh": login has observed_at -infinity', 'so does an infinite time');
SELECT isnt((SELECT score FROM t_after WHERE account_id = 'bd-3'), NULL, 'the other account still scores');
SELECT is((SELECT array_agg(metric ORDER BY metric) FROM health_score.metric_scores((SELECT as_of FROM t_as_of))
            WHERE account_id = 'bd-1' AND raw_value IS NULL), '{nps}', 'metric_scores: only the spoilt metric has no value');
SELECT cmp_ok((SELECT count(*) FROM health_score.metric_scores((SELECT as_of FROM t_as_of)) WHERE account_id = 'bd-1' AND raw_value IS NOT NULL),
              '>', 10::bigint, 'the account''s other metrics keep their values');
SELECT lives_ok($$SELECT count(*) FROM health_score.account_health; SELECT count(*) FROM health_score.dimension_breakdown;
                  SELECT count(*) FROM health_score.action_queue; SELECT count(*) FROM health_score.account_churn$$,
                'the views read through a bad row');
SELECT is(health_score.snapshot('2025-06-30'), (SELECT count(*)::int FROM health_score.account_scores('2025-06-30')),
          'snapshot() writes every account');
SELECT is((SELECT reason FROM health_score.score_history WHERE account_id = 'bd-1' AND as_of = '2025-06-30'),
          'feed "wh": nps has value NaN', 'the history keeps the reason');

-- Broken feeds are skipped: a dropped relation, a changed column type, an error while reading.
CREATE TABLE pg_temp.t_gone (account_id text, metric text, observed_at timestamptz, value float8);
CREATE TABLE pg_temp.t_changed (account_id text, metric text, observed_at timestamptz, value float8);
CREATE VIEW pg_temp.t_failing AS SELECT 'bd-3'::text AS account_id, 'nps'::text AS metric,
       timestamptz '2025-06-01' AS observed_at, 1 / (i - 2)::float8 AS value FROM generate_series(1, 3) i;
INSERT INTO health_score.feeds (name, relation) VALUES ('gone', 'pg_temp.t_gone'), ('changed', 'pg_temp.t_changed'),
                                                       ('failing', 'pg_temp.t_failing');
DROP TABLE pg_temp.t_gone;
ALTER TABLE pg_temp.t_changed ALTER COLUMN value TYPE text;
CREATE TEMP TABLE t_version AS SELECT health_score.config_version() AS v;
SELECT is((SELECT array_agg(name || ': ' || status ORDER BY name) FROM health_score.check_feeds((SELECT as_of FROM t_as_of))),
          '{"changed: broken","failing: broken","gone: broken","wh: bad_rows"}', 'check_feeds() finds the broken feeds and the bad rows');
SELECT matches((SELECT status_detail FROM health_score.feeds WHERE name = 'failing'), 'division by zero',
               'feeds.status_detail says why a feed cannot be read');
SELECT is(health_score.config_version(), (SELECT v FROM t_version), 'recording the status is no configuration change');
SELECT results_eq($$SELECT account_id, score FROM health_score.account_scores((SELECT as_of FROM t_as_of)) WHERE account_id = 'bd-3'$$,
                  $$SELECT account_id, score FROM t_after WHERE account_id = 'bd-3'$$,
                  'the broken feeds are skipped and the others score as before');
SELECT lives_ok($$SELECT health_score.refresh()$$, 'refresh() runs with broken feeds');

-- A hard stop for those who want it.
SELECT throws_ok($$UPDATE health_score.settings SET bad_data = 'ignore'$$, '23514', NULL, 'bad_data is isolate or error');
UPDATE health_score.settings SET bad_data = 'error';
SELECT throws_like($$SELECT * FROM health_score.account_scores((SELECT as_of FROM t_as_of))$$,
                   'feed "changed" (%): column value of % is text%', 'bad_data = error: a broken feed is an error naming it');
DELETE FROM health_score.feeds WHERE name <> 'wh';
SELECT throws_like($$SELECT * FROM health_score.metric_scores((SELECT as_of FROM t_as_of))$$,
                   'feed "wh": account bd-%', 'bad_data = error: a bad row is an error naming the feed and account');

SELECT * FROM finish();
ROLLBACK;
