-- metric_value: one aggregate for every aggregation, equal to the dedicated kernels.
BEGIN;
SELECT plan(12);

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
CREATE FUNCTION pg_temp.plan_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || statement LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END
$$;
SELECT matches(pg_temp.plan_of($$SELECT health_score.metric_value(value, observed_at, '2025-01-10', '3 days', 'decayed_avg') FROM t_mv_obs$$),
               'Partial Aggregate', 'the plan is parallel');
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
