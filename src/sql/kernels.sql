-- health_score install script, part 1: the C kernels.
-- The install script of a version is assembled from src/sql/*.sql (EXT_SQL_PARTS in the
-- Makefile); released versions are frozen in versions/.

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
'Transition function of metric_values; state {as_of, as_of set, fingerprint of the metric arrays}, then nine values per metric: the decay state, the latest time and value, the aggregation.';

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
