-- test/lib/metric_rows_reference.sql: the metric level of scoring as SQL, as it was before the
-- function metric_level (src/metric_level.c) replaced it, kept to check that the two give the
-- same rows (test/pgtap/metric_level.sql). Creates
-- reference_schema.metric_rows_sql_reference(raw_values), the text of the old query from a
-- query of raw values (parameter $1: as_of), as metric_rows_sql takes, in the schema named by
-- the psql variable reference_schema (default pg_temp).
\if :{?reference_schema}
\else
\set reference_schema pg_temp
\endif
CREATE OR REPLACE FUNCTION :reference_schema.metric_rows_sql_reference(raw_values text) RETURNS text
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
    -- the accounts scored, with the days they have existed at as_of (NULL: started_on unknown)
    SELECT a.account_id, coalesce(a.segment, '') AS segment,
           (extract(epoch FROM $1) - extract(epoch FROM a.started_on::timestamptz))::float8 / 86400 AS age_days
      FROM health_score.accounts a
     WHERE (a.started_on IS NULL OR a.started_on <= $1)
       AND (a.churned_on IS NULL OR a.churned_on > $1)
), cleaned AS (
    -- Every live account's raw values, observed or not. A metric spoilt by a bad row has no
    -- data, never a zero. A metric with no observation (within max_age) is unknown, or with
    -- absent_means = 'zero' reads 0, and days_since the days the metric could have seen an
    -- event: since started_on, at most max_age (unknown without started_on). A decayed_rate
    -- is the decayed sum over the decayed exposure since started_on,
    -- E = h / ln 2 * (1 - 2^(-A/h)) days for a half-life of h days, where A is the days since
    -- started_on (at most max_age, at least 7 days, so the first days do not read one event
    -- as a daily habit): metric_values divided it by h / ln 2, an endless history's exposure,
    -- which stays when started_on is unknown. A/h is capped at 1000, where 2^(-A/h) is 0 to
    -- double precision (and 2 ^ -large would raise an underflow).
    SELECT l.account_id, l.segment,
           (SELECT array_agg(CASE
                WHEN c.input = ANY (bi.inputs) THEN NULL
                WHEN b.raw_values[c.slot] IS NULL THEN
                    CASE WHEN c.absent_means = 'zero' THEN
                        CASE WHEN c.aggregation <> 'days_since' THEN 0
                             WHEN l.age_days IS NOT NULL THEN least(l.age_days, c.max_age_days) END END
                WHEN c.aggregation = 'decayed_rate' AND l.age_days IS NOT NULL THEN
                    b.raw_values[c.slot]
                    / (1 - 2 ^ (-least(greatest(least(l.age_days, c.max_age_days), 7) / c.half_life_days, 1000)))
                ELSE b.raw_values[c.slot] END ORDER BY c.slot) FROM catalog c) AS raw_values
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
), weighted AS (
    SELECT b.account_id, v.slot, v.raw_value, v.effective_weight, v.coverage_share
      FROM cleaned b
      JOIN segments s ON s.segment = b.segment
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
 UNION ALL
-- a metric spoilt by a bad row: a row with no values, which makes the account's score NULL
SELECT bi.account_id, c.name, c.dimension, NULL, NULL, NULL, NULL, NULL
  FROM bad_inputs bi
  JOIN live l ON l.account_id = bi.account_id
  JOIN catalog c ON c.input = ANY (bi.inputs)
$q$, raw_values)
$$;
