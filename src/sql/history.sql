-- health_score install script: score history, trends, alerts, backtests and the scheduled refresh.
--
-- Everything here reads the scores through account_scores(as_of), metric_scores(as_of) and,
-- when a churn model exists, account_churn_risk(as_of): a snapshot of a past date is the live
-- score at that date, never a separate computation.

-- Score history -----------------------------------------------------------------------------

CREATE TABLE health_score.score_history (
    as_of               date NOT NULL,
    account_id          text NOT NULL,
    score               float8,
    product_score       float8,
    relationship_score  float8,
    business_score      float8,
    dimension_scores    jsonb,
    band                text,
    alert_tier          text,
    coverage            float8,
    churn_risk          float8,
    reason              text,
    config_version      bigint NOT NULL,
    taken_at            timestamptz NOT NULL DEFAULT now(),
    churn_model         text,
    churn_model_version int,
    churn_risk_reason   text,
    churn_risk_low      float8,
    churn_risk_high     float8,
    PRIMARY KEY (account_id, as_of),
    CHECK (score IS NULL OR (score >= 0 AND score <= 100)),
    CHECK (churn_risk IS NULL OR (churn_risk >= 0 AND churn_risk <= 100))
);

CREATE INDEX score_history_as_of_idx ON health_score.score_history (as_of);

COMMENT ON TABLE health_score.score_history IS
'One row per account and date: the score as of midnight at the start of that date (session time zone), written by snapshot() and backfill(). Point in time: only observations at or before that instant count.';
COMMENT ON COLUMN health_score.score_history.as_of IS 'The date scored; the score is as of midnight at its start.';
COMMENT ON COLUMN health_score.score_history.account_id IS 'The account (health_score.accounts).';
COMMENT ON COLUMN health_score.score_history.score IS 'Health score 0-100; NULL when there was not enough data (see reason).';
COMMENT ON COLUMN health_score.score_history.product_score IS 'Product dimension score 0-100, NULL when unknown.';
COMMENT ON COLUMN health_score.score_history.relationship_score IS 'Relationship dimension score 0-100, NULL when unknown.';
COMMENT ON COLUMN health_score.score_history.business_score IS 'Business dimension score 0-100, NULL when unknown.';
COMMENT ON COLUMN health_score.score_history.dimension_scores IS 'Every dimension''s score 0-100 at that date, as jsonb (custom dimensions included).';
COMMENT ON COLUMN health_score.score_history.band IS 'Action band of the score (health_score.bands) at that date.';
COMMENT ON COLUMN health_score.score_history.alert_tier IS 'Alert tier of the score (health_score.alert_tiers) at that date.';
COMMENT ON COLUMN health_score.score_history.coverage IS 'Share (0-1) of the metric weight that had data.';
COMMENT ON COLUMN health_score.score_history.churn_risk IS 'Churn risk 0-100 % at that date from the account churn model the dashboards use (churn_model), only when the model''s training window (as_of + horizon) had ended by then: no risk from a model that learned from later churn. NULL otherwise (see churn_risk_reason).';
COMMENT ON COLUMN health_score.score_history.reason IS 'Why score is NULL, when it is.';
COMMENT ON COLUMN health_score.score_history.config_version IS 'health_score.config_version() when the row was written: the scoring configuration it was computed with.';
COMMENT ON COLUMN health_score.score_history.taken_at IS 'When the row was written.';
COMMENT ON COLUMN health_score.score_history.churn_model IS 'The account churn model the snapshot asked for the risk (account_churn_model()); NULL when there was none.';
COMMENT ON COLUMN health_score.score_history.churn_model_version IS 'Its version.';
COMMENT ON COLUMN health_score.score_history.churn_risk_reason IS 'Why churn_risk is NULL, when it is: no account churn model, a model trained on churn after that date, or no data for a metric the model needs.';
COMMENT ON COLUMN health_score.score_history.churn_risk_low IS 'Low end of the 95 % confidence interval of churn_risk (account_churn_risk); NULL with churn_risk, when the model has no covariance matrix (trained before 0.2.0), and in rows written before 0.2.0.';
COMMENT ON COLUMN health_score.score_history.churn_risk_high IS 'High end of the 95 % confidence interval of churn_risk; NULL as churn_risk_low.';

-- Metric history ------------------------------------------------------------------------------
-- The metric-level detail behind each score of score_history, stored compactly: one row per
-- account and date (metric_history_days) holding the values of its metrics as float8 arrays,
-- in the order of a layout (metric_history_layouts: the metrics and their dimensions, shared
-- by every row with the same metrics), so a metric of a day takes about 34 bytes where a row
-- of its own took about 175 with its indexes. The rows are partitioned by month, so that old
-- months can be detached or dropped. The view metric_history shows them one row per account,
-- metric and date, as the table of that name did before 0.2.0.

CREATE TYPE health_score.metric_history_arrays AS (
    layout_key        integer,
    metrics           text[],
    dimensions        text[],
    raw_values        float8[],
    sub_scores        float8[],
    effective_weights float8[],
    contributions     float8[]
);

COMMENT ON TYPE health_score.metric_history_arrays IS
'Returned by metric_history_arrays: one account''s metric rows of a date as a layout (metrics, dimensions) and the values in its order.';
COMMENT ON COLUMN health_score.metric_history_arrays.layout_key IS 'The layout''s number in the query (1, 2, ... in the order first met).';
COMMENT ON COLUMN health_score.metric_history_arrays.metrics IS 'The metrics, in the order of the rows; given with the first group of each layout_key of a query, NULL after.';
COMMENT ON COLUMN health_score.metric_history_arrays.dimensions IS 'The dimension of each metric; NULL as metrics.';
COMMENT ON COLUMN health_score.metric_history_arrays.raw_values IS 'Each metric''s raw value.';
COMMENT ON COLUMN health_score.metric_history_arrays.sub_scores IS 'Each metric''s sub-score.';
COMMENT ON COLUMN health_score.metric_history_arrays.effective_weights IS 'Each metric''s effective weight.';
COMMENT ON COLUMN health_score.metric_history_arrays.contributions IS 'Each metric''s contribution; NULL when each is effective_weight * sub_score to the bit.';

CREATE FUNCTION health_score.metric_history_arrays_accum(state internal, metric text, dimension text,
                                                         raw_value float8, sub_score float8,
                                                         effective_weight float8, contribution float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'metric_history_arrays_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_history_arrays_accum(internal, text, text, float8, float8, float8, float8) IS
'Transition function of metric_history_arrays: keeps each row''s metric, dimension and values.';

CREATE FUNCTION health_score.metric_history_arrays_final(state internal)
RETURNS health_score.metric_history_arrays
AS 'MODULE_PATHNAME', 'metric_history_arrays_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_history_arrays_final(internal) IS
'Final function of metric_history_arrays: the rows kept, as arrays.';

CREATE AGGREGATE health_score.metric_history_arrays(metric text, dimension text, raw_value float8,
                                                    sub_score float8, effective_weight float8,
                                                    contribution float8) (
    SFUNC = health_score.metric_history_arrays_accum,
    STYPE = internal,
    -- what a state of up to 24 metric rows takes, 1 kB and the small state's chunk (the
    -- planner assumes 8 kB for an internal state)
    SSPACE = 1100,
    FINALFUNC = health_score.metric_history_arrays_final,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.metric_history_arrays(text, text, float8, float8, float8, float8) IS
'One account''s metric rows of a date as metric_history_days stores them: the metrics and their dimensions in the order of the rows (a layout, numbered within the query by layout_key; the names come with its first group only), and the raw values, sub-scores, effective weights and contributions in that order; contributions NULL when each is effective_weight * sub_score to the bit. Any value may be NULL; metric must not be.';

-- Numbered from a sequence: writers never wait for each other's new layouts (two may add the
-- same one at once, which is harmless: the lowest number is used from then on).
CREATE SEQUENCE health_score.metric_history_layout_numbers AS integer;

COMMENT ON SEQUENCE health_score.metric_history_layout_numbers IS
'Numbers the layouts of metric_history_layouts.';

CREATE TABLE health_score.metric_history_layouts (
    layout     integer PRIMARY KEY DEFAULT nextval('health_score.metric_history_layout_numbers'),
    metrics    text[] NOT NULL,
    dimensions text[] NOT NULL,
    CHECK (cardinality(metrics) = cardinality(dimensions))
);

COMMENT ON TABLE health_score.metric_history_layouts IS
'The layouts of metric_history_days: each is a list of metrics with the dimension each belonged to, the order of the values in the rows that name it. Added by snapshot(), never changed: a row keeps the metrics and dimensions of its date whatever the catalog becomes.';
COMMENT ON COLUMN health_score.metric_history_layouts.layout IS 'The layout''s number (metric_history_days.layout).';
COMMENT ON COLUMN health_score.metric_history_layouts.metrics IS 'The metrics, in the order of the values.';
COMMENT ON COLUMN health_score.metric_history_layouts.dimensions IS 'The dimension of each metric at the dates of the rows.';

ALTER SEQUENCE health_score.metric_history_layout_numbers OWNED BY health_score.metric_history_layouts.layout;
SELECT pg_catalog.pg_extension_config_dump('health_score.metric_history_layouts', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.metric_history_layout_numbers', '');

-- No index on the parent: each month's partition gets its primary key when created (see
-- metric_history_partition). An index on the parent, created with the extension, would make a
-- restore of pg_dump's output fail on the primary keys it adds to the partitions.
CREATE TABLE health_score.metric_history_days (
    as_of             date NOT NULL,
    layout            integer NOT NULL,
    account_id        text NOT NULL,
    raw_values        float8[] NOT NULL,
    sub_scores        float8[] NOT NULL,
    effective_weights float8[] NOT NULL,
    contributions     float8[]
) PARTITION BY RANGE (as_of);

COMMENT ON TABLE health_score.metric_history_days IS
'The metric history, one row per account and date, written with score_history by snapshot(): the values of the account''s metrics in the order of a layout. Partitioned by month (metric_history_days_YYYY_MM, created by snapshot() as needed): detach or drop a month to stop keeping it. Read it through the view metric_history.';
COMMENT ON COLUMN health_score.metric_history_days.as_of IS 'The date scored (as in score_history).';
COMMENT ON COLUMN health_score.metric_history_days.layout IS 'The metrics and their dimensions (metric_history_layouts), in the order of the arrays.';
COMMENT ON COLUMN health_score.metric_history_days.account_id IS 'The account.';
COMMENT ON COLUMN health_score.metric_history_days.raw_values IS 'Each metric''s aggregated raw value at that date.';
COMMENT ON COLUMN health_score.metric_history_days.sub_scores IS 'Each metric''s sub-score 0-100.';
COMMENT ON COLUMN health_score.metric_history_days.effective_weights IS 'The share of the composite each metric carried.';
COMMENT ON COLUMN health_score.metric_history_days.contributions IS 'Points of the composite each metric contributed; NULL when each is effective_weight * sub_score (always, for the rows snapshot() writes), as metric_history computes them.';

-- History follows the accounts' row-level security: a role sees the history of the accounts it
-- can see in health_score.accounts (all of them unless restrict_accounts_to_owners() is on).
-- The table owner (who takes the snapshots) is not restricted. Each month's partition gets the
-- policies of metric_history_days too, for a role that reads a partition by its name.
ALTER TABLE health_score.score_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE health_score.metric_history_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible_accounts ON health_score.score_history FOR SELECT
    USING (account_id IN (SELECT a.account_id FROM health_score.accounts a));
CREATE POLICY visible_accounts ON health_score.metric_history_days FOR SELECT
    USING (account_id IN (SELECT a.account_id FROM health_score.accounts a));

-- pg_dump keeps the rows of score_history, and the months of metric_history_days, which are
-- tables of their own, not the extension's.
SELECT pg_catalog.pg_extension_config_dump('health_score.score_history', '');

-- The arrays are unnested side by side in the select list (a contributions that is NULL gives
-- NULLs), one value after the other: unnest in FROM would first copy each array's values into
-- a store of their own, ten times as slow. Conditions on as_of and account_id reach the scan.
CREATE VIEW health_score.metric_history AS
    SELECT m.as_of, m.account_id, m.metric, m.dimension, m.raw_value, m.sub_score, m.effective_weight,
           CASE WHEN m.derived THEN m.effective_weight * m.sub_score ELSE m.contribution END AS contribution
      FROM (SELECT h.as_of, h.account_id, h.contributions IS NULL AS derived,
                   unnest(l.metrics) AS metric, unnest(l.dimensions) AS dimension,
                   unnest(h.raw_values) AS raw_value, unnest(h.sub_scores) AS sub_score,
                   unnest(h.effective_weights) AS effective_weight, unnest(h.contributions) AS contribution
              FROM health_score.metric_history_days h
              JOIN health_score.metric_history_layouts l ON l.layout = h.layout) m;

COMMENT ON VIEW health_score.metric_history IS
'One row per account, metric and date, written with score_history: the metric-level detail behind each historical score, used to attribute score changes to metrics. Stored compactly in metric_history_days; DELETE works on it (a row at a time: to drop old dates, drop their month, see the README).';
COMMENT ON COLUMN health_score.metric_history.as_of IS 'The date scored (as in score_history).';
COMMENT ON COLUMN health_score.metric_history.account_id IS 'The account.';
COMMENT ON COLUMN health_score.metric_history.metric IS 'The metric (health_score.metrics).';
COMMENT ON COLUMN health_score.metric_history.dimension IS 'The dimension the metric belonged to at that date.';
COMMENT ON COLUMN health_score.metric_history.raw_value IS 'The aggregated raw value at that date, NULL when unobserved.';
COMMENT ON COLUMN health_score.metric_history.sub_score IS 'The metric sub-score 0-100, NULL when unobserved.';
COMMENT ON COLUMN health_score.metric_history.effective_weight IS 'The share of the composite the metric carried at that date.';
COMMENT ON COLUMN health_score.metric_history.contribution IS 'Points of the composite score the metric contributed (effective_weight * sub_score).';

-- check_date(argument, day): refuses an infinite date, naming the argument. NULL passes: each
-- caller either refuses it or reads it as its default. Returns day, so SQL functions can call
-- it where they use the date (and so it is always evaluated).
CREATE FUNCTION health_score.check_date(argument text, day date)
RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT isfinite(day) THEN
        RAISE EXCEPTION '% must be a finite date, got %', argument, day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A date after the last timestamp (dates go on to 5874897 AD) cannot be scored at.
    IF day > date '294276-12-31' THEN
        RAISE EXCEPTION '% must be a date up to 294276-12-31 (the last timestamp), got %', argument, day::text
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    RETURN day;
END
$$;

COMMENT ON FUNCTION health_score.check_date(text, date) IS
'Returns day, or raises an error naming argument when day is infinity or -infinity (22023) or after 294276-12-31, the last timestamp (22008); NULL passes. The history functions call it on their dates.';

-- metric_history_partition(day): the month's partition of metric_history_days, created when
-- missing. It is owned by the owner of metric_history_days, with the same grants and the same
-- row-level security and policies, so a role that may read the history reads no more of it
-- through a partition. Created apart and then attached, which locks metric_history_days in
-- SHARE UPDATE EXCLUSIVE mode only (as snapshot already does): readers never wait.
CREATE FUNCTION health_score.metric_history_partition(day date)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parent constant regclass := 'health_score.metric_history_days';
    first_day date;
    next_month date;
    name text;
    part regclass;
    owner text;
    g record;
    p record;
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'day must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM health_score.check_date('day', day);
    first_day := date_trunc('month', day::timestamp)::date;
    next_month := (first_day + interval '1 month')::date;
    name := 'metric_history_days_' || to_char(first_day, 'YYYY_MM') || CASE WHEN first_day < '0001-01-01' THEN '_bc' ELSE '' END;
    part := to_regclass(format('health_score.%I', name));
    IF part IS NOT NULL THEN
        IF NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = part AND i.inhparent = parent) THEN
            RAISE EXCEPTION 'the metric history of % goes into %, which is not a partition of health_score.metric_history_days',
                            to_char(first_day, 'YYYY-MM'), part
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Attach it again (ALTER TABLE health_score.metric_history_days ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)) or drop it.',
                                    part, to_char(first_day, 'YYYY-MM-DD BC'), to_char(next_month, 'YYYY-MM-DD BC'));
        END IF;
        RETURN part;
    END IF;

    SELECT c.relowner::regrole::text INTO owner FROM pg_class c WHERE c.oid = parent;
    IF NOT pg_has_role(owner::regrole, 'USAGE') THEN
        RAISE EXCEPTION 'the metric history of % needs its partition %, which only the owner of health_score.metric_history_days (%) can create',
                        to_char(first_day, 'YYYY-MM'), name, owner
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Snapshot as %s, or have %s create the month ahead: SELECT health_score.metric_history_partition(%L).',
                                owner, owner, to_char(first_day, 'YYYY-MM-DD BC'));
    END IF;
    EXECUTE format('CREATE TABLE health_score.%I (LIKE health_score.metric_history_days, PRIMARY KEY (as_of, account_id))', name);
    part := format('health_score.%I', name)::regclass;
    IF owner <> current_user THEN
        EXECUTE format('ALTER TABLE %s OWNER TO %s', part, owner);
    END IF;
    FOR g IN SELECT a.privilege_type, a.is_grantable,
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
               FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.oid = parent AND a.grantee <> c.relowner LOOP
        EXECUTE format('GRANT %s ON %s TO %s%s', g.privilege_type, part, g.grantee,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    IF (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = parent) THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
    END IF;
    IF (SELECT c.relforcerowsecurity FROM pg_class c WHERE c.oid = parent) THEN
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', part);
    END IF;
    FOR p IN SELECT pol.polname, pol.polpermissive, pol.polcmd,
                    (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END, ', ')
                       FROM unnest(pol.polroles) r) AS roles,
                    pg_get_expr(pol.polqual, pol.polrelid) AS qual,
                    pg_get_expr(pol.polwithcheck, pol.polrelid) AS with_check
               FROM pg_policy pol
              WHERE pol.polrelid = parent
              ORDER BY pol.polname LOOP
        EXECUTE format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, part,
                       CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                       p.roles, coalesce(' USING (' || p.qual || ')', ''),
                       coalesce(' WITH CHECK (' || p.with_check || ')', ''));
    END LOOP;
    EXECUTE format('ALTER TABLE health_score.metric_history_days ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                   part, to_char(first_day, 'YYYY-MM-DD BC'), to_char(next_month, 'YYYY-MM-DD BC'));
    -- Created by the extension's own script (the upgrade moving the history in), the table
    -- would be the extension's, and pg_dump would keep neither it nor its rows.
    IF EXISTS (SELECT FROM pg_depend d
                WHERE d.classid = 'pg_class'::regclass AND d.objid = part AND d.deptype = 'e') THEN
        EXECUTE format('ALTER EXTENSION health_score DROP TABLE %s', part);
    END IF;
    RETURN part;
END
$$;

COMMENT ON FUNCTION health_score.metric_history_partition(date) IS
'The partition of metric_history_days that holds day''s month (health_score.metric_history_days_YYYY_MM), created and attached when missing, owned by the owner of metric_history_days, with its grants, row-level security and policies. snapshot() calls it; call it ahead to create a month before its first snapshot. Only that owner (or a member, or a superuser) can create one (42501); a detached partition of that name must be attached again or dropped first (55000).';

-- metric_history_write(as_of, metric_rows): the metric history of a date from metric rows
-- (a relation or a parenthesised query with the columns of metric_scores, which may use $1,
-- the date): one row per account, in the layout of its metrics, new layouts added. The date's
-- month must have its partition and its old rows be gone (snapshot sees to both).
CREATE FUNCTION health_score.metric_history_write(as_of date, metric_rows text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written bigint;
BEGIN
    IF as_of IS NULL OR metric_rows IS NULL THEN
        RAISE EXCEPTION 'as_of and metric_rows must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- The layouts of the date are a few dozen, numbered by layout_key: they alone are looked
    -- up, by their names (the lowest number, should two writers have added one at once), or
    -- added; the accounts are joined to them by their key.
    EXECUTE format($sql$
        WITH days AS MATERIALIZED (
            SELECT g.account_id, (g.a).layout_key, (g.a).metrics, (g.a).dimensions, (g.a).raw_values,
                   (g.a).sub_scores, (g.a).effective_weights, (g.a).contributions
              FROM (SELECT m.account_id,
                           health_score.metric_history_arrays(m.metric, m.dimension, m.raw_value, m.sub_score,
                                                              m.effective_weight, m.contribution) AS a
                      FROM %s m
                     GROUP BY m.account_id) g
        ), keys AS MATERIALIZED (
            SELECT d.layout_key, d.metrics, d.dimensions,
                   (SELECT min(l.layout) FROM health_score.metric_history_layouts l
                     WHERE l.metrics = d.metrics AND l.dimensions = d.dimensions) AS layout
              FROM days d
             WHERE d.metrics IS NOT NULL
        ), added AS (
            INSERT INTO health_score.metric_history_layouts (metrics, dimensions)
            SELECT k.metrics, k.dimensions FROM keys k WHERE k.layout IS NULL ORDER BY k.layout_key
            RETURNING layout, metrics, dimensions
        ), numbered AS (
            SELECT k.layout_key, coalesce(k.layout, a.layout) AS layout
              FROM keys k
              LEFT JOIN added a ON k.layout IS NULL AND a.metrics = k.metrics AND a.dimensions = k.dimensions
        )
        INSERT INTO health_score.metric_history_days
            (as_of, layout, account_id, raw_values, sub_scores, effective_weights, contributions)
        SELECT $1, n.layout, d.account_id, d.raw_values, d.sub_scores, d.effective_weights, d.contributions
          FROM days d
          JOIN numbered n ON n.layout_key = d.layout_key
    $sql$, metric_rows) USING as_of;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

COMMENT ON FUNCTION health_score.metric_history_write(date, text) IS
'Writes the metric history of as_of from metric_rows (a relation or parenthesised query with the columns of metric_scores; $1 in it is as_of): one row of metric_history_days per account, its metrics in the order of a layout (metric_history_layouts, new layouts added). The date''s month needs its partition and its old rows gone, as snapshot() sees to. Returns the rows written.';

-- metric_history_layout(metrics, dimensions): the number of a layout, added when new.
CREATE FUNCTION health_score.metric_history_layout(metrics text[], dimensions text[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found integer;
BEGIN
    SELECT l.layout INTO found FROM health_score.metric_history_layouts l
     WHERE l.metrics = metric_history_layout.metrics AND l.dimensions = metric_history_layout.dimensions
     ORDER BY l.layout LIMIT 1;
    IF found IS NULL THEN
        INSERT INTO health_score.metric_history_layouts (metrics, dimensions)
        VALUES (metric_history_layout.metrics, metric_history_layout.dimensions)
        RETURNING layout INTO found;
    END IF;
    RETURN found;
END
$$;

COMMENT ON FUNCTION health_score.metric_history_layout(text[], text[]) IS
'The number of the layout of metrics with dimensions in metric_history_layouts (the lowest, should two writers have added it at once), added when there is none.';

-- DELETE on metric_history removes a metric from its account's row of the date (the row goes
-- with its last metric); the row is rewritten each time, so to drop whole dates or months,
-- delete from metric_history_days or drop its months (see the README).
CREATE FUNCTION health_score.metric_history_delete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
    k integer;
BEGIN
    SELECT h.layout, h.raw_values, h.sub_scores, h.effective_weights, h.contributions, l.metrics, l.dimensions
      INTO d
      FROM health_score.metric_history_days h
      JOIN health_score.metric_history_layouts l ON l.layout = h.layout
     WHERE h.as_of = OLD.as_of AND h.account_id = OLD.account_id
       FOR UPDATE OF h;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted meanwhile
    END IF;
    SELECT min(i) INTO k FROM generate_subscripts(d.metrics, 1) i
     WHERE d.metrics[i] = OLD.metric AND d.dimensions[i] IS NOT DISTINCT FROM OLD.dimension;
    IF k IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(d.metrics) = 1 THEN
        DELETE FROM health_score.metric_history_days h WHERE h.as_of = OLD.as_of AND h.account_id = OLD.account_id;
        RETURN OLD;
    END IF;
    UPDATE health_score.metric_history_days h
       SET layout = health_score.metric_history_layout(
                        ARRAY(SELECT x FROM unnest(d.metrics) WITH ORDINALITY u(x, i) WHERE i <> k ORDER BY i),
                        ARRAY(SELECT x FROM unnest(d.dimensions) WITH ORDINALITY u(x, i) WHERE i <> k ORDER BY i)),
           raw_values = ARRAY(SELECT x FROM unnest(d.raw_values) WITH ORDINALITY u(x, i) WHERE i <> k ORDER BY i),
           sub_scores = ARRAY(SELECT x FROM unnest(d.sub_scores) WITH ORDINALITY u(x, i) WHERE i <> k ORDER BY i),
           effective_weights = ARRAY(SELECT x FROM unnest(d.effective_weights) WITH ORDINALITY u(x, i)
                                      WHERE i <> k ORDER BY i),
           contributions = CASE WHEN d.contributions IS NOT NULL
                                THEN ARRAY(SELECT x FROM unnest(d.contributions) WITH ORDINALITY u(x, i)
                                            WHERE i <> k ORDER BY i) END
     WHERE h.as_of = OLD.as_of AND h.account_id = OLD.account_id;
    RETURN OLD;
END
$$;

COMMENT ON FUNCTION health_score.metric_history_delete() IS
'Trigger of DELETE on the view metric_history: removes the metric from its account''s row of metric_history_days at that date, and the row with its last metric.';

CREATE TRIGGER remove INSTEAD OF DELETE ON health_score.metric_history
    FOR EACH ROW EXECUTE FUNCTION health_score.metric_history_delete();

-- snapshot(as_of, full_rescore): score every account at a date and store it, replacing that date's rows.
-- It scores through the scoring state (rolled_metric_scores), which reads only the rows
-- observed since the last snapshot; full_rescore rebuilds it from every row.
CREATE FUNCTION health_score.snapshot(as_of date DEFAULT current_date, full_rescore boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- The scoring queries are short; JIT compilation would cost more than it saves.
SET jit = off
-- The only ANALYZE here is of the temporary table of metric rows, for the row counts and the
-- accounts' count the queries below plan with: a sample of 3,000 rows tells them, where the
-- default 30,000 took a quarter of a snapshot of 5,000 accounts (sorting every column).
SET default_statistics_target = 10
AS $$
#variable_conflict use_column
DECLARE
    scored_at timestamptz;
    day date := snapshot.as_of;
    version bigint;
    written integer;
    model health_score.churn_models;
    no_risk text;
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM health_score.check_date('as_of', day);
    IF day > current_date THEN
        RAISE EXCEPTION 'as_of must not be in the future, got %', to_char(day, 'YYYY-MM-DD')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    scored_at := day::timestamptz;
    version := health_score.config_version();

    -- The churn risk only from a model whose labels (churn up to its as_of + horizon) were all
    -- known at this date: a model that learned from later churn would tell a backfill, and the
    -- backtests over it, what happened next.
    SELECT * INTO model FROM health_score.account_churn_model();
    IF NOT FOUND THEN
        no_risk := coalesce('settings.churn_model names "' || (SELECT s.churn_model FROM health_score.settings s)
                                || '", which is no active account churn model',
                            'no account churn model');
    ELSIF model.as_of + model.horizon > scored_at THEN
        no_risk := format('churn model "%s" v%s learned from churn up to %s, after this date',
                          model.name, model.version, to_char(model.as_of + model.horizon, 'YYYY-MM-DD'));
    END IF;

    -- One snapshot at a time, so two of one date never both write it. A table lock that only
    -- roles that may update the history can take; it never waits for readers, nor for writers
    -- (ROW EXCLUSIVE): SHARE ROW EXCLUSIVE did, and two snapshots in transactions that had
    -- already written the history deadlocked.
    LOCK TABLE health_score.score_history, health_score.metric_history_days IN SHARE UPDATE EXCLUSIVE MODE;

    BEGIN
        PERFORM health_score.metric_history_partition(day);
        DELETE FROM health_score.metric_history_days h WHERE h.as_of = day;
        DELETE FROM health_score.score_history h WHERE h.as_of = day;

        -- Score once: keep the metric rows, then build both levels of history from them.
        IF to_regclass('pg_temp.snapshot_metric_rows') IS NULL THEN
            CREATE TEMP TABLE snapshot_metric_rows (
                account_id text, metric text, dimension text, raw_value float8, sub_score float8,
                effective_weight float8, contribution float8, coverage_share float8
            ) ON COMMIT DROP;
        END IF;
        TRUNCATE pg_temp.snapshot_metric_rows;
        INSERT INTO pg_temp.snapshot_metric_rows SELECT * FROM health_score.rolled_metric_scores(scored_at, full_rescore);
        ANALYZE pg_temp.snapshot_metric_rows;  -- both queries below plan from it
        -- what they are of, for refresh_rows (the dashboards refreshed later in the transaction)
        IF to_regclass('pg_temp.snapshot_scored') IS NULL THEN
            CREATE TEMP TABLE snapshot_scored (as_of timestamptz, config_version bigint) ON COMMIT DROP;
        END IF;
        TRUNCATE pg_temp.snapshot_scored;
        INSERT INTO pg_temp.snapshot_scored VALUES (scored_at, version);

        -- The account level once, kept for the dashboards too (refresh_rows).
        IF to_regclass('pg_temp.snapshot_account_rows') IS NULL THEN
            CREATE TEMP TABLE snapshot_account_rows (
                account_id text, score float8, band text, alert_tier text, coverage float8,
                product_score float8, relationship_score float8, business_score float8,
                reason text, dimension_scores jsonb, weakest_metrics text
            ) ON COMMIT DROP;
        END IF;
        TRUNCATE pg_temp.snapshot_account_rows;
        EXECUTE 'INSERT INTO pg_temp.snapshot_account_rows '
                || health_score.account_scores_sql('pg_temp.snapshot_metric_rows') USING scored_at;
        ANALYZE pg_temp.snapshot_account_rows;

        -- Without a risk to record the model is not run at all; the join on its name and version
        -- keeps out a model trained since, under READ COMMITTED, which was not checked above.
        EXECUTE format($sql$
            INSERT INTO health_score.score_history
                (as_of, account_id, score, product_score, relationship_score, business_score,
                 dimension_scores, band, alert_tier, coverage, churn_risk, reason, config_version,
                 churn_model, churn_model_version, churn_risk_reason, churn_risk_low, churn_risk_high)
            SELECT $2, s.account_id, s.score, s.product_score, s.relationship_score, s.business_score,
                   s.dimension_scores, s.band, s.alert_tier, s.coverage, r.churn_risk, s.reason, $3,
                   $5, $6,
                   CASE WHEN r.churn_risk IS NOT NULL THEN NULL
                        WHEN $4 IS NOT NULL THEN $4
                        WHEN r.missing_metrics IS NOT NULL
                            THEN 'no data for ' || array_to_string(r.missing_metrics, ', ')
                        ELSE format('not scored by churn model "%%s" v%%s', $5, $6) END,
                   r.churn_risk_low, r.churn_risk_high
              FROM pg_temp.snapshot_account_rows s
              LEFT JOIN (%s) r
                ON r.account_id = s.account_id AND r.model = $5 AND r.model_version = $6
        $sql$, CASE WHEN no_risk IS NULL
                    THEN $q$SELECT * FROM health_score.account_churn_risk($1, 'pg_temp.snapshot_metric_rows')$q$
                    ELSE 'SELECT NULL::text AS account_id, NULL::float8 AS churn_risk, NULL::text AS model,
                                 NULL::int AS model_version, NULL::text[] AS missing_metrics,
                                 NULL::float8 AS churn_risk_low, NULL::float8 AS churn_risk_high WHERE false' END)
            USING scored_at, day, version, no_risk, model.name, model.version;
        GET DIAGNOSTICS written = ROW_COUNT;

        -- A metric spoilt by a bad row is left out: its account's reason says why.
        PERFORM health_score.metric_history_write(day,
            '(SELECT * FROM pg_temp.snapshot_metric_rows WHERE raw_value IS NOT NULL)');
        -- Statistics that know the new date (from a sample of 3,000 rows), by the owner: the
        -- readers of the latest snapshot (trends, alerts, the dashboards) planned with none
        -- of its rows look each account up through the date index instead of by account,
        -- which grows with the square of the accounts.
        IF pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = 'health_score.score_history'::regclass), 'USAGE') THEN
            ANALYZE health_score.score_history;
        END IF;
    EXCEPTION WHEN unique_violation OR serialization_failure THEN
        -- Under REPEATABLE READ or SERIALIZABLE the snapshot predates a snapshot of this date
        -- that committed while this one waited for the lock: its rows are not visible here.
        RAISE EXCEPTION 'snapshot of %: another transaction that committed after this one began wrote the history of this date',
                        to_char(day, 'YYYY-MM-DD')
            USING ERRCODE = 'serialization_failure', DETAIL = SQLERRM,
                  HINT = 'Retry the transaction. Under READ COMMITTED, snapshots of one date wait for each other instead.';
    END;

    RETURN written;
END
$$;

COMMENT ON FUNCTION health_score.snapshot(date, boolean) IS
'Scores every account as of midnight at the start of as_of (default today) and writes the result into score_history and metric_history, replacing the rows of that date (running it twice never duplicates). It scores through the scoring state, reading only the observations since the last snapshot (see rolled_metric_scores); full_rescore rebuilds the state from every observation. The churn risk (with its 95 % interval, churn_risk_low and churn_risk_high) is that of account_churn_model() only when its training window (as_of + horizon) ended by midnight at the start of as_of; else NULL, with the reason in churn_risk_reason. Returns the number of accounts written.';

-- Backfill ------------------------------------------------------------------------------------
-- backfill(from_date, to_date, step, redo) snapshots a range of past dates in one transaction;
-- backfill_commit_each(...) does the same, committing after each date. Both skip the dates
-- already done (their history written under the current configuration) unless redo, and
-- report each date with a NOTICE: the dates done and to do, and the time left, estimated from
-- the mean time of the snapshots taken so far. Their steps are the functions below, so that
-- the procedure, which may not pin its search_path (PostgreSQL refuses COMMIT in a procedure
-- with a SET clause), runs nothing but schema-qualified calls and COMMIT.

-- duration_text(seconds): a duration for people: 0.42 s, 12 s, 2 min 05 s, 1 h 05 min.
CREATE FUNCTION health_score.duration_text(seconds float8)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN NOT (seconds >= 0 AND seconds < 'Infinity') THEN NULL
                WHEN seconds < 10 THEN round(seconds::numeric, 2) || ' s'
                WHEN round(seconds) < 60 THEN round(seconds) || ' s'
                WHEN round(seconds) < 3600 THEN
                     (round(seconds)::bigint / 60) || ' min ' || to_char(round(seconds)::bigint % 60, 'FM00') || ' s'
                ELSE (round(seconds / 60)::bigint / 60) || ' h ' || to_char(round(seconds / 60)::bigint % 60, 'FM00') || ' min'
           END
$$;

COMMENT ON FUNCTION health_score.duration_text(float8) IS
'A duration in seconds as backfill''s progress shows it: 0.42 s, 12 s, 2 min 05 s, 1 h 05 min; NULL for a negative, infinite or NaN one.';

-- step_dates(from_date, to_date, step): from_date, from_date + step, ... up to to_date, after
-- checking the arguments as backfill does (backfill_dates and backtest_whatif share them).
-- from_date + i * step, so that monthly steps follow the calendar (31 Jan, 29 Feb, 31 Mar). A
-- step of more than 10,000 years is longer than any span up to today and gives from_date
-- alone: adding it could leave the range of timestamps.
CREATE FUNCTION health_score.step_dates(from_date date, to_date date, step interval)
RETURNS date[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    days date[];
    next_day date;
BEGIN
    IF from_date IS NULL OR to_date IS NULL OR step IS NULL THEN
        RAISE EXCEPTION 'from_date, to_date and step must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM health_score.check_date('from_date', from_date);
    PERFORM health_score.check_date('to_date', to_date);
    IF from_date > to_date THEN
        RAISE EXCEPTION 'from_date % is after to_date %',
            to_char(from_date, 'YYYY-MM-DD'), to_char(to_date, 'YYYY-MM-DD')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_date > current_date THEN
        RAISE EXCEPTION 'to_date must not be in the future, got %', to_char(to_date, 'YYYY-MM-DD')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF step < interval '1 day' OR date_trunc('day', step) <> step THEN
        RAISE EXCEPTION 'step must be a positive whole number of days, weeks, months or years, got %', step
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'History keeps one row per account and date; use e.g. interval ''1 day'' or ''7 days''.';
    END IF;
    days := ARRAY[from_date];
    IF step <= interval '10000 years' THEN
        LOOP
            next_day := (from_date + cardinality(days) * step)::date;
            EXIT WHEN next_day > to_date;
            days := days || next_day;
        END LOOP;
    END IF;
    RETURN days;
END
$$;

COMMENT ON FUNCTION health_score.step_dates(date, date, interval) IS
'The dates from_date, from_date + step, from_date + 2 x step, ... up to to_date, as backfill and backtest_whatif take them: NULLs refused (22004), dates as check_date, from_date after to_date, to_date in the future or a step that is not a positive whole number of days, weeks, months or years refused (22023).';

-- backfill_dates(from_date, to_date, step, redo): the dates of a backfill, after checking its
-- arguments, each with the number of dates and of those to snapshot (not done, or every date
-- with redo).
CREATE FUNCTION health_score.backfill_dates(from_date date, to_date date, step interval, redo boolean)
RETURNS TABLE (as_of date, total integer, pending integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    days date[];
    todo integer;
BEGIN
    IF redo IS NULL THEN
        RAISE EXCEPTION 'redo must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    days := health_score.step_dates(from_date, to_date, step);
    todo := CASE WHEN redo THEN cardinality(days)
                 ELSE (SELECT count(*) FROM unnest(days) d WHERE NOT health_score.backfill_done(d)) END;
    RETURN QUERY SELECT d, cardinality(days), todo FROM unnest(days) WITH ORDINALITY AS u(d, i) ORDER BY i;
END
$$;

COMMENT ON FUNCTION health_score.backfill_dates(date, date, interval, boolean) IS
'The dates backfill and backfill_commit_each snapshot, from_date + i * step up to to_date, after checking their arguments (22004, 22023), each with the number of dates (total) and of those to snapshot (pending: those not done, see backfill_done, or all with redo).';

-- backfill_done(day): whether the history of day was written under the current configuration.
-- A snapshot replaces a date's rows at once, all with one configuration version, so one row
-- tells; the index on as_of finds it at once however large the book.
-- PL/pgSQL, not SQL: Citus cannot plan a SQL function's query with parameters on distributed
-- tables, and PL/pgSQL passes them as values. Columns win over same-named parameters, as in SQL.
CREATE FUNCTION health_score.backfill_done(day date)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN RETURN (
    SELECT coalesce((SELECT h.config_version = health_score.config_version()
                       FROM health_score.score_history h
                      WHERE h.as_of = day
                      LIMIT 1), false));
END
$$;

COMMENT ON FUNCTION health_score.backfill_done(date) IS
'True when score_history holds rows of day written under the current configuration (config_version()): the dates backfill skips unless redo. A date with no rows (no account live then) is never done.';

-- backfill_step(as_of, redo, ...): one date of a backfill: skipped when done (unless redo),
-- else snapshotted; then the NOTICE. The counts so far go in and come out updated.
CREATE FUNCTION health_score.backfill_step(as_of date, redo boolean, INOUT dates_done integer, total integer,
                                           pending integer, INOUT snapshots integer,
                                           INOUT snapshot_seconds float8,
                                           OUT accounts integer, OUT seconds float8, OUT skipped boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    day date := backfill_step.as_of;
    started timestamptz := clock_timestamp();
    left_to_take integer;
BEGIN
    dates_done := dates_done + 1;
    skipped := NOT redo AND health_score.backfill_done(day);
    IF skipped THEN
        SELECT count(*) INTO accounts FROM health_score.score_history h WHERE h.as_of = day;
        seconds := extract(epoch FROM clock_timestamp() - started);
        RAISE NOTICE 'backfill: % (% of %) skipped, done under configuration %',
            to_char(day, 'YYYY-MM-DD'), dates_done, total, health_score.config_version();
        RETURN;
    END IF;
    accounts := health_score.snapshot(day);
    seconds := extract(epoch FROM clock_timestamp() - started);
    snapshots := snapshots + 1;
    snapshot_seconds := snapshot_seconds + seconds;
    -- The snapshots still to take: those found pending at the start, never more than the
    -- dates left (a date done meanwhile is skipped; one undone meanwhile is taken too).
    left_to_take := least(total - dates_done, greatest(pending - snapshots, 0));
    RAISE NOTICE '%', format('backfill: %s (%s of %s), %s accounts in %s%s',
        to_char(day, 'YYYY-MM-DD'), dates_done, total, accounts, health_score.duration_text(seconds),
        CASE WHEN left_to_take > 0
             THEN format(', about %s left', health_score.duration_text(snapshot_seconds / snapshots * left_to_take))
             ELSE '' END);
END
$$;

COMMENT ON FUNCTION health_score.backfill_step(date, boolean, integer, integer, integer, integer, float8) IS
'One date of backfill and backfill_commit_each: skipped when backfill_done (unless redo), else snapshotted; raises the progress NOTICE (dates done of total, accounts, seconds, and the time left: the mean time per snapshot so far times the snapshots still to take). Returns the counts updated and the date''s accounts, seconds and whether it was skipped.';

-- backfill_finish(...): the last NOTICE, and fresh statistics for what reads the new rows.
CREATE FUNCTION health_score.backfill_finish(from_date date, to_date date, total integer, snapshots integer,
                                             snapshot_seconds float8)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE NOTICE '%', format('backfill: %s to %s: %s of %s dates snapshotted in %s%s',
        to_char(from_date, 'YYYY-MM-DD'), to_char(to_date, 'YYYY-MM-DD'), snapshots, total,
        health_score.duration_text(snapshot_seconds),
        CASE WHEN total > snapshots
             THEN format(', %s skipped (done under configuration %s)', total - snapshots, health_score.config_version())
             ELSE '' END);
    PERFORM health_score.warn_default_segments('backfill');
    -- Fresh statistics, so that backtests and trends over the new rows get sound plans.
    IF snapshots > 0
       AND pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = 'health_score.score_history'::regclass), 'USAGE') THEN
        ANALYZE health_score.score_history;
        ANALYZE health_score.metric_history_days;
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.backfill_finish(date, date, integer, integer, float8) IS
'The end of backfill and backfill_commit_each: a NOTICE with the snapshots taken and the dates skipped, then ANALYZE of the history tables when snapshots were taken (by their owner).';

-- warn_default_segments(job): a WARNING for each segment whose accounts take the default
-- weights while another spelling of it has weights (check_segments): the daily refresh and
-- backfills say it once a run, as loading accounts cannot (no trigger on accounts, for Citus).
CREATE FUNCTION health_score.warn_default_segments(job text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.segment, c.accounts, c.note FROM health_score.check_segments() c
              WHERE c.accounts > 0 AND c.note IS NOT NULL LOOP
        RAISE WARNING '%: % of segment "%" % the default weights', job,
                      CASE WHEN r.accounts = 1 THEN 'the account' ELSE format('the %s accounts', r.accounts) END,
                      r.segment, CASE WHEN r.accounts = 1 THEN 'takes' ELSE 'take' END
            USING DETAIL = upper(left(r.note, 1)) || substr(r.note, 2) || '.',
                  HINT = 'Spell the segment as the weights do (or the weights as accounts.segment does); see health_score.check_segments().';
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.warn_default_segments(text) IS
'A WARNING, naming job, for each segment whose accounts take the default weights while a segment differing only in case or surrounding spaces has weights (check_segments()''s note). Called by refresh() and at the end of backfills.';

-- backfill(from_date, to_date, step, redo): snapshots for a range of past dates, with progress,
-- in one transaction.
CREATE FUNCTION health_score.backfill(from_date date, to_date date, step interval DEFAULT interval '1 day',
                                      redo boolean DEFAULT false)
RETURNS TABLE (as_of date, accounts integer, seconds float8, skipped boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    d record;
    total integer := 0;
    done integer := 0;
    taken integer := 0;
    spent float8 := 0;
BEGIN
    FOR d IN SELECT b.as_of, b.total, b.pending FROM health_score.backfill_dates(from_date, to_date, step, redo) b LOOP
        SELECT s.dates_done, s.snapshots, s.snapshot_seconds, s.accounts, s.seconds, s.skipped
          INTO done, taken, spent, accounts, seconds, skipped
          FROM health_score.backfill_step(d.as_of, redo, done, d.total, d.pending, taken, spent) s;
        as_of := d.as_of;
        total := d.total;
        RETURN NEXT;
    END LOOP;
    PERFORM health_score.backfill_finish(from_date, to_date, total, taken, spent);
END
$$;

COMMENT ON FUNCTION health_score.backfill(date, date, interval, boolean) IS
'Point-in-time snapshots (see snapshot()) for every date from from_date to to_date, step apart (whole days, default 1 day), in one transaction: all dates or none. A date already done (its history written under the current configuration, see backfill_done) is skipped unless redo. A NOTICE per date reports the progress and the time left. Returns one row per date: accounts written (or found, when skipped), seconds taken and whether it was skipped. backfill_commit_each commits after each date instead.';

-- backfill_commit_each(from_date, to_date, step, redo): backfill, committing after each date,
-- so that an interrupted run keeps the dates it did and a second call resumes after them.
-- No SET search_path (PostgreSQL refuses COMMIT in a procedure with one): its body calls only
-- the extension's functions, schema-qualified and with their exact argument types, and uses
-- no operator, so nothing on the caller's search_path runs in it.
CREATE PROCEDURE health_score.backfill_commit_each(from_date date, to_date date,
                                                   step interval DEFAULT interval '1 day',
                                                   redo boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
    d record;
    total integer := 0;
    done integer := 0;
    taken integer := 0;
    spent float8 := 0;
BEGIN
    -- Inside a transaction block no COMMIT is allowed: fail at once (2D000), not after a snapshot.
    COMMIT;
    FOR d IN SELECT b.as_of, b.total, b.pending FROM health_score.backfill_dates(from_date, to_date, step, redo) b LOOP
        SELECT s.dates_done, s.snapshots, s.snapshot_seconds INTO done, taken, spent
          FROM health_score.backfill_step(d.as_of, redo, done, d.total, d.pending, taken, spent) s;
        total := d.total;
        COMMIT;
    END LOOP;
    PERFORM health_score.backfill_finish(from_date, to_date, total, taken, spent);
END
$$;

COMMENT ON PROCEDURE health_score.backfill_commit_each(date, date, interval, boolean) IS
'backfill, committing after each date: CALL it outside a transaction block (inside one it fails with 2D000 at the first commit). Interrupted (cancelled, timed out, disconnected), it keeps the dates committed, and the same call again skips them (see backfill_done) and takes the rest. Progress as backfill: a NOTICE per date; other sessions see each date once committed.';

-- Sparklines ----------------------------------------------------------------------------------

-- sparkline(values, lo, hi): one block character per value, ▁ at lo up to █ at hi.
CREATE FUNCTION health_score.sparkline(vals float8[], lo float8 DEFAULT 0, hi float8 DEFAULT 100)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    blocks constant text[] := '{▁,▂,▃,▄,▅,▆,▇,█}';
    low float8 := lo;
    high float8 := hi;
    infinite boolean;
    steps float8[];
BEGIN
    IF vals IS NULL THEN
        RETURN NULL;
    END IF;
    IF array_ndims(vals) > 1 THEN
        RAISE EXCEPTION 'vals must be a one-dimensional array, got % dimensions', array_ndims(vals)
            USING ERRCODE = 'array_subscript_error';
    END IF;
    -- The own range skips the gaps (NULL, NaN), which are no value on the scale.
    SELECT coalesce(low, min(x) FILTER (WHERE x <> 'NaN')), coalesce(high, max(x) FILTER (WHERE x <> 'NaN')),
           coalesce(bool_or(x IN ('Infinity', '-Infinity')), false)
      INTO low, high, infinite
      FROM unnest(vals) x;
    IF infinite THEN
        RAISE EXCEPTION 'vals must not contain Infinity or -Infinity'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL (drawn as a gap) where a value is unknown.';
    END IF;
    IF low = 'NaN' OR high = 'NaN' OR low > high
       OR low IN ('Infinity', '-Infinity') OR high IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'lo and hi must be finite with lo <= hi, got % and %', low, high
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The seven steps between the eight glyphs, in numeric: high - low overflows float8 on finite
    -- bounds (-1e308 and 1e308), and dividing a tiny value underflows. A step nearer 0 than the
    -- smallest float8 is 0.
    SELECT array_agg(CASE WHEN abs(t) < 2.5e-324 THEN 0 ELSE t::float8 END ORDER BY k) INTO steps
      FROM generate_series(1, 7) k,
           LATERAL (SELECT low::numeric + k * (high::numeric - low::numeric) / 8 AS t) s;
    -- One aggregate over the values: linear in their number (appending in a loop is not).
    RETURN coalesce(string_agg(
               CASE WHEN v IS NULL OR v = 'NaN' THEN ' '
                    WHEN high = low THEN blocks[CASE WHEN v < low THEN 1 WHEN v > high THEN 8 ELSE 4 END]
                    ELSE blocks[1 + width_bucket(v, steps)]
               END, '' ORDER BY i), '')
      FROM unnest(vals) WITH ORDINALITY AS u(v, i);
END
$$;

COMMENT ON FUNCTION health_score.sparkline(float8[], float8, float8) IS
'A text sparkline, one character per value from ▁ (at or below lo) to █ (at or above hi), a space (a gap) for NULL or NaN; lo and hi default to the 0-100 score scale, pass NULL to use the values'' own minimum or maximum. Refuses Infinity or -Infinity in vals (22023) and an array of more than one dimension (2202E). Linear time. Reads well in psql and BI tables.';

-- Trends --------------------------------------------------------------------------------------

-- band_rank(band): the position of a band, 1 for the lowest (by min_score).
CREATE FUNCTION health_score.band_rank(band text)
RETURNS integer
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r FROM (SELECT b.band, row_number() OVER (ORDER BY b.min_score)::int AS r
                     FROM health_score.bands b) x
     WHERE x.band = band_rank.band
$$;

COMMENT ON FUNCTION health_score.band_rank(text) IS
'Position of an action band from the bottom (1 = the band with the lowest scores), to tell downgrades from upgrades; NULL for an unknown band.';

-- trends(as_of): each account's score at a snapshot date and how it moved before it.
-- The query is in trends_of(as_of_date), in PL/pgSQL: Citus cannot plan a SQL function's query
-- with parameters on distributed tables, and PL/pgSQL passes them as values (columns win over
-- same-named variables, as in SQL). trends stays SQL, as PL/pgSQL refuses a parameter and an
-- output column both named as_of.
CREATE FUNCTION health_score.trends_of(as_of_date date)
RETURNS TABLE (account_id text, as_of date, score float8, band text, alert_tier text,
               change_7d float8, change_30d float8, change_90d float8, slope_30d float8,
               band_30d_ago text, band_change text, churn_risk float8, churn_risk_change_30d float8,
               sparkline text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- Checked before the query starts: a plan costly enough to be compiled (JIT) would
    -- otherwise take seconds to refuse a bad date.
    PERFORM health_score.check_date('as_of', trends_of.as_of_date);
    RETURN QUERY
    WITH d AS (
        SELECT coalesce(trends_of.as_of_date, (SELECT max(h.as_of) FROM health_score.score_history h)) AS day
    )
    SELECT h.account_id, h.as_of, h.score, h.band, h.alert_tier,
           -- scores are stored to two decimals: so are their differences
           round((h.score - p7.score)::numeric, 2)::float8, round((h.score - p30.score)::numeric, 2)::float8,
           round((h.score - p90.score)::numeric, 2)::float8,
           w.slope, p30.band,
           CASE WHEN p30.band IS DISTINCT FROM h.band AND p30.band IS NOT NULL AND h.band IS NOT NULL
                THEN p30.band || ' → ' || h.band END,
           h.churn_risk, h.churn_risk - p30.churn_risk,
           w.spark
      FROM d
      JOIN health_score.score_history h ON h.as_of = d.day
      LEFT JOIN LATERAL (
          SELECT p.score FROM health_score.score_history p
           WHERE p.account_id = h.account_id AND p.as_of <= d.day - 7 AND p.as_of >= d.day - 14
           ORDER BY p.as_of DESC LIMIT 1) p7 ON true
      LEFT JOIN LATERAL (
          SELECT p.score, p.band, p.churn_risk FROM health_score.score_history p
           WHERE p.account_id = h.account_id AND p.as_of <= d.day - 30 AND p.as_of >= d.day - 60
           ORDER BY p.as_of DESC LIMIT 1) p30 ON true
      LEFT JOIN LATERAL (
          SELECT p.score FROM health_score.score_history p
           WHERE p.account_id = h.account_id AND p.as_of <= d.day - 90 AND p.as_of >= d.day - 180
           ORDER BY p.as_of DESC LIMIT 1) p90 ON true
      LEFT JOIN LATERAL (
          SELECT regr_slope(p.score, p.as_of - d.day) AS slope,
                 health_score.sparkline(array_agg(p.score ORDER BY p.as_of)) AS spark
            FROM health_score.score_history p
           WHERE p.account_id = h.account_id AND p.as_of > d.day - 30 AND p.as_of <= d.day) w ON true;
END
$$;

COMMENT ON FUNCTION health_score.trends_of(date) IS
'The rows of trends(as_of_date): its query, in PL/pgSQL so that Citus can plan it.';

CREATE FUNCTION health_score.trends(as_of date DEFAULT NULL)
RETURNS TABLE (account_id text, as_of date, score float8, band text, alert_tier text,
               change_7d float8, change_30d float8, change_90d float8, slope_30d float8,
               band_30d_ago text, band_change text, churn_risk float8, churn_risk_change_30d float8,
               sparkline text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM health_score.trends_of(as_of)
$$;

COMMENT ON FUNCTION health_score.trends(date) IS
'Each account scored at a snapshot date (default: the latest in score_history) with its score change over 7, 30 and 90 days (against the latest snapshot at or before that many days earlier, no older than twice that), the slope over the last 30 days (points per day, least squares), the band 30 days earlier and the change, the churn risk change, and a sparkline of the last 30 days on the 0-100 scale.';

CREATE VIEW health_score.score_trends AS
    SELECT t.account_id, t.as_of, t.score::numeric(18,2) AS score, t.band, t.alert_tier,
           t.change_7d::numeric(18,2) AS change_7d, t.change_30d::numeric(18,2) AS change_30d,
           t.change_90d::numeric(18,2) AS change_90d, t.slope_30d::numeric(18,4) AS slope_30d,
           t.band_30d_ago, t.band_change, t.churn_risk::numeric(18,2) AS churn_risk,
           t.churn_risk_change_30d::numeric(18,2) AS churn_risk_change_30d, t.sparkline
      FROM health_score.trends() t;

COMMENT ON VIEW health_score.score_trends IS
'Score trends at the latest snapshot: change over 7, 30 and 90 days, 30-day slope, band change and a sparkline per account.';
COMMENT ON COLUMN health_score.score_trends.account_id IS 'The account.';
COMMENT ON COLUMN health_score.score_trends.as_of IS 'The latest snapshot date.';
COMMENT ON COLUMN health_score.score_trends.score IS 'Health score 0-100 at that date, NULL when unknown.';
COMMENT ON COLUMN health_score.score_trends.band IS 'Action band at that date.';
COMMENT ON COLUMN health_score.score_trends.alert_tier IS 'Alert tier at that date.';
COMMENT ON COLUMN health_score.score_trends.change_7d IS 'Score change in points since 7 days earlier (snapshot at or before, within 14 days); NULL when unknown.';
COMMENT ON COLUMN health_score.score_trends.change_30d IS 'Score change in points since 30 days earlier (snapshot at or before, within 60 days); NULL when unknown.';
COMMENT ON COLUMN health_score.score_trends.change_90d IS 'Score change in points since 90 days earlier (snapshot at or before, within 180 days); NULL when unknown.';
COMMENT ON COLUMN health_score.score_trends.slope_30d IS 'Least-squares slope of the score over the last 30 days, in points per day; NULL with fewer than two scores.';
COMMENT ON COLUMN health_score.score_trends.band_30d_ago IS 'Action band 30 days earlier.';
COMMENT ON COLUMN health_score.score_trends.band_change IS 'e.g. "yellow → orange" when the band differs from 30 days earlier, else NULL.';
COMMENT ON COLUMN health_score.score_trends.churn_risk IS 'Churn risk 0-100 % at that date, NULL without a model.';
COMMENT ON COLUMN health_score.score_trends.churn_risk_change_30d IS 'Churn risk change in percentage points since 30 days earlier.';
COMMENT ON COLUMN health_score.score_trends.sparkline IS 'The scores of the last 30 days as a text sparkline, ▁ = 0 to █ = 100, a space where unknown.';

-- The bands are ranked once, in a CTE, not by band_rank() per row: on Citus the rows are read
-- on the workers, whose bands table holds the extension's defaults, not the coordinator's.
CREATE VIEW health_score.band_changes AS
    WITH ranks AS MATERIALIZED (
        SELECT b.band, row_number() OVER (ORDER BY b.min_score)::int AS band_rank
          FROM health_score.bands b)
    SELECT c.account_id, c.as_of, c.previous_as_of, c.from_band, c.to_band,
           CASE WHEN t.band_rank < f.band_rank THEN 'downgrade' ELSE 'upgrade' END AS direction,
           c.score_before::numeric(18,2) AS score_before, c.score_after::numeric(18,2) AS score_after
      FROM (SELECT h.account_id, h.as_of,
                   lag(h.as_of) OVER w AS previous_as_of,
                   lag(h.band) OVER w AS from_band, h.band AS to_band,
                   lag(h.score) OVER w AS score_before, h.score AS score_after
              FROM health_score.score_history h
            WINDOW w AS (PARTITION BY h.account_id ORDER BY h.as_of)) c
      LEFT JOIN ranks f ON f.band = c.from_band
      LEFT JOIN ranks t ON t.band = c.to_band
     WHERE c.from_band IS NOT NULL AND c.to_band IS NOT NULL AND c.from_band <> c.to_band;

COMMENT ON VIEW health_score.band_changes IS
'Every change of action band between two consecutive snapshots of an account.';
COMMENT ON COLUMN health_score.band_changes.account_id IS 'The account.';
COMMENT ON COLUMN health_score.band_changes.as_of IS 'The snapshot date where the new band first shows.';
COMMENT ON COLUMN health_score.band_changes.previous_as_of IS 'The previous snapshot date of the account.';
COMMENT ON COLUMN health_score.band_changes.from_band IS 'The band at the previous snapshot.';
COMMENT ON COLUMN health_score.band_changes.to_band IS 'The band at as_of.';
COMMENT ON COLUMN health_score.band_changes.direction IS 'downgrade (to a band of lower scores) or upgrade.';
COMMENT ON COLUMN health_score.band_changes.score_before IS 'The score at the previous snapshot.';
COMMENT ON COLUMN health_score.band_changes.score_after IS 'The score at as_of.';

-- The history for BI tools: score_history with numeric figures, and its jsonb of dimension
-- scores in long format (one row per dimension), as BI tools read neither float8 to a scale
-- nor jsonb well.
CREATE VIEW health_score.account_history AS
    SELECT h.as_of, h.account_id, h.score::numeric(18,2) AS score, h.band, h.alert_tier,
           h.coverage::numeric(18,4) AS coverage, h.product_score::numeric(18,2) AS product_score,
           h.relationship_score::numeric(18,2) AS relationship_score,
           h.business_score::numeric(18,2) AS business_score, h.reason,
           h.churn_risk::numeric(18,2) AS churn_risk, h.churn_risk_low::numeric(18,2) AS churn_risk_low,
           h.churn_risk_high::numeric(18,2) AS churn_risk_high, h.churn_risk_reason,
           h.churn_model, h.churn_model_version, h.config_version
      FROM health_score.score_history h;

COMMENT ON VIEW health_score.account_history IS
'score_history for BI tools: one row per account and snapshot date, with the figures as numeric (scores 2 decimals, coverage 4); the dimension scores in long format are in dimension_history.';
COMMENT ON COLUMN health_score.account_history.as_of IS 'The date scored; the score is as of midnight at its start.';
COMMENT ON COLUMN health_score.account_history.account_id IS 'The account.';
COMMENT ON COLUMN health_score.account_history.score IS 'Health score 0-100 at that date, NULL when unknown (see reason).';
COMMENT ON COLUMN health_score.account_history.band IS 'Action band at that date.';
COMMENT ON COLUMN health_score.account_history.alert_tier IS 'Alert tier at that date.';
COMMENT ON COLUMN health_score.account_history.coverage IS 'Share 0-1 of the configured weight that had data.';
COMMENT ON COLUMN health_score.account_history.product_score IS 'Product dimension score 0-100.';
COMMENT ON COLUMN health_score.account_history.relationship_score IS 'Relationship dimension score 0-100.';
COMMENT ON COLUMN health_score.account_history.business_score IS 'Business dimension score 0-100.';
COMMENT ON COLUMN health_score.account_history.reason IS 'Why the score is NULL, if it is.';
COMMENT ON COLUMN health_score.account_history.churn_risk IS 'Churn risk 0-100 % at that date (see score_history.churn_risk); NULL otherwise (see churn_risk_reason).';
COMMENT ON COLUMN health_score.account_history.churn_risk_low IS 'Low end of the 95 % confidence interval of churn_risk.';
COMMENT ON COLUMN health_score.account_history.churn_risk_high IS 'High end of the 95 % confidence interval of churn_risk.';
COMMENT ON COLUMN health_score.account_history.churn_risk_reason IS 'Why churn_risk is NULL, when it is.';
COMMENT ON COLUMN health_score.account_history.churn_model IS 'The account churn model the snapshot asked for the risk.';
COMMENT ON COLUMN health_score.account_history.churn_model_version IS 'Its version.';
COMMENT ON COLUMN health_score.account_history.config_version IS 'The scoring configuration version of the snapshot.';

CREATE VIEW health_score.dimension_history AS
    SELECT h.as_of, h.account_id, d.key AS dimension,
           (CASE WHEN jsonb_typeof(d.value) = 'number' THEN d.value::text END)::numeric(18,2) AS score
      FROM health_score.score_history h
     CROSS JOIN LATERAL jsonb_each(h.dimension_scores) d;

COMMENT ON VIEW health_score.dimension_history IS
'score_history.dimension_scores in long format for BI tools: one row per account, snapshot date and dimension (custom dimensions included).';
COMMENT ON COLUMN health_score.dimension_history.as_of IS 'The date scored.';
COMMENT ON COLUMN health_score.dimension_history.account_id IS 'The account.';
COMMENT ON COLUMN health_score.dimension_history.dimension IS 'The dimension.';
COMMENT ON COLUMN health_score.dimension_history.score IS 'The dimension''s score 0-100 at that date; NULL when its metrics had no data.';

-- Alerts --------------------------------------------------------------------------------------

CREATE TABLE health_score.alert_rules (
    rule        text PRIMARY KEY
                CHECK (rule IN ('score_drop', 'churn_risk_rise', 'band_downgrade', 'low_score', 'unusual_drop')),
    enabled     boolean NOT NULL DEFAULT true,
    threshold   float8 NOT NULL CHECK (threshold >= 0 AND threshold <= 100),
    window_days integer NOT NULL CHECK (window_days > 0),
    weight      float8 NOT NULL DEFAULT 1 CHECK (weight >= 0),
    min_history integer CHECK (min_history >= 2)
);

COMMENT ON TABLE health_score.alert_rules IS
'Your changes to the alert rules: a row here overrides the built-in default of that rule (see the view effective_alert_rules), e.g. INSERT INTO health_score.alert_rules VALUES (''score_drop'', true, 15, 14) ON CONFLICT (rule) DO UPDATE SET threshold = excluded.threshold, window_days = excluded.window_days. Empty at install; kept by pg_dump.';
COMMENT ON COLUMN health_score.alert_rules.rule IS 'score_drop, churn_risk_rise, band_downgrade, low_score or unusual_drop.';
COMMENT ON COLUMN health_score.alert_rules.enabled IS 'Whether the rule raises alerts.';
COMMENT ON COLUMN health_score.alert_rules.threshold IS 'score_drop: points lost from the window''s highest score; churn_risk_rise: percentage points gained from the window''s lowest risk; band_downgrade: bands lost from the window''s best band; low_score: the score at or below which an account alerts; unusual_drop: the robust z-score (above 0) a fall must reach below the account''s own past changes.';
COMMENT ON COLUMN health_score.alert_rules.window_days IS 'How many days back the rule looks, 1 to 36500 (ignored by low_score); the window reaches back to the latest snapshot at or before that day when it is at most greatest(7, window_days / 4) days older.';
COMMENT ON COLUMN health_score.alert_rules.weight IS 'Priority points per point of drop or rise (score_drop, churn_risk_rise) or per point the change falls below the account''s median change, or below 0 when that median is a rise (unusual_drop); ignored by the other rules.';
COMMENT ON COLUMN health_score.alert_rules.min_history IS 'unusual_drop: the fewest past changes (at least 2) the account needs before its change is judged; NULL for the default (8). Must be NULL for the other rules.';

SELECT pg_catalog.pg_extension_config_dump('health_score.alert_rules', '');

-- The CHECK constraints above are the backstop; this says what is wrong, rule by rule.
CREATE FUNCTION health_score.check_alert_rule() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.rule NOT IN ('score_drop', 'churn_risk_rise', 'band_downgrade', 'low_score', 'unusual_drop') THEN
        RAISE EXCEPTION 'alert_rules: unknown rule "%"', NEW.rule
            USING ERRCODE = 'check_violation',
                  HINT = 'The rules are score_drop, churn_risk_rise, band_downgrade, low_score and unusual_drop.';
    END IF;
    IF NEW.rule = 'unusual_drop' AND NOT (NEW.threshold > 0 AND NEW.threshold <= 100) THEN
        RAISE EXCEPTION 'alert rule unusual_drop: threshold is the robust z-score a fall must reach and must be above 0 and at most 100, got %', NEW.threshold
            USING ERRCODE = 'check_violation', HINT = '3.5 is the usual mark of an outlier.';
    END IF;
    IF NOT (NEW.threshold >= 0 AND NEW.threshold <= 100) THEN
        RAISE EXCEPTION 'alert rule %: threshold must be within 0 and 100, got %', NEW.rule, NEW.threshold
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT (NEW.window_days >= 1 AND NEW.window_days <= 36500) THEN
        RAISE EXCEPTION 'alert rule %: window_days must be within 1 and 36500, got %', NEW.rule, NEW.window_days
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT (NEW.weight >= 0 AND NEW.weight < 'Infinity') THEN
        RAISE EXCEPTION 'alert rule %: weight must be a finite number at least 0, got %', NEW.rule, NEW.weight
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.min_history IS NOT NULL AND NEW.rule IS DISTINCT FROM 'unusual_drop' THEN
        RAISE EXCEPTION 'alert rule %: min_history applies to unusual_drop only, got %', NEW.rule, NEW.min_history
            USING ERRCODE = 'check_violation', HINT = 'Leave min_history NULL for this rule.';
    END IF;
    IF NEW.min_history < 2 THEN
        RAISE EXCEPTION 'alert rule unusual_drop: min_history must be at least 2 past changes (a median and a spread need two), got %', NEW.min_history
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.check_alert_rule() IS
'Trigger: refuses an unknown alert rule, a threshold outside 0-100 (above 0 for unusual_drop), a window outside 1-36500 days, a negative or non-finite weight, and a min_history below 2 or on a rule other than unusual_drop, naming the rule.';

CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON health_score.alert_rules
    FOR EACH ROW EXECUTE FUNCTION health_score.check_alert_rule();

CREATE VIEW health_score.effective_alert_rules AS
    SELECT d.rule, coalesce(r.enabled, d.enabled) AS enabled,
           coalesce(r.threshold, d.threshold) AS threshold,
           coalesce(r.window_days, d.window_days) AS window_days,
           coalesce(r.weight, d.weight) AS weight,
           r.rule IS NULL AS is_default, d.description,
           CASE WHEN d.rule = 'unusual_drop' THEN coalesce(r.min_history, d.min_history) END AS min_history
      FROM (VALUES
            ('score_drop', true, 20::float8, 30, 1::float8,
             'the score fell by threshold points or more from its highest within the window', NULL::integer),
            ('churn_risk_rise', true, 15::float8, 30, 1::float8,
             'the churn risk rose by threshold percentage points or more from its lowest within the window', NULL),
            ('band_downgrade', true, 1::float8, 30, 0::float8,
             'the band is threshold bands or more below the best band within the window', NULL),
            ('low_score', true, 60::float8, 1, 0::float8,
             'the score is at or below threshold', NULL),
            ('unusual_drop', true, 3.5::float8, 30, 1::float8,
             'the score fell over the window and the change is threshold robust z-scores or more below the account''s own past changes over windows of that length (at least min_history of them)', 8))
           AS d(rule, enabled, threshold, window_days, weight, description, min_history)
      LEFT JOIN health_score.alert_rules r ON r.rule = d.rule;

COMMENT ON VIEW health_score.effective_alert_rules IS
'The alert rules in force: the built-in defaults (a drop of 20 points within 30 days, churn risk up 15 points within 30 days, any band downgrade within 30 days, a score at or below 60, a 30-day fall 3.5 robust z-scores below the account''s own past 30-day changes, given 8 of them) with your overrides from alert_rules.';
COMMENT ON COLUMN health_score.effective_alert_rules.rule IS 'Rule name.';
COMMENT ON COLUMN health_score.effective_alert_rules.enabled IS 'Whether the rule raises alerts.';
COMMENT ON COLUMN health_score.effective_alert_rules.threshold IS 'The rule''s threshold (see alert_rules.threshold).';
COMMENT ON COLUMN health_score.effective_alert_rules.window_days IS 'How many days back the rule looks.';
COMMENT ON COLUMN health_score.effective_alert_rules.weight IS 'Priority points per point of drop or rise.';
COMMENT ON COLUMN health_score.effective_alert_rules.is_default IS 'True when no override is set in alert_rules.';
COMMENT ON COLUMN health_score.effective_alert_rules.description IS 'What triggers the rule.';
COMMENT ON COLUMN health_score.effective_alert_rules.min_history IS 'unusual_drop: the fewest past changes needed; NULL for the other rules.';

-- Alert windows and snapshot cadence: a rule's window of N days at date D runs from the latest
-- snapshot at or before D - N, when that is at most greatest(7, N / 4) days older, to D (from
-- D - N when there is none). So a 30-day window holds the snapshot before it whether the
-- snapshots are daily, weekly (up to 6 days more) or at month ends (up to 3 days more).

-- score_change_z(as_of): how far each account's score change over the unusual_drop window lies
-- from its own past changes over windows of that length, in robust z-scores.
-- The query is in score_change_z_of(as_of_date), in PL/pgSQL: Citus cannot plan a SQL function's query
-- with parameters on distributed tables, and PL/pgSQL passes them as values (columns win over
-- same-named variables, as in SQL). score_change_z stays SQL, as PL/pgSQL refuses a parameter and an
-- output column both named as_of.
CREATE FUNCTION health_score.score_change_z_of(as_of_date date)
RETURNS TABLE (account_id text, as_of date, compared_with date, score_change float8,
               past_changes integer, median_change float8, mad float8, z float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- Checked before the query starts: a plan costly enough to be compiled (JIT) would
    -- otherwise take seconds to refuse a bad date.
    PERFORM health_score.check_date('as_of', score_change_z_of.as_of_date);
    RETURN QUERY
    WITH d AS (
        SELECT coalesce(score_change_z_of.as_of_date, (SELECT max(h.as_of) FROM health_score.score_history h)) AS day
    ), r AS (
        SELECT e.window_days AS days, greatest(7, e.window_days / 4) AS slack, e.min_history
          FROM health_score.effective_alert_rules e WHERE e.rule = 'unusual_drop'
    ), c AS (
        -- Every snapshot up to the date of the accounts scored at it, with the latest snapshot
        -- at or before window_days earlier (one pass over each account's history).
        SELECT h.account_id, h.as_of, h.score,
               last_value(h.as_of) OVER w AS compared_with, last_value(h.score) OVER w AS compared_score
          FROM health_score.score_history h
         WHERE h.as_of <= (SELECT d.day FROM d)
           AND h.account_id IN (SELECT n.account_id FROM health_score.score_history n
                                 WHERE n.as_of = (SELECT d.day FROM d))
        WINDOW w AS (PARTITION BY h.account_id ORDER BY h.as_of
                     RANGE BETWEEN UNBOUNDED PRECEDING AND (SELECT make_interval(days => r.days) FROM r) PRECEDING)
    ), ch AS (
        -- Scores are stored to two decimals: so are their changes.
        SELECT c.account_id, c.as_of, c.compared_with,
               round((c.score - c.compared_score)::numeric, 2)::float8 AS change
          FROM c, r
         WHERE c.compared_with >= c.as_of - r.days - r.slack
    ), past AS (
        -- The changes at snapshots at least window_days before the date: their windows end
        -- where the one judged begins, so a fall under way does not widen its own yardstick.
        SELECT ch.account_id, ch.change
          FROM ch, d, r
         WHERE ch.as_of <= d.day - r.days AND ch.change IS NOT NULL
    ), m AS (
        SELECT past.account_id, count(*)::integer AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY past.change) AS median
          FROM past GROUP BY past.account_id
    ), s AS (
        SELECT m.account_id, m.n, m.median,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(past.change - m.median)) AS mad
          FROM m JOIN past ON past.account_id = m.account_id
         GROUP BY m.account_id, m.n, m.median
    )
    -- 1.4826 * MAD estimates the standard deviation of normal changes; the MAD is taken as at
    -- least 2 points, so that an account whose score never moved (MAD 0) alerts on a fall of
    -- threshold * 1.4826 * 2 points (10.4 at 3.5), not on any fall at all. The change is
    -- measured from the median, or from 0 when the median is a rise: an account still
    -- ramping up whose score stops rising has not dropped.
    SELECT h.account_id, h.as_of, ch.compared_with, ch.change, coalesce(s.n, 0), s.median, s.mad,
           CASE WHEN s.n >= r.min_history
                THEN (ch.change - least(s.median, 0)) / (1.4826 * greatest(s.mad, 2)) END
      FROM d CROSS JOIN r
      JOIN health_score.score_history h ON h.as_of = d.day
      LEFT JOIN ch ON ch.account_id = h.account_id AND ch.as_of = h.as_of
      LEFT JOIN s ON s.account_id = h.account_id
     ORDER BY h.account_id;
END
$$;

COMMENT ON FUNCTION health_score.score_change_z_of(date) IS
'The rows of score_change_z(as_of_date): its query, in PL/pgSQL so that Citus can plan it.';

CREATE FUNCTION health_score.score_change_z(as_of date DEFAULT NULL)
RETURNS TABLE (account_id text, as_of date, compared_with date, score_change float8,
               past_changes integer, median_change float8, mad float8, z float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM health_score.score_change_z_of(as_of)
$$;

COMMENT ON FUNCTION health_score.score_change_z(date) IS
'The statistics behind the unusual_drop alert, per account scored at a snapshot date (default: the latest): score_change over the rule''s window (against compared_with, the latest snapshot at or before window_days earlier, at most greatest(7, window_days / 4) days older), and, over the account''s past changes of the same window length at snapshots at least window_days before the date, their number, median and median absolute deviation (MAD); z = (score_change - least(median_change, 0)) / (1.4826 * greatest(mad, 2)), NULL with fewer than min_history past changes or no change. unusual_drop fires on a fall with z at or below -threshold.';

-- alerts_at(as_of): the accounts that trigger an alert rule at a snapshot date, by priority.
-- The query is in alerts_at_of(as_of_date), in PL/pgSQL (as for score_change_z) and built for
-- Citus: the date, the rules and the bands' order are read first, on the coordinator, and passed
-- as values, so that the shards never read the catalog (theirs is not the coordinator's); each
-- account's windows are then aggregates over its own history, grouped by account (pushed down
-- to the shards whole), and the rules and priorities are applied to those few rows. Each call
-- is planned for its own date and rules, which bound the history it reads, not for any date.
CREATE FUNCTION health_score.alerts_at_of(as_of_date date)
RETURNS TABLE (priority_rank bigint, account_id text, as_of date, score float8, band text,
               alert_tier text, score_drop float8, churn_risk float8, churn_risk_rise float8,
               best_band text, rules text[], priority float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
-- A few lookups per alerting account: compiling the plan (JIT) would take most of the time.
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    day date := health_score.check_date('as_of', as_of_date);
    r record;
    ranks text[];   -- the bands from the lowest scores up: band_rank() is a position in it
    reach integer;  -- how many days before the date the earliest window can start
BEGIN
    IF day IS NULL THEN
        day := (SELECT max(h.as_of) FROM health_score.score_history h);
    END IF;
    -- No snapshot that day, no alerts (and no window, which could start before the first date).
    -- SELECT 1: Citus plans no empty target list over a distributed table.
    IF NOT EXISTS (SELECT 1 FROM health_score.score_history h WHERE h.as_of = day) THEN
        RETURN;
    END IF;
    SELECT
      bool_or(e.enabled) FILTER (WHERE e.rule = 'score_drop') AS drop_on,
      min(e.threshold) FILTER (WHERE e.rule = 'score_drop') AS drop_min,
      min(e.window_days) FILTER (WHERE e.rule = 'score_drop') AS drop_days,
      min(e.weight) FILTER (WHERE e.rule = 'score_drop') AS drop_weight,
      bool_or(e.enabled) FILTER (WHERE e.rule = 'churn_risk_rise') AS rise_on,
      min(e.threshold) FILTER (WHERE e.rule = 'churn_risk_rise') AS rise_min,
      min(e.window_days) FILTER (WHERE e.rule = 'churn_risk_rise') AS rise_days,
      min(e.weight) FILTER (WHERE e.rule = 'churn_risk_rise') AS rise_weight,
      bool_or(e.enabled) FILTER (WHERE e.rule = 'band_downgrade') AS band_on,
      min(e.threshold) FILTER (WHERE e.rule = 'band_downgrade') AS band_min,
      min(e.window_days) FILTER (WHERE e.rule = 'band_downgrade') AS band_days,
      bool_or(e.enabled) FILTER (WHERE e.rule = 'low_score') AS low_on,
      min(e.threshold) FILTER (WHERE e.rule = 'low_score') AS low_max,
      bool_or(e.enabled) FILTER (WHERE e.rule = 'unusual_drop') AS unusual_on,
      min(e.threshold) FILTER (WHERE e.rule = 'unusual_drop') AS unusual_min,
      min(e.weight) FILTER (WHERE e.rule = 'unusual_drop') AS unusual_weight
      INTO r
      FROM health_score.effective_alert_rules e;
    ranks := ARRAY(SELECT b.band FROM health_score.bands b ORDER BY b.min_score);
    reach := greatest(r.drop_days + greatest(7, r.drop_days / 4), r.rise_days + greatest(7, r.rise_days / 4),
                      r.band_days + greatest(7, r.band_days / 4));
    RETURN QUERY
    WITH w AS (
        -- Where each rule's window starts (see the rule above score_change_z).
        SELECT p.account_id,
               coalesce(max(p.as_of) FILTER (WHERE p.as_of <= day - r.drop_days
                                               AND p.as_of >= day - r.drop_days - greatest(7, r.drop_days / 4)),
                        day - r.drop_days) AS drop_from,
               coalesce(max(p.as_of) FILTER (WHERE p.as_of <= day - r.rise_days
                                               AND p.as_of >= day - r.rise_days - greatest(7, r.rise_days / 4)),
                        day - r.rise_days) AS rise_from,
               coalesce(max(p.as_of) FILTER (WHERE p.as_of <= day - r.band_days
                                               AND p.as_of >= day - r.band_days - greatest(7, r.band_days / 4)),
                        day - r.band_days) AS band_from
          FROM health_score.score_history p
         WHERE p.as_of <= day AND p.as_of >= day - reach
         GROUP BY p.account_id
    ), a AS MATERIALIZED (
        -- Over each window: the highest score, the lowest churn risk, the best band (an unknown
        -- band, one no longer in bands, counts as best, so it never makes a downgrade).
        SELECT h.account_id, h.as_of, h.score, h.band, h.alert_tier, h.churn_risk,
               round(greatest(0, max(p.score) FILTER (WHERE p.as_of >= w.drop_from) - h.score)::numeric, 2)::float8 AS score_drop,
               greatest(0, h.churn_risk - min(p.churn_risk) FILTER (WHERE p.as_of >= w.rise_from)) AS churn_risk_rise,
               coalesce(min(p.band) FILTER (WHERE p.as_of >= w.band_from AND array_position(ranks, p.band) IS NULL),
                        ranks[max(array_position(ranks, p.band)) FILTER (WHERE p.as_of >= w.band_from)]) AS best_band
          FROM health_score.score_history h
          JOIN w ON w.account_id = h.account_id
          JOIN health_score.score_history p ON p.account_id = h.account_id AND p.as_of <= day AND p.as_of >= day - reach
         WHERE h.as_of = day AND h.score IS NOT NULL
         GROUP BY h.account_id, h.as_of, h.score, h.band, h.alert_tier, h.churn_risk
    ), z AS MATERIALIZED (
        -- Read the whole history only when the rule is on.
        SELECT z.account_id, z.score_change, z.median_change, z.z
          FROM health_score.score_change_z(day) z
         WHERE r.unusual_on
    ), t AS (
        SELECT a.*, z.score_change AS unusual_change, z.median_change AS unusual_median,
               array_remove(ARRAY[
                   CASE WHEN r.drop_on AND a.score_drop >= r.drop_min AND a.score_drop > 0 THEN 'score_drop' END,
                   CASE WHEN r.unusual_on AND z.score_change < 0 AND z.z <= -r.unusual_min THEN 'unusual_drop' END,
                   CASE WHEN r.rise_on AND a.churn_risk_rise >= r.rise_min AND a.churn_risk_rise > 0 THEN 'churn_risk_rise' END,
                   CASE WHEN r.band_on AND array_position(ranks, a.best_band) - array_position(ranks, a.band)
                                           >= greatest(r.band_min, 1) THEN 'band_downgrade' END,
                   CASE WHEN r.low_on AND a.score <= r.low_max THEN 'low_score' END], NULL) AS rules
          FROM a LEFT JOIN z ON z.account_id = a.account_id
    )
    SELECT row_number() OVER (ORDER BY p.priority DESC, t.score, t.account_id),
           t.account_id, t.as_of, t.score, t.band, t.alert_tier, t.score_drop,
           t.churn_risk, t.churn_risk_rise, t.best_band, t.rules, p.priority
      FROM t
      CROSS JOIN LATERAL (
          SELECT round(((100 - t.score)
                        + coalesce(r.drop_weight, 0) * coalesce(t.score_drop, 0)
                        + coalesce(r.rise_weight, 0) * coalesce(t.churn_risk_rise, 0)
                        + CASE WHEN 'unusual_drop' = ANY (t.rules)
                               THEN coalesce(r.unusual_weight, 0) * (least(t.unusual_median, 0) - t.unusual_change)
                               ELSE 0 END)::numeric, 4)::float8 AS priority) p
     WHERE cardinality(t.rules) > 0
     ORDER BY 1;
END
$$;

COMMENT ON FUNCTION health_score.alerts_at_of(date) IS
'The rows of alerts_at(as_of_date): its query, in PL/pgSQL so that Citus can plan it.';

CREATE FUNCTION health_score.alerts_at(as_of date DEFAULT NULL)
RETURNS TABLE (priority_rank bigint, account_id text, as_of date, score float8, band text,
               alert_tier text, score_drop float8, churn_risk float8, churn_risk_rise float8,
               best_band text, rules text[], priority float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM health_score.alerts_at_of(as_of)
$$;

COMMENT ON FUNCTION health_score.alerts_at(date) IS
'The accounts that trigger at least one enabled alert rule (effective_alert_rules) at a snapshot date (default: the latest), ranked by priority = points below 100 + weight * points lost within the score_drop window + weight * churn-risk points gained within the churn_risk_rise window + (when unusual_drop fires) weight * points the change falls below the account''s median change (or below 0 when that median is a rise): a fast decline from 85 to 65 (35 + 20 = 55) ranks above a stable 60 (40). A window of N days reaches back to the latest snapshot at or before N days earlier when it is at most greatest(7, N / 4) days older, so daily, weekly and month-end snapshots all work.';

CREATE VIEW health_score.alerts AS
    SELECT a.priority_rank, a.account_id, a.as_of, a.score::numeric(18,2) AS score, a.band, a.alert_tier,
           a.score_drop::numeric(18,2) AS score_drop, a.churn_risk::numeric(18,2) AS churn_risk,
           a.churn_risk_rise::numeric(18,2) AS churn_risk_rise, a.best_band, a.rules,
           array_to_string(a.rules, ', ') AS rules_text, a.priority::numeric(18,2) AS priority
      FROM health_score.alerts_at() a;

COMMENT ON VIEW health_score.alerts IS
'Accounts needing attention at the latest snapshot, most urgent first: score drops, drops unusual for the account, fast-rising churn risk, band downgrades and low scores (rules in effective_alert_rules).';
COMMENT ON COLUMN health_score.alerts.priority_rank IS 'Position in the list, 1 = most urgent.';
COMMENT ON COLUMN health_score.alerts.account_id IS 'The account.';
COMMENT ON COLUMN health_score.alerts.as_of IS 'The snapshot date.';
COMMENT ON COLUMN health_score.alerts.score IS 'Health score 0-100 at that date.';
COMMENT ON COLUMN health_score.alerts.band IS 'Action band at that date.';
COMMENT ON COLUMN health_score.alerts.alert_tier IS 'Alert tier at that date (who acts, how fast).';
COMMENT ON COLUMN health_score.alerts.score_drop IS 'Points lost from the highest score within the score_drop window (0 when none).';
COMMENT ON COLUMN health_score.alerts.churn_risk IS 'Churn risk 0-100 %, NULL without a model.';
COMMENT ON COLUMN health_score.alerts.churn_risk_rise IS 'Percentage points gained from the lowest churn risk within the churn_risk_rise window.';
COMMENT ON COLUMN health_score.alerts.best_band IS 'The best band within the band_downgrade window.';
COMMENT ON COLUMN health_score.alerts.rules IS 'The rules triggered: score_drop, unusual_drop, churn_risk_rise, band_downgrade, low_score.';
COMMENT ON COLUMN health_score.alerts.rules_text IS 'The same rules as text, separated by comma and space (for BI tools, which do not read arrays).';
COMMENT ON COLUMN health_score.alerts.priority IS 'Points below 100 plus weighted points of drop, of churn-risk rise and of an unusual drop below the account''s median change: higher is more urgent.';

-- Change attribution --------------------------------------------------------------------------

-- attribution_check(from_date, to_date): refuses dates attribution cannot compare.
CREATE FUNCTION health_score.attribution_check(from_date date, to_date date)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    day date;
BEGIN
    IF from_date IS NULL OR to_date IS NULL THEN
        RAISE EXCEPTION 'from_date and to_date must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM health_score.check_date('from_date', from_date);
    PERFORM health_score.check_date('to_date', to_date);
    IF from_date > to_date THEN
        RAISE EXCEPTION 'from_date % is after to_date %',
            to_char(from_date, 'YYYY-MM-DD'), to_char(to_date, 'YYYY-MM-DD')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM health_score.score_history h WHERE h.as_of = from_date) THEN
        RAISE EXCEPTION 'no snapshot for from_date %', to_char(from_date, 'YYYY-MM-DD')
            USING ERRCODE = 'no_data_found', HINT = 'Take one with health_score.snapshot() or backfill().';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM health_score.score_history h WHERE h.as_of = to_date) THEN
        RAISE EXCEPTION 'no snapshot for to_date %', to_char(to_date, 'YYYY-MM-DD')
            USING ERRCODE = 'no_data_found', HINT = 'Take one with health_score.snapshot() or backfill().';
    END IF;
    -- A date with scores has metric history, unless its month was detached or dropped.
    FOREACH day IN ARRAY ARRAY[from_date, to_date] LOOP
        IF EXISTS (SELECT 1 FROM health_score.score_history h WHERE h.as_of = day AND h.score IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM health_score.metric_history_days m WHERE m.as_of = day) THEN
            RAISE EXCEPTION 'no metric history for %', to_char(day, 'YYYY-MM-DD')
                USING ERRCODE = 'no_data_found',
                      DETAIL = 'The scores of that date are in score_history, but its month of metric_history_days was detached or dropped.',
                      HINT = 'Attach the month again, or snapshot the date again (health_score.snapshot(date)) to rescore it now.';
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.attribution_check(date, date) IS
'Raises an error unless from_date and to_date are given, in order, and both have a snapshot in score_history and, when scored, metric history (no_data_found for a date whose month of metric_history_days was detached or dropped); used by attribution() and attribution_summary().';

-- attribution(from_date, to_date): the score change of each account split per metric, with the
-- part due to a configuration change apart.
CREATE FUNCTION health_score.attribution(from_date date, to_date date)
RETURNS TABLE (account_id text, component text, dimension text, metric text,
               from_sub_score float8, to_sub_score float8, from_weight float8, to_weight float8,
               change float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM health_score.attribution_check(from_date, to_date);

    RETURN QUERY
    WITH pair AS (
        -- Accounts scored at both dates.
        SELECT f.account_id, f.score AS from_score, t.score AS to_score,
               f.config_version <> t.config_version AS reconfigured
          FROM health_score.score_history f
          JOIN health_score.score_history t ON t.account_id = f.account_id AND t.as_of = to_date
         WHERE f.as_of = from_date AND f.score IS NOT NULL AND t.score IS NOT NULL
    ), base AS (
        -- The from side under the to side's configuration: as recorded when the configuration
        -- did not change, else from_date rescored now (with the current configuration).
        SELECT m.account_id, m.metric, m.dimension, m.sub_score, m.effective_weight, m.contribution
          FROM health_score.metric_history m JOIN pair p ON p.account_id = m.account_id
         WHERE m.as_of = from_date AND NOT p.reconfigured
        UNION ALL
        SELECT m.account_id, m.metric, m.dimension, m.sub_score, m.effective_weight, m.contribution
          FROM health_score.metric_scores(from_date::timestamptz) m
          JOIN pair p ON p.account_id = m.account_id
         WHERE p.reconfigured
    ), rescored AS (
        SELECT b.account_id, sum(b.contribution) AS total FROM base b GROUP BY b.account_id
    ), recorded AS (
        -- The from side as it was scored, before any configuration change.
        SELECT m.account_id, sum(m.contribution) AS total
          FROM health_score.metric_history m JOIN pair p ON p.account_id = m.account_id
         WHERE m.as_of = from_date
         GROUP BY m.account_id
    ), cur AS (
        SELECT m.account_id, m.metric, m.dimension, m.sub_score, m.effective_weight, m.contribution
          FROM health_score.metric_history m JOIN pair p ON p.account_id = m.account_id
         WHERE m.as_of = to_date
    ), current_total AS (
        SELECT c.account_id, sum(c.contribution) AS total FROM cur c GROUP BY c.account_id
    ), configuration AS (
        SELECT p.account_id, p.from_score, p.to_score, coalesce(n.total, 0) AS to_total,
               coalesce(r.total, 0) AS base_total,
               CASE WHEN p.reconfigured THEN coalesce(r.total, 0) - coalesce(o.total, 0) ELSE 0 END AS change
          FROM pair p
          LEFT JOIN rescored r ON r.account_id = p.account_id
          LEFT JOIN recorded o ON o.account_id = p.account_id
          LEFT JOIN current_total n ON n.account_id = p.account_id
    )
    SELECT coalesce(c.account_id, b.account_id), 'metric'::text,
           coalesce(c.dimension, b.dimension), coalesce(c.metric, b.metric),
           b.sub_score, c.sub_score, b.effective_weight, c.effective_weight,
           coalesce(c.contribution, 0) - coalesce(b.contribution, 0)
      FROM cur c FULL JOIN base b ON b.account_id = c.account_id AND b.metric = c.metric
    UNION ALL
    SELECT g.account_id, 'configuration', NULL, NULL, NULL, NULL, NULL, NULL, g.change
      FROM configuration g
    UNION ALL
    -- Scores are stored rounded (to two decimals); what the rounding moved at either end.
    SELECT g.account_id, 'rounding', NULL, NULL, NULL, NULL, NULL, NULL,
           (g.to_score - g.from_score) - (g.to_total - g.base_total) - g.change
      FROM configuration g;
END
$$;

COMMENT ON FUNCTION health_score.attribution(date, date) IS
'Splits each account''s score change between two snapshot dates into rows (component): one metric row per metric (its change of contribution in points, with sub-scores and effective weights at both ends), one configuration row (the change due to a configuration change: from_date rescored with the current configuration minus from_date as recorded; 0 when both dates were scored with the same configuration version) and one rounding row (what rounding the stored scores moved, at most 0.01 points). For every account the rows sum to the score change exactly. Accounts without a score at either date are left out.';

-- attribution_summary(from_date, to_date): one row per account, the change split per dimension.
CREATE FUNCTION health_score.attribution_summary(from_date date, to_date date)
RETURNS TABLE (account_id text, from_score float8, to_score float8, change float8,
               product_change float8, relationship_change float8, business_change float8,
               configuration_change float8, rounding_change float8, top_metric text,
               top_metric_change float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM health_score.attribution_check(from_date, to_date);
    RETURN QUERY
    SELECT f.account_id, f.score, t.score, t.score - f.score,
           coalesce(sum(a.change) FILTER (WHERE a.dimension = 'product'), 0),
           coalesce(sum(a.change) FILTER (WHERE a.dimension = 'relationship'), 0),
           coalesce(sum(a.change) FILTER (WHERE a.dimension = 'business'), 0),
           sum(a.change) FILTER (WHERE a.component = 'configuration'),
           sum(a.change) FILTER (WHERE a.component = 'rounding'),
           (array_agg(a.metric ORDER BY abs(a.change) DESC, a.metric) FILTER (WHERE a.component = 'metric'))[1],
           (array_agg(a.change ORDER BY abs(a.change) DESC, a.metric) FILTER (WHERE a.component = 'metric'))[1]
      FROM health_score.attribution(from_date, to_date) a
      JOIN health_score.score_history f ON f.account_id = a.account_id AND f.as_of = from_date
      JOIN health_score.score_history t ON t.account_id = a.account_id AND t.as_of = to_date
     GROUP BY f.account_id, f.score, t.score;
END
$$;

COMMENT ON FUNCTION health_score.attribution_summary(date, date) IS
'One row per account: its score change between two snapshot dates, split into the product, relationship and business dimensions, configuration and rounding (the parts of attribution(); they sum to the change), and the metric that moved it most.';

-- Backtest ------------------------------------------------------------------------------------
-- A backtest compares points of one scoring configuration: the snapshots of score_history
-- hold config_version, and mixing versions would mix the configurations compared. What-if
-- backtests rescore past dates with account_scores(date) under the catalog as it is in the
-- calling transaction (change it, compare, roll back), writing nothing.

-- backtest_check_horizons(horizons): refuses horizons that are not positive numbers of days.
CREATE FUNCTION health_score.backtest_check_horizons(horizons integer[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h integer;
BEGIN
    IF horizons IS NULL OR cardinality(horizons) = 0 THEN
        RAISE EXCEPTION 'horizons must name at least one horizon in days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH h IN ARRAY horizons LOOP
        IF h IS NULL OR h <= 0 THEN
            RAISE EXCEPTION 'horizons must be positive numbers of days, got %', coalesce(h::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.backtest_check_horizons(integer[]) IS
'Raises an error (22023) unless horizons is a non-empty list of positive numbers of days; used by the backtest functions.';

-- backtest_check(horizons, from_date, to_date, config_version): refuses what a backtest of the
-- stored snapshots cannot compare; returns the configuration version to compare.
CREATE FUNCTION health_score.backtest_check(horizons integer[], from_date date, to_date date,
                                            config_version bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    version bigint := backtest_check.config_version;
    span text;
    versions bigint[];
    found_versions text;
    first_day date;
    last_day date;
    longest integer;
    h integer;
BEGIN
    PERFORM health_score.backtest_check_horizons(horizons);
    PERFORM health_score.check_date('from_date', from_date);
    PERFORM health_score.check_date('to_date', to_date);
    -- after the checks: to_char fails on a date that is no timestamp
    span := concat_ws(' ', 'from ' || to_char(from_date, 'YYYY-MM-DD'),
                      CASE WHEN from_date IS NULL THEN 'up to ' ELSE 'to ' END || to_char(to_date, 'YYYY-MM-DD'));
    IF from_date > to_date THEN
        RAISE EXCEPTION 'from_date % is after to_date %',
            to_char(from_date, 'YYYY-MM-DD'), to_char(to_date, 'YYYY-MM-DD')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM health_score.score_history s) THEN
        RAISE EXCEPTION 'score_history is empty'
            USING ERRCODE = 'no_data_found',
                  HINT = 'Fill it with health_score.backfill(from_date, to_date, step) first.';
    END IF;
    -- The configurations of the snapshots in range, each with its dates.
    SELECT array_agg(v.config_version ORDER BY v.config_version),
           string_agg(CASE WHEN v.dates = 1
                           THEN format('version %s: 1 date, %s', v.config_version, to_char(v.first_day, 'YYYY-MM-DD'))
                           ELSE format('version %s: %s dates, %s to %s', v.config_version, v.dates,
                                       to_char(v.first_day, 'YYYY-MM-DD'), to_char(v.last_day, 'YYYY-MM-DD')) END,
                      '; ' ORDER BY v.config_version)
      INTO versions, found_versions
      FROM (SELECT d.config_version, count(*) AS dates, min(d.as_of) AS first_day, max(d.as_of) AS last_day
              FROM (SELECT s.config_version, s.as_of FROM health_score.score_history s
                     WHERE s.as_of >= coalesce(from_date, '-infinity') AND s.as_of <= coalesce(to_date, 'infinity')
                     GROUP BY s.config_version, s.as_of) d
             GROUP BY d.config_version) v;
    IF versions IS NULL THEN
        SELECT min(s.as_of), max(s.as_of) INTO first_day, last_day FROM health_score.score_history s;
        RAISE EXCEPTION 'score_history has no snapshot %', span
            USING ERRCODE = 'no_data_found',
                  HINT = format('Its snapshots run from %s to %s.',
                                to_char(first_day, 'YYYY-MM-DD'), to_char(last_day, 'YYYY-MM-DD'));
    END IF;
    IF version IS NULL THEN
        IF cardinality(versions) > 1 THEN
            RAISE EXCEPTION '%', format('score_history holds snapshots of %s scoring configurations%s (versions %s): name one with config_version',
                cardinality(versions), coalesce(' ' || nullif(span, ''), ''), array_to_string(versions, ', '))
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = found_versions || '.',
                      HINT = 'Pass config_version => N to compare the scores of one configuration, bound the dates with from_date and to_date, or rescore the dates under the current configuration with backtest_whatif(from_date, to_date, step).';
        END IF;
        version := versions[1];
    ELSIF NOT version = ANY (versions) THEN
        RAISE EXCEPTION '%', format('score_history has no snapshot of configuration version %s%s',
            version, coalesce(' ' || nullif(span, ''), ''))
            USING ERRCODE = 'no_data_found', DETAIL = 'The snapshots hold ' || found_versions || '.';
    END IF;
    SELECT min(s.as_of), max(s.as_of) INTO first_day, last_day
      FROM health_score.score_history s
     WHERE s.config_version = version
       AND s.as_of >= coalesce(from_date, '-infinity') AND s.as_of <= coalesce(to_date, 'infinity');
    -- the longest a churned account was scored before it churned, within the stay that churn
    -- ended: every horizon up to it has a point. One query, however many horizons (a query per
    -- horizon took seconds for 100,000 under row-level security).
    SELECT max(e.churned_on - s.as_of) INTO longest
      FROM health_score.churn_events e
      JOIN health_score.score_history s ON s.account_id = e.account_id
     WHERE s.score IS NOT NULL AND s.config_version = version
       AND s.as_of >= coalesce(e.customer_since, '-infinity') AND s.as_of < e.churned_on
       AND s.as_of >= coalesce(from_date, '-infinity') AND s.as_of <= coalesce(to_date, 'infinity');
    FOREACH h IN ARRAY horizons LOOP
        IF longest IS NULL OR h > longest THEN
            RAISE EXCEPTION '%', format('horizon of %s days: no churned account has a score that long before it churned (score history %s to %s%s)',
                h, to_char(first_day, 'YYYY-MM-DD'), to_char(last_day, 'YYYY-MM-DD'),
                CASE WHEN backtest_check.config_version IS NOT NULL THEN ', configuration version ' || version ELSE '' END)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Backfill further back, or ask for a shorter horizon.';
        END IF;
    END LOOP;
    RETURN version;
END
$$;

COMMENT ON FUNCTION health_score.backtest_check(integer[], date, date, bigint) IS
'Raises an error unless horizons is a non-empty list of positive numbers of days, from_date and to_date (each optional) are finite and in order, score_history holds snapshots between them of a single configuration or of the one named by config_version (else 22023, naming the versions found, or P0002), and each horizon has at least one churned account scored that many days or more before it churned. Returns the configuration version to compare; used by the backtest functions.';

-- backtest_points_of(horizons, from_date, to_date, config_version, dates, mode): the points of
-- every backtest, per source of scores. mode 'stored': the snapshots of score_history of
-- configuration config_version between from_date and to_date; 'what-if': each of dates
-- rescored with account_scores(date); 'compare': both, the stored dates rescored, each source
-- kept to the account and date pairs scored in both, so that both compare the same points.
-- PL/pgSQL, not SQL: Citus cannot plan a SQL function's query with parameters on distributed
-- tables, and PL/pgSQL passes them as values. Columns win over same-named parameters, as in SQL.
CREATE FUNCTION health_score.backtest_points_of(horizons integer[], from_date date, to_date date,
                                                config_version bigint, dates date[], mode text)
RETURNS TABLE (source text, horizon_days integer, as_of date, account_id text, score float8,
               band text, churned boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- The rescored dates' scoring functions carry large cost estimates; compiling the plan would
-- cost seconds and save nothing.
SET jit = off
AS $$
#variable_conflict use_column
BEGIN RETURN QUERY
    WITH stored AS MATERIALIZED (
        SELECT h.as_of, h.account_id, h.score, h.band
          FROM health_score.score_history h
         WHERE backtest_points_of.mode IN ('stored', 'compare') AND h.score IS NOT NULL
           AND h.config_version = backtest_points_of.config_version
           AND h.as_of >= coalesce(backtest_points_of.from_date, '-infinity')
           AND h.as_of <= coalesce(backtest_points_of.to_date, 'infinity')
    ), rescored AS MATERIALIZED (
        -- Each date point in time, as snapshot() scores it (midnight at its start).
        SELECT d.day AS as_of, r.account_id, r.score, r.band
          FROM (SELECT x AS day FROM unnest(backtest_points_of.dates) x WHERE backtest_points_of.mode = 'what-if'
                UNION
                SELECT s.as_of FROM stored s WHERE backtest_points_of.mode = 'compare') d
         CROSS JOIN LATERAL health_score.account_scores(d.day::timestamptz) r
         WHERE r.score IS NOT NULL
    ), src AS MATERIALIZED (
        SELECT 'stored'::text AS source, s.as_of, s.account_id, s.score, s.band
          FROM stored s
         WHERE backtest_points_of.mode = 'stored'
            OR (s.as_of, s.account_id) IN (SELECT r.as_of, r.account_id FROM rescored r)
        UNION ALL
        SELECT 'what-if', r.as_of, r.account_id, r.score, r.band
          FROM rescored r
         WHERE backtest_points_of.mode = 'what-if'
            OR (r.as_of, r.account_id) IN (SELECT s.as_of, s.account_id FROM stored s)
    ), hz AS (
        SELECT DISTINCT x AS days FROM unnest(backtest_points_of.horizons) x
    ), churns AS MATERIALIZED (
        -- every churn, read once (churn_events orders each account's periods)
        SELECT e.account_id, e.customer_since, e.churned_on FROM health_score.churn_events e
    ), positive AS (
        -- Each churn, at the account's latest scored date at least `days` days before it and
        -- within the stay it ended: an account that came back is a churner again only for a
        -- later churn.
        SELECT s.source, hz.days, s.account_id, max(s.as_of) AS day
          FROM src s
          JOIN churns e ON e.account_id = s.account_id
         CROSS JOIN hz
         WHERE s.as_of <= e.churned_on - hz.days AND s.as_of >= coalesce(e.customer_since, '-infinity')
         GROUP BY s.source, hz.days, s.account_id, e.churned_on
    ), days AS (
        SELECT DISTINCT p.source, p.days, p.day FROM positive p
    ), points AS MATERIALIZED (
        SELECT d.source, d.days, d.day, s.account_id, s.score, s.band
          FROM days d
          JOIN src s ON s.source = d.source AND s.as_of = d.day
          JOIN health_score.accounts a ON a.account_id = s.account_id
    ), soon AS (
        -- the accounts scored on those dates that churn within `days` days
        SELECT DISTINCT p.source, p.days, p.day, p.account_id
          FROM points p
          JOIN churns e ON e.account_id = p.account_id AND e.churned_on > p.day AND e.churned_on <= p.day + p.days
    )
    -- At those dates, the churners (churned) and the accounts that did not churn within
    -- `days` days. With sparse snapshots a churner's date can be further back than N days: it
    -- is a churned point there, never also a stayed one. (Joins, each at most one row a point:
    -- a churner has one latest date per churn, and its stays do not overlap.)
    SELECT p.source, p.days, p.day, p.account_id, p.score, p.band, q.account_id IS NOT NULL
      FROM points p
      LEFT JOIN positive q ON q.source = p.source AND q.days = p.days AND q.day = p.day AND q.account_id = p.account_id
      LEFT JOIN soon n ON n.source = p.source AND n.days = p.days AND n.day = p.day AND n.account_id = p.account_id
     WHERE q.account_id IS NOT NULL OR n.account_id IS NULL;
END
$$;

COMMENT ON FUNCTION health_score.backtest_points_of(integer[], date, date, bigint, date[], text) IS
'The points of the backtest functions (see backtest_points), per source: mode ''stored'' reads the snapshots of configuration config_version between from_date and to_date (NULL: unbounded); ''what-if'' rescores each of dates with account_scores(date), writing nothing; ''compare'' does both on the stored dates and keeps each source to the accounts and dates scored in both, so the points are the same.';

-- backtest_of(horizons, from_date, to_date, config_version, dates, mode): the figures of the
-- backtest functions per source and horizon (see backtest_points_of).
CREATE FUNCTION health_score.backtest_of(horizons integer[], from_date date, to_date date,
                                         config_version bigint, dates date[], mode text)
RETURNS TABLE (source text, horizon_days integer, churned bigint, stayed bigint, auc float8,
               churn_rate float8, false_positives bigint, false_positive_rate float8,
               false_negatives bigint, false_negative_rate float8,
               top_decile_churn_rate float8, top_decile_lift float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    seen text[] := '{}';
    missing integer;
BEGIN
    PERFORM health_score.backtest_check_horizons(horizons);
    -- auc() is the churn part's ROC AUC aggregate.
    FOR source, horizon_days, churned, stayed, auc, churn_rate, false_positives, false_positive_rate,
        false_negatives, false_negative_rate, top_decile_churn_rate, top_decile_lift IN
        WITH p AS (
            SELECT b.*, ntile(10) OVER (PARTITION BY b.source, b.horizon_days
                                        ORDER BY b.score, b.account_id, b.as_of) AS decile
              FROM health_score.backtest_points_of(backtest_of.horizons, backtest_of.from_date,
                       backtest_of.to_date, backtest_of.config_version, backtest_of.dates, backtest_of.mode) b
        ), top_band AS (
            SELECT b.band FROM health_score.bands b ORDER BY b.max_score DESC, b.min_score DESC LIMIT 1
        ), bottom_band AS (
            SELECT b.band FROM health_score.bands b ORDER BY b.min_score, b.max_score LIMIT 1
        )
        SELECT p.source, p.horizon_days,
               count(*) FILTER (WHERE p.churned),
               count(*) FILTER (WHERE NOT p.churned),
               health_score.auc(100 - p.score, p.churned),
               avg(p.churned::int)::float8,
               count(*) FILTER (WHERE p.churned AND p.band = (SELECT t.band FROM top_band t)),
               (count(*) FILTER (WHERE p.churned AND p.band = (SELECT t.band FROM top_band t)))::float8
                   / nullif(count(*) FILTER (WHERE p.churned), 0),
               count(*) FILTER (WHERE NOT p.churned AND p.band = (SELECT w.band FROM bottom_band w)),
               (count(*) FILTER (WHERE NOT p.churned AND p.band = (SELECT w.band FROM bottom_band w)))::float8
                   / nullif(count(*) FILTER (WHERE NOT p.churned), 0),
               avg(p.churned::int) FILTER (WHERE p.decile = 1)::float8,
               avg(p.churned::int) FILTER (WHERE p.decile = 1)::float8 / nullif(avg(p.churned::int), 0)
          FROM p
         GROUP BY p.source, p.horizon_days
         ORDER BY p.horizon_days, p.source
    LOOP
        seen := seen || (source || ' ' || horizon_days);
        RETURN NEXT;
    END LOOP;
    -- Rescored dates are known only now: every horizon needs a churned point in every source.
    SELECT min(h.x) INTO missing
      FROM unnest(horizons) h(x)
     CROSS JOIN (SELECT 'stored' WHERE mode <> 'what-if' UNION ALL SELECT 'what-if' WHERE mode <> 'stored') s(name)
     WHERE NOT (s.name || ' ' || h.x) = ANY (seen);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'horizon of % days: no churned account has a score that long before it churned (%)',
            missing, CASE WHEN mode = 'what-if'
                          THEN format('dates rescored %s to %s',
                                      (SELECT to_char(min(x), 'YYYY-MM-DD') FROM unnest(dates) x),
                                      (SELECT to_char(max(x), 'YYYY-MM-DD') FROM unnest(dates) x))
                          ELSE 'on the points scored in both configurations' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Rescore further back, or ask for a shorter horizon.';
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.backtest_of(integer[], date, date, bigint, date[], text) IS
'The figures of backtest() per source (stored or what-if, see backtest_points_of) and horizon; raises an error (22023) when a horizon has no churned point in a source.';

-- backtest_points(horizons, from_date, to_date, config_version): the scored points a backtest
-- compares.
CREATE FUNCTION health_score.backtest_points(horizons integer[] DEFAULT '{30,60,90}',
                                             from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                             config_version bigint DEFAULT NULL)
RETURNS TABLE (horizon_days integer, as_of date, account_id text, score float8, band text,
               churned boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    version bigint;
BEGIN
    version := health_score.backtest_check(horizons, from_date, to_date, backtest_points.config_version);
    RETURN QUERY
    SELECT p.horizon_days, p.as_of, p.account_id, p.score, p.band, p.churned
      FROM health_score.backtest_points_of(horizons, from_date, to_date, version, NULL, 'stored') p;
END
$$;

COMMENT ON FUNCTION health_score.backtest_points(integer[], date, date, bigint) IS
'The points a backtest compares, per horizon of N days: every churn (churn_events; an account that came back can churn again) with the account scored at its latest snapshot at least N days before it, in the stay it ended (churned = true), and, at those same snapshot dates, every scored account that did not churn within N days (churned = false). Reads the snapshots from from_date to to_date (default: all) of one scoring configuration: config_version, or the only one in range (several without config_version: an error naming them, 22023). Each horizon must be positive and have at least one churned account scored that long before it churned.';

-- backtest(horizons, from_date, to_date, config_version): did the scores predict churn N days ahead?
CREATE FUNCTION health_score.backtest(horizons integer[] DEFAULT '{30,60,90}',
                                      from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                      config_version bigint DEFAULT NULL)
RETURNS TABLE (horizon_days integer, churned bigint, stayed bigint, auc float8,
               churn_rate float8, false_positives bigint, false_positive_rate float8,
               false_negatives bigint, false_negative_rate float8,
               top_decile_churn_rate float8, top_decile_lift float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    version bigint;
BEGIN
    version := health_score.backtest_check(horizons, from_date, to_date, backtest.config_version);
    RETURN QUERY
    SELECT b.horizon_days, b.churned, b.stayed, b.auc, b.churn_rate, b.false_positives,
           b.false_positive_rate, b.false_negatives, b.false_negative_rate,
           b.top_decile_churn_rate, b.top_decile_lift
      FROM health_score.backtest_of(horizons, from_date, to_date, version, NULL, 'stored') b;
END
$$;

COMMENT ON FUNCTION health_score.backtest(integer[], date, date, bigint) IS
'Backtest of the scores against real churn, per horizon in days (see backtest_points; the snapshots from from_date to to_date of one configuration, config_version when several): churned and stayed points, ROC AUC of (100 - score) as a churn predictor (0.5 = chance, 1 = perfect), the churn rate of the compared points, false positives (churned accounts that were in the top band, green by default) and false negatives (stayed accounts in the bottom band, red by default) with their rates among churned resp. stayed, and the churn rate of the lowest-scored decile with its lift over the overall rate.';

-- backtest_bands(horizons, from_date, to_date, config_version): churn rate per band among the
-- backtest points.
CREATE FUNCTION health_score.backtest_bands(horizons integer[] DEFAULT '{30,60,90}',
                                            from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                            config_version bigint DEFAULT NULL)
RETURNS TABLE (horizon_days integer, band text, points bigint, churned bigint, churn_rate float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.horizon_days, p.band, count(*), count(*) FILTER (WHERE p.churned),
           avg(p.churned::int)::float8
      FROM health_score.backtest_points(backtest_bands.horizons, backtest_bands.from_date,
                                        backtest_bands.to_date, backtest_bands.config_version) p
      LEFT JOIN health_score.bands b ON b.band = p.band
     GROUP BY p.horizon_days, p.band, b.min_score
     ORDER BY p.horizon_days, b.min_score DESC NULLS LAST
$$;

COMMENT ON FUNCTION health_score.backtest_bands(integer[], date, date, bigint) IS
'Churn rate per action band and horizon among the backtest points (see backtest_points, with the same date range and configuration): of the accounts in a band N days before, the share that churned.';

-- backtest_whatif(from_date, to_date, step, horizons): backtest() of past dates rescored now.
CREATE FUNCTION health_score.backtest_whatif(from_date date, to_date date,
                                             step interval DEFAULT interval '1 day',
                                             horizons integer[] DEFAULT '{30,60,90}')
RETURNS TABLE (horizon_days integer, churned bigint, stayed bigint, auc float8,
               churn_rate float8, false_positives bigint, false_positive_rate float8,
               false_negatives bigint, false_negative_rate float8,
               top_decile_churn_rate float8, top_decile_lift float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    days date[];
    last_churn date;
    missing integer;
BEGIN
    PERFORM health_score.backtest_check_horizons(horizons);
    -- The dates backfill(from_date, to_date, step) would write, refused as it refuses them.
    days := health_score.step_dates(from_date, to_date, step);
    -- A horizon longer than from_date to the last churn has no churned point: refused now, as
    -- backtest_of would refuse it after rescoring every date. (An infinite churned_on is left
    -- to backtest_of.) Churns as backtest_of reads them: the end of each stay.
    SELECT max(e.churned_on) INTO last_churn FROM health_score.churn_events e;
    IF last_churn IS NULL OR isfinite(last_churn) THEN
        SELECT min(h.x) INTO missing FROM unnest(horizons) h(x)
         WHERE last_churn IS NULL OR h.x > last_churn - from_date;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'horizon of % days: no churned account has a score that long before it churned (dates rescored % to %)',
            missing, to_char(days[1], 'YYYY-MM-DD'), to_char(days[cardinality(days)], 'YYYY-MM-DD')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Rescore further back, or ask for a shorter horizon.';
    END IF;

    RETURN QUERY
    SELECT b.horizon_days, b.churned, b.stayed, b.auc, b.churn_rate, b.false_positives,
           b.false_positive_rate, b.false_negatives, b.false_negative_rate,
           b.top_decile_churn_rate, b.top_decile_lift
      FROM health_score.backtest_of(horizons, NULL, NULL, NULL, days, 'what-if') b;
END
$$;

COMMENT ON FUNCTION health_score.backtest_whatif(date, date, interval, integer[]) IS
'backtest() of the dates backfill(from_date, to_date, step) would write, each rescored now with account_scores(date), point in time, under the scoring configuration as it is in this transaction: change the catalog, run it, roll back to try a proposal. Writes nothing (score_history and metric_history are not read or changed). Same columns as backtest(); on the same dates, under the configuration the snapshots were taken with, the same figures.';

-- backtest_compare(horizons, from_date, to_date, config_version): the stored snapshots of one
-- configuration against the same dates rescored now, on the same points.
CREATE FUNCTION health_score.backtest_compare(horizons integer[] DEFAULT '{30,60,90}',
                                              from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                              config_version bigint DEFAULT NULL)
RETURNS TABLE (source text, version bigint, horizon_days integer, churned bigint, stayed bigint,
               auc float8, churn_rate float8, false_positives bigint, false_positive_rate float8,
               false_negatives bigint, false_negative_rate float8,
               top_decile_churn_rate float8, top_decile_lift float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    stored_version bigint;
BEGIN
    stored_version := health_score.backtest_check(horizons, from_date, to_date, backtest_compare.config_version);
    RETURN QUERY
    SELECT b.source, CASE b.source WHEN 'stored' THEN stored_version ELSE health_score.config_version() END,
           b.horizon_days, b.churned, b.stayed, b.auc, b.churn_rate, b.false_positives,
           b.false_positive_rate, b.false_negatives, b.false_negative_rate,
           b.top_decile_churn_rate, b.top_decile_lift
      FROM health_score.backtest_of(horizons, from_date, to_date, stored_version, NULL, 'compare') b;
END
$$;

COMMENT ON FUNCTION health_score.backtest_compare(integer[], date, date, bigint) IS
'Two backtests on the same points, a row per source and horizon: source stored, the snapshots from from_date to to_date of one configuration (version: config_version, or the only one in range), and source what-if, the same dates rescored now under the configuration as it is in this transaction (version: config_version() now). Both are kept to the accounts and dates scored in both, so they compare the same accounts, dates and churn labels. Change the catalog in a transaction, compare, roll back: the proposal against the configuration in use. Writes nothing.';

-- Materialized views for dashboards --------------------------------------------------------------
-- Each has a unique index, so refresh() can use REFRESH MATERIALIZED VIEW CONCURRENTLY and
-- readers are never blocked. Their columns carry the comments of the views they copy.

CREATE MATERIALIZED VIEW health_score.account_health_mv AS
    SELECT * FROM health_score.account_health;
CREATE UNIQUE INDEX account_health_mv_account_id_idx ON health_score.account_health_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.account_health_mv IS
'account_health as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.dimension_breakdown_mv AS
    SELECT * FROM health_score.dimension_breakdown;
CREATE UNIQUE INDEX dimension_breakdown_mv_account_id_dimension_idx
    ON health_score.dimension_breakdown_mv (account_id, dimension);
COMMENT ON MATERIALIZED VIEW health_score.dimension_breakdown_mv IS
'dimension_breakdown as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.band_summary_mv AS
    SELECT * FROM health_score.band_summary;
CREATE UNIQUE INDEX band_summary_mv_band_idx ON health_score.band_summary_mv (band);
COMMENT ON MATERIALIZED VIEW health_score.band_summary_mv IS
'band_summary as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.action_queue_mv AS
    SELECT * FROM health_score.action_queue;
CREATE UNIQUE INDEX action_queue_mv_account_id_idx ON health_score.action_queue_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.action_queue_mv IS
'action_queue as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.upsell_candidates_mv AS
    SELECT * FROM health_score.upsell_candidates;
CREATE UNIQUE INDEX upsell_candidates_mv_account_id_idx ON health_score.upsell_candidates_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.upsell_candidates_mv IS
'upsell_candidates as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.score_trends_mv AS
    SELECT * FROM health_score.score_trends;
CREATE UNIQUE INDEX score_trends_mv_account_id_idx ON health_score.score_trends_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.score_trends_mv IS
'score_trends as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.alerts_mv AS
    SELECT * FROM health_score.alerts;
CREATE UNIQUE INDEX alerts_mv_account_id_idx ON health_score.alerts_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.alerts_mv IS
'alerts as of the last refresh() (materialized for dashboards; refreshed concurrently).';

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT m.oid::regclass AS mv, a.attname, col_description(v.oid, va.attnum) AS description
          FROM pg_class m
          JOIN pg_attribute a ON a.attrelid = m.oid AND a.attnum > 0 AND NOT a.attisdropped
          JOIN pg_class v ON v.relnamespace = m.relnamespace AND v.relkind = 'v'
                         AND v.relname = left(m.relname, -3)
          JOIN pg_attribute va ON va.attrelid = v.oid AND va.attname = a.attname
         WHERE m.relnamespace = 'health_score'::regnamespace AND m.relkind = 'm'
           AND m.relname LIKE '%\_mv' AND col_description(v.oid, va.attnum) IS NOT NULL
    LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.mv, c.attname, c.description);
    END LOOP;
END
$$;

-- Scheduled refresh ---------------------------------------------------------------------------

-- refresh(full_rescore): take today's snapshot and refresh the dashboard materialized views.
-- refresh_dashboards(as_of): the extension's materialized views refreshed as of the snapshot
-- of as_of just taken in this transaction, from its metric rows (refresh_rows), unless the
-- setting health_score.as_of names another time: each view would otherwise score the book
-- again from every observation. refresh()'s last step.
CREATE FUNCTION health_score.refresh_dashboards(as_of date)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    mv record;
    as_of_setting text := current_setting('health_score.as_of', true);
BEGIN
    PERFORM health_score.check_date('as_of', as_of);
    IF coalesce(as_of_setting, '') = '' THEN
        PERFORM set_config('health_score.as_of', as_of::timestamptz::text, true);
    END IF;
    IF to_regclass('pg_temp.refresh_scored') IS NULL THEN
        CREATE TEMP TABLE refresh_scored (as_of timestamptz, config_version bigint) ON COMMIT DROP;
    END IF;
    INSERT INTO pg_temp.refresh_scored VALUES (as_of::timestamptz, health_score.config_version());
    FOR mv IN
        SELECT c.oid::regclass AS name, c.relispopulated
          FROM pg_class c
         WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'm'
           -- the extension's own materialized views, not ones a user added to the schema
           AND EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                          AND d.refclassid = 'pg_extension'::regclass
                          AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'health_score'))
         ORDER BY c.relname
    LOOP
        IF mv.relispopulated THEN
            EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', mv.name);
        ELSE
            EXECUTE format('REFRESH MATERIALIZED VIEW %s', mv.name);
        END IF;
    END LOOP;
    DROP TABLE pg_temp.refresh_scored;
    PERFORM set_config('health_score.as_of', coalesce(as_of_setting, ''), true);
END
$$;

COMMENT ON FUNCTION health_score.refresh_dashboards(date) IS
'The extension''s materialized views (the *_mv dashboard copies) refreshed concurrently, as of midnight at the start of as_of (or of the setting health_score.as_of when it is set); after snapshot(as_of) in the same transaction they read its metric rows instead of scoring again. refresh()''s last step.';

CREATE FUNCTION health_score.refresh(full_rescore boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    written integer;
BEGIN
    PERFORM health_score.check_feeds();  -- a feed that fails to read is skipped, not fatal
    PERFORM health_score.warn_default_segments('refresh');
    written := health_score.snapshot(current_date, full_rescore);
    PERFORM health_score.refresh_dashboards(current_date);
    RETURN written;
END
$$;

COMMENT ON FUNCTION health_score.refresh(boolean) IS
'The daily job: checks the feeds (check_feeds()), takes today''s snapshot (snapshot(current_date, full_rescore): incremental unless full_rescore) and refreshes the extension''s materialized views (the *_mv dashboard copies) concurrently, so readers are never blocked (refresh_dashboards): as of that snapshot, midnight at the start of today (or as of the setting health_score.as_of when it is set), from the snapshot''s metric rows rather than scoring the book again. Run it as their owner (the role that created the extension). Returns the number of accounts snapshotted.';

-- check_cron(cron): refuses what is not a pg_cron schedule. pg_cron itself stores a schedule
-- with trailing garbage ('0 3 * * * x', '@daily x'), so the syntax is checked here, whole.
CREATE FUNCTION health_score.check_cron(cron text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fields text[] := regexp_split_to_array(btrim(cron), '\s+');
    field_names constant text[] := '{minute,hour,day of month,month,day of week}';
    low constant int[] := '{0,0,1,1,0}';
    high constant int[] := '{59,23,31,12,7}';
    months constant text[] := '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}';
    days constant text[] := '{sun,mon,tue,wed,thu,fri,sat}';
    problem text;
    f int;
    item text;
    m text[];
    v int[];
BEGIN
    IF cron IS NULL OR btrim(cron) = '' THEN
        RAISE EXCEPTION 'cron must be a schedule such as ''0 3 * * *'''
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (cardinality(fields) = 1
        AND lower(fields[1]) IN ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '@reboot'))
       OR array_to_string(fields, ' ') ~* '^([1-9]|[1-5][0-9]) seconds?$' THEN
        RETURN;
    END IF;
    IF cardinality(fields) <> 5 THEN
        problem := format('a schedule has five fields, this one %s', cardinality(fields));
    END IF;
    FOR f IN 1..5 LOOP
        EXIT WHEN problem IS NOT NULL;
        FOREACH item IN ARRAY string_to_array(fields[f], ',') LOOP
            CONTINUE WHEN f = 3 AND item = '$';   -- the last day of the month (pg_cron 1.5 and later)
            -- *, a value or a range of values, each optionally with a /step
            m := regexp_match(lower(item), '^(?:\*|([0-9]{1,2}|[a-z]{3})(?:-([0-9]{1,2}|[a-z]{3}))?)(?:/([0-9]{1,2}))?$');
            -- values as numbers; names only for months and days of the week
            v := ARRAY(SELECT CASE WHEN x ~ '^[0-9]+$' THEN x::int
                                   WHEN f = 4 THEN array_position(months, x)
                                   WHEN f = 5 THEN array_position(days, x) - 1 END
                         FROM unnest(m[1:2]) x WHERE x IS NOT NULL);
            IF m IS NULL OR array_position(v, NULL) IS NOT NULL THEN
                problem := format('the %s field has the item "%s"', field_names[f], item);
            ELSIF EXISTS (SELECT 1 FROM unnest(v) x WHERE x < low[f] OR x > high[f]) THEN
                problem := format('the %s field must lie between %s and %s, got "%s"', field_names[f], low[f], high[f], item);
            ELSIF v[2] < v[1] OR m[3]::int = 0 THEN
                problem := format('the %s field has the empty range "%s"', field_names[f], item);
            END IF;
            EXIT WHEN problem IS NOT NULL;
        END LOOP;
    END LOOP;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'cron must be a valid cron schedule, got ''%''', cron
            USING ERRCODE = 'invalid_parameter_value', DETAIL = problem || '.',
                  HINT = 'Five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec), day of week (0-7 or sun-sat), each *, a value, a range or a list, with an optional /step; or @hourly, @daily, @weekly, @monthly, @yearly.';
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.check_cron(text) IS
'Raises an error (22023) unless cron is a whole pg_cron schedule: five fields (minute, hour, day of month, month, day of week; *, values, names of months and days, ranges, lists, /steps), a macro such as @daily, or ''N seconds'' (1-59, pg_cron 1.5 and later). Used by schedule_refresh.';

-- schedule_refresh(cron): run refresh() on a pg_cron schedule.
CREATE FUNCTION health_score.schedule_refresh(cron text DEFAULT '0 3 * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    package text := format('postgresql-%s-cron', current_setting('server_version_num')::int / 10000);
    job bigint;
BEGIN
    PERFORM health_score.check_cron(cron);
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron') THEN
        RAISE EXCEPTION 'schedule_refresh needs pg_cron, which is not installed on this server (package %)', package
            USING ERRCODE = 'feature_not_supported',
                  HINT = format('Install the package %s (apt-get install %s), add pg_cron to shared_preload_libraries, restart, then CREATE EXTENSION pg_cron.', package, package);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'schedule_refresh needs the pg_cron extension (package %) in this database', package
            USING ERRCODE = 'feature_not_supported',
                  HINT = format('pg_cron comes from the package %s: add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron.', package);
    END IF;
    BEGIN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)'
           INTO job
          USING 'health_score_refresh', cron, 'SELECT health_score.refresh()';
    EXCEPTION WHEN invalid_parameter_value OR syntax_error OR data_exception THEN
        RAISE EXCEPTION 'cron must be a valid cron schedule, got ''%''', cron
            USING ERRCODE = 'invalid_parameter_value', DETAIL = SQLERRM;
    END;
    RETURN job;
END
$$;

COMMENT ON FUNCTION health_score.schedule_refresh(text) IS
'Schedules health_score.refresh() with pg_cron (package postgresql-NN-cron) as the job health_score_refresh, daily at 03:00 by default; scheduling again replaces the schedule. Returns the pg_cron job id. Refuses a schedule that is not a whole cron schedule (check_cron, 22023); errors, naming the package, when pg_cron is missing.';

-- unschedule_refresh(): remove the pg_cron job of schedule_refresh().
CREATE FUNCTION health_score.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_job boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND username = current_user)'
       INTO found_job USING 'health_score_refresh';
    IF NOT found_job THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' INTO found_job USING 'health_score_refresh';
    RETURN found_job;
END
$$;

COMMENT ON FUNCTION health_score.unschedule_refresh() IS
'Removes the pg_cron job health_score_refresh; returns true when a job was removed, false when there was none (or pg_cron is not there).';
