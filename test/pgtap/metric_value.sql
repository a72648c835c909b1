-- metric_value: one aggregate for every aggregation, equal to the dedicated kernels.
BEGIN;
SELECT plan(19);
\ir ../lib/helpers.sql

-- A plain table (rolled back at the end): parallel workers cannot read temporary ones.
CREATE TABLE t_mv_obs AS
SELECT g % 7 AS grp, timestamptz '2025-01-01' + (g * 37 % 400) * interval '1 hour' AS observed_at,
       (g * 13 % 17)::float8 AS value
  FROM generate_series(1, 5000) g;
CREATE TEMP TABLE t_as_of AS SELECT timestamptz '2025-01-10' AS as_of;

SELECT results_eq(
  $$SELECT grp, health_score.metric_value(value, observed_at, (SELECT as_of FROM t_as_of), '3 days', 'decayed_avg') FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  $$SELECT grp, health_score.decayed_avg(value, observed_at, (SELECT as_of FROM t_as_of), '3 days') FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  'decayed_avg as decayed_avg computes it');
SELECT results_eq(
  $$SELECT grp, health_score.metric_value(value, observed_at, (SELECT as_of FROM t_as_of), '3 days', 'decayed_sum') FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  $$SELECT grp, health_score.decayed_sum(value, observed_at, (SELECT as_of FROM t_as_of), '3 days') FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  'decayed_sum as decayed_sum computes it');
SELECT results_eq(
  $$SELECT grp, round(health_score.metric_value(value, observed_at, (SELECT as_of FROM t_as_of), '3 days', 'decayed_rate')::numeric, 10) FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  $$SELECT grp, round((sum(value * power(2, -extract(epoch FROM (SELECT as_of FROM t_as_of) - observed_at) / (3 * 86400))) * ln(2) / 3)::numeric, 10)
      FROM t_mv_obs WHERE observed_at <= (SELECT as_of FROM t_as_of) GROUP BY grp ORDER BY grp$$,
  'decayed_rate: the decayed sum x ln 2 / half-life in days, by hand');
SELECT results_eq(
  $$SELECT grp, health_score.metric_value(value, observed_at, (SELECT as_of FROM t_as_of), '3 days', 'latest') FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  $$SELECT grp, health_score.latest_value(value, observed_at, (SELECT as_of FROM t_as_of)) FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  'latest as latest_value computes it');
SELECT results_eq(
  $$SELECT grp, health_score.metric_value(value, observed_at, (SELECT as_of FROM t_as_of), '3 days', 'days_since') FROM t_mv_obs GROUP BY grp ORDER BY grp$$,
  $$SELECT grp, extract(epoch FROM (SELECT as_of FROM t_as_of) - max(observed_at))::float8 / 86400 FROM t_mv_obs
     WHERE observed_at <= (SELECT as_of FROM t_as_of) GROUP BY grp ORDER BY grp$$,
  'days_since: days from the latest observation at or before as_of');
SELECT is((SELECT health_score.metric_value(value, observed_at, '2024-01-01', '3 days', 'latest') FROM t_mv_obs), NULL,
          'nothing observed by as_of gives NULL');

-- Partial states combine to the serial result (a parallel plan, forced).
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
ANALYZE t_mv_obs;
SELECT results_eq(
  $$SELECT round(health_score.metric_value(value, observed_at, '2025-01-10', '3 days', 'decayed_avg')::numeric, 9)::text
       || '/' || health_score.metric_value(value, observed_at, '2025-01-10', '3 days', 'latest') FROM t_mv_obs$$,
  $$SELECT round(health_score.decayed_avg(value, observed_at, '2025-01-10', '3 days')::numeric, 9)::text
       || '/' || health_score.latest_value(value, observed_at, '2025-01-10') FROM t_mv_obs$$,
  'combined partial states equal the dedicated kernels');
SELECT matches(pg_temp.plan_of($$SELECT health_score.metric_value(value, observed_at, '2025-01-10', '3 days', 'decayed_avg') FROM t_mv_obs$$),
               'Partial Aggregate', 'the plan is parallel');
RESET parallel_setup_cost;

-- metric_values: every metric of a group at once, each slot equal to metric_value over its
-- input's rows (two slots may read the same input; max_age drops older rows).
CREATE TABLE t_mv_inputs AS
SELECT grp, CASE WHEN value::int % 3 = 0 THEN 'a' WHEN value::int % 3 = 1 THEN 'bb' ELSE 'c' END AS input,
       observed_at, value
  FROM t_mv_obs;
CREATE TEMP TABLE t_slots (slot int, input text, half_life interval, max_age interval, aggregation text);
INSERT INTO t_slots VALUES (1, 'a', '3 days', NULL, 'decayed_avg'), (2, 'a', '10 days', '5 days', 'decayed_sum'),
                           (3, 'bb', '3 days', NULL, 'latest'), (4, 'c', '2 days', NULL, 'days_since'),
                           (5, 'zz', '3 days', NULL, 'latest');
CREATE TEMP TABLE t_together AS
SELECT grp, v.slot, v.raw_value
  FROM (SELECT grp, health_score.metric_values(value, observed_at, '2025-01-10', input,
                    (SELECT array_agg(input ORDER BY slot) FROM t_slots), (SELECT array_agg(half_life ORDER BY slot) FROM t_slots),
                    (SELECT array_agg(max_age ORDER BY slot) FROM t_slots), (SELECT array_agg(aggregation ORDER BY slot) FROM t_slots)) AS vals
          FROM t_mv_inputs GROUP BY grp) g,
       unnest(g.vals) WITH ORDINALITY AS v(raw_value, slot);
SELECT results_eq(
  $$SELECT grp, slot::int, round(raw_value::numeric, 9) FROM t_together WHERE slot <= 4 ORDER BY grp, slot$$,
  $$SELECT i.grp, s.slot, round(health_score.metric_value(i.value, i.observed_at, '2025-01-10', s.half_life, s.aggregation)::numeric, 9)
      FROM t_mv_inputs i JOIN t_slots s ON s.input = i.input
     WHERE s.max_age IS NULL OR i.observed_at > timestamptz '2025-01-10' - s.max_age
     GROUP BY i.grp, s.slot ORDER BY i.grp, s.slot$$,
  'metric_values: each slot is metric_value over its input''s rows, max_age applied');
SELECT is((SELECT count(*) FROM t_together WHERE slot = 5 AND raw_value IS NULL), 7::bigint,
          'a slot whose input has no rows is NULL');
SELECT results_eq(
  $$SELECT grp, slot, round(raw_value::numeric, 9) FROM t_together ORDER BY grp, slot$$,
  $$SELECT grp, v.slot, round(v.raw_value::numeric, 9)
      FROM (SELECT grp, health_score.metric_values(value, observed_at, '2025-01-10', input,
                        '{a,a,bb,c,zz}', '{3 days,10 days,3 days,2 days,3 days}', '{NULL,5 days,NULL,NULL,NULL}',
                        '{decayed_avg,decayed_sum,latest,days_since,latest}') AS vals
              FROM (SELECT * FROM t_mv_inputs ORDER BY observed_at DESC) r GROUP BY grp) g,
           unnest(g.vals) WITH ORDINALITY AS v(raw_value, slot) ORDER BY grp, slot$$,
  'metric_values does not depend on the order of the rows');
ANALYZE t_mv_inputs;
SET LOCAL parallel_setup_cost = 0;
SELECT matches(pg_temp.plan_of($$SELECT health_score.metric_values(value, observed_at, '2025-01-10', input, '{a}', '{1 day}', '{NULL}', '{latest}') FROM t_mv_inputs$$),
               'Partial Aggregate', 'metric_values runs in parallel');
SELECT is((SELECT array(SELECT round(v::numeric, 9) FROM unnest(health_score.metric_values(value, observed_at, '2025-01-10', input, '{a,bb,c}', '{3 days,3 days,2 days}', '{NULL,NULL,NULL}', '{decayed_avg,latest,days_since}')) v) FROM t_mv_inputs),
          (SELECT array(SELECT round(v::numeric, 9) FROM unnest(health_score.metric_values(value, observed_at, '2025-01-10', input, '{a,bb,c}', '{3 days,3 days,2 days}', '{NULL,NULL,NULL}', '{decayed_avg,latest,days_since}')) v)
             FROM (SELECT * FROM t_mv_inputs ORDER BY observed_at DESC OFFSET 0) r),
          'the parallel result equals a serial one in another order');
SELECT throws_ok($$SELECT health_score.metric_values(1, now(), now(), 'a', '{a,b}', '{1 day}', '{NULL,NULL}', '{latest,latest}')$$,
                 '2202E', 'inputs, half_lives, max_ages and aggregations must have the same length',
                 'metric_values: arrays of different lengths are refused');
SELECT throws_ok($$SELECT health_score.metric_values(1, now(), now(), 'a', '{a}', '{-1 day}', '{NULL}', '{latest}')$$,
                 '22023', 'half_lives must be positive, got element 1', 'metric_values: a non-positive half-life is refused');

RESET parallel_setup_cost;

-- Bad input.
SELECT throws_ok($$SELECT health_score.metric_value(1, now(), now(), '1 day', 'median')$$, '22023',
                 'aggregation must be one of decayed_avg, decayed_sum, decayed_rate, latest, days_since, got "median"',
                 'an unknown aggregation is refused');
SELECT throws_ok($$SELECT health_score.metric_value(1, now(), now(), '1 day', NULL)$$, '22004',
                 'aggregation must not be NULL', 'a NULL aggregation is refused');
SELECT throws_ok($$SELECT health_score.metric_value(1, now(), now(), '1 day', a) FROM unnest('{latest,decayed_avg}'::text[]) a$$,
                 '22023', 'aggregation must be the same for every row of a group', 'a varying aggregation is refused');
SELECT throws_ok($$SELECT health_score.metric_value(1, now(), now(), '0 days', 'latest')$$, '22023',
                 'half_life must be positive', 'a non-positive half-life is refused');

SELECT * FROM finish();
ROLLBACK;
