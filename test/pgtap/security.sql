-- The API and the internals: every function PUBLIC may not execute refuses a role without the
-- extension's roles (42501), and those the extension's roles do not need refuse them too, even
-- when called by hand with the arguments that once crashed the server; the API works for a
-- reader and a CSM, aggregates included (they check their support functions against their
-- owner, not the caller). The roles are created inside the transaction and vanish with it.
BEGIN;
SELECT plan(21);
\ir ../lib/helpers.sql

SET LOCAL timezone = 'UTC';
SET LOCAL health_score.as_of = '2025-06-30 00:00+00';

CREATE ROLE hs_sec_nobody LOGIN;
CREATE ROLE hs_sec_csm LOGIN IN ROLE health_score_csm;
CREATE ROLE hs_sec_bi LOGIN IN ROLE health_score_reader;
-- The nobody role may look into the schema, so a refusal is about the function, not the schema.
GRANT USAGE ON SCHEMA health_score TO hs_sec_nobody;

INSERT INTO health_score.accounts (account_id, name, segment, plan, owner, mrr, started_on)
SELECT format('sec-%s', i), format('account %s', i), 'mid_market', 'pro',
       CASE WHEN i <= 2 THEN 'hs_sec_csm' END, 100 * i, date '2024-01-01'
  FROM generate_series(1, 4) AS i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, timestamptz '2025-06-30 00:00+00' - d * interval '1 day', m.breakpoints[1] + d
  FROM health_score.accounts a
 CROSS JOIN (SELECT DISTINCT ON (input) * FROM health_score.metrics ORDER BY input, name) m
 CROSS JOIN generate_series(1, 40, 3) AS d
 WHERE a.account_id LIKE 'sec-%';
CREATE TEMP TABLE t_snapshots AS SELECT health_score.snapshot(d) FROM (VALUES (date '2025-06-01'), ('2025-06-30')) AS v(d);

-- A small table to cross-validate a churn model on, readable by every test role.
CREATE TEMP TABLE t_churn AS
SELECT i::float8 AS x, (i % 7 = 0 OR i > 160) AS churned FROM generate_series(1, 200) AS i;
GRANT SELECT ON t_churn TO PUBLIC;

-- refused_not(): the internals the current role may not execute that did not refuse it with 42501,
-- each called with NULL arguments the planner cannot fold away (OFFSET 0), so the call reaches
-- the executor. A function that takes an internal argument (the support functions of an
-- aggregate with an internal state) cannot be called from SQL at all: no value casts to internal.
CREATE FUNCTION pg_temp.refused_not() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    f record;
    failures text[] := '{}';
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig, p.oid,
                    (SELECT string_agg(format('NULL::%s AS a%s', t::regtype, k), ', ')
                       FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS x(t, k)) AS args,
                    (SELECT string_agg('s.a' || k, ', ')
                       FROM generate_series(1, p.pronargs) AS k) AS refs
               FROM pg_proc p
              WHERE p.pronamespace = 'health_score'::regnamespace AND p.prokind = 'f'
                AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
                AND NOT has_function_privilege(current_user, p.oid, 'EXECUTE')
                AND NOT 'internal'::regtype = ANY (p.proargtypes::oid[])
              ORDER BY 1 LOOP
        BEGIN
            EXECUTE format('SELECT %s(%s) FROM (SELECT %s OFFSET 0) s', f.oid::regproc, coalesce(f.refs, ''),
                           coalesce(f.args, '1 AS a0'));
            failures := failures || (f.sig::text || ': ran');
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;
        WHEN OTHERS THEN
            failures := failures || (f.sig::text || ': ' || SQLSTATE);
        END;
    END LOOP;
    RETURN array_to_string(failures, E'\n');
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.refused_not() TO PUBLIC;

-- internals_granted(): the internals the current role may execute.
CREATE FUNCTION pg_temp.internals_granted() RETURNS SETOF text
LANGUAGE sql AS $$
    SELECT p.proname::text FROM pg_proc p
     WHERE p.pronamespace = 'health_score'::regnamespace
       AND NOT has_function_privilege('public', p.oid, 'EXECUTE') AND has_function_privilege(p.oid, 'EXECUTE')
$$;
CREATE TEMP TABLE t_granted (name) AS VALUES ('observations_sql'), ('feeds_sql'), ('metric_scores_sql'), ('metric_rows_sql'), ('metric_level'),
    ('account_periods_sql'), ('live_accounts_sql'), ('account_scores_sql'),
    ('score_account'), ('account_features_sql'), ('check_as_of'), ('check_date'), ('step_dates'), ('refresh_rows'), ('attribution_check'), ('backtest_check'),
    ('backtest_check_horizons'), ('backtest_points_of'), ('backtest_of'), ('trends_of'), ('score_change_z_of'), ('alerts_at_of'), ('churn_fit'),
    ('check_fit_arguments'), ('check_metric_names'),
    ('churn_evaluate'), ('churn_columns'), ('account_training'), ('account_imputation'), ('account_design'),
    ('account_model_design'), ('feed_problem'), ('feed_relid'), ('feed_rows'), ('bad_observations'), ('refuse_observation');
GRANT SELECT ON t_granted TO PUBLIC;

SELECT ok((SELECT count(*) >= 40 FROM pg_proc p WHERE p.pronamespace = 'health_score'::regnamespace
             AND NOT has_function_privilege('public', p.oid, 'EXECUTE')),
          'the internals (aggregate support, triggers, builders, checks) are not executable by PUBLIC');

-- ---- a role without the extension's roles ---------------------------------------------------------
SET LOCAL ROLE hs_sec_nobody;
SELECT is(pg_temp.refused_not(), '', 'every internal refuses a role without the extension''s roles (42501)');
SELECT is_empty($$SELECT * FROM pg_temp.internals_granted()$$, 'that role may execute no internal');
SELECT throws_ok($$SELECT health_score.weighted_avg_accum(NULL, 1, 1)$$, '42501', NULL,
                 'an aggregate''s transition function cannot be called by hand');
SELECT throws_ok($$SELECT health_score.metric_scores_sql()$$, '42501', NULL,
                 'nor a query builder');
SELECT is((SELECT health_score.weighted_avg(x, 1) FROM generate_series(1, 3) AS x), 2::float8,
          'the aggregates work for any role');
SELECT is(health_score.scale(50, '{0,100}', '{0,100}'), 50::float8, 'the scalar kernels work for any role');
RESET ROLE;

-- ---- a CSM --------------------------------------------------------------------------------------------
SET LOCAL ROLE hs_sec_csm;
SELECT set_eq($$SELECT * FROM pg_temp.internals_granted()$$, $$SELECT name FROM t_granted$$,
              'a CSM may execute the internals the API calls as the caller, and no other');
SELECT is(pg_temp.refused_not(), '', 'the other internals refuse a CSM (42501)');
SELECT throws_ok($$SELECT health_score.latest_accum(NULL, 1, now(), now())$$, '42501', NULL,
                 'a CSM cannot call a transition function by hand');
SELECT is((SELECT count(*) FROM health_score.account_scores(health_score.current_as_of()) WHERE account_id LIKE 'sec-%'),
          4::bigint, 'a CSM scores the accounts (account_scores runs its builders and checks)');
SELECT ok((SELECT count(*) > 0 FROM health_score.metric_scores(health_score.current_as_of()) WHERE account_id LIKE 'sec-%'),
          'a CSM gets metric scores');
SELECT lives_ok($$SELECT count(*) FROM health_score.account_health$$, 'a CSM reads the views');
SELECT ok((SELECT count(*) > 0 FROM health_score.attribution('2025-06-01', '2025-06-30')),
          'a CSM runs attribution (its argument check)');
SELECT lives_ok($$SELECT pg_temp.explain_of(replace(health_score.metric_scores_sql(), '$1', quote_literal(now()) || '::timestamptz'))$$,
                'a CSM explains the scoring query');
RESET ROLE;

-- ---- a reader -----------------------------------------------------------------------------------------
SET LOCAL ROLE hs_sec_bi;
SELECT set_eq($$SELECT * FROM pg_temp.internals_granted()$$, $$SELECT name FROM t_granted$$,
              'a reader may execute the internals the API calls as the caller, and no other');
SELECT is(pg_temp.refused_not(), '', 'the other internals refuse a reader (42501)');
SELECT is((SELECT count(*) FROM health_score.account_scores(health_score.current_as_of()) WHERE account_id LIKE 'sec-%'),
          4::bigint, 'a reader scores the accounts');
SELECT lives_ok($$SELECT count(*) FROM health_score.account_churn
                  UNION ALL SELECT count(*) FROM health_score.score_trends UNION ALL SELECT count(*) FROM health_score.alerts$$,
                'a reader reads the churn, trend and alert views');
SELECT is((SELECT fold_count FROM health_score.churn_cross_validate('t_churn', '{x}', 'churned', 2)), 2,
          'a reader cross-validates a churn model (its fitting internals)');
SELECT throws_ok($$INSERT INTO health_score.feeds (name, relation) VALUES ('x', 'health_score.observations')$$, '42501', NULL,
                 'a reader cannot add a feed');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
