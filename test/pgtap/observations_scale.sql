-- Observations at scale: a read of one day touches one day. The observations table has a BRIN
-- index on observed_at; over a book stored in time order (as daily loads store it) the planner
-- reads a one-day range through it, and the blocks read are those of about a day, not the
-- table. A feed may be the user's own table partitioned by month: it is read as observations,
-- scores what the same rows in health_score.observations score, and scoring at as_of reads no
-- partition that starts after as_of; a one-day range reads one partition.
BEGIN;
\ir ../lib/helpers.sql
SELECT plan(14);

SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;
SET LOCAL jit = off;
SET LOCAL max_parallel_workers_per_gather = 0;

-- blocks_read(statement): the shared blocks (hit or read) the statement touched, as run.
CREATE FUNCTION pg_temp.blocks_read(statement text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || statement INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Shared Hit Blocks')::bigint + (plan -> 0 -> 'Plan' ->> 'Shared Read Blocks')::bigint;
END
$$;

-- ==== the index ===================================================================================
SELECT is((SELECT a.amname || ' ' || pg_get_indexdef(i.indexrelid, 1, true) || ' ' || array_to_string(c.reloptions, ',')
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
            WHERE i.indexrelid = 'health_score.observations_observed_at_idx'::regclass
              AND i.indrelid = 'health_score.observations'::regclass),
          'brin observed_at pages_per_range=32,autosummarize=on',
          'observations has a BRIN index on observed_at (32 pages a range, summarized as ranges fill)');

-- ==== a book in time order =========================================================================
-- 300 accounts x 4 inputs x 180 days (216,000 rows), loaded day after day, into an empty heap:
-- rows other tests inserted and rolled back leave free space that inserts would fill out of order.
TRUNCATE health_score.observations;
INSERT INTO health_score.accounts (account_id, started_on)
SELECT format('os%s', lpad(a::text, 3, '0')), '2023-01-01' FROM generate_series(1, 300) a;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT format('os%s', lpad(a::text, 3, '0')), m.input,
       '2024-01-01'::timestamptz + d * interval '1 day' + a * interval '1 minute', (a * 7 + d * 13) % 100
  FROM generate_series(0, 179) d, generate_series(1, 300) a,
       (SELECT input FROM health_score.metrics WHERE enabled GROUP BY input ORDER BY input LIMIT 4) m
 ORDER BY d, a, m.input;
-- what autovacuum does for the ranges filled (autosummarize), here at once
SELECT cmp_ok(brin_summarize_new_values('health_score.observations_observed_at_idx'), '>', 0,
              'the filled ranges are summarized');
ANALYZE health_score.observations;
CREATE TEMP TABLE one_day AS
SELECT $$SELECT count(*), sum(value) FROM health_score.observations
          WHERE observed_at >= '2024-04-10' AND observed_at < '2024-04-11'$$ AS q;

SELECT alike(pg_temp.plan_of((SELECT q FROM one_day)), '%Bitmap Index Scan on observations_observed_at_idx%',
             'a one-day range is read through the BRIN index, by the planner''s own choice');
SELECT is((SELECT count(*) FROM health_score.observations
            WHERE observed_at >= '2024-04-10' AND observed_at < '2024-04-11'), 1200::bigint,
          'the day holds 1,200 rows');
SELECT cmp_ok(pg_temp.blocks_read((SELECT q FROM one_day)), '<',
              (SELECT 3 * 32 + 8 FROM pg_class WHERE oid = 'health_score.observations'::regclass)::bigint,
              'and touches at most three block ranges (32 blocks each) and the index');
SELECT cmp_ok(pg_temp.blocks_read((SELECT q FROM one_day)) * 15, '<',
              (SELECT relpages FROM pg_class WHERE oid = 'health_score.observations'::regclass)::bigint,
              'under a fifteenth of the table''s blocks (the day is a 180th of its rows)');
SET LOCAL enable_bitmapscan = off;
SELECT cmp_ok(pg_temp.blocks_read((SELECT q FROM one_day)), '>=',
              (SELECT relpages FROM pg_class WHERE oid = 'health_score.observations'::regclass)::bigint,
              'without the index the same read touches every block of the table');
RESET enable_bitmapscan;

-- ==== a feed partitioned by month ====================================================================
CREATE SCHEMA os_feed;
CREATE TABLE os_feed.events (
    account_id text NOT NULL, metric text NOT NULL, observed_at timestamptz NOT NULL, value float8
) PARTITION BY RANGE (observed_at);
CREATE TABLE os_feed.events_2024_01 PARTITION OF os_feed.events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE os_feed.events_2024_02 PARTITION OF os_feed.events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE TABLE os_feed.events_2024_03 PARTITION OF os_feed.events FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
CREATE TABLE os_feed.events_2024_04 PARTITION OF os_feed.events FOR VALUES FROM ('2024-04-01') TO ('2024-05-01');
-- (no DEFAULT partition: it may hold any time, so every read would scan it)

-- Scores of the first 40 accounts over January-April with their rows in observations, then
-- with the same rows moved to the partitioned feed.
DELETE FROM health_score.observations WHERE account_id > 'os040' OR observed_at >= '2024-05-01';
DELETE FROM health_score.accounts WHERE account_id > 'os040';
CREATE TEMP TABLE from_table AS
SELECT d::date AS as_of, s.* FROM unnest('{2024-02-15,2024-04-30}'::date[]) d CROSS JOIN LATERAL health_score.metric_scores(d) s;
CREATE TEMP TABLE accounts_from_table AS
SELECT d::date AS as_of, s.* FROM unnest('{2024-02-15,2024-04-30}'::date[]) d CROSS JOIN LATERAL health_score.account_scores(d) s;
SELECT cmp_ok((SELECT count(*) FROM from_table), '>', 100::bigint, 'precondition: the observations table scores the accounts');
INSERT INTO os_feed.events SELECT account_id, metric, observed_at, value FROM health_score.observations;
DELETE FROM health_score.observations;
INSERT INTO health_score.feeds (name, relation, description) VALUES ('os_events', 'os_feed.events', 'Partitioned by month.');
SELECT is((SELECT count(*) FROM os_feed.events_2024_03), 40 * 4 * 31::bigint, 'the rows lie in their month''s partition');

SELECT is((SELECT status FROM health_score.check_feeds() WHERE name = 'os_events'), 'ok',
          'check_feeds() reads the partitioned table as a feed');
CREATE TEMP TABLE from_feed AS
SELECT d::date AS as_of, s.* FROM unnest('{2024-02-15,2024-04-30}'::date[]) d CROSS JOIN LATERAL health_score.metric_scores(d) s;
SELECT is((SELECT count(*) FROM from_table t FULL JOIN from_feed f USING (as_of, account_id, metric)
            WHERE NOT (pg_temp.near(t.raw_value, f.raw_value) AND pg_temp.near(t.sub_score, f.sub_score)
                       AND pg_temp.near(t.effective_weight, f.effective_weight))), 0::bigint,
          'the partitioned feed scores what the same rows in observations score (every metric, within 1e-12)');
SELECT is((SELECT count(*) FROM accounts_from_table t
             FULL JOIN (SELECT d::date AS as_of, s.* FROM unnest('{2024-02-15,2024-04-30}'::date[]) d
                         CROSS JOIN LATERAL health_score.account_scores(d) s) f USING (as_of, account_id)
            WHERE NOT (pg_temp.near(t.score, f.score, 1e-9) AND t.band IS NOT DISTINCT FROM f.band)), 0::bigint,
          'and the same account scores and bands');

-- Scoring at as_of reads the partitions up to as_of only (the feed's rows after as_of are
-- pruned by the partition bounds): counted in this transaction's statistics.
CREATE TEMP TABLE scans_before AS
SELECT relname, seq_scan + coalesce(idx_scan, 0) AS scans FROM pg_stat_xact_user_tables WHERE schemaname = 'os_feed';
SELECT count(*) FROM health_score.account_scores('2024-02-15');
SELECT is(ARRAY(SELECT s.relname::text FROM pg_stat_xact_user_tables s
                  LEFT JOIN scans_before b USING (relname)
                 WHERE s.schemaname = 'os_feed' AND s.seq_scan + coalesce(s.idx_scan, 0) > coalesce(b.scans, 0)
                 ORDER BY 1),
          '{events_2024_01,events_2024_02}'::text[],
          'scoring as of 2024-02-15 reads the January and February partitions only');
SELECT is(ARRAY(SELECT regexp_replace(l, '^.*Seq Scan on (\S+).*$', '\1') FROM regexp_split_to_table(
                    pg_temp.plan_of($$SELECT count(*) FROM os_feed.events
                                      WHERE observed_at >= '2024-04-10' AND observed_at < '2024-04-11'$$), E'\n') l
                 WHERE l ~ 'Scan on'),
          '{events_2024_04}'::text[], 'a one-day range of the feed reads one partition');

SELECT * FROM finish();
ROLLBACK;
