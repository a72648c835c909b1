-- health_score install script, part 1: the C kernels.
-- The install script sql/health_score--<version>.sql is assembled from sql/install/*.sql
-- (see EXT_SQL_PARTS in the Makefile).

\echo Use "CREATE EXTENSION health_score" to load this file. \quit

-- Scoring curves ---------------------------------------------------------------------------

CREATE FUNCTION health_score.scale(value float8, breakpoints float8[], scores float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'scale_linear'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.scale(float8, float8[], float8[]) IS
'Maps a raw metric value onto 0-100 with a piecewise-linear curve: strictly increasing breakpoints, the score (0-100) at each, flat beyond both ends. NULL value gives NULL.';

CREATE FUNCTION health_score.scale_banded(value float8, breakpoints float8[], scores float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'scale_banded'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.scale_banded(float8, float8[], float8[]) IS
'Maps a raw metric value onto 0-100 with a step curve: breakpoint i starts band i, which scores scores[i]; values below the first breakpoint get the first score. NULL value gives NULL.';

-- Weighted composites ----------------------------------------------------------------------

CREATE FUNCTION health_score.weighted_avg_accum(state float8[], score float8, weight float8)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'weighted_avg_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.weighted_avg_accum(float8[], float8, float8) IS
'Transition function of weighted_avg and weighted_coverage; state {present weight, sum of weight*score, total weight}.';

CREATE FUNCTION health_score.weighted_avg_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'weighted_avg_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.weighted_avg_combine(float8[], float8[]) IS
'Combine function of weighted_avg and weighted_coverage: adds two partial states.';

CREATE FUNCTION health_score.weighted_avg_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'weighted_avg_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.weighted_avg_final(float8[]) IS
'Final function of weighted_avg: the weighted mean of the non-NULL scores, NULL if there were none.';

CREATE FUNCTION health_score.weighted_coverage_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'weighted_coverage_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.weighted_coverage_final(float8[]) IS
'Final function of weighted_coverage: the share (0-1) of the total weight whose score was not NULL.';

CREATE AGGREGATE health_score.weighted_avg(score float8, weight float8) (
    SFUNC = health_score.weighted_avg_accum,
    STYPE = float8[],
    FINALFUNC = health_score.weighted_avg_final,
    COMBINEFUNC = health_score.weighted_avg_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.weighted_avg(float8, float8) IS
'Weighted mean of scores (0-100). NULL scores are skipped and the remaining weights renormalised; weights must be positive. NULL when no score is known.';

CREATE AGGREGATE health_score.weighted_coverage(score float8, weight float8) (
    SFUNC = health_score.weighted_avg_accum,
    STYPE = float8[],
    FINALFUNC = health_score.weighted_coverage_final,
    COMBINEFUNC = health_score.weighted_avg_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.weighted_coverage(float8, float8) IS
'Share (0-1) of the total weight whose score is known, the companion of weighted_avg: how much of a composite stands on data.';

CREATE FUNCTION health_score.weighted_score(scores float8[], weights float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'weighted_score'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.weighted_score(float8[], float8[]) IS
'Row-wise weighted mean of scores (0-100), e.g. dimension scores into a composite. NULL elements of scores are skipped and the weights renormalised; NULL when none is known.';

CREATE FUNCTION health_score.weighted_score_coverage(scores float8[], weights float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'weighted_score_coverage'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.weighted_score_coverage(float8[], float8[]) IS
'Row-wise share (0-1) of the weights whose score is not NULL, the companion of weighted_score.';

CREATE FUNCTION health_score.effective_weights(raw_values float8[], groups integer[], weights float8[],
                                               group_weights float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'effective_weights'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.effective_weights(float8[], integer[], float8[], float8[]) IS
'The weight of each known (non-NULL) element of raw_values in a two-level composite: weights[i] renormalised within its group groups[i] (1-based index into group_weights), times its group''s weight renormalised over the groups with a known value. NULL where raw_values is NULL; the rest sums to 1.';

-- Time decay -------------------------------------------------------------------------------

CREATE FUNCTION health_score.decay_accum(state float8[], value float8, observed_at timestamptz,
                                         as_of timestamptz, half_life interval)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'decay_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.decay_accum(float8[], float8, timestamptz, timestamptz, interval) IS
'Transition function of decayed_avg and decayed_sum; state {count, sum of weights, sum of weight*value, reference time, as_of, half-life}.';

CREATE FUNCTION health_score.decay_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'decay_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.decay_combine(float8[], float8[]) IS
'Combine function of decayed_avg and decayed_sum: merges two partial states on the newer reference time.';

CREATE FUNCTION health_score.decay_avg_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'decay_avg_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.decay_avg_final(float8[]) IS
'Final function of decayed_avg: the decay-weighted mean, NULL when nothing was observed by as_of.';

CREATE FUNCTION health_score.decay_sum_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'decay_sum_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.decay_sum_final(float8[]) IS
'Final function of decayed_sum: the sum of value * 2^(-(as_of - observed_at)/half_life), NULL when nothing was observed by as_of.';

CREATE AGGREGATE health_score.decayed_avg(value float8, observed_at timestamptz,
                                          as_of timestamptz, half_life interval) (
    SFUNC = health_score.decay_accum,
    STYPE = float8[],
    FINALFUNC = health_score.decay_avg_final,
    COMBINEFUNC = health_score.decay_combine,
    INITCOND = '{0,0,0,0,0,0}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.decayed_avg(float8, timestamptz, timestamptz, interval) IS
'Exponentially time-decayed mean: each observation weighs 2^(-(as_of - observed_at)/half_life). Observations after as_of are ignored (point in time); rows with a NULL value or observed_at are skipped; as_of and half_life must be constant within a group.';

CREATE AGGREGATE health_score.decayed_sum(value float8, observed_at timestamptz,
                                          as_of timestamptz, half_life interval) (
    SFUNC = health_score.decay_accum,
    STYPE = float8[],
    FINALFUNC = health_score.decay_sum_final,
    COMBINEFUNC = health_score.decay_combine,
    INITCOND = '{0,0,0,0,0,0}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.decayed_sum(float8, timestamptz, timestamptz, interval) IS
'Exponentially time-decayed sum (e.g. decayed event counts): sum of value * 2^(-(as_of - observed_at)/half_life) over observations at or before as_of.';

-- Latest value -----------------------------------------------------------------------------

CREATE FUNCTION health_score.latest_accum(state float8[], value float8, observed_at timestamptz,
                                          as_of timestamptz)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'latest_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.latest_accum(float8[], float8, timestamptz, timestamptz) IS
'Transition function of latest_value; state {count, time of the kept value, kept value, as_of, as_of set}.';

CREATE FUNCTION health_score.latest_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'latest_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.latest_combine(float8[], float8[]) IS
'Combine function of latest_value: keeps the newer value.';

CREATE FUNCTION health_score.latest_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'latest_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.latest_final(float8[]) IS
'Final function of latest_value: the kept value, NULL when nothing was observed by as_of.';

CREATE AGGREGATE health_score.latest_value(value float8, observed_at timestamptz, as_of timestamptz) (
    SFUNC = health_score.latest_accum,
    STYPE = float8[],
    FINALFUNC = health_score.latest_final,
    COMBINEFUNC = health_score.latest_combine,
    INITCOND = '{0,0,0,0,0}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.latest_value(float8, timestamptz, timestamptz) IS
'The most recent value observed at or before as_of (ties on time keep the larger value); for level metrics such as seats or NPS. Rows with a NULL value or observed_at are skipped.';

-- One metric's raw value --------------------------------------------------------------------

CREATE FUNCTION health_score.metric_value_accum(state float8[], value float8, observed_at timestamptz,
                                                as_of timestamptz, half_life interval, aggregation text)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'metric_value_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_value_accum(float8[], float8, timestamptz, timestamptz, interval, text) IS
'Transition function of metric_value; state {count, sum of weights, sum of weight*value, reference time, as_of, half-life, aggregation, latest time, latest value}.';

CREATE FUNCTION health_score.metric_value_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'metric_value_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_value_combine(float8[], float8[]) IS
'Combine function of metric_value: merges two partial states.';

CREATE FUNCTION health_score.metric_value_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'metric_value_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_value_final(float8[]) IS
'Final function of metric_value: the raw value for the aggregation, NULL when nothing was observed by as_of.';

CREATE AGGREGATE health_score.metric_value(value float8, observed_at timestamptz, as_of timestamptz,
                                           half_life interval, aggregation text) (
    SFUNC = health_score.metric_value_accum,
    STYPE = float8[],
    FINALFUNC = health_score.metric_value_final,
    COMBINEFUNC = health_score.metric_value_combine,
    INITCOND = '{0,0,0,0,0,0,0,0,0}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.metric_value(float8, timestamptz, timestamptz, interval, text) IS
'A metric''s raw value at as_of with the given aggregation: decayed_avg, decayed_sum, decayed_rate (decayed sum x ln 2 / half-life in days: events per day), latest (as latest_value) or days_since (days from the latest observation to as_of). Observations after as_of are ignored; as_of, half_life and aggregation must be constant within a group.';

-- Every metric of an account at once -----------------------------------------------------------

CREATE FUNCTION health_score.metric_values_accum(state float8[], value float8, observed_at timestamptz,
                                                 as_of timestamptz, input text, inputs text[],
                                                 half_lives interval[], max_ages interval[], aggregations text[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'metric_values_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_values_accum(float8[], float8, timestamptz, timestamptz, text, text[], interval[], interval[], text[]) IS
'Transition function of metric_values; state {as_of, as_of set}, then nine values per metric: the decay state, the latest time and value, the aggregation.';

CREATE FUNCTION health_score.metric_values_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'metric_values_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_values_combine(float8[], float8[]) IS
'Combine function of metric_values: merges two partial states metric by metric.';

CREATE FUNCTION health_score.metric_values_final(state float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'metric_values_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.metric_values_final(float8[]) IS
'Final function of metric_values: one raw value per metric, NULL where nothing was observed by as_of.';

CREATE AGGREGATE health_score.metric_values(value float8, observed_at timestamptz, as_of timestamptz,
                                            input text, inputs text[], half_lives interval[],
                                            max_ages interval[], aggregations text[]) (
    SFUNC = health_score.metric_values_accum,
    STYPE = float8[],
    FINALFUNC = health_score.metric_values_final,
    COMBINEFUNC = health_score.metric_values_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.metric_values(float8, timestamptz, timestamptz, text, text[], interval[], interval[], text[]) IS
'The raw values of several metrics at once, e.g. of every metric of an account: element i of the result is metric_value over the rows whose input equals inputs[i] and that are no older than max_ages[i] (NULL: no limit), with half_lives[i] and aggregations[i]; NULL where nothing was observed. Scoring groups by account only, so no observation is joined with the catalog.';
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
    is_default      boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE health_score.metrics IS
'The metrics of the health score: which observations each reads, how they become one raw value, and the curve that maps that value onto a 0-100 sub-score.';
COMMENT ON COLUMN health_score.metrics.name IS 'Metric name, e.g. seat_penetration.';
COMMENT ON COLUMN health_score.metrics.dimension IS 'The dimension (health_score.dimensions) the metric belongs to.';
COMMENT ON COLUMN health_score.metrics.weight IS 'Weight of the metric within its dimension, positive; segment_metric_weights overrides it per segment.';
COMMENT ON COLUMN health_score.metrics.input IS 'The observations the metric reads: observations.metric = input (usually the metric''s own name; two metrics may read the same input).';
COMMENT ON COLUMN health_score.metrics.aggregation IS 'How observations become one raw value: decayed_avg, decayed_sum, decayed_rate (decayed events per day), latest, or days_since (days since the latest observation).';
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
COMMENT ON COLUMN health_score.segment_dimension_weights.segment IS 'Segment, as in accounts.segment.';
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
COMMENT ON COLUMN health_score.segment_metric_weights.segment IS 'Segment, as in accounts.segment.';
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
    is_default      boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE health_score.settings IS 'Scoring settings: one row.';
COMMENT ON COLUMN health_score.settings.id IS 'Always true: the table holds one row.';
COMMENT ON COLUMN health_score.settings.min_coverage IS 'Below this coverage (share 0-1 of the configured weight that has data) an account''s score is NULL, with a reason.';
COMMENT ON COLUMN health_score.settings.is_default IS 'True while the row is as seeded by the extension.';

CREATE TABLE health_score.removed_defaults (
    catalog     text NOT NULL,
    key         jsonb NOT NULL,
    removed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (catalog, key)
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
                                  breakpoints, scores, direction, expansion_at, unit, description, is_default) VALUES
 ('login_frequency', 'product', 3, 'login', 'decayed_rate', '30 days', 'linear',
  '{0,0.033,0.07,0.143,0.7,1}', '{0,30,50,70,90,100}', 'higher', NULL, 'login days per day',
  'How often the account logs in: one observation (value 1) per day with a login; daily use scores 90-100, weekly 70, monthly 30.', true),
 ('login_recency', 'product', 2, 'login', 'days_since', '30 days', 'linear',
  '{0,1,7,14,30,60}', '{100,95,75,55,35,0}', 'lower', NULL, 'days',
  'Days since the last login, read from the same login observations; weeks of silence pull the score down whatever the history.', true),
 ('feature_adoption', 'product', 2, 'feature_adoption', 'latest', '30 days', 'linear',
  '{0,3,10,15}', '{0,30,80,100}', 'higher', NULL, 'features used',
  'Number of the product''s key features in regular use: 3 is thin, 10 or more is broad.', true),
 ('seat_penetration', 'product', 3, 'seat_penetration', 'latest', '30 days', 'banded',
  '{0,40,60,80}', '{25,60,80,95}', 'higher', 80, '% of purchased seats active',
  'Share of purchased seats that are active; 80 % or more is also an expansion signal.', true),
 ('workflow_completion', 'product', 1, 'workflow_completion', 'decayed_avg', '30 days', 'linear',
  '{0,50,80,95}', '{0,40,80,100}', 'higher', NULL, '% of workflows completed',
  'Share of started key workflows that users finish; unfinished workflows point at adoption blockers.', true),
 ('integrations', 'product', 2, 'integrations', 'latest', '30 days', 'linear',
  '{0,1,3,5}', '{20,60,85,100}', 'higher', NULL, 'active integrations',
  'Integrations with the customer''s other systems in use; integrated products are hard to replace.', true),
 ('power_users', 'product', 2, 'power_users', 'latest', '30 days', 'banded',
  '{0,1,3}', '{10,60,95}', 'higher', NULL, 'users',
  'Users who use the product heavily; three or more rarely churn, none often cancel.', true),
 ('executive_sponsor', 'relationship', 3, 'executive_sponsor', 'latest', '30 days', 'banded',
  '{0,1,2,3}', '{25,60,80,95}', 'higher', NULL, 'level 0-3',
  'Executive sponsor engagement: 0 none, 1 aware, 2 meets yearly, 3 meets quarterly.', true),
 ('qbr_participation', 'relationship', 2, 'qbr_participation', 'decayed_avg', '180 days', 'linear',
  '{0,0.5,1}', '{0,60,100}', 'higher', NULL, 'share attended',
  'One observation per scheduled business review: 1 attended, 0 cancelled or ignored.', true),
 ('support_tickets', 'relationship', 1, 'support_tickets', 'decayed_rate', '30 days', 'linear',
  '{0,0.033,0.1,0.5}', '{60,90,75,20}', 'target', NULL, 'tickets per day',
  'Support tickets opened (value 1 each): a few a month is healthy, none may mean little use, many mean frustration.', true),
 ('support_sentiment', 'relationship', 2, 'support_sentiment', 'decayed_avg', '30 days', 'linear',
  '{-1,0,1}', '{0,50,100}', 'higher', NULL, 'sentiment -1 to 1',
  'Sentiment of support conversations, from -1 (negative) to 1 (positive).', true),
 ('nps', 'relationship', 2, 'nps', 'decayed_avg', '90 days', 'linear',
  '{0,6,8,10}', '{0,40,75,100}', 'higher', NULL, 'score 0-10',
  'Net Promoter survey answers: 9-10 promoters, 0-6 detractors.', true),
 ('csat', 'relationship', 1, 'csat', 'decayed_avg', '90 days', 'linear',
  '{1,3,4,5}', '{0,40,75,100}', 'higher', NULL, 'rating 1-5',
  'Customer satisfaction ratings; below 3 of 5 signals a relationship problem.', true),
 ('response_time', 'relationship', 2, 'response_time', 'decayed_avg', '30 days', 'linear',
  '{0,24,72,336}', '{100,85,50,0}', 'lower', NULL, 'hours',
  'Hours the customer takes to answer outreach; within a day is engaged, weeks is disengaged.', true),
 ('champion_advocacy', 'relationship', 1, 'champion_advocacy', 'decayed_sum', '180 days', 'linear',
  '{0,1,3}', '{40,75,100}', 'higher', NULL, 'acts (decayed)',
  'Advocacy by the customer''s champion (value 1 each): references, case studies, talks.', true),
 ('outcome_achievement', 'business', 4, 'outcome_achievement', 'latest', '30 days', 'linear',
  '{0,40,70,100}', '{0,30,75,100}', 'higher', NULL, '% of goals met',
  'Share of the customer''s stated goals met: the strongest predictor of renewal.', true),
 ('roi', 'business', 2, 'roi', 'latest', '30 days', 'linear',
  '{0,1,3,5}', '{0,40,85,100}', 'higher', NULL, 'return / cost',
  'Return on the subscription: 3x or more rarely meets budget trouble, under 1x struggles at renewal.', true),
 ('budget_trend', 'business', 2, 'budget_trend', 'latest', '30 days', 'linear',
  '{-50,0,20}', '{0,60,100}', 'higher', 10, '% change of budget',
  'Change of the customer''s budget for the product; 10 % growth or more is also an expansion signal.', true),
 ('expansion_conversations', 'business', 1, 'expansion_conversations', 'decayed_sum', '60 days', 'linear',
  '{0,1,3}', '{50,80,100}', 'higher', 1, 'conversations (decayed)',
  'Conversations about more seats, tiers or products (value 1 each); also an expansion signal.', true),
 ('contract_term', 'business', 1, 'contract_term', 'latest', '30 days', 'banded',
  '{0,12,24,36}', '{40,70,90,100}', 'higher', NULL, 'months',
  'Length of the current contract: multi-year beats annual beats monthly.', true),
 ('payment_behaviour', 'business', 2, 'payment_behaviour', 'decayed_avg', '90 days', 'linear',
  '{0,7,30,60}', '{100,80,40,0}', 'lower', NULL, 'days late',
  'Days each invoice was paid after its due date (0 when on time).', true);

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
'Trigger: refuses a metric with an unknown dimension, a non-positive weight or half-life, an unknown aggregation, or an invalid curve.';

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
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.check_settings() IS 'Trigger: refuses a min_coverage outside 0-1.';

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
    -- Only a still-seeded row goes: a row the user re-created under that key stays.
    EXECUTE format('DELETE FROM health_score.%I t WHERE t.is_default AND to_jsonb(t) @> $1', NEW.catalog)
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
    FOR t IN SELECT * FROM (VALUES ('dimensions', '''name'''), ('metrics', '''name'''),
                                   ('segment_dimension_weights', '''segment'', ''dimension'''),
                                   ('segment_metric_weights', '''segment'', ''metric'''),
                                   ('bands', '''band'''), ('alert_tiers', '''tier'''), ('settings', '''id''')) AS v(tab, keys) LOOP
        EXECUTE format('CREATE TRIGGER user_row BEFORE INSERT OR UPDATE ON health_score.%I FOR EACH ROW EXECUTE FUNCTION health_score.catalog_user_row(%s)', t.tab, t.keys);
        EXECUTE format('CREATE TRIGGER remember_removed AFTER DELETE ON health_score.%I FOR EACH ROW EXECUTE FUNCTION health_score.catalog_remember_removed(%s)', t.tab, t.keys);
        EXECUTE format('CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON health_score.%I FOR EACH STATEMENT EXECUTE FUNCTION health_score.bump_config_version()', t.tab);
        EXECUTE format('SELECT pg_catalog.pg_extension_config_dump(%L, %L)', 'health_score.' || t.tab, 'WHERE NOT is_default');
    END LOOP;
END
$$;

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

CREATE FUNCTION health_score.check_feed() RETURNS trigger
LANGUAGE plpgsql
-- No fixed search_path: the relation name resolves as the user who wrote it sees it.
AS $$
DECLARE
    rel regclass := pg_catalog.to_regclass(NEW.relation);
    missing text;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'feed "%": relation "%" does not exist', NEW.name, NEW.relation
            USING ERRCODE = 'undefined_table';
    END IF;
    SELECT pg_catalog.string_agg(c, ', ') INTO missing
      FROM pg_catalog.unnest(ARRAY['account_id', 'metric', 'observed_at', 'value']) AS c
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = rel AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'feed "%": relation % lacks the column(s) %', NEW.name, rel, missing
            USING ERRCODE = 'undefined_column';
    END IF;
    -- Store the name schema-qualified, so scoring finds it whatever the search_path.
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO NEW.relation
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel;
    -- The columns must cast to the observation types.
    BEGIN
        EXECUTE pg_catalog.format('SELECT account_id::text, metric::text, observed_at::timestamptz, value::float8 FROM %s LIMIT 0',
                                  NEW.relation);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'feed "%": the columns of % must cast to text, text, timestamptz and float8: %', NEW.name, rel, SQLERRM
            USING ERRCODE = SQLSTATE;
    END;
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
-- health_score install script, part 4: churn risk: logistic regression, model catalog, AUC.

-- Evaluation aggregates: ROC AUC and rates at a threshold -----------------------------------

CREATE FUNCTION health_score.auc_accum(state float8[], score float8, churned boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_accum(float8[], float8, boolean) IS
'Transition function of auc: counts the row in its 0.01-wide bin of the 0-100 grid, per class (higher score = riskier).';

CREATE FUNCTION health_score.auc_health_accum(state float8[], score float8, churned boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_health_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_health_accum(float8[], float8, boolean) IS
'Transition function of auc_health: as auc_accum with the grid reversed (lower score = riskier).';

CREATE FUNCTION health_score.auc_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_combine(float8[], float8[]) IS
'Combine function of auc and auc_health: adds two histograms.';

CREATE FUNCTION health_score.auc_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'auc_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_final(float8[]) IS
'Final function of auc and auc_health: the probability that a churned row ranks riskier than a retained one, ties counting one half; NULL unless both classes are present.';

CREATE AGGREGATE health_score.auc(score float8, churned boolean) (
    SFUNC = health_score.auc_accum,
    STYPE = float8[],
    FINALFUNC = health_score.auc_final,
    COMBINEFUNC = health_score.auc_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.auc(float8, boolean) IS
'ROC AUC of a risk score 0-100 (higher = more likely to churn, e.g. churn probability * 100) against the churn outcome. Scores are rounded to the nearest 0.01, so the result equals the rank-sum AUC (scikit-learn''s roc_auc_score) exactly for scores with at most two decimals. Rows with a NULL score or outcome are skipped; NULL unless both classes occur. Fixed-size state (2 x 10,001 bins), combinable and parallel safe.';

CREATE AGGREGATE health_score.auc_health(score float8, churned boolean) (
    SFUNC = health_score.auc_health_accum,
    STYPE = float8[],
    FINALFUNC = health_score.auc_final,
    COMBINEFUNC = health_score.auc_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.auc_health(float8, boolean) IS
'ROC AUC of a health score 0-100 (lower = more likely to churn) against the churn outcome: auc_health(score, churned) = auc(100 - score, churned). Same grid, rounding and NULL handling as auc.';

CREATE FUNCTION health_score.rates_accum(state float8[], score float8, churned boolean, threshold float8)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_rates_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.rates_accum(float8[], float8, boolean, float8) IS
'Transition function of the threshold rates; state {true positives, false positives, true negatives, false negatives, threshold}; a row is flagged when score >= threshold.';

CREATE FUNCTION health_score.rates_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_rates_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.rates_combine(float8[], float8[]) IS
'Combine function of the threshold rates: adds the counts.';

CREATE FUNCTION health_score.rates_precision_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_precision_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_precision_final(float8[]) IS
'Final function of precision_at: flagged rows that churned / flagged rows; NULL when nothing was flagged.';

CREATE FUNCTION health_score.rates_recall_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_recall_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_recall_final(float8[]) IS
'Final function of recall_at: churned rows flagged / churned rows; NULL when none churned.';

CREATE FUNCTION health_score.rates_fpr_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_fpr_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_fpr_final(float8[]) IS
'Final function of false_positive_rate_at: retained rows flagged / retained rows; NULL when all churned.';

CREATE FUNCTION health_score.rates_fnr_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_fnr_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_fnr_final(float8[]) IS
'Final function of false_negative_rate_at: churned rows not flagged / churned rows; NULL when none churned.';

CREATE AGGREGATE health_score.precision_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_precision_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.precision_at(float8, boolean, float8) IS
'Precision of the flag score >= threshold (a risk score: higher = riskier; for a health score pass -score and -threshold to flag score <= threshold): the share of flagged rows that churned. threshold must be the same on every row; rows with a NULL score or outcome are skipped.';

CREATE AGGREGATE health_score.recall_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_recall_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.recall_at(float8, boolean, float8) IS
'Recall (true-positive rate) of the flag score >= threshold: the share of churned rows that were flagged. Orientation and NULLs as precision_at.';

CREATE AGGREGATE health_score.false_positive_rate_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_fpr_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.false_positive_rate_at(float8, boolean, float8) IS
'False-positive rate of the flag score >= threshold: the share of retained rows that were flagged. Orientation and NULLs as precision_at.';

CREATE AGGREGATE health_score.false_negative_rate_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_fnr_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.false_negative_rate_at(float8, boolean, float8) IS
'False-negative rate of the flag score >= threshold: the share of churned rows that were not flagged (1 - recall). Orientation and NULLs as precision_at.';

-- Logistic regression kernels ----------------------------------------------------------------

CREATE FUNCTION health_score.logit_step_accum(state float8[], features float8[], churned boolean,
                                              coefficients float8[], center float8[], scale float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_step_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_step_accum(float8[], float8[], boolean, float8[], float8[], float8[]) IS
'Transition function of logit_step: adds one row''s score vector, information matrix and log-likelihood at the given coefficients.';

CREATE FUNCTION health_score.logit_step_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_step_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_step_combine(float8[], float8[]) IS
'Combine function of logit_step: adds two partial states.';

CREATE FUNCTION health_score.logit_step_final(state float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_step_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_step_final(float8[]) IS
'Final function of logit_step: the accumulated state (copied).';

CREATE AGGREGATE health_score.logit_step(features float8[], churned boolean, coefficients float8[],
                                         center float8[], scale float8[]) (
    SFUNC = health_score.logit_step_accum,
    STYPE = float8[],
    FINALFUNC = health_score.logit_step_final,
    COMBINEFUNC = health_score.logit_step_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.logit_step(float8[], boolean, float8[], float8[], float8[]) IS
'One pass of a logistic regression fit (IRLS / Newton): features are standardised as (x - center) / scale, coefficients (intercept first) apply to the standardised features. Returns {p, rows used, rows skipped (a NULL feature or label), positive rows, log-likelihood, score vector X''(y - mu) (p + 1 values), upper triangle of X''WX row by row}. Feed it to logit_solve for the next coefficients. Combinable and parallel safe.';

CREATE FUNCTION health_score.logit_solve(state float8[], coefficients float8[], l2 float8, names text[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_solve'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_solve(float8[], float8[], float8, text[]) IS
'The coefficients after one Newton step from a logit_step state taken at coefficients: coefficients + (H + l2 I)^-1 (g - l2 coefficients), the intercept unpenalised (Cholesky). A feature that is a linear combination of the ones before it is an error naming it (names: the feature names, for the message).';

CREATE FUNCTION health_score.logit_covariance(state float8[], l2 float8, center float8[], scale float8[], names text[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_covariance'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_covariance(float8[], float8, float8[], float8[], text[]) IS
'Covariance matrix (row-major (p+1) x (p+1), intercept first) of the coefficients on the original scale of the features: the inverse (penalised) information matrix of a logit_step state taken at the fitted coefficients, mapped back through center and scale.';

CREATE FUNCTION health_score.logit_condition(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'logit_condition'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_condition(float8[]) IS
'2-norm condition number (largest / smallest eigenvalue) of the information matrix of a logit_step state on the standardised features; large values (say above 1e6) warn of near-collinear features.';

CREATE FUNCTION health_score.logit_predict(coefficients float8[], features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'logit_predict'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_predict(float8[], float8[]) IS
'Probability 0-1 of the positive class: 1 / (1 + exp(-(b0 + sum b_j x_j))), coefficients intercept first, features on their original scale.';

CREATE FUNCTION health_score.logit_p_value(z float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'logit_p_value'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_p_value(float8) IS
'Two-sided p-value of a Wald z statistic under the standard normal, erfc(|z| / sqrt 2).';

CREATE FUNCTION health_score.logit_label(value float8)
RETURNS boolean
AS 'MODULE_PATHNAME', 'logit_label'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_label(float8) IS
'A 0/1 churn label as a boolean (1 = churned); any other value is an error.';

CREATE FUNCTION health_score.logit_describe_accum(state float8[], features float8[], churned boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_describe_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_describe_accum(float8[], float8[], boolean) IS
'Transition function of logit_describe.';

CREATE FUNCTION health_score.logit_describe_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_describe_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_describe_combine(float8[], float8[]) IS
'Combine function of logit_describe (means and squared deviations merged with Chan''s formula).';

CREATE AGGREGATE health_score.logit_describe(features float8[], churned boolean) (
    SFUNC = health_score.logit_describe_accum,
    STYPE = float8[],
    COMBINEFUNC = health_score.logit_describe_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.logit_describe(float8[], boolean) IS
'The pass before a fit: {p, complete rows with finite features, rows skipped (a NULL feature or label), positive rows, rows with a NaN or infinite feature}, then 7 values per feature: mean, sum of squared deviations, min and max among retained rows, min and max among churned rows, NaN or infinite count.';

-- Model catalog ------------------------------------------------------------------------------

CREATE TABLE health_score.churn_models (
    name                text NOT NULL CHECK (name <> ''),
    version             int NOT NULL CHECK (version > 0),
    active              boolean NOT NULL DEFAULT true,
    kind                text NOT NULL DEFAULT 'table' CHECK (kind IN ('table', 'account')),
    trained_at          timestamptz NOT NULL DEFAULT now(),
    source              text NOT NULL,
    label               text NOT NULL,
    features            text[] NOT NULL,
    coefficients        float8[] NOT NULL,
    std_errors          float8[] NOT NULL,
    center              float8[] NOT NULL,
    scale               float8[] NOT NULL,
    l2                  float8 NOT NULL DEFAULT 0 CHECK (l2 >= 0),
    ridge_fallback      boolean NOT NULL DEFAULT false,
    fallback_reason     text,
    loglik              float8 NOT NULL,
    null_loglik         float8 NOT NULL,
    null_deviance       float8 NOT NULL,
    residual_deviance   float8 NOT NULL,
    pseudo_r2           float8 NOT NULL,
    aic                 float8 NOT NULL,
    iterations          int NOT NULL,
    rows_used           bigint NOT NULL,
    rows_skipped        bigint NOT NULL,
    positives           bigint NOT NULL,
    churn_rate          float8 NOT NULL,
    condition_number    float8,
    auc                 float8,
    auc_std_error       float8,
    auc_ci_low          float8,
    auc_ci_high         float8,
    brier               float8,
    as_of               timestamptz,
    horizon             interval,
    config_version      bigint,
    PRIMARY KEY (name, version)
);

COMMENT ON TABLE health_score.churn_models IS
'Trained churn models (logistic regression), one row per name and version, with the fit statistics and the evidence for trusting it. Training a new version of a name makes it the active one.';
COMMENT ON COLUMN health_score.churn_models.name IS 'Model name.';
COMMENT ON COLUMN health_score.churn_models.version IS 'Version within the name, 1 for the first training, increasing.';
COMMENT ON COLUMN health_score.churn_models.active IS 'Whether this version is the one churn_probability and the account views use (one active version per name).';
COMMENT ON COLUMN health_score.churn_models.kind IS 'table: trained on a table''s columns (train_churn_model); account: trained on the accounts'' metric sub-scores (train_account_churn_model).';
COMMENT ON COLUMN health_score.churn_models.trained_at IS 'When the model was trained (transaction time).';
COMMENT ON COLUMN health_score.churn_models.source IS 'The relation (or description of the rows) the model was trained on.';
COMMENT ON COLUMN health_score.churn_models.label IS 'The churn label: a boolean or 0/1 column, or how account churn was defined.';
COMMENT ON COLUMN health_score.churn_models.features IS 'Feature names, in the order of coefficients[2:] and of the features array churn_probability takes.';
COMMENT ON COLUMN health_score.churn_models.coefficients IS 'Coefficients on the original scale of the features, intercept first (log-odds per unit).';
COMMENT ON COLUMN health_score.churn_models.std_errors IS 'Standard errors of the coefficients (from the inverse information matrix; penalised when l2 > 0), intercept first.';
COMMENT ON COLUMN health_score.churn_models.center IS 'Mean of each feature over the training rows: the average account the drivers compare against.';
COMMENT ON COLUMN health_score.churn_models.scale IS 'Standard deviation (population) of each feature over the training rows, used for the internal standardisation.';
COMMENT ON COLUMN health_score.churn_models.l2 IS 'L2 penalty used, on the standardised coefficients (objective: log-likelihood - l2/2 * sum of squared standardised coefficients, intercept unpenalised); 0 for plain maximum likelihood.';
COMMENT ON COLUMN health_score.churn_models.ridge_fallback IS 'True when the plain fit failed (separation or collinearity) and the ridge fall-back penalty was used instead.';
COMMENT ON COLUMN health_score.churn_models.fallback_reason IS 'Why the ridge fall-back was used (the error of the plain fit), NULL otherwise.';
COMMENT ON COLUMN health_score.churn_models.loglik IS 'Log-likelihood at the fitted coefficients (unpenalised).';
COMMENT ON COLUMN health_score.churn_models.null_loglik IS 'Log-likelihood of the intercept-only model (the churn rate for everyone).';
COMMENT ON COLUMN health_score.churn_models.null_deviance IS 'Null deviance, -2 * null_loglik.';
COMMENT ON COLUMN health_score.churn_models.residual_deviance IS 'Residual deviance, -2 * loglik.';
COMMENT ON COLUMN health_score.churn_models.pseudo_r2 IS 'McFadden''s pseudo R-squared, 1 - loglik / null_loglik.';
COMMENT ON COLUMN health_score.churn_models.aic IS 'Akaike information criterion, 2 * (number of coefficients) - 2 * loglik.';
COMMENT ON COLUMN health_score.churn_models.iterations IS 'Newton (IRLS) iterations until the largest change of a standardised coefficient fell below the tolerance.';
COMMENT ON COLUMN health_score.churn_models.rows_used IS 'Rows used: every feature and the label known.';
COMMENT ON COLUMN health_score.churn_models.rows_skipped IS 'Rows skipped because a feature or the label was NULL.';
COMMENT ON COLUMN health_score.churn_models.positives IS 'Rows used that churned.';
COMMENT ON COLUMN health_score.churn_models.churn_rate IS 'positives / rows_used.';
COMMENT ON COLUMN health_score.churn_models.condition_number IS 'Condition number of the information matrix on the standardised features; above about 1e6 the features are nearly collinear and the coefficients unstable.';
COMMENT ON COLUMN health_score.churn_models.auc IS 'ROC AUC of the fitted probabilities on the training rows, exact (rank-sum with ties counting one half).';
COMMENT ON COLUMN health_score.churn_models.auc_std_error IS 'Standard error of the AUC (Hanley and McNeil, 1982).';
COMMENT ON COLUMN health_score.churn_models.auc_ci_low IS 'Lower end of the 95 % confidence interval of the AUC (auc - 1.96 * auc_std_error, at least 0).';
COMMENT ON COLUMN health_score.churn_models.auc_ci_high IS 'Upper end of the 95 % confidence interval of the AUC (at most 1).';
COMMENT ON COLUMN health_score.churn_models.brier IS 'Brier score: mean squared difference between the fitted probability and the outcome (0 is perfect; the churn rate times one minus it is what a constant guess scores).';
COMMENT ON COLUMN health_score.churn_models.as_of IS 'Account models: the date whose metric values were the features.';
COMMENT ON COLUMN health_score.churn_models.horizon IS 'Account models: churn was counted when it happened within this interval after as_of.';
COMMENT ON COLUMN health_score.churn_models.config_version IS 'Account models: config_version() when trained; the sub-scores it learned from depend on the scoring configuration of that version, so retrain after changing curves or metrics.';

CREATE UNIQUE INDEX churn_models_one_active ON health_score.churn_models (name) WHERE active;

CREATE TABLE health_score.churn_model_terms (
    name                    text NOT NULL,
    version                 int NOT NULL,
    position                int NOT NULL,
    term                    text NOT NULL,
    coefficient             float8 NOT NULL,
    std_error               float8 NOT NULL,
    z                       float8 NOT NULL,
    p_value                 float8 NOT NULL,
    ci_low                  float8 NOT NULL,
    ci_high                 float8 NOT NULL,
    odds_ratio              float8 NOT NULL,
    odds_ratio_ci_low       float8 NOT NULL,
    odds_ratio_ci_high      float8 NOT NULL,
    standardized_coefficient float8,
    mean                    float8,
    sd                      float8,
    PRIMARY KEY (name, version, position),
    FOREIGN KEY (name, version) REFERENCES health_score.churn_models (name, version) ON DELETE CASCADE
);

COMMENT ON TABLE health_score.churn_model_terms IS
'One row per coefficient of each churn model (the intercept is position 0): estimate, standard error, Wald z and p-value, 95 % confidence interval, odds ratio.';
COMMENT ON COLUMN health_score.churn_model_terms.name IS 'Model name.';
COMMENT ON COLUMN health_score.churn_model_terms.version IS 'Model version.';
COMMENT ON COLUMN health_score.churn_model_terms.position IS '0 for the intercept, then the position of the feature in features.';
COMMENT ON COLUMN health_score.churn_model_terms.term IS 'Feature name, or (intercept).';
COMMENT ON COLUMN health_score.churn_model_terms.coefficient IS 'Change in log-odds of churn per unit of the feature, others held equal.';
COMMENT ON COLUMN health_score.churn_model_terms.std_error IS 'Standard error of the coefficient.';
COMMENT ON COLUMN health_score.churn_model_terms.z IS 'Wald statistic, coefficient / std_error.';
COMMENT ON COLUMN health_score.churn_model_terms.p_value IS 'Two-sided p-value of z under the standard normal.';
COMMENT ON COLUMN health_score.churn_model_terms.ci_low IS 'Lower end of the 95 % confidence interval of the coefficient (coefficient - 1.959964 * std_error).';
COMMENT ON COLUMN health_score.churn_model_terms.ci_high IS 'Upper end of the 95 % confidence interval of the coefficient.';
COMMENT ON COLUMN health_score.churn_model_terms.odds_ratio IS 'exp(coefficient): how the odds of churn multiply per unit of the feature.';
COMMENT ON COLUMN health_score.churn_model_terms.odds_ratio_ci_low IS 'exp(ci_low).';
COMMENT ON COLUMN health_score.churn_model_terms.odds_ratio_ci_high IS 'exp(ci_high).';
COMMENT ON COLUMN health_score.churn_model_terms.standardized_coefficient IS 'Change in log-odds per standard deviation of the feature (coefficient * sd): comparable across features; NULL for the intercept.';
COMMENT ON COLUMN health_score.churn_model_terms.mean IS 'Mean of the feature over the training rows; NULL for the intercept.';
COMMENT ON COLUMN health_score.churn_model_terms.sd IS 'Standard deviation of the feature over the training rows; NULL for the intercept.';

CREATE TABLE health_score.churn_model_calibration (
    name            text NOT NULL,
    version         int NOT NULL,
    decile          int NOT NULL CHECK (decile BETWEEN 1 AND 10),
    rows            bigint NOT NULL,
    churned         bigint NOT NULL,
    mean_predicted  float8 NOT NULL,
    observed_rate   float8 NOT NULL,
    PRIMARY KEY (name, version, decile),
    FOREIGN KEY (name, version) REFERENCES health_score.churn_models (name, version) ON DELETE CASCADE
);

COMMENT ON TABLE health_score.churn_model_calibration IS
'Calibration of each churn model on its training rows: the rows split into ten equal groups by fitted probability (1 = lowest), with the mean predicted probability and the observed churn rate of each. A well-calibrated model has the two close in every decile.';
COMMENT ON COLUMN health_score.churn_model_calibration.name IS 'Model name.';
COMMENT ON COLUMN health_score.churn_model_calibration.version IS 'Model version.';
COMMENT ON COLUMN health_score.churn_model_calibration.decile IS 'Decile of fitted probability, 1 (lowest risk) to 10 (highest).';
COMMENT ON COLUMN health_score.churn_model_calibration.rows IS 'Training rows in the decile.';
COMMENT ON COLUMN health_score.churn_model_calibration.churned IS 'Of those, rows that churned.';
COMMENT ON COLUMN health_score.churn_model_calibration.mean_predicted IS 'Mean fitted churn probability (0-1) in the decile.';
COMMENT ON COLUMN health_score.churn_model_calibration.observed_rate IS 'Observed churn rate (0-1) in the decile.';

SELECT pg_catalog.pg_extension_config_dump('health_score.churn_models', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.churn_model_terms', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.churn_model_calibration', '');

-- Fitting ------------------------------------------------------------------------------------

CREATE TYPE health_score.churn_fit_result AS (
    coefficients        float8[],
    std_errors          float8[],
    standardized        float8[],
    center              float8[],
    scale               float8[],
    l2                  float8,
    loglik              float8,
    null_loglik         float8,
    iterations          int,
    rows_used           bigint,
    rows_skipped        bigint,
    positives           bigint,
    condition_number    float8
);

COMMENT ON TYPE health_score.churn_fit_result IS
'Result of churn_fit: coefficients and standard errors on the original scale (intercept first), the standardised coefficients, the centre and scale used, and the fit statistics.';
COMMENT ON COLUMN health_score.churn_fit_result.coefficients IS 'Coefficients on the original scale, intercept first.';
COMMENT ON COLUMN health_score.churn_fit_result.std_errors IS 'Their standard errors.';
COMMENT ON COLUMN health_score.churn_fit_result.standardized IS 'Coefficients on the standardised features (intercept first).';
COMMENT ON COLUMN health_score.churn_fit_result.center IS 'Mean of each feature over the rows used.';
COMMENT ON COLUMN health_score.churn_fit_result.scale IS 'Population standard deviation of each feature over the rows used.';
COMMENT ON COLUMN health_score.churn_fit_result.l2 IS 'L2 penalty used on the standardised coefficients.';
COMMENT ON COLUMN health_score.churn_fit_result.loglik IS 'Log-likelihood at the coefficients.';
COMMENT ON COLUMN health_score.churn_fit_result.null_loglik IS 'Log-likelihood of the intercept-only model.';
COMMENT ON COLUMN health_score.churn_fit_result.iterations IS 'Newton iterations.';
COMMENT ON COLUMN health_score.churn_fit_result.rows_used IS 'Rows with every feature and the label known.';
COMMENT ON COLUMN health_score.churn_fit_result.rows_skipped IS 'Rows skipped for a NULL feature or label.';
COMMENT ON COLUMN health_score.churn_fit_result.positives IS 'Rows used that churned.';
COMMENT ON COLUMN health_score.churn_fit_result.condition_number IS 'Condition number of the standardised information matrix.';

CREATE FUNCTION health_score.churn_fit(from_sql text, feature_exprs text[], names text[], label_expr text,
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
    RETURN r;
END
$$;

COMMENT ON FUNCTION health_score.churn_fit(text, text[], text[], text, int, float8, float8) IS
'The fitting engine behind train_churn_model and churn_cross_validate: checks the rows (NaN or infinite values, constant features, a single class, too few rows, a feature that separates the classes), then iterates logit_step and logit_solve on standardised features until the largest change of a coefficient is below tol. from_sql is the FROM clause, feature_exprs one float8 expression per feature, label_expr a boolean expression. Errors with SQLSTATE 22000 mean separation or collinearity (what a ridge penalty cures).';

CREATE TYPE health_score.churn_evaluation AS (
    auc                 float8,
    rows_used           bigint,
    positives           bigint,
    brier               float8,
    decile_rows         bigint[],
    decile_churned      bigint[],
    decile_predicted    float8[],
    decile_observed     float8[]
);

COMMENT ON TYPE health_score.churn_evaluation IS
'Result of churn_evaluate: exact AUC, rows, positives, Brier score and calibration by decile of predicted probability.';
COMMENT ON COLUMN health_score.churn_evaluation.auc IS 'Exact rank-sum AUC (NULL with a single class).';
COMMENT ON COLUMN health_score.churn_evaluation.rows_used IS 'Rows evaluated.';
COMMENT ON COLUMN health_score.churn_evaluation.positives IS 'Rows evaluated that churned.';
COMMENT ON COLUMN health_score.churn_evaluation.brier IS 'Mean squared difference between probability and outcome.';
COMMENT ON COLUMN health_score.churn_evaluation.decile_rows IS 'Rows per decile of predicted probability (1 = lowest).';
COMMENT ON COLUMN health_score.churn_evaluation.decile_churned IS 'Churned rows per decile.';
COMMENT ON COLUMN health_score.churn_evaluation.decile_predicted IS 'Mean predicted probability per decile.';
COMMENT ON COLUMN health_score.churn_evaluation.decile_observed IS 'Observed churn rate per decile.';

CREATE FUNCTION health_score.churn_evaluate(from_sql text, feature_exprs text[], label_expr text,
                                            coefficients float8[])
RETURNS health_score.churn_evaluation
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r health_score.churn_evaluation;
    rank_sum float8;
BEGIN
    EXECUTE format($q$
        WITH p AS (
            SELECT health_score.logit_predict($1, x) AS p, y
              FROM (SELECT %s AS x, %s AS y FROM %s) s
             WHERE y IS NOT NULL AND array_position(x, NULL) IS NULL),
        r AS MATERIALIZED (
            SELECT p, y,
                   rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0::float8 AS rk,
                   ntile(10) OVER (ORDER BY p) AS decile
              FROM p),
        cal AS (
            SELECT decile, count(*) AS n, count(*) FILTER (WHERE y) AS churned, avg(p) AS mp
              FROM r GROUP BY decile)
        SELECT a.*, c.*
          FROM (SELECT sum(rk) FILTER (WHERE y), count(*), count(*) FILTER (WHERE y),
                       avg((p - y::int) ^ 2) FROM r) a,
               (SELECT array_agg(n ORDER BY decile), array_agg(churned ORDER BY decile),
                       array_agg(mp ORDER BY decile), array_agg(churned::float8 / n ORDER BY decile)
                  FROM cal) c$q$,
        'ARRAY[' || array_to_string(feature_exprs, ', ') || ']::float8[]', label_expr, from_sql)
    INTO rank_sum, r.rows_used, r.positives, r.brier,
         r.decile_rows, r.decile_churned, r.decile_predicted, r.decile_observed
    USING coefficients;
    IF r.positives > 0 AND r.positives < r.rows_used THEN
        -- Mann-Whitney: AUC = (R1 - n1 (n1 + 1) / 2) / (n1 n0), ranks averaged over ties.
        r.auc := (rank_sum - r.positives * (r.positives + 1) / 2.0::float8)
                 / (r.positives::float8 * (r.rows_used - r.positives));
    END IF;
    RETURN r;
END
$$;

COMMENT ON FUNCTION health_score.churn_evaluate(text, text[], text, float8[]) IS
'Evaluates coefficients on rows (from_sql, feature_exprs and label_expr as in churn_fit): exact rank-sum AUC (ties count one half, as scikit-learn''s roc_auc_score), Brier score and calibration by decile (ntile of the predicted probability). Rows with a NULL feature or label are left out.';

CREATE FUNCTION health_score.churn_train(name text, kind text, source_desc text, label_desc text,
                                         from_sql text, feature_exprs text[], names text[], label_expr text,
                                         max_iter int, tol float8, l2 float8, ridge_fallback float8,
                                         as_of timestamptz DEFAULT NULL, horizon interval DEFAULT NULL)
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
    IF max_iter IS NULL OR max_iter < 1 OR max_iter > 1000 THEN
        RAISE EXCEPTION 'max_iter must be between 1 and 1000, got %', coalesce(max_iter::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tol IS NULL OR NOT (tol > 0 AND tol < 1) THEN
        RAISE EXCEPTION 'tol must be greater than 0 and less than 1, got %', coalesce(tol::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF l2 IS NULL OR NOT (l2 >= 0 AND l2 < 'Infinity') THEN
        RAISE EXCEPTION 'l2 must be a finite number, zero or more, got %', coalesce(l2::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ridge_fallback IS NOT NULL AND NOT (ridge_fallback > 0 AND ridge_fallback < 'Infinity') THEN
        RAISE EXCEPTION 'ridge_fallback must be a finite number greater than zero, got %', ridge_fallback
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

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

    -- one training per name at a time, so versions never collide
    PERFORM pg_advisory_xact_lock(hashtext('health_score.churn_models'), hashtext(name));
    UPDATE health_score.churn_models c SET active = false WHERE c.name = churn_train.name AND c.active;
    m.name := name;
    m.version := coalesce((SELECT max(c.version) FROM health_score.churn_models c
                            WHERE c.name = churn_train.name), 0) + 1;
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
    INSERT INTO health_score.churn_models SELECT m.*;

    INSERT INTO health_score.churn_model_terms
    SELECT m.name, m.version, j - 1,
           CASE WHEN j = 1 THEN '(intercept)' ELSE names[j - 1] END,
           b, se, b / se, health_score.logit_p_value(b / se),
           b - zq * se, b + zq * se, exp(b), exp(b - zq * se), exp(b + zq * se),
           CASE WHEN j > 1 THEN f.standardized[j] END,
           CASE WHEN j > 1 THEN f.center[j - 1] END,
           CASE WHEN j > 1 THEN f.scale[j - 1] END
      FROM unnest(f.coefficients, f.std_errors) WITH ORDINALITY AS u(b, se, j);

    INSERT INTO health_score.churn_model_calibration
    SELECT m.name, m.version, i, nr, nc, mp, ob
      FROM unnest(e.decile_rows, e.decile_churned, e.decile_predicted, e.decile_observed)
           WITH ORDINALITY AS u(nr, nc, mp, ob, i);
    RETURN m;
END
$$;

COMMENT ON FUNCTION health_score.churn_train(text, text, text, text, text, text[], text[], text, int, float8, float8, float8, timestamptz, interval) IS
'Shared by train_churn_model and train_account_churn_model: fits (churn_fit, with the ridge fall-back when asked), evaluates on the training rows (churn_evaluate) and records the new active version in churn_models, churn_model_terms and churn_model_calibration, all or nothing.';

CREATE FUNCTION health_score.churn_columns(source regclass, features text[], label text,
                                           OUT feature_exprs text[], OUT label_expr text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ regtype;
    f text;
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
    feature_exprs := '{}';
    FOREACH f IN ARRAY features LOOP
        SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
         WHERE a.attrelid = source AND a.attname = f AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'feature "%" is not a column of %', f, source USING ERRCODE = 'undefined_column';
        END IF;
        IF typ = 'boolean'::regtype THEN
            feature_exprs := feature_exprs || format('(%I)::int::float8', f);
        ELSIF typ IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'real'::regtype,
                      'double precision'::regtype, 'numeric'::regtype) THEN
            feature_exprs := feature_exprs || format('(%I)::float8', f);
        ELSE
            RAISE EXCEPTION 'feature "%" must be numeric or boolean, % is %', f, source, typ
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END LOOP;
    SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid = source AND a.attname = label AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'label "%" is not a column of %', label, source USING ERRCODE = 'undefined_column';
    END IF;
    IF typ = 'boolean'::regtype THEN
        label_expr := format('%I', label);
    ELSIF typ IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'real'::regtype,
                  'double precision'::regtype, 'numeric'::regtype) THEN
        label_expr := format('health_score.logit_label((%I)::float8)', label);
    ELSE
        RAISE EXCEPTION 'label "%" must be boolean or 0/1, % is %', label, source, typ
            USING ERRCODE = 'datatype_mismatch';
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.churn_columns(regclass, text[], text) IS
'Checks the feature and label columns of a relation (they exist, are numeric or boolean, no duplicates, the label is not a feature) and returns the float8 expression of each feature and the boolean expression of the label.';

CREATE FUNCTION health_score.train_churn_model(name text, source regclass, features text[], label text,
                                               max_iter int DEFAULT 25, tol float8 DEFAULT 1e-10,
                                               l2 float8 DEFAULT 0, ridge_fallback float8 DEFAULT NULL)
RETURNS health_score.churn_models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
BEGIN
    c := health_score.churn_columns(source, features, label);
    RETURN health_score.churn_train(name, 'table', source::text, label, source::text || ' AS s',
                                    c.feature_exprs, features, c.label_expr, max_iter, tol, l2, ridge_fallback);
END
$$;

COMMENT ON FUNCTION health_score.train_churn_model(text, regclass, text[], text, int, float8, float8, float8) IS
'Trains a churn model (logistic regression with an intercept) on a table or view: features are numeric or boolean columns, label a boolean or 0/1 column (true/1 = churned). Rows with a NULL feature or label are skipped and counted. Features are standardised internally; coefficients are reported on the original scale. Iterates Newton steps until the largest change of a standardised coefficient is below tol (at most max_iter). l2 > 0 adds a ridge penalty on the standardised coefficients; ridge_fallback, when given, is the penalty to fall back on (with a warning) if the plain fit meets separation or collinearity. Bad input (unknown column, constant feature, NaN or infinite values, a single class, more features than rows, perfect separation, collinearity) is an error naming the culprit, and nothing is written. Returns the new catalog row (the active version of name).';

-- Using a model ------------------------------------------------------------------------------

CREATE FUNCTION health_score.churn_model(model text)
RETURNS health_score.churn_models
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
BEGIN
    SELECT * INTO m FROM health_score.churn_models c WHERE c.name = model AND c.active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'churn model "%" does not exist', model
            USING ERRCODE = 'undefined_object', HINT = 'Train it with train_churn_model or train_account_churn_model.';
    END IF;
    RETURN m;
END
$$;

COMMENT ON FUNCTION health_score.churn_model(text) IS
'The active version of a churn model (its catalog row); an error when there is none.';

CREATE FUNCTION health_score.churn_probability(model text, features float8[])
RETURNS float8
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN health_score.logit_predict((health_score.churn_model(model)).coefficients, features);
END
$$;

COMMENT ON FUNCTION health_score.churn_probability(text, float8[]) IS
'Churn probability 0-1 under the active version of a model, features in the order of churn_models.features (booleans as 0/1). NULL features give NULL. For many rows, join churn_models and call logit_predict(coefficients, features) directly.';

CREATE FUNCTION health_score.churn_drivers(model text, features float8[])
RETURNS TABLE (rank int, feature text, value float8, average float8, coefficient float8,
               contribution float8, odds_multiplier float8)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
BEGIN
    IF cardinality(features) <> cardinality(m.features) THEN
        RAISE EXCEPTION 'features must have % elements (%), got %', cardinality(m.features),
            array_to_string(m.features, ', '), cardinality(features)
            USING ERRCODE = 'array_subscript_error';
    END IF;
    RETURN QUERY
    SELECT (row_number() OVER (ORDER BY d.c DESC NULLS LAST, d.i))::int, d.f, d.x, d.mean, d.b, d.c, exp(d.c)
      FROM (SELECT u.f, u.x, u.mean, m.coefficients[u.i + 1] AS b,
                   m.coefficients[u.i + 1] * (u.x - u.mean) AS c, u.i
              FROM unnest(m.features, features, m.center) WITH ORDINALITY AS u(f, x, mean, i)) d
     ORDER BY 1;
END
$$;

COMMENT ON FUNCTION health_score.churn_drivers(text, float8[]) IS
'Why this row is at risk: each feature''s contribution to the log-odds of churn relative to the average training row, coefficient x (value - average), largest push towards churn first; odds_multiplier = exp(contribution) is how much that feature alone multiplies the odds. The contributions add up to the row''s log-odds minus the log-odds of the average row. A NULL value gives a NULL contribution (ranked last).';

CREATE FUNCTION health_score.churn_feature_influence(model text)
RETURNS TABLE (rank int, feature text, standardized_coefficient float8, odds_ratio_per_sd float8,
               coefficient float8, odds_ratio float8, p_value float8, direction text, significant boolean)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (row_number() OVER (ORDER BY abs(t.standardized_coefficient) DESC, t.position))::int,
           t.term, t.standardized_coefficient, exp(t.standardized_coefficient), t.coefficient, t.odds_ratio,
           t.p_value, CASE WHEN t.coefficient > 0 THEN 'raises churn' ELSE 'lowers churn' END,
           t.p_value < 0.05
      FROM health_score.churn_model_terms t
     WHERE (t.name, t.version) = (SELECT m.name, m.version FROM health_score.churn_model(model) m)
       AND t.position > 0
     ORDER BY 1
$$;

COMMENT ON FUNCTION health_score.churn_feature_influence(text) IS
'Which data drives churn: the features of the active version of a model ranked by the size of their standardised coefficient (change in log-odds per standard deviation), with the odds ratio per standard deviation, the direction and whether p < 0.05.';

CREATE FUNCTION health_score.churn_cross_validate(source regclass, features text[], label text,
                                                  folds int DEFAULT 5, l2 float8 DEFAULT 0,
                                                  max_iter int DEFAULT 25, tol float8 DEFAULT 1e-8)
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
    IF max_iter IS NULL OR max_iter < 1 OR max_iter > 1000 THEN
        RAISE EXCEPTION 'max_iter must be between 1 and 1000, got %', coalesce(max_iter::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tol IS NULL OR NOT (tol > 0 AND tol < 1) THEN
        RAISE EXCEPTION 'tol must be greater than 0 and less than 1, got %', coalesce(tol::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF l2 IS NULL OR NOT (l2 >= 0 AND l2 < 'Infinity') THEN
        RAISE EXCEPTION 'l2 must be a finite number, zero or more, got %', coalesce(l2::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    c := health_score.churn_columns(source, features, label);
    -- Each row's fold comes from a hash of its content: reproducible, no ORDER BY needed.
    fold_expr := format('(abs(hashtext(s::text)::bigint) %% %s)', k);
    FOR i IN 0..k - 1 LOOP
        fit := health_score.churn_fit(format('%s AS s WHERE %s <> %s', source, fold_expr, i),
                                      c.feature_exprs, features, c.label_expr, max_iter, tol, l2);
        e := health_score.churn_evaluate(format('%s AS s WHERE %s = %s', source, fold_expr, i),
                                         c.feature_exprs, c.label_expr, fit.coefficients);
        aucs := aucs || e.auc;
        nrows := nrows || e.rows_used;
    END LOOP;
    RETURN QUERY SELECT k, avg(a), stddev_samp(a), aucs, nrows FROM unnest(aucs) a;
END
$$;

COMMENT ON FUNCTION health_score.churn_cross_validate(regclass, text[], text, int, float8, int, float8) IS
'k-fold cross-validated AUC of a model specification (the reliability figure): the rows are split into folds by a hash of their content (reproducible); each fold is scored (exact AUC) by a model fitted on the other folds. Returns the mean and sample standard deviation of the fold AUCs (a fold with a single class has a NULL AUC and is left out of both), each fold''s AUC and its number of rows used. Nothing is written to the catalog.';

CREATE FUNCTION health_score.suggest_weights(model text)
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
         WHERE (tm.name, tm.version) = (SELECT name, version FROM m) AND tm.position > 0)
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
'Metric weights derived from a churn model: each feature''s share of the total predictive strength (size of its standardised coefficient; for account models only metrics whose higher sub-score lowers churn count), overall and within its dimension, beside the weight now configured. A metric that goes the wrong way gets no weight and a note; the shares of one dimension can be copied into metrics.weight.';

-- Accounts: train on the health metrics, score every account, revenue at risk ----------------

CREATE FUNCTION health_score.account_features_sql(metrics text[],
                                                  metric_rows text DEFAULT '(SELECT * FROM health_score.metric_scores($1))')
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format($q$
        SELECT a.account_id, a.churned_on,
               array_agg(ms.sub_score ORDER BY u.i) AS x,
               array_agg(u.metric ORDER BY u.i) FILTER (WHERE ms.sub_score IS NULL) AS missing
          FROM health_score.accounts a
         CROSS JOIN unnest(%L::text[]) WITH ORDINALITY AS u(metric, i)
          LEFT JOIN %s ms
            ON ms.account_id = a.account_id AND ms.metric = u.metric
         WHERE (a.started_on IS NULL OR a.started_on <= $1)
           AND (a.churned_on IS NULL OR a.churned_on > $1)
         GROUP BY a.account_id, a.churned_on$q$, metrics, metric_rows)
$$;

COMMENT ON FUNCTION health_score.account_features_sql(text[], text) IS
'The query (parameter $1: as_of) giving, per account live at as_of, its sub-score of each metric (in order, NULL when the metric had no data), the metrics missing, and churned_on: the features of an account churn model. metric_rows: where the sub-scores come from, by default metric_scores($1).';

CREATE FUNCTION health_score.train_account_churn_model(name text, as_of timestamptz,
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
    chosen text[] := metrics;
    unknown text;
    trained health_score.churn_models;
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
    IF as_of + horizon > now() THEN
        RAISE EXCEPTION 'as_of + horizon (%) is in the future: the accounts that will churn by then are not known yet', as_of + horizon
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Train on an earlier as_of, or a shorter horizon.';
    END IF;
    IF chosen IS NULL THEN
        SELECT array_agg(m.name ORDER BY m.name) INTO chosen FROM health_score.metrics m WHERE m.enabled;
        IF chosen IS NULL THEN
            RAISE EXCEPTION 'no enabled metric in health_score.metrics' USING ERRCODE = 'invalid_parameter_value';
        END IF;
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
    trained := health_score.churn_train(
        name, 'account',
        CASE WHEN snapshots = 1 THEN format('account metric sub-scores at %s', as_of)
             ELSE format('account metric sub-scores at %s dates, every %s back from %s', snapshots, horizon, as_of) END,
        format('churned within %s after the date', horizon),
        'pg_temp.health_score_account_training AS s',
        (SELECT array_agg(format('x[%s]', i) ORDER BY i) FROM generate_series(1, cardinality(chosen)) i),
        chosen, 'churned', max_iter, tol, l2, ridge_fallback, as_of, horizon);
    DROP TABLE pg_temp.health_score_account_training;
    RETURN trained;
END
$$;

COMMENT ON FUNCTION health_score.train_account_churn_model(text, timestamptz, interval, text[], int, float8, float8, float8, int) IS
'Trains an account churn model from the accounts'' own history: the features are the sub-scores (0-100) of metrics (default: every enabled metric) at as_of, the label whether the account churned (accounts.churned_on) within horizon after as_of; accounts live at as_of take part, those missing a metric are skipped and counted. With snapshots > 1 the dates as_of - horizon, as_of - 2 x horizon, ... add one row per account live then (more churn events for a small book; rows of one account are not independent, so the standard errors are optimistic). as_of + horizon must be in the past. Other arguments and errors as train_churn_model. The newest active account model is the one account_churn_risk uses.';

-- metric_rows: a table of metric rows already scored at as_of (snapshot keeps one), read
-- instead of scoring again. Reading a temporary table makes the function parallel restricted.
CREATE FUNCTION health_score.account_churn_risk(as_of timestamptz DEFAULT now(), metric_rows regclass DEFAULT NULL)
RETURNS TABLE (account_id text, churn_risk float8, model text, model_version int,
               missing_metrics text[], top_drivers text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    SELECT * INTO m FROM health_score.churn_models c
     WHERE c.kind = 'account' AND c.active ORDER BY c.trained_at DESC, c.name LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT f.account_id,
               CASE WHEN f.missing IS NULL THEN 100 * health_score.logit_predict($2, f.x) END,
               $3, $4, f.missing,
               CASE WHEN f.missing IS NULL THEN
                   (SELECT string_agg(format('%%s %%s', d.metric, to_char(d.c, 'FMSG990.00')), ', ' ORDER BY d.c DESC)
                      FROM (SELECT u.metric, $2[u.i + 1] * (u.v - $5[u.i]) AS c
                              FROM unnest($6, f.x) WITH ORDINALITY AS u(metric, v, i)
                             ORDER BY 2 DESC LIMIT 3) d
                     WHERE d.c > 0)
               END
          FROM (%s) f
         ORDER BY f.account_id$q$,
        CASE WHEN metric_rows IS NULL THEN health_score.account_features_sql(m.features)
             ELSE health_score.account_features_sql(m.features, metric_rows::text) END)
        USING as_of, m.coefficients, m.name, m.version, m.center, m.features;
END
$$;

COMMENT ON FUNCTION health_score.account_churn_risk(timestamptz, regclass) IS
'Churn risk 0-100 % of every account live at as_of under the newest active account churn model (train_account_churn_model), from the account''s metric sub-scores at as_of (read from metric_rows, a table of metric_scores(as_of) rows, when given); NULL when a metric the model needs had no data (missing_metrics names them). top_drivers lists up to three metrics that push the risk above the average account''s, with their contribution to the log-odds. An empty result when no account model has been trained.';

CREATE FUNCTION health_score.account_churn_drivers(account_id text, as_of timestamptz DEFAULT now())
RETURNS TABLE (rank int, metric text, sub_score float8, average float8, coefficient float8,
               contribution float8, odds_multiplier float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
    x float8[];
BEGIN
    PERFORM health_score.check_as_of(as_of);
    SELECT * INTO m FROM health_score.churn_models c
     WHERE c.kind = 'account' AND c.active ORDER BY c.trained_at DESC, c.name LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account churn model has been trained' USING ERRCODE = 'undefined_object',
            HINT = 'Train one with train_account_churn_model.';
    END IF;
    EXECUTE format('SELECT f.x FROM (%s) f WHERE f.account_id = $2', health_score.account_features_sql(m.features))
       INTO x USING as_of, account_id;
    IF x IS NULL THEN
        RAISE EXCEPTION 'account "%" is not live at %', account_id, as_of USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY SELECT * FROM health_score.churn_drivers(m.name, x);
END
$$;

COMMENT ON FUNCTION health_score.account_churn_drivers(text, timestamptz) IS
'Why an account is at risk, under the newest active account churn model: each metric''s contribution to the log-odds of churn relative to the average account (coefficient x (sub-score - average sub-score)), largest push towards churn first (see churn_drivers).';

CREATE FUNCTION health_score.revenue_at_risk(as_of timestamptz DEFAULT now())
RETURNS TABLE (grouping_by text, group_value text, accounts bigint, accounts_with_risk bigint,
               mrr numeric, mrr_with_risk numeric, revenue_at_risk float8, risk_share float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN grouping(s.band, a.segment, a.owner) = 7 THEN 'all'
                WHEN grouping(s.band) = 0 THEN 'band'
                WHEN grouping(a.segment) = 0 THEN 'segment'
                ELSE 'owner' END,
           coalesce(s.band, a.segment, a.owner::text),
           count(*), count(r.churn_risk),
           sum(a.mrr), sum(a.mrr) FILTER (WHERE r.churn_risk IS NOT NULL),
           sum(a.mrr::float8 * r.churn_risk / 100),
           sum(a.mrr::float8 * r.churn_risk / 100) / nullif(sum(a.mrr::float8) FILTER (WHERE r.churn_risk IS NOT NULL), 0)
      FROM health_score.account_scores(as_of) s
      JOIN health_score.accounts a ON a.account_id = s.account_id
      LEFT JOIN health_score.account_churn_risk(as_of) r ON r.account_id = s.account_id
     GROUP BY GROUPING SETS ((), (s.band), (a.segment), (a.owner))
     ORDER BY 1, 7 DESC NULLS LAST, 2
$$;

COMMENT ON FUNCTION health_score.revenue_at_risk(timestamptz) IS
'Revenue at risk at as_of: the sum over accounts of MRR x churn probability (account_churn_risk), in total (grouping_by all) and by band, segment and owner (group_value NULL: accounts without a band, segment or owner). Accounts without a known risk or MRR add nothing; accounts_with_risk and mrr_with_risk say how much of the book the figure covers, risk_share = revenue_at_risk / mrr_with_risk.';

CREATE VIEW health_score.revenue_at_risk AS
SELECT * FROM health_score.revenue_at_risk(
    health_score.current_as_of());

COMMENT ON VIEW health_score.revenue_at_risk IS
'Revenue at risk now (or at the setting health_score.as_of): MRR x churn probability summed in total and by band, segment and owner.';
COMMENT ON COLUMN health_score.revenue_at_risk.grouping_by IS 'all, band, segment or owner.';
COMMENT ON COLUMN health_score.revenue_at_risk.group_value IS 'The band, segment or owner; NULL for accounts without one (and for the total).';
COMMENT ON COLUMN health_score.revenue_at_risk.accounts IS 'Live accounts in the group.';
COMMENT ON COLUMN health_score.revenue_at_risk.accounts_with_risk IS 'Of those, accounts with a known churn risk.';
COMMENT ON COLUMN health_score.revenue_at_risk.mrr IS 'Monthly recurring revenue of the group.';
COMMENT ON COLUMN health_score.revenue_at_risk.mrr_with_risk IS 'MRR of the accounts with a known churn risk.';
COMMENT ON COLUMN health_score.revenue_at_risk.revenue_at_risk IS 'Sum of MRR x churn probability: the monthly revenue expected to be lost.';
COMMENT ON COLUMN health_score.revenue_at_risk.risk_share IS 'revenue_at_risk / mrr_with_risk: the MRR-weighted churn probability.';

CREATE VIEW health_score.account_churn AS
SELECT a.account_id, a.name, a.segment, a.owner, a.mrr, s.score, s.band,
       r.churn_risk, (a.mrr::float8 * r.churn_risk / 100) AS revenue_at_risk, r.top_drivers,
       r.missing_metrics, r.model, r.model_version
  FROM health_score.account_churn_risk(
           health_score.current_as_of()) r
  JOIN health_score.accounts a ON a.account_id = r.account_id
  LEFT JOIN health_score.account_scores(
           health_score.current_as_of()) s
    ON s.account_id = r.account_id
 ORDER BY r.churn_risk DESC NULLS LAST, a.account_id;

COMMENT ON VIEW health_score.account_churn IS
'Every live account with its churn risk under the newest account churn model, highest risk first, beside its health score: MRR at risk and the metrics that drive the risk. Empty until an account model is trained.';
COMMENT ON COLUMN health_score.account_churn.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.account_churn.name IS 'Display name.';
COMMENT ON COLUMN health_score.account_churn.segment IS 'Segment.';
COMMENT ON COLUMN health_score.account_churn.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.account_churn.mrr IS 'Monthly recurring revenue.';
COMMENT ON COLUMN health_score.account_churn.score IS 'Health score 0-100.';
COMMENT ON COLUMN health_score.account_churn.band IS 'Action band.';
COMMENT ON COLUMN health_score.account_churn.churn_risk IS 'Churn risk 0-100 %; NULL when a metric the model needs had no data.';
COMMENT ON COLUMN health_score.account_churn.revenue_at_risk IS 'MRR x churn probability.';
COMMENT ON COLUMN health_score.account_churn.top_drivers IS 'Up to three metrics pushing the risk above the average account''s, with their contribution to the log-odds.';
COMMENT ON COLUMN health_score.account_churn.missing_metrics IS 'Metrics the model needs that had no data.';
COMMENT ON COLUMN health_score.account_churn.model IS 'The account churn model used.';
COMMENT ON COLUMN health_score.account_churn.model_version IS 'Its version.';
-- health_score install script, part 5: views for BI tools over the current scores.
--
-- "Current" is now(), or the time in the setting health_score.as_of when it is set
-- (SET health_score.as_of = '2025-06-30' shows every view as of that moment).

-- account_health ----------------------------------------------------------------------------------

CREATE VIEW health_score.account_health AS
SELECT s.account_id, a.name, a.segment, a.plan, a.owner, a.mrr,
       s.score, s.band, s.alert_tier, s.coverage,
       s.product_score, s.relationship_score, s.business_score,
       s.weakest_metrics, s.reason,
       round(r.churn_risk::numeric, 2)::float8 AS churn_risk, r.top_drivers AS churn_drivers
  FROM health_score.account_scores(health_score.current_as_of()) s
  JOIN health_score.accounts a ON a.account_id = s.account_id
  LEFT JOIN health_score.account_churn_risk(health_score.current_as_of()) r ON r.account_id = s.account_id
 ORDER BY s.score NULLS LAST, s.account_id;

COMMENT ON VIEW health_score.account_health IS
'Every live account with its current health score, band and alert tier, lowest score first (unscored accounts last).';
COMMENT ON COLUMN health_score.account_health.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.account_health.name IS 'Display name.';
COMMENT ON COLUMN health_score.account_health.segment IS 'Segment.';
COMMENT ON COLUMN health_score.account_health.plan IS 'Subscription plan.';
COMMENT ON COLUMN health_score.account_health.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.account_health.mrr IS 'Monthly recurring revenue.';
COMMENT ON COLUMN health_score.account_health.score IS 'Health score 0-100; NULL when too little data (see reason).';
COMMENT ON COLUMN health_score.account_health.band IS 'Action band (green, yellow, orange, red).';
COMMENT ON COLUMN health_score.account_health.alert_tier IS 'Alert tier (healthy, warning, at_risk, critical).';
COMMENT ON COLUMN health_score.account_health.coverage IS 'Share 0-1 of the configured weight that had data.';
COMMENT ON COLUMN health_score.account_health.product_score IS 'Product dimension score 0-100.';
COMMENT ON COLUMN health_score.account_health.relationship_score IS 'Relationship dimension score 0-100.';
COMMENT ON COLUMN health_score.account_health.business_score IS 'Business dimension score 0-100.';
COMMENT ON COLUMN health_score.account_health.weakest_metrics IS 'The three metrics that cost the score most points, with their sub-scores.';
COMMENT ON COLUMN health_score.account_health.reason IS 'Why the score is NULL, if it is.';
COMMENT ON COLUMN health_score.account_health.churn_risk IS 'Churn risk 0-100 % from the active account churn model; NULL without a model or when a metric it needs had no data.';
COMMENT ON COLUMN health_score.account_health.churn_drivers IS 'The metrics that push the churn risk above the average account''s, with their contribution to the log-odds.';

-- dimension_breakdown -------------------------------------------------------------------------------

CREATE VIEW health_score.dimension_breakdown AS
SELECT m.account_id, m.dimension,
       sum(m.contribution) / sum(m.effective_weight) AS score,
       sum(m.effective_weight) AS effective_weight,
       sum(m.contribution) AS contribution,
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

-- band_summary --------------------------------------------------------------------------------------

CREATE VIEW health_score.band_summary AS
WITH scored AS (
    SELECT s.band, s.score, a.mrr
      FROM health_score.account_scores(health_score.current_as_of()) s
      JOIN health_score.accounts a ON a.account_id = s.account_id
)
SELECT coalesce(b.band, 'unscored') AS band, b.min_score, b.max_score,
       count(s.*) AS accounts,
       round(count(s.*)::numeric / nullif(sum(count(s.*)) OVER (), 0), 4) AS share_of_accounts,
       coalesce(sum(s.mrr), 0) AS mrr,
       round(sum(s.mrr) / nullif(sum(sum(s.mrr)) OVER (), 0), 4) AS share_of_mrr,
       avg(s.score) AS average_score
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

-- action_queue ------------------------------------------------------------------------------------

CREATE VIEW health_score.action_queue AS
SELECT s.account_id, a.name, a.owner, a.segment, a.mrr, s.score, s.band, s.alert_tier,
       t.responder, t.respond_within,
       health_score.current_as_of() + t.respond_within AS due_by,
       b.cadence, b.playbook, s.weakest_metrics,
       round(r.churn_risk::numeric, 2)::float8 AS churn_risk,
       round(a.mrr * r.churn_risk::numeric / 100, 2) AS revenue_at_risk
  FROM health_score.account_scores(health_score.current_as_of()) s
  JOIN health_score.accounts a ON a.account_id = s.account_id
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
COMMENT ON COLUMN health_score.action_queue.mrr IS 'Monthly recurring revenue at stake.';
COMMENT ON COLUMN health_score.action_queue.score IS 'Health score 0-100.';
COMMENT ON COLUMN health_score.action_queue.band IS 'Action band.';
COMMENT ON COLUMN health_score.action_queue.alert_tier IS 'Alert tier.';
COMMENT ON COLUMN health_score.action_queue.responder IS 'Who acts, from the alert tier.';
COMMENT ON COLUMN health_score.action_queue.respond_within IS 'How soon, from the alert tier (zero: at once).';
COMMENT ON COLUMN health_score.action_queue.due_by IS 'When the response is due: the scoring time plus respond_within.';
COMMENT ON COLUMN health_score.action_queue.cadence IS 'Touchpoint cadence of the band.';
COMMENT ON COLUMN health_score.action_queue.playbook IS 'The band''s playbook.';
COMMENT ON COLUMN health_score.action_queue.weakest_metrics IS 'The three metrics that cost the score most points: where to start.';
COMMENT ON COLUMN health_score.action_queue.churn_risk IS 'Churn risk 0-100 % from the active account churn model, when there is one.';
COMMENT ON COLUMN health_score.action_queue.revenue_at_risk IS 'MRR x churn risk: the monthly revenue this account puts at risk.';

-- upsell_candidates ---------------------------------------------------------------------------------

CREATE VIEW health_score.upsell_candidates AS
WITH signals AS (
    SELECT m.account_id, count(*) AS signals,
           string_agg(format('%s %s', m.metric, round(m.raw_value::numeric, 1)), ', ' ORDER BY m.metric) AS expansion_signals
      FROM health_score.metric_scores(health_score.current_as_of()) m
      JOIN health_score.metrics c ON c.name = m.metric
     WHERE m.raw_value >= c.expansion_at
     GROUP BY m.account_id
)
SELECT s.account_id, a.name, a.owner, a.segment, a.plan, a.mrr, s.score, g.signals, g.expansion_signals
  FROM health_score.account_scores(health_score.current_as_of()) s
  JOIN health_score.bands b ON b.band = s.band
  JOIN signals g ON g.account_id = s.account_id
  JOIN health_score.accounts a ON a.account_id = s.account_id
 WHERE b.max_score = 100   -- the best band (green by default)
 ORDER BY g.signals DESC, a.mrr DESC NULLS LAST, s.account_id;

COMMENT ON VIEW health_score.upsell_candidates IS
'Accounts in the best band (green) showing expansion signals (metrics at or above their expansion_at, e.g. seat penetration of 80 % or more), most signals first.';
COMMENT ON COLUMN health_score.upsell_candidates.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.upsell_candidates.name IS 'Display name.';
COMMENT ON COLUMN health_score.upsell_candidates.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.upsell_candidates.segment IS 'Segment.';
COMMENT ON COLUMN health_score.upsell_candidates.plan IS 'Subscription plan.';
COMMENT ON COLUMN health_score.upsell_candidates.mrr IS 'Monthly recurring revenue today.';
COMMENT ON COLUMN health_score.upsell_candidates.score IS 'Health score 0-100.';
COMMENT ON COLUMN health_score.upsell_candidates.signals IS 'Number of expansion signals.';
COMMENT ON COLUMN health_score.upsell_candidates.expansion_signals IS 'The signalling metrics with their raw values.';
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
COMMENT ON COLUMN health_score.score_history.churn_risk IS 'Churn risk 0-100 % from the active account churn model at the time of the snapshot; NULL when no model was trained.';
COMMENT ON COLUMN health_score.score_history.reason IS 'Why score is NULL, when it is.';
COMMENT ON COLUMN health_score.score_history.config_version IS 'health_score.config_version() when the row was written: the scoring configuration it was computed with.';
COMMENT ON COLUMN health_score.score_history.taken_at IS 'When the row was written.';

CREATE TABLE health_score.metric_history (
    as_of               date NOT NULL,
    account_id          text NOT NULL,
    metric              text NOT NULL,
    dimension           text,
    raw_value           float8,
    sub_score           float8,
    effective_weight    float8,
    contribution        float8,
    PRIMARY KEY (account_id, as_of, metric)
);

CREATE INDEX metric_history_as_of_idx ON health_score.metric_history (as_of);

COMMENT ON TABLE health_score.metric_history IS
'One row per account, metric and date, written with score_history: the metric-level detail behind each historical score, used to attribute score changes to metrics.';
COMMENT ON COLUMN health_score.metric_history.as_of IS 'The date scored (as in score_history).';
COMMENT ON COLUMN health_score.metric_history.account_id IS 'The account.';
COMMENT ON COLUMN health_score.metric_history.metric IS 'The metric (health_score.metrics).';
COMMENT ON COLUMN health_score.metric_history.dimension IS 'The dimension the metric belonged to at that date.';
COMMENT ON COLUMN health_score.metric_history.raw_value IS 'The aggregated raw value at that date, NULL when unobserved.';
COMMENT ON COLUMN health_score.metric_history.sub_score IS 'The metric sub-score 0-100, NULL when unobserved.';
COMMENT ON COLUMN health_score.metric_history.effective_weight IS 'The share of the composite the metric carried at that date.';
COMMENT ON COLUMN health_score.metric_history.contribution IS 'Points of the composite score the metric contributed (effective_weight * sub_score).';

-- History follows the accounts' row-level security: a role sees the history of the accounts it
-- can see in health_score.accounts (all of them unless restrict_accounts_to_owners() is on).
-- The table owner (who takes the snapshots) is not restricted.
ALTER TABLE health_score.score_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE health_score.metric_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible_accounts ON health_score.score_history FOR SELECT
    USING (account_id IN (SELECT a.account_id FROM health_score.accounts a));
CREATE POLICY visible_accounts ON health_score.metric_history FOR SELECT
    USING (account_id IN (SELECT a.account_id FROM health_score.accounts a));

SELECT pg_catalog.pg_extension_config_dump('health_score.score_history', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.metric_history', '');

-- snapshot(as_of): score every account at a date and store it, replacing that date's rows.
CREATE FUNCTION health_score.snapshot(as_of date DEFAULT current_date)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- The scoring queries are short; JIT compilation would cost more than it saves.
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    scored_at timestamptz;
    day date := snapshot.as_of;
    version bigint;
    written integer;
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF day > current_date THEN
        RAISE EXCEPTION 'as_of must not be in the future, got %', to_char(day, 'YYYY-MM-DD')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    scored_at := day::timestamptz;
    version := health_score.config_version();

    -- One writer at a time; readers are never blocked.
    LOCK TABLE health_score.score_history, health_score.metric_history IN SHARE ROW EXCLUSIVE MODE;

    DELETE FROM health_score.metric_history h WHERE h.as_of = day;
    DELETE FROM health_score.score_history h WHERE h.as_of = day;

    -- Score once: keep the metric rows, then build both levels of history from them.
    IF to_regclass('pg_temp.snapshot_metric_rows') IS NULL THEN
        CREATE TEMP TABLE snapshot_metric_rows (
            account_id text, metric text, dimension text, raw_value float8, sub_score float8,
            effective_weight float8, contribution float8, coverage_share float8
        ) ON COMMIT DROP;
    END IF;
    TRUNCATE pg_temp.snapshot_metric_rows;
    INSERT INTO pg_temp.snapshot_metric_rows SELECT * FROM health_score.metric_scores(scored_at);
    ANALYZE pg_temp.snapshot_metric_rows;  -- both queries below plan from it

    EXECUTE format($sql$
        INSERT INTO health_score.score_history
            (as_of, account_id, score, product_score, relationship_score, business_score,
             dimension_scores, band, alert_tier, coverage, churn_risk, reason, config_version)
        SELECT $2, s.account_id, s.score, s.product_score, s.relationship_score, s.business_score,
               s.dimension_scores, s.band, s.alert_tier, s.coverage, r.churn_risk, s.reason, $3
          FROM (%s) s
          LEFT JOIN health_score.account_churn_risk($1, 'pg_temp.snapshot_metric_rows') r
            ON r.account_id = s.account_id
    $sql$, health_score.account_scores_sql('pg_temp.snapshot_metric_rows'))
        USING scored_at, day, version;
    GET DIAGNOSTICS written = ROW_COUNT;

    INSERT INTO health_score.metric_history
        (as_of, account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution)
    SELECT day, m.account_id, m.metric, m.dimension, m.raw_value, m.sub_score,
           m.effective_weight, m.contribution
      FROM pg_temp.snapshot_metric_rows m;

    RETURN written;
END
$$;

COMMENT ON FUNCTION health_score.snapshot(date) IS
'Scores every account as of midnight at the start of as_of (default today) and writes the result into score_history and metric_history, replacing the rows of that date (running it twice never duplicates). Returns the number of accounts written.';

-- backfill(from_date, to_date, step): snapshots for a range of past dates, with progress.
CREATE FUNCTION health_score.backfill(from_date date, to_date date, step interval DEFAULT interval '1 day')
RETURNS TABLE (as_of date, accounts integer, seconds float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    day timestamp;
    total integer;
    done integer := 0;
    started timestamptz;
BEGIN
    IF from_date IS NULL OR to_date IS NULL OR step IS NULL THEN
        RAISE EXCEPTION 'from_date, to_date and step must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
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

    -- from_date + i * step, so that monthly steps follow the calendar (31 Jan, 29 Feb, 31 Mar).
    SELECT count(*) INTO total
      FROM generate_series(0, to_date - from_date) i
     WHERE from_date + i * step <= to_date;
    FOR day IN
        SELECT from_date + i * step
          FROM generate_series(0, to_date - from_date) i
         WHERE from_date + i * step <= to_date
         ORDER BY i
    LOOP
        started := clock_timestamp();
        as_of := day::date;
        accounts := health_score.snapshot(day::date);
        seconds := extract(epoch FROM clock_timestamp() - started);
        done := done + 1;
        RAISE NOTICE 'backfill: % (% of %), % accounts',
            to_char(day, 'YYYY-MM-DD'), done, total, accounts;
        RETURN NEXT;
    END LOOP;
    -- Fresh statistics, so that backtests and trends over the new rows get sound plans.
    IF pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = 'health_score.score_history'::regclass), 'USAGE') THEN
        ANALYZE health_score.score_history;
        ANALYZE health_score.metric_history;
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.backfill(date, date, interval) IS
'Point-in-time snapshots (see snapshot()) for every date from from_date to to_date, step apart (whole days, default 1 day), reporting progress with a NOTICE per date. Returns one row per date: accounts written and seconds taken. Runs in one transaction: all dates or none.';

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
    result text := '';
    v float8;
BEGIN
    IF vals IS NULL THEN
        RETURN NULL;
    END IF;
    IF low IS NULL THEN
        SELECT min(x) INTO low FROM unnest(vals) x;
    END IF;
    IF high IS NULL THEN
        SELECT max(x) INTO high FROM unnest(vals) x;
    END IF;
    IF low = 'NaN' OR high = 'NaN' OR low > high
       OR low IN ('Infinity', '-Infinity') OR high IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'lo and hi must be finite with lo <= hi, got % and %', low, high
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v IN ARRAY vals LOOP
        IF v IS NULL OR v = 'NaN' THEN
            result := result || ' ';
        ELSIF high = low THEN
            result := result || blocks[CASE WHEN v < low THEN 1 WHEN v > high THEN 8 ELSE 4 END];
        ELSE
            result := result || blocks[1 + least(7, greatest(0, floor((v - low) / (high - low) * 8)))::int];
        END IF;
    END LOOP;
    RETURN result;
END
$$;

COMMENT ON FUNCTION health_score.sparkline(float8[], float8, float8) IS
'A text sparkline, one character per value from ▁ (at or below lo) to █ (at or above hi), a space for NULL; lo and hi default to the 0-100 score scale, pass NULL to use the values'' own minimum or maximum. Reads well in psql and BI tables.';

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
CREATE FUNCTION health_score.trends(as_of date DEFAULT NULL)
RETURNS TABLE (account_id text, as_of date, score float8, band text, alert_tier text,
               change_7d float8, change_30d float8, change_90d float8, slope_30d float8,
               band_30d_ago text, band_change text, churn_risk float8, churn_risk_change_30d float8,
               sparkline text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (
        SELECT coalesce(trends.as_of, (SELECT max(h.as_of) FROM health_score.score_history h)) AS day
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
           WHERE p.account_id = h.account_id AND p.as_of > d.day - 30 AND p.as_of <= d.day) w ON true
$$;

COMMENT ON FUNCTION health_score.trends(date) IS
'Each account scored at a snapshot date (default: the latest in score_history) with its score change over 7, 30 and 90 days (against the latest snapshot at or before that many days earlier, no older than twice that), the slope over the last 30 days (points per day, least squares), the band 30 days earlier and the change, the churn risk change, and a sparkline of the last 30 days on the 0-100 scale.';

CREATE VIEW health_score.score_trends AS
    SELECT * FROM health_score.trends();

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

CREATE VIEW health_score.band_changes AS
    SELECT c.account_id, c.as_of, c.previous_as_of, c.from_band, c.to_band,
           CASE WHEN health_score.band_rank(c.to_band) < health_score.band_rank(c.from_band)
                THEN 'downgrade' ELSE 'upgrade' END AS direction,
           c.score_before, c.score_after
      FROM (SELECT h.account_id, h.as_of,
                   lag(h.as_of) OVER w AS previous_as_of,
                   lag(h.band) OVER w AS from_band, h.band AS to_band,
                   lag(h.score) OVER w AS score_before, h.score AS score_after
              FROM health_score.score_history h
            WINDOW w AS (PARTITION BY h.account_id ORDER BY h.as_of)) c
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

-- Alerts --------------------------------------------------------------------------------------

CREATE TABLE health_score.alert_rules (
    rule        text PRIMARY KEY
                CHECK (rule IN ('score_drop', 'churn_risk_rise', 'band_downgrade', 'low_score')),
    enabled     boolean NOT NULL DEFAULT true,
    threshold   float8 NOT NULL CHECK (threshold >= 0 AND threshold <= 100),
    window_days integer NOT NULL CHECK (window_days > 0),
    weight      float8 NOT NULL DEFAULT 1 CHECK (weight >= 0)
);

COMMENT ON TABLE health_score.alert_rules IS
'Your changes to the alert rules: a row here overrides the built-in default of that rule (see the view effective_alert_rules), e.g. INSERT INTO health_score.alert_rules VALUES (''score_drop'', true, 15, 14) ON CONFLICT (rule) DO UPDATE SET threshold = excluded.threshold, window_days = excluded.window_days. Empty at install; kept by pg_dump.';
COMMENT ON COLUMN health_score.alert_rules.rule IS 'score_drop, churn_risk_rise, band_downgrade or low_score.';
COMMENT ON COLUMN health_score.alert_rules.enabled IS 'Whether the rule raises alerts.';
COMMENT ON COLUMN health_score.alert_rules.threshold IS 'score_drop: points lost from the window''s highest score; churn_risk_rise: percentage points gained from the window''s lowest risk; band_downgrade: bands lost from the window''s best band; low_score: the score at or below which an account alerts.';
COMMENT ON COLUMN health_score.alert_rules.window_days IS 'How many days back the rule looks (ignored by low_score).';
COMMENT ON COLUMN health_score.alert_rules.weight IS 'Priority points per point of drop or rise (score_drop, churn_risk_rise); ignored by the other rules.';

SELECT pg_catalog.pg_extension_config_dump('health_score.alert_rules', '');

CREATE VIEW health_score.effective_alert_rules AS
    SELECT d.rule, coalesce(r.enabled, d.enabled) AS enabled,
           coalesce(r.threshold, d.threshold) AS threshold,
           coalesce(r.window_days, d.window_days) AS window_days,
           coalesce(r.weight, d.weight) AS weight,
           r.rule IS NULL AS is_default, d.description
      FROM (VALUES
            ('score_drop', true, 20::float8, 30, 1::float8,
             'the score fell by threshold points or more from its highest within the window'),
            ('churn_risk_rise', true, 15::float8, 30, 1::float8,
             'the churn risk rose by threshold percentage points or more from its lowest within the window'),
            ('band_downgrade', true, 1::float8, 30, 0::float8,
             'the band is threshold bands or more below the best band within the window'),
            ('low_score', true, 60::float8, 1, 0::float8,
             'the score is at or below threshold'))
           AS d(rule, enabled, threshold, window_days, weight, description)
      LEFT JOIN health_score.alert_rules r ON r.rule = d.rule;

COMMENT ON VIEW health_score.effective_alert_rules IS
'The alert rules in force: the built-in defaults (a drop of 20 points within 30 days, churn risk up 15 points within 30 days, any band downgrade within 30 days, a score at or below 60) with your overrides from alert_rules.';
COMMENT ON COLUMN health_score.effective_alert_rules.rule IS 'Rule name.';
COMMENT ON COLUMN health_score.effective_alert_rules.enabled IS 'Whether the rule raises alerts.';
COMMENT ON COLUMN health_score.effective_alert_rules.threshold IS 'The rule''s threshold (see alert_rules.threshold).';
COMMENT ON COLUMN health_score.effective_alert_rules.window_days IS 'How many days back the rule looks.';
COMMENT ON COLUMN health_score.effective_alert_rules.weight IS 'Priority points per point of drop or rise.';
COMMENT ON COLUMN health_score.effective_alert_rules.is_default IS 'True when no override is set in alert_rules.';
COMMENT ON COLUMN health_score.effective_alert_rules.description IS 'What triggers the rule.';

-- alerts_at(as_of): the accounts that trigger an alert rule at a snapshot date, by priority.
CREATE FUNCTION health_score.alerts_at(as_of date DEFAULT NULL)
RETURNS TABLE (priority_rank bigint, account_id text, as_of date, score float8, band text,
               alert_tier text, score_drop float8, churn_risk float8, churn_risk_rise float8,
               best_band text, rules text[], priority float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (
        SELECT coalesce(alerts_at.as_of, (SELECT max(h.as_of) FROM health_score.score_history h)) AS day
    ), r AS (
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
          min(e.threshold) FILTER (WHERE e.rule = 'low_score') AS low_max
        FROM health_score.effective_alert_rules e
    ), a AS (
        SELECT h.account_id, h.as_of, h.score, h.band, h.alert_tier, h.churn_risk,
               round(greatest(0, (SELECT max(p.score) FROM health_score.score_history p
                                   WHERE p.account_id = h.account_id
                                     AND p.as_of >= d.day - r.drop_days AND p.as_of <= d.day) - h.score)::numeric,
                     2)::float8 AS score_drop,
               greatest(0, h.churn_risk - (SELECT min(p.churn_risk) FROM health_score.score_history p
                             WHERE p.account_id = h.account_id
                               AND p.as_of >= d.day - r.rise_days AND p.as_of <= d.day)) AS churn_risk_rise,
               (SELECT p.band FROM health_score.score_history p
                 WHERE p.account_id = h.account_id AND p.band IS NOT NULL
                   AND p.as_of >= d.day - r.band_days AND p.as_of <= d.day
                 ORDER BY health_score.band_rank(p.band) DESC LIMIT 1) AS best_band,
               r.*
          FROM d CROSS JOIN r
          JOIN health_score.score_history h ON h.as_of = d.day
         WHERE h.score IS NOT NULL
    ), t AS (
        SELECT a.*,
               array_remove(ARRAY[
                   CASE WHEN a.drop_on AND a.score_drop >= a.drop_min AND a.score_drop > 0 THEN 'score_drop' END,
                   CASE WHEN a.rise_on AND a.churn_risk_rise >= a.rise_min AND a.churn_risk_rise > 0 THEN 'churn_risk_rise' END,
                   CASE WHEN a.band_on AND health_score.band_rank(a.best_band) - health_score.band_rank(a.band)
                                           >= greatest(a.band_min, 1) THEN 'band_downgrade' END,
                   CASE WHEN a.low_on AND a.score <= a.low_max THEN 'low_score' END], NULL) AS rules
          FROM a
    )
    SELECT row_number() OVER (ORDER BY p.priority DESC, t.score, t.account_id),
           t.account_id, t.as_of, t.score, t.band, t.alert_tier, t.score_drop,
           t.churn_risk, t.churn_risk_rise, t.best_band, t.rules, p.priority
      FROM t
      CROSS JOIN LATERAL (
          SELECT round(((100 - t.score)
                        + coalesce(t.drop_weight, 0) * coalesce(t.score_drop, 0)
                        + coalesce(t.rise_weight, 0) * coalesce(t.churn_risk_rise, 0))::numeric, 4)::float8 AS priority) p
     WHERE cardinality(t.rules) > 0
     ORDER BY 1
$$;

COMMENT ON FUNCTION health_score.alerts_at(date) IS
'The accounts that trigger at least one enabled alert rule (effective_alert_rules) at a snapshot date (default: the latest), ranked by priority = points below 100 + weight * points lost within the score_drop window + weight * churn-risk points gained within the churn_risk_rise window: a fast decline from 85 to 65 (35 + 20 = 55) ranks above a stable 60 (40).';

CREATE VIEW health_score.alerts AS
    SELECT * FROM health_score.alerts_at();

COMMENT ON VIEW health_score.alerts IS
'Accounts needing attention at the latest snapshot, most urgent first: score drops, fast-rising churn risk, band downgrades and low scores (rules in effective_alert_rules).';
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
COMMENT ON COLUMN health_score.alerts.rules IS 'The rules triggered: score_drop, churn_risk_rise, band_downgrade, low_score.';
COMMENT ON COLUMN health_score.alerts.priority IS 'Points below 100 plus weighted points of drop and of churn-risk rise: higher is more urgent.';

-- Change attribution --------------------------------------------------------------------------

-- attribution_check(from_date, to_date): refuses dates attribution cannot compare.
CREATE FUNCTION health_score.attribution_check(from_date date, to_date date)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF from_date IS NULL OR to_date IS NULL THEN
        RAISE EXCEPTION 'from_date and to_date must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
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
END
$$;

COMMENT ON FUNCTION health_score.attribution_check(date, date) IS
'Raises an error unless from_date and to_date are given, in order, and both have a snapshot in score_history; used by attribution() and attribution_summary().';

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

-- backtest_check(horizons): refuses horizons a backtest cannot use.
CREATE FUNCTION health_score.backtest_check(horizons integer[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_day date;
    last_day date;
    h integer;
BEGIN
    IF horizons IS NULL OR cardinality(horizons) = 0 THEN
        RAISE EXCEPTION 'horizons must name at least one horizon in days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT min(s.as_of), max(s.as_of) INTO first_day, last_day FROM health_score.score_history s;
    IF first_day IS NULL THEN
        RAISE EXCEPTION 'score_history is empty'
            USING ERRCODE = 'no_data_found',
                  HINT = 'Fill it with health_score.backfill(from_date, to_date, step) first.';
    END IF;
    FOREACH h IN ARRAY horizons LOOP
        IF h IS NULL OR h <= 0 THEN
            RAISE EXCEPTION 'horizons must be positive numbers of days, got %', coalesce(h::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM health_score.accounts a
                         JOIN health_score.score_history s ON s.account_id = a.account_id
                        WHERE a.churned_on IS NOT NULL AND s.score IS NOT NULL
                          AND s.as_of <= a.churned_on - h) THEN
            RAISE EXCEPTION 'horizon of % days: no churned account has a score that long before it churned (score history % to %)',
                h, to_char(first_day, 'YYYY-MM-DD'), to_char(last_day, 'YYYY-MM-DD')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Backfill further back, or ask for a shorter horizon.';
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.backtest_check(integer[]) IS
'Raises an error unless horizons is a non-empty list of positive numbers of days, each with at least one churned account scored that many days or more before it churned; used by the backtest functions.';

-- backtest_points(horizons): the scored points a backtest compares.
CREATE FUNCTION health_score.backtest_points(horizons integer[] DEFAULT '{30,60,90}')
RETURNS TABLE (horizon_days integer, as_of date, account_id text, score float8, band text,
               churned boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM health_score.backtest_check(horizons);

    RETURN QUERY
    WITH hz AS (
        SELECT DISTINCT x AS days FROM unnest(horizons) x
    ), positive AS (
        -- Each account that churned, at its latest snapshot at least `days` days before.
        SELECT hz.days, a.account_id,
               (SELECT max(s.as_of) FROM health_score.score_history s
                 WHERE s.account_id = a.account_id AND s.as_of <= a.churned_on - hz.days
                   AND s.score IS NOT NULL) AS day
          FROM hz CROSS JOIN health_score.accounts a
         WHERE a.churned_on IS NOT NULL
    ), days AS (
        SELECT DISTINCT p.days, p.day FROM positive p WHERE p.day IS NOT NULL
    )
    SELECT p.days, p.day, p.account_id, s.score, s.band, true
      FROM positive p
      JOIN health_score.score_history s ON s.account_id = p.account_id AND s.as_of = p.day
    UNION ALL
    -- At those same dates, the accounts still there `days` days later.
    SELECT d.days, d.day, s.account_id, s.score, s.band, false
      FROM days d
      JOIN health_score.score_history s ON s.as_of = d.day AND s.score IS NOT NULL
      JOIN health_score.accounts a ON a.account_id = s.account_id
     WHERE (a.churned_on IS NULL OR a.churned_on > d.day + d.days)
       -- with sparse snapshots a churner's date can be further back than N days: it is a
       -- churned point there, never also a stayed one.
       AND NOT EXISTS (SELECT 1 FROM positive p
                        WHERE p.days = d.days AND p.day = d.day AND p.account_id = s.account_id);
END
$$;

COMMENT ON FUNCTION health_score.backtest_points(integer[]) IS
'The points a backtest compares, per horizon of N days: every churned account (accounts.churned_on) scored at its latest snapshot at least N days before it churned (churned = true), and, at those same snapshot dates, every scored account that had not churned N days later (churned = false). Each horizon must be positive and have at least one churned account scored that long before it churned.';

-- backtest(horizons): did the scores predict churn N days ahead?
CREATE FUNCTION health_score.backtest(horizons integer[] DEFAULT '{30,60,90}')
RETURNS TABLE (horizon_days integer, churned bigint, stayed bigint, auc float8,
               churn_rate float8, false_positives bigint, false_positive_rate float8,
               false_negatives bigint, false_negative_rate float8,
               top_decile_churn_rate float8, top_decile_lift float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM health_score.backtest_check(horizons);
    -- auc() is the churn part's ROC AUC aggregate.
    RETURN QUERY
    WITH p AS (
        SELECT b.*, ntile(10) OVER (PARTITION BY b.horizon_days ORDER BY b.score, b.account_id, b.as_of) AS decile
          FROM health_score.backtest_points(horizons) b
    ), top_band AS (
        SELECT band FROM health_score.bands ORDER BY max_score DESC, min_score DESC LIMIT 1
    ), bottom_band AS (
        SELECT band FROM health_score.bands ORDER BY min_score, max_score LIMIT 1
    )
    SELECT p.horizon_days,
           count(*) FILTER (WHERE p.churned),
           count(*) FILTER (WHERE NOT p.churned),
           health_score.auc(100 - p.score, p.churned),
           avg(p.churned::int)::float8,
           count(*) FILTER (WHERE p.churned AND p.band = (SELECT band FROM top_band)),
           (count(*) FILTER (WHERE p.churned AND p.band = (SELECT band FROM top_band)))::float8
               / nullif(count(*) FILTER (WHERE p.churned), 0),
           count(*) FILTER (WHERE NOT p.churned AND p.band = (SELECT band FROM bottom_band)),
           (count(*) FILTER (WHERE NOT p.churned AND p.band = (SELECT band FROM bottom_band)))::float8
               / nullif(count(*) FILTER (WHERE NOT p.churned), 0),
           avg(p.churned::int) FILTER (WHERE p.decile = 1)::float8,
           avg(p.churned::int) FILTER (WHERE p.decile = 1)::float8 / nullif(avg(p.churned::int), 0)
      FROM p
     GROUP BY p.horizon_days
     ORDER BY p.horizon_days;
END
$$;

COMMENT ON FUNCTION health_score.backtest(integer[]) IS
'Backtest of the scores against real churn, per horizon in days (see backtest_points): churned and stayed points, ROC AUC of (100 - score) as a churn predictor (0.5 = chance, 1 = perfect), the churn rate of the compared points, false positives (churned accounts that were in the top band, green by default) and false negatives (stayed accounts in the bottom band, red by default) with their rates among churned resp. stayed, and the churn rate of the lowest-scored decile with its lift over the overall rate.';

-- backtest_bands(horizons): churn rate per band among the backtest points.
CREATE FUNCTION health_score.backtest_bands(horizons integer[] DEFAULT '{30,60,90}')
RETURNS TABLE (horizon_days integer, band text, points bigint, churned bigint, churn_rate float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.horizon_days, p.band, count(*), count(*) FILTER (WHERE p.churned),
           avg(p.churned::int)::float8
      FROM health_score.backtest_points(horizons) p
      LEFT JOIN health_score.bands b ON b.band = p.band
     GROUP BY p.horizon_days, p.band, b.min_score
     ORDER BY p.horizon_days, b.min_score DESC NULLS LAST
$$;

COMMENT ON FUNCTION health_score.backtest_bands(integer[]) IS
'Churn rate per action band and horizon among the backtest points (see backtest_points): of the accounts in a band N days before, the share that churned.';

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

-- refresh(): take today's snapshot and refresh the dashboard materialized views.
CREATE FUNCTION health_score.refresh()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    written integer;
    mv record;
BEGIN
    written := health_score.snapshot(current_date);
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
    RETURN written;
END
$$;

COMMENT ON FUNCTION health_score.refresh() IS
'The daily job: takes today''s snapshot (snapshot(current_date)) and refreshes the extension''s materialized views (the *_mv dashboard copies) concurrently, so readers are never blocked. Run it as their owner (the role that created the extension). Returns the number of accounts snapshotted.';

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
    IF cron IS NULL OR btrim(cron) = '' THEN
        RAISE EXCEPTION 'cron must be a schedule such as ''0 3 * * *'''
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
'Schedules health_score.refresh() with pg_cron (package postgresql-NN-cron) as the job health_score_refresh, daily at 03:00 by default; scheduling again replaces the schedule. Returns the pg_cron job id. Errors, naming the package, when pg_cron is missing.';

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
-- health_score install script, last part: who may read what.
--
-- Two roles, created when missing (roles belong to the whole cluster, so they outlive the
-- extension): health_score_reader for BI tools (reads everything), and health_score_csm for
-- customer-success managers, who see only the accounts they own once
-- restrict_accounts_to_owners() has been run. Grant them to login roles.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'health_score_reader') THEN
        CREATE ROLE health_score_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'health_score_csm') THEN
        CREATE ROLE health_score_csm NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA health_score TO health_score_reader, health_score_csm;
GRANT SELECT ON ALL TABLES IN SCHEMA health_score TO health_score_reader, health_score_csm;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA health_score TO health_score_reader, health_score_csm;

-- Views check the caller's rights on the tables below them (PostgreSQL 15 and later), so
-- row-level security applies through them too. On older servers they read through
-- account_scores() and metric_scores(), which run as the caller and so see only its rows.
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

CREATE FUNCTION health_score.restrict_accounts_to_owners(enable boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounts', 'observations'] LOOP
        IF EXISTS (SELECT FROM pg_policies p WHERE p.schemaname = 'health_score' AND p.tablename = t
                                                AND p.policyname = 'owner_only') THEN
            EXECUTE format('DROP POLICY owner_only ON health_score.%I', t);
        END IF;
        EXECUTE format('ALTER TABLE health_score.%I %s ROW LEVEL SECURITY', t,
                       CASE WHEN enable THEN 'ENABLE' ELSE 'DISABLE' END);
    END LOOP;
    IF enable THEN
        -- Readers (BI tools) see every account; everyone else only the accounts they own.
        CREATE POLICY owner_only ON health_score.accounts FOR SELECT
            USING (owner = current_user OR pg_has_role(current_user, 'health_score_reader', 'MEMBER'));
        CREATE POLICY owner_only ON health_score.observations FOR SELECT
            USING (pg_has_role(current_user, 'health_score_reader', 'MEMBER')
                   OR account_id IN (SELECT a.account_id FROM health_score.accounts a));
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.restrict_accounts_to_owners(boolean) IS
'Turns on (or, with false, off) row-level security on accounts and observations: members of health_score_reader see every account, any other role only the accounts whose owner it is. Table owners and superusers are not restricted.';

-- The dashboards' materialized copies (history.sql) cannot apply row-level security, so they
-- are for readers only: CSMs read the live views, which do.
REVOKE SELECT ON health_score.account_health_mv, health_score.dimension_breakdown_mv,
    health_score.band_summary_mv, health_score.action_queue_mv, health_score.upsell_candidates_mv,
    health_score.score_trends_mv, health_score.alerts_mv FROM health_score_csm;
