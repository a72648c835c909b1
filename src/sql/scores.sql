-- health_score install script, part 3: the inputs (accounts, observations, feeds) and the
-- scoring of every account at a point in time: metric_scores() and account_scores().

-- Inputs ---------------------------------------------------------------------------------------

CREATE TABLE health_score.accounts (
    account_id  text PRIMARY KEY,
    name        text,
    segment     text,
    plan        text,
    owner       name,
    mrr         numeric CHECK (mrr >= 0),
    started_on  date,
    churned_on  date,
    CHECK (churned_on >= started_on)
);

COMMENT ON TABLE health_score.accounts IS
'The accounts to score. An account is scored at as_of when it had started by then (or started_on is NULL) and had not churned yet.';
COMMENT ON COLUMN health_score.accounts.account_id IS 'Your key for the account, as text; join scores back to your tables on it.';
COMMENT ON COLUMN health_score.accounts.name IS 'Display name.';
COMMENT ON COLUMN health_score.accounts.segment IS 'Segment, e.g. enterprise, mid_market, smb; picks the segment weights, if any.';
COMMENT ON COLUMN health_score.accounts.plan IS 'Subscription plan.';
COMMENT ON COLUMN health_score.accounts.owner IS 'The database role of the account''s customer-success manager (row-level security can restrict each CSM to their own accounts).';
COMMENT ON COLUMN health_score.accounts.mrr IS 'Monthly recurring revenue, not negative; NULL when unknown.';
COMMENT ON COLUMN health_score.accounts.started_on IS 'First day of the subscription.';
COMMENT ON COLUMN health_score.accounts.churned_on IS 'Day the account cancelled; NULL while it is a customer.';

CREATE TABLE health_score.observations (
    account_id  text NOT NULL,
    metric      text NOT NULL,
    observed_at timestamptz NOT NULL,
    value       float8
);

CREATE INDEX ON health_score.observations (account_id, metric, observed_at);

COMMENT ON TABLE health_score.observations IS
'Raw observations of the metrics: one row per account, metric input and time. Views over your own tables can be added as feeds instead of copying rows here.';
COMMENT ON COLUMN health_score.observations.account_id IS 'The account observed (accounts.account_id).';
COMMENT ON COLUMN health_score.observations.metric IS 'The metric input observed (metrics.input, usually the metric''s name).';
COMMENT ON COLUMN health_score.observations.observed_at IS 'When the value was observed; scoring at as_of ignores later observations.';
COMMENT ON COLUMN health_score.observations.value IS 'The observed value, in the metric''s unit; NULL (unknown) rows are skipped.';

CREATE TABLE health_score.feeds (
    name        text PRIMARY KEY,
    relation    text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    description text
);

COMMENT ON TABLE health_score.feeds IS
'Your own tables or views read as observations, without copying rows: each must have the columns account_id, metric, observed_at and value (cast to text, text, timestamptz, float8).';
COMMENT ON COLUMN health_score.feeds.name IS 'Name of the feed.';
COMMENT ON COLUMN health_score.feeds.relation IS 'The table or view, schema-qualified, e.g. analytics.health_logins.';
COMMENT ON COLUMN health_score.feeds.enabled IS 'False leaves the feed out of scoring.';
COMMENT ON COLUMN health_score.feeds.description IS 'Where the data comes from.';

-- feed_relation(feed, relation, rel): the checks of a feed's relation (rel, resolved from the
-- name relation as the user wrote it), and its schema-qualified name to store.
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
CREATE FUNCTION health_score.check_feed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.relation := health_score.feed_relation(NEW.name, NEW.relation, pg_catalog.to_regclass(NEW.relation));
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.check_feed() IS
'Trigger: refuses a feed whose relation does not exist or lacks the observation columns.';

CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON health_score.feeds
    FOR EACH ROW EXECUTE FUNCTION health_score.check_feed();
CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON health_score.feeds
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.bump_config_version();

SELECT pg_catalog.pg_extension_config_dump('health_score.accounts', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.observations', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.feeds', '');

-- Scoring ------------------------------------------------------------------------------------------

-- The moment the views score at: now(), or the setting health_score.as_of when set
-- (SET health_score.as_of = '2025-06-30' shows every view as of that moment).
CREATE FUNCTION health_score.current_as_of() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('health_score.as_of', true), '')::timestamptz, now())
$$;

COMMENT ON FUNCTION health_score.current_as_of() IS
'The moment the views score at: the setting health_score.as_of when set, else now().';


CREATE FUNCTION health_score.observations_sql() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'SELECT account_id, metric, observed_at, value FROM health_score.observations'
           || coalesce(string_agg(format(' UNION ALL SELECT account_id::text, metric::text, observed_at::timestamptz, value::float8 FROM %s',
                                         f.relation), '' ORDER BY f.name), '')
      FROM health_score.feeds f
     WHERE f.enabled
$$;

COMMENT ON FUNCTION health_score.observations_sql() IS
'The query that reads every observation: the observations table and the enabled feeds.';

-- The scoring query, per account and metric, at as_of ($1). One pass over the observations,
-- grouped by account, turns them into every metric's raw value with the C aggregate
-- metric_values (the only heavy step, kept apart in a materialized CTE so that it is planned
-- alone and can run in parallel). The rest works on one row per account: the C function
-- effective_weights gives each metric with data its weight (the dimension's share among the
-- account's dimensions that have data x the metric's share among its dimension's metrics that
-- have data), and the metrics are unnested with it, so no step sorts the metric rows.
-- coverage_share is the same product over all the configured weights, data or not.
CREATE FUNCTION health_score.metric_scores_sql() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
WITH catalog AS MATERIALIZED (
    -- the enabled metrics in a fixed order: slot i of metric_values is the i-th
    SELECT m.name, m.dimension, m.weight, m.input, m.half_life, m.max_age, m.aggregation, m.curve, m.breakpoints,
           m.scores, row_number() OVER (ORDER BY m.name) AS slot
      FROM health_score.metrics m
     WHERE m.enabled
), by_account AS MATERIALIZED (
    SELECT o.account_id,
           health_score.metric_values(o.value, o.observed_at, $1, o.metric,
               (SELECT array_agg(c.input ORDER BY c.slot) FROM catalog c),
               (SELECT array_agg(c.half_life ORDER BY c.slot) FROM catalog c),
               (SELECT array_agg(c.max_age ORDER BY c.slot) FROM catalog c),
               (SELECT array_agg(c.aggregation ORDER BY c.slot) FROM catalog c)) AS raw_values
      FROM (%s) o
     WHERE o.observed_at <= $1
     GROUP BY o.account_id
), live AS MATERIALIZED (
    SELECT a.account_id, coalesce(a.segment, '') AS segment
      FROM health_score.accounts a
     WHERE (a.started_on IS NULL OR a.started_on <= $1)
       AND (a.churned_on IS NULL OR a.churned_on > $1)
), dimension_weights AS (
    -- every dimension's weight for each segment in use, numbered for effective_weights
    SELECT s.segment, d.name AS dimension, coalesce(sd.weight, d.weight) AS weight,
           row_number() OVER (PARTITION BY s.segment ORDER BY d.name) AS dimension_no
      FROM (SELECT DISTINCT segment FROM live) s
     CROSS JOIN health_score.dimensions d
      LEFT JOIN health_score.segment_dimension_weights sd ON sd.segment = s.segment AND sd.dimension = d.name
), metric_weights AS (
    SELECT dw.segment, c.slot, dw.dimension_no, dw.weight AS dimension_weight,
           coalesce(sm.weight, c.weight) AS metric_weight
      FROM catalog c
      JOIN dimension_weights dw ON dw.dimension = c.dimension
      LEFT JOIN health_score.segment_metric_weights sm ON sm.segment = dw.segment AND sm.metric = c.name
), per_dimension AS (
    SELECT w.*, sum(w.metric_weight) OVER (PARTITION BY w.segment, w.dimension_no) AS dimension_metric_weight,
           count(*) OVER (PARTITION BY w.segment, w.dimension_no) AS dimension_metrics
      FROM metric_weights w
), coverage_shares AS (
    -- the share of the configured weight each metric stands for, data or not
    SELECT p.*, p.metric_weight / p.dimension_metric_weight * p.dimension_weight
                / sum(p.dimension_weight / p.dimension_metrics) OVER (PARTITION BY p.segment) AS coverage_share
      FROM per_dimension p
), segments AS MATERIALIZED (
    -- per segment, the slot-ordered arrays effective_weights reads
    SELECT w.segment,
           array_agg(w.dimension_no::integer ORDER BY w.slot) AS dimension_nos,
           array_agg(w.metric_weight ORDER BY w.slot) AS metric_weights,
           array_agg(w.coverage_share ORDER BY w.slot) AS coverage_shares,
           (SELECT array_agg(dw.weight ORDER BY dw.dimension_no) FROM dimension_weights dw
             WHERE dw.segment = w.segment) AS dimension_weights
      FROM coverage_shares w
     GROUP BY w.segment
), weighted AS (
    SELECT b.account_id, v.slot, v.raw_value, v.effective_weight, v.coverage_share
      FROM by_account b
      JOIN live l ON l.account_id = b.account_id
      JOIN segments s ON s.segment = l.segment
     CROSS JOIN LATERAL unnest(b.raw_values,
                               health_score.effective_weights(b.raw_values, s.dimension_nos, s.metric_weights,
                                                              s.dimension_weights),
                               s.coverage_shares) WITH ORDINALITY AS v(raw_value, effective_weight, coverage_share, slot)
     WHERE v.raw_value IS NOT NULL
), scored AS (
    SELECT w.account_id, c.name AS metric, c.dimension, w.raw_value,
           CASE c.curve WHEN 'banded' THEN health_score.scale_banded(w.raw_value, c.breakpoints, c.scores)
                        ELSE health_score.scale(w.raw_value, c.breakpoints, c.scores) END AS sub_score,
           w.effective_weight, w.coverage_share
      FROM weighted w
      JOIN catalog c ON c.slot = w.slot
     OFFSET 0  -- keeps each sub_score computed once
)
SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight,
       effective_weight * sub_score AS contribution, coverage_share
  FROM scored
$q$, health_score.observations_sql())
$$;

COMMENT ON FUNCTION health_score.metric_scores_sql() IS
'The text of the scoring query per account and metric (parameter $1: as_of), shared by metric_scores and account_scores.';

CREATE FUNCTION health_score.check_as_of(as_of timestamptz) RETURNS void
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

COMMENT ON FUNCTION health_score.check_as_of(timestamptz) IS
'Refuses a NULL or infinite as_of, naming it.';

CREATE FUNCTION health_score.metric_scores(as_of timestamptz DEFAULT now())
RETURNS TABLE (account_id text, metric text, dimension text, raw_value float8, sub_score float8,
               effective_weight float8, contribution float8, coverage_share float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- JIT compiling costs seconds and saves nothing here: the work is in the C aggregates. The
-- grouped pass wants a hash aggregate (one row per account and metric); the default 4 MB
-- would push the planner to sort millions of rows instead.
SET jit = off
SET work_mem = '64MB'
AS $$
BEGIN
    PERFORM health_score.check_as_of(as_of);
    RETURN QUERY EXECUTE format(
        'SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution, coverage_share FROM (%s) s',
        health_score.metric_scores_sql())
        USING as_of;
END
$$;

COMMENT ON FUNCTION health_score.metric_scores(timestamptz) IS
'Per account and metric at as_of: the raw value from the observations, its 0-100 sub-score, its effective weight in the account score (weights renormalised over the metrics with data) and its contribution (effective_weight x sub_score; the contributions sum to the score) and its coverage_share (its share of the configured weight; an account''s shares sum to its coverage). Metrics with no observations are left out.';

-- The account-level query (parameter $1: as_of) over a relation of metric rows shaped like
-- metric_scores' result: a subquery, or a table where the metric rows were already kept (as
-- snapshot does, to score once for both levels).
CREATE FUNCTION health_score.account_scores_sql(metric_rows text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
WITH metric_scores AS MATERIALIZED (
    SELECT * FROM %s ms
), by_dimension AS (
    SELECT ms.account_id, ms.dimension, sum(ms.contribution) AS contribution,
           sum(ms.contribution) / sum(ms.effective_weight) AS score, sum(ms.coverage_share) AS coverage
      FROM metric_scores ms
     GROUP BY 1, 2
), by_account AS (
    SELECT d.account_id, sum(d.contribution) AS score, sum(d.coverage) AS coverage,
           max(d.score) FILTER (WHERE d.dimension = 'product') AS product_score,
           max(d.score) FILTER (WHERE d.dimension = 'relationship') AS relationship_score,
           max(d.score) FILTER (WHERE d.dimension = 'business') AS business_score,
           jsonb_object_agg(d.dimension, round(d.score::numeric, 2)) AS dimension_scores
      FROM by_dimension d
     GROUP BY 1
), lost AS (
    -- points each metric costs the score: effective_weight x (100 - sub_score)
    SELECT ms.account_id, ms.metric, ms.sub_score,
           row_number() OVER (PARTITION BY ms.account_id COLLATE "C"
                              ORDER BY ms.effective_weight * (100 - ms.sub_score) DESC, ms.metric) AS rank
      FROM metric_scores ms
     WHERE ms.sub_score < 100
), weakest AS (
    SELECT w.account_id, string_agg(w.metric || ' ' || round(w.sub_score::numeric), ', ' ORDER BY w.rank) AS metrics
      FROM lost w
     WHERE w.rank <= 3
     GROUP BY 1
), scored AS (
    -- Coverage is rounded to four decimals, as shown, before the min_coverage test: a sum of
    -- shares that is 0.5 exactly must not fall either side of 0.5 with the order of addition.
    SELECT l.account_id, b.score AS raw_score,
           round(least(coalesce(b.coverage, 0), 1)::numeric, 4)::float8 AS coverage,
           (SELECT st.min_coverage FROM health_score.settings st) AS min_coverage,
           b.product_score, b.relationship_score, b.business_score, b.dimension_scores, w.metrics AS weakest_metrics
      FROM health_score.accounts l
      LEFT JOIN by_account b ON b.account_id = l.account_id
      LEFT JOIN weakest w ON w.account_id = l.account_id
     WHERE (l.started_on IS NULL OR l.started_on <= $1)
       AND (l.churned_on IS NULL OR l.churned_on > $1)
), final AS (
    -- Scores are rounded to two decimals: the float noise of summing in a different order
    -- (parallel plans, a restored table) never shows, and the auc aggregate is exact on them.
    SELECT s.*, CASE WHEN s.raw_score IS NOT NULL AND s.coverage >= s.min_coverage
                     THEN round(least(greatest(s.raw_score, 0), 100)::numeric, 2)::float8 END AS score
      FROM scored s
)
-- Band and tier as scalar lookups, not joins: the catalog tables may lack statistics (after a
-- restore, say), and a join estimate of hundreds of bands per account once made a caller's
-- hash join plan for billions of rows.
SELECT f.account_id, f.score,
       (SELECT b.band FROM health_score.bands b
         WHERE f.score >= b.min_score AND (f.score < b.max_score OR (f.score = 100 AND b.max_score = 100))) AS band,
       (SELECT t.tier FROM health_score.alert_tiers t
         WHERE f.score >= t.min_score AND (f.score < t.max_score OR (f.score = 100 AND t.max_score = 100))) AS alert_tier,
       f.coverage,
       round(f.product_score::numeric, 2)::float8 AS product_score,
       round(f.relationship_score::numeric, 2)::float8 AS relationship_score,
       round(f.business_score::numeric, 2)::float8 AS business_score,
       CASE WHEN f.raw_score IS NULL THEN 'no observations'
            WHEN f.score IS NULL THEN format('coverage %%s below min_coverage %%s', f.coverage, f.min_coverage)
       END AS reason,
       f.dimension_scores, f.weakest_metrics
  FROM final f
$q$, metric_rows)
$$;

COMMENT ON FUNCTION health_score.account_scores_sql(text) IS
'The text of the account-level scoring query (parameter $1: as_of) over metric_rows, a relation or parenthesised query with the columns of metric_scores.';

CREATE FUNCTION health_score.account_scores(as_of timestamptz DEFAULT now())
RETURNS TABLE (account_id text, score float8, band text, alert_tier text, coverage float8,
               product_score float8, relationship_score float8, business_score float8,
               reason text, dimension_scores jsonb, weakest_metrics text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- JIT compiling costs seconds and saves nothing here: the work is in the C aggregates. The
-- grouped pass wants a hash aggregate (one row per account and metric); the default 4 MB
-- would push the planner to sort millions of rows instead.
SET jit = off
SET work_mem = '64MB'
AS $$
BEGIN
    PERFORM health_score.check_as_of(as_of);
    RETURN QUERY EXECUTE health_score.account_scores_sql('(' || health_score.metric_scores_sql() || ')')
        USING as_of;
END
$$;

COMMENT ON FUNCTION health_score.account_scores(timestamptz) IS
'Per account live at as_of: the health score 0-100, to two decimals (NULL, with a reason, when the coverage is below settings.min_coverage), its band and alert tier, the coverage (share 0-1 of the configured weight that had data), the product, relationship and business scores, every dimension''s score as jsonb, and the three metrics that cost the score most points (name and sub-score).';
