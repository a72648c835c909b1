-- test/lib/account_scores_reference.sql: the account level of scoring as SQL, as it was
-- before the aggregate score_account (src/account_score.c) replaced it, kept to check that the
-- two give the same rows (test/pgtap/account_level.sql) and to time them side by side
-- (bench/scorecard.sh). Creates reference_schema.account_scores_sql_reference(metric_rows),
-- the text of the old query over a relation of metric rows (parameter $1: as_of), in the
-- schema named by the psql variable reference_schema (default pg_temp).
\if :{?reference_schema}
\else
\set reference_schema pg_temp
\endif
CREATE OR REPLACE FUNCTION :reference_schema.account_scores_sql_reference(metric_rows text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
WITH metric_scores AS MATERIALIZED (
    SELECT * FROM %s ms
), by_dimension AS (
    SELECT ms.account_id, ms.dimension, sum(ms.contribution) AS contribution,
           sum(ms.contribution) / sum(ms.effective_weight) AS score, sum(ms.coverage_share) AS coverage,
           bool_or(ms.raw_value IS NULL) AS bad
      FROM metric_scores ms
     GROUP BY 1, 2
), by_account AS (
    SELECT d.account_id, sum(d.contribution) AS score, sum(d.coverage) AS coverage, bool_or(d.bad) AS bad,
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
    SELECT l.account_id, b.score AS raw_score, coalesce(b.bad, false) AS bad,
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
    SELECT s.*, CASE WHEN s.raw_score IS NOT NULL AND s.coverage >= s.min_coverage AND NOT s.bad
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
       CASE WHEN f.bad THEN (SELECT string_agg(p.problem, '; ' ORDER BY p.problem)
                               FROM (SELECT DISTINCT p.problem FROM health_score.bad_observations(f.account_id, $1) p) p)
            WHEN f.raw_score IS NULL THEN 'no observations'
            WHEN f.score IS NULL THEN format('coverage %%s below min_coverage %%s', f.coverage, f.min_coverage)
       END AS reason,
       f.dimension_scores, f.weakest_metrics
  FROM final f
$q$, metric_rows)
$$;
