-- health_score install script, part 2: the catalog (the user's configuration).
--
-- Every table here is the user's to change. Rows seeded by CREATE EXTENSION carry
-- is_default = true; any insert or update by the user makes a row the user's (is_default =
-- false). pg_dump keeps only the user's rows (pg_extension_config_dump with a filter), and a
-- restore lays them over the freshly seeded defaults: inserting a row whose key matches a
-- seeded row replaces that row instead of failing. Deleting a seeded row leaves a tombstone in
-- removed_defaults, which is dumped too, so a restore deletes it again.

-- Dimensions ---------------------------------------------------------------------------------

CREATE TABLE health_score.dimensions (
    name        text PRIMARY KEY,
    weight      float8 NOT NULL,
    description text,
    is_default  boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE health_score.dimensions IS
'The dimensions of the health score and their default weights (relative; they need not sum to 100).';
COMMENT ON COLUMN health_score.dimensions.name IS 'Dimension name, e.g. product.';
COMMENT ON COLUMN health_score.dimensions.weight IS 'Weight of the dimension in the account score, positive; segment_dimension_weights overrides it per segment.';
COMMENT ON COLUMN health_score.dimensions.description IS 'What the dimension measures.';
COMMENT ON COLUMN health_score.dimensions.is_default IS 'True for a row as seeded by the extension; any change by the user makes it false.';

-- Metrics ------------------------------------------------------------------------------------

CREATE TABLE health_score.metrics (
    name            text PRIMARY KEY,
    dimension       text NOT NULL REFERENCES health_score.dimensions (name) ON UPDATE CASCADE,
    weight          float8 NOT NULL,
    input           text NOT NULL,
    aggregation     text NOT NULL DEFAULT 'decayed_avg',
    half_life       interval NOT NULL DEFAULT interval '30 days',
    max_age         interval,
    curve           text NOT NULL DEFAULT 'linear',
    breakpoints     float8[] NOT NULL,
    scores          float8[] NOT NULL,
    direction       text NOT NULL,
    expansion_at    float8,
    enabled         boolean NOT NULL DEFAULT true,
    unit            text,
    description     text,
    is_default      boolean NOT NULL DEFAULT false,
    absent_means    text NOT NULL
);

COMMENT ON TABLE health_score.metrics IS
'The metrics of the health score: which observations each reads, how they become one raw value, and the curve that maps that value onto a 0-100 sub-score.';
COMMENT ON COLUMN health_score.metrics.name IS 'Metric name, e.g. seat_penetration.';
COMMENT ON COLUMN health_score.metrics.dimension IS 'The dimension (health_score.dimensions) the metric belongs to.';
COMMENT ON COLUMN health_score.metrics.weight IS 'Weight of the metric within its dimension, positive; segment_metric_weights overrides it per segment.';
COMMENT ON COLUMN health_score.metrics.input IS 'The observations the metric reads: observations.metric = input (usually the metric''s own name; two metrics may read the same input).';
COMMENT ON COLUMN health_score.metrics.aggregation IS 'How observations become one raw value: decayed_avg, decayed_sum, decayed_rate (decayed events per day over the decayed time since the account started), latest, or days_since (days since the latest observation).';
COMMENT ON COLUMN health_score.metrics.half_life IS 'Half-life of the exponential time decay (decayed_* aggregations).';
COMMENT ON COLUMN health_score.metrics.max_age IS 'Observations older than this at scoring time are ignored; NULL for no limit.';
COMMENT ON COLUMN health_score.metrics.curve IS 'linear (health_score.scale, interpolated) or banded (health_score.scale_banded, steps).';
COMMENT ON COLUMN health_score.metrics.breakpoints IS 'Raw values of the curve, strictly increasing.';
COMMENT ON COLUMN health_score.metrics.scores IS 'Sub-score 0-100 at each breakpoint.';
COMMENT ON COLUMN health_score.metrics.direction IS 'higher (higher is better: scores never fall), lower (lower is better: scores never rise) or target (best in the middle).';
COMMENT ON COLUMN health_score.metrics.expansion_at IS 'A raw value at or above this is an expansion signal (upsell_candidates); NULL when the metric is not one.';
COMMENT ON COLUMN health_score.metrics.enabled IS 'False leaves the metric out of scoring.';
COMMENT ON COLUMN health_score.metrics.unit IS 'Unit of the raw value.';
COMMENT ON COLUMN health_score.metrics.description IS 'What the metric measures and how to feed it.';
COMMENT ON COLUMN health_score.metrics.is_default IS 'True for a row as seeded by the extension; any change by the user makes it false.';
COMMENT ON COLUMN health_score.metrics.absent_means IS 'What an account live at as_of with no observation of the input (within max_age) has: unknown (no data: left out, weights renormalised) or zero (a raw value of 0; for days_since, the days since the account''s first period started, account_periods.account_started_on, at most max_age). NULL takes the default of the aggregation: zero for decayed_sum, decayed_rate and days_since, unknown for decayed_avg and latest.';

-- Segment profiles -----------------------------------------------------------------------------

CREATE TABLE health_score.segment_dimension_weights (
    segment     text NOT NULL,
    dimension   text NOT NULL REFERENCES health_score.dimensions (name) ON UPDATE CASCADE ON DELETE CASCADE,
    weight      float8 NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (segment, dimension)
);

COMMENT ON TABLE health_score.segment_dimension_weights IS
'Per-segment dimension weights; a dimension without a row here uses dimensions.weight.';
COMMENT ON COLUMN health_score.segment_dimension_weights.segment IS 'Segment, exactly as in accounts.segment (case-sensitive; see check_segments()).';
COMMENT ON COLUMN health_score.segment_dimension_weights.dimension IS 'The dimension whose weight this overrides.';
COMMENT ON COLUMN health_score.segment_dimension_weights.weight IS 'The weight for accounts of this segment, positive.';
COMMENT ON COLUMN health_score.segment_dimension_weights.is_default IS 'True for a row as seeded by the extension.';

CREATE TABLE health_score.segment_metric_weights (
    segment     text NOT NULL,
    metric      text NOT NULL REFERENCES health_score.metrics (name) ON UPDATE CASCADE ON DELETE CASCADE,
    weight      float8 NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (segment, metric)
);

COMMENT ON TABLE health_score.segment_metric_weights IS
'Per-segment metric weights within their dimension; a metric without a row here uses metrics.weight.';
COMMENT ON COLUMN health_score.segment_metric_weights.segment IS 'Segment, exactly as in accounts.segment (case-sensitive; see check_segments()).';
COMMENT ON COLUMN health_score.segment_metric_weights.metric IS 'The metric whose weight this overrides.';
COMMENT ON COLUMN health_score.segment_metric_weights.weight IS 'The weight for accounts of this segment, positive.';
COMMENT ON COLUMN health_score.segment_metric_weights.is_default IS 'True for a row as seeded by the extension.';

-- Action bands and alert tiers -----------------------------------------------------------------

CREATE TABLE health_score.bands (
    band            text PRIMARY KEY,
    min_score       float8 NOT NULL,
    max_score       float8 NOT NULL,
    needs_action    boolean NOT NULL DEFAULT false,
    focus           text NOT NULL,
    cadence         text NOT NULL,
    playbook        text NOT NULL,
    is_default      boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE health_score.bands IS
'Action bands: each owns the scores from min_score (inclusive) to max_score (exclusive; the band ending at 100 owns 100 too). Together they must cover 0-100 without gap or overlap (checked at commit).';
COMMENT ON COLUMN health_score.bands.band IS 'Band name, e.g. green.';
COMMENT ON COLUMN health_score.bands.min_score IS 'Lowest score of the band, inclusive.';
COMMENT ON COLUMN health_score.bands.max_score IS 'Upper end of the band, exclusive (inclusive when it is 100).';
COMMENT ON COLUMN health_score.bands.needs_action IS 'True when accounts in this band go to the action queue.';
COMMENT ON COLUMN health_score.bands.focus IS 'What the customer-success team aims at in this band.';
COMMENT ON COLUMN health_score.bands.cadence IS 'How often the account owner touches base.';
COMMENT ON COLUMN health_score.bands.playbook IS 'The actions to take for accounts in this band.';
COMMENT ON COLUMN health_score.bands.is_default IS 'True for a row as seeded by the extension.';

CREATE TABLE health_score.alert_tiers (
    tier            text PRIMARY KEY,
    min_score       float8 NOT NULL,
    max_score       float8 NOT NULL,
    respond_within  interval,
    responder       text NOT NULL,
    is_default      boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE health_score.alert_tiers IS
'Alert tiers: who acts and how fast. Each owns the scores from min_score (inclusive) to max_score (exclusive; the tier ending at 100 owns 100 too); together they cover 0-100 (checked at commit).';
COMMENT ON COLUMN health_score.alert_tiers.tier IS 'Tier name, e.g. critical.';
COMMENT ON COLUMN health_score.alert_tiers.min_score IS 'Lowest score of the tier, inclusive.';
COMMENT ON COLUMN health_score.alert_tiers.max_score IS 'Upper end of the tier, exclusive (inclusive when it is 100).';
COMMENT ON COLUMN health_score.alert_tiers.respond_within IS 'How soon someone must act (zero for at once); NULL for the standard cadence.';
COMMENT ON COLUMN health_score.alert_tiers.responder IS 'Who acts.';
COMMENT ON COLUMN health_score.alert_tiers.is_default IS 'True for a row as seeded by the extension.';

-- Settings ---------------------------------------------------------------------------------------

CREATE TABLE health_score.settings (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    min_coverage    float8 NOT NULL DEFAULT 0.5,
    is_default      boolean NOT NULL DEFAULT false,
    bad_data        text NOT NULL DEFAULT 'isolate',
    data_through    date,
    churn_model     text,
    churn_grace_days integer NOT NULL DEFAULT 30
);

COMMENT ON TABLE health_score.settings IS 'Scoring settings: one row.';
COMMENT ON COLUMN health_score.settings.id IS 'Always true: the table holds one row.';
COMMENT ON COLUMN health_score.settings.min_coverage IS 'Below this coverage (share 0-1 of the configured weight that has data) an account''s score is NULL, with a reason.';
COMMENT ON COLUMN health_score.settings.is_default IS 'True while the row is as seeded by the extension.';
COMMENT ON COLUMN health_score.settings.bad_data IS 'isolate (default): a NaN or infinite row in a feed makes only its account''s score NULL, with a reason, and a feed that cannot be read is skipped with a WARNING; error: either stops scoring with an error naming the feed.';
COMMENT ON COLUMN health_score.settings.data_through IS 'The last day the data are complete for (observations and churn dates): an account churn model is trained only on churn up to the end of that day. NULL (the default): the day of the latest observation. See data_through().';
COMMENT ON COLUMN health_score.settings.churn_model IS 'The account churn model the views, revenue_at_risk and history use (its active version). Training an account model while it is NULL writes that model''s name here, so training another name later does not switch the dashboards; NULL with models trained (an install upgraded from 0.1.0): the newest. See account_churn_model().';
COMMENT ON COLUMN health_score.settings.churn_grace_days IS 'Days an account may go without a subscription period and still renew: a period that starts at most this many days after the previous one ended continues the stay, a later one is a reactivation after a churn (churn_events). 0 or more; default 30. Not read in scoring: an account is not live between two periods.';

-- catalog_keys(catalog): the key columns of each catalog table that has seeded rows.
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

-- check_removed_default(catalog, key): a tombstone must name exactly one row, by its whole key:
-- the key {} (or part of a key) would match, and delete, every seeded row of the catalog.
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

CREATE TABLE health_score.removed_defaults (
    catalog     text NOT NULL,
    key         jsonb NOT NULL,
    removed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (catalog, key),
    CONSTRAINT names_one_row CHECK (health_score.check_removed_default(catalog, key))
);

COMMENT ON TABLE health_score.removed_defaults IS
'Seeded catalog rows the user deleted, so that a restore from pg_dump deletes them again.';
COMMENT ON COLUMN health_score.removed_defaults.catalog IS 'The catalog table, e.g. metrics.';
COMMENT ON COLUMN health_score.removed_defaults.key IS 'The deleted row''s key columns and values.';
COMMENT ON COLUMN health_score.removed_defaults.removed_at IS 'When the row was deleted.';

-- The defaults --------------------------------------------------------------------------------
-- The framework's three dimensions (40/30/30) and its metrics. Within a dimension, the weights
-- rank the metrics by how well they predict renewal; the curves follow the framework's bands.

INSERT INTO health_score.dimensions (name, weight, description, is_default) VALUES
 ('product', 40, 'How much and how deeply the customer uses the product.', true),
 ('relationship', 30, 'How engaged the customer''s people are with yours.', true),
 ('business', 30, 'Whether the customer gets the value it pays for and can keep paying.', true);

INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve,
                                  breakpoints, scores, direction, expansion_at, unit, description, is_default,
                                  absent_means) VALUES
 ('login_frequency', 'product', 3, 'login', 'decayed_rate', '30 days', 'linear',
  '{0,0.033,0.07,0.143,0.7,1}', '{0,30,50,70,90,100}', 'higher', NULL, 'login days per day',
  'How often the account logs in: one observation (value 1) per day with a login; daily use scores 90-100, weekly 70, monthly 30.', true, 'zero'),
 ('login_recency', 'product', 2, 'login', 'days_since', '30 days', 'linear',
  '{0,1,7,14,30,60}', '{100,95,75,55,35,0}', 'lower', NULL, 'days',
  'Days since the last login, read from the same login observations; weeks of silence pull the score down whatever the history.', true, 'zero'),
 ('feature_adoption', 'product', 2, 'feature_adoption', 'latest', '30 days', 'linear',
  '{0,3,10,15}', '{0,30,80,100}', 'higher', NULL, 'features used',
  'Number of the product''s key features in regular use: 3 is thin, 10 or more is broad.', true, 'unknown'),
 ('seat_penetration', 'product', 3, 'seat_penetration', 'latest', '30 days', 'banded',
  '{0,40,60,80}', '{25,60,80,95}', 'higher', 80, '% of purchased seats active',
  'Share of purchased seats that are active; 80 % or more is also an expansion signal.', true, 'unknown'),
 ('workflow_completion', 'product', 1, 'workflow_completion', 'decayed_avg', '30 days', 'linear',
  '{0,50,80,95}', '{0,40,80,100}', 'higher', NULL, '% of workflows completed',
  'Share of started key workflows that users finish; unfinished workflows point at adoption blockers.', true, 'unknown'),
 ('integrations', 'product', 2, 'integrations', 'latest', '30 days', 'linear',
  '{0,1,3,5}', '{20,60,85,100}', 'higher', NULL, 'active integrations',
  'Integrations with the customer''s other systems in use; integrated products are hard to replace.', true, 'unknown'),
 ('power_users', 'product', 2, 'power_users', 'latest', '30 days', 'banded',
  '{0,1,3}', '{10,60,95}', 'higher', NULL, 'users',
  'Users who use the product heavily; three or more rarely churn, none often cancel.', true, 'unknown'),
 ('executive_sponsor', 'relationship', 3, 'executive_sponsor', 'latest', '30 days', 'banded',
  '{0,1,2,3}', '{25,60,80,95}', 'higher', NULL, 'level 0-3',
  'Executive sponsor engagement: 0 none, 1 aware, 2 meets yearly, 3 meets quarterly.', true, 'unknown'),
 ('qbr_participation', 'relationship', 2, 'qbr_participation', 'decayed_avg', '180 days', 'linear',
  '{0,0.5,1}', '{0,60,100}', 'higher', NULL, 'share attended',
  'One observation per scheduled business review: 1 attended, 0 cancelled or ignored.', true, 'unknown'),
 ('support_tickets', 'relationship', 1, 'support_tickets', 'decayed_rate', '30 days', 'linear',
  '{0,0.033,0.1,0.5}', '{60,90,75,20}', 'target', NULL, 'tickets per day',
  'Support tickets opened (value 1 each): a few a month is healthy, none may mean little use, many mean frustration.', true, 'zero'),
 ('support_sentiment', 'relationship', 2, 'support_sentiment', 'decayed_avg', '30 days', 'linear',
  '{-1,0,1}', '{0,50,100}', 'higher', NULL, 'sentiment -1 to 1',
  'Sentiment of support conversations, from -1 (negative) to 1 (positive).', true, 'unknown'),
 ('nps', 'relationship', 2, 'nps', 'decayed_avg', '90 days', 'linear',
  '{0,6,8,10}', '{0,40,75,100}', 'higher', NULL, 'score 0-10',
  'Net Promoter survey answers: 9-10 promoters, 0-6 detractors.', true, 'unknown'),
 ('csat', 'relationship', 1, 'csat', 'decayed_avg', '90 days', 'linear',
  '{1,3,4,5}', '{0,40,75,100}', 'higher', NULL, 'rating 1-5',
  'Customer satisfaction ratings; below 3 of 5 signals a relationship problem.', true, 'unknown'),
 ('response_time', 'relationship', 2, 'response_time', 'decayed_avg', '30 days', 'linear',
  '{0,24,72,336}', '{100,85,50,0}', 'lower', NULL, 'hours',
  'Hours the customer takes to answer outreach; within a day is engaged, weeks is disengaged.', true, 'unknown'),
 ('champion_advocacy', 'relationship', 1, 'champion_advocacy', 'decayed_sum', '180 days', 'linear',
  '{0,1,3}', '{40,75,100}', 'higher', NULL, 'acts (decayed)',
  'Advocacy by the customer''s champion (value 1 each): references, case studies, talks.', true, 'zero'),
 ('outcome_achievement', 'business', 4, 'outcome_achievement', 'latest', '30 days', 'linear',
  '{0,40,70,100}', '{0,30,75,100}', 'higher', NULL, '% of goals met',
  'Share of the customer''s stated goals met: the strongest predictor of renewal.', true, 'unknown'),
 ('roi', 'business', 2, 'roi', 'latest', '30 days', 'linear',
  '{0,1,3,5}', '{0,40,85,100}', 'higher', NULL, 'return / cost',
  'Return on the subscription: 3x or more rarely meets budget trouble, under 1x struggles at renewal.', true, 'unknown'),
 ('budget_trend', 'business', 2, 'budget_trend', 'latest', '30 days', 'linear',
  '{-50,0,20}', '{0,60,100}', 'higher', 10, '% change of budget',
  'Change of the customer''s budget for the product; 10 % growth or more is also an expansion signal.', true, 'unknown'),
 ('expansion_conversations', 'business', 1, 'expansion_conversations', 'decayed_sum', '60 days', 'linear',
  '{0,1,3}', '{50,80,100}', 'higher', 1, 'conversations (decayed)',
  'Conversations about more seats, tiers or products (value 1 each); also an expansion signal.', true, 'zero'),
 ('contract_term', 'business', 1, 'contract_term', 'latest', '30 days', 'banded',
  '{0,12,24,36}', '{40,70,90,100}', 'higher', NULL, 'months',
  'Length of the current contract: multi-year beats annual beats monthly.', true, 'unknown'),
 ('payment_behaviour', 'business', 2, 'payment_behaviour', 'decayed_avg', '90 days', 'linear',
  '{0,7,30,60}', '{100,80,40,0}', 'lower', NULL, 'days late',
  'Days each invoice was paid after its due date (0 when on time).', true, 'unknown');

-- Enterprise accounts weigh the relationship more, small businesses the product.
INSERT INTO health_score.segment_dimension_weights (segment, dimension, weight, is_default) VALUES
 ('enterprise', 'product', 30, true), ('enterprise', 'relationship', 40, true), ('enterprise', 'business', 30, true),
 ('smb', 'product', 50, true), ('smb', 'relationship', 20, true), ('smb', 'business', 30, true);

INSERT INTO health_score.segment_metric_weights (segment, metric, weight, is_default) VALUES
 ('enterprise', 'executive_sponsor', 4, true),
 ('enterprise', 'qbr_participation', 3, true),
 ('smb', 'login_frequency', 4, true);

INSERT INTO health_score.bands (band, min_score, max_score, needs_action, focus, cadence, playbook, is_default) VALUES
 ('green', 80, 100, false, 'expansion', 'monthly check-in',
  'quarterly business review; look for expansion opportunities; ask for case studies and references', true),
 ('yellow', 60, 80, false, 'stabilise', 'check-in every two weeks',
  'optimise adoption; develop an executive sponsor; enable integrations', true),
 ('orange', 40, 60, true, 'intervene', 'weekly touchpoint',
  'align with executives; review business value; optimise product use; consider pricing flexibility', true),
 ('red', 0, 40, true, 'executive escalation', 'immediate',
  'escalate to management now; engage the sponsor; assess the full account; prepare a win-back offer', true);

INSERT INTO health_score.alert_tiers (tier, min_score, max_score, respond_within, responder, is_default) VALUES
 ('healthy', 75, 100, NULL, 'account owner, standard cadence', true),
 ('warning', 60, 75, interval '7 days', 'account owner, proactive outreach', true),
 ('at_risk', 40, 60, interval '48 hours', 'customer success manager', true),
 ('critical', 0, 40, interval '0', 'management escalation', true);

INSERT INTO health_score.settings (id, min_coverage, is_default) VALUES (true, 0.5, true);

-- Configuration version ---------------------------------------------------------------------------
-- Every statement that changes the catalog bumps this sequence, so history can record which
-- configuration a score was computed with (0: the defaults as installed).

CREATE SEQUENCE health_score.config_version_seq;

COMMENT ON SEQUENCE health_score.config_version_seq IS
'Bumped by every statement that changes the scoring catalog; read it with config_version().';

CREATE FUNCTION health_score.bump_config_version() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM nextval('health_score.config_version_seq');
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.bump_config_version() IS
'Trigger: bumps the configuration version after a change to the catalog.';

CREATE FUNCTION health_score.config_version() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM health_score.config_version_seq
$$;

COMMENT ON FUNCTION health_score.config_version() IS
'The current configuration version: 0 as installed, then higher after every change to the scoring catalog.';

SELECT pg_catalog.pg_extension_config_dump('health_score.config_version_seq', '');

-- Validation: bad configuration is refused with a message naming the row -------------------------

CREATE FUNCTION health_score.check_positive_weight() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.weight IS NULL OR NOT (NEW.weight > 0 AND NEW.weight < 'Infinity') THEN
        RAISE EXCEPTION '%: weight must be a positive finite number, got %', TG_TABLE_NAME, NEW.weight
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.check_positive_weight() IS
'Trigger: refuses a weight that is not a positive finite number.';

CREATE FUNCTION health_score.check_metric() RETURNS trigger
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

-- Bands and tiers must cover 0-100 without gap or overlap. Checked at commit (a deferred
-- constraint trigger) so that moving a boundary can take several UPDATEs.
CREATE FUNCTION health_score.check_ranges() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    expected_min float8 := 0;
    what text := CASE TG_TABLE_NAME WHEN 'bands' THEN 'band' ELSE 'alert tier' END;
    whats text := CASE TG_TABLE_NAME WHEN 'bands' THEN 'bands' ELSE 'alert tiers' END;
BEGIN
    FOR r IN EXECUTE format('SELECT %I AS name, min_score, max_score FROM health_score.%I ORDER BY min_score, max_score',
                            CASE TG_TABLE_NAME WHEN 'bands' THEN 'band' ELSE 'tier' END, TG_TABLE_NAME) LOOP
        IF NOT (r.min_score >= 0 AND r.max_score <= 100 AND r.min_score < r.max_score) THEN
            RAISE EXCEPTION '% "%": range [%, %) must lie within 0-100 and not be empty', what, r.name, r.min_score, r.max_score
                USING ERRCODE = 'check_violation';
        ELSIF r.min_score < expected_min THEN
            RAISE EXCEPTION '% "%" overlaps the % below it at %', what, r.name, what, r.min_score
                USING ERRCODE = 'check_violation';
        ELSIF r.min_score > expected_min THEN
            RAISE EXCEPTION '% leave the scores from % to % uncovered', whats, expected_min, r.min_score
                USING ERRCODE = 'check_violation';
        END IF;
        expected_min := r.max_score;
    END LOOP;
    IF expected_min < 100 THEN
        RAISE EXCEPTION '% leave the scores from % to 100 uncovered', whats, expected_min
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.check_ranges() IS
'Constraint trigger: the bands (or alert tiers) must cover 0-100 without gap or overlap.';

CREATE FUNCTION health_score.check_settings() RETURNS trigger
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

CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON health_score.dimensions
    FOR EACH ROW EXECUTE FUNCTION health_score.check_positive_weight();
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON health_score.metrics
    FOR EACH ROW EXECUTE FUNCTION health_score.check_metric();
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON health_score.segment_dimension_weights
    FOR EACH ROW EXECUTE FUNCTION health_score.check_positive_weight();
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON health_score.segment_metric_weights
    FOR EACH ROW EXECUTE FUNCTION health_score.check_positive_weight();
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON health_score.settings
    FOR EACH ROW EXECUTE FUNCTION health_score.check_settings();
CREATE CONSTRAINT TRIGGER cover_0_to_100 AFTER INSERT OR UPDATE OR DELETE ON health_score.bands
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION health_score.check_ranges();
CREATE CONSTRAINT TRIGGER cover_0_to_100 AFTER INSERT OR UPDATE OR DELETE ON health_score.alert_tiers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION health_score.check_ranges();

-- Seeded rows and the user's rows (see the top of this file) --------------------------------------

CREATE FUNCTION health_score.catalog_user_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_match text;
    columns text;
    replaced bigint;
BEGIN
    NEW.is_default := false;
    IF TG_OP = 'INSERT' THEN
        -- TG_ARGV names the key columns. A user row with a seeded row's key replaces it.
        SELECT string_agg(format('t.%1$I = ($1).%1$I', k), ' AND ') INTO key_match
          FROM unnest(TG_ARGV) AS k;
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
          FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped;
        EXECUTE format('UPDATE health_score.%I t SET (%s) = (SELECT %s FROM (SELECT ($1).*) n) WHERE t.is_default AND %s',
                       TG_TABLE_NAME, columns, columns, key_match)
            USING NEW;
        GET DIAGNOSTICS replaced = ROW_COUNT;
        IF replaced > 0 THEN
            RETURN NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.catalog_user_row() IS
'Trigger: marks inserted and updated catalog rows as the user''s; an inserted row whose key matches a seeded row replaces that row (how a restore lays dumped rows over the defaults).';

CREATE FUNCTION health_score.catalog_remember_removed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.is_default THEN
        INSERT INTO health_score.removed_defaults (catalog, key)
        SELECT TG_TABLE_NAME, jsonb_object_agg(k, to_jsonb(OLD) -> k) FROM unnest(TG_ARGV) AS k
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN OLD;
END
$$;

COMMENT ON FUNCTION health_score.catalog_remember_removed() IS
'Trigger: records the key of a deleted seeded row in removed_defaults.';

CREATE FUNCTION health_score.catalog_apply_removal() RETURNS trigger
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

COMMENT ON FUNCTION health_score.catalog_apply_removal() IS
'Trigger: a tombstone inserted into removed_defaults (as by a restore) deletes the seeded row it names.';

CREATE TRIGGER apply_removal AFTER INSERT ON health_score.removed_defaults
    FOR EACH ROW EXECUTE FUNCTION health_score.catalog_apply_removal();

DO $$
DECLARE
    t record;
BEGIN
    -- The triggers take the key columns from catalog_keys, as the tombstone check does.
    FOR t IN SELECT tab, (SELECT string_agg(quote_literal(k), ', ') FROM unnest(health_score.catalog_keys(tab)) k) AS keys
               FROM unnest(ARRAY['dimensions', 'metrics', 'segment_dimension_weights', 'segment_metric_weights',
                                 'bands', 'alert_tiers', 'settings']) tab LOOP
        EXECUTE format('CREATE TRIGGER user_row BEFORE INSERT OR UPDATE ON health_score.%I FOR EACH ROW EXECUTE FUNCTION health_score.catalog_user_row(%s)', t.tab, t.keys);
        EXECUTE format('CREATE TRIGGER remember_removed AFTER DELETE ON health_score.%I FOR EACH ROW EXECUTE FUNCTION health_score.catalog_remember_removed(%s)', t.tab, t.keys);
        IF t.tab <> 'settings' THEN  -- below
            EXECUTE format('CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON health_score.%I FOR EACH STATEMENT EXECUTE FUNCTION health_score.bump_config_version()', t.tab);
        END IF;
        EXECUTE format('SELECT pg_catalog.pg_extension_config_dump(%L, %L)', 'health_score.' || t.tab, 'WHERE NOT is_default');
    END LOOP;
END
$$;

-- data_through, churn_model and churn_grace_days choose the data, the model and the churn labels
-- of the churn risk, not how accounts are scored: changing them (training writes churn_model)
-- keeps the configuration version, so trends and backtests see no new configuration. A new scoring setting must be listed here.
CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OF id, min_coverage, bad_data OR DELETE OR TRUNCATE
    ON health_score.settings FOR EACH STATEMENT EXECUTE FUNCTION health_score.bump_config_version();

SELECT pg_catalog.pg_extension_config_dump('health_score.removed_defaults', '');

-- Planner statistics for the seeded catalog: too small for autovacuum to ever analyze, and
-- scoring plans its grouped pass from the number of metrics.
ANALYZE health_score.dimensions, health_score.metrics, health_score.segment_dimension_weights,
        health_score.segment_metric_weights, health_score.bands, health_score.alert_tiers,
        health_score.settings;

-- Score to band / tier ------------------------------------------------------------------------

CREATE FUNCTION health_score.band(score float8)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    IF score = 'NaN' OR score < 0 OR score > 100 THEN
        RAISE EXCEPTION 'score must be within 0 and 100, got %', score
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    SELECT b.band INTO result
      FROM health_score.bands b
     WHERE score >= b.min_score AND (score < b.max_score OR (score = 100 AND b.max_score = 100));
    RETURN result;
END
$$;

COMMENT ON FUNCTION health_score.band(float8) IS
'The action band (health_score.bands) that owns a score 0-100; NULL in, NULL out.';

CREATE FUNCTION health_score.alert_tier(score float8)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    IF score = 'NaN' OR score < 0 OR score > 100 THEN
        RAISE EXCEPTION 'score must be within 0 and 100, got %', score
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    SELECT t.tier INTO result
      FROM health_score.alert_tiers t
     WHERE score >= t.min_score AND (score < t.max_score OR (score = 100 AND t.max_score = 100));
    RETURN result;
END
$$;

COMMENT ON FUNCTION health_score.alert_tier(float8) IS
'The alert tier (health_score.alert_tiers) that owns a score 0-100; NULL in, NULL out.';


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
