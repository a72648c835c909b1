-- The C kernels, checked against independent computations: closed-form decay weights,
-- hand-worked curves and sums, serial against parallel plans, window frames against the
-- grouped result over the same rows.
BEGIN;
SELECT plan(55);
\ir ../lib/helpers.sql

SET LOCAL timezone = 'UTC';

-- A plain aggregate that returns the decay state itself, to call the combine function by hand.
CREATE AGGREGATE pg_temp.decay_state(float8, timestamptz, timestamptz, interval) (
    SFUNC = health_score.decay_accum, STYPE = float8[], INITCOND = '{0,0,0,0,0,0}');
CREATE AGGREGATE pg_temp.wavg_state(float8, float8) (
    SFUNC = health_score.weighted_avg_accum, STYPE = float8[], INITCOND = '{0,0,0}');

-- ==== decayed_avg / decayed_sum: closed-form weights =====================================
-- Observations 0, 30 and 60 days before as_of with a 30-day half-life weigh 1, 1/2 and 1/4.
CREATE TEMP TABLE three(value float8, observed_at timestamptz);
INSERT INTO three VALUES (10, '2024-03-01'), (20, '2024-03-01'::timestamptz - interval '30 days'),
                         (40, '2024-03-01'::timestamptz - interval '60 days');

SELECT is(health_score.decayed_sum(1, observed_at, '2024-03-01', '30 days'), 1 + 0.5 + 0.25::float8,
          'decayed_sum of ones at 0, 30, 60 days (half-life 30 days) is 1 + 1/2 + 1/4')
  FROM three;
SELECT is(health_score.decayed_avg(value, observed_at, '2024-03-01', '30 days'),
          (10 * 1 + 20 * 0.5 + 40 * 0.25::float8) / 1.75,
          'decayed_avg is the mean weighted 1, 1/2, 1/4')
  FROM three;
SELECT is(health_score.decayed_sum(value, observed_at, '2024-03-01', '30 days'),
          10 * 1 + 20 * 0.5 + 40 * 0.25::float8,
          'decayed_sum is the sum weighted 1, 1/2, 1/4')
  FROM three;
SELECT ok(count(DISTINCT r) = 1 AND min(r) = 30 / 1.75::float8,
          'decayed_avg does not depend on the order of the rows')
  FROM (SELECT health_score.decayed_avg(value, observed_at, '2024-03-01', '30 days' ORDER BY observed_at) FROM three
        UNION ALL
        SELECT health_score.decayed_avg(value, observed_at, '2024-03-01', '30 days' ORDER BY observed_at DESC) FROM three
        UNION ALL
        SELECT health_score.decayed_avg(value, observed_at, '2024-03-01', '30 days' ORDER BY value::int % 20, value) FROM three) AS o(r);
SELECT is(health_score.decayed_avg(value, observed_at, '2024-03-01', '30 days'), 30 / 1.75::float8,
          'observations after as_of are ignored (point in time)')
  FROM (SELECT * FROM three
        UNION ALL VALUES (1000, '2024-03-01'::timestamptz + interval '1 microsecond'),
                         (-1000, '2025-01-01')) AS o;
SELECT is(health_score.decayed_avg(value, observed_at, '2024-03-01', '30 days'), 30 / 1.75::float8,
          'rows with a NULL value or observed_at are skipped')
  FROM (SELECT * FROM three
        UNION ALL VALUES (NULL, '2024-02-20'::timestamptz), (500, NULL)) AS o;
-- Far from 2000-01-01 a timestamp in microseconds has more digits than a double holds:
-- one microsecond after as_of must still be after it.
SELECT is(count(*) FILTER (WHERE d_sum <> 1 OR latest <> 1), 0::bigint,
          'an observation one microsecond after as_of is ignored, even in the year 2400')
  FROM (SELECT a, health_score.decayed_sum(v, t, a, '1 day') AS d_sum,
               health_score.latest_value(v, t, a) AS latest
          FROM generate_series(0, 7) AS k,
               LATERAL (SELECT '2400-01-01 00:00:00'::timestamptz + k * interval '1 microsecond' AS a) AS x,
               LATERAL (VALUES (1::float8, a), (1000, a + interval '1 microsecond')) AS o(v, t)
         GROUP BY a) AS r;
SELECT is(health_score.decayed_sum(7, '2024-03-01', '2024-03-01', '1 hour'), 7::float8,
          'an observation made exactly at as_of weighs 1');
SELECT ok(health_score.decayed_avg(value, observed_at, '2023-12-31', '30 days') IS NULL
          AND health_score.decayed_sum(value, observed_at, '2023-12-31', '30 days') IS NULL,
          'nothing observed by as_of gives NULL, not zero')
  FROM three;
SELECT is(health_score.decayed_avg(value, observed_at, '2024-03-01', '1 mon'),
          health_score.decayed_avg(value, observed_at, '2024-03-01', '30 days'),
          'a month of half-life counts 30 days, as extract(epoch from interval) does')
  FROM three;
SELECT ok(pg_temp.near(health_score.decayed_avg(value, observed_at, '2024-03-01', '10 days'),
                       (10 + 20 * 2 ^ (-3::float8) + 40 * 2 ^ (-6::float8)) / (1 + 2 ^ (-3::float8) + 2 ^ (-6::float8))),
          'a 10-day half-life weighs the same rows 1, 1/8, 1/64')
  FROM three;

-- ==== years of history ===================================================================
-- Ten years of daily observations, 7-day half-life: with r = 2^(-1/7) the weights are r^k
-- (k = age in days), so sum r^k = (1 - r^n) / (1 - r), and the weighted mean of the age k
-- is r / (1 - r) (the tail beyond ten years, r^3653, is about 1e-157).
CREATE TEMP TABLE daily AS
SELECT k, '2024-01-01'::timestamptz - k * interval '1 day' AS observed_at
  FROM generate_series(0, 3652) AS k;

SELECT ok(pg_temp.near(health_score.decayed_sum(1, observed_at, '2024-01-01', '7 days'),
                       (1 - 2 ^ (-3653 / 7.0::float8)) / (1 - 2 ^ (-1 / 7.0::float8))),
          'decayed_sum over ten years of daily events matches the geometric series')
  FROM daily;
SELECT ok(pg_temp.near(health_score.decayed_avg(k, observed_at, '2024-01-01', '7 days'),
                       2 ^ (-1 / 7.0::float8) / (1 - 2 ^ (-1 / 7.0::float8))),
          'decayed_avg of the age over ten years matches r / (1 - r)')
  FROM daily;
SELECT ok(pg_temp.near(health_score.decayed_avg(5, observed_at, '2024-01-01', '7 days'), 5),
          'decayed_avg of a constant over ten years is that constant')
  FROM daily;
-- Ten years after the last observation with a one-day half-life the weights relative to
-- as_of (2^-3650) are below the smallest double: sum(w * v) / sum(w) has nothing left to
-- divide, while the mean itself is well defined (weights 1 and 1/2 relative to each other).
SELECT is(health_score.decayed_avg(value, observed_at, '2034-01-01', '1 day'), (10 + 40 * 0.5::float8) / 1.5,
          'decayed_avg stays exact when every weight relative to as_of underflows')
  FROM (VALUES (10::float8, '2024-01-03'::timestamptz), (40, '2024-01-02')) AS o(value, observed_at);
SELECT ok(pg_temp.near(health_score.decayed_sum(value, observed_at, '2024-01-03'::timestamptz + interval '200 days', '1 day'),
                       30 * 2 ^ (-200::float8)),
          'decayed_sum scales back to as_of: 30 * 2^-200 after 200 half-lives')
  FROM (VALUES (10::float8, '2024-01-03'::timestamptz), (40, '2024-01-02')) AS o(value, observed_at);

-- ==== combining partial states ===========================================================
SELECT ok(pg_temp.near(health_score.decay_avg_final(health_score.decay_combine(a, b)),
                       (SELECT health_score.decayed_avg(k, observed_at, '2024-01-01', '7 days') FROM daily))
          AND pg_temp.near(health_score.decay_avg_final(health_score.decay_combine(b, a)),
                           (SELECT health_score.decayed_avg(k, observed_at, '2024-01-01', '7 days') FROM daily))
          AND pg_temp.near(health_score.decay_sum_final(health_score.decay_combine(a, b)),
                           (SELECT health_score.decayed_sum(k, observed_at, '2024-01-01', '7 days') FROM daily)),
          'combining the states of two halves (either way round) gives the result over all rows')
  FROM (SELECT pg_temp.decay_state(k, observed_at, '2024-01-01', '7 days') FILTER (WHERE k % 3 = 0) AS a,
               pg_temp.decay_state(k, observed_at, '2024-01-01', '7 days') FILTER (WHERE k % 3 <> 0) AS b
          FROM daily) AS s;
SELECT is(health_score.decay_combine('{0,0,0,0,0,0}', s), s,
          'combining with an empty state keeps the other state')
  FROM (SELECT pg_temp.decay_state(k, observed_at, '2024-01-01', '7 days') AS s FROM daily) AS t;
SELECT is(pg_column_size(a), pg_column_size(b),
          'the decay state has the same size after 1 row as after 3653')
  FROM (SELECT pg_temp.decay_state(k, observed_at, '2024-01-01', '7 days') FILTER (WHERE k = 0) AS a,
               pg_temp.decay_state(k, observed_at, '2024-01-01', '7 days') AS b FROM daily) AS s;
SELECT ok(st = '{0,0,0}' AND changed = '{1,50,1}',
          'calling a transition function directly leaves the caller''s state unchanged')
  FROM (SELECT st, health_score.weighted_avg_accum(st, 50, 1) AS changed
          FROM (VALUES ('{0,0,0}'::float8[])) AS v(st)) AS s;

-- ==== scale and scale_banded: hand-worked curves =========================================
SELECT is(array_agg(health_score.scale(v, '{0,50,100,200}', '{0,40,80,100}') ORDER BY v),
          '{0,0,20,60,80,90,100,100}'::float8[],
          'scale, higher is better: interpolates between breakpoints, flat beyond the ends')
  FROM unnest('{-3,0,25,75,100,150,200,250}'::float8[]) AS v;
SELECT is(array_agg(health_score.scale(v, '{0,2,5,10}', '{100,80,40,0}') ORDER BY v),
          '{100,100,90,60,20,0,0}'::float8[],
          'scale, lower is better (e.g. open tickets)')
  FROM unnest('{-1,0,1,3.5,7.5,10,12}'::float8[]) AS v;
SELECT is(array_agg(health_score.scale_banded(v, '{0,0.5,0.8}', '{30,60,90}') ORDER BY v),
          '{30,30,30,60,60,90,90}'::float8[],
          'scale_banded, higher is better: each breakpoint starts a band, no interpolation')
  FROM unnest('{-0.1,0,0.49,0.5,0.79,0.8,1}'::float8[]) AS v;
SELECT is(array_agg(health_score.scale_banded(v, '{0,7,30}', '{100,50,0}') ORDER BY v),
          '{100,100,50,50,0,0}'::float8[],
          'scale_banded, lower is better (e.g. days since last login)')
  FROM unnest('{0,3,7,29,30,45}'::float8[]) AS v;
-- Against linear interpolation written in SQL, over 2,201 points and three curve shapes.
SELECT is(count(*) FILTER (WHERE NOT pg_temp.near(got, want)), 0::bigint,
          'scale equals linear interpolation written in SQL (rising, falling, peaked curves)')
  FROM (SELECT health_score.scale(v, c.bp, c.sc) AS got,
               CASE WHEN v <= c.bp[1] THEN c.sc[1]
                    WHEN v >= c.bp[cardinality(c.bp)] THEN c.sc[cardinality(c.sc)]
                    ELSE (SELECT c.sc[i] + (v - c.bp[i]) / (c.bp[i + 1] - c.bp[i]) * (c.sc[i + 1] - c.sc[i])
                            FROM generate_series(1, cardinality(c.bp) - 1) AS i
                           WHERE v >= c.bp[i] AND v < c.bp[i + 1]) END AS want
          FROM generate_series(-1000, 1200) AS n, LATERAL (SELECT n / 5.0::float8 AS v) AS x,
               (VALUES ('{0,50,100,200}'::float8[], '{0,40,80,100}'::float8[]),
                       ('{1,2,5,10,30}', '{100,95,60,10,0}'),
                       ('{0,10,20}', '{0,100,50}')) AS c(bp, sc)) AS t;
SELECT is(count(*) FILTER (WHERE got IS DISTINCT FROM want), 0::bigint,
          'scale_banded equals the score of the last breakpoint at or below the value')
  FROM (SELECT health_score.scale_banded(n / 10.0::float8, '{1,2,5,10,30}', '{100,95,60,10,0}') AS got,
               coalesce((SELECT sc[i] FROM generate_series(1, 5) AS i
                          WHERE bp[i] <= n / 10.0::float8 ORDER BY i DESC LIMIT 1), sc[1]) AS want
          FROM generate_series(-50, 400) AS n,
               (SELECT '{1,2,5,10,30}'::float8[] AS bp, '{100,95,60,10,0}'::float8[] AS sc) AS c) AS t;

-- Breakpoints near the float8 limits: value - breakpoint would overflow to infinity.
SELECT ok(pg_temp.near(health_score.scale(0, '{-1e308,1e308}', '{0,100}'), 50)
          AND pg_temp.near(health_score.scale(5e307, '{-1e308,1e308}', '{0,100}'), 75)
          AND pg_temp.near(health_score.scale(1.7e308, '{-1.7e308,1.7e308}', '{100,0}'), 0)
          AND pg_temp.near(health_score.scale(-1.7e308, '{-1.7e308,1.7e308}', '{100,0}'), 100)
          AND pg_temp.near(health_score.scale(1.6e308, '{-1.7e308,1.7e308}', '{100,0}'), 100 * 0.1e308 / 3.4e308),
          'scale interpolates correctly with breakpoints near the float8 limits')
  FROM (SELECT 1) AS one;

-- ==== weighted_avg, weighted_coverage, weighted_score: hand sums and NULL rules ===========
SELECT ok(pg_temp.near(health_score.weighted_avg(s, w), (80 * 4 + 50 * 3) / 7.0::float8)
          AND pg_temp.near(health_score.weighted_coverage(s, w), 7 / 10.0::float8),
          'weighted_avg skips the NULL score and renormalises; coverage is the weight present')
  FROM (VALUES (80::float8, 4::float8), (NULL, 3), (50, 3)) AS t(s, w);
SELECT ok(pg_temp.near(health_score.weighted_score('{70,NULL,40}', '{40,30,30}'), (70 * 40 + 40 * 30) / 70.0::float8)
          AND pg_temp.near(health_score.weighted_score_coverage('{70,NULL,40}', '{40,30,30}'), 0.7),
          'weighted_score and its coverage by hand (dimension scores 40/30/30)');
SELECT ok(health_score.weighted_avg(s, w) IS NULL AND health_score.weighted_coverage(s, w) = 0,
          'all scores NULL: weighted_avg is NULL (unknown), coverage is 0')
  FROM (VALUES (NULL::float8, 2::float8), (NULL, 3)) AS t(s, w);
SELECT ok(health_score.weighted_score('{NULL,NULL}', '{1,2}') IS NULL
          AND health_score.weighted_score_coverage('{NULL,NULL}', '{1,2}') = 0
          AND health_score.weighted_score(NULL, '{1,2}') IS NULL,
          'weighted_score: all NULL is NULL with coverage 0; a NULL array is NULL');
SELECT ok(health_score.weighted_avg(s, w) IS NULL AND health_score.weighted_coverage(s, w) IS NULL,
          'no rows: weighted_avg and weighted_coverage are NULL')
  FROM (VALUES (1::float8, 1::float8)) AS t(s, w) WHERE false;

SELECT ok(pg_temp.near(w[1], 40 / 70.0) AND w[2] IS NULL AND pg_temp.near(w[3], 30 / 70.0)
          AND w[4] IS NULL AND pg_temp.near(w[1] + w[3], 1),
          'effective_weights renormalises within a dimension and over the dimensions with data')
  FROM (SELECT health_score.effective_weights('{5,NULL,7,NULL}', '{1,1,2,3}', '{2,1,1,1}', '{40,30,30}') AS w) AS t;
SELECT ok(health_score.effective_weights('{-1e300,NULL,0,NULL}', '{1,1,2,3}', '{2,1,1,1}', '{40,30,30}')
          = health_score.effective_weights('{5,NULL,7,NULL}', '{1,1,2,3}', '{2,1,1,1}', '{40,30,30}'),
          'effective_weights depends only on which values are known, never on their size');

CREATE TEMP TABLE scored AS
SELECT i % 20 AS g,
       CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 7919 % 10001) / 100.01::float8 END AS s,
       1 + (i * 104729 % 997) / 10.0::float8 AS w
  FROM generate_series(1, 5000) AS i;
SELECT is(count(*) FILTER (WHERE NOT (pg_temp.near(avg_c, avg_sql) AND pg_temp.near(cov_c, cov_sql))), 0::bigint,
          'weighted_avg and weighted_coverage equal sum(w * s) / sum(w) over the known scores, per group')
  FROM (SELECT health_score.weighted_avg(s, w) AS avg_c, health_score.weighted_coverage(s, w) AS cov_c,
               sum(w * s) / sum(w) FILTER (WHERE s IS NOT NULL) AS avg_sql,
               sum(w) FILTER (WHERE s IS NOT NULL) / sum(w) AS cov_sql
          FROM scored GROUP BY g) AS t;
SELECT is(count(*) FILTER (WHERE NOT (pg_temp.near(health_score.weighted_score(ss, ww), a)
                                      AND pg_temp.near(health_score.weighted_score_coverage(ss, ww), c))), 0::bigint,
          'weighted_score over arrays equals weighted_avg over rows, per group')
  FROM (SELECT array_agg(s) AS ss, array_agg(w) AS ww,
               health_score.weighted_avg(s, w) AS a, health_score.weighted_coverage(s, w) AS c
          FROM scored GROUP BY g) AS t;
SELECT ok(pg_temp.near(health_score.weighted_avg_final(health_score.weighted_avg_combine(a, b)),
                       (SELECT health_score.weighted_avg(s, w) FROM scored))
          AND pg_temp.near(health_score.weighted_coverage_final(health_score.weighted_avg_combine(a, b)),
                           (SELECT health_score.weighted_coverage(s, w) FROM scored)),
          'weighted_avg: combining the states of two parts gives the result over all rows')
  FROM (SELECT pg_temp.wavg_state(s, w) FILTER (WHERE g < 5) AS a,
               pg_temp.wavg_state(s, w) FILTER (WHERE g >= 5) AS b FROM scored) AS t;

-- ==== latest_value ========================================================================
SELECT is(health_score.latest_value(v, t, '2024-03-01'), 7::float8,
          'latest_value: newest at or before as_of; ties on time keep the larger; NULLs and future skipped')
  FROM (VALUES (1::float8, '2024-01-01'::timestamptz), (5, '2024-02-15'), (7, '2024-02-15'),
               (3, '2024-02-15'), (NULL, '2024-02-28'), (99, NULL), (9, '2024-03-01 00:00:01')) AS o(v, t);
SELECT ok(count(DISTINCT r) = 1 AND min(r) = 7,
          'latest_value does not depend on the order of the rows')
  FROM (SELECT health_score.latest_value(v, t, '2024-03-01' ORDER BY v) FROM (VALUES (7::float8, '2024-02-15'::timestamptz), (3, '2024-02-15'), (1, '2024-01-01')) AS o(v, t)
        UNION ALL
        SELECT health_score.latest_value(v, t, '2024-03-01' ORDER BY v DESC) FROM (VALUES (7::float8, '2024-02-15'::timestamptz), (3, '2024-02-15'), (1, '2024-01-01')) AS o(v, t)) AS x(r);

-- ==== serial and parallel plans give the same results ====================================
-- A regular table (temporary tables are never scanned in parallel): 300 accounts x 1,000 rows,
-- rows of one account spread over the whole table, some values NULL, some in the future.
CREATE SCHEMA kernels_tap;
CREATE TABLE kernels_tap.obs AS
SELECT 'acct-' || (i % 300) AS account_id,
       CASE WHEN i % 17 = 0 THEN NULL ELSE (i * 7919 % 100003) / 1000.03::float8 END AS value,
       '2024-06-01'::timestamptz - ((i * 104729 % 86400) * interval '3 minutes')
         + CASE WHEN i % 23 = 0 THEN interval '10 days' ELSE interval '0' END AS observed_at,
       1 + (i % 13)::float8 AS weight
  FROM generate_series(1::bigint, 300000) AS i;
ANALYZE kernels_tap.obs;


CREATE TEMP TABLE plans(mode text, plan text);
SET LOCAL max_parallel_workers_per_gather = 0;
INSERT INTO plans SELECT 'serial', pg_temp.explain_of($$
    CREATE TEMP TABLE serial_result AS
    SELECT account_id,
           health_score.decayed_avg(value, observed_at, '2024-06-01', '14 days') AS d_avg,
           health_score.decayed_sum(value, observed_at, '2024-06-01', '14 days') AS d_sum,
           health_score.weighted_avg(value / 1000.03 * 100, weight) AS w_avg,
           health_score.weighted_coverage(value, weight) AS w_cov,
           health_score.latest_value(value, observed_at, '2024-06-01') AS latest,
           count(*) AS n
      FROM kernels_tap.obs GROUP BY account_id$$);
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- the workers alone scan, so every account's partial states come from two processes
SET LOCAL parallel_leader_participation = off;
INSERT INTO plans SELECT 'parallel', pg_temp.explain_of($$
    CREATE TEMP TABLE parallel_result AS
    SELECT account_id,
           health_score.decayed_avg(value, observed_at, '2024-06-01', '14 days') AS d_avg,
           health_score.decayed_sum(value, observed_at, '2024-06-01', '14 days') AS d_sum,
           health_score.weighted_avg(value / 1000.03 * 100, weight) AS w_avg,
           health_score.weighted_coverage(value, weight) AS w_cov,
           health_score.latest_value(value, observed_at, '2024-06-01') AS latest,
           count(*) AS n
      FROM kernels_tap.obs GROUP BY account_id$$);
RESET max_parallel_workers_per_gather;

SELECT doesnt_match(plan, 'Partial', 'the serial plan has no partial aggregate') FROM plans WHERE mode = 'serial';
SELECT matches(plan, 'Partial (Hash|Group)?Aggregate', 'the forced-parallel plan shows a Partial Aggregate')
  FROM plans WHERE mode = 'parallel';
SELECT matches(plan, 'Workers Launched: [1-9]', 'parallel workers really ran') FROM plans WHERE mode = 'parallel';
SELECT is((SELECT count(*) FROM parallel_result), 300::bigint, 'the parallel run returns every account');
SELECT cmp_ok((regexp_match(plan, 'Partial \w*Aggregate \(actual rows=(\d+) loops=(\d+)'))[1]::int
              * (regexp_match(plan, 'Partial \w*Aggregate \(actual rows=(\d+) loops=(\d+)'))[2]::int, '>', 300,
              'partial states of one account came from several processes and were combined')
  FROM plans WHERE mode = 'parallel';
SELECT is(count(*), 0::bigint,
          'serial and parallel runs agree on every aggregate within 1e-12 (relative)')
  FROM serial_result s FULL JOIN parallel_result p USING (account_id)
 WHERE s.n IS DISTINCT FROM p.n OR NOT pg_temp.near(s.d_avg, p.d_avg) OR NOT pg_temp.near(s.d_sum, p.d_sum)
    OR NOT pg_temp.near(s.w_avg, p.w_avg) OR NOT pg_temp.near(s.w_cov, p.w_cov)
    OR s.latest IS DISTINCT FROM p.latest;
-- And both against the formula an analyst would write (no weight underflows here).
SELECT is(count(*), 0::bigint,
          'decayed_avg and decayed_sum equal the plain SQL formula per account')
  FROM parallel_result p
  JOIN (SELECT account_id,
               sum(value * 2 ^ (-extract(epoch FROM '2024-06-01' - observed_at)::float8 / (14 * 86400)))
                 / sum(2 ^ (-extract(epoch FROM '2024-06-01' - observed_at)::float8 / (14 * 86400))) AS d_avg,
               sum(value * 2 ^ (-extract(epoch FROM '2024-06-01' - observed_at)::float8 / (14 * 86400))) AS d_sum
          FROM kernels_tap.obs
         WHERE observed_at <= '2024-06-01' AND value IS NOT NULL
         GROUP BY account_id) AS q USING (account_id)
 WHERE NOT pg_temp.near(p.d_avg::float8, q.d_avg::float8) OR NOT pg_temp.near(p.d_sum::float8, q.d_sum::float8);
SELECT is(count(*), 0::bigint, 'latest_value equals the value of the newest row per account (larger on ties)')
  FROM parallel_result p
  JOIN (SELECT DISTINCT ON (account_id) account_id, value
          FROM kernels_tap.obs
         WHERE observed_at <= '2024-06-01' AND value IS NOT NULL
         ORDER BY account_id, observed_at DESC, value DESC) AS q USING (account_id)
 WHERE p.latest IS DISTINCT FROM q.value;

-- ==== window functions: each frame equals the grouped result over the same rows ==========
CREATE TEMP TABLE series AS
SELECT i % 5 AS g, i AS seq,
       '2024-01-01'::timestamptz + (i / 5) * interval '1 day' + (i % 3) * interval '1 hour' AS observed_at,
       CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 37 % 101)::float8 END AS value,
       1 + i % 4 AS weight
  FROM generate_series(1, 1000) AS i;

SELECT is(count(*) FILTER (WHERE NOT pg_temp.near(w.running, (
              SELECT health_score.decayed_avg(value, observed_at, '2024-12-31', '30 days')
                FROM series s WHERE s.g = w.g AND s.observed_at <= w.observed_at))), 0::bigint,
          'running decayed_avg OVER (PARTITION BY .. ORDER BY ..) equals the grouped result per prefix')
  FROM (SELECT g, observed_at,
               health_score.decayed_avg(value, observed_at, '2024-12-31', '30 days')
                 OVER (PARTITION BY g ORDER BY observed_at) AS running
          FROM series) AS w;
SELECT is(count(*) FILTER (WHERE NOT pg_temp.near(w.running, (
              SELECT health_score.decayed_sum(value, observed_at, '2024-12-31', '30 days')
                FROM series s WHERE s.g = w.g AND s.observed_at <= w.observed_at))), 0::bigint,
          'running decayed_sum equals the grouped result per prefix')
  FROM (SELECT g, observed_at,
               health_score.decayed_sum(value, observed_at, '2024-12-31', '30 days')
                 OVER (PARTITION BY g ORDER BY observed_at) AS running
          FROM series) AS w;
SELECT is(count(*) FILTER (WHERE NOT pg_temp.near(w.moving, (
              SELECT health_score.decayed_avg(value, observed_at, '2024-12-31', '7 days')
                FROM series s WHERE s.g = w.g AND s.seq BETWEEN w.seq - 5 * 6 AND w.seq))), 0::bigint,
          'decayed_avg over a moving frame (ROWS 6 PRECEDING) equals the grouped result over those rows')
  FROM (SELECT g, seq,
               health_score.decayed_avg(value, observed_at, '2024-12-31', '7 days')
                 OVER (PARTITION BY g ORDER BY seq ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS moving
          FROM series) AS w;
SELECT is(count(*) FILTER (WHERE NOT (pg_temp.near(w.a, x.a) AND pg_temp.near(w.c, x.c))), 0::bigint,
          'weighted_avg and weighted_coverage over a moving frame equal the grouped result')
  FROM (SELECT g, seq,
               health_score.weighted_avg(value, weight) OVER f AS a,
               health_score.weighted_coverage(value, weight) OVER f AS c
          FROM series WINDOW f AS (PARTITION BY g ORDER BY seq ROWS BETWEEN 3 PRECEDING AND 1 FOLLOWING)) AS w
  CROSS JOIN LATERAL (SELECT health_score.weighted_avg(value, weight) AS a,
                             health_score.weighted_coverage(value, weight) AS c
                        FROM series s WHERE s.g = w.g AND s.seq BETWEEN w.seq - 15 AND w.seq + 5) AS x;
SELECT is(count(*) FILTER (WHERE w.latest IS DISTINCT FROM (
              SELECT health_score.latest_value(value, observed_at, '2024-12-31')
                FROM series s WHERE s.g = w.g AND s.observed_at <= w.observed_at)), 0::bigint,
          'running latest_value equals the grouped result per prefix')
  FROM (SELECT g, observed_at,
               health_score.latest_value(value, observed_at, '2024-12-31')
                 OVER (PARTITION BY g ORDER BY observed_at) AS latest
          FROM series) AS w;
SELECT is(count(*), 0::bigint,
          'decayed_avg as of each row (frame of earlier rows only) matches the formula')
  FROM (SELECT g, seq, observed_at, value,
               health_score.decayed_avg(value, observed_at, '2024-12-31', '30 days')
                 OVER (PARTITION BY g ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
          FROM series) AS w
 WHERE NOT pg_temp.near(running, (
           SELECT sum(value * 2 ^ (-extract(epoch FROM '2024-12-31' - observed_at)::float8 / (30 * 86400)))
                  / sum(2 ^ (-extract(epoch FROM '2024-12-31' - observed_at)::float8 / (30 * 86400)))
             FROM series s WHERE s.g = w.g AND s.seq <= w.seq AND s.value IS NOT NULL));

-- ==== settings that vary inside a group ==================================================
SELECT throws_ok($$SELECT health_score.decayed_avg(value, observed_at, observed_at, '30 days') FROM three$$,
                 '22023', 'as_of and half_life must be the same for every row of a group',
                 'an as_of that varies inside a group is an error');
SELECT throws_ok($$SELECT health_score.decay_combine(a, b)
                     FROM (SELECT pg_temp.decay_state(1, '2024-01-01', '2024-02-01', '30 days') AS a,
                                  pg_temp.decay_state(1, '2024-01-01', '2024-02-01', '31 days') AS b) AS s$$,
                 '22023', 'as_of and half_life must be the same for every row of a group',
                 'partial states with different half-lives do not combine');

SELECT * FROM finish();
ROLLBACK;
