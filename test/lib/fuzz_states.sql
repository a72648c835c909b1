-- The state calls of the fuzz test (test/tap/fuzz.sh): every aggregate of the extension with a
-- float8[] state runs over real rows with its transition function alone, so the result is the
-- state the aggregate builds (kept in public.fuzz_states, which the calls read). Each state is
-- then changed, one element at a time (NaN, infinities, negative, fractional and huge counts,
-- 2^53 and beyond) and as a whole (truncated, extended, empty, two-dimensional, a NULL element,
-- other bounds, scaled), and handed to the final function, to the combine function (either
-- side, with the real state on the other) and to the transition function with a real row;
-- what the combine and transition functions return goes on to the final function. A result
-- goes through public.fuzz_finite, which raises HSF01 when it is NaN or infinite. Prints
-- "function<TAB>statement" lines as test/lib/fuzz.sql does. The rows are those fuzz.sh
-- creates (public.fuzz_rows, and public.fuzz_account_rows: one account's observations).

-- The rows each aggregate runs over: its arguments as expressions over a FROM clause. An
-- aggregate with a float8[] state but no rows here is reported by fuzz.sh.
CREATE TEMP TABLE fuzz_state_rows (agg text, variant int, args text, source text);
INSERT INTO fuzz_state_rows VALUES
  ('weighted_avg', 1, 'CASE WHEN i % 4 = 0 THEN NULL ELSE (i * 37) % 101 END::float8, (1 + i % 3)::float8',
   'generate_series(1, 50) i'),
  ('weighted_coverage', 1, 'CASE WHEN i % 4 = 0 THEN NULL ELSE (i * 37) % 101 END::float8, (1 + i % 3)::float8',
   'generate_series(1, 50) i'),
  ('decayed_avg', 1, $$o.value, o.observed_at, '2025-12-31'::timestamptz, '30 days'::interval$$, 'public.fuzz_account_rows o'),
  ('decayed_sum', 1, $$o.value, o.observed_at, '2025-12-31'::timestamptz, '7 days'::interval$$, 'public.fuzz_account_rows o'),
  ('latest_value', 1, $$o.value, o.observed_at, '2025-12-31'::timestamptz$$, 'public.fuzz_account_rows o'),
  ('metric_value', 1, $$o.value, o.observed_at, '2025-12-31'::timestamptz, '30 days'::interval, 'decayed_rate'$$,
   'public.fuzz_account_rows o'),
  ('metric_value', 2, $$o.value, o.observed_at, '2025-12-31'::timestamptz, '30 days'::interval, 'days_since'$$,
   'public.fuzz_account_rows o'),
  ('metric_values', 1, $$o.value, o.observed_at, '2025-12-31'::timestamptz, o.metric,
       (SELECT array_agg(input ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(half_life ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(max_age ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(aggregation ORDER BY name) FROM health_score.metrics)$$, 'public.fuzz_account_rows o'),
  ('metric_values_state', 1, $$o.value, o.observed_at, '2025-12-31'::timestamptz, o.metric,
       (SELECT array_agg(input ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(half_life ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(max_age ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(aggregation ORDER BY name) FROM health_score.metrics)$$, 'public.fuzz_account_rows o'),
  ('metric_values_merge', 1, 's.state',
   $$(SELECT health_score.metric_values_state(o.value, o.observed_at, '2025-12-31'::timestamptz, o.metric,
       (SELECT array_agg(input ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(half_life ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(max_age ORDER BY name) FROM health_score.metrics),
       (SELECT array_agg(aggregation ORDER BY name) FROM health_score.metrics)) AS state
       FROM public.fuzz_account_rows o GROUP BY o.metric) s$$),
  ('auc', 1, 'x * 20, churned', 'public.fuzz_rows'),
  ('auc_health', 1, 'x * 20, churned', 'public.fuzz_rows'),
  ('precision_at', 1, 'x * 20, churned, 50::float8', 'public.fuzz_rows'),
  ('recall_at', 1, 'x * 20, churned, 50::float8', 'public.fuzz_rows'),
  ('false_positive_rate_at', 1, 'x * 20, churned, 50::float8', 'public.fuzz_rows'),
  ('false_negative_rate_at', 1, 'x * 20, churned, 50::float8', 'public.fuzz_rows'),
  ('logit_step', 1, $$ARRAY[x, i::float8], churned, '{0.3,-0.3,0.1}'::float8[], '{2.2,30}'::float8[], '{1.3,17}'::float8[]$$,
   'public.fuzz_rows'),
  ('logit_describe', 1, 'ARRAY[x, i::float8], churned', 'public.fuzz_rows');

-- The aggregates, with their support functions.
CREATE TEMP VIEW fuzz_state_aggs AS
SELECT p.proname::text AS agg, g.aggtransfn::regprocedure::text AS transfn,
       g.aggcombinefn::regproc::text AS combinefn, nullif(g.aggfinalfn, 0)::regproc::text AS finalfn,
       g.agginitval AS initval, pg_get_function_identity_arguments(p.oid) AS argtypes
  FROM pg_aggregate g
  JOIN pg_proc p ON p.oid = g.aggfnoid
 WHERE p.pronamespace = 'health_score'::regnamespace AND g.aggtranstype = 'float8[]'::regtype;

-- The real states: a copy of each aggregate without its final function, over its rows.
CREATE TABLE public.fuzz_states (agg text, variant int, state float8[], PRIMARY KEY (agg, variant));
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT a.*, w.variant, w.args, w.source FROM fuzz_state_aggs a JOIN fuzz_state_rows w USING (agg) LOOP
        EXECUTE format('CREATE AGGREGATE public.fuzz_state_of(%s) (SFUNC = %s, STYPE = float8[]%s)',
                       r.argtypes, split_part(r.transfn, '(', 1),
                       CASE WHEN r.initval IS NULL THEN '' ELSE format(', INITCOND = %L', r.initval) END);
        EXECUTE format('INSERT INTO public.fuzz_states SELECT %L, %s, public.fuzz_state_of(%s) FROM %s',
                       r.agg, r.variant, r.args, r.source);
        EXECUTE format('DROP AGGREGATE public.fuzz_state_of(%s)', r.argtypes);
    END LOOP;
END
$$;
GRANT SELECT ON public.fuzz_states TO PUBLIC;

-- The changed states: an expression for each, reading the real state s.
CREATE TEMP VIEW fuzz_mutations AS
SELECT s.agg, s.variant, m.label, m.expr
  FROM public.fuzz_states s
 CROSS JOIN LATERAL (
    -- each element in turn (the first twelve, the last nine and one in the middle of a long
    -- state) replaced by each bad value
    SELECT format('element %s = %s', p, v) AS label,
           format('s.state[:%s] || %s::float8 || s.state[%s:]', p - 1, v, p + 1) AS expr
      FROM (SELECT DISTINCT p FROM generate_series(1, cardinality(s.state)) p
             WHERE p <= 12 OR p > cardinality(s.state) - 9 OR p = cardinality(s.state) / 2) ps,
           unnest(ARRAY[$$'NaN'$$, $$'Infinity'$$, $$'-Infinity'$$, '-1', '0.5', '9007199254740992',
                        '9007199254740994', '1e308', '-1e308']) v
    UNION ALL
    SELECT format('element %s NULL', p), format('s.state[:%s] || NULL::float8 || s.state[%s:]', p - 1, p + 1)
      FROM generate_series(1, least(cardinality(s.state), 3)) p
    UNION ALL
    SELECT * FROM (VALUES
        ('unchanged', 's.state'),
        ('truncated', 's.state[:cardinality(s.state) - 1]'),
        ('first element only', 's.state[:1]'),
        ('extended', 's.state || 0::float8'),
        ('empty', $$'{}'::float8[]$$),
        ('two-dimensional', 'ARRAY[s.state, s.state]'),
        ('lower bound 0', $$('[0:' || cardinality(s.state) - 1 || ']=' || s.state::text)::float8[]$$),
        ('negated', 'ARRAY(SELECT -x FROM unnest(s.state) x)'),
        ('doubled', 'ARRAY(SELECT 2 * x FROM unnest(s.state) x)'),
        ('times 1e290', 'ARRAY(SELECT 1e290 * x FROM unnest(s.state) x)'),
        ('all NaN', $$array_fill('NaN'::float8, ARRAY[cardinality(s.state)])$$),
        ('all 2^53', $$array_fill(9007199254740992::float8, ARRAY[cardinality(s.state)])$$)
    ) AS w(label, expr)
 ) m;

-- The calls: final(changed), final(combine(changed, real)), final(combine(real, changed)) and
-- final(transition(changed, a real row)); without a final function the state itself.
CREATE TEMP VIEW fuzz_state_calls AS
WITH states AS (
    SELECT a.*, w.args, w.source, m.label,
           format('(SELECT %s FROM public.fuzz_states s WHERE s.agg = %L AND s.variant = %s)',
                  m.expr, m.agg, m.variant) AS changed,
           format('(SELECT s.state FROM public.fuzz_states s WHERE s.agg = %L AND s.variant = %s)',
                  m.agg, m.variant) AS real
      FROM fuzz_mutations m
      JOIN fuzz_state_aggs a USING (agg)
      JOIN fuzz_state_rows w USING (agg, variant)
), calls AS (
    SELECT s.*, c.inner_call
      FROM states s
     CROSS JOIN LATERAL (VALUES
        (s.changed),
        (format('%s(%s, %s)', s.combinefn, s.changed, s.real)),
        (format('%s(%s, %s)', s.combinefn, s.real, s.changed)),
        (format('(SELECT %s(%s, %s) FROM %s LIMIT 1)', split_part(s.transfn, '(', 1), s.changed, s.args, s.source))
     ) AS c(inner_call)
)
SELECT DISTINCT coalesce((SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.oid = c.finalfn::regproc),
                         c.combinefn::regproc::regprocedure::text) AS signature,
       format('BEGIN; SELECT %s; ROLLBACK;',
              CASE WHEN c.finalfn IS NULL THEN c.inner_call
                   ELSE format('public.fuzz_finite(%s(%s))', c.finalfn, c.inner_call) END) AS stmt
  FROM calls c;

SELECT signature || E'\t' || regexp_replace(stmt, '\s+', ' ', 'g') FROM fuzz_state_calls ORDER BY 1;
