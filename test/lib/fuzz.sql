-- The calls of the fuzz test (test/tap/fuzz.sh): every function and aggregate the extension
-- creates, read from pg_proc and pg_depend (so new ones are covered without a change here),
-- called from a valid base call with one argument at a time replaced by each value of a grid
-- for its type, and with every argument bad at once. Prints one line per call,
-- "function<TAB>statement"; each statement runs in its own transaction, rolled back. The
-- result of a final function, or of an aggregate that has one, goes through
-- public.fuzz_finite (created by fuzz.sh), which raises HSF01 when it is NaN or infinite.

CREATE TEMP TABLE fuzz_grid (typ regtype, ord int, val text);
INSERT INTO fuzz_grid
SELECT t::regtype, o, v
  FROM (VALUES
    ('float8', ARRAY['NULL', $$'NaN'$$, $$'Infinity'$$, $$'-Infinity'$$, '0', '-1', '1e308', '-1e308',
                     '5e-324', '0.5', '100', '101']),
    ('integer', ARRAY['NULL', '0', '-1', '2147483647', '-2147483648', '1', '1000000']),
    ('text', ARRAY['NULL', $$''$$, $$'x'$$, $$' '$$, $$repeat('x', 100000)$$, $$'NULL'$$, $$'infinity'$$,
                   $$'NaN'$$, $$'-1'$$, $$'%s %I %L %%'$$, $$E'\u00e9\t\n\\'$$, $$'x''); SELECT (''1'$$,
                   $$'health_score.accounts'$$, $$'pg_catalog.pg_class'$$, $$'decayed_avg'$$, $$'* * * * * *'$$]),
    ('float8[]', ARRAY['NULL', $${}$$, $${NULL}$$, $${{1,2},{3,4}}$$, $${NaN}$$, $${Infinity,-Infinity}$$,
                       $${1e308,1e308}$$, $$[0:1]={1,2}$$, $${0,0,0,0,0,0}$$, $${1,1,1,0,0,1}$$,
                       $${-1,-1,-1,-1,-1,-1,-1,-1,-1}$$, $${1,NULL,3}$$, $${1,2,3,4,5,6,7,8,9,10,11,12}$$,
                       'array_fill(1::float8, ARRAY[100000])', 'array_fill(0::float8, ARRAY[20002])',
                       'array_fill(1::float8, ARRAY[126257])']),
    ('integer[]', ARRAY['NULL', $${}$$, $${NULL}$$, $${{1,2},{3,4}}$$, $${0}$$, $${-1}$$, $${2147483647}$$,
                        $${1,2,3}$$, 'array_fill(1, ARRAY[100000])']),
    ('text[]', ARRAY['NULL', $${}$$, $${NULL}$$, $${{a,b},{c,d}}$$, $${""}$$, $${x}$$, $${x,x}$$,
                     $$array_fill('x'::text, ARRAY[100000])$$]),
    ('interval[]', ARRAY['NULL', $${}$$, $${NULL}$$, $${{1 day},{2 days}}$$, $${0}$$, $${-1 day}$$,
                         $${178000000 years}$$, $${1 microsecond}$$]),
    ('timestamptz', ARRAY['NULL', $$'infinity'$$, $$'-infinity'$$, $$'4713-01-01 00:00 BC'$$,
                          $$'294276-12-31 23:59:59'$$, $$'2000-01-01'$$, $$'1970-01-01'$$, 'now()']),
    ('date', ARRAY['NULL', $$'infinity'$$, $$'-infinity'$$, $$'4713-01-01 BC'$$, $$'5874897-12-31'$$,
                   $$'2000-01-01'$$, $$'2025-12-31'$$]),
    ('interval', ARRAY['NULL', $$'0'$$, $$'-1 day'$$, $$'1 microsecond'$$, $$'178000000 years'$$,
                       $$'-178000000 years'$$, $$'1 mon'$$, $$'1 day'$$]),
    ('boolean', ARRAY['NULL', 'true', 'false']),
    ('regclass', ARRAY['NULL', $$'pg_class'$$, $$'health_score.accounts'$$, $$'health_score.observations'$$,
                       $$'health_score.metrics'$$, $$'0'$$]),
    ('jsonb', ARRAY['NULL', $$'{}'$$, $$'[]'$$, $$'null'$$, $$'{"name": null}'$$, $$'"x"'$$,
                    $$'{"name": "x", "extra": 1}'$$, $$repeat('[', 5000) || repeat(']', 5000)$$])
  ) AS g(t, vals), unnest(g.vals) WITH ORDINALITY AS u(v, o);
-- array literals above are written bare: quote them
UPDATE fuzz_grid SET val = quote_literal(val) WHERE val LIKE '{%' OR val LIKE '[%';

-- Base values: by argument name (and type, where a name has several), else by type.
CREATE TEMP TABLE fuzz_base (arg text, typ regtype, val text);
INSERT INTO fuzz_base VALUES
  ('as_of', 'timestamptz', $$'2025-12-31'$$), ('as_of', 'date', $$'2025-12-31'$$),
  ('from_date', NULL, $$'2025-10-31'$$), ('to_date', NULL, $$'2025-12-31'$$), ('day', NULL, $$'2025-12-31'$$),
  ('observed_at', NULL, $$'2025-12-01'$$), ('half_life', NULL, $$'30 days'$$), ('value', NULL, '1'),
  ('aggregation', NULL, $$'decayed_avg'$$),
  ('input', NULL, '(SELECT min(input) FROM health_score.metrics)'),
  ('inputs', NULL, '(SELECT array_agg(input ORDER BY name) FROM health_score.metrics)'),
  ('half_lives', NULL, '(SELECT array_agg(half_life ORDER BY name) FROM health_score.metrics)'),
  ('max_ages', NULL, '(SELECT array_agg(max_age ORDER BY name) FROM health_score.metrics)'),
  ('aggregations', NULL, '(SELECT array_agg(aggregation ORDER BY name) FROM health_score.metrics)'),
  ('metrics', NULL, '(SELECT array_agg(name ORDER BY name) FROM health_score.metrics)'),
  ('breakpoints', NULL, $$'{0,10}'$$), ('scores', NULL, $$'{0,100}'$$), ('score', NULL, '50'),
  ('weight', NULL, '1'), ('weights', NULL, $$'{1,1}'$$), ('raw_values', NULL, $$'{1,2}'$$),
  ('groups', NULL, $$'{1,1}'$$), ('group_weights', NULL, $$'{1}'$$),
  ('churned', NULL, 'true'), ('threshold', NULL, '50'), ('features', 'float8[]', $$'{1}'$$),
  ('features', 'text[]', $$'{x}'$$), ('coefficients', NULL, $$'{0,1}'$$), ('center', NULL, $$'{0}'$$),
  ('scale', NULL, $$'{1}'$$), ('l2', NULL, '0'), ('names', NULL, $$'{x}'$$), ('z', NULL, '1'),
  ('catalog', NULL, $$'metrics'$$), ('key', NULL, $$'{"name": "x"}'$$),
  ('feed', NULL, $$'fuzz_feed'$$), ('relation', NULL, $$'public.fuzz_feed_rows'$$), ('rel', NULL, $$'public.fuzz_feed_rows'$$),
  ('metric_rows', 'text', $$'health_score.metric_scores($1)'$$),
  ('metric_rows', 'regclass', 'NULL'),
  ('from_sql', NULL, $$'public.fuzz_rows'$$), ('feature_exprs', NULL, $$'{x}'$$),
  ('label_expr', NULL, $$'churned'$$), ('label', NULL, $$'churned'$$), ('max_iter', NULL, '25'),
  ('tol', NULL, '1e-8'), ('ridge_fallback', NULL, 'NULL'), ('name', NULL, $$'fuzz_new_model'$$),
  ('kind', NULL, $$'table'$$), ('source_desc', NULL, $$'public.fuzz_rows'$$), ('label_desc', NULL, $$'churned'$$),
  ('source', NULL, $$'public.fuzz_rows'$$), ('folds', NULL, '3'), ('model', NULL, $$'fuzz_model'$$),
  ('positive_label', NULL, 'NULL'), ('reference_levels', NULL, 'NULL'), ('term_columns', NULL, 'NULL'),
  ('term_levels', NULL, 'NULL'), ('references_used', NULL, 'NULL'), ('positive_value', NULL, 'NULL'),
  ('row_values', NULL, $$'{"x": 1}'$$),
  ('horizons', NULL, $$'{30,90}'$$), ('horizon', NULL, $$'90 days'$$), ('snapshots', NULL, '3'),
  ('step', NULL, $$'30 days'$$), ('vals', NULL, $$'{1,2,3}'$$), ('lo', NULL, '0'), ('hi', NULL, '10'),
  ('band', NULL, $$'green'$$), ('argument', NULL, $$'as_of'$$), ('cron', NULL, $$'0 3 * * *'$$),
  ('enable', NULL, 'false'), ('percentiles', NULL, $${0.05,0.95}$$), ('min_accounts', NULL, '20'),
  ('wrong_way', NULL, $$'keep'$$), ('account_id', NULL, '(SELECT min(account_id) FROM health_score.accounts)');
CREATE TEMP TABLE fuzz_type_base (typ regtype, val text);
INSERT INTO fuzz_type_base VALUES
  ('float8', '1'), ('integer', '1'), ('text', $$'x'$$), ('float8[]', $$'{1}'$$), ('integer[]', $$'{1}'$$),
  ('text[]', $$'{x}'$$), ('interval[]', $$'{30 days}'$$), ('timestamptz', $$'2025-12-31'$$),
  ('date', $$'2025-12-31'$$), ('interval', $$'30 days'$$), ('boolean', 'true'),
  ('regclass', $$'health_score.observations'$$), ('jsonb', $$'{}'$$);

-- Every function, procedure and aggregate of the extension, but trigger functions (callable
-- only as triggers); finite: its float8 or float8[] result comes from a final function.
-- A procedure is CALLed (in the transaction block, so one that commits stops at its COMMIT).
CREATE TEMP VIEW fuzz_functions AS
SELECT p.oid, p.prokind = 'a' AS is_agg, format('%I.%I', n.nspname, p.proname) AS fname,
       CASE WHEN p.prokind = 'p' THEN 'CALL' ELSE 'SELECT' END AS verb,
       p.oid::regprocedure::text AS signature,
       p.prorettype IN ('float8'::regtype, 'float8[]'::regtype)
           AND EXISTS (SELECT FROM pg_aggregate g
                        WHERE g.aggfinalfn = p.oid OR (g.aggfnoid = p.oid AND g.aggfinalfn <> 0)) AS finite
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'health_score'
 WHERE p.prorettype <> 'trigger'::regtype;

-- Each argument with its base value: an aggregate's support functions start from its initcond.
CREATE TEMP VIEW fuzz_args AS
SELECT f.oid, a.ord, a.typ::regtype AS typ,
       coalesce((SELECT b.val FROM fuzz_base b
                  WHERE b.arg = (p.proargnames)[a.ord::int] AND (b.typ IS NULL OR b.typ = a.typ::regtype)
                  ORDER BY b.typ NULLS LAST LIMIT 1),
                CASE WHEN (p.proargnames)[a.ord::int] IN ('state', 'state1', 'state2') THEN
                    (SELECT quote_literal(g.agginitval) FROM pg_aggregate g
                      WHERE f.oid IN (g.aggtransfn, g.aggcombinefn, g.aggfinalfn) AND g.agginitval IS NOT NULL
                      LIMIT 1) END,
                (SELECT t.val FROM fuzz_type_base t WHERE t.typ = a.typ::regtype),
                'NULL') AS base
  FROM fuzz_functions f
  JOIN pg_proc p ON p.oid = f.oid
 CROSS JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(typ, ord);

-- A call with the arguments given (one expression per argument, in order). An aggregate runs
-- over three rows, as an aggregate and as a window function; a varied argument takes its value on the second row only (where), so good
-- and bad rows meet in one group. The result is selected (not counted), so that it is computed.
CREATE TEMP VIEW fuzz_calls AS
WITH variants AS (
    -- the base call, then one argument at a time replaced by each value of its grid
    SELECT f.oid, 0 AS arg, NULL::text AS val FROM fuzz_functions f
    UNION ALL
    SELECT a.oid, a.ord, g.val FROM fuzz_args a JOIN fuzz_grid g ON g.typ = a.typ
    UNION ALL
    -- every argument bad at once: all NULL, all the 2nd and all the 3rd value of their grid
    SELECT f.oid, -k, k::text FROM fuzz_functions f, generate_series(1, 3) k
)
SELECT f.signature,
       format('BEGIN; %s %s%s(%s)%s%s; ROLLBACK;',
              f.verb,
              CASE WHEN f.finite THEN 'public.fuzz_finite(' ELSE '' END,
              f.fname,
              (SELECT coalesce(string_agg(format('(%s)::%s',
                          CASE WHEN v.arg = a.ord AND f.is_agg
                                    THEN format('CASE WHEN fuzz_rows.i = 2 THEN (%s)::%s ELSE %s END', v.val, a.typ, a.base)
                               WHEN v.arg = a.ord THEN v.val
                               WHEN v.arg < 0 THEN coalesce((SELECT g.val FROM fuzz_grid g
                                                              WHERE g.typ = a.typ AND g.ord = v.val::int), 'NULL')
                               ELSE a.base END, a.typ), ', ' ORDER BY a.ord), '')
                 FROM fuzz_args a WHERE a.oid = v.oid),
              CASE WHEN w.over THEN ' OVER (ORDER BY fuzz_rows.i)' ELSE '' END
                  || CASE WHEN f.finite THEN ')' ELSE '' END,
              CASE WHEN f.is_agg THEN ' FROM generate_series(1, 3) AS fuzz_rows(i)' ELSE '' END) AS stmt
  FROM variants v JOIN fuzz_functions f ON f.oid = v.oid
 -- an aggregate runs once as such and once as a window function (its final function is then
 -- called on every row, on a state that goes on growing)
 CROSS JOIN LATERAL (SELECT false AS over UNION ALL SELECT true WHERE f.is_agg) w;

SELECT signature || E'\t' || stmt FROM fuzz_calls ORDER BY signature, stmt;
