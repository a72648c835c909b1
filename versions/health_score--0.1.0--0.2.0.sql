-- health_score upgrade script from 0.1.0 to 0.2.0.
-- Every change to the SQL surface made in src/sql/ for 0.2.0 is repeated here, so that
-- ALTER EXTENSION health_score UPDATE gives exactly what CREATE EXTENSION gives (the upgrade
-- test in test/tap/upgrade.sh compares the two).

\echo Use "ALTER EXTENSION health_score UPDATE TO '0.2.0'" to load this file. \quit

-- Each part below repeats the changes of one area, in the order of src/sql/; keep them apart
-- so that changes to different areas never touch the same lines.

-- Kernels (src/sql/kernels.sql) ------------------------------------------------------------------

-- metric_values: the state starts with a fingerprint of the metric arrays.
COMMENT ON FUNCTION health_score.metric_values_accum(float8[], float8, timestamptz, timestamptz, text, text[], interval[], interval[], text[]) IS
'Transition function of metric_values; state {as_of, as_of set, fingerprint of the metric arrays}, then nine values per metric: the decay state, the latest time and value, the aggregation.';

-- Rolling forward: the state of metric_values kept from one scoring to the next ----------------

CREATE AGGREGATE health_score.metric_values_state(value float8, observed_at timestamptz, as_of timestamptz,
                                                  input text, inputs text[], half_lives interval[],
                                                  max_ages interval[], aggregations text[]) (
    SFUNC = health_score.metric_values_accum,
    STYPE = float8[],
    COMBINEFUNC = health_score.metric_values_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.metric_values_state(float8, timestamptz, timestamptz, text, text[], interval[], interval[], text[]) IS
'metric_values without its final function: the state itself, to keep and roll forward with metric_values_roll (metric_values_final turns it into the raw values).';

CREATE AGGREGATE health_score.metric_values_merge(state float8[]) (
    SFUNC = health_score.metric_values_combine,
    STYPE = float8[],
    FINALFUNC = health_score.metric_values_final,
    COMBINEFUNC = health_score.metric_values_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.metric_values_merge(float8[]) IS
'The raw values (as metric_values) from several metric_values_state states of the same metric arrays, e.g. an account''s state over its observations and over a feed''s rows, each grouped apart: the states combined, then metric_values_final.';

CREATE FUNCTION health_score.metric_values_roll(state float8[], as_of timestamptz, fresh float8[],
                                                windowed float8[], max_ages interval[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'metric_values_roll'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_values_roll(float8[], timestamptz, float8[], float8[], interval[]) IS
'The metric_values state as of as_of from its parts, each a metric_values_state of the same metric arrays (NULL or empty: no rows): state, of an earlier or the same as_of; fresh, of the rows observed since, as of as_of; windowed, as of as_of, of the rows within max_age, which alone give the decayed metrics with a max_age (an aged-out row cannot be taken out of a decayed sum). A latest or days_since metric whose latest row is older than its max_age has no value. Equals metric_values_state over all the rows up to as_of, up to the rounding of the sums.';

-- Catalog (src/sql/catalog.sql) ------------------------------------------------------------------

-- removed_defaults: a tombstone names exactly one seeded row by its whole key (the key {} once
-- deleted every seeded row of its catalog), and deletes that row only.
CREATE FUNCTION health_score.catalog_keys(catalog text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE catalog
           WHEN 'dimensions' THEN '{name}'::text[]
           WHEN 'metrics' THEN '{name}'
           WHEN 'segment_dimension_weights' THEN '{segment,dimension}'
           WHEN 'segment_metric_weights' THEN '{segment,metric}'
           WHEN 'bands' THEN '{band}'
           WHEN 'alert_tiers' THEN '{tier}'
           WHEN 'settings' THEN '{id}'
           END
$$;

COMMENT ON FUNCTION health_score.catalog_keys(text) IS
'The key columns of a catalog table with seeded rows (dimensions, metrics, segment_dimension_weights, segment_metric_weights, bands, alert_tiers, settings); NULL for any other name.';

CREATE FUNCTION health_score.check_removed_default(catalog text, key jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keys text[] := health_score.catalog_keys(catalog);
BEGIN
    IF keys IS NULL THEN
        RAISE EXCEPTION 'removed_defaults: catalog must be a catalog table with seeded rows, got %',
            coalesce(quote_literal(catalog), 'NULL')
            USING ERRCODE = 'check_violation',
                  HINT = 'dimensions, metrics, segment_dimension_weights, segment_metric_weights, bands, alert_tiers or settings';
    END IF;
    IF key IS NULL OR jsonb_typeof(key) <> 'object' THEN
        RAISE EXCEPTION 'removed_defaults: the key of a % row must be an object giving %, got %',
            catalog, array_to_string(keys, ' and '), coalesce(key::text, 'NULL')
            USING ERRCODE = 'check_violation';
    END IF;
    IF ARRAY(SELECT k FROM jsonb_object_keys(key) k ORDER BY k) <> ARRAY(SELECT k FROM unnest(keys) k ORDER BY k)
       OR EXISTS (SELECT 1 FROM jsonb_each(key) e WHERE jsonb_typeof(e.value) NOT IN ('string', 'number', 'boolean')) THEN
        RAISE EXCEPTION 'removed_defaults: the key of a % row must give exactly %, each a value, got %',
            catalog, array_to_string(keys, ' and '), key
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN true;
END
$$;

COMMENT ON FUNCTION health_score.check_removed_default(text, jsonb) IS
'The check of removed_defaults: catalog names a catalog table with seeded rows and key gives exactly its key columns (catalog_keys), each a value, so a tombstone deletes one row; raises an error (23514) otherwise.';

-- A tombstone that names no single row was written by hand, not by a deletion: it goes, with a
-- warning, as it would fail the check.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT catalog, key FROM health_score.removed_defaults LOOP
        BEGIN
            PERFORM health_score.check_removed_default(r.catalog, r.key);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'removing the tombstone % %, which names no single row: %', r.catalog, r.key, SQLERRM;
            DELETE FROM health_score.removed_defaults d WHERE d.catalog = r.catalog AND d.key = r.key;
        END;
    END LOOP;
END
$$;

ALTER TABLE health_score.removed_defaults
    ADD CONSTRAINT names_one_row CHECK (health_score.check_removed_default(catalog, key));

CREATE OR REPLACE FUNCTION health_score.catalog_apply_removal() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Only a still-seeded row goes: a row the user re-created under that key stays. Each key
    -- column must be equal (not merely contained), so at most one row matches.
    EXECUTE format('DELETE FROM health_score.%I t WHERE t.is_default AND %s', NEW.catalog,
                   (SELECT string_agg(format('to_jsonb(t) -> %1$L = $1 -> %1$L', k), ' AND ')
                      FROM unnest(health_score.catalog_keys(NEW.catalog)) k))
        USING NEW.key;
    RETURN NEW;
END
$$;

-- Bad data (one NaN stopped the book): settings.bad_data chooses between isolating bad rows
-- of feeds (the default) and a hard stop.
ALTER TABLE health_score.settings ADD COLUMN bad_data text NOT NULL DEFAULT 'isolate';
-- Rewrite the one-row table so the default is stored in the row, as in a fresh install (not as
-- the column's "missing value", which pg_upgrade would carry as a difference).
ALTER TABLE health_score.settings ALTER COLUMN bad_data TYPE text USING bad_data || '';
COMMENT ON COLUMN health_score.settings.bad_data IS 'isolate (default): a NaN or infinite row in a feed makes only its account''s score NULL, with a reason, and a feed that cannot be read is skipped with a WARNING; error: either stops scoring with an error naming the feed.';
CREATE OR REPLACE FUNCTION health_score.check_settings() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (NEW.min_coverage >= 0 AND NEW.min_coverage <= 1) THEN
        RAISE EXCEPTION 'settings: min_coverage must be within 0 and 1, got %', NEW.min_coverage
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.bad_data IS DISTINCT FROM 'isolate' AND NEW.bad_data IS DISTINCT FROM 'error' THEN
        RAISE EXCEPTION 'settings: bad_data must be isolate or error, got %', coalesce(NEW.bad_data, 'NULL')
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT isfinite(NEW.data_through) THEN
        RAISE EXCEPTION 'settings: data_through must be a finite date or NULL, got %', NEW.data_through
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.churn_model = '' THEN
        RAISE EXCEPTION 'settings: churn_model must name a churn model or be NULL, got an empty name'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT NEW.churn_grace_days >= 0 THEN
        RAISE EXCEPTION 'settings: churn_grace_days must be 0 or more, got %', NEW.churn_grace_days
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.check_settings() IS 'Trigger: refuses a min_coverage outside 0-1, a bad_data other than isolate or error, an infinite data_through, an empty churn_model and a negative churn_grace_days.';

-- Churn models without leaks: data_through, the last day the data are complete for (account
-- models learn only from churn up to it), and churn_model, the account model the dashboards use.
-- Neither changes how accounts are scored, so neither moves the configuration version.
ALTER TABLE health_score.settings ADD COLUMN data_through date, ADD COLUMN churn_model text;
COMMENT ON COLUMN health_score.settings.data_through IS 'The last day the data are complete for (observations and churn dates): an account churn model is trained only on churn up to the end of that day. NULL (the default): the day of the latest observation. See data_through().';
COMMENT ON COLUMN health_score.settings.churn_model IS 'The account churn model the views, revenue_at_risk and history use (its active version). Training an account model while it is NULL writes that model''s name here, so training another name later does not switch the dashboards; NULL with models trained (an install upgraded from 0.1.0): the newest. See account_churn_model().';
DROP TRIGGER bump_config_version ON health_score.settings;
CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OF id, min_coverage, bad_data OR DELETE OR TRUNCATE
    ON health_score.settings FOR EACH STATEMENT EXECUTE FUNCTION health_score.bump_config_version();

-- Subscription periods: the days between two periods within which a late renewal is no churn.
-- They change the churn labels, not the scores: the configuration version stays.
ALTER TABLE health_score.settings ADD COLUMN churn_grace_days integer NOT NULL DEFAULT 30;
-- Stored in the row, as in a fresh install (see bad_data above).
ALTER TABLE health_score.settings ALTER COLUMN churn_grace_days TYPE integer USING churn_grace_days + 0;
COMMENT ON COLUMN health_score.settings.churn_grace_days IS 'Days an account may go without a subscription period and still renew: a period that starts at most this many days after the previous one ended continues the stay, a later one is a reactivation after a churn (churn_events). 0 or more; default 30. Not read in scoring: an account is not live between two periods.';

-- Curves fitted to the book ---------------------------------------------------------------------
-- The seeded curves suit a generic product. propose_curves reads where a metric's raw values
-- actually lie among the live accounts and proposes breakpoints at percentiles of them, so that
-- the median account scores 50 and the book spreads over 0-100; apply_curves writes them. Both
-- are PL/pgSQL, so that they may call metric_scores, which the install script creates after
-- the catalog.

CREATE TYPE health_score.curve_proposal AS (
    metric                  text,
    direction               text,
    curve                   text,
    accounts                bigint,
    distinct_values         bigint,
    current_breakpoints     float8[],
    current_scores          float8[],
    proposed_breakpoints    float8[],
    proposed_scores         float8[],
    note                    text
);

COMMENT ON TYPE health_score.curve_proposal IS
'A row of propose_curves: a metric''s current curve beside the one fitted to the percentiles of its raw values.';
COMMENT ON COLUMN health_score.curve_proposal.metric IS 'The metric.';
COMMENT ON COLUMN health_score.curve_proposal.direction IS 'Its direction: higher, lower (the scores are reversed) or target (not fitted).';
COMMENT ON COLUMN health_score.curve_proposal.curve IS 'Its curve, linear or banded; the proposal keeps it.';
COMMENT ON COLUMN health_score.curve_proposal.accounts IS 'Live accounts with a raw value of the metric at as_of: the sample the percentiles come from.';
COMMENT ON COLUMN health_score.curve_proposal.distinct_values IS 'Distinct raw values among them.';
COMMENT ON COLUMN health_score.curve_proposal.current_breakpoints IS 'The breakpoints in the catalog now.';
COMMENT ON COLUMN health_score.curve_proposal.current_scores IS 'The scores in the catalog now.';
COMMENT ON COLUMN health_score.curve_proposal.proposed_breakpoints IS 'The distinct percentile values of the raw values, increasing; NULL when the metric is skipped (note says why).';
COMMENT ON COLUMN health_score.curve_proposal.proposed_scores IS 'The score at each proposed breakpoint: the score of its percentile, or the mean of the scores of the percentiles that share the value; NULL when skipped.';
COMMENT ON COLUMN health_score.curve_proposal.note IS 'Why the metric is skipped, or that percentiles shared a value; NULL otherwise.';

-- check_metric_names(metrics): refuses a list of metrics that is not one-dimensional, is empty,
-- or holds a NULL, a name not in health_score.metrics or a name twice. Used by the functions that
-- read one value per metric listed (propose_curves, account_training).
CREATE FUNCTION health_score.check_metric_names(metrics text[])
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chosen text[] := metrics;
    unknown text;
BEGIN
    -- Before array_position, which refuses arrays of more than one dimension with 0A000.
    IF array_ndims(chosen) > 1 THEN
        RAISE EXCEPTION 'metrics must be a one-dimensional array, got % dimensions', array_ndims(chosen)
            USING ERRCODE = 'array_subscript_error';
    END IF;
    IF cardinality(chosen) = 0 OR array_position(chosen, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'metrics must name at least one metric, without NULLs' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT u INTO unknown FROM unnest(chosen) u
     WHERE NOT EXISTS (SELECT 1 FROM health_score.metrics m WHERE m.name = u) LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'metric "%" is not in health_score.metrics', unknown USING ERRCODE = 'undefined_object';
    END IF;
    SELECT u INTO unknown FROM unnest(chosen) u GROUP BY u HAVING count(*) > 1 LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'metric "%" is listed twice', unknown USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.check_metric_names(text[]) IS
'Raises an error naming metrics unless it is a one-dimensional, non-empty list of distinct names of health_score.metrics without NULLs (2202E for more dimensions, 42704 for an unknown name, 22023 otherwise).';

CREATE FUNCTION health_score.propose_curves(as_of timestamptz DEFAULT now(), metrics text[] DEFAULT NULL,
                                            percentiles float8[] DEFAULT '{0.05,0.25,0.5,0.75,0.95}',
                                            scores float8[] DEFAULT '{0,25,50,75,100}',
                                            min_accounts integer DEFAULT 20)
RETURNS SETOF health_score.curve_proposal
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chosen text[] := metrics;
    x float8;
    prev float8;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    IF chosen IS NULL THEN
        SELECT array_agg(m.name ORDER BY m.name) INTO chosen FROM health_score.metrics m WHERE m.enabled;
        IF chosen IS NULL THEN
            RETURN;
        END IF;
    END IF;
    PERFORM health_score.check_metric_names(chosen);

    IF percentiles IS NULL THEN
        RAISE EXCEPTION 'percentiles must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF array_ndims(percentiles) > 1 THEN
        RAISE EXCEPTION 'percentiles must be a one-dimensional array' USING ERRCODE = 'array_subscript_error';
    END IF;
    IF cardinality(percentiles) < 2 OR cardinality(percentiles) > 1000 THEN
        RAISE EXCEPTION 'percentiles must have 2 to 1000 elements, got %', cardinality(percentiles)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH x IN ARRAY percentiles LOOP
        IF x IS NULL THEN
            RAISE EXCEPTION 'percentiles must not contain NULL elements' USING ERRCODE = 'null_value_not_allowed';
        ELSIF NOT (x >= 0 AND x <= 1) THEN
            RAISE EXCEPTION 'percentiles must lie within 0 and 1, got %', x USING ERRCODE = 'invalid_parameter_value';
        ELSIF x <= prev THEN
            RAISE EXCEPTION 'percentiles must be strictly increasing, but % follows %', x, prev
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        prev := x;
    END LOOP;
    IF scores IS NULL THEN
        RAISE EXCEPTION 'scores must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF array_ndims(scores) > 1 THEN
        RAISE EXCEPTION 'scores must be a one-dimensional array' USING ERRCODE = 'array_subscript_error';
    END IF;
    IF cardinality(scores) <> cardinality(percentiles) THEN
        RAISE EXCEPTION 'scores must have as many elements as percentiles (%), got %',
            cardinality(percentiles), cardinality(scores) USING ERRCODE = 'array_subscript_error';
    END IF;
    prev := NULL;
    FOREACH x IN ARRAY scores LOOP
        IF x IS NULL THEN
            RAISE EXCEPTION 'scores must not contain NULL elements' USING ERRCODE = 'null_value_not_allowed';
        ELSIF NOT (x >= 0 AND x <= 100) THEN
            RAISE EXCEPTION 'scores must lie within 0 and 100, got %', x USING ERRCODE = 'invalid_parameter_value';
        ELSIF x < prev THEN
            RAISE EXCEPTION 'scores must never fall (a lower-is-better metric takes them reversed), but % follows %', x, prev
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        prev := x;
    END LOOP;
    IF min_accounts IS NULL OR min_accounts < 1 THEN
        RAISE EXCEPTION 'min_accounts must be 1 or more, got %', coalesce(min_accounts::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY
    WITH wanted AS (
        SELECT u.name, u.i FROM unnest(chosen) WITH ORDINALITY AS u(name, i)
    ), book AS (
        -- metric_scores scores the accounts live at as_of; a value spoilt by a bad row is NULL
        SELECT ms.metric, count(*) AS n, count(DISTINCT ms.raw_value) AS nd,
               percentile_cont(percentiles) WITHIN GROUP (ORDER BY ms.raw_value) AS q
          FROM health_score.metric_scores(as_of) ms
         WHERE ms.raw_value IS NOT NULL AND ms.metric = ANY (chosen)
         GROUP BY ms.metric
    ), targets AS (
        -- percentile k takes score k, or score n + 1 - k where lower is better
        SELECT u.s, u.k, cardinality(scores) + 1 - u.k AS reversed_k
          FROM unnest(scores) WITH ORDINALITY AS u(s, k)
    ), levels AS (
        -- the running maximum guards against interpolation noise ever making a percentile
        -- fall below the one before it
        SELECT b.metric, max(l.q) OVER (PARTITION BY b.metric ORDER BY l.k) AS q, t.s
          FROM book b
          JOIN health_score.metrics m ON m.name = b.metric
         CROSS JOIN LATERAL unnest(b.q) WITH ORDINALITY AS l(q, k)
          JOIN targets t ON l.k = CASE WHEN m.direction = 'lower' THEN t.reversed_k ELSE t.k END
    ), points AS (
        -- percentiles that share a value (ties) become one breakpoint, with the mean of their
        -- scores, kept within their range so that rounding never breaks the direction
        SELECT lv.metric, lv.q, greatest(least(avg(lv.s), max(lv.s)), min(lv.s)) AS s
          FROM levels lv
         GROUP BY lv.metric, lv.q
    ), fitted AS (
        SELECT p.metric, array_agg(p.q ORDER BY p.q) AS breakpoints, array_agg(p.s ORDER BY p.q) AS scores,
               count(*) AS np
          FROM points p
         GROUP BY p.metric
    ), judged AS (
        SELECT w.i, m.name, m.direction, m.curve, coalesce(b.n, 0) AS n, coalesce(b.nd, 0) AS nd,
               m.breakpoints, m.scores, f.breakpoints AS fitted_breakpoints, f.scores AS fitted_scores,
               CASE WHEN NOT m.enabled THEN 'not enabled: it is not scored, so it has no raw values'
                    WHEN m.direction = 'target' THEN 'direction target: a curve that peaks in the middle is not fitted from percentiles'
                    WHEN coalesce(b.n, 0) < min_accounts THEN
                         format('%s accounts with a value at as_of, fewer than min_accounts (%s)', coalesce(b.n, 0), min_accounts)
                    WHEN f.np < 2 THEN
                         format('every percentile falls on the value %s (accounts: %s, distinct values: %s): no curve to fit',
                                f.breakpoints[1], b.n, b.nd)
               END AS skipped,
               CASE WHEN f.np < cardinality(percentiles) THEN
                    format('ties: %s percentiles fall on %s distinct values; a shared value takes the mean of their scores',
                           cardinality(percentiles), f.np)
               END AS ties
          FROM wanted w
          JOIN health_score.metrics m ON m.name = w.name
          LEFT JOIN book b ON b.metric = w.name
          LEFT JOIN fitted f ON f.metric = w.name
    )
    SELECT j.name, j.direction, j.curve, j.n, j.nd, j.breakpoints, j.scores,
           CASE WHEN j.skipped IS NULL THEN j.fitted_breakpoints END,
           CASE WHEN j.skipped IS NULL THEN j.fitted_scores END,
           coalesce(j.skipped, j.ties)
      FROM judged j
     ORDER BY j.i;
END
$$;

COMMENT ON FUNCTION health_score.propose_curves(timestamptz, text[], float8[], float8[], integer) IS
'Curves fitted to the book, without changing anything: per metric (default: every enabled one), its current curve beside one whose breakpoints are the percentiles (default 5th, 25th, 50th, 75th, 95th) of its raw values among the accounts live at as_of (metric_scores), scored 0, 25, 50, 75, 100 (scores; reversed for a lower-is-better metric). Percentiles that share a value become one breakpoint with the mean of their scores. Skipped, with a note and NULL proposals: disabled metrics, target metrics, metrics with a value for fewer than min_accounts accounts, and metrics whose percentiles all fall on one value. apply_curves writes the proposals.';

CREATE FUNCTION health_score.apply_curves(as_of timestamptz DEFAULT now(), metrics text[] DEFAULT NULL,
                                          percentiles float8[] DEFAULT '{0.05,0.25,0.5,0.75,0.95}',
                                          scores float8[] DEFAULT '{0,25,50,75,100}',
                                          min_accounts integer DEFAULT 20)
RETURNS TABLE (metric text, applied boolean, old_breakpoints float8[], old_scores float8[],
               new_breakpoints float8[], new_scores float8[], accounts bigint, note text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proposals health_score.curve_proposal[];
BEGIN
    -- Lock the catalog's metric rows first (refused without the right to update them), so that
    -- the curve read as the old one is the one replaced.
    PERFORM 1 FROM health_score.metrics m FOR UPDATE;
    proposals := ARRAY(SELECT p FROM health_score.propose_curves(as_of, metrics, percentiles, scores, min_accounts) p);
    -- One UPDATE for every metric, and none when nothing changes: the configuration version
    -- moves on once, or not at all.
    IF EXISTS (SELECT 1 FROM unnest(proposals) p
                WHERE p.proposed_breakpoints IS NOT NULL
                  AND (p.proposed_breakpoints IS DISTINCT FROM p.current_breakpoints
                       OR p.proposed_scores IS DISTINCT FROM p.current_scores)) THEN
        UPDATE health_score.metrics m
           SET breakpoints = p.proposed_breakpoints, scores = p.proposed_scores
          FROM unnest(proposals) p
         WHERE m.name = p.metric AND p.proposed_breakpoints IS NOT NULL
           AND (p.proposed_breakpoints IS DISTINCT FROM p.current_breakpoints
                OR p.proposed_scores IS DISTINCT FROM p.current_scores);
    END IF;
    RETURN QUERY
    SELECT p.metric, c.changed, p.current_breakpoints, p.current_scores,
           CASE WHEN c.changed THEN p.proposed_breakpoints ELSE p.current_breakpoints END,
           CASE WHEN c.changed THEN p.proposed_scores ELSE p.current_scores END,
           p.accounts,
           CASE WHEN p.proposed_breakpoints IS NULL THEN p.note
                WHEN NOT c.changed THEN 'unchanged: the fitted curve is the current one'
                ELSE p.note END
      FROM unnest(proposals) WITH ORDINALITY AS p
     CROSS JOIN LATERAL (SELECT p.proposed_breakpoints IS NOT NULL
                                AND (p.proposed_breakpoints IS DISTINCT FROM p.current_breakpoints
                                     OR p.proposed_scores IS DISTINCT FROM p.current_scores) AS changed) c
     ORDER BY p.ordinality;
END
$$;

COMMENT ON FUNCTION health_score.apply_curves(timestamptz, text[], float8[], float8[], integer) IS
'Writes the curves propose_curves fits (same arguments) into health_score.metrics, in one statement: the configuration version moves on once (not at all when nothing changes). Returns per metric whether its curve changed, the old and new curve, the accounts it was fitted on and, for a skipped metric, why. Needs the right to update health_score.metrics.';

-- No event is a zero, not a gap: metrics.absent_means says what an account without observations
-- of a metric has. Every row, seeded or the user's, gets the default of its aggregation, as a
-- fresh install seeds them and as the validation trigger fills a NULL. The catalog's own
-- triggers stay out of it: seeded rows stay seeded, and the configuration version stays that of
-- a fresh install holding the same changes.
ALTER TABLE health_score.metrics ADD COLUMN absent_means text;
ALTER TABLE health_score.metrics DISABLE TRIGGER user_row, DISABLE TRIGGER validate,
                                 DISABLE TRIGGER bump_config_version;
UPDATE health_score.metrics
   SET absent_means = CASE WHEN aggregation IN ('decayed_sum', 'decayed_rate', 'days_since') THEN 'zero' ELSE 'unknown' END;
ALTER TABLE health_score.metrics ENABLE TRIGGER user_row, ENABLE TRIGGER validate,
                                 ENABLE TRIGGER bump_config_version;
ALTER TABLE health_score.metrics ALTER COLUMN absent_means SET NOT NULL;
COMMENT ON COLUMN health_score.metrics.absent_means IS 'What an account live at as_of with no observation of the input (within max_age) has: unknown (no data: left out, weights renormalised) or zero (a raw value of 0; for days_since, the days since the account''s first period started, account_periods.account_started_on, at most max_age). NULL takes the default of the aggregation: zero for decayed_sum, decayed_rate and days_since, unknown for decayed_avg and latest.';
COMMENT ON COLUMN health_score.metrics.aggregation IS 'How observations become one raw value: decayed_avg, decayed_sum, decayed_rate (decayed events per day over the decayed time since the account started), latest, or days_since (days since the latest observation).';

CREATE OR REPLACE FUNCTION health_score.check_metric() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM health_score.dimensions d WHERE d.name = NEW.dimension) THEN
        RAISE EXCEPTION 'metric "%": unknown dimension "%"', NEW.name, NEW.dimension
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Dimensions are listed in health_score.dimensions.';
    END IF;
    IF NOT (NEW.weight > 0 AND NEW.weight < 'Infinity') THEN
        RAISE EXCEPTION 'metric "%": weight must be a positive finite number, got %', NEW.name, NEW.weight
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.aggregation NOT IN ('decayed_avg', 'decayed_sum', 'decayed_rate', 'latest', 'days_since') THEN
        RAISE EXCEPTION 'metric "%": unknown aggregation "%"', NEW.name, NEW.aggregation
            USING ERRCODE = 'check_violation',
                  HINT = 'Use decayed_avg, decayed_sum, decayed_rate, latest or days_since.';
    END IF;
    IF NOT (NEW.half_life > interval '0' AND isfinite(NEW.half_life)) THEN
        RAISE EXCEPTION 'metric "%": half_life must be positive and finite, got %', NEW.name, NEW.half_life
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.max_age IS NOT NULL AND NOT (NEW.max_age > interval '0') THEN
        RAISE EXCEPTION 'metric "%": max_age must be positive or NULL, got %', NEW.name, NEW.max_age
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.curve NOT IN ('linear', 'banded') THEN
        RAISE EXCEPTION 'metric "%": curve must be linear or banded, got "%"', NEW.name, NEW.curve
            USING ERRCODE = 'check_violation';
    END IF;
    -- No event of a count, a rate or a recency is a fact (none happened), not a gap; an average
    -- or a level of nothing is unknown.
    IF NEW.absent_means IS NULL THEN
        NEW.absent_means := CASE WHEN NEW.aggregation IN ('decayed_sum', 'decayed_rate', 'days_since')
                                 THEN 'zero' ELSE 'unknown' END;
    ELSIF NEW.absent_means NOT IN ('unknown', 'zero') THEN
        RAISE EXCEPTION 'metric "%": absent_means must be unknown or zero, got "%"', NEW.name, NEW.absent_means
            USING ERRCODE = 'check_violation',
                  HINT = 'NULL takes the default of the aggregation: zero for decayed_sum, decayed_rate and days_since, unknown otherwise.';
    END IF;
    IF NEW.direction NOT IN ('higher', 'lower', 'target') THEN
        RAISE EXCEPTION 'metric "%": direction must be higher, lower or target, got "%"', NEW.name, NEW.direction
            USING ERRCODE = 'check_violation';
    END IF;
    -- The kernel knows what a valid curve is; ask it, and say which metric failed.
    BEGIN
        PERFORM health_score.scale(0, NEW.breakpoints, NEW.scores);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'metric "%": invalid curve: %', NEW.name, SQLERRM USING ERRCODE = SQLSTATE;
    END;
    FOR i IN 2 .. cardinality(NEW.scores) LOOP
        IF (NEW.direction = 'higher' AND NEW.scores[i] < NEW.scores[i - 1])
           OR (NEW.direction = 'lower' AND NEW.scores[i] > NEW.scores[i - 1]) THEN
            RAISE EXCEPTION 'metric "%": scores must never % along a % curve', NEW.name,
                  CASE NEW.direction WHEN 'higher' THEN 'fall' ELSE 'rise' END,
                  CASE NEW.direction WHEN 'higher' THEN 'higher-is-better' ELSE 'lower-is-better' END
                USING ERRCODE = 'check_violation',
                      HINT = 'Use direction = ''target'' for a curve that peaks in the middle.';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.check_metric() IS
'Trigger: refuses a metric with an unknown dimension, a non-positive weight or half-life, an unknown aggregation, an absent_means other than unknown or zero, or an invalid curve; a NULL absent_means takes the default of the aggregation.';


-- Segments are matched exactly (see check_segments in the scores part).
COMMENT ON COLUMN health_score.segment_dimension_weights.segment IS 'Segment, exactly as in accounts.segment (case-sensitive; see check_segments()).';
COMMENT ON COLUMN health_score.segment_metric_weights.segment IS 'Segment, exactly as in accounts.segment (case-sensitive; see check_segments()).';

-- Scores and feeds (src/sql/scores.sql) ----------------------------------------------------------

-- Subscription periods: accounts that leave and come back, MRR that changes.
COMMENT ON TABLE health_score.accounts IS
'The accounts to score. An account is scored at as_of when it had started by then (or started_on is NULL) and had not churned yet; or, for an account with rows in subscriptions, when one of its periods covers as_of.';
COMMENT ON COLUMN health_score.accounts.mrr IS 'Monthly recurring revenue, not negative; NULL when unknown. Not read for an account with rows in subscriptions, whose MRR is that of the period covering the date.';
COMMENT ON COLUMN health_score.accounts.started_on IS 'First day of the subscription. Not read for an account with rows in subscriptions.';
COMMENT ON COLUMN health_score.accounts.churned_on IS 'Day the account cancelled (it is not live that day); NULL while it is a customer. Not read for an account with rows in subscriptions.';

-- Subscription periods, for accounts that leave and come back or whose MRR changes. An account
-- without rows here has one period, its accounts row (started_on to churned_on, at mrr).
CREATE TABLE health_score.subscriptions (
    account_id  text NOT NULL REFERENCES health_score.accounts (account_id) ON UPDATE CASCADE ON DELETE CASCADE,
    started_on  date NOT NULL,
    ended_on    date,
    mrr         numeric CHECK (mrr >= 0),
    plan        text,
    seats       integer CHECK (seats >= 0),
    PRIMARY KEY (account_id, started_on),
    -- date arithmetic (gaps between periods, the grace) refuses infinite dates
    CONSTRAINT subscriptions_finite CHECK (isfinite(started_on) AND isfinite(ended_on)),
    CONSTRAINT subscriptions_ends_after_start CHECK (ended_on > started_on)
);

COMMENT ON TABLE health_score.subscriptions IS
'Subscription periods: several per account, never overlapping (an overlap is refused, naming both periods). An account with rows here is live at as_of when one of its periods covers as_of, at that period''s MRR; its started_on, churned_on and mrr in accounts are not read. An account without rows here has one period, from accounts.started_on to accounts.churned_on at accounts.mrr. See account_periods and churn_events.';
COMMENT ON COLUMN health_score.subscriptions.account_id IS 'The account (accounts.account_id); its periods go with it when it is deleted.';
COMMENT ON COLUMN health_score.subscriptions.started_on IS 'First day of the period.';
COMMENT ON COLUMN health_score.subscriptions.ended_on IS 'Day the period ended, after started_on: the account is not live that day unless another period starts on it (a renewal). NULL while the period runs.';
COMMENT ON COLUMN health_score.subscriptions.mrr IS 'Monthly recurring revenue during the period, not negative; NULL when unknown.';
COMMENT ON COLUMN health_score.subscriptions.plan IS 'Plan during the period; NULL: accounts.plan.';
COMMENT ON COLUMN health_score.subscriptions.seats IS 'Seats bought during the period, not negative; NULL when unknown.';

-- The periods of one account never overlap. An exclusion constraint would need btree_gist for
-- the text key; this trigger runs at the end of each statement (or at commit when deferred),
-- so a statement that moves several periods at once is judged on the result. The lock per
-- account makes a second writer of the same account wait for the first to commit and then
-- see its rows (READ COMMITTED: each query of the trigger takes a new snapshot).
CREATE FUNCTION health_score.check_subscription() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('health_score.subscriptions ' || NEW.account_id, 0));
    -- a row changed again or deleted later in the transaction is judged in its final form
    IF NOT EXISTS (SELECT FROM health_score.subscriptions s
                    WHERE s.account_id = NEW.account_id AND s.started_on = NEW.started_on
                      AND s.ended_on IS NOT DISTINCT FROM NEW.ended_on) THEN
        RETURN NULL;
    END IF;
    SELECT s.started_on, s.ended_on INTO other
      FROM health_score.subscriptions s
     WHERE s.account_id = NEW.account_id AND s.started_on <> NEW.started_on
       AND daterange(s.started_on, s.ended_on) && daterange(NEW.started_on, NEW.ended_on)
     ORDER BY s.started_on
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'subscriptions: the period of account "%" from % to % overlaps its period from % to %',
            NEW.account_id, NEW.started_on, coalesce(NEW.ended_on::text, 'open'),
            other.started_on, coalesce(other.ended_on::text, 'open')
            USING ERRCODE = 'exclusion_violation',
                  HINT = 'End the earlier period on or before the day the later one starts (ended_on is the first day not covered).';
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.check_subscription() IS
'Constraint trigger: refuses a subscription period that overlaps another period of the same account (23P01), naming both.';

CREATE CONSTRAINT TRIGGER no_overlap AFTER INSERT OR UPDATE OF account_id, started_on, ended_on
    ON health_score.subscriptions DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION health_score.check_subscription();

-- Every account's periods: its subscriptions rows, or else its accounts row. Everything that
-- asks whether an account is live, what it pays or when it churned reads them here: the
-- scoring queries through this text (planned inside them, MRR as stored), readers through the
-- view account_periods made from it (MRR in cents, as every view shows money).
CREATE FUNCTION health_score.account_periods_sql() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT $q$
SELECT s.account_id, s.started_on, s.ended_on, s.mrr, s.plan, s.seats,
       (SELECT min(f.started_on) FROM health_score.subscriptions f WHERE f.account_id = s.account_id) AS account_started_on,
       'subscriptions'::text AS source
  FROM health_score.subscriptions s
UNION ALL
SELECT a.account_id, a.started_on, a.churned_on, a.mrr, a.plan, NULL::integer, a.started_on, 'accounts'::text
  FROM health_score.accounts a
 WHERE NOT EXISTS (SELECT FROM health_score.subscriptions s WHERE s.account_id = a.account_id)
$q$
$$;

COMMENT ON FUNCTION health_score.account_periods_sql() IS
'The text of the query of every account''s periods (account_periods, with MRR as stored), read by live_accounts_sql.';

DO $$
BEGIN
    EXECUTE format($v$CREATE VIEW health_score.account_periods AS
SELECT p.account_id, p.started_on, p.ended_on, p.mrr::numeric(18,2) AS mrr, p.plan, p.seats,
       p.account_started_on, p.source
  FROM (%s) p$v$, health_score.account_periods_sql());
END
$$;

COMMENT ON VIEW health_score.account_periods IS
'Every account''s subscription periods: its rows in subscriptions, or, for an account without any, its accounts row as its only period. An account is live at as_of when one of its periods covers as_of (started_on <= as_of, or unknown, and ended_on > as_of, or open); see live_accounts and churn_events.';
COMMENT ON COLUMN health_score.account_periods.account_id IS 'The account.';
COMMENT ON COLUMN health_score.account_periods.started_on IS 'First day of the period; NULL: unknown (an accounts row without started_on), live from the beginning.';
COMMENT ON COLUMN health_score.account_periods.ended_on IS 'First day after the period (subscriptions.ended_on, or accounts.churned_on); NULL while it runs.';
COMMENT ON COLUMN health_score.account_periods.mrr IS 'Monthly recurring revenue during the period, to the cent; NULL when unknown.';
COMMENT ON COLUMN health_score.account_periods.plan IS 'Plan during the period; NULL when subscriptions names none (live_accounts then takes accounts.plan).';
COMMENT ON COLUMN health_score.account_periods.seats IS 'Seats during the period (subscriptions only).';
COMMENT ON COLUMN health_score.account_periods.account_started_on IS 'First day of the account''s first period: what scoring counts an account''s age from.';
COMMENT ON COLUMN health_score.account_periods.source IS 'subscriptions or accounts: where the period comes from.';

-- Churn: the end of a stay. Periods separated by a gap of at most settings.churn_grace_days
-- (a late renewal) are one stay; the end of the last period of a stay is a churn, and the
-- next period, if any, a reactivation. Windows by account only, so a query for one account
-- reads that account's periods.
CREATE VIEW health_score.churn_events AS
SELECT g.account_id, g.customer_since, g.ended_on AS churned_on, g.mrr::numeric(18,2) AS mrr, g.next_started_on AS returned_on
  FROM (SELECT p.*, max(CASE WHEN p.stay_starts THEN p.started_on END)
                        OVER (PARTITION BY p.account_id ORDER BY p.started_on) AS customer_since
          FROM (SELECT p.account_id, p.started_on, p.ended_on, p.mrr, p.grace,
                       lead(p.started_on) OVER w AS next_started_on,
                       coalesce(p.started_on - lag(p.ended_on) OVER w > p.grace, true) AS stay_starts
                  FROM (SELECT p.*, (SELECT st.churn_grace_days FROM health_score.settings st) AS grace
                          FROM health_score.account_periods p) p
                WINDOW w AS (PARTITION BY p.account_id ORDER BY p.started_on)) p) g
 WHERE g.ended_on IS NOT NULL
   AND (g.next_started_on IS NULL OR g.next_started_on - g.ended_on > g.grace);

COMMENT ON VIEW health_score.churn_events IS
'Every churn: the end of an account''s period not followed by another period within settings.churn_grace_days (default 30; a later start within the grace is a late renewal, and the periods one stay). An account that came back has one row per stay it ended. Backtests and account churn models read their labels here.';
COMMENT ON COLUMN health_score.churn_events.account_id IS 'The account.';
COMMENT ON COLUMN health_score.churn_events.customer_since IS 'First day of the stay that ended (its first period''s started_on); NULL when unknown.';
COMMENT ON COLUMN health_score.churn_events.churned_on IS 'Day the stay ended (its last period''s ended_on): the account is not live that day.';
COMMENT ON COLUMN health_score.churn_events.mrr IS 'MRR of the stay''s last period: the revenue lost.';
COMMENT ON COLUMN health_score.churn_events.returned_on IS 'First day of the account''s next period, after more than the grace (a reactivation); NULL when it has not come back.';

SELECT pg_catalog.pg_extension_config_dump('health_score.subscriptions', '');

-- The accounts live at as_of ($1), each with its period covering as_of: the one place that
-- decides who is scored, and at what MRR. A text, as the scoring queries are, so that it
-- is planned inside them.
CREATE FUNCTION health_score.live_accounts_sql() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
SELECT a.account_id, a.name, a.segment, coalesce(p.plan, a.plan) AS plan, a.owner, p.mrr, p.seats,
       p.started_on, p.ended_on, p.account_started_on
  FROM (%s) p
  JOIN health_score.accounts a ON a.account_id = p.account_id
 WHERE (p.started_on IS NULL OR p.started_on <= $1)
   AND (p.ended_on IS NULL OR p.ended_on > $1)
$q$, health_score.account_periods_sql())
$$;

COMMENT ON FUNCTION health_score.live_accounts_sql() IS
'The text of the query (parameter $1: as_of) of live_accounts: every account a period covers at as_of (account_periods_sql), with that period''s MRR, plan and seats.';

CREATE FUNCTION health_score.live_accounts(as_of timestamptz DEFAULT now())
RETURNS TABLE (account_id text, name text, segment text, plan text, owner name, mrr numeric, seats integer,
               started_on date, ended_on date, account_started_on date)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM health_score.check_as_of(as_of);
    RETURN QUERY EXECUTE health_score.live_accounts_sql() USING as_of;
END
$$;

COMMENT ON FUNCTION health_score.live_accounts(timestamptz) IS
'The accounts live at as_of (a period of account_periods covers it: started_on <= as_of, or unknown, and ended_on > as_of, or open), the ones scoring scores, with the period''s MRR, plan (or accounts.plan) and seats, its first and end day, and the first day of the account''s first period.';

-- search_path: feeds resolve the relation name in check_feed and check everything else in
-- feed_relation (below, with the feed checks), with a pinned search_path; check_as_of pins it too.
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

-- Bad data: observations refuse NaN, infinite values and infinite times. A 0.1.0 book may hold
-- such rows: the upgrade stops and names them rather than dropping anyone's data.
DO $$
DECLARE
    bad bigint;
BEGIN
    SELECT count(*) INTO bad FROM health_score.observations o
     WHERE NOT isfinite(o.observed_at) OR NOT (o.value > '-Infinity' AND o.value < 'Infinity');
    IF bad > 0 THEN
        RAISE EXCEPTION 'health_score.observations holds % row(s) with a NaN or infinite value or an infinite observed_at, which 0.2.0 refuses', bad
            USING ERRCODE = 'check_violation',
                  HINT = 'Correct or delete them (DELETE FROM health_score.observations WHERE NOT isfinite(observed_at) OR NOT (value > ''-Infinity'' AND value < ''Infinity'')), then run ALTER EXTENSION health_score UPDATE again.';
    END IF;
END
$$;
ALTER TABLE health_score.observations
    ADD CONSTRAINT observations_observed_at_finite CHECK (isfinite(observed_at)),
    ADD CONSTRAINT observations_value_finite CHECK (value > '-Infinity' AND value < 'Infinity');
COMMENT ON COLUMN health_score.observations.observed_at IS 'When the value was observed, finite; scoring at as_of ignores later observations.';
COMMENT ON COLUMN health_score.observations.value IS 'The observed value, in the metric''s unit, finite (NaN and infinities are refused); NULL (unknown) rows are skipped.';

-- Rows arrive in time order (each day's load after the last), so a block range holds a short
-- span of time and a BRIN index on observed_at lets a read of one day touch that day's blocks
-- only: about 40 kB for 2.9 million rows, where a btree takes 40 MB. 32 pages a range keeps a
-- day of a 10,000-account book within about one and a half days' blocks (bench/observations.sh);
-- autosummarize has autovacuum summarize each range once filled, without waiting for a VACUUM.
CREATE INDEX observations_observed_at_idx ON health_score.observations
    USING brin (observed_at) WITH (pages_per_range = 32, autosummarize = on);

COMMENT ON INDEX health_score.observations_observed_at_idx IS
'BRIN on observed_at: a read of a time range (one day) touches only the blocks of that range when rows are stored in time order, as daily loads store them.';

-- Feeds: type checks at the door, a status that check_feeds() writes, bad rows isolated.
ALTER TABLE health_score.feeds ADD COLUMN status text, ADD COLUMN status_detail text, ADD COLUMN checked_at timestamptz;
COMMENT ON TABLE health_score.feeds IS
'Your own tables or views read as observations, without copying rows: each must have the columns account_id and metric (text types), observed_at (date, timestamp or timestamptz) and value (a number type).';
COMMENT ON COLUMN health_score.feeds.status IS 'As of the last check_feeds(): ok, bad_rows (readable, some rows NaN or infinite), broken (not read) or disabled; NULL until checked.';
COMMENT ON COLUMN health_score.feeds.status_detail IS 'What check_feeds() found: rows read and bad rows, or why the feed cannot be read.';
COMMENT ON COLUMN health_score.feeds.checked_at IS 'When check_feeds() last checked the feed.';
CREATE FUNCTION health_score.feed_problem(rel regclass, OUT code text, OUT problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col record;
BEGIN
    IF rel IS NULL OR NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = rel) THEN
        code := 'undefined_table';
        problem := 'the relation does not exist';
        RETURN;
    END IF;
    SELECT string_agg(c, ', ') INTO problem
      FROM unnest(ARRAY['account_id', 'metric', 'observed_at', 'value']) AS c
     WHERE NOT EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = rel AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF problem IS NOT NULL THEN
        code := 'undefined_column';
        problem := format('relation %s lacks the column(s) %s', rel, problem);
        RETURN;
    END IF;
    FOR col IN
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
               CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END AS base
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname IN ('account_id', 'metric', 'observed_at', 'value')
         ORDER BY a.attnum
    LOOP
        problem := CASE
            WHEN col.name IN ('account_id', 'metric')
                 AND (SELECT t.typcategory FROM pg_type t WHERE t.oid = col.base) <> 'S' THEN 'a text type'
            WHEN col.name = 'observed_at'
                 AND col.base NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
                THEN 'date, timestamp or timestamptz'
            WHEN col.name = 'value'
                 AND col.base NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype,
                                      'numeric'::regtype, 'real'::regtype, 'double precision'::regtype)
                THEN 'a number type (smallint, integer, bigint, numeric, real or double precision)' END;
        IF problem IS NOT NULL THEN
            code := 'datatype_mismatch';
            problem := format('column %s of %s is %s; it must be %s', col.name, rel, col.type, problem);
            RETURN;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.feed_problem(regclass) IS
'Why a feed''s relation cannot be read as observations (missing, a column missing or of the wrong type), with an SQLSTATE name; both NULL when it can.';

CREATE FUNCTION health_score.feed_relation(feed text, relation text, rel regclass) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    check_result record;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'feed "%": relation "%" does not exist', feed, relation
            USING ERRCODE = 'undefined_table';
    END IF;
    check_result := health_score.feed_problem(rel);
    IF check_result.problem IS NOT NULL THEN
        RAISE EXCEPTION 'feed "%": %', feed, check_result.problem
            USING ERRCODE = check_result.code;
    END IF;
    -- Stored schema-qualified, so scoring finds it whatever the search_path.
    RETURN (SELECT format('%I.%I', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = rel);
END
$$;

COMMENT ON FUNCTION health_score.feed_relation(text, text, regclass) IS
'Checks a feed''s relation (rel, resolved from the name relation) with feed_problem, naming the feed in the error; returns its schema-qualified name. Called by the feeds trigger.';

DROP TRIGGER validate ON health_score.feeds;
DROP TRIGGER bump_config_version ON health_score.feeds;
CREATE TRIGGER validate BEFORE INSERT OR UPDATE OF name, relation, enabled ON health_score.feeds
    FOR EACH ROW EXECUTE FUNCTION health_score.check_feed();
CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OF name, relation, enabled OR DELETE OR TRUNCATE ON health_score.feeds
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.bump_config_version();

-- feed_relid(relation): the relation of a feed (its stored, schema-qualified name), or NULL.
-- A catalog lookup: to_regclass would need USAGE on the feed's schema, which a CSM lacks.
CREATE FUNCTION health_score.feed_relid(relation text) RETURNS regclass
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
           LATERAL parse_ident(relation) AS name
     WHERE cardinality(name) = 2 AND n.nspname = name[1] AND c.relname = name[2]
$$;

COMMENT ON FUNCTION health_score.feed_relid(text) IS
'The relation a feed''s stored name (feeds.relation) designates, or NULL when there is none; needs no right on its schema.';

-- feed_rows(feed, as_of, account_id): the one reader of a feed (src/feed.c). It reads the
-- relation with its owner's rights, as a materialized view is refreshed, so scoring never runs
-- the code of a view's owner with the rights of whoever scores; and it returns only the rows
-- of the accounts the caller may see.
CREATE FUNCTION health_score.feed_rows(feed text, as_of timestamptz, account_id text DEFAULT NULL)
RETURNS TABLE (account_id text, metric text, observed_at timestamptz, value float8)
AS 'MODULE_PATHNAME', 'feed_rows'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED ROWS 100000;

COMMENT ON FUNCTION health_score.feed_rows(text, timestamptz, text) IS
'The rows of one feed up to as_of (of one account when account_id is given), cast to the observation types: read with the rights of the relation''s owner, in a restricted operation with search_path pg_catalog, and narrowed to the accounts the caller may see when row-level security restricts it. 42704 for an unknown feed.';

CREATE FUNCTION health_score.refuse_observation(feed text, account_id text, metric text,
                                                observed_at timestamptz, value float8) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'feed "%": account %, metric %: %', feed, account_id, metric,
        CASE WHEN isfinite(observed_at) THEN format('value %s at %s', value, observed_at)
             ELSE format('observed_at %s', observed_at) END
        USING ERRCODE = 'data_exception',
              HINT = 'Fix the row in the feed, or set health_score.settings.bad_data to isolate to score the other accounts.';
END
$$;

COMMENT ON FUNCTION health_score.refuse_observation(text, text, text, timestamptz, float8) IS
'Raises the error for a NaN or infinite row of a feed, naming the feed, account and metric (settings.bad_data = error).';

-- feeds_sql(): the rows of the feeds, the part of observations_sql that is not the table. The
-- incremental scoring reads the table's new rows only but every feed whole (feeds have no
-- record of when a row arrived), so it asks for the feeds alone.
CREATE FUNCTION health_score.feeds_sql() RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    found record;
    hard_stop boolean := (SELECT s.bad_data = 'error' FROM health_score.settings s);
    q text;
BEGIN
    FOR f IN SELECT fd.name, fd.relation, fd.status, fd.status_detail, fd.checked_at
               FROM health_score.feeds fd WHERE fd.enabled ORDER BY fd.name LOOP
        found := health_score.feed_problem(health_score.feed_relid(f.relation));
        IF found.problem IS NULL AND f.status = 'broken' THEN
            -- an error while reading, found by check_feeds(): skipped until checked again
            found.code := 'data_exception';
            found.problem := format('check_feeds() at %s: %s; run it again once the feed is fixed', f.checked_at, f.status_detail);
        END IF;
        IF found.problem IS NOT NULL THEN
            IF hard_stop THEN
                RAISE EXCEPTION 'feed "%" (%): %', f.name, f.relation, found.problem USING ERRCODE = found.code;
            END IF;
            RAISE WARNING 'feed "%" (%) skipped: %', f.name, f.relation, found.problem;
            CONTINUE;
        END IF;
        -- bad: a NaN or infinite row; with bad_data = error, refuse_observation raises instead.
        q := concat_ws(' UNION ALL ', q, format(
            'SELECT o.account_id, o.metric, o.observed_at, o.value, %s AS bad FROM (%s) o',
            format(CASE WHEN hard_stop THEN '(%s AND health_score.refuse_observation(%L, o.account_id, o.metric, o.observed_at, o.value))'
                        ELSE '%s' END,
                   $b$NOT (isfinite(o.observed_at) AND coalesce(o.value > '-Infinity' AND o.value < 'Infinity', true))$b$,
                   f.name),
            format('SELECT * FROM health_score.feed_rows(%L, $1)', f.name)));
    END LOOP;
    RETURN q;
END
$$;

COMMENT ON FUNCTION health_score.feeds_sql() IS
'The query that reads every enabled feed that can be read (as observations_sql, without the observations table), or NULL when there is none.';

CREATE OR REPLACE FUNCTION health_score.observations_sql() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT concat_ws(' UNION ALL ', 'SELECT account_id, metric, observed_at, value, false AS bad FROM health_score.observations',
                     health_score.feeds_sql())
$$;

COMMENT ON FUNCTION health_score.observations_sql() IS
'The query that reads every observation: the observations table and the enabled feeds that can be read (a feed that cannot, or that check_feeds() found broken, is skipped with a WARNING, or is an error with settings.bad_data = error), with a column bad marking a feed''s NaN or infinite rows.';

CREATE FUNCTION health_score.bad_observations(account_id text, as_of timestamptz)
RETURNS TABLE (metric text, problem text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    f record;
BEGIN
    -- the feeds observations_sql reads: enabled, readable, not found broken by check_feeds()
    FOR f IN SELECT fd.name, fd.relation FROM health_score.feeds fd
              WHERE fd.enabled AND fd.status IS DISTINCT FROM 'broken' ORDER BY fd.name LOOP
        CONTINUE WHEN (health_score.feed_problem(health_score.feed_relid(f.relation))).problem IS NOT NULL;
        RETURN QUERY
            SELECT o.metric, format('feed "%s": %s has %s', f.name, o.metric,
                                    CASE WHEN isfinite(o.observed_at) THEN 'value ' || o.value ELSE 'observed_at ' || o.observed_at END)
              FROM health_score.feed_rows(f.name, as_of, bad_observations.account_id) o
             WHERE NOT (isfinite(o.observed_at) AND coalesce(o.value > '-Infinity' AND o.value < 'Infinity', true));
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.bad_observations(text, timestamptz) IS
'The NaN or infinite rows of one account in the feeds up to as_of: the metric input each spoils and the problem, naming the feed.';

-- The metric level of one account in C (src/metric_level.c): its raw values in the catalog's
-- slot order become its metric rows, with absent values, decayed rates, effective weights and
-- curves applied as the SQL it replaced did (the same results to the bit), in one call instead
-- of an array built per account and a curve called per metric.
CREATE FUNCTION health_score.metric_level(raw_values float8[], age_days float8, spoilt boolean[],
                                          metrics text[], dimensions text[], aggregations text[],
                                          absent_means text[], half_life_days float8[], max_age_days float8[],
                                          curves text[], breakpoints float8[], breakpoint_counts integer[],
                                          scores float8[], score_counts integer[], groups integer[],
                                          weights float8[], group_weights float8[], coverage_shares float8[])
RETURNS TABLE (metric text, dimension text, raw_value float8, sub_score float8, effective_weight float8,
               contribution float8, coverage_share float8)
AS 'MODULE_PATHNAME', 'metric_level'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION health_score.metric_level(float8[], float8, boolean[], text[], text[], text[], text[], float8[], float8[], text[], float8[], integer[], float8[], integer[], integer[], float8[], float8[], float8[]) IS
'One account''s metric rows, in slot order, for the metrics with data: raw_values (metric_values'' result; NULL or a NULL element: not observed), age_days (days since the account started; NULL: unknown) and spoilt (true for a slot spoilt by a bad row; NULL: none) read with the catalog in slot order (metrics, dimensions, aggregations, absent_means, half_life_days, max_age_days, curves, and the curves end to end: breakpoints and scores, breakpoint_counts and score_counts per metric) and the account''s segment (groups: each metric''s dimension number, weights, group_weights: the dimensions'' weights, coverage_shares). Used by metric_rows_sql.';

CREATE FUNCTION health_score.metric_rows_sql(raw_values text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
WITH catalog AS MATERIALIZED (
    -- the enabled metrics in a fixed order: slot i of metric_values is the i-th
    SELECT m.name, m.dimension, m.weight, m.input, m.half_life, m.max_age, m.aggregation, m.curve, m.breakpoints,
           m.scores, m.absent_means, row_number() OVER (ORDER BY m.name) AS slot,
           -- in days, as the kernels count them (months of 30 days, years of 365.25)
           extract(epoch FROM m.half_life)::float8 / 86400 AS half_life_days,
           extract(epoch FROM m.max_age)::float8 / 86400 AS max_age_days
      FROM health_score.metrics m
     WHERE m.enabled
), by_account AS MATERIALIZED (%s
), bad_inputs AS MATERIALIZED (
    -- the rare accounts with a NaN or infinite row in a feed: the metric inputs it spoils
    SELECT b.account_id, array_agg(DISTINCT p.metric) AS inputs
      FROM by_account b
     CROSS JOIN LATERAL health_score.bad_observations(b.account_id, $1) p
     WHERE b.bad
     GROUP BY b.account_id
), live AS MATERIALIZED (
    -- the accounts scored, with the days they have existed at as_of, since their first period
    -- started (NULL: started_on unknown)
    SELECT l.account_id, coalesce(l.segment, '') AS segment,
           (extract(epoch FROM $1) - extract(epoch FROM l.account_started_on::timestamptz))::float8 / 86400 AS age_days
      FROM (%s) l
), catalog_arrays AS MATERIALIZED (
    -- the catalog as metric_level reads it: an array per column in slot order, the curves end to end
    SELECT coalesce(array_agg(c.name ORDER BY c.slot), '{}') AS metrics,
           coalesce(array_agg(c.dimension ORDER BY c.slot), '{}') AS dimensions,
           coalesce(array_agg(c.aggregation ORDER BY c.slot), '{}') AS aggregations,
           coalesce(array_agg(c.absent_means ORDER BY c.slot), '{}') AS absent_means,
           coalesce(array_agg(c.half_life_days ORDER BY c.slot), '{}') AS half_life_days,
           coalesce(array_agg(c.max_age_days ORDER BY c.slot), '{}') AS max_age_days,
           coalesce(array_agg(c.curve ORDER BY c.slot), '{}') AS curves,
           coalesce((SELECT array_agg(u.x ORDER BY c2.slot, u.k) FROM catalog c2,
                            unnest(c2.breakpoints) WITH ORDINALITY u(x, k)), '{}') AS breakpoints,
           coalesce(array_agg(cardinality(c.breakpoints) ORDER BY c.slot), '{}') AS breakpoint_counts,
           coalesce((SELECT array_agg(u.x ORDER BY c2.slot, u.k) FROM catalog c2,
                            unnest(c2.scores) WITH ORDINALITY u(x, k)), '{}') AS scores,
           coalesce(array_agg(cardinality(c.scores) ORDER BY c.slot), '{}') AS score_counts
      FROM catalog c
), cleaned AS (
    -- Every live account with its raw values, observed or not (metric_level reads them), and
    -- for the rare account with a bad row, the slots whose input it spoils.
    SELECT l.account_id, l.segment, l.age_days, b.raw_values,
           CASE WHEN bi.inputs IS NOT NULL THEN
               (SELECT array_agg(c.input = ANY (bi.inputs) ORDER BY c.slot) FROM catalog c) END AS spoilt
      FROM live l
      LEFT JOIN by_account b ON b.account_id = l.account_id
      LEFT JOIN bad_inputs bi ON bi.account_id = l.account_id
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
)
-- Per account, metric_level does the rest in one call: a metric spoilt by a bad row has no
-- data, never a zero; a metric with no observation (within max_age) is unknown, or with
-- absent_means = 'zero' reads 0, and days_since the days the metric could have seen an event:
-- since started_on, at most max_age (unknown without started_on). A decayed_rate is the
-- decayed sum over the decayed exposure since started_on, E = h / ln 2 * (1 - 2^(-A/h)) days
-- for a half-life of h days, where A is the days since started_on (at most max_age, at least
-- 7 days, so the first days do not read one event as a daily habit): metric_values divided it
-- by h / ln 2, an endless history's exposure, which stays when started_on is unknown. A/h is
-- capped at 1000, where 2^(-A/h) is 0 to double precision. Then the effective weights (as
-- effective_weights) and each metric's curve (scale, or scale_banded for a banded curve).
SELECT b.account_id, m.metric, m.dimension, m.raw_value, m.sub_score, m.effective_weight,
       m.contribution, m.coverage_share
  FROM cleaned b
  JOIN segments s ON s.segment = b.segment
 CROSS JOIN catalog_arrays k
 CROSS JOIN LATERAL health_score.metric_level(b.raw_values, b.age_days, b.spoilt, k.metrics, k.dimensions,
                        k.aggregations, k.absent_means, k.half_life_days, k.max_age_days, k.curves,
                        k.breakpoints, k.breakpoint_counts, k.scores, k.score_counts,
                        s.dimension_nos, s.metric_weights, s.dimension_weights, s.coverage_shares) m
 UNION ALL
-- a metric spoilt by a bad row: a row with no values, which makes the account's score NULL
SELECT bi.account_id, c.name, c.dimension, NULL, NULL, NULL, NULL, NULL
  FROM bad_inputs bi
  JOIN live l ON l.account_id = bi.account_id
  JOIN catalog c ON c.input = ANY (bi.inputs)
$q$, raw_values, health_score.live_accounts_sql())
$$;

COMMENT ON FUNCTION health_score.metric_rows_sql(text) IS
'The text of the scoring query per account and metric (parameter $1: as_of) from raw_values, a query giving per account with observations its raw values (account_id, raw_values float8[] in the order of the enabled metrics'' names, bad): the rest of metric_scores_sql.';

-- metric_scores_sql(): the whole scoring query, at as_of ($1): the raw values from one pass over
-- every observation, then metric_rows_sql.
-- With feeds, the observations and the feeds' rows are grouped by account apart and their
-- states merged (metric_values_merge): on Citus the observations' grouping then runs on the
-- shards, where a UNION ALL with the feeds' rows (read on the coordinator) brought every
-- observation to the coordinator.
CREATE OR REPLACE FUNCTION health_score.metric_scores_sql() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT health_score.metric_rows_sql(CASE WHEN f.q IS NULL THEN format($q$
    SELECT o.account_id, health_score.metric_values(o.value, o.observed_at, $1, o.metric, %s) AS raw_values,
           false AS bad
      FROM health_score.observations o
     WHERE o.observed_at <= $1
     GROUP BY o.account_id
$q$, a.arrays) ELSE format($q$
    SELECT u.account_id, health_score.metric_values_merge(u.state) AS raw_values, bool_or(u.bad) AS bad
      FROM (SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, %1$s) AS state,
                   false AS bad
              FROM health_score.observations o
             WHERE o.observed_at <= $1
             GROUP BY o.account_id
            UNION ALL
            SELECT o.account_id,
                   health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, %1$s) FILTER (WHERE NOT o.bad),
                   bool_or(o.bad)
              FROM (%2$s) o
             WHERE o.observed_at <= $1
             GROUP BY o.account_id) u
     GROUP BY u.account_id
$q$, a.arrays, f.q) END)
  FROM (SELECT health_score.feeds_sql() AS q) f,
       (SELECT '(SELECT array_agg(c.input ORDER BY c.slot) FROM catalog c),
                (SELECT array_agg(c.half_life ORDER BY c.slot) FROM catalog c),
                (SELECT array_agg(c.max_age ORDER BY c.slot) FROM catalog c),
                (SELECT array_agg(c.aggregation ORDER BY c.slot) FROM catalog c)'::text AS arrays) a
$$;

COMMENT ON FUNCTION health_score.metric_scores_sql() IS
'The text of the scoring query per account and metric (parameter $1: as_of), shared by metric_scores and account_scores: every live account, with absent_means applied and each decayed_rate over the decayed time since the account started. A metric spoilt by a NaN or infinite row of a feed has a row with raw_value NULL.';

-- refresh_rows(as_of): the metric rows refresh() scored with its snapshot, while it refreshes
-- the dashboards' materialized views at that instant (pg_temp.refresh_scored says which):
-- the views read them instead of scoring the book again, from every observation, each on its
-- own. NULL anywhere else, and once the configuration has changed since.
CREATE FUNCTION health_score.refresh_rows(as_of timestamptz) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_temp.refresh_scored') IS NULL OR to_regclass('pg_temp.snapshot_scored') IS NULL
       OR to_regclass('pg_temp.snapshot_metric_rows') IS NULL OR to_regclass('pg_temp.snapshot_account_rows') IS NULL THEN
        RETURN NULL;
    END IF;
    -- a refresh of the dashboards at as_of in progress, and the snapshot's rows of as_of, both
    -- under the configuration as it is now
    IF EXISTS (SELECT FROM pg_temp.refresh_scored r, pg_temp.snapshot_scored s
                WHERE r.as_of = refresh_rows.as_of AND s.as_of = refresh_rows.as_of
                  AND r.config_version = health_score.config_version()
                  AND s.config_version = health_score.config_version()) THEN
        RETURN 'pg_temp.snapshot_metric_rows';
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.refresh_rows(timestamptz) IS
'The table of metric rows (as metric_scores(as_of)) that refresh() keeps from its snapshot while it refreshes the materialized views (refresh_dashboards), when the snapshot''s rows are of as_of and the configuration is unchanged since; else NULL. metric_scores reads it then (and account_churn_risk through metric_scores), and account_scores the snapshot''s account rows (pg_temp.snapshot_account_rows).';

-- metric_scores and account_scores read refresh()'s rows while it refreshes the dashboards.
CREATE OR REPLACE FUNCTION health_score.metric_scores(as_of timestamptz DEFAULT now())
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
        'SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution, coverage_share FROM %s s',
        coalesce(health_score.refresh_rows(as_of), '(' || health_score.metric_scores_sql() || ')'))
        USING as_of;
END
$$;

CREATE OR REPLACE FUNCTION health_score.account_scores(as_of timestamptz DEFAULT now())
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
    IF health_score.refresh_rows(as_of) IS NOT NULL THEN
        -- the account level the snapshot computed from those rows
        RETURN QUERY EXECUTE 'SELECT * FROM pg_temp.snapshot_account_rows';
        RETURN;
    END IF;
    RETURN QUERY EXECUTE health_score.account_scores_sql('(' || health_score.metric_scores_sql() || ')')
        USING as_of;
END
$$;

COMMENT ON FUNCTION health_score.metric_scores(timestamptz) IS
'Per account and metric at as_of: the raw value from the observations, its 0-100 sub-score, its effective weight in the account score (weights renormalised over the metrics with data) and its contribution (effective_weight x sub_score; the contributions sum to the score) and its coverage_share (its share of the configured weight; an account''s shares sum to its coverage). A metric without data is left out; with absent_means = zero, no observation is data (0, or for days_since the days since the account started).';

-- The account level in C: one aggregate over an account's metric rows (src/account_score.c)
-- gives its dimension scores, coverage, score, band, alert tier, reason and weakest metrics.
-- It replaced two groupings, a window sort and two subqueries per account: about 60 µs an
-- account against 7-8 (bench/account_level.sh), with the same results to the bit
-- (test/pgtap/account_level.sql).
CREATE TYPE health_score.account_score AS (
    score              float8,
    band               text,
    alert_tier         text,
    coverage           float8,
    product_score      float8,
    relationship_score float8,
    business_score     float8,
    reason             text,
    dimension_scores   jsonb,
    weakest_metrics    text,
    bad_rows           boolean
);

COMMENT ON TYPE health_score.account_score IS
'Returned by score_account: one account''s row of account_scores, but for the reason of an account with bad rows (bad_rows true, reason NULL), which account_scores reads from the feeds.';
COMMENT ON COLUMN health_score.account_score.score IS 'The health score 0-100, to two decimals; NULL below min_coverage, with rows lacking their raw value, or without metric rows.';
COMMENT ON COLUMN health_score.account_score.band IS 'The action band that owns the score.';
COMMENT ON COLUMN health_score.account_score.alert_tier IS 'The alert tier that owns the score.';
COMMENT ON COLUMN health_score.account_score.coverage IS 'Share 0-1 of the configured weight that had data (the sum of the coverage shares, at most 1), to four decimals.';
COMMENT ON COLUMN health_score.account_score.product_score IS 'Score of the product dimension, to two decimals.';
COMMENT ON COLUMN health_score.account_score.relationship_score IS 'Score of the relationship dimension, to two decimals.';
COMMENT ON COLUMN health_score.account_score.business_score IS 'Score of the business dimension, to two decimals.';
COMMENT ON COLUMN health_score.account_score.reason IS 'Why score is NULL: no observations, or the coverage below min_coverage; NULL with bad_rows, whose reason account_scores reads from the feeds.';
COMMENT ON COLUMN health_score.account_score.dimension_scores IS 'Every dimension''s score as jsonb, to two decimals (null for a dimension whose rows lack their values).';
COMMENT ON COLUMN health_score.account_score.weakest_metrics IS 'The three metrics that cost the score most points, effective_weight x (100 - sub_score), ties by name: name and sub-score.';
COMMENT ON COLUMN health_score.account_score.bad_rows IS 'True when a metric row lacks its raw value (spoilt by a NaN or infinite row of a feed).';

CREATE FUNCTION health_score.score_account_accum(state internal, metric text, dimension text, raw_value float8,
                                                 sub_score float8, effective_weight float8, contribution float8,
                                                 coverage_share float8, min_coverage float8, bands text[],
                                                 band_mins float8[], band_maxes float8[], tiers text[],
                                                 tier_mins float8[], tier_maxes float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'score_account_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.score_account_accum(internal, text, text, float8, float8, float8, float8, float8, float8, text[], float8[], float8[], text[], float8[], float8[]) IS
'Transition function of score_account: per dimension the sums of contribution, effective_weight and coverage_share and whether a row lacks its raw value; the three metrics that cost the most points.';

CREATE FUNCTION health_score.score_account_final(state internal)
RETURNS health_score.account_score
AS 'MODULE_PATHNAME', 'score_account_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.score_account_final(internal) IS
'Final function of score_account: the account''s score, band, tier, coverage, dimension scores and weakest metrics.';

CREATE AGGREGATE health_score.score_account(metric text, dimension text, raw_value float8, sub_score float8,
                                            effective_weight float8, contribution float8, coverage_share float8,
                                            min_coverage float8, bands text[], band_mins float8[],
                                            band_maxes float8[], tiers text[], tier_mins float8[],
                                            tier_maxes float8[]) (
    SFUNC = health_score.score_account_accum,
    STYPE = internal,
    -- about what a state takes (256 bytes and the chunk's header): without it the planner
    -- assumes 8 kB for an internal state, and a hash aggregate over 100,000 accounts spilled
    -- to disk in 9 batches
    SSPACE = 320,
    FINALFUNC = health_score.score_account_final,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.score_account(text, text, float8, float8, float8, float8, float8, float8, text[], float8[], float8[], text[], float8[], float8[]) IS
'The account level of scoring over one account''s metric rows (the columns of metric_scores), with settings.min_coverage and the bands and alert tiers as arrays (each the same on every row of a group): a dimension''s score is its contributions over its effective weights, the score the sum of the contributions (0-100, two decimals; NULL below min_coverage or with a row lacking its raw value), the coverage the sum of the coverage shares (at most 1, four decimals), the weakest metrics the three with the most points lost, effective_weight x (100 - sub_score), ties by name.';

-- The account-level query (parameter $1: as_of) over a relation of metric rows shaped like
-- metric_scores' result: a subquery, or a table where the metric rows were already kept (as
-- snapshot does, to score once for both levels). Every live account gets a row, with
-- 'no observations' when it has no metric row; an account with bad rows gets its reason from
-- the feeds here (rare, and a query of its own).
CREATE OR REPLACE FUNCTION health_score.account_scores_sql(metric_rows text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
WITH by_account AS (
    SELECT ms.account_id,
           health_score.score_account(ms.metric, ms.dimension, ms.raw_value, ms.sub_score, ms.effective_weight,
               ms.contribution, ms.coverage_share,
               (SELECT st.min_coverage FROM health_score.settings st),
               (SELECT array_agg(b.band ORDER BY b.band) FROM health_score.bands b),
               (SELECT array_agg(b.min_score ORDER BY b.band) FROM health_score.bands b),
               (SELECT array_agg(b.max_score ORDER BY b.band) FROM health_score.bands b),
               (SELECT array_agg(t.tier ORDER BY t.tier) FROM health_score.alert_tiers t),
               (SELECT array_agg(t.min_score ORDER BY t.tier) FROM health_score.alert_tiers t),
               (SELECT array_agg(t.max_score ORDER BY t.tier) FROM health_score.alert_tiers t)) AS s
      FROM %s ms
     GROUP BY ms.account_id
), bad_reasons AS MATERIALIZED (
    -- read here, not per row of the query below: on Citus that query runs on the shards,
    -- where neither a function in FROM nor the feeds can be read
    SELECT b.account_id, string_agg(DISTINCT p.problem, '; ' ORDER BY p.problem) AS reason
      FROM by_account b
     CROSS JOIN LATERAL health_score.bad_observations(b.account_id, $1) p
     WHERE (b.s).bad_rows
     GROUP BY b.account_id
)
SELECT l.account_id, (b.s).score, (b.s).band, (b.s).alert_tier, coalesce((b.s).coverage, 0) AS coverage,
       (b.s).product_score, (b.s).relationship_score, (b.s).business_score,
       CASE WHEN (b.s).bad_rows THEN br.reason
            WHEN b.account_id IS NULL THEN 'no observations'
            ELSE (b.s).reason END AS reason,
       (b.s).dimension_scores, (b.s).weakest_metrics
  FROM (%s) l
  LEFT JOIN by_account b ON b.account_id = l.account_id
  LEFT JOIN bad_reasons br ON br.account_id = l.account_id
$q$, metric_rows, health_score.live_accounts_sql())
$$;

COMMENT ON FUNCTION health_score.account_scores_sql(text) IS
'The text of the account-level scoring query (parameter $1: as_of) over metric_rows, a relation or parenthesised query with the columns of metric_scores.';

CREATE FUNCTION health_score.check_feeds(as_of timestamptz DEFAULT now())
RETURNS TABLE (name text, relation text, status text, status_detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    f record;
    found record;
    counts record;
    new_status text;
    detail text;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    FOR f IN SELECT fd.name, fd.relation, fd.enabled FROM health_score.feeds fd ORDER BY fd.name FOR UPDATE LOOP
        found := health_score.feed_problem(health_score.feed_relid(f.relation));
        IF NOT f.enabled THEN
            new_status := 'disabled';
            detail := NULL;
        ELSIF found.problem IS NOT NULL THEN
            new_status := 'broken';
            detail := found.problem;
        ELSE
            BEGIN
                SELECT count(*) AS total,
                       count(*) FILTER (WHERE NOT (isfinite(o.observed_at)
                              AND coalesce(o.value > '-Infinity' AND o.value < 'Infinity', true))) AS bad
                  INTO counts
                  FROM health_score.feed_rows(f.name, check_feeds.as_of) o;
                new_status := CASE WHEN counts.bad > 0 THEN 'bad_rows' ELSE 'ok' END;
                detail := format('%s rows up to %s, %s of them NaN or infinite', counts.total, as_of, counts.bad);
            EXCEPTION WHEN OTHERS THEN
                new_status := 'broken';
                detail := format('reading it fails: %s (SQLSTATE %s)', SQLERRM, SQLSTATE);
            END;
        END IF;
        IF new_status <> 'ok' AND new_status <> 'disabled' THEN
            RAISE WARNING 'feed "%" (%): %: %', f.name, f.relation, new_status, detail;
        END IF;
        UPDATE health_score.feeds fd SET status = new_status, status_detail = detail, checked_at = now()
         WHERE fd.name = f.name;
        RETURN QUERY SELECT f.name, f.relation, new_status, detail;
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.check_feeds(timestamptz) IS
'Reads every feed up to as_of and records in feeds.status what it found: ok, bad_rows (NaN or infinite rows, whose accounts score NULL), broken (cannot be read: scoring skips it, or fails with settings.bad_data = error) or disabled; a WARNING names each feed that is not ok. refresh() runs it first.';

COMMENT ON FUNCTION health_score.account_scores(timestamptz) IS
'Per account live at as_of: the health score 0-100, to two decimals (NULL, with a reason, when the coverage is below settings.min_coverage or a feed holds a NaN or infinite row for it), its band and alert tier, the coverage (share 0-1 of the configured weight that had data), the product, relationship and business scores, every dimension''s score as jsonb, and the three metrics that cost the score most points (name and sub-score).';

-- Incremental scoring ----------------------------------------------------------------------------
-- A snapshot need not read every observation again. metric_values keeps each metric's decayed
-- sums relative to its newest row and weighs them to as_of only at the end, so the state of
-- one day, moved to the next and merged with the state of the rows observed in between, is
-- the state of every row at the next day: nothing compounds from day to day, and the result
-- is a full rescoring's up to the rounding of the sums (within 1e-12 relative in
-- test/pgtap/incremental.sql). scoring_state keeps one state per account, as of
-- scoring_state_info.as_of; rolled_metric_scores(as_of) rolls it forward, reading the rows
-- observed since (a range the BRIN index on observed_at finds), and scores from it. What it
-- cannot roll is detected and scored from the rows again:
--   - rows written with an older observed_at (late data, updates, deletes): the trigger below
--     records the accounts, which are scored again from all their rows; a TRUNCATE, or late
--     rows for more than half the accounts, rebuilds the whole state;
--   - a change of the metrics' inputs, half-lives, max_ages or aggregations (or of the
--     extension): the state is rebuilt; other changes (weights, curves, bands) are applied
--     after the raw values, to every account at every snapshot;
--   - an as_of before the state's (a backfill of older dates): rebuilt at that as_of;
--   - the decayed metrics with a max_age (a row aging out cannot be taken out of a sum): read
--     from the rows within max_age at every snapshot; latest and days_since roll, max_age or
--     not;
--   - the feeds, whose rows carry no record of when they arrived: read whole at every snapshot.

CREATE TABLE health_score.observation_changes (
    changed_at     timestamptz NOT NULL DEFAULT now(),
    observed_from  timestamptz NOT NULL,
    accounts       text[],
    observed_froms timestamptz[]
);

COMMENT ON TABLE health_score.observation_changes IS
'Written by a trigger on observations, one row per statement that inserted, updated or deleted rows (or truncated the table): the accounts touched, each with its oldest observed_at. The next snapshot reads and deletes the rows: an account touched before the scoring state''s as_of is scored again from all its rows. Internal.';
COMMENT ON COLUMN health_score.observation_changes.changed_at IS 'When the statement ran (its transaction''s start).';
COMMENT ON COLUMN health_score.observation_changes.observed_from IS 'The oldest observed_at among the rows touched; -infinity for a TRUNCATE.';
COMMENT ON COLUMN health_score.observation_changes.accounts IS 'The accounts touched, in order; NULL for a TRUNCATE (every account).';
COMMENT ON COLUMN health_score.observation_changes.observed_froms IS 'The oldest observed_at touched of each account, element by element.';

CREATE FUNCTION health_score.observations_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'observations_changed'
LANGUAGE C;

COMMENT ON FUNCTION health_score.observations_changed() IS
'Trigger: records in observation_changes the accounts a statement on observations touched (from its transition tables), with the rights of that table''s owner, so a role that may write observations needs no grant on it.';

-- One trigger per event: a trigger with transition tables fires for one event only.
CREATE TRIGGER record_inserts AFTER INSERT ON health_score.observations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();
CREATE TRIGGER record_updates AFTER UPDATE ON health_score.observations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();
CREATE TRIGGER record_deletes AFTER DELETE ON health_score.observations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();
CREATE TRIGGER record_truncates AFTER TRUNCATE ON health_score.observations
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();

CREATE TABLE health_score.scoring_state (
    account_id text PRIMARY KEY,
    state      float8[] NOT NULL
);

COMMENT ON TABLE health_score.scoring_state IS
'The incremental scoring''s state: per account with observations, the metric_values state of its rows in the observations table up to scoring_state_info.as_of (the decayed metrics with a max_age left empty: they are read from their window). Derived data, not dumped: the first snapshot after a restore rebuilds it. Internal.';
COMMENT ON COLUMN health_score.scoring_state.account_id IS 'The account.';
COMMENT ON COLUMN health_score.scoring_state.state IS 'Its metric_values state (see metric_values_roll), in the slot order of scoring_state_info''s arrays; as of the date of its last change, at or before scoring_state_info.as_of.';

CREATE TABLE health_score.scoring_state_info (
    id                boolean PRIMARY KEY DEFAULT true CHECK (id),
    as_of             timestamptz NOT NULL,
    inputs            text[] NOT NULL,
    half_lives        interval[] NOT NULL,
    max_ages          interval[] NOT NULL,
    aggregations      text[] NOT NULL,
    extension_version text NOT NULL,
    config_version    bigint NOT NULL,
    built_at          timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    last_mode         text NOT NULL CHECK (last_mode IN ('rolled', 'rebuilt')),
    last_reason       text,
    last_rows_read    bigint NOT NULL,
    last_accounts_rescored integer NOT NULL
);

COMMENT ON TABLE health_score.scoring_state_info IS
'What scoring_state holds (at most one row): its as_of, the metric arrays it was built with, and what the last snapshot did with it. Internal; readers may look.';
COMMENT ON COLUMN health_score.scoring_state_info.id IS 'Always true: one row at most.';
COMMENT ON COLUMN health_score.scoring_state_info.as_of IS 'Every row of observations up to this moment is in the state.';
COMMENT ON COLUMN health_score.scoring_state_info.inputs IS 'The enabled metrics'' inputs, in the order of their names: the slots of the states.';
COMMENT ON COLUMN health_score.scoring_state_info.half_lives IS 'Their half-lives.';
COMMENT ON COLUMN health_score.scoring_state_info.max_ages IS 'Their max_ages.';
COMMENT ON COLUMN health_score.scoring_state_info.aggregations IS 'Their aggregations.';
COMMENT ON COLUMN health_score.scoring_state_info.extension_version IS 'The extension''s version that built the state; another rebuilds it.';
COMMENT ON COLUMN health_score.scoring_state_info.config_version IS 'config_version() at the last snapshot.';
COMMENT ON COLUMN health_score.scoring_state_info.built_at IS 'When the state was last rebuilt from every row.';
COMMENT ON COLUMN health_score.scoring_state_info.updated_at IS 'When the last snapshot used it.';
COMMENT ON COLUMN health_score.scoring_state_info.last_mode IS 'What the last snapshot did: rolled (read the rows observed since, and the late accounts'' rows) or rebuilt (read every row).';
COMMENT ON COLUMN health_score.scoring_state_info.last_reason IS 'Why it rebuilt the state (a full rescoring asked for, no state, an earlier as_of, the metrics changed, a TRUNCATE, late rows for most accounts); NULL when it rolled.';
COMMENT ON COLUMN health_score.scoring_state_info.last_rows_read IS 'Rows of observations the last snapshot read into the state (the rows within max_age and the feeds'' rows, read at every snapshot, not counted).';
COMMENT ON COLUMN health_score.scoring_state_info.last_accounts_rescored IS 'Accounts the last snapshot scored again from all their rows because of late rows (every account when it rebuilt).';

-- roll_state(as_of, full_rescore): brings scoring_state to as_of (rolled forward, or rebuilt from every
-- row when it cannot roll or full_rescore asks for it), and fills pg_temp.rolled_values with the raw
-- values of every account at as_of, as metric_rows_sql reads them. Whatever the path, the
-- change log is consumed first and the rows read after: a change committed in between is read
-- now and scored again next time, never missed.
CREATE FUNCTION health_score.roll_state(as_of timestamptz, full_rescore boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
-- for the ANALYZE of rolled_values: its row count, from a sample of 3,000 rows, not 30,000
SET default_statistics_target = 10
AS $$
DECLARE
    cat record;
    info health_score.scoring_state_info;
    why text;
    truncated boolean;
    late text[];
    state_accounts bigint;
    rows_read bigint;
BEGIN
    -- the enabled metrics as metric_rows_sql numbers them: by name
    SELECT coalesce(array_agg(m.input ORDER BY m.name), '{}') AS inputs,
           coalesce(array_agg(m.half_life ORDER BY m.name), '{}') AS half_lives,
           coalesce(array_agg(m.max_age ORDER BY m.name), '{}') AS max_ages,
           coalesce(array_agg(m.aggregation ORDER BY m.name), '{}') AS aggregations,
           coalesce(array_agg(DISTINCT m.input) FILTER (WHERE m.max_age IS NOT NULL AND m.aggregation LIKE 'decayed%'), '{}')
               AS windowed_inputs,
           -- in seconds as the kernels count them (months of 30 days), one more for rounding
           max(extract(epoch FROM m.max_age)) FILTER (WHERE m.max_age IS NOT NULL AND m.aggregation LIKE 'decayed%') + 1
               AS window_seconds
      INTO cat FROM health_score.metrics m WHERE m.enabled;

    LOCK TABLE health_score.scoring_state IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO info FROM health_score.scoring_state_info;
    why := CASE
        WHEN full_rescore THEN 'a full rescoring was asked for'
        WHEN info.as_of IS NULL THEN 'no scoring state yet'
        -- distribute() removes the triggers (Citus distributes no table with triggers): with
        -- no record of changes, every snapshot reads every row
        WHEN NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = 'health_score.observations'::regclass
                                                    AND t.tgname = 'record_inserts')
            THEN 'observations record no changes (distributed on Citus)'
        WHEN info.as_of > as_of THEN format('as_of %s is before the state''s %s', as_of, info.as_of)
        WHEN info.extension_version IS DISTINCT FROM
             (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'health_score') THEN 'the extension changed'
        WHEN ROW(info.inputs, info.half_lives, info.max_ages, info.aggregations)::text
             IS DISTINCT FROM ROW(cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations)::text
            THEN 'the metrics changed (inputs, half-lives, max_ages or aggregations)' END;

    -- The change log, consumed before any row is read. Only changes before the state's as_of
    -- matter: later rows are read as new ones.
    WITH gone AS (
        DELETE FROM health_score.observation_changes c
        RETURNING c.observed_from,
                  CASE WHEN why IS NULL AND c.observed_from <= info.as_of THEN c.accounts END AS accounts,
                  CASE WHEN why IS NULL AND c.observed_from <= info.as_of THEN c.observed_froms END AS observed_froms
    )
    SELECT coalesce(bool_or(g.observed_from <= info.as_of AND g.accounts IS NULL), false),
           coalesce(array_agg(DISTINCT u.account_id) FILTER (WHERE u.account_id IS NOT NULL), '{}')
      INTO truncated, late
      FROM gone g
      LEFT JOIN LATERAL unnest(g.accounts, g.observed_froms) AS u(account_id, observed_from)
             ON u.observed_from <= info.as_of;
    IF why IS NULL AND truncated THEN
        why := 'observations were truncated';
    END IF;
    -- counted only with late rows: a count reads every state
    IF why IS NULL AND cardinality(late) > 0 THEN
        state_accounts := (SELECT count(*) FROM health_score.scoring_state);
        IF cardinality(late) > state_accounts / 2 THEN
            why := format('late rows for %s of %s accounts', cardinality(late), state_accounts);
        END IF;
    END IF;

    IF why IS NOT NULL THEN
        DELETE FROM health_score.scoring_state;
        EXECUTE $q$
            WITH built AS (
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $2, $3, $4, $5) AS state,
                       count(*) AS n
                  FROM health_score.observations o
                 WHERE o.observed_at <= $1
                 GROUP BY o.account_id
            ), written AS (
                INSERT INTO health_score.scoring_state (account_id, state)
                SELECT b.account_id, health_score.metric_values_roll(NULL, $1, b.state, NULL, $4) FROM built b
            )
            SELECT coalesce(sum(b.n), 0), count(*) FROM built b $q$
            INTO rows_read, state_accounts USING as_of, cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations;
        late := NULL;
    ELSE
        -- The rows observed since the state's as_of, and every row of the late accounts.
        EXECUTE $q$
            WITH fresh AS (
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $3, $4, $5, $6) AS state,
                       count(*) AS n
                  FROM health_score.observations o
                 WHERE o.observed_at > $2 AND o.observed_at <= $1
                 GROUP BY o.account_id
            ), redone AS (
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $3, $4, $5, $6) AS state,
                       count(*) AS n
                  FROM health_score.observations o
                 WHERE o.account_id = ANY ($7) AND o.observed_at <= $1
                 GROUP BY o.account_id
            ), dropped AS (
                -- a late account left without a row up to as_of
                DELETE FROM health_score.scoring_state s
                 WHERE s.account_id = ANY ($7) AND s.account_id NOT IN (SELECT r.account_id FROM redone r)
            ), rolled AS (
                -- an UPDATE, not an INSERT ... ON CONFLICT, which probed the key of each row
                -- before updating it (a third slower)
                UPDATE health_score.scoring_state s
                   SET state = health_score.metric_values_roll(s.state, $1, f.state, NULL, $5)
                  FROM fresh f
                 WHERE s.account_id = f.account_id AND f.account_id <> ALL ($7)
                RETURNING s.account_id
            ), written AS (
                -- the accounts without a state yet, and the late ones scored from all their rows
                INSERT INTO health_score.scoring_state AS s (account_id, state)
                SELECT f.account_id, health_score.metric_values_roll(NULL, $1, f.state, NULL, $5)
                  FROM fresh f
                 WHERE f.account_id <> ALL ($7) AND f.account_id NOT IN (SELECT r.account_id FROM rolled r)
                 UNION ALL
                SELECT r.account_id, health_score.metric_values_roll(NULL, $1, r.state, NULL, $5) FROM redone r
                ON CONFLICT (account_id) DO UPDATE SET state = EXCLUDED.state
            )
            SELECT coalesce((SELECT sum(f.n) FROM fresh f WHERE f.account_id <> ALL ($7)), 0)
                   + coalesce((SELECT sum(r.n) FROM redone r), 0) $q$
            INTO rows_read USING as_of, info.as_of, cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations, late;
    END IF;

    -- state_accounts: the states rebuilt, counted by the query that wrote them (Citus allows no
    -- subquery in an INSERT's VALUES)
    INSERT INTO health_score.scoring_state_info AS i
        (id, as_of, inputs, half_lives, max_ages, aggregations, extension_version, config_version, built_at,
         updated_at, last_mode, last_reason, last_rows_read, last_accounts_rescored)
    VALUES (true, as_of, cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations,
            (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'health_score'), health_score.config_version(),
            CASE WHEN why IS NULL THEN info.built_at ELSE now() END, now(),
            CASE WHEN why IS NULL THEN 'rolled' ELSE 'rebuilt' END, why, rows_read,
            coalesce(cardinality(late), state_accounts))
    ON CONFLICT (id) DO UPDATE
       SET as_of = EXCLUDED.as_of, inputs = EXCLUDED.inputs, half_lives = EXCLUDED.half_lives,
           max_ages = EXCLUDED.max_ages, aggregations = EXCLUDED.aggregations,
           extension_version = EXCLUDED.extension_version, config_version = EXCLUDED.config_version,
           built_at = EXCLUDED.built_at, updated_at = EXCLUDED.updated_at, last_mode = EXCLUDED.last_mode,
           last_reason = EXCLUDED.last_reason, last_rows_read = EXCLUDED.last_rows_read,
           last_accounts_rescored = EXCLUDED.last_accounts_rescored;

    -- Every account's raw values at as_of: its state, with the decayed metrics with a max_age
    -- from the rows within it, merged with its feeds' rows (read whole).
    IF to_regclass('pg_temp.rolled_values') IS NULL THEN
        CREATE TEMP TABLE rolled_values (account_id text, raw_values float8[], bad boolean) ON COMMIT DROP;
    END IF;
    TRUNCATE pg_temp.rolled_values;
    EXECUTE format($q$
        INSERT INTO pg_temp.rolled_values (account_id, raw_values, bad)
        SELECT account_id,
               health_score.metric_values_final(health_score.metric_values_combine(
                   health_score.metric_values_roll(s.state, $1, NULL, w.state, $5), coalesce(f.state, '{}'))),
               coalesce(f.bad, false)
          FROM health_score.scoring_state s
          FULL JOIN (%s) w USING (account_id)
          FULL JOIN (%s) f USING (account_id) $q$,
        CASE WHEN cardinality(cat.windowed_inputs) = 0 THEN 'SELECT NULL::text AS account_id, NULL::float8[] AS state WHERE false'
             ELSE $w$
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $2, $3, $5, $4) AS state
                  FROM health_score.observations o
                 WHERE o.metric = ANY ($6) AND o.observed_at > $1 - make_interval(secs => $7) AND o.observed_at <= $1
                 GROUP BY o.account_id $w$ END,
        CASE WHEN health_score.feeds_sql() IS NULL THEN 'SELECT NULL::text AS account_id, NULL::float8[] AS state, NULL::boolean AS bad WHERE false'
             ELSE format($f$
                SELECT o.account_id,
                       health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $2, $3, $5, $4)
                           FILTER (WHERE NOT o.bad) AS state,
                       bool_or(o.bad) AS bad
                  FROM (%s) o
                 WHERE o.observed_at <= $1
                 GROUP BY o.account_id $f$, health_score.feeds_sql()) END)
        USING as_of, cat.inputs, cat.half_lives, cat.aggregations, cat.max_ages, cat.windowed_inputs, cat.window_seconds;
    ANALYZE pg_temp.rolled_values;
END
$$;

COMMENT ON FUNCTION health_score.roll_state(timestamptz, boolean) IS
'Brings scoring_state to as_of: rolled forward from the rows observed since its as_of and the rows of the accounts with late changes (observation_changes), or rebuilt from every row (full_rescore, no state, an earlier as_of, the metrics changed, a TRUNCATE); then fills the temporary table rolled_values with every account''s raw values at as_of. Called by rolled_metric_scores.';

-- rolled_metric_scores(as_of, full_rescore): metric_scores(as_of) through the scoring state, which it
-- rolls forward (or, with full_rescore, rebuilds). A caller that row-level security narrows, or that
-- may not write the state, gets metric_scores(as_of) and leaves the state alone; so does a
-- REPEATABLE READ transaction that finds the state changed since it began.
CREATE FUNCTION health_score.rolled_metric_scores(as_of timestamptz, full_rescore boolean DEFAULT false)
RETURNS TABLE (account_id text, metric text, dimension text, raw_value float8, sub_score float8,
               effective_weight float8, contribution float8, coverage_share float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
AS $$
DECLARE
    rolled boolean := true;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    IF full_rescore IS NULL THEN
        RAISE EXCEPTION 'full_rescore must be true or false, got NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- has_table_privilege(t, 'A, B') is true with either: each privilege is asked alone
    IF (row_security_active('health_score.observations') AND NOT health_score.sees_every_account())
       OR EXISTS (SELECT FROM (VALUES ('health_score.scoring_state', 'SELECT'), ('health_score.scoring_state', 'INSERT'),
                                      ('health_score.scoring_state', 'UPDATE'), ('health_score.scoring_state', 'DELETE'),
                                      ('health_score.scoring_state_info', 'SELECT'), ('health_score.scoring_state_info', 'INSERT'),
                                      ('health_score.scoring_state_info', 'UPDATE'), ('health_score.observation_changes', 'DELETE'),
                                      ('health_score.observation_changes', 'SELECT')) AS p(tab, priv)
                   WHERE NOT has_table_privilege(p.tab, p.priv)) THEN
        rolled := false;
    ELSE
        BEGIN
            PERFORM health_score.roll_state(as_of, full_rescore);
        EXCEPTION WHEN serialization_failure THEN
            rolled := false;
        END;
    END IF;
    IF rolled THEN
        RETURN QUERY EXECUTE format(
            'SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution, coverage_share FROM (%s) s',
            health_score.metric_rows_sql('SELECT account_id, raw_values, bad FROM pg_temp.rolled_values'))
            USING as_of;
    ELSE
        RETURN QUERY SELECT * FROM health_score.metric_scores(as_of);
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.rolled_metric_scores(timestamptz, boolean) IS
'metric_scores(as_of) computed through the scoring state (scoring_state), which it rolls forward to as_of, reading only the rows observed since the state''s as_of, the rows of accounts with late changes, the rows within the max_age of the decayed metrics that have one, and the feeds; with full_rescore, or when the state cannot roll (see roll_state), it rebuilds the state from every row. Equal to metric_scores(as_of) up to the rounding of the sums. snapshot() uses it.';

-- Segments: check_segments() and a warning when segment weights name a segment no account has.
COMMENT ON COLUMN health_score.accounts.segment IS 'Segment, e.g. enterprise, mid_market, smb; picks the segment weights whose segment is exactly the same (case-sensitive), if any (check_segments() lists near misses).';

-- Segments are matched exactly: accounts.segment = segment_*_weights.segment, case and spaces
-- included, as every key in SQL. A weight for a segment no account has is most often a
-- misspelling ("enterprise" for "Enterprise") that leaves those accounts on the default
-- weights without a word: check_segments() lists such segments, and writing the weights warns.
CREATE FUNCTION health_score.check_segments()
RETURNS TABLE (segment text, accounts bigint, dimension_weights bigint, metric_weights bigint, note text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH s AS (
        SELECT n.segment, sum(n.a) AS accounts, sum(n.d) AS dimension_weights, sum(n.m) AS metric_weights
          FROM (SELECT a.segment, count(*) AS a, 0 AS d, 0 AS m FROM health_score.accounts a
                 WHERE a.segment IS NOT NULL GROUP BY a.segment
                UNION ALL
                SELECT w.segment, 0, count(*), 0 FROM health_score.segment_dimension_weights w GROUP BY w.segment
                UNION ALL
                SELECT w.segment, 0, 0, count(*) FROM health_score.segment_metric_weights w GROUP BY w.segment) n
         GROUP BY n.segment)
    SELECT s.segment, s.accounts::bigint, s.dimension_weights::bigint, s.metric_weights::bigint,
           CASE WHEN s.accounts = 0 THEN
                    'no account has this segment, so its weights apply to none'
                    || CASE WHEN l.others IS NOT NULL
                            THEN format('; the accounts of %s differ from it only in case or spaces (segments match exactly)', l.others)
                            ELSE '' END
                WHEN s.dimension_weights + s.metric_weights = 0 AND l.others IS NOT NULL THEN
                    format('no segment weights: its accounts take the default weights; those of %s differ from it only in case or spaces (segments match exactly)', l.others)
           END
      FROM s
      LEFT JOIN LATERAL (
           SELECT string_agg(format('"%s"', o.segment), ', ' ORDER BY o.segment) AS others
             FROM s o
            WHERE o.segment <> s.segment AND lower(btrim(o.segment)) = lower(btrim(s.segment))
              AND CASE WHEN s.accounts = 0 THEN o.accounts > 0 ELSE o.dimension_weights + o.metric_weights > 0 END) l ON true
     ORDER BY s.segment COLLATE "C"
$$;

COMMENT ON FUNCTION health_score.check_segments() IS
'Every segment named by accounts or by the segment weights: its accounts, its rows in segment_dimension_weights and segment_metric_weights, and a note when something is amiss: weights for a segment no account has, or accounts without weights while another segment differing only in case or surrounding spaces has them. Segments are matched exactly (case-sensitive), so such a segment''s accounts take the default weights. Reads the accounts the caller may see.';

-- warn_unknown_segments(): after the segment weights are written, a WARNING for each segment
-- of that table no account has (once accounts are loaded: weights may come first).
CREATE FUNCTION health_score.warn_unknown_segments() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    -- Once per statement of the user's: not again for the writes of the catalog's own
    -- triggers (catalog_user_row), nor while no account is loaded.
    IF pg_trigger_depth() > 1 OR NOT EXISTS (SELECT 1 FROM health_score.accounts) THEN
        RETURN NULL;
    END IF;
    FOR r IN SELECT c.segment, c.note FROM health_score.check_segments() c
              WHERE c.accounts = 0
                AND CASE TG_TABLE_NAME WHEN 'segment_dimension_weights' THEN c.dimension_weights
                                       ELSE c.metric_weights END > 0 LOOP
        RAISE WARNING '% names the segment "%", which no account has (segments match exactly, case-sensitive)',
                      TG_TABLE_NAME, r.segment
            USING DETAIL = upper(left(r.note, 1)) || substr(r.note, 2) || '.',
                  HINT = 'Spell the segment as accounts.segment does, or see health_score.check_segments().';
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.warn_unknown_segments() IS
'Trigger: after an insert into the segment weights, or an update of their segment, a WARNING for each segment of that table that no account has (none while there are no accounts), with check_segments()''s note.';

CREATE TRIGGER warn_unknown_segments AFTER INSERT OR UPDATE OF segment ON health_score.segment_dimension_weights
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.warn_unknown_segments();
CREATE TRIGGER warn_unknown_segments AFTER INSERT OR UPDATE OF segment ON health_score.segment_metric_weights
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.warn_unknown_segments();

-- Churn (src/sql/churn.sql) ----------------------------------------------------------------------

-- Risk with its uncertainty: trainings store the covariance matrix of the coefficients (models
-- trained before have none, and so no intervals; the column is added with the others below);
-- the interval of a probability comes from it.
ALTER TYPE health_score.churn_fit_result ADD ATTRIBUTE covariance float8[];
COMMENT ON TYPE health_score.churn_fit_result IS
'Result of churn_fit: coefficients, standard errors and their covariance matrix on the original scale (intercept first), the standardised coefficients, the centre and scale used, and the fit statistics.';
COMMENT ON COLUMN health_score.churn_fit_result.covariance IS 'Covariance matrix of the coefficients on the original scale, row-major (p+1) x (p+1), intercept first.';

CREATE FUNCTION health_score.logit_predict_interval(coefficients float8[], covariance float8[], features float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_predict_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_predict_interval(float8[], float8[], float8[]) IS
'{probability, low, high}: logit_predict(coefficients, features) and its 95 % confidence interval by the delta method on the log-odds, 1 / (1 + exp(-(eta -+ 1.959964 sqrt(u''Vu)))) with eta the log-odds, u = (1, features) and V the covariance matrix of the coefficients (row-major (p+1) x (p+1), intercept first, on the scale of the coefficients, as churn_models.covariance holds it). A V that is not positive semi-definite at u is an error.';

CREATE FUNCTION health_score.churn_probability_interval(model text, features float8[],
                                                        OUT probability float8, OUT low float8,
                                                        OUT high float8, OUT reason text)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
    iv float8[];
BEGIN
    -- The probability is churn_probability's, computed the same way; the bounds need the
    -- covariance matrix, which models trained before 0.2.0 do not have.
    probability := health_score.logit_predict(m.coefficients, features);
    IF m.covariance IS NULL THEN
        reason := format('churn model "%s" v%s has no covariance matrix: it was trained before health_score 0.2.0, which stores it; train it again for intervals',
                         m.name, m.version);
        RETURN;
    END IF;
    iv := health_score.logit_predict_interval(m.coefficients, m.covariance, features);
    low := iv[2];
    high := iv[3];
END
$$;

COMMENT ON FUNCTION health_score.churn_probability_interval(text, float8[]) IS
'churn_probability(model, features) with its 95 % confidence interval: low and high are 1 / (1 + exp(-(eta -+ 1.959964 se))), eta the log-odds and se = sqrt(u''Vu) its standard error by the delta method (u = (1, features), V = churn_models.covariance), the uncertainty of the fitted coefficients at these features (not of whether this one row churns). NULL bounds, with the reason, for a model trained before 0.2.0, which has no covariance matrix. For many rows, call logit_predict_interval(coefficients, covariance, features) directly.';

-- churn_probability_interval_of(model, row_values): the interval from raw values by column name.
CREATE FUNCTION health_score.churn_probability_interval_of(model text, row_values jsonb,
                                                           OUT probability float8, OUT low float8,
                                                           OUT high float8, OUT reason text)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
    x float8[] := health_score.churn_features(model, row_values);
    unknown text;
BEGIN
    -- A NULL in the row gives NULL, as churn_probability_of does; the reason names the terms.
    SELECT string_agg(u.term, ', ' ORDER BY u.i) INTO unknown
      FROM unnest(m.features, x) WITH ORDINALITY AS u(term, value, i)
     WHERE u.value IS NULL;
    IF unknown IS NOT NULL THEN
        reason := format('no probability: %s unknown (NULL in row_values)', unknown);
        RETURN;
    END IF;
    SELECT i.probability, i.low, i.high, i.reason INTO probability, low, high, reason
      FROM health_score.churn_probability_interval(model, x) i;
END
$$;

COMMENT ON FUNCTION health_score.churn_probability_interval_of(text, jsonb) IS
'churn_probability_interval from a row''s raw values by column name (see churn_features): the probability (= churn_probability_of) and its 95 % interval, e.g. churn_probability_interval_of(''telco'', to_jsonb(t)); a level of a text column counts as its 0/1 indicator. A JSON null (a NULL in the row) gives NULL probability and bounds, with a reason naming the terms it leaves unknown; a model without a covariance matrix gives NULL bounds with the reason.';

-- churn_fit checks max_iter, tol and l2 itself, as the functions that call it do.
-- check_fit_arguments(max_iter, tol, l2, ridge_fallback): refuses the arguments of a fit that
-- churn_fit cannot honour. Called by churn_fit and by each function that calls it, before any
-- data is read.
CREATE FUNCTION health_score.check_fit_arguments(max_iter int, tol float8, l2 float8,
                                                 ridge_fallback float8 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF max_iter IS NULL OR max_iter < 1 OR max_iter > 1000 THEN
        RAISE EXCEPTION 'max_iter must be between 1 and 1000, got %', coalesce(max_iter::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A NaN tol (greater than any step in PostgreSQL's order) reported a one-step fit as converged.
    IF tol IS NULL OR NOT (tol > 0 AND tol < 1) THEN
        RAISE EXCEPTION 'tol must be greater than 0 and less than 1, got %', coalesce(tol::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF l2 IS NULL OR NOT (l2 >= 0 AND l2 < 'Infinity') THEN
        RAISE EXCEPTION 'l2 must be a finite number, zero or more, got %', coalesce(l2::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- On standardised features a penalty far above the number of rows leaves the intercept
    -- alone; past about 1e150 the objective underflowed (22003).
    IF l2 > 1e12 THEN
        RAISE EXCEPTION 'l2 must be at most 1e12, got %', l2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A penalty far above the number of rows already fits the intercept alone.';
    END IF;
    IF ridge_fallback IS NOT NULL AND NOT (ridge_fallback > 0 AND ridge_fallback < 'Infinity') THEN
        RAISE EXCEPTION 'ridge_fallback must be a finite number greater than zero, got %', ridge_fallback
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ridge_fallback > 1e12 THEN   -- the bound of l2
        RAISE EXCEPTION 'ridge_fallback must be at most 1e12, got %', ridge_fallback
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.check_fit_arguments(integer, float8, float8, float8) IS
'Raises an error (22023) naming the argument unless max_iter is between 1 and 1000, tol greater than 0 and less than 1, l2 finite, zero or more and at most 1e12, and ridge_fallback NULL or finite, greater than zero and at most 1e12. Used by churn_fit and the functions that call it.';

CREATE OR REPLACE FUNCTION health_score.churn_fit(from_sql text, feature_exprs text[], names text[], label_expr text,
                                       max_iter int, tol float8, l2 float8)
RETURNS health_score.churn_fit_result
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p int := cardinality(names);
    k int := cardinality(names) + 1;
    x_expr text := 'ARRAY[' || array_to_string(feature_exprs, ', ') || ']::float8[]';
    d float8[];
    used bigint;
    pos bigint;
    o int;
    sd float8;
    center float8[] := '{}';
    scale float8[] := '{}';
    beta float8[];
    newbeta float8[];
    prev_beta float8[];
    prev_obj float8;
    obj float8;
    st float8[];
    cov float8[];
    step float8;
    big int;
    it int := 0;
    halvings int := 0;
    converged boolean := false;
    q text;
    r health_score.churn_fit_result;
BEGIN
    -- Checked here too, since churn_fit can be called directly.
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2);
    -- One pass for the counts, moments and class ranges: everything is checked before a fit.
    EXECUTE format('SELECT health_score.logit_describe(%s, %s) FROM %s', x_expr, label_expr, from_sql) INTO d;
    IF d IS NULL OR cardinality(d) = 0 THEN
        RAISE EXCEPTION 'source has no rows to fit' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR j IN 1..p LOOP
        o := 6 + (j - 1) * 7;
        IF d[o + 6] > 0 THEN
            RAISE EXCEPTION 'feature "%" has % NaN or infinite values', names[j], d[o + 6]::bigint
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Replace them with NULL (the row is then skipped) or with a finite value.';
        END IF;
    END LOOP;
    used := d[2]::bigint;
    pos := d[4]::bigint;
    IF used = 0 THEN
        RAISE EXCEPTION 'no complete rows: each of the % rows has a NULL feature or label', d[3]::bigint
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF used <= k THEN
        RAISE EXCEPTION 'more features than rows: % features and an intercept need more than % complete rows, got %',
            p, k, used
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pos = 0 OR pos = used THEN
        RAISE EXCEPTION 'label has a single class over the % rows used (% churned)', used, pos
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A churn model needs rows that churned and rows that did not.';
    END IF;
    FOR j IN 1..p LOOP
        o := 6 + (j - 1) * 7;
        sd := sqrt(d[o + 1] / used);
        IF NOT (sd > 1e-12 * greatest(abs(d[o]), 1e-300)) THEN
            RAISE EXCEPTION 'feature "%" is constant (%) over the rows used', names[j], d[o]
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave it out: it cannot explain churn.';
        END IF;
        center := center || d[o];
        scale := scale || sd;
        IF l2 = 0 AND (d[o + 3] <= d[o + 4] OR d[o + 5] <= d[o + 2]) THEN
            RAISE EXCEPTION 'feature "%" separates the classes perfectly: churned rows lie in [%, %], the others in [%, %]',
                names[j], d[o + 4], d[o + 5], d[o + 2], d[o + 3]
                USING ERRCODE = 'data_exception',
                      HINT = 'The maximum-likelihood coefficient is infinite: leave the feature out, or fit with an l2 penalty (l2 or ridge_fallback).';
        END IF;
    END LOOP;

    beta := array_fill(0::float8, ARRAY[k]);
    beta[1] := ln(pos::float8 / (used - pos));
    q := format('SELECT health_score.logit_step(%s, %s, $1, $2, $3) FROM %s', x_expr, label_expr, from_sql);
    LOOP
        EXECUTE q INTO st USING beta, center, scale;
        obj := st[5] - l2 / 2 * (SELECT coalesce(sum(b * b), 0) FROM unnest(beta[2:k]) b);
        -- Newton steps on a concave objective rarely overshoot; when one does, halve it.
        IF prev_obj IS NOT NULL AND obj < prev_obj - 1e-9 * abs(prev_obj) AND halvings < 30 THEN
            halvings := halvings + 1;
            SELECT array_agg((a + b) / 2 ORDER BY i) INTO beta
              FROM unnest(prev_beta, beta) WITH ORDINALITY AS u(a, b, i);
            CONTINUE;
        END IF;
        EXIT WHEN converged;
        IF it >= max_iter THEN
            SELECT i - 1 INTO big FROM unnest(beta) WITH ORDINALITY AS u(b, i)
             WHERE i > 1 ORDER BY abs(b) DESC LIMIT 1;
            RAISE EXCEPTION 'the fit did not converge in % iterations; feature "%" has the largest standardised coefficient (%)',
                max_iter, names[big], round(beta[big + 1]::numeric, 2)
                USING ERRCODE = 'data_exception',
                      HINT = 'The classes may be separated by a combination of features: leave that feature out, raise max_iter, or fit with an l2 penalty (l2 or ridge_fallback).';
        END IF;
        newbeta := health_score.logit_solve(st, beta, l2, names);
        it := it + 1;
        SELECT max(abs(a - b)) INTO step FROM unnest(newbeta, beta) AS u(a, b);
        IF l2 = 0 THEN
            SELECT i - 1 INTO big FROM unnest(newbeta) WITH ORDINALITY AS u(b, i)
             WHERE i > 1 AND abs(b) > 30 ORDER BY abs(b) DESC LIMIT 1;
            IF big IS NOT NULL THEN
                RAISE EXCEPTION 'the classes are (nearly) perfectly separated: feature "%" has a standardised coefficient of % after % iterations',
                    names[big], round(newbeta[big + 1]::numeric, 2), it
                    USING ERRCODE = 'data_exception',
                          HINT = 'Leave the feature out, or fit with an l2 penalty (l2 or ridge_fallback).';
            END IF;
        END IF;
        prev_beta := beta;
        prev_obj := obj;
        beta := newbeta;
        converged := step < tol;
    END LOOP;

    -- st was taken at the final coefficients: its information matrix gives the covariance.
    cov := health_score.logit_covariance(st, l2, center, scale, names);
    r.standardized := beta;
    r.coefficients := ARRAY[beta[1] - (SELECT coalesce(sum(beta[j + 1] * center[j] / scale[j]), 0)
                                         FROM generate_series(1, p) j)]
                      || (SELECT array_agg(beta[j + 1] / scale[j] ORDER BY j) FROM generate_series(1, p) j);
    r.std_errors := (SELECT array_agg(sqrt(cov[(j - 1) * k + j]) ORDER BY j) FROM generate_series(1, k) j);
    r.center := center;
    r.scale := scale;
    r.l2 := l2;
    r.loglik := st[5];
    r.null_loglik := pos * ln(pos::float8 / used) + (used - pos) * ln((used - pos)::float8 / used);
    r.iterations := it;
    r.rows_used := st[2]::bigint;
    r.rows_skipped := st[3]::bigint;
    r.positives := st[4]::bigint;
    r.condition_number := health_score.logit_condition(st);
    r.covariance := cov;
    RETURN r;
END
$$;

-- Training: a lock only roles that may write churn_models can take; 40001 for a concurrent
-- training of one name under REPEATABLE READ. It records how the columns were encoded (new
-- arguments, so the 0.1.0 function is dropped).
DROP FUNCTION health_score.churn_train(text, text, text, text, text, text[], text[], text, integer, float8, float8, float8,
                                       timestamptz, interval);
CREATE FUNCTION health_score.churn_train(name text, kind text, source_desc text, label_desc text,
                                         from_sql text, feature_exprs text[], names text[], label_expr text,
                                         max_iter int, tol float8, l2 float8, ridge_fallback float8,
                                         as_of timestamptz DEFAULT NULL, horizon interval DEFAULT NULL,
                                         term_columns text[] DEFAULT NULL, term_levels text[] DEFAULT NULL,
                                         references_used jsonb DEFAULT NULL, positive_value text DEFAULT NULL)
RETURNS health_score.churn_models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f health_score.churn_fit_result;
    e health_score.churn_evaluation;
    m health_score.churn_models;
    k int := cardinality(names) + 1;
    reason text;
    state text;
    q1 float8;
    q2 float8;
    n1 float8;
    n0 float8;
    zq constant float8 := 1.959963984540054;   -- the 97.5 % quantile of the standard normal
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'name must not be NULL or empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2, ridge_fallback);

    IF ridge_fallback IS NULL OR l2 > 0 THEN
        f := health_score.churn_fit(from_sql, feature_exprs, names, label_expr, max_iter, tol, l2);
    ELSE
        BEGIN
            f := health_score.churn_fit(from_sql, feature_exprs, names, label_expr, max_iter, tol, l2);
        EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, reason = MESSAGE_TEXT;
            IF state <> '22000' THEN
                RAISE;
            END IF;
            RAISE WARNING 'churn model "%": %; fitting with the ridge fall-back l2 = %', name, reason, ridge_fallback;
            f := health_score.churn_fit(from_sql, feature_exprs, names, label_expr, max_iter, tol, ridge_fallback);
        END;
    END IF;

    e := health_score.churn_evaluate(from_sql, feature_exprs, label_expr, f.coefficients);

    -- One training at a time, so versions never collide. A table lock that only roles that may
    -- update churn_models can take (an advisory lock any role could hold, blocking training);
    -- it never waits for readers, nor for writers (ROW EXCLUSIVE): SHARE ROW EXCLUSIVE did, and
    -- two trainings in transactions that had already written churn_models deadlocked.
    LOCK TABLE health_score.churn_models IN SHARE UPDATE EXCLUSIVE MODE;
    m.name := name;
    m.active := true;
    m.kind := kind;
    m.trained_at := now();
    m.source := source_desc;
    m.label := label_desc;
    m.features := names;
    m.coefficients := f.coefficients;
    m.std_errors := f.std_errors;
    m.center := f.center;
    m.scale := f.scale;
    m.l2 := f.l2;
    m.ridge_fallback := reason IS NOT NULL;
    m.fallback_reason := reason;
    m.loglik := f.loglik;
    m.null_loglik := f.null_loglik;
    m.null_deviance := -2 * f.null_loglik;
    m.residual_deviance := -2 * f.loglik;
    m.pseudo_r2 := 1 - f.loglik / f.null_loglik;
    m.aic := 2 * k - 2 * f.loglik;
    m.iterations := f.iterations;
    m.rows_used := f.rows_used;
    m.rows_skipped := f.rows_skipped;
    m.positives := f.positives;
    m.churn_rate := f.positives::float8 / f.rows_used;
    m.condition_number := f.condition_number;
    m.auc := e.auc;
    IF e.auc IS NOT NULL THEN
        -- Hanley and McNeil (1982).
        n1 := e.positives;
        n0 := e.rows_used - e.positives;
        q1 := e.auc / (2 - e.auc);
        q2 := 2 * e.auc ^ 2 / (1 + e.auc);
        m.auc_std_error := sqrt((e.auc * (1 - e.auc) + (n1 - 1) * (q1 - e.auc ^ 2)
                                 + (n0 - 1) * (q2 - e.auc ^ 2)) / (n1 * n0));
        m.auc_ci_low := greatest(0, e.auc - zq * m.auc_std_error);
        m.auc_ci_high := least(1, e.auc + zq * m.auc_std_error);
    END IF;
    m.brier := e.brier;
    m.as_of := as_of;
    m.horizon := horizon;
    m.config_version := CASE WHEN kind = 'account' THEN health_score.config_version() END;
    -- Without an encoding (account models), each term is a column of its own name.
    m.feature_columns := coalesce(term_columns, names);
    m.feature_levels := coalesce(term_levels, array_fill(NULL::text, ARRAY[k - 1]));
    m.reference_levels := coalesce(references_used, '{}');
    m.positive_label := positive_value;
    m.covariance := f.covariance;
    m.imputation := '{}';   -- train_account_churn_model records its own
    m.rows_imputed := 0;
    BEGIN
        UPDATE health_score.churn_models c SET active = false WHERE c.name = churn_train.name AND c.active;
        m.version := coalesce((SELECT max(c.version) FROM health_score.churn_models c
                                WHERE c.name = churn_train.name), 0) + 1;
        INSERT INTO health_score.churn_models SELECT m.*;
    EXCEPTION WHEN unique_violation OR serialization_failure THEN
        -- Under REPEATABLE READ or SERIALIZABLE the snapshot predates a training of this name
        -- that committed while this one waited for the lock: its version is not visible here.
        RAISE EXCEPTION 'churn model "%": another training of this name committed after this transaction began', name
            USING ERRCODE = 'serialization_failure',
                  HINT = 'Retry the transaction. Under READ COMMITTED, trainings of one name wait for each other instead.';
    END;

    INSERT INTO health_score.churn_model_terms
    SELECT m.name, m.version, j - 1,
           CASE WHEN j = 1 THEN '(intercept)' ELSE names[j - 1] END,
           b, se, b / se, health_score.logit_p_value(b / se),
           b - zq * se, b + zq * se, exp(b), exp(b - zq * se), exp(b + zq * se),
           CASE WHEN j > 1 THEN f.standardized[j] END,
           CASE WHEN j > 1 THEN f.center[j - 1] END,
           CASE WHEN j > 1 THEN f.scale[j - 1] END,
           CASE WHEN j > 1 THEN m.feature_columns[j - 1] END,
           CASE WHEN j > 1 THEN m.feature_levels[j - 1] END
      FROM unnest(f.coefficients, f.std_errors) WITH ORDINALITY AS u(b, se, j);

    INSERT INTO health_score.churn_model_calibration
    SELECT m.name, m.version, i, nr, nc, mp, ob
      FROM unnest(e.decile_rows, e.decile_churned, e.decile_predicted, e.decile_observed)
           WITH ORDINALITY AS u(nr, nc, mp, ob, i);
    RETURN m;
END
$$;

COMMENT ON FUNCTION health_score.churn_train(text, text, text, text, text, text[], text[], text, int, float8, float8, float8, timestamptz, interval, text[], text[], jsonb, text) IS
'Shared by train_churn_model and train_account_churn_model: fits (churn_fit, with the ridge fall-back when asked), evaluates on the training rows (churn_evaluate) and records the new active version in churn_models, churn_model_terms and churn_model_calibration, all or nothing. term_columns, term_levels, references_used and positive_value record how the columns were encoded (churn_columns); without them each term is a column of its own name.';

-- train_account_churn_model: metrics of more than one dimension refused with 2202E.
CREATE OR REPLACE FUNCTION health_score.train_account_churn_model(name text, as_of timestamptz,
                                                       horizon interval DEFAULT interval '90 days',
                                                       metrics text[] DEFAULT NULL,
                                                       max_iter int DEFAULT 25, tol float8 DEFAULT 1e-10,
                                                       l2 float8 DEFAULT 0, ridge_fallback float8 DEFAULT NULL,
                                                       snapshots int DEFAULT 1)
RETURNS health_score.churn_models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chosen text[];
    unknown text;
    trained health_score.churn_models;
    in_use text;
    imputed record;
    design record;
    miss record;
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'name must not be NULL or empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    chosen := health_score.account_training(as_of, horizon, metrics, snapshots, max_iter, tol, l2, ridge_fallback);
    -- Rows without data for a metric: imputed with an indicator term, or skipped (account_imputation).
    imputed := health_score.account_imputation('pg_temp.health_score_account_training AS s', chosen);
    design := health_score.account_design(chosen, imputed.imputation, 's.x');
    SELECT u INTO unknown FROM unnest(design.terms) u GROUP BY u HAVING count(*) > 1 LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'the indicator term "%" is also the name of one of the metrics', unknown
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Rename the metric.';
    END IF;
    trained := health_score.churn_train(
        name, 'account',
        CASE WHEN snapshots = 1 THEN format('account metric sub-scores at %s', as_of)
             ELSE format('account metric sub-scores at %s dates, every %s back from %s', snapshots, horizon, as_of) END,
        format('churned within %s after the date', horizon),
        'pg_temp.health_score_account_training AS s', design.exprs, design.terms, 's.churned',
        max_iter, tol, l2, ridge_fallback, as_of, horizon, design.term_columns);
    DROP TABLE pg_temp.health_score_account_training;
    UPDATE health_score.churn_models c SET imputation = imputed.imputation, rows_imputed = imputed.rows_imputed
     WHERE c.name = trained.name AND c.version = trained.version
    RETURNING c.* INTO trained;
    FOR miss IN SELECT e.key, e.value FROM jsonb_each(imputed.imputation) e ORDER BY e.key LOOP
        IF miss.value ->> 'indicator' IS NOT NULL THEN
            RAISE NOTICE 'churn model "%": metric "%" had no data on % of the % rows used; they took its mean sub-score (%) and the term "%" marks them',
                trained.name, miss.key, miss.value ->> 'missing', trained.rows_used,
                round((miss.value ->> 'value')::numeric, 2), miss.value ->> 'indicator';
        ELSE
            RAISE NOTICE 'churn model "%": metric "%" had no data on % rows, which all %: they are skipped, as an indicator would separate them',
                trained.name, miss.key, miss.value ->> 'missing',
                CASE WHEN miss.value ->> 'missing_churned' = '0' THEN 'stayed' ELSE 'churned' END;
        END IF;
    END LOOP;
    -- The first account model becomes the dashboards' one; a later model of another name waits
    -- until settings.churn_model names it.
    UPDATE health_score.settings s SET churn_model = trained.name WHERE s.churn_model IS NULL;
    IF FOUND THEN
        RAISE NOTICE 'the views, revenue_at_risk and history now use churn model "%" (settings.churn_model)', trained.name;
    ELSE
        in_use := (SELECT s.churn_model FROM health_score.settings s);
        IF in_use <> trained.name THEN
            RAISE NOTICE 'the views, revenue_at_risk and history still use churn model "%"', in_use
                USING HINT = format('UPDATE health_score.settings SET churn_model = %L switches them to this one.', trained.name);
        END IF;
    END IF;
    RETURN trained;
END
$$;

COMMENT ON FUNCTION health_score.train_account_churn_model(text, timestamptz, interval, text[], int, float8, float8, float8, int) IS
'Trains an account churn model from the accounts'' own history: the features are the sub-scores (0-100) of metrics (default: every enabled metric) at as_of, the label whether the account churned within horizon after as_of (churn_events: the end of its stay, after which it may come back); accounts live at as_of take part. A row without data for a metric (one whose absent_means is unknown) takes the metric''s mean sub-score over the rows with data, and the indicator term metric:missing (1 on such rows) is added, so no row is lost; when the rows without data for a metric all churned or all stayed they are skipped instead (an indicator would separate them). churn_models.imputation and rows_imputed record what was done, with a NOTICE per metric; every prediction applies the same rule. With snapshots > 1 the dates as_of - horizon, as_of - 2 x horizon, ... add one row per account live then (more churn events for a small book; rows of one account are not independent, so the standard errors are optimistic). as_of + horizon must be in the past and within the data: at most midnight at the end of data_through() (settings.data_through, by default the day of the latest observation), else an error (22023). Other arguments and errors as train_churn_model. The first account model trained becomes the one the views, revenue_at_risk and history use (settings.churn_model); training another name does not switch them.';

-- Which account model the dashboards use is explicit (settings.churn_model), and account
-- models are refused a churn window that ends after the data (data_through()).
CREATE FUNCTION health_score.data_through()
RETURNS date
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    day date := (SELECT s.data_through FROM health_score.settings s);
    latest timestamptz;
BEGIN
    IF day IS NULL THEN
        -- Up to now: an observation dated in the future is no sign of data to come.
        EXECUTE format('SELECT max(o.observed_at) FROM (%s) o WHERE o.observed_at <= $1 AND NOT o.bad',
                       health_score.observations_sql())
           INTO latest USING now();
        day := latest::date;
    END IF;
    RETURN day;
END
$$;

COMMENT ON FUNCTION health_score.data_through() IS
'The last day the data are complete for: settings.data_through when set, else the day (session time zone) of the latest observation up to now in the observations table and the feeds (a feed''s NaN or infinite rows left out); NULL without either. train_account_churn_model refuses a window as_of + horizon that ends after that day.';

CREATE FUNCTION health_score.account_churn_model()
RETURNS SETOF health_score.churn_models
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.*
      FROM health_score.churn_models c
      LEFT JOIN health_score.settings s ON true
     WHERE c.kind = 'account' AND c.active
       AND (s.churn_model IS NULL OR c.name = s.churn_model)
     ORDER BY c.trained_at DESC, c.name
     LIMIT 1
$$;

COMMENT ON FUNCTION health_score.account_churn_model() IS
'The account churn model the views, revenue_at_risk and history use: the active version of the model settings.churn_model names (the first account model trained writes its name there); no row when that is no active account model. While settings.churn_model is NULL, the newest active account model.';

-- account_churn_risk and revenue_at_risk gain columns (the intervals), which CREATE OR REPLACE
-- cannot do: the old functions are renamed, the views that read them (account_churn,
-- revenue_at_risk, and in the views part account_health and action_queue) are replaced by the
-- same views over the new ones, keeping their grants, comments and dependent materialized
-- views, and the old functions are dropped at the end of the views part.
-- Objects of the user's over the old functions would stop the drop with a message about
-- account_churn_risk_0_1_0: name them before anything changes.
DO $$
DECLARE
    users text;
BEGIN
    SELECT string_agg(DISTINCT coalesce(pg_catalog.format('%I.%I', n.nspname, c.relname),
                                        pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)), ', ')
      INTO users
      FROM pg_catalog.pg_depend d
      LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid
      LEFT JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'n'
       AND d.refobjid IN ('health_score.account_churn_risk(timestamptz, regclass)'::regprocedure,
                          'health_score.revenue_at_risk(timestamptz)'::regprocedure)
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                        WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass AND e.deptype = 'e'
                          AND ((e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = r.ev_class)
                               OR (e.classid = d.classid AND e.objid = d.objid)));
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'health_score 0.2.0 adds columns to the functions account_churn_risk and revenue_at_risk, and these read them: %', users
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop them, run ALTER EXTENSION health_score UPDATE, and create them again.';
    END IF;
END
$$;
-- The views show their figures as numeric with a fixed scale (views.sql), a change of column
-- types CREATE OR REPLACE VIEW cannot make: the views are dropped and created again (here and in
-- the views and history parts), and so are the dashboards' materialized copies over them (at the
-- end of the history part; they are refreshed as they are created). Objects of the user's over
-- them would stop the drop: name them before anything changes.
DO $$
DECLARE
    users text;
BEGIN
    SELECT string_agg(DISTINCT coalesce(pg_catalog.format('%I.%I', n.nspname, c.relname),
                                        pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)), ', ')
      INTO users
      FROM pg_catalog.pg_depend d
      LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid
      LEFT JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'n'
       AND d.refobjid IN (SELECT v.oid FROM pg_catalog.pg_class v
                           WHERE v.relnamespace = 'health_score'::regnamespace
                             AND v.relname IN ('revenue_at_risk', 'account_churn', 'account_health', 'dimension_breakdown',
                                             'band_summary', 'action_queue', 'upsell_candidates', 'score_trends',
                                             'band_changes', 'alerts', 'account_health_mv', 'dimension_breakdown_mv',
                                             'band_summary_mv', 'action_queue_mv', 'upsell_candidates_mv', 'score_trends_mv',
                                             'alerts_mv'))
       AND d.objid <> d.refobjid AND r.ev_class IS DISTINCT FROM d.refobjid
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                        WHERE e.refclassid = 'pg_catalog.pg_extension'::regclass AND e.deptype = 'e'
                          AND ((e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = r.ev_class)
                               OR (e.classid = d.classid AND e.objid = d.objid)));
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'health_score 0.2.0 changes the column types of its views (their figures become numeric), and these read them: %', users
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop them, run ALTER EXTENSION health_score UPDATE, and create them again.';
    END IF;
END
$$;
ALTER FUNCTION health_score.account_churn_risk(timestamptz, regclass) RENAME TO account_churn_risk_0_1_0;
ALTER FUNCTION health_score.revenue_at_risk(timestamptz) RENAME TO revenue_at_risk_0_1_0;

CREATE FUNCTION health_score.account_churn_risk(as_of timestamptz DEFAULT now(), metric_rows regclass DEFAULT NULL)
RETURNS TABLE (account_id text, churn_risk float8, model text, model_version int,
               missing_metrics text[], top_drivers text, churn_risk_low float8, churn_risk_high float8,
               imputed_metrics text[])
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
    d record;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    SELECT * INTO m FROM health_score.account_churn_model();
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The model's features from the sub-scores, as in training: g.missing are the metrics
    -- without data that the model cannot impute (no risk then), g.imputed those it did.
    d := health_score.account_model_design(m, 'f.x');
    -- The features first (on Citus, grouped on the shards): Citus plans no correlated subquery
    -- in a subquery without FROM, as g below, over a distributed table. Without the label
    -- (churned_on), whose join with churn_events the planner then drops.
    RETURN QUERY EXECUTE format($q$
        WITH f AS MATERIALIZED (SELECT f.account_id, f.x, f.missing FROM (%s) f)
        SELECT f.account_id,
               CASE WHEN g.missing IS NULL THEN 100 * health_score.logit_predict($2, g.x) END,
               $3, $4, g.missing,
               CASE WHEN g.missing IS NULL THEN
                   (SELECT string_agg(format('%%s %%s', t.metric, to_char(t.c, 'FMSG990.00')), ', ' ORDER BY t.c DESC)
                      FROM (SELECT u.metric, $2[u.i + 1] * (u.v - $5[u.i]) AS c
                              FROM unnest($6, g.x) WITH ORDINALITY AS u(metric, v, i)
                             WHERE u.i <= $9 OR u.v = 1   -- an indicator term only when it is set
                             ORDER BY 2 DESC LIMIT 3) t
                     -- as shown, to the hundredth: an imputed metric's term (its training
                     -- mean less the center, the same mean) is 0 give or take the order of
                     -- a sum, which is no driver
                     WHERE round(t.c::numeric, 2) > 0)
               END,
               100 * i.iv[2], 100 * i.iv[3], g.imputed
          FROM f
         CROSS JOIN LATERAL (
               SELECT ARRAY[%s]::float8[] AS x,
                      (SELECT array_agg(u.v ORDER BY u.o) FROM unnest(f.missing) WITH ORDINALITY AS u(v, o)
                        WHERE u.v <> ALL ($8)) AS missing,
                      (SELECT array_agg(u.v ORDER BY u.o) FROM unnest(f.missing) WITH ORDINALITY AS u(v, o)
                        WHERE u.v = ANY ($8)) AS imputed) g
         CROSS JOIN LATERAL (SELECT CASE WHEN g.missing IS NULL
                                         THEN health_score.logit_predict_interval($2, $7, g.x) END AS iv) i
         ORDER BY f.account_id$q$,
        CASE WHEN metric_rows IS NULL THEN health_score.account_features_sql(d.metrics)
             ELSE health_score.account_features_sql(d.metrics, metric_rows::text) END,
        array_to_string(d.exprs, ', '))
        USING as_of, m.coefficients, m.name, m.version, m.center, m.features, m.covariance, d.imputed,
              cardinality(d.metrics);
END
$$;

COMMENT ON FUNCTION health_score.account_churn_risk(timestamptz, regclass) IS
'Churn risk 0-100 % of every account live at as_of under the account churn model the dashboards use (account_churn_model(): the one settings.churn_model names), from the account''s metric sub-scores at as_of (read from metric_rows, a table of metric_scores(as_of) rows, when given). A metric without data that the model imputes (churn_models.imputation) takes its training mean and its indicator term metric:missing is 1, as in training (imputed_metrics names those); NULL when a metric the model needs had no data and the model does not impute it (missing_metrics names them). top_drivers lists up to three terms (an indicator term only when set) that push the risk above the average account''s, with their contribution to the log-odds (at least +0.01 rounded: a smaller one is none). churn_risk_low and churn_risk_high bound the 95 % confidence interval of churn_risk (delta method on the log-odds, as churn_probability_interval); NULL with churn_risk, and for a model trained before 0.2.0, which has no covariance matrix. An empty result when there is no such model. The model is today''s: for an as_of before the end of its training window (as_of + horizon) the risk is in-sample, which snapshot() does not record.';

CREATE OR REPLACE FUNCTION health_score.account_churn_drivers(account_id text, as_of timestamptz DEFAULT now())
RETURNS TABLE (rank int, metric text, sub_score float8, average float8, coefficient float8,
               contribution float8, odds_multiplier float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
    d record;
    x float8[];
    in_use text;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    SELECT * INTO m FROM health_score.account_churn_model();
    IF NOT FOUND THEN
        in_use := (SELECT s.churn_model FROM health_score.settings s);
        IF in_use IS NOT NULL THEN
            RAISE EXCEPTION 'settings.churn_model names "%", which is no active account churn model', in_use
                USING ERRCODE = 'undefined_object',
                      HINT = 'Train it with train_account_churn_model, or name another account model in health_score.settings.churn_model.';
        END IF;
        RAISE EXCEPTION 'no account churn model has been trained' USING ERRCODE = 'undefined_object',
            HINT = 'Train one with train_account_churn_model.';
    END IF;
    d := health_score.account_model_design(m, 'f.x');
    EXECUTE format('SELECT ARRAY[%s]::float8[] FROM (%s) f WHERE f.account_id = $2',
                   array_to_string(d.exprs, ', '), health_score.account_features_sql(d.metrics))
       INTO x USING as_of, account_id;
    IF x IS NULL THEN
        RAISE EXCEPTION 'account "%" is not live at %', account_id, as_of USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY SELECT * FROM health_score.churn_drivers(m.name, x);
END
$$;

COMMENT ON FUNCTION health_score.account_churn_drivers(text, timestamptz) IS
'Why an account is at risk, under the account churn model the dashboards use (account_churn_model()): each term''s contribution to the log-odds of churn relative to the average account (coefficient x (sub-score - average sub-score)), largest push towards churn first (see churn_drivers). A metric without data that the model imputes has its training mean (contribution 0) and its indicator term metric:missing the value 1, as in account_churn_risk.';

-- PL/pgSQL, not SQL: Citus cannot plan a SQL function's query with parameters on distributed
-- tables, and PL/pgSQL passes them as values. Columns win over same-named parameters, as in SQL.
CREATE FUNCTION health_score.revenue_at_risk(as_of timestamptz DEFAULT now())
RETURNS TABLE (grouping_by text, group_value text, accounts bigint, accounts_with_risk bigint,
               mrr numeric, mrr_with_risk numeric, revenue_at_risk float8, risk_share float8,
               revenue_at_risk_low float8, revenue_at_risk_high float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN RETURN QUERY
    -- the accounts' rows first: Citus runs no GROUPING SETS over a distributed table
    WITH a AS MATERIALIZED (
        SELECT s.band, a.segment, a.owner, a.mrr, r.churn_risk, r.churn_risk_low, r.churn_risk_high
          FROM health_score.account_scores(as_of) s
          JOIN health_score.live_accounts(as_of) a ON a.account_id = s.account_id
          LEFT JOIN health_score.account_churn_risk(as_of) r ON r.account_id = s.account_id
    )
    SELECT CASE WHEN grouping(a.band, a.segment, a.owner) = 7 THEN 'all'
                WHEN grouping(a.band) = 0 THEN 'band'
                WHEN grouping(a.segment) = 0 THEN 'segment'
                ELSE 'owner' END,
           coalesce(a.band, a.segment, a.owner::text),
           count(*), count(a.churn_risk),
           sum(a.mrr), sum(a.mrr) FILTER (WHERE a.churn_risk IS NOT NULL),
           sum(a.mrr::float8 * a.churn_risk / 100),
           sum(a.mrr::float8 * a.churn_risk / 100) / nullif(sum(a.mrr::float8) FILTER (WHERE a.churn_risk IS NOT NULL), 0),
           sum(a.mrr::float8 * a.churn_risk_low / 100), sum(a.mrr::float8 * a.churn_risk_high / 100)
      FROM a
     GROUP BY GROUPING SETS ((), (a.band), (a.segment), (a.owner))
     ORDER BY 1, 7 DESC NULLS LAST, 2;
END
$$;

COMMENT ON FUNCTION health_score.revenue_at_risk(timestamptz) IS
'Revenue at risk at as_of: the sum over accounts of MRR (of the period covering as_of, live_accounts) x churn probability (account_churn_risk), in total (grouping_by all) and by band, segment and owner (group_value NULL: accounts without a band, segment or owner). Accounts without a known risk or MRR add nothing; accounts_with_risk and mrr_with_risk say how much of the book the figure covers, risk_share = revenue_at_risk / mrr_with_risk. revenue_at_risk_low and revenue_at_risk_high sum MRR x the low and high ends of each account''s 95 % interval (account_churn_risk): a conservative range, wider than a joint 95 % interval of the sum, as the accounts'' bounds are added as if all errors went the same way; NULL when the model has no covariance matrix (trained before 0.2.0).';

DROP VIEW health_score.revenue_at_risk;
CREATE VIEW health_score.revenue_at_risk AS
SELECT r.grouping_by, r.group_value, r.accounts, r.accounts_with_risk,
       r.mrr::numeric(18,2) AS mrr, r.mrr_with_risk::numeric(18,2) AS mrr_with_risk,
       r.revenue_at_risk::numeric(18,2) AS revenue_at_risk, r.risk_share::numeric(18,4) AS risk_share,
       r.revenue_at_risk_low::numeric(18,2) AS revenue_at_risk_low,
       r.revenue_at_risk_high::numeric(18,2) AS revenue_at_risk_high
  FROM health_score.revenue_at_risk(
           health_score.current_as_of()) r;

COMMENT ON VIEW health_score.revenue_at_risk IS
'Revenue at risk now (or at the setting health_score.as_of): MRR x churn probability summed in total and by band, segment and owner.';
COMMENT ON COLUMN health_score.revenue_at_risk.grouping_by IS 'all, band, segment or owner.';
COMMENT ON COLUMN health_score.revenue_at_risk.group_value IS 'The band, segment or owner; NULL for accounts without one (and for the total).';
COMMENT ON COLUMN health_score.revenue_at_risk.accounts IS 'Live accounts in the group.';
COMMENT ON COLUMN health_score.revenue_at_risk.accounts_with_risk IS 'Of those, accounts with a known churn risk.';
COMMENT ON COLUMN health_score.revenue_at_risk.mrr IS 'Monthly recurring revenue of the group at as_of (each account''s period covering it).';
COMMENT ON COLUMN health_score.revenue_at_risk.mrr_with_risk IS 'MRR of the accounts with a known churn risk.';
COMMENT ON COLUMN health_score.revenue_at_risk.revenue_at_risk IS 'Sum of MRR x churn probability: the monthly revenue expected to be lost.';
COMMENT ON COLUMN health_score.revenue_at_risk.risk_share IS 'revenue_at_risk / mrr_with_risk: the MRR-weighted churn probability.';
COMMENT ON COLUMN health_score.revenue_at_risk.revenue_at_risk_low IS 'Sum of MRR x the low end of each account''s 95 % churn-risk interval: the low end of a conservative range (not a joint interval of the sum); NULL when the model has no covariance matrix.';
COMMENT ON COLUMN health_score.revenue_at_risk.revenue_at_risk_high IS 'Sum of MRR x the high end of each account''s 95 % churn-risk interval: the high end of a conservative range (not a joint interval of the sum); NULL when the model has no covariance matrix.';

DROP VIEW health_score.account_churn;
CREATE VIEW health_score.account_churn AS
SELECT a.account_id, a.name, a.segment, a.owner, a.mrr::numeric(18,2) AS mrr,
       s.score::numeric(18,2) AS score, s.band, r.churn_risk::numeric(18,2) AS churn_risk,
       (a.mrr::float8 * r.churn_risk / 100)::numeric(18,2) AS revenue_at_risk, r.top_drivers,
       r.missing_metrics, array_to_string(r.missing_metrics, ', ') AS missing_metrics_text, r.model, r.model_version,
       r.churn_risk_low::numeric(18,2) AS churn_risk_low, r.churn_risk_high::numeric(18,2) AS churn_risk_high,
       (a.mrr::float8 * r.churn_risk_low / 100)::numeric(18,2) AS revenue_at_risk_low,
       (a.mrr::float8 * r.churn_risk_high / 100)::numeric(18,2) AS revenue_at_risk_high,
       r.imputed_metrics, array_to_string(r.imputed_metrics, ', ') AS imputed_metrics_text
  FROM health_score.account_churn_risk(
           health_score.current_as_of()) r
  JOIN health_score.live_accounts(
           health_score.current_as_of()) a ON a.account_id = r.account_id
  LEFT JOIN health_score.account_scores(
           health_score.current_as_of()) s
    ON s.account_id = r.account_id
 ORDER BY r.churn_risk DESC NULLS LAST, a.account_id;

COMMENT ON VIEW health_score.account_churn IS
'Every live account with its churn risk and its 95 % interval under the account churn model the dashboards use (account_churn_model(), named by settings.churn_model), highest risk first, beside its health score: MRR at risk (with its range) and the metrics that drive the risk. Empty until an account model is trained.';
COMMENT ON COLUMN health_score.account_churn.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.account_churn.name IS 'Display name.';
COMMENT ON COLUMN health_score.account_churn.segment IS 'Segment.';
COMMENT ON COLUMN health_score.account_churn.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.account_churn.mrr IS 'Monthly recurring revenue of the period covering the scoring time.';
COMMENT ON COLUMN health_score.account_churn.score IS 'Health score 0-100.';
COMMENT ON COLUMN health_score.account_churn.band IS 'Action band.';
COMMENT ON COLUMN health_score.account_churn.churn_risk IS 'Churn risk 0-100 %; NULL when a metric the model needs had no data and the model does not impute it.';
COMMENT ON COLUMN health_score.account_churn.revenue_at_risk IS 'MRR x churn probability.';
COMMENT ON COLUMN health_score.account_churn.top_drivers IS 'Up to three metrics pushing the risk above the average account''s, with their contribution to the log-odds.';
COMMENT ON COLUMN health_score.account_churn.missing_metrics IS 'Metrics the model needs that had no data and that it does not impute (then churn_risk is NULL).';
COMMENT ON COLUMN health_score.account_churn.missing_metrics_text IS 'The same metrics as text, separated by comma and space (for BI tools, which do not read arrays).';
COMMENT ON COLUMN health_score.account_churn.model IS 'The account churn model used (settings.churn_model).';
COMMENT ON COLUMN health_score.account_churn.model_version IS 'Its version.';
COMMENT ON COLUMN health_score.account_churn.churn_risk_low IS 'Low end of the 95 % confidence interval of churn_risk (delta method on the log-odds); NULL with churn_risk, or when the model has no covariance matrix (trained before 0.2.0).';
COMMENT ON COLUMN health_score.account_churn.churn_risk_high IS 'High end of the 95 % confidence interval of churn_risk; NULL as churn_risk_low.';
COMMENT ON COLUMN health_score.account_churn.revenue_at_risk_low IS 'MRR x churn_risk_low.';
COMMENT ON COLUMN health_score.account_churn.revenue_at_risk_high IS 'MRR x churn_risk_high.';

-- Account models: the label is the end of the stay an account is in (churn_events).
CREATE OR REPLACE FUNCTION health_score.account_features_sql(metrics text[],
                                                  metric_rows text DEFAULT '(SELECT * FROM health_score.metric_scores($1))')
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- churned_on: the end of the stay the account is in at as_of, its first churn after as_of.
    -- A reader that does not use it (the risk) loses the join: the planner removes it.
    SELECT format($q$
        SELECT f.account_id, c.churned_on, f.x, f.missing
          FROM (SELECT a.account_id,
                       array_agg(ms.sub_score ORDER BY u.i) AS x,
                       array_agg(u.metric ORDER BY u.i) FILTER (WHERE ms.sub_score IS NULL) AS missing
                  FROM (%s) a
                 CROSS JOIN unnest(%L::text[]) WITH ORDINALITY AS u(metric, i)
                  LEFT JOIN %s ms
                    ON ms.account_id = a.account_id AND ms.metric = u.metric
                 GROUP BY a.account_id) f
          LEFT JOIN (SELECT e.account_id, min(e.churned_on) AS churned_on
                       FROM health_score.churn_events e
                      WHERE e.churned_on > $1
                      GROUP BY e.account_id) c ON c.account_id = f.account_id$q$,
        health_score.live_accounts_sql(), metrics, metric_rows)
$$;

COMMENT ON FUNCTION health_score.account_features_sql(text[], text) IS
'The query (parameter $1: as_of) giving, per account live at as_of, its sub-score of each metric (in order, NULL when the metric had no data), the metrics missing, and churned_on, the end of the stay it is in (its first churn after as_of in churn_events; NULL: none yet): the features and label of an account churn model. metric_rows: where the sub-scores come from, by default metric_scores($1).';
COMMENT ON COLUMN health_score.account_churn.imputed_metrics IS 'Metrics without data that the model imputed, as in training: the training mean, with the indicator term metric:missing set (churn_models.imputation).';
COMMENT ON COLUMN health_score.account_churn.imputed_metrics_text IS 'The same metrics as text, separated by comma and space (for BI tools, which do not read arrays).';

-- apply_suggested_weights(model): suggest_weights written into the catalog. Metric weights are
-- relative within their dimension, so the model's metrics of a dimension share out the weight
-- they hold together now, in the model's proportions (weight_in_dimension): the shares within
-- the dimension are the suggested ones, while the dimension weights, the metrics the model did
-- not use and the segment overrides keep their meaning. One UPDATE of metrics, so the
-- configuration version moves on once.
CREATE FUNCTION health_score.apply_suggested_weights(model text, wrong_way text DEFAULT 'keep')
RETURNS TABLE (metric text, dimension text, old_weight float8, new_weight float8, weight_in_dimension float8,
               suggested_weight float8, enabled boolean, note text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
    features text[];
    shares float8[];
    overall float8[];
    notes text[];
    bad text;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF wrong_way IS DISTINCT FROM 'keep' AND wrong_way IS DISTINCT FROM 'disable' THEN
        RAISE EXCEPTION 'wrong_way must be keep or disable, got %', coalesce(quote_literal(wrong_way), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    m := health_score.churn_model(model);
    IF m.kind <> 'account' THEN
        RAISE EXCEPTION 'churn model "%" is a table model: its features are columns of %, not metrics', model, m.source
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Train an account model on the metrics with train_account_churn_model.';
    END IF;
    -- Lock the metrics (refused without the right to update them): the weights read as the old
    -- ones are those replaced.
    PERFORM 1 FROM health_score.metrics mt FOR UPDATE;
    SELECT string_agg(format('"%s"', f), ', ') INTO bad
      FROM unnest(m.features, m.feature_columns) AS u(f, c)
     WHERE f = c   -- the metrics, not their indicator terms
       AND NOT EXISTS (SELECT 1 FROM health_score.metrics mt WHERE mt.name = f);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'churn model "%" learned from %, no longer in health_score.metrics', model, bad
            USING ERRCODE = 'undefined_object', HINT = 'Retrain the model on the metrics there are now.';
    END IF;
    -- The suggestion, read once: every step below uses the same.
    SELECT array_agg(s.feature ORDER BY s.feature), array_agg(s.weight_in_dimension ORDER BY s.feature),
           array_agg(s.suggested_weight ORDER BY s.feature), array_agg(s.note ORDER BY s.feature)
      INTO features, shares, overall, notes
      FROM health_score.suggest_weights(model) s;
    IF NOT EXISTS (SELECT 1 FROM unnest(shares) w WHERE w IS NOT NULL) THEN
        RAISE EXCEPTION 'churn model "%" suggests no weight: for each of its metrics a higher sub-score went with more churn', model
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Check the metrics'' curves and direction (suggest_weights shows the coefficients), then retrain.';
    END IF;
    SELECT string_agg(format('"%s"', u.f), ', ' ORDER BY u.f) INTO bad
      FROM unnest(features, shares) u(f, w)
      JOIN health_score.metrics mt ON mt.name = u.f
     WHERE NOT mt.enabled AND u.w IS NOT NULL;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'churn model "%" gives weight to %, now disabled', model, bad
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Enable the metrics again, or train a model without them.';
    END IF;
    SELECT string_agg(mt.name, ', ' ORDER BY mt.name) INTO bad
      FROM health_score.metrics mt WHERE mt.enabled AND mt.name <> ALL (features);
    IF bad IS NOT NULL THEN
        RAISE NOTICE 'enabled metrics not in churn model "%" keep their weights: %', model, bad;
    END IF;

    RETURN QUERY
    WITH s AS (
        SELECT u.f AS metric, u.w AS share, u.o AS overall, u.note, mt.dimension, mt.weight, mt.enabled
          FROM unnest(features, shares, overall, notes) AS u(f, w, o, note)
          JOIN health_score.metrics mt ON mt.name = u.f
    ), held AS (
        -- the weight the model's enabled metrics hold together in each dimension, less what the
        -- metrics it gives no weight keep (with wrong_way = keep)
        SELECT s.dimension,
               sum(s.weight) - CASE WHEN wrong_way = 'keep' THEN coalesce(sum(s.weight) FILTER (WHERE s.share IS NULL), 0)
                                    ELSE 0 END AS total
          FROM s WHERE s.enabled GROUP BY s.dimension
    ), changed AS (
        UPDATE health_score.metrics mt
           SET weight = CASE WHEN s.share IS NULL THEN mt.weight ELSE s.share * h.total END,
               enabled = s.share IS NOT NULL
          FROM s JOIN held h ON h.dimension = s.dimension
         WHERE mt.name = s.metric AND s.enabled AND (s.share IS NOT NULL OR wrong_way = 'disable')
        RETURNING mt.name, mt.weight, mt.enabled
    ), overrides AS (
        SELECT sw.metric, string_agg(format('%s %s', sw.segment, sw.weight), ', ' ORDER BY sw.segment) AS segments
          FROM health_score.segment_metric_weights sw
         WHERE sw.metric = ANY (features)
         GROUP BY sw.metric
    )
    SELECT s.metric, s.dimension, s.weight, coalesce(c.weight, s.weight), s.share, s.overall,
           coalesce(c.enabled, s.enabled),
           nullif(concat_ws('; ',
               CASE WHEN s.share IS NOT NULL THEN s.note
                    WHEN NOT s.enabled THEN 'higher sub-scores went with more churn: left disabled'
                    WHEN wrong_way = 'disable' THEN 'higher sub-scores went with more churn: disabled'
                    ELSE 'higher sub-scores went with more churn: keeps its weight (check its curve, or leave it out)' END,
               CASE WHEN o.segments IS NOT NULL AND s.share IS NOT NULL
                    THEN 'segment_metric_weights keep their own weight for ' || o.segments END), '')
      FROM s
      LEFT JOIN changed c ON c.name = s.metric
      LEFT JOIN overrides o ON o.metric = s.metric
     ORDER BY s.dimension, s.share DESC NULLS LAST, s.metric;
END
$$;

COMMENT ON FUNCTION health_score.apply_suggested_weights(text, text) IS
'Writes suggest_weights(model) into health_score.metrics in one statement (the configuration version moves on once) and returns, per metric of the model, its old and new weight, the shares applied and what else happened. In each dimension the model''s metrics share out the weight they hold together in the proportions weight_in_dimension, so that their shares within the dimension are exactly the suggested ones; dimension weights, the metrics the model did not use and segment_metric_weights stay as they are. A metric the model gives no weight (its higher sub-score went with more churn) keeps its weight, like a metric the model did not use (wrong_way = keep), or is disabled (wrong_way = disable; an account model that uses it then scores no account until retrained). Refused for an unknown or table model, a model whose metrics are gone or disabled, or one that gives no metric a weight. Needs the right to update health_score.metrics.';

-- Categorical features and text labels: each model records how its columns were encoded
-- (models of 0.1.0 had numeric and boolean columns only: each term is its own column).
-- (The default is set after the rows are filled: added with the column, it would stay in the
-- catalog as the value of the rows before, which a fresh install does not have.)
ALTER TABLE health_score.churn_models ADD COLUMN feature_columns text[], ADD COLUMN feature_levels text[],
    ADD COLUMN reference_levels jsonb, ADD COLUMN positive_label text;
UPDATE health_score.churn_models
   SET feature_columns = features, feature_levels = array_fill(NULL::text, ARRAY[cardinality(features)]),
       reference_levels = '{}';
ALTER TABLE health_score.churn_models ALTER COLUMN feature_columns SET NOT NULL,
    ALTER COLUMN feature_levels SET NOT NULL, ALTER COLUMN reference_levels SET NOT NULL,
    ALTER COLUMN reference_levels SET DEFAULT '{}';
ALTER TABLE health_score.churn_model_terms ADD COLUMN feature_column text, ADD COLUMN level text;
UPDATE health_score.churn_model_terms SET feature_column = term WHERE position > 0;
COMMENT ON COLUMN health_score.churn_models.label IS 'The churn label: a boolean or 0/1 column, a text or enum column whose value positive_label means churned, or how account churn was defined.';
COMMENT ON COLUMN health_score.churn_models.features IS 'Term names, in the order of coefficients[2:] and of the features array churn_probability takes: a numeric or boolean column''s name, and column=level for each level of a text or enum column but its reference level.';
COMMENT ON COLUMN health_score.churn_models.feature_columns IS 'For each term of features, the column (or metric) it is made from.';
COMMENT ON COLUMN health_score.churn_models.feature_levels IS 'For each term of features, the level of a text or enum column whose 0/1 indicator it is; NULL for a numeric or boolean column.';
COMMENT ON COLUMN health_score.churn_models.reference_levels IS 'The reference level of each text or enum column, {"column": "level"}: the level without a term, which the other levels'' coefficients compare against; {} when there is none.';
COMMENT ON COLUMN health_score.churn_models.positive_label IS 'A text or enum label: the value that means churned. NULL for a boolean or 0/1 label.';
COMMENT ON COLUMN health_score.churn_model_terms.term IS 'Feature name: the column, or column=level for a level of a text or enum column; or (intercept).';
COMMENT ON COLUMN health_score.churn_model_terms.feature_column IS 'The column (or metric) the term is made from; NULL for the intercept.';
COMMENT ON COLUMN health_score.churn_model_terms.level IS 'For a level of a text or enum column, the level (the coefficient compares it with the reference level, churn_models.reference_levels); else NULL.';
-- The covariance matrix of the coefficients, stored by trainings from 0.2.0 on.
ALTER TABLE health_score.churn_models ADD COLUMN covariance float8[];
COMMENT ON COLUMN health_score.churn_models.covariance IS 'Covariance matrix of the coefficients, row-major (p+1) x (p+1), intercept first, on the original scale of the features like coefficients (the inverse information matrix; penalised when l2 > 0): its diagonal is std_errors squared; the intervals of churn_probability_interval and account_churn_risk come from it. NULL for a model trained before 0.2.0, which did not store it: its intervals are NULL until it is trained again.';

-- Account models lose no rows for a missing metric: what each training imputed is recorded
-- (models trained before imputed nothing). The defaults are set after the rows are filled, as
-- above.
ALTER TABLE health_score.churn_models ADD COLUMN imputation jsonb, ADD COLUMN rows_imputed bigint;
UPDATE health_score.churn_models SET imputation = '{}', rows_imputed = 0;
ALTER TABLE health_score.churn_models ALTER COLUMN imputation SET NOT NULL, ALTER COLUMN rows_imputed SET NOT NULL,
    ALTER COLUMN imputation SET DEFAULT '{}', ALTER COLUMN rows_imputed SET DEFAULT 0;
COMMENT ON COLUMN health_score.churn_models.imputation IS 'Account models: each metric that had no data on some training rows, {"metric": {"missing": those rows, "missing_churned": of them, those that churned, "value": the value they were given, "indicator": the 0/1 term that marks them}}. value is the mean sub-score of the rows used that have data, indicator the term metric:missing (shared by the metrics without data on the same rows, named after the first); both are NULL when those rows all churned or all stayed (an indicator would separate them): they were skipped, and an account without data for that metric gets no risk. The counts are over the rows used or, for a metric whose rows were skipped, over the rows not skipped already for another. Predictions apply the same rule. {} for table models and when every row had every metric.';
COMMENT ON COLUMN health_score.churn_models.rows_imputed IS 'Account models: rows used with at least one metric given its imputed value (see imputation); 0 for table models.';

-- account_training(...): the arguments of an account model's training checked, and its rows:
-- pg_temp.health_score_account_training (account_id, snapshot_at, x: the sub-scores of the
-- metrics in order, churned), dropped at commit. Returns the metrics. Shared by
-- train_account_churn_model and account_churn_cross_validate.
CREATE FUNCTION health_score.account_training(as_of timestamptz, horizon interval, metrics text[], snapshots int,
                                              max_iter int, tol float8, l2 float8, ridge_fallback float8)
RETURNS text[]
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chosen text[] := metrics;
    data_end date;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    IF snapshots IS NULL OR snapshots < 1 OR snapshots > 120 THEN
        RAISE EXCEPTION 'snapshots must be between 1 and 120, got %', coalesce(snapshots::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'horizon must be a positive interval, got %', coalesce(horizon::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- From any as_of, a horizon of more than 10,000 years ends after today (and adding it could
    -- leave the range of timestamps); the earliest snapshot date must be a timestamp too.
    IF horizon > interval '10000 years' OR as_of + horizon > now() THEN
        RAISE EXCEPTION 'as_of + horizon (% + %) is in the future: the accounts that will churn by then are not known yet', as_of, horizon
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Train on an earlier as_of, or a shorter horizon.';
    END IF;
    BEGIN
        PERFORM as_of - (snapshots - 1) * horizon;
    EXCEPTION WHEN datetime_field_overflow THEN
        RAISE EXCEPTION 'the earliest snapshot date, as_of - (snapshots - 1) x horizon (% - % x %), is before the first timestamp', as_of, snapshots - 1, horizon
            USING ERRCODE = 'datetime_field_overflow', HINT = 'Take fewer snapshots or a shorter horizon.';
    END;
    IF chosen IS NULL THEN
        SELECT array_agg(m.name ORDER BY m.name) INTO chosen FROM health_score.metrics m WHERE m.enabled;
        IF chosen IS NULL THEN
            RAISE EXCEPTION 'no enabled metric in health_score.metrics' USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    PERFORM health_score.check_metric_names(chosen);
    -- The labels are the churn dates up to as_of + horizon (the scoring's point in time: an
    -- account with churned_on d is gone at midnight at the start of d), so data complete
    -- through a day hold them up to midnight at the end of that day.
    data_end := health_score.data_through();
    IF data_end IS NULL THEN
        RAISE EXCEPTION 'the end of the data is unknown: there are no observations'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Load observations, or set health_score.settings.data_through to the last day the data are complete for.';
    END IF;
    IF as_of + horizon > (data_end + 1)::timestamptz THEN
        RAISE EXCEPTION 'as_of + horizon (% + % = %) is after the end of the data (%, %): who churns in that window is not in the data yet',
                        as_of, horizon, as_of + horizon, to_char(data_end, 'YYYY-MM-DD'),
                        CASE WHEN (SELECT s.data_through FROM health_score.settings s) IS NOT NULL
                             THEN 'settings.data_through' ELSE 'the day of the latest observation' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Train on an as_of up to %s or a shorter horizon; when the observations and churn dates are complete to a later day, set health_score.settings.data_through to it.',
                                (data_end + 1)::timestamptz - horizon);
    END IF;

    -- The fit's own arguments too, before any data is read (churn_train checks them again).
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2, ridge_fallback);

    -- The training rows, computed once: every pass of the fit reads them again.
    IF to_regclass('pg_temp.health_score_account_training') IS NOT NULL THEN
        DROP TABLE pg_temp.health_score_account_training;
    END IF;
    -- One row per account live at each snapshot date: as_of, as_of - horizon, as_of - 2 horizon, ...
    -- (label windows that do not overlap; an account that churned drops out of later dates).
    CREATE TEMP TABLE health_score_account_training (account_id text, snapshot_at timestamptz,
                                                     x float8[], churned boolean) ON COMMIT DROP;
    FOR i IN 0..snapshots - 1 LOOP
        EXECUTE format('INSERT INTO pg_temp.health_score_account_training
                        SELECT f.account_id, $1, f.x, f.churned_on IS NOT NULL AND f.churned_on <= $1 + $2
                          FROM (%s) f', health_score.account_features_sql(chosen))
            USING as_of - i * horizon, horizon;
    END LOOP;
    RETURN chosen;
END
$$;

COMMENT ON FUNCTION health_score.account_training(timestamptz, interval, text[], int, int, float8, float8, float8) IS
'Checks the arguments of an account model''s training (as train_account_churn_model documents them) and writes its rows into the temporary table health_score_account_training (account_id, snapshot_at, x: the sub-scores of the metrics in order, NULL without data, churned), dropped at commit; returns the metrics (metrics, or every enabled metric).';

-- account_imputation(training, metrics): how the training rows without data for a metric are
-- handled. A row is not skipped for lack of one metric: it takes the mean sub-score of the rows
-- with data and a 0/1 indicator term, metric:missing, whose coefficient learns what having no
-- data says about churn (with the indicator in the model the value given does not change the
-- fit; the mean keeps the metric's own coefficient and driver readable). When the rows without
-- data all churned, or all stayed, the indicator's coefficient would be infinite: those rows
-- are skipped instead. training: a FROM clause with x (the sub-scores in the order of metrics)
-- and churned.
CREATE FUNCTION health_score.account_imputation(training text, metrics text[],
                                                OUT imputation jsonb, OUT rows_imputed bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := cardinality(metrics);
    total bigint;
    used bigint;
    missing bigint[];
    missing_churned bigint[];
    means float8[];
    same boolean[];                  -- same[(i - 1) * n + j]: i and j lack data on the same rows
    skip boolean[] := array_fill(false, ARRAY[n]);   -- recorded in imputation with the counts of its pass
    kept text := 'true';             -- the rows not skipped
    leader int[] := '{}';            -- the first metric of each indicator
    imputed text[] := '{}';
    lead int;
    again boolean := true;
BEGIN
    imputation := '{}';
    EXECUTE format('SELECT count(*), ARRAY[%s] FROM %s',
                   (SELECT string_agg(format('count(*) FILTER (WHERE s.x[%s] IS NULL)', i), ', ') FROM generate_series(1, n) i),
                   training)
       INTO total, missing;
    FOR i IN 1..n LOOP
        IF missing[i] = total AND total > 0 THEN
            RAISE EXCEPTION 'metric "%" has no data on any of the % training rows', metrics[i], total
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Leave it out of metrics, or load its observations.';
        END IF;
    END LOOP;
    -- Skipping the rows of one metric can leave another's rows without data of one class: the
    -- counts are taken again over the rows kept until no more metric is skipped.
    WHILE again LOOP
        EXECUTE format('SELECT count(*), ARRAY[%s], ARRAY[%s] FROM (SELECT s.x, s.churned FROM %s) s WHERE %s',
                       (SELECT string_agg(format('count(*) FILTER (WHERE s.x[%s] IS NULL)', i), ', ') FROM generate_series(1, n) i),
                       (SELECT string_agg(format('count(*) FILTER (WHERE s.x[%s] IS NULL AND s.churned)', i), ', ') FROM generate_series(1, n) i),
                       training, kept)
           INTO used, missing, missing_churned;
        again := false;
        FOR i IN 1..n LOOP
            IF NOT skip[i] AND missing[i] > 0 AND (missing_churned[i] = 0 OR missing_churned[i] = missing[i]) THEN
                skip[i] := true;
                kept := kept || format(' AND s.x[%s] IS NOT NULL', i);
                again := true;
                imputation := imputation || jsonb_build_object(metrics[i], jsonb_build_object(
                    'missing', missing[i], 'missing_churned', missing_churned[i], 'value', NULL, 'indicator', NULL));
            END IF;
        END LOOP;
    END LOOP;
    -- Over the rows kept: the means, and which metrics lack data on the same rows (their
    -- indicators would be equal, so collinear: they share one).
    EXECUTE format('SELECT ARRAY[%s]::float8[], ARRAY[%s]::boolean[] FROM (SELECT s.x, s.churned FROM %s) s WHERE %s',
                   (SELECT string_agg(format('avg(s.x[%s])', i), ', ') FROM generate_series(1, n) i),
                   (SELECT string_agg(CASE WHEN i < j THEN format('coalesce(bool_and((s.x[%s] IS NULL) = (s.x[%s] IS NULL)), true)', i, j)
                                           ELSE 'NULL' END, ', ' ORDER BY i, j)
                      FROM generate_series(1, n) i, generate_series(1, n) j),
                   training, kept)
       INTO means, same;
    FOR i IN 1..n LOOP
        CONTINUE WHEN missing[i] = 0 OR skip[i];
        lead := (SELECT min(l) FROM unnest(leader) l WHERE same[(l - 1) * n + i]);
        IF lead IS NULL THEN
            lead := i;
            leader := leader || i;
        END IF;
        imputation := imputation || jsonb_build_object(metrics[i], jsonb_build_object(
            'missing', missing[i], 'missing_churned', missing_churned[i],
            'value', means[i], 'indicator', metrics[lead] || ':missing'));
        imputed := imputed || format('s.x[%s] IS NULL', i);
    END LOOP;
    rows_imputed := 0;
    IF cardinality(imputed) > 0 THEN
        EXECUTE format('SELECT count(*) FROM (SELECT s.x FROM %s) s WHERE %s AND (%s)',
                       training, kept, array_to_string(imputed, ' OR '))
           INTO rows_imputed;
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.account_imputation(text, text[]) IS
'How the rows of an account model''s training (training: a FROM clause with x, the metrics'' sub-scores in order, and churned) that lack a metric are handled, as churn_models.imputation records it: each metric without data on some rows gets the mean sub-score of the rows with data and an indicator term metric:missing, shared by the metrics without data on exactly the same rows (named after the first of them), unless those rows all churned or all stayed (then they are skipped). rows_imputed: rows used with an imputed value. A metric without data on every row is an error (22023).';

-- account_design(metrics, imputation, x): the terms of an account model and the SQL expression
-- of each over x, the array of the metrics' sub-scores (NULL: no data): the metrics in order
-- (an imputed one with its value when NULL), then the indicator of each imputed metric.
-- Training, cross-validation and every prediction build their features here, so they agree.
CREATE FUNCTION health_score.account_design(metrics text[], imputation jsonb, x text,
                                            OUT exprs text[], OUT terms text[], OUT term_columns text[])
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH u AS (
        SELECT u.metric, u.i, imputation -> u.metric ->> 'value' AS value, imputation -> u.metric ->> 'indicator' AS indicator
          FROM unnest(metrics) WITH ORDINALITY AS u(metric, i))
    SELECT array_agg(d.expr ORDER BY d.o, d.i), array_agg(d.term ORDER BY d.o, d.i),
           array_agg(d.metric ORDER BY d.o, d.i)
      FROM (SELECT u.i, 0 AS o, u.metric, u.metric AS term,
                   CASE WHEN u.value IS NULL THEN format('%s[%s]', x, u.i)
                        ELSE format('coalesce(%s[%s], %L::float8)', x, u.i, u.value) END AS expr
              FROM u
            UNION ALL
            SELECT min(u.i), 1, (array_agg(u.metric ORDER BY u.i))[1], u.indicator,
                   format('(%s)::int::float8', string_agg(format('%s[%s] IS NULL', x, u.i), ' OR ' ORDER BY u.i))
              FROM u WHERE u.value IS NOT NULL
             GROUP BY u.indicator) d
$$;

COMMENT ON FUNCTION health_score.account_design(text[], jsonb, text) IS
'The terms of an account model over metrics with imputation (churn_models.imputation), the metric each is made from, and the SQL expression of each over x (an array of the metrics'' sub-scores, NULL when a metric had no data): a metric''s sub-score (its imputed value when NULL, for an imputed metric), then each indicator term metric:missing, 1 when one of the metrics it marks has no data. Shared by training, cross-validation and prediction.';

-- account_model_design(m, x): account_design for a trained account model, whose metrics are
-- the terms made from a metric of their own name.
CREATE FUNCTION health_score.account_model_design(m health_score.churn_models, x text,
                                                  OUT metrics text[], OUT exprs text[], OUT imputed text[])
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
BEGIN
    metrics := (SELECT array_agg(u.c ORDER BY u.i) FROM unnest(m.features, m.feature_columns) WITH ORDINALITY AS u(f, c, i)
                 WHERE u.f = u.c);
    d := health_score.account_design(metrics, m.imputation, x);
    IF d.terms IS DISTINCT FROM m.features THEN
        RAISE EXCEPTION 'churn model "%" v%: its features do not follow from its metrics and imputation', m.name, m.version
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train it again.';
    END IF;
    exprs := d.exprs;
    imputed := coalesce((SELECT array_agg(u ORDER BY i) FROM unnest(metrics) WITH ORDINALITY AS t(u, i)
                          WHERE m.imputation -> u ->> 'value' IS NOT NULL), '{}');
END
$$;

COMMENT ON FUNCTION health_score.account_model_design(health_score.churn_models, text) IS
'For an account model: its metrics (in the order of the sub-scores it reads), the expression of each of its terms over x (account_design) and the metrics it imputes. An error when the model''s terms do not follow from them (a catalog row edited by hand).';

CREATE OR REPLACE FUNCTION health_score.suggest_weights(model text)
RETURNS TABLE (feature text, dimension text, standardized_coefficient float8, p_value float8,
               suggested_weight float8, weight_in_dimension float8, current_weight float8, note text)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH m AS (SELECT * FROM health_score.churn_model(model)),
    t AS (
        SELECT tm.term, tm.position, tm.standardized_coefficient AS b, tm.p_value, mt.dimension, mt.weight,
               -- for an account model the features are sub-scores (higher = healthier): a metric
               -- earns weight by lowering churn; for other models the size of the effect counts
               CASE WHEN (SELECT kind FROM m) = 'account'
                    THEN greatest(-tm.standardized_coefficient, 0)
                    ELSE abs(tm.standardized_coefficient) END AS strength
          FROM health_score.churn_model_terms tm
          LEFT JOIN health_score.metrics mt ON (SELECT kind FROM m) = 'account' AND mt.name = tm.term
         WHERE (tm.name, tm.version) = (SELECT name, version FROM m) AND tm.position > 0
           -- an account model's indicator terms (metric:missing) are no metrics to weigh
           AND ((SELECT kind FROM m) <> 'account' OR tm.term = tm.feature_column))
    SELECT t.term, t.dimension, t.b, t.p_value,
           nullif(t.strength, 0) / nullif(sum(t.strength) OVER (), 0),
           nullif(t.strength, 0) / nullif(sum(t.strength) OVER (PARTITION BY t.dimension), 0),
           t.weight,
           CASE WHEN t.strength = 0 THEN 'higher values go with more churn: check the metric''s curve or leave it out'
                WHEN t.p_value >= 0.05 THEN 'effect not significant (p >= 0.05): weight uncertain'
           END
      FROM t
     ORDER BY t.strength DESC, t.position
$$;

COMMENT ON FUNCTION health_score.suggest_weights(text) IS
'Metric weights derived from a churn model: each feature''s share of the total predictive strength (size of its standardised coefficient; for account models only metrics whose higher sub-score lowers churn count, and the indicator terms metric:missing none), overall and within its dimension, beside the weight now configured. A metric that goes the wrong way gets no weight and a note; the shares of one dimension can be copied into metrics.weight.';

DROP FUNCTION health_score.churn_columns(regclass, text[], text);
CREATE FUNCTION health_score.churn_columns(source regclass, features text[], label text,
                                           positive_label text DEFAULT NULL, reference_levels jsonb DEFAULT NULL,
                                           OUT feature_exprs text[], OUT terms text[], OUT term_columns text[],
                                           OUT term_levels text[], OUT references_used jsonb, OUT label_expr text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[] := '{}';
    codes text[] := '{}';
    kinds text[] := '{}';       -- per feature: numeric, boolean, text or enum
    label_kind text;
    kind text;
    typ oid;
    base oid;
    f text;
    complete text;
    total bigint;
    used bigint;
    levels text[];
    counts bigint[];
    ref text;
    listed text;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF features IS NULL OR cardinality(features) = 0 THEN
        RAISE EXCEPTION 'features must name at least one column' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_ndims(features) <> 1 OR array_position(features, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'features must be a one-dimensional array without NULLs' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(features) > 500 THEN
        RAISE EXCEPTION 'features must name at most 500 columns, got %', cardinality(features)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT u INTO f FROM unnest(features) u GROUP BY u HAVING count(*) > 1 LIMIT 1;
    IF f IS NOT NULL THEN
        RAISE EXCEPTION 'feature "%" is listed twice', f USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF label IS NULL THEN
        RAISE EXCEPTION 'label must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF label = ANY (features) THEN
        RAISE EXCEPTION 'label "%" must not also be a feature', label USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF reference_levels IS NOT NULL AND jsonb_typeof(reference_levels) <> 'object' THEN
        RAISE EXCEPTION 'reference_levels must be a JSON object naming a level per text column, like {"contract": "Month-to-month"}, got a JSON %',
            jsonb_typeof(reference_levels) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(format('"%s"', e.k), ', ' ORDER BY e.k) INTO listed
      FROM jsonb_each(reference_levels) AS e(k, v) WHERE jsonb_typeof(e.v) <> 'string';
    IF listed IS NOT NULL THEN
        RAISE EXCEPTION 'reference_levels must give each column its level as a JSON string, not so for %', listed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The columns and their types, every problem collected: one error lists them all.
    FOREACH f IN ARRAY features || label LOOP
        SELECT a.atttypid INTO typ FROM pg_attribute a
         WHERE a.attrelid = source AND a.attname = f AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            problems := problems || format('%s "%s" is not a column of %s',
                                           CASE WHEN f = label THEN 'label' ELSE 'feature' END, f, source);
            codes := codes || '42703'::text;
            kind := NULL;
        ELSE
            -- a domain is read as its base type
            base := typ;
            WHILE (SELECT t.typtype FROM pg_type t WHERE t.oid = base) = 'd' LOOP
                base := (SELECT t.typbasetype FROM pg_type t WHERE t.oid = base);
            END LOOP;
            kind := CASE WHEN base = 'boolean'::regtype THEN 'boolean'
                         WHEN base IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'real'::regtype,
                                       'double precision'::regtype, 'numeric'::regtype) THEN 'numeric'
                         WHEN base IN ('text'::regtype, 'character varying'::regtype, 'character'::regtype) THEN 'text'
                         WHEN (SELECT t.typtype FROM pg_type t WHERE t.oid = base) = 'e' THEN 'enum' END;
            IF f <> label AND kind IS NULL THEN
                problems := problems || format('feature "%s" must be a numeric, boolean, text or enum column; in %s it is %s',
                                               f, source, format_type(typ, NULL));
                codes := codes || '42804'::text;
            ELSIF f = label AND kind IS NULL THEN
                problems := problems || format('label "%s" must be a boolean or 0/1 column, or text or enum with positive_label; in %s it is %s',
                                               f, source, format_type(typ, NULL));
                codes := codes || '42804'::text;
            ELSIF f = label AND kind IN ('text', 'enum') AND positive_label IS NULL THEN
                problems := problems || format('label "%s" is %s: name the value that means churned, e.g. positive_label => ''Yes''',
                                               f, format_type(typ, NULL));
                codes := codes || '42804'::text;
            ELSIF f = label AND kind IN ('boolean', 'numeric') AND positive_label IS NOT NULL THEN
                problems := problems || format('positive_label is for a text or enum label; label "%s" is %s (true or 1 means churned)',
                                               f, format_type(typ, NULL));
                codes := codes || '22023'::text;
            END IF;
        END IF;
        IF f = label THEN
            label_kind := kind;
        ELSE
            kinds := kinds || kind;
        END IF;
    END LOOP;
    SELECT string_agg(format('"%s"', e.k), ', ' ORDER BY e.k) INTO listed
      FROM jsonb_each(reference_levels) AS e(k, v)
     WHERE NOT EXISTS (SELECT FROM unnest(features, kinds) AS u(f, kind) WHERE u.f = e.k AND u.kind IN ('text', 'enum'));
    IF listed IS NOT NULL THEN
        problems := problems || format('reference_levels names %s, not among the text or enum features', listed);
        codes := codes || '22023'::text;
    END IF;
    -- Their values, once the columns are fit for use.
    IF cardinality(problems) = 0 THEN
        -- Text and enum features: their levels over the rows used (no NULL feature or label).
        complete := (SELECT string_agg(format('(%I) IS NOT NULL', u), ' AND ') FROM unnest(features || label) u);
        IF 'text' = ANY (kinds) OR 'enum' = ANY (kinds) OR label_kind IN ('text', 'enum') THEN
            EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s) FROM %s AS s', complete, source) INTO total, used;
            -- as churn_fit says it, before the levels (there are none)
            IF total = 0 THEN
                RAISE EXCEPTION 'source has no rows to fit' USING ERRCODE = 'invalid_parameter_value';
            ELSIF used = 0 THEN
                RAISE EXCEPTION 'no complete rows: each of the % rows has a NULL feature or label', total
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
        feature_exprs := '{}';
        terms := '{}';
        term_columns := '{}';
        term_levels := '{}';
        references_used := '{}';
        FOR i IN 1..cardinality(features) LOOP
            f := features[i];
            IF kinds[i] = 'numeric' THEN
                feature_exprs := feature_exprs || format('(%I)::float8', f);
            ELSIF kinds[i] = 'boolean' THEN
                feature_exprs := feature_exprs || format('(%I)::int::float8', f);
            END IF;
            IF kinds[i] IN ('numeric', 'boolean') THEN
                terms := terms || f;
                term_columns := term_columns || f;
                term_levels := term_levels || NULL::text;
                CONTINUE;
            END IF;
            -- Levels in the enum's order, or in byte order for text (any locale gives the same
            -- terms); one more than allowed is enough to refuse.
            EXECUTE format('SELECT array_agg(g::text ORDER BY g), array_agg(n ORDER BY g)
                              FROM (SELECT %s AS g, count(*) AS n FROM %s AS s WHERE %s GROUP BY 1 ORDER BY 1 LIMIT 101) q',
                           CASE WHEN kinds[i] = 'enum' THEN format('%I', f) ELSE format('(%I)::text COLLATE "C"', f) END,
                           source, complete)
                INTO levels, counts;
            ref := reference_levels ->> f;
            IF cardinality(levels) > 100 THEN
                problems := problems || format('feature "%s" has more than 100 distinct values: too many for the levels of a category (is it an identifier?)', f);
            ELSIF cardinality(levels) = 1 THEN
                problems := problems || format('feature "%s" has a single value ("%s") over the rows used', f, levels[1]);
            ELSIF cardinality(levels) = used THEN
                problems := problems || format('feature "%s" has a different value on each of the %s rows used: it identifies rows, it is no category', f, used);
            ELSIF ref IS NOT NULL AND NOT ref = ANY (levels) THEN
                problems := problems || format('reference level "%s" of feature "%s" does not occur in the rows used (levels: %s)',
                                               ref, f, (SELECT string_agg(format('"%s"', l), ', ' ORDER BY o)
                                                          FROM unnest(levels) WITH ORDINALITY AS u(l, o)));
            ELSE
                -- the most frequent level, the first in order on a tie
                ref := coalesce(ref, (SELECT u.l FROM unnest(levels, counts) WITH ORDINALITY AS u(l, n, o)
                                       ORDER BY u.n DESC, u.o LIMIT 1));
                references_used := references_used || jsonb_build_object(f, ref);
                FOR j IN 1..cardinality(levels) LOOP
                    CONTINUE WHEN levels[j] = ref;
                    feature_exprs := feature_exprs || format('((%I)::text COLLATE "C" = %L)::int::float8', f, levels[j]);
                    terms := terms || (f || '=' || levels[j]);
                    term_columns := term_columns || f;
                    term_levels := term_levels || levels[j];
                END LOOP;
                CONTINUE;
            END IF;
            codes := codes || '22023'::text;
        END LOOP;

        IF label_kind IN ('boolean', 'numeric') THEN
            label_expr := CASE WHEN label_kind = 'boolean' THEN format('%I', label)
                               ELSE format('health_score.logit_label((%I)::float8)', label) END;
        ELSE
            -- A text label has two values, one of them positive_label (three are enough to refuse).
            EXECUTE format('SELECT array_agg(v ORDER BY v) FROM (SELECT DISTINCT (%I)::text COLLATE "C" AS v FROM %s AS s
                             WHERE (%I) IS NOT NULL ORDER BY 1 LIMIT 3) q', label, source, label)
                INTO levels;
            listed := (SELECT string_agg(format('"%s"', l), ', ' ORDER BY o) FROM unnest(levels) WITH ORDINALITY AS u(l, o));
            IF cardinality(levels) > 2 THEN
                problems := problems || format('label "%s" must have two values, it has more: %s, ...', label, listed);
                codes := codes || '22023'::text;
            ELSIF NOT positive_label = ANY (levels) THEN
                problems := problems || format('positive_label "%s" is not a value of label "%s" (values: %s)', positive_label, label, listed);
                codes := codes || '22023'::text;
            END IF;
            label_expr := format('((%I)::text COLLATE "C" = %L)', label, positive_label);
        END IF;
        SELECT string_agg(format('"%s"', u), ', ') INTO listed
          FROM (SELECT u FROM unnest(terms) u GROUP BY u HAVING count(*) > 1) d;
        IF listed IS NOT NULL THEN
            problems := problems || format('the features give two terms of one name: %s (rename a column in a view)', listed);
            codes := codes || '22023'::text;
        END IF;
        IF cardinality(terms) > 500 THEN
            problems := problems || format('the features make %s terms (one per level of a text or enum column but its reference), at most 500',
                                           cardinality(terms));
            codes := codes || '22023'::text;
        END IF;
    END IF;
    IF cardinality(problems) = 1 THEN
        RAISE EXCEPTION '%', problems[1] USING ERRCODE = codes[1];
    ELSIF cardinality(problems) > 1 THEN
        -- one SQLSTATE for all: theirs when they agree, else 42804 (a column unfit for its use)
        RAISE EXCEPTION '% problems with the columns of %: %', cardinality(problems), source,
            array_to_string(problems, '; ')
            USING ERRCODE = CASE WHEN codes <@ ARRAY[codes[1]] THEN codes[1] ELSE '42804' END;
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.churn_columns(regclass, text[], text, text, jsonb) IS
'Checks the feature and label columns of a relation (they exist and are numeric, boolean, text or enum; no duplicates; the label is not a feature; a text or enum label has two values, positive_label one of them) and encodes them: the float8 expression and name of each term (a numeric or boolean column is one term, a text or enum column one 0/1 indicator per level but the reference, named column=level, levels in the enum''s or in byte order), each term''s column and level, the reference level chosen per column (reference_levels, else the most frequent over the rows used), and the boolean expression of the label. Every problem is reported in one error.';

DROP FUNCTION health_score.train_churn_model(text, regclass, text[], text, integer, float8, float8, float8);
CREATE FUNCTION health_score.train_churn_model(name text, source regclass, features text[], label text,
                                               max_iter int DEFAULT 25, tol float8 DEFAULT 1e-10,
                                               l2 float8 DEFAULT 0, ridge_fallback float8 DEFAULT NULL,
                                               positive_label text DEFAULT NULL, reference_levels jsonb DEFAULT NULL)
RETURNS health_score.churn_models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
BEGIN
    c := health_score.churn_columns(source, features, label, positive_label, reference_levels);
    RETURN health_score.churn_train(name, 'table', source::text, label, source::text || ' AS s',
                                    c.feature_exprs, c.terms, c.label_expr, max_iter, tol, l2, ridge_fallback,
                                    NULL, NULL, c.term_columns, c.term_levels, c.references_used, positive_label);
END
$$;

COMMENT ON FUNCTION health_score.train_churn_model(text, regclass, text[], text, int, float8, float8, float8, text, jsonb) IS
'Trains a churn model (logistic regression with an intercept) on a table or view. features are column names: a numeric or boolean column is one term (true = 1); a text or enum column is one 0/1 term per level but its reference level, named column=level, the reference being the most frequent level over the rows used unless reference_levels names it ({"column": "level"}). label is a boolean or 0/1 column (true/1 = churned), or a text or enum column with two values, positive_label naming the one that means churned. Rows with a NULL feature or label are skipped and counted. Features are standardised internally; coefficients are reported on the original scale. Iterates Newton steps until the largest change of a standardised coefficient is below tol (at most max_iter). l2 > 0 adds a ridge penalty on the standardised coefficients; ridge_fallback, when given, is the penalty to fall back on (with a warning) if the plain fit meets separation or collinearity. Bad input (unknown or unusable columns, all listed in one error; a constant feature or a single level, NaN or infinite values, a single class, more features than rows, perfect separation, collinearity) is an error naming the culprit, and nothing is written. Returns the new catalog row (the active version of name).';

COMMENT ON FUNCTION health_score.churn_probability(text, float8[]) IS
'Churn probability 0-1 under the active version of a model, features in the order of churn_models.features (booleans as 0/1, a level of a text column as its 0/1 indicator). NULL features give NULL. For raw values by column name, churn_probability_of. For many rows, join churn_models and call logit_predict(coefficients, features) directly.';

CREATE FUNCTION health_score.churn_features(model text, row_values jsonb)
RETURNS float8[]
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
    problems text[];
    x float8[];
BEGIN
    IF jsonb_typeof(row_values) <> 'object' THEN
        RAISE EXCEPTION 'row_values must be a JSON object of column names and values, like {"tenure": 5, "contract": "Two year"}, got a JSON %',
            jsonb_typeof(row_values) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Every problem at once, in the order of the model's columns.
    WITH cols AS (
        SELECT u.c, min(u.i) AS i, bool_or(u.lvl IS NOT NULL) AS categorical,
               array_agg(u.lvl ORDER BY u.i) FILTER (WHERE u.lvl IS NOT NULL) AS levels,
               row_values -> u.c AS v, jsonb_typeof(row_values -> u.c) AS t
          FROM unnest(m.feature_columns, m.feature_levels) WITH ORDINALITY AS u(c, lvl, i)
         GROUP BY u.c)
    SELECT array_agg(q.p ORDER BY q.i) INTO problems
      FROM (SELECT cols.i, CASE
                WHEN cols.v IS NULL THEN format('column "%s" is missing', cols.c)
                WHEN NOT cols.categorical AND cols.t NOT IN ('number', 'boolean', 'null') THEN
                    format('column "%s" must be a number (or boolean), got %s', cols.c, left(cols.v::text, 100))
                WHEN NOT cols.categorical AND cols.t = 'number' AND abs(cols.v::numeric) > 1.7976931348623157e308 THEN
                    format('column "%s" is out of the range of double precision: %s', cols.c, left(cols.v::text, 100))
                WHEN cols.categorical AND cols.t IN ('object', 'array') THEN
                    format('column "%s" must be one of its levels, got %s', cols.c, left(cols.v::text, 100))
                WHEN cols.categorical AND cols.t <> 'null'
                     AND NOT (cols.v #>> '{}' = ANY (cols.levels) OR cols.v #>> '{}' = m.reference_levels ->> cols.c) THEN
                    format('column "%s" has no level "%s" in model "%s" (its levels: "%s" (the reference), %s)',
                           cols.c, left(cols.v #>> '{}', 100), m.name, m.reference_levels ->> cols.c,
                           (SELECT string_agg(format('"%s"', l), ', ' ORDER BY o)
                              FROM unnest(cols.levels) WITH ORDINALITY AS w(l, o)))
            END AS p
              FROM cols) q
     WHERE q.p IS NOT NULL;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'row_values does not fit model "%": %', m.name, array_to_string(problems, '; ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give each column the model was trained on (churn_models.feature_columns) its raw value; other keys are ignored.';
    END IF;
    -- An imputed metric of an account model (churn_models.imputation): a null takes the value
    -- given in training, and its indicator term is 1, as account_churn_risk does (an indicator
    -- shared by metrics: when one of them is null).
    SELECT array_agg(CASE WHEN u.t = m.imputation -> u.c ->> 'indicator'
                          THEN EXISTS (SELECT FROM jsonb_each(m.imputation) e
                                        WHERE e.value ->> 'indicator' = u.t AND jsonb_typeof(row_values -> e.key) = 'null')::int
                          WHEN u.lvl IS NOT NULL THEN (row_values ->> u.c = u.lvl)::int
                          WHEN jsonb_typeof(row_values -> u.c) = 'boolean' THEN (row_values -> u.c)::boolean::int
                          WHEN jsonb_typeof(row_values -> u.c) = 'number' THEN (row_values -> u.c)::float8
                          ELSE (m.imputation -> u.c ->> 'value')::float8 END
                     ORDER BY u.i)
      INTO x
      FROM unnest(m.features, m.feature_columns, m.feature_levels) WITH ORDINALITY AS u(t, c, lvl, i);
    RETURN x;
END
$$;

COMMENT ON FUNCTION health_score.churn_features(text, jsonb) IS
'The features array of one row under the active version of a model, from its raw values by column name (row_values, e.g. to_jsonb(t) of a row of the training table, or {"tenure": 5, "contract": "Two year"}): a number as it is, a boolean as 0/1, a text or enum column as the 0/1 indicator of each of its levels. Keys the model does not use are ignored; a JSON null gives a NULL element (and so a NULL probability), except for a metric an account model imputes (churn_models.imputation): it takes the value given in training, and its indicator term metric:missing is 1. A missing column, a value of the wrong kind or a level the model did not see in training is an error (22023) listing every such column.';

CREATE FUNCTION health_score.churn_probability_of(model text, row_values jsonb)
RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN array_position(f.x, NULL) IS NULL THEN health_score.logit_predict(m.coefficients, f.x) END
      FROM health_score.churn_model(model) m, health_score.churn_features(model, row_values) AS f(x)
$$;

COMMENT ON FUNCTION health_score.churn_probability_of(text, jsonb) IS
'Churn probability 0-1 under the active version of a model, from a row''s raw values by column name (see churn_features): churn_probability_of(''telco'', ''{"tenure": 5, "contract": "Two year", ...}''), or to_jsonb(t) to score a row of a table. A JSON null (a NULL in the row) gives NULL, as such a row is skipped in training; a level not seen in training is an error naming the column and the value.';

CREATE FUNCTION health_score.churn_drivers_of(model text, row_values jsonb)
RETURNS TABLE (rank int, feature text, value float8, average float8, coefficient float8,
               contribution float8, odds_multiplier float8)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM health_score.churn_drivers(model, health_score.churn_features(model, row_values))
$$;

COMMENT ON FUNCTION health_score.churn_drivers_of(text, jsonb) IS
'churn_drivers from a row''s raw values by column name (see churn_features): one row per term, so per level of a text or enum column (value 1 for the row''s level, 0 for the others; average: the share of training rows in that level).';

DROP FUNCTION health_score.churn_cross_validate(regclass, text[], text, integer, float8, integer, float8);
CREATE FUNCTION health_score.churn_cross_validate(source regclass, features text[], label text,
                                                  folds int DEFAULT 5, l2 float8 DEFAULT 0,
                                                  max_iter int DEFAULT 25, tol float8 DEFAULT 1e-8,
                                                  positive_label text DEFAULT NULL, reference_levels jsonb DEFAULT NULL)
RETURNS TABLE (fold_count int, auc_mean float8, auc_sd float8, fold_auc float8[], fold_rows bigint[])
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    fit health_score.churn_fit_result;
    e health_score.churn_evaluation;
    fold_expr text;
    aucs float8[] := '{}';
    nrows bigint[] := '{}';
    k int := folds;
BEGIN
    IF k IS NULL OR k < 2 OR k > 100 THEN
        RAISE EXCEPTION 'folds must be between 2 and 100, got %', coalesce(k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2);
    -- The levels come from all the rows: every fold's fit has the same terms.
    c := health_score.churn_columns(source, features, label, positive_label, reference_levels);
    -- Each row's fold comes from a hash of its content: reproducible, no ORDER BY needed.
    fold_expr := format('(abs(hashtext(s::text)::bigint) %% %s)', k);
    FOR i IN 0..k - 1 LOOP
        fit := health_score.churn_fit(format('%s AS s WHERE %s <> %s', source, fold_expr, i),
                                      c.feature_exprs, c.terms, c.label_expr, max_iter, tol, l2);
        e := health_score.churn_evaluate(format('%s AS s WHERE %s = %s', source, fold_expr, i),
                                         c.feature_exprs, c.label_expr, fit.coefficients);
        aucs := aucs || e.auc;
        nrows := nrows || e.rows_used;
    END LOOP;
    RETURN QUERY SELECT k, avg(a), stddev_samp(a), aucs, nrows FROM unnest(aucs) a;
END
$$;

COMMENT ON FUNCTION health_score.churn_cross_validate(regclass, text[], text, int, float8, int, float8, text, jsonb) IS
'k-fold cross-validated AUC of a model specification (features, label, positive_label and reference_levels as in train_churn_model; the levels of text columns are taken over all the rows, so a level missing from a fold''s training rows is an error): the rows are split into folds by a hash of their content (reproducible); each fold is scored (exact AUC) by a model fitted on the other folds. Returns the mean and sample standard deviation of the fold AUCs (a fold with a single class has a NULL AUC and is left out of both), each fold''s AUC and its number of rows used. Nothing is written to the catalog.';

-- account_churn_cross_validate: k-fold cross-validation of an account model's specification.
-- The folds are groups of accounts (a hash of account_id), so the rows of one account, one
-- per snapshot date, never sit on both sides. Each fold is scored by a model fitted on the
-- others as training and prediction would do it: the imputation is learned on the training
-- folds and applied to the held-out one.
CREATE FUNCTION health_score.account_churn_cross_validate(as_of timestamptz, horizon interval DEFAULT interval '90 days',
                                                          metrics text[] DEFAULT NULL, folds int DEFAULT 5,
                                                          l2 float8 DEFAULT 0, max_iter int DEFAULT 25,
                                                          tol float8 DEFAULT 1e-10, snapshots int DEFAULT 1)
RETURNS TABLE (fold_count int, auc_mean float8, auc_sd float8, fold_auc float8[], fold_rows bigint[],
               fold_accounts bigint[], fold_unscored bigint[])
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k int := folds;
    chosen text[];
    fold_expr text;
    imputed record;
    design record;
    fit health_score.churn_fit_result;
    e health_score.churn_evaluation;
    n bigint;
    na bigint;
    aucs float8[] := '{}';
    nrows bigint[] := '{}';
    naccounts bigint[] := '{}';
    unscored bigint[] := '{}';
BEGIN
    IF k IS NULL OR k < 2 OR k > 100 THEN
        RAISE EXCEPTION 'folds must be between 2 and 100, got %', coalesce(k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    chosen := health_score.account_training(as_of, horizon, metrics, snapshots, max_iter, tol, l2, NULL);
    fold_expr := format('(abs(hashtext(s.account_id)::bigint) %% %s)', k);
    FOR i IN 0..k - 1 LOOP
        imputed := health_score.account_imputation(
            format('pg_temp.health_score_account_training AS s WHERE %s <> %s', fold_expr, i), chosen);
        design := health_score.account_design(chosen, imputed.imputation, 's.x');
        fit := health_score.churn_fit(format('pg_temp.health_score_account_training AS s WHERE %s <> %s', fold_expr, i),
                                      design.exprs, design.terms, 's.churned', max_iter, tol, l2);
        -- held-out rows lacking a metric the fold's model does not impute get no prediction
        e := health_score.churn_evaluate(format('pg_temp.health_score_account_training AS s WHERE %s = %s', fold_expr, i),
                                         design.exprs, 's.churned', fit.coefficients);
        EXECUTE format('SELECT count(*), count(DISTINCT s.account_id) FROM pg_temp.health_score_account_training AS s WHERE %s = %s',
                       fold_expr, i) INTO n, na;
        aucs := aucs || e.auc;
        nrows := nrows || e.rows_used;
        naccounts := naccounts || na;
        unscored := unscored || (n - e.rows_used);
    END LOOP;
    DROP TABLE pg_temp.health_score_account_training;
    RETURN QUERY SELECT k, avg(a), stddev_samp(a), aucs, nrows, naccounts, unscored FROM unnest(aucs) a;
END
$$;

COMMENT ON FUNCTION health_score.account_churn_cross_validate(timestamptz, interval, text[], int, float8, int, float8, int) IS
'k-fold cross-validated AUC of an account model''s specification (as_of, horizon, metrics, l2, max_iter, tol and snapshots as in train_account_churn_model): the folds are groups of accounts, an account''s fold being abs(hashtext(account_id)) % folds, so the rows of one account (one per snapshot date) are never on both sides. Each fold is scored (exact AUC) by a model fitted on the other folds, with the imputation of metrics without data learned on those folds and applied to the held-out rows, as prediction does; a held-out row lacking a metric that fold''s model does not impute is not scored (fold_unscored). Returns the mean and sample standard deviation of the fold AUCs (a fold with a single class has a NULL AUC and is left out of both), each fold''s AUC, rows scored, accounts and rows not scored. Nothing is written to the catalog.';

-- Views (src/sql/views.sql) ----------------------------------------------------------------------

-- The views read the new account_churn_risk (see the churn part) and show numeric figures: the
-- dashboards' copies over them are dropped (and created again at the end of the history part),
-- the views are created again, and the functions they read before are dropped.
DROP MATERIALIZED VIEW health_score.account_health_mv, health_score.dimension_breakdown_mv, health_score.band_summary_mv,
    health_score.action_queue_mv, health_score.upsell_candidates_mv, health_score.score_trends_mv,
    health_score.alerts_mv;
DROP VIEW health_score.account_health, health_score.dimension_breakdown, health_score.band_summary,
    health_score.action_queue, health_score.upsell_candidates;

CREATE VIEW health_score.account_health AS
SELECT s.account_id, a.name, a.segment, a.plan, a.owner, a.mrr::numeric(18,2) AS mrr,
       s.score::numeric(18,2) AS score, s.band, s.alert_tier, s.coverage::numeric(18,4) AS coverage,
       s.product_score::numeric(18,2) AS product_score,
       s.relationship_score::numeric(18,2) AS relationship_score,
       s.business_score::numeric(18,2) AS business_score,
       s.weakest_metrics, s.reason,
       r.churn_risk::numeric(18,2) AS churn_risk, r.top_drivers AS churn_drivers
  FROM health_score.account_scores(health_score.current_as_of()) s
  JOIN health_score.live_accounts(health_score.current_as_of()) a ON a.account_id = s.account_id
  LEFT JOIN health_score.account_churn_risk(health_score.current_as_of()) r ON r.account_id = s.account_id
 ORDER BY s.score NULLS LAST, s.account_id;

COMMENT ON VIEW health_score.account_health IS
'Every live account with its current health score, band and alert tier, lowest score first (unscored accounts last).';
COMMENT ON COLUMN health_score.account_health.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.account_health.name IS 'Display name.';
COMMENT ON COLUMN health_score.account_health.segment IS 'Segment.';
COMMENT ON COLUMN health_score.account_health.plan IS 'Subscription plan of the period covering the scoring time.';
COMMENT ON COLUMN health_score.account_health.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.account_health.mrr IS 'Monthly recurring revenue of the period covering the scoring time.';
COMMENT ON COLUMN health_score.account_health.score IS 'Health score 0-100; NULL when too little data (see reason).';
COMMENT ON COLUMN health_score.account_health.band IS 'Action band (green, yellow, orange, red).';
COMMENT ON COLUMN health_score.account_health.alert_tier IS 'Alert tier (healthy, warning, at_risk, critical).';
COMMENT ON COLUMN health_score.account_health.coverage IS 'Share 0-1 of the configured weight that had data.';
COMMENT ON COLUMN health_score.account_health.product_score IS 'Product dimension score 0-100.';
COMMENT ON COLUMN health_score.account_health.relationship_score IS 'Relationship dimension score 0-100.';
COMMENT ON COLUMN health_score.account_health.business_score IS 'Business dimension score 0-100.';
COMMENT ON COLUMN health_score.account_health.weakest_metrics IS 'The three metrics that cost the score most points, with their sub-scores.';
COMMENT ON COLUMN health_score.account_health.reason IS 'Why the score is NULL, if it is.';
COMMENT ON COLUMN health_score.account_health.churn_risk IS 'Churn risk 0-100 % from the account churn model the dashboards use (settings.churn_model); NULL without a model or when a metric it needs had no data.';
COMMENT ON COLUMN health_score.account_health.churn_drivers IS 'The metrics that push the churn risk above the average account''s, with their contribution to the log-odds.';

CREATE VIEW health_score.dimension_breakdown AS
SELECT m.account_id, m.dimension,
       (sum(m.contribution) / sum(m.effective_weight))::numeric(18,2) AS score,
       sum(m.effective_weight)::numeric(18,4) AS effective_weight,
       sum(m.contribution)::numeric(18,2) AS contribution,
       count(*) AS metrics_scored,
       (array_agg(m.metric ORDER BY m.sub_score, m.metric))[1] AS weakest_metric
  FROM health_score.metric_scores(health_score.current_as_of()) m
 GROUP BY m.account_id, m.dimension;

COMMENT ON VIEW health_score.dimension_breakdown IS
'Per account and dimension with data: the dimension''s score, its share of the account score and its contribution in points.';
COMMENT ON COLUMN health_score.dimension_breakdown.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.dimension_breakdown.dimension IS 'The dimension.';
COMMENT ON COLUMN health_score.dimension_breakdown.score IS 'Dimension score 0-100: the weighted mean of its metrics'' sub-scores.';
COMMENT ON COLUMN health_score.dimension_breakdown.effective_weight IS 'Share 0-1 of the account score the dimension carries.';
COMMENT ON COLUMN health_score.dimension_breakdown.contribution IS 'Points of the account score from this dimension (score x effective_weight).';
COMMENT ON COLUMN health_score.dimension_breakdown.metrics_scored IS 'Metrics of the dimension that had data.';
COMMENT ON COLUMN health_score.dimension_breakdown.weakest_metric IS 'The dimension''s metric with the lowest sub-score.';

CREATE VIEW health_score.band_summary AS
WITH scored AS (
    SELECT s.band, s.score, a.mrr
      FROM health_score.account_scores(health_score.current_as_of()) s
      JOIN health_score.live_accounts(health_score.current_as_of()) a ON a.account_id = s.account_id
)
SELECT coalesce(b.band, 'unscored') AS band,
       b.min_score::numeric(18,2) AS min_score, b.max_score::numeric(18,2) AS max_score,
       count(s.*) AS accounts,
       (count(s.*)::numeric / nullif(sum(count(s.*)) OVER (), 0))::numeric(18,4) AS share_of_accounts,
       coalesce(sum(s.mrr), 0)::numeric(18,2) AS mrr,
       (sum(s.mrr) / nullif(sum(sum(s.mrr)) OVER (), 0))::numeric(18,4) AS share_of_mrr,
       avg(s.score)::numeric(18,2) AS average_score
  FROM health_score.bands b
  FULL JOIN scored s ON s.band = b.band
 GROUP BY b.band, b.min_score, b.max_score
 ORDER BY b.min_score DESC NULLS LAST;

COMMENT ON VIEW health_score.band_summary IS
'Accounts and MRR per action band, best band first; unscored accounts (too little data) on a last row.';
COMMENT ON COLUMN health_score.band_summary.band IS 'The band, or unscored.';
COMMENT ON COLUMN health_score.band_summary.min_score IS 'Lowest score of the band.';
COMMENT ON COLUMN health_score.band_summary.max_score IS 'Upper end of the band.';
COMMENT ON COLUMN health_score.band_summary.accounts IS 'Live accounts in the band.';
COMMENT ON COLUMN health_score.band_summary.share_of_accounts IS 'Share 0-1 of all live accounts.';
COMMENT ON COLUMN health_score.band_summary.mrr IS 'Their monthly recurring revenue (unknown MRR left out).';
COMMENT ON COLUMN health_score.band_summary.share_of_mrr IS 'Share 0-1 of the known MRR of all live accounts.';
COMMENT ON COLUMN health_score.band_summary.average_score IS 'Their mean health score.';

CREATE VIEW health_score.action_queue AS
-- The time scored is read once, where the query starts: on Citus the coordinator, whose session
-- holds health_score.as_of (the shards would read their own clock).
WITH scored AS MATERIALIZED (SELECT health_score.current_as_of() AS as_of)
SELECT s.account_id, a.name, a.owner, a.segment, a.mrr::numeric(18,2) AS mrr,
       s.score::numeric(18,2) AS score, s.band, s.alert_tier,
       t.responder, t.respond_within,
       (extract(epoch FROM t.respond_within) / 3600)::numeric(18,2) AS respond_within_hours,
       n.as_of + t.respond_within AS due_by,
       b.cadence, b.playbook, s.weakest_metrics,
       r.churn_risk::numeric(18,2) AS churn_risk,
       (a.mrr::float8 * r.churn_risk / 100)::numeric(18,2) AS revenue_at_risk
  FROM scored n
 CROSS JOIN health_score.account_scores(health_score.current_as_of()) s
  JOIN health_score.live_accounts(health_score.current_as_of()) a ON a.account_id = s.account_id
  JOIN health_score.bands b ON b.band = s.band
  LEFT JOIN health_score.alert_tiers t ON t.tier = s.alert_tier
  LEFT JOIN health_score.account_churn_risk(health_score.current_as_of()) r ON r.account_id = s.account_id
 WHERE b.needs_action
 ORDER BY due_by NULLS LAST, s.score, a.mrr DESC NULLS LAST, s.account_id;

COMMENT ON VIEW health_score.action_queue IS
'Accounts in a band that needs action (orange and red by default), soonest due first, with who acts, by when and the playbook.';
COMMENT ON COLUMN health_score.action_queue.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.action_queue.name IS 'Display name.';
COMMENT ON COLUMN health_score.action_queue.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.action_queue.segment IS 'Segment.';
COMMENT ON COLUMN health_score.action_queue.mrr IS 'Monthly recurring revenue at stake (of the period covering the scoring time).';
COMMENT ON COLUMN health_score.action_queue.score IS 'Health score 0-100.';
COMMENT ON COLUMN health_score.action_queue.band IS 'Action band.';
COMMENT ON COLUMN health_score.action_queue.alert_tier IS 'Alert tier.';
COMMENT ON COLUMN health_score.action_queue.responder IS 'Who acts, from the alert tier.';
COMMENT ON COLUMN health_score.action_queue.respond_within IS 'How soon, from the alert tier (zero: at once).';
COMMENT ON COLUMN health_score.action_queue.respond_within_hours IS 'respond_within in hours (for BI tools, which do not read intervals; a month counts 30 days).';
COMMENT ON COLUMN health_score.action_queue.due_by IS 'When the response is due: the scoring time plus respond_within.';
COMMENT ON COLUMN health_score.action_queue.cadence IS 'Touchpoint cadence of the band.';
COMMENT ON COLUMN health_score.action_queue.playbook IS 'The band''s playbook.';
COMMENT ON COLUMN health_score.action_queue.weakest_metrics IS 'The three metrics that cost the score most points: where to start.';
COMMENT ON COLUMN health_score.action_queue.churn_risk IS 'Churn risk 0-100 % from the account churn model the dashboards use (settings.churn_model), when there is one.';
COMMENT ON COLUMN health_score.action_queue.revenue_at_risk IS 'MRR x churn risk: the monthly revenue this account puts at risk.';

CREATE VIEW health_score.upsell_candidates AS
WITH signals AS (
    SELECT m.account_id, count(*) AS signals,
           string_agg(format('%s %s', m.metric, round(m.raw_value::numeric, 1)), ', ' ORDER BY m.metric) AS expansion_signals
      FROM health_score.metric_scores(health_score.current_as_of()) m
      JOIN health_score.metrics c ON c.name = m.metric
     WHERE m.raw_value >= c.expansion_at
     GROUP BY m.account_id
)
SELECT s.account_id, a.name, a.owner, a.segment, a.plan, a.mrr::numeric(18,2) AS mrr,
       s.score::numeric(18,2) AS score, g.signals, g.expansion_signals
  FROM health_score.account_scores(health_score.current_as_of()) s
  JOIN health_score.bands b ON b.band = s.band
  JOIN signals g ON g.account_id = s.account_id
  JOIN health_score.live_accounts(health_score.current_as_of()) a ON a.account_id = s.account_id
 WHERE b.max_score = 100   -- the best band (green by default)
 ORDER BY g.signals DESC, a.mrr DESC NULLS LAST, s.account_id;

COMMENT ON VIEW health_score.upsell_candidates IS
'Accounts in the best band (green) showing expansion signals (metrics at or above their expansion_at, e.g. seat penetration of 80 % or more), most signals first.';
COMMENT ON COLUMN health_score.upsell_candidates.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.upsell_candidates.name IS 'Display name.';
COMMENT ON COLUMN health_score.upsell_candidates.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.upsell_candidates.segment IS 'Segment.';
COMMENT ON COLUMN health_score.upsell_candidates.plan IS 'Subscription plan of the period covering the scoring time.';
COMMENT ON COLUMN health_score.upsell_candidates.mrr IS 'Monthly recurring revenue of the period covering the scoring time.';
COMMENT ON COLUMN health_score.upsell_candidates.score IS 'Health score 0-100.';
COMMENT ON COLUMN health_score.upsell_candidates.signals IS 'Number of expansion signals.';
COMMENT ON COLUMN health_score.upsell_candidates.expansion_signals IS 'The signalling metrics with their raw values.';

DROP FUNCTION health_score.account_churn_risk_0_1_0(timestamptz, regclass);
DROP FUNCTION health_score.revenue_at_risk_0_1_0(timestamptz);

-- History (src/sql/history.sql) ------------------------------------------------------------------

-- Dates: every history function refuses an infinite date, naming the argument (check_date).
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

-- Backfill: resumable (the dates done under the current configuration are skipped unless redo),
-- with the time left in its progress, and a procedure that commits after each date. The
-- signature changes (redo, and skipped among the results), so the function is dropped and
-- created again; calls with two or three arguments mean what they did.
DROP FUNCTION health_score.backfill(date, date, interval);

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

CREATE OR REPLACE FUNCTION health_score.trends(as_of date DEFAULT NULL)
RETURNS TABLE (account_id text, as_of date, score float8, band text, alert_tier text,
               change_7d float8, change_30d float8, change_90d float8, slope_30d float8,
               band_30d_ago text, band_change text, churn_risk float8, churn_risk_change_30d float8,
               sparkline text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM health_score.trends_of(as_of)
$$;

-- The trends and band changes as numeric figures (see the churn part).
DROP VIEW health_score.score_trends, health_score.band_changes;
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


-- Alerts: the unusual_drop rule (a fall far outside the account's own past changes, in robust
-- z-scores; score_change_z), min_history, a validation trigger naming the rule, and windows
-- that reach back to the snapshot before them (daily, weekly and month-end snapshots alike).
ALTER TABLE health_score.alert_rules
    DROP CONSTRAINT alert_rules_rule_check,
    ADD CONSTRAINT alert_rules_rule_check
        CHECK (rule IN ('score_drop', 'churn_risk_rise', 'band_downgrade', 'low_score', 'unusual_drop')),
    ADD COLUMN min_history integer CHECK (min_history >= 2);
COMMENT ON TABLE health_score.alert_rules IS
'Your changes to the alert rules: a row here overrides the built-in default of that rule (see the view effective_alert_rules), e.g. INSERT INTO health_score.alert_rules VALUES (''score_drop'', true, 15, 14) ON CONFLICT (rule) DO UPDATE SET threshold = excluded.threshold, window_days = excluded.window_days. Empty at install; kept by pg_dump.';
COMMENT ON COLUMN health_score.alert_rules.rule IS 'score_drop, churn_risk_rise, band_downgrade, low_score or unusual_drop.';
COMMENT ON COLUMN health_score.alert_rules.enabled IS 'Whether the rule raises alerts.';
COMMENT ON COLUMN health_score.alert_rules.threshold IS 'score_drop: points lost from the window''s highest score; churn_risk_rise: percentage points gained from the window''s lowest risk; band_downgrade: bands lost from the window''s best band; low_score: the score at or below which an account alerts; unusual_drop: the robust z-score (above 0) a fall must reach below the account''s own past changes.';
COMMENT ON COLUMN health_score.alert_rules.window_days IS 'How many days back the rule looks, 1 to 36500 (ignored by low_score); the window reaches back to the latest snapshot at or before that day when it is at most greatest(7, window_days / 4) days older.';
COMMENT ON COLUMN health_score.alert_rules.weight IS 'Priority points per point of drop or rise (score_drop, churn_risk_rise) or per point the change falls below the account''s median change, or below 0 when that median is a rise (unusual_drop); ignored by the other rules.';
COMMENT ON COLUMN health_score.alert_rules.min_history IS 'unusual_drop: the fewest past changes (at least 2) the account needs before its change is judged; NULL for the default (8). Must be NULL for the other rules.';

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

CREATE OR REPLACE VIEW health_score.effective_alert_rules AS
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
-- CREATE OR REPLACE VIEW resets the view's options: check the caller's rights again (access.sql).
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 150000 THEN
        ALTER VIEW health_score.effective_alert_rules SET (security_invoker = true);
    END IF;
END
$$;

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

CREATE OR REPLACE FUNCTION health_score.alerts_at(as_of date DEFAULT NULL)
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

-- The alerts as numeric figures (see the churn part).
DROP VIEW health_score.alerts;
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

-- Attribution: infinite dates refused (check_date), and a date whose month of metric history
-- was detached or dropped.
CREATE OR REPLACE FUNCTION health_score.attribution_check(from_date date, to_date date)
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

-- sparkline: gaps for NULL and NaN, Infinity and 2-D arrays refused, linear time.
CREATE OR REPLACE FUNCTION health_score.sparkline(vals float8[], lo float8 DEFAULT 0, hi float8 DEFAULT 100)
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

-- Cron: schedules are checked whole (check_cron); pg_cron stores one with trailing garbage.
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

CREATE OR REPLACE FUNCTION health_score.schedule_refresh(cron text DEFAULT '0 3 * * *')
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

-- No look-ahead in history: a snapshot records the churn risk only from a model whose window
-- of churn had ended by its date, and says which model it asked and why a risk is missing.
ALTER TABLE health_score.score_history ADD COLUMN churn_model text, ADD COLUMN churn_model_version int,
    ADD COLUMN churn_risk_reason text;
COMMENT ON COLUMN health_score.score_history.churn_risk IS 'Churn risk 0-100 % at that date from the account churn model the dashboards use (churn_model), only when the model''s training window (as_of + horizon) had ended by then: no risk from a model that learned from later churn. NULL otherwise (see churn_risk_reason).';
COMMENT ON COLUMN health_score.score_history.churn_model IS 'The account churn model the snapshot asked for the risk (account_churn_model()); NULL when there was none.';
COMMENT ON COLUMN health_score.score_history.churn_model_version IS 'Its version.';
COMMENT ON COLUMN health_score.score_history.churn_risk_reason IS 'Why churn_risk is NULL, when it is: no account churn model, a model trained on churn after that date, or no data for a metric the model needs.';
-- The churn risk's 95 % interval, from models that store their covariance matrix.
ALTER TABLE health_score.score_history ADD COLUMN churn_risk_low float8, ADD COLUMN churn_risk_high float8;
COMMENT ON COLUMN health_score.score_history.churn_risk_low IS 'Low end of the 95 % confidence interval of churn_risk (account_churn_risk); NULL with churn_risk, when the model has no covariance matrix (trained before 0.2.0), and in rows written before 0.2.0.';
COMMENT ON COLUMN health_score.score_history.churn_risk_high IS 'High end of the 95 % confidence interval of churn_risk; NULL as churn_risk_low.';

-- Bad data: refresh() checks the feeds first; metric_history keeps metrics with a value only.
-- Dates: snapshot refuses an infinite date (check_date). Concurrency: snapshots lock the
-- history in SHARE UPDATE EXCLUSIVE mode (no deadlock with writers); 40001 for a concurrent
-- snapshot of the date under REPEATABLE READ.
-- full_rescore: snapshots score through the scoring state unless asked to rebuild it.
DROP FUNCTION health_score.snapshot(date);
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

DROP FUNCTION health_score.refresh();
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

-- Backtests: a date range and a configuration version (snapshots of several versions are
-- refused), the what-if and the comparison; the 0.1.0 functions are replaced.
DROP FUNCTION health_score.backtest_bands(integer[]);
DROP FUNCTION health_score.backtest(integer[]);
DROP FUNCTION health_score.backtest_points(integer[]);
DROP FUNCTION health_score.backtest_check(integer[]);

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

-- The dashboards' copies, dropped in the views part, created again over the views in their
-- new form: empty here, as what the views read is not all in place yet; they are refreshed at
-- the end of this script.
CREATE MATERIALIZED VIEW health_score.account_health_mv AS
    SELECT * FROM health_score.account_health WITH NO DATA;
CREATE UNIQUE INDEX account_health_mv_account_id_idx ON health_score.account_health_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.account_health_mv IS
'account_health as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.dimension_breakdown_mv AS
    SELECT * FROM health_score.dimension_breakdown WITH NO DATA;
CREATE UNIQUE INDEX dimension_breakdown_mv_account_id_dimension_idx
    ON health_score.dimension_breakdown_mv (account_id, dimension);
COMMENT ON MATERIALIZED VIEW health_score.dimension_breakdown_mv IS
'dimension_breakdown as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.band_summary_mv AS
    SELECT * FROM health_score.band_summary WITH NO DATA;
CREATE UNIQUE INDEX band_summary_mv_band_idx ON health_score.band_summary_mv (band);
COMMENT ON MATERIALIZED VIEW health_score.band_summary_mv IS
'band_summary as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.action_queue_mv AS
    SELECT * FROM health_score.action_queue WITH NO DATA;
CREATE UNIQUE INDEX action_queue_mv_account_id_idx ON health_score.action_queue_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.action_queue_mv IS
'action_queue as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.upsell_candidates_mv AS
    SELECT * FROM health_score.upsell_candidates WITH NO DATA;
CREATE UNIQUE INDEX upsell_candidates_mv_account_id_idx ON health_score.upsell_candidates_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.upsell_candidates_mv IS
'upsell_candidates as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.score_trends_mv AS
    SELECT * FROM health_score.score_trends WITH NO DATA;
CREATE UNIQUE INDEX score_trends_mv_account_id_idx ON health_score.score_trends_mv (account_id);
COMMENT ON MATERIALIZED VIEW health_score.score_trends_mv IS
'score_trends as of the last refresh() (materialized for dashboards; refreshed concurrently).';

CREATE MATERIALIZED VIEW health_score.alerts_mv AS
    SELECT * FROM health_score.alerts WITH NO DATA;
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

-- Metric history, compact: one row per account and date (metric_history_days, partitioned by
-- month) holding the values in the order of a layout (metric_history_layouts), read through
-- the view metric_history, which has the columns of the table it replaces. The rows of that
-- table move in unchanged (metric_history_arrays keeps any value, NULLs and contributions that
-- are not effective_weight * sub_score included), date by date, through the writer snapshot
-- uses; the table goes. Objects of the user's over it would stop the drop: name them first.
DO $$
DECLARE
    users text;
BEGIN
    -- what depends on the table but is no part of it (its policy depends on it both ways)
    SELECT string_agg(DISTINCT coalesce(r.ev_class::pg_catalog.regclass::text,
                                        pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)), ', ')
      INTO users
      FROM pg_catalog.pg_depend d
      LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid
     WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = 'health_score.metric_history'::regclass
       AND d.deptype = 'n'
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend o
                        WHERE o.classid = d.classid AND o.objid = d.objid AND o.refobjid = d.refobjid
                          AND o.refclassid = d.refclassid AND o.deptype IN ('a', 'i'));
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'health_score 0.2.0 stores metric_history compactly and makes it a view, and these read the table: %', users
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop them, run ALTER EXTENSION health_score UPDATE, and create them again (the view has the same columns).';
    END IF;
END
$$;
ALTER EXTENSION health_score DROP TABLE health_score.metric_history;
ALTER TABLE health_score.metric_history RENAME TO metric_history_0_1_0;

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

ALTER TABLE health_score.metric_history_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible_accounts ON health_score.metric_history_days FOR SELECT
    USING (account_id IN (SELECT a.account_id FROM health_score.accounts a));
-- As access.sql grants on every table and sequence; here already, since each month's partition
-- takes the grants of metric_history_days when it is created, below.
GRANT SELECT ON health_score.metric_history_layouts, health_score.metric_history_days
    TO health_score_reader, health_score_csm;
GRANT SELECT ON SEQUENCE health_score.metric_history_layout_numbers TO health_score_reader, health_score_csm;

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

DO $$
DECLARE
    day date;
BEGIN
    FOR day IN SELECT DISTINCT h.as_of FROM health_score.metric_history_0_1_0 h ORDER BY 1 LOOP
        PERFORM health_score.metric_history_partition(day);
        PERFORM health_score.metric_history_write(day,
            '(SELECT * FROM health_score.metric_history_0_1_0 WHERE as_of = $1)');
    END LOOP;
END
$$;
DROP TABLE health_score.metric_history_0_1_0;

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

CREATE TRIGGER remove INSTEAD OF DELETE ON health_score.metric_history
    FOR EACH ROW EXECUTE FUNCTION health_score.metric_history_delete();

GRANT SELECT ON health_score.metric_history TO health_score_reader, health_score_csm;

-- Access (src/sql/access.sql) --------------------------------------------------------------------

-- Views check the caller's rights on the tables below them (PostgreSQL 15 and later), so
-- row-level security applies through them too. On older servers they read through
-- account_scores() and metric_scores(), which run as the caller and so see only its rows.
-- CREATE OR REPLACE VIEW resets a view's options, and the upgrade replaces views (the churn
-- and views parts): set it again on every view, as a fresh install does.
DO $$
DECLARE
    v record;
BEGIN
    IF current_setting('server_version_num')::int >= 150000 THEN
        FOR v IN SELECT c.relname FROM pg_catalog.pg_class c
                  WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v' LOOP
            EXECUTE format('ALTER VIEW health_score.%I SET (security_invoker = true)', v.relname);
        END LOOP;
    END IF;
END
$$;

-- The views and dashboards' copies created again (see the churn part) and the new history views
-- get the grants of a fresh install: every role reads the views, the copies are for readers only.
GRANT SELECT ON health_score.revenue_at_risk, health_score.account_churn, health_score.account_health,
    health_score.dimension_breakdown, health_score.band_summary, health_score.action_queue,
    health_score.upsell_candidates, health_score.score_trends, health_score.band_changes, health_score.alerts,
    health_score.account_history, health_score.dimension_history
    TO health_score_reader, health_score_csm;
GRANT SELECT ON health_score.account_health_mv, health_score.dimension_breakdown_mv,
    health_score.band_summary_mv, health_score.action_queue_mv, health_score.upsell_candidates_mv,
    health_score.score_trends_mv, health_score.alerts_mv TO health_score_reader;

-- The API is what PUBLIC may execute; internals are not part of it. Aggregates check EXECUTE
-- on their support functions against the aggregate's owner and triggers fire whatever the
-- caller's rights, so revoking those from PUBLIC changes nothing for any caller. The query
-- builders and argument checks are called by the API's functions as the caller, so the
-- extension's roles keep EXECUTE on them; those only the writers use (training, feed, catalog
-- and cron checks: the extension's owner) have no grant. REVOKEs in the extension script are recorded in pg_init_privs,
-- so pg_dump and upgrades keep them.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'health_score'::regnamespace
                AND (p.prorettype = 'trigger'::regtype
                     OR p.oid IN (SELECT s.fn FROM pg_catalog.pg_aggregate a,
                                         LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn),
                                                         (a.aggserialfn), (a.aggdeserialfn)) AS s(fn))) LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION health_score.observations_sql(), health_score.metric_scores_sql(),
    health_score.account_periods_sql(), health_score.live_accounts_sql(),
    health_score.account_scores_sql(text), health_score.account_features_sql(text[], text),
    health_score.score_account(text, text, float8, float8, float8, float8, float8, float8, text[], float8[],
                               float8[], text[], float8[], float8[]),
    health_score.check_as_of(timestamptz), health_score.check_date(text, date),
    health_score.step_dates(date, date, interval),
    health_score.refresh_rows(timestamptz),
    health_score.attribution_check(date, date),
    health_score.churn_fit(text, text[], text[], text, integer, float8, float8),
    health_score.check_fit_arguments(integer, float8, float8, float8), health_score.check_metric_names(text[]),
    health_score.churn_evaluate(text, text[], text, float8[]), health_score.churn_columns(regclass, text[], text, text, jsonb),
    health_score.account_training(timestamptz, interval, text[], integer, integer, float8, float8, float8),
    health_score.account_imputation(text, text[]), health_score.account_design(text[], jsonb, text),
    health_score.account_model_design(health_score.churn_models, text),
    health_score.churn_train(text, text, text, text, text, text[], text[], text, integer, float8, float8, float8,
                             timestamptz, interval, text[], text[], jsonb, text),
    health_score.feed_relation(text, text, regclass), health_score.check_cron(text),
    health_score.catalog_keys(text), health_score.check_removed_default(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.observations_sql(), health_score.metric_scores_sql(),
    health_score.account_periods_sql(), health_score.live_accounts_sql(),
    health_score.account_scores_sql(text), health_score.account_features_sql(text[], text),
    health_score.score_account(text, text, float8, float8, float8, float8, float8, float8, text[], float8[],
                               float8[], text[], float8[], float8[]),
    health_score.check_as_of(timestamptz), health_score.check_date(text, date),
    health_score.step_dates(date, date, interval),
    health_score.refresh_rows(timestamptz),
    health_score.attribution_check(date, date),
    health_score.churn_fit(text, text[], text[], text, integer, float8, float8),
    health_score.check_fit_arguments(integer, float8, float8, float8), health_score.check_metric_names(text[]),
    health_score.churn_evaluate(text, text[], text, float8[]), health_score.churn_columns(regclass, text[], text, text, jsonb),
    health_score.account_training(timestamptz, interval, text[], integer, integer, float8, float8, float8),
    health_score.account_imputation(text, text[]), health_score.account_design(text[], jsonb, text),
    health_score.account_model_design(health_score.churn_models, text)
    TO health_score_reader, health_score_csm;

-- Backtest internals: the checks and the points and figures of the stored and what-if backtests.
REVOKE EXECUTE ON FUNCTION health_score.backtest_check_horizons(integer[]),
    health_score.backtest_check(integer[], date, date, bigint),
    health_score.backtest_points_of(integer[], date, date, bigint, date[], text),
    health_score.backtest_of(integer[], date, date, bigint, date[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.backtest_check_horizons(integer[]),
    health_score.backtest_check(integer[], date, date, bigint),
    health_score.backtest_points_of(integer[], date, date, bigint, date[], text),
    health_score.backtest_of(integer[], date, date, bigint, date[], text)
    TO health_score_reader, health_score_csm;

-- The rows of trends, score_change_z and alerts_at, read by them as the caller.
REVOKE EXECUTE ON FUNCTION health_score.trends_of(date), health_score.score_change_z_of(date),
    health_score.alerts_at_of(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.trends_of(date), health_score.score_change_z_of(date),
    health_score.alerts_at_of(date)
    TO health_score_reader, health_score_csm;

-- Row-level security on accounts and observations is always on, and the policies read one flag,
-- access_settings.restrict_to_owners, which restrict_accounts_to_owners() sets. The flag is a
-- row of a configuration table, so pg_dump keeps it and a restore (which recreates the policies
-- with CREATE EXTENSION) restricts again; the policies themselves never change.
CREATE TABLE health_score.access_settings (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    restrict_to_owners boolean NOT NULL
);

COMMENT ON TABLE health_score.access_settings IS
'Access settings: at most one row, written by restrict_accounts_to_owners(); no row means unrestricted.';
COMMENT ON COLUMN health_score.access_settings.id IS 'Always true: the table holds at most one row.';
COMMENT ON COLUMN health_score.access_settings.restrict_to_owners IS
'True after restrict_accounts_to_owners(): roles other than health_score_reader''s members see only the accounts they own.';

SELECT pg_catalog.pg_extension_config_dump('health_score.access_settings', '');
-- The policies read it as the caller, whoever may read accounts; the flag is no secret.
GRANT SELECT ON health_score.access_settings TO PUBLIC;

CREATE FUNCTION health_score.accounts_restricted() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT s.restrict_to_owners FROM health_score.access_settings s), false)
$$;

COMMENT ON FUNCTION health_score.accounts_restricted() IS
'True when restrict_accounts_to_owners() is on: then only members of health_score_reader see every account.';

-- A 0.1.0 restriction (its policies, created by restrict_accounts_to_owners(), and row-level
-- security turned on) becomes the flag, and the policies are replaced by the fixed ones.
INSERT INTO health_score.access_settings (id, restrict_to_owners)
SELECT true, true
 WHERE (SELECT c.relrowsecurity FROM pg_catalog.pg_class c WHERE c.oid = 'health_score.accounts'::regclass)
   AND EXISTS (SELECT FROM pg_catalog.pg_policies p
                WHERE p.schemaname = 'health_score' AND p.tablename = 'accounts' AND p.policyname = 'owner_only');
DROP POLICY IF EXISTS owner_only ON health_score.accounts;
DROP POLICY IF EXISTS owner_only ON health_score.observations;

CREATE FUNCTION health_score.sees_every_account() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT health_score.accounts_restricted()
           OR pg_has_role(current_user, 'health_score_reader', 'MEMBER')
$$;

COMMENT ON FUNCTION health_score.sees_every_account() IS
'True when the current role sees every account: accounts are not restricted to owners, or it is a member of health_score_reader. Else it sees the accounts it owns (table owners and superusers, whom row-level security does not restrict, see all).';

-- Before PostgreSQL 15 a view reads its tables with its owner's rights, which row-level
-- security does not restrict: there metric_history keeps itself to the accounts the caller may
-- see, as the policy of metric_history_days does (the owner_only policy of accounts, spelt out).
DO $$
BEGIN
    IF current_setting('server_version_num')::int < 150000 THEN
        EXECUTE format('CREATE OR REPLACE VIEW health_score.metric_history AS %s WHERE m.account_id IN (SELECT a.account_id FROM health_score.accounts a WHERE (SELECT health_score.sees_every_account()) OR a.owner = CURRENT_USER)',
                       rtrim(pg_get_viewdef('health_score.metric_history'::regclass), '; ' || chr(10)));
    END IF;
END
$$;

-- Grants decide who may write (all_rows); the restrictive owner_only policy narrows what the
-- caller sees. Its test is a scalar subquery, evaluated once per query rather than per row.
ALTER TABLE health_score.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE health_score.observations ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_rows ON health_score.accounts USING (true) WITH CHECK (true);
CREATE POLICY all_rows ON health_score.observations USING (true) WITH CHECK (true);
CREATE POLICY owner_only ON health_score.accounts AS RESTRICTIVE FOR SELECT
    USING ((SELECT health_score.sees_every_account()) OR owner = current_user);
CREATE POLICY owner_only ON health_score.observations AS RESTRICTIVE FOR SELECT
    USING ((SELECT health_score.sees_every_account())
           OR account_id IN (SELECT a.account_id FROM health_score.accounts a));
-- Subscription periods follow their account, as observations do.
ALTER TABLE health_score.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_rows ON health_score.subscriptions USING (true) WITH CHECK (true);
CREATE POLICY owner_only ON health_score.subscriptions AS RESTRICTIVE FOR SELECT
    USING ((SELECT health_score.sees_every_account())
           OR account_id IN (SELECT a.account_id FROM health_score.accounts a));
GRANT SELECT ON health_score.subscriptions, health_score.account_periods, health_score.churn_events
    TO health_score_reader, health_score_csm;

CREATE OR REPLACE FUNCTION health_score.restrict_accounts_to_owners(enable boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    distributed boolean;
BEGIN
    IF enable IS NULL THEN
        RAISE EXCEPTION 'enable must be true or false, got NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- On Citus (distribute()) the owner_only policies are gone: Citus allows no subquery in the
    -- policies of a distributed table. Refuse rather than restrict nothing.
    IF enable AND to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
            INTO distributed USING 'health_score.accounts'::regclass;
        IF distributed THEN
            RAISE EXCEPTION 'accounts cannot be restricted to their owners on Citus: health_score.accounts is distributed, and Citus allows no subquery in its row-level security policies'
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Give CSMs their own views or databases; on Citus every role that may read the tables sees every account.';
        END IF;
    END IF;
    INSERT INTO health_score.access_settings (id, restrict_to_owners) VALUES (true, enable)
    ON CONFLICT (id) DO UPDATE SET restrict_to_owners = EXCLUDED.restrict_to_owners;
END
$$;

COMMENT ON FUNCTION health_score.restrict_accounts_to_owners(boolean) IS
'Restricts (or, with false, no longer restricts) accounts, observations and subscriptions, and so every score, view and history read from them: members of health_score_reader see every account, any other role only the accounts whose owner it is. Table owners and superusers are not restricted. Kept by pg_dump (access_settings).';

-- Backfill's steps: used only by the roles that write the history (as installed, the
-- extension's owner), through backfill and backfill_commit_each.
REVOKE EXECUTE ON FUNCTION health_score.duration_text(float8),
    health_score.backfill_dates(date, date, interval, boolean), health_score.backfill_done(date),
    health_score.backfill_step(date, boolean, integer, integer, integer, integer, float8),
    health_score.backfill_finish(date, date, integer, integer, float8),
    health_score.warn_default_segments(text), health_score.refresh_dashboards(date) FROM PUBLIC;

-- Metric history's writers and their helpers: used only by the roles that write the history
-- (as installed, the extension's owner), through snapshot.
REVOKE EXECUTE ON FUNCTION health_score.metric_history_arrays(text, text, float8, float8, float8, float8),
    health_score.metric_history_partition(date), health_score.metric_history_write(date, text),
    health_score.metric_history_layout(text[], text[]) FROM PUBLIC;

-- Feeds and bad data: the feed checks and readers the scoring calls as the caller. A feed needs
-- no grant of its own: feed_rows reads it as its owner and returns the caller's accounts only.
REVOKE EXECUTE ON FUNCTION health_score.feed_problem(regclass), health_score.feed_relid(text),
    health_score.feed_rows(text, timestamptz, text),
    health_score.bad_observations(text, timestamptz),
    health_score.refuse_observation(text, text, text, timestamptz, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.feed_problem(regclass), health_score.feed_relid(text),
    health_score.feed_rows(text, timestamptz, text),
    health_score.bad_observations(text, timestamptz),
    health_score.refuse_observation(text, text, text, timestamptz, float8)
    TO health_score_reader, health_score_csm;

-- The query builders split for the incremental scoring, called as the caller like the others,
-- and the metric level they call.
REVOKE EXECUTE ON FUNCTION health_score.feeds_sql(), health_score.metric_rows_sql(text),
    health_score.metric_level(float8[], float8, boolean[], text[], text[], text[], text[], float8[], float8[], text[],
                              float8[], integer[], float8[], integer[], integer[], float8[], float8[], float8[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.feeds_sql(), health_score.metric_rows_sql(text),
    health_score.metric_level(float8[], float8, boolean[], text[], text[], text[], text[], float8[], float8[], text[],
                              float8[], integer[], float8[], integer[], integer[], float8[], float8[], float8[])
    TO health_score_reader, health_score_csm;

-- The incremental scoring: its state and change log hold per-account data, and only the
-- roles that write the history (as installed, the extension's owner) use them, through
-- snapshot. scoring_state_info says what the state is and what the last snapshot did: no
-- account's data, readable by the extension's roles.
GRANT SELECT ON health_score.scoring_state_info, health_score.scoring_state, health_score.observation_changes
    TO health_score_reader, health_score_csm;
REVOKE ALL ON health_score.scoring_state, health_score.observation_changes FROM health_score_reader, health_score_csm;
REVOKE EXECUTE ON FUNCTION health_score.roll_state(timestamptz, boolean),
    health_score.rolled_metric_scores(timestamptz, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION health_score.observations_changed() FROM PUBLIC;

-- Citus (src/sql/citus.sql) ---------------------------------------------------------------------

CREATE FUNCTION health_score.distribute(shard_count integer DEFAULT NULL)
RETURNS TABLE (table_name regclass, kind text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
    pol record;
    moved regclass[] := '{}';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'distribute() needs Citus: the citus extension is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Load citus (shared_preload_libraries = ''citus''), CREATE EXTENSION citus and add the workers, then call distribute() on the coordinator.';
    END IF;
    IF shard_count IS NOT NULL AND shard_count NOT BETWEEN 1 AND 64000 THEN
        RAISE EXCEPTION 'shard_count must be from 1 to 64000, got %', shard_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Citus allows no subquery in the policies of a distributed table, and the restriction of
    -- accounts to their owners is such a policy (observations and history follow accounts).
    IF health_score.accounts_restricted() THEN
        RAISE EXCEPTION 'distribute() cannot keep accounts restricted to their owners: Citus allows no subquery in the row-level security policies of a distributed table'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Run restrict_accounts_to_owners(false) first; on Citus every role that may read the tables sees every account.';
    END IF;
    -- With accounts unrestricted, the policies with a subquery (on accounts) let every row
    -- through: restrictive ones go, permissive ones let every row through without one. So on
    -- the tables to distribute, and on the metric history and its months, which stay on the
    -- coordinator: Citus joins no local table to the distributed accounts in a policy.
    FOR pol IN
        SELECT p.polrelid::regclass AS rel, p.polname, p.polpermissive,
               CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS cmd
          FROM pg_policy p
         WHERE p.polcmd <> 'a'
           AND coalesce(pg_get_expr(p.polqual, p.polrelid), '') || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
               ~* '\mselect\M'
           AND (p.polrelid IN (SELECT t.relid FROM pg_partition_tree('health_score.metric_history_days') t)
                OR p.polrelid IN (SELECT d.objid FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
                                     AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'health_score')
                                     AND EXISTS (SELECT FROM pg_attribute a
                                                  WHERE a.attrelid = d.objid AND a.attname = 'account_id' AND NOT a.attisdropped)))
         ORDER BY p.polrelid, p.polname
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', pol.polname, pol.rel);
        IF pol.polpermissive THEN
            EXECUTE format('CREATE POLICY %I ON %s FOR %s USING (true)', pol.polname, pol.rel, pol.cmd);
        END IF;
    END LOOP;
    FOR t IN
        SELECT c.oid::regclass
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'health_score')
           AND c.relkind = 'r'
           AND EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped)
         ORDER BY c.relname <> 'accounts', c.relname   -- accounts first: the others colocate with it
    LOOP
        table_name := t;
        IF EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = t) THEN
            kind := 'already distributed';
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- Citus distributes no table with triggers: the ones recording changes for the
        -- incremental scoring go, and every snapshot then reads every row (roll_state).
        IF t = 'health_score.observations'::regclass THEN
            DROP TRIGGER IF EXISTS record_inserts ON health_score.observations;
            DROP TRIGGER IF EXISTS record_updates ON health_score.observations;
            DROP TRIGGER IF EXISTS record_deletes ON health_score.observations;
            DROP TRIGGER IF EXISTS record_truncates ON health_score.observations;
        END IF;
        -- and the check that an account's subscription periods never overlap goes too: on
        -- Citus the loader must keep them apart (account_periods would count both).
        -- Its reference to accounts loses ON UPDATE CASCADE, which Citus refuses on the
        -- distribution column (and Citus changes no row's account_id anyway).
        IF t = 'health_score.subscriptions'::regclass THEN
            DROP TRIGGER IF EXISTS no_overlap ON health_score.subscriptions;
            ALTER TABLE health_score.subscriptions
                DROP CONSTRAINT IF EXISTS subscriptions_account_id_fkey,
                ADD CONSTRAINT subscriptions_account_id_fkey FOREIGN KEY (account_id)
                    REFERENCES health_score.accounts (account_id) ON DELETE CASCADE;
        END IF;
        IF t = 'health_score.accounts'::regclass THEN
            PERFORM create_distributed_table(t, 'account_id', colocate_with => 'none',
                                             shard_count => coalesce(shard_count, current_setting('citus.shard_count')::int));
        ELSE
            PERFORM create_distributed_table(t, 'account_id', colocate_with => 'health_score.accounts');
        END IF;
        moved := moved || t;
        kind := 'distributed';
        RETURN NEXT;
    END LOOP;
    -- The rows now live in the shards: free the coordinator's copies, once every table is
    -- distributed (Citus refuses to empty accounts while a local table, subscriptions,
    -- still references it).
    FOREACH t IN ARRAY moved LOOP
        PERFORM truncate_local_data_after_distributing_table(t);
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.distribute(integer) IS
'On a Citus coordinator: distributes every table of the extension keyed by account (accounts, observations, subscriptions, score_history, scoring_state) by account_id, colocated, in shard_count shards (default citus.shard_count), moving their rows to the workers; the catalog and the compact metric history (metric_history_days, partitioned by month) stay on the coordinator. One row per table: distributed, or already distributed. The triggers Citus cannot distribute go: those recording observation changes (every snapshot then rescores from every row) and the overlap check of subscriptions (periods must then be loaded without overlaps); the reference of subscriptions to accounts keeps ON DELETE CASCADE but not ON UPDATE CASCADE, which Citus refuses. The row-level security policies that read accounts (on these tables and on the metric history) let every row through: on Citus every role that may read the tables sees every account. Refuses (0A000) without Citus and while restrict_accounts_to_owners() is on. The extension''s owner only.';

-- Distributing moves the book: the extension's owner (who owns the tables) decides.
REVOKE EXECUTE ON FUNCTION health_score.distribute(integer) FROM PUBLIC;

-- Last: the dashboards' copies created again in the history part are filled, as of now (or of the
-- setting health_score.as_of), now that everything the views read is in place.
REFRESH MATERIALIZED VIEW health_score.account_health_mv;
REFRESH MATERIALIZED VIEW health_score.dimension_breakdown_mv;
REFRESH MATERIALIZED VIEW health_score.band_summary_mv;
REFRESH MATERIALIZED VIEW health_score.action_queue_mv;
REFRESH MATERIALIZED VIEW health_score.upsell_candidates_mv;
REFRESH MATERIALIZED VIEW health_score.score_trends_mv;
REFRESH MATERIALIZED VIEW health_score.alerts_mv;
