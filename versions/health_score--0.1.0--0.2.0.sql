-- health_score upgrade script from 0.1.0 to 0.2.0.
-- Every change to the SQL surface made in src/sql/ for 0.2.0 is repeated here, so that
-- ALTER EXTENSION health_score UPDATE gives exactly what CREATE EXTENSION gives (the upgrade
-- test in test/tap/upgrade.sh compares the two).

\echo Use "ALTER EXTENSION health_score UPDATE TO '0.2.0'" to load this file. \quit

-- Each part below repeats the changes of one area, in the order of src/sql/; keep them apart
-- so that changes to different areas never touch the same lines.

-- Kernels (src/sql/kernels.sql) ------------------------------------------------------------------

-- Catalog (src/sql/catalog.sql) ------------------------------------------------------------------

-- Scores and feeds (src/sql/scores.sql) ----------------------------------------------------------

-- search_path: feeds resolve the relation name in check_feed and check everything else in
-- feed_relation, with a pinned search_path; check_as_of pins it too.
CREATE FUNCTION health_score.feed_relation(feed text, relation text, rel regclass) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
    qualified text;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'feed "%": relation "%" does not exist', feed, relation
            USING ERRCODE = 'undefined_table';
    END IF;
    SELECT string_agg(c, ', ') INTO missing
      FROM unnest(ARRAY['account_id', 'metric', 'observed_at', 'value']) AS c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = rel AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'feed "%": relation % lacks the column(s) %', feed, rel, missing
            USING ERRCODE = 'undefined_column';
    END IF;
    -- Stored schema-qualified, so scoring finds it whatever the search_path.
    SELECT format('%I.%I', n.nspname, c.relname) INTO qualified
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel;
    -- The columns must cast to the observation types.
    BEGIN
        EXECUTE format('SELECT account_id::text, metric::text, observed_at::timestamptz, value::float8 FROM %s LIMIT 0',
                       qualified);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'feed "%": the columns of % must cast to text, text, timestamptz and float8: %', feed, rel, SQLERRM
            USING ERRCODE = SQLSTATE;
    END;
    RETURN qualified;
END
$$;

COMMENT ON FUNCTION health_score.feed_relation(text, text, regclass) IS
'Checks a feed''s relation (rel, resolved from the name relation): it must exist, have the observation columns and cast to their types; returns its schema-qualified name. Called by the feeds trigger.';

-- The one function without a pinned search_path: the relation name must resolve as the user
-- who wrote it sees it. So it does nothing but resolve the name (one schema-qualified call,
-- no operators) and hand over to feed_relation, whose search_path is pinned.
CREATE OR REPLACE FUNCTION health_score.check_feed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.relation := health_score.feed_relation(NEW.name, NEW.relation, pg_catalog.to_regclass(NEW.relation));
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION health_score.check_as_of(as_of timestamptz) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF as_of IS NULL OR as_of IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp, got %', coalesce(as_of::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- Churn (src/sql/churn.sql) ----------------------------------------------------------------------

-- Views (src/sql/views.sql) ----------------------------------------------------------------------

-- History (src/sql/history.sql) ------------------------------------------------------------------

-- Access (src/sql/access.sql) --------------------------------------------------------------------
