-- The scoring pass runs in parallel: a forced parallel plan gives the same scores as a serial one.
BEGIN;
SELECT plan(3);

INSERT INTO health_score.accounts (account_id, segment, started_on)
SELECT 'p' || i, (ARRAY['enterprise', 'mid_market', 'smb'])[1 + i % 3], '2024-01-01'
  FROM generate_series(1, 600) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT 'p' || i, m, timestamptz '2025-01-01' + d * interval '1 day', (i * 7 + d * 3) % 11
  FROM generate_series(1, 600) i, generate_series(0, 89) d,
       unnest(ARRAY['nps', 'seat_penetration', 'login', 'payment_behaviour', 'workflow_completion']) m
 WHERE m <> 'login' OR (i + d) % 3 > 0;
ANALYZE health_score.observations;

CREATE TEMP TABLE t_serial AS SELECT * FROM health_score.account_scores('2025-03-31');

SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;

CREATE TEMP TABLE t_plan (line text);
DO $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN ' || replace(health_score.metric_scores_sql(), '$1', $q$'2025-03-31'::timestamptz$q$) LOOP
        INSERT INTO t_plan VALUES (line);
    END LOOP;
END
$$;
SELECT ok(EXISTS (SELECT FROM t_plan WHERE line ~ 'Partial (Hash|Group)Aggregate'),
          'the grouped pass over the observations is a partial (parallel) aggregate');
SELECT ok(EXISTS (SELECT FROM t_plan WHERE line ~ 'Gather'), 'under a Gather');

SELECT results_eq('SELECT * FROM health_score.account_scores(''2025-03-31'') ORDER BY account_id',
                  'SELECT * FROM t_serial ORDER BY account_id',
                  'parallel and serial plans give the same scores');

SELECT * FROM finish();
ROLLBACK;
