-- health_score install script, part 5: views for BI tools over the current scores.
--
-- "Current" is now(), or the time in the setting health_score.as_of when it is set
-- (SET health_score.as_of = '2025-06-30' shows every view as of that moment).
--
-- Numbers in the views (here, in churn.sql and in history.sql): what a view shows is read in SQL
-- and BI tools, so every fractional figure it computes is numeric with a fixed scale, rounded
-- once from the full-precision value: scores, points, percentages and money numeric(18,2),
-- shares 0-1 and slopes numeric(18,4). round(score, 1) then works, and drivers report a
-- decimal type with its scale. The tables, functions and kernels keep float8: compute on them.

-- account_health ----------------------------------------------------------------------------------

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

-- dimension_breakdown -------------------------------------------------------------------------------

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

-- band_summary --------------------------------------------------------------------------------------

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

-- action_queue ------------------------------------------------------------------------------------

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
