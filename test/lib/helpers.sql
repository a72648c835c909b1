-- test/lib/helpers.sql: helpers the pgTAP files share, included with
-- \ir ../lib/helpers.sql after BEGIN (they live in pg_temp, so they vanish with the session).

-- near(got, want, tol): equal within a relative tolerance (both NULL counts as equal).
CREATE FUNCTION pg_temp.near(got float8, want float8, tol float8 DEFAULT 1e-12) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((got IS NULL AND want IS NULL) OR got = want
                    OR abs(got - want) <= tol * greatest(abs(got), abs(want)), false)
$$;

-- plan_text(statement, options): the EXPLAIN text of a statement, one line per plan line.
CREATE FUNCTION pg_temp.plan_text(statement text, options text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (' || options || ') ' || statement LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END
$$;

-- plan_of(statement): the plan PostgreSQL chooses, without running the statement.
CREATE FUNCTION pg_temp.plan_of(statement text) RETURNS text
LANGUAGE sql AS $$ SELECT pg_temp.plan_text(statement, 'COSTS OFF') $$;

-- explain_of(statement): the plan as run (EXPLAIN ANALYZE), so the statement also runs.
CREATE FUNCTION pg_temp.explain_of(statement text) RETURNS text
LANGUAGE sql AS $$ SELECT pg_temp.plan_text(statement, 'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF') $$;
