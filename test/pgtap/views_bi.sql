-- The views for BI tools:
--   1. numbers: every fractional figure a view or a dashboard copy shows is numeric with a fixed
--      scale (scores, points, percentages and money 2 decimals; shares 0-1 and slopes 4),
--      rounded once from the full-precision value the functions return; only
--      effective_alert_rules, the configuration as stored, and metric_history, the metric
--      history as stored (a table before 0.2.0, a view over its compact storage since), keep
--      float8;
--   2. plain types: every array, jsonb or interval a view shows has a plain twin (text, hours,
--      or a long-format view), and the history has views with numeric figures and no jsonb.
-- Checked on the demo book (150 accounts, weekly history, an account churn model) against the
-- functions and tables, rounded or unnested here.
--
-- The demo generator commits a transaction of its own, so the book goes into a database of its
-- own, dropped at the end; the tests themselves run in one transaction, rolled back.
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS hs_views_numeric;
CREATE DATABASE hs_views_numeric;
\c hs_views_numeric
SET client_min_messages = warning;
CREATE EXTENSION pgtap;
CREATE EXTENSION health_score;
\set accounts 150
\set end_date 2025-12-31
\o /dev/null
\ir ../../examples/demo/generate.sql
\o

BEGIN;
SELECT plan(26);
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;
\o /dev/null
SELECT health_score.train_account_churn_model('numeric_views', '2025-09-01', '90 days',
           ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'support_sentiment']);
SELECT health_score.backfill('2025-10-01', '2025-12-31', '7 days');
\o
SELECT set_config('health_score.as_of', '2025-12-31', true);

-- ==== types =======================================================================================
-- The columns of the views and their copies, with their types.
CREATE TEMP VIEW shown AS
SELECT c.relname::text AS relation, c.relkind, a.attname::text AS col, format_type(a.atttypid, NULL) AS type,
       CASE WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 0 THEN (a.atttypmod - 4) >> 16 END AS precision,
       CASE WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 0 THEN (a.atttypmod - 4) & 65535 END AS scale
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind IN ('v', 'm');

SELECT is((SELECT string_agg(relation || '.' || col, ', ' ORDER BY relation, col) FROM shown
            WHERE type IN ('double precision', 'real') AND relation NOT IN ('effective_alert_rules', 'metric_history')),
          NULL, 'no view or dashboard copy shows a float8 (but effective_alert_rules and metric_history, as stored)');
SELECT is((SELECT string_agg(relation || '.' || col, ', ' ORDER BY relation, col) FROM shown
            WHERE type = 'numeric' AND precision IS DISTINCT FROM 18),
          NULL, 'every numeric column has a fixed precision and scale, numeric(18, s)');
SELECT is((SELECT string_agg(DISTINCT col, ', ' ORDER BY col) FROM shown WHERE type = 'numeric' AND scale = 4),
          'coverage, effective_weight, risk_share, share_of_accounts, share_of_mrr, slope_30d',
          'the shares 0-1 and the slope have 4 decimals');
SELECT is((SELECT string_agg(DISTINCT col, ', ' ORDER BY col) FROM shown WHERE type = 'numeric' AND scale = 2),
          'average_score, business_score, change_30d, change_7d, change_90d, churn_risk, churn_risk_change_30d, '
          'churn_risk_high, churn_risk_low, churn_risk_rise, contribution, max_score, min_score, mrr, mrr_with_risk, '
          'priority, product_score, relationship_score, respond_within_hours, revenue_at_risk, revenue_at_risk_high, '
          'revenue_at_risk_low, score, score_after, score_before, score_drop',
          'scores, points, percentages and money have 2 decimals');
SELECT is((SELECT string_agg(m.relation || '.' || m.col, ', ') FROM shown m
             LEFT JOIN shown v ON v.relkind = 'v' AND v.relation || '_mv' = m.relation AND v.col = m.col
            WHERE m.relkind = 'm' AND (v.type, v.precision, v.scale) IS DISTINCT FROM (m.type, m.precision, m.scale)),
          NULL, 'each dashboard copy has the column types of its view');
SELECT lives_ok($$SELECT round(score, 1), round(churn_risk), round(mrr, -3) FROM health_score.account_health$$,
                'round(score, 1) works on the views');

-- ==== values: the functions' figures, rounded once ================================================
SELECT results_eq(
  $$SELECT account_id, mrr, score, coverage, product_score, relationship_score, business_score, churn_risk
      FROM health_score.account_health ORDER BY account_id$$,
  $$SELECT s.account_id, round(a.mrr, 2), round(s.score::numeric, 2), round(s.coverage::numeric, 4),
           round(s.product_score::numeric, 2), round(s.relationship_score::numeric, 2),
           round(s.business_score::numeric, 2), round(r.churn_risk::numeric, 2)
      FROM health_score.account_scores('2025-12-31') s JOIN health_score.accounts a USING (account_id)
      LEFT JOIN health_score.account_churn_risk('2025-12-31') r USING (account_id) ORDER BY s.account_id$$,
  'account_health: account_scores and account_churn_risk rounded');
SELECT ok((SELECT count(churn_risk) > 50 AND count(DISTINCT score) > 50 FROM health_score.account_health),
          'and the book has scores and churn risks to compare');
SELECT results_eq(
  $$SELECT account_id, dimension, score, effective_weight, contribution FROM health_score.dimension_breakdown
     ORDER BY account_id, dimension$$,
  $$SELECT account_id, dimension, round((sum(contribution) / sum(effective_weight))::numeric, 2),
           round(sum(effective_weight)::numeric, 4), round(sum(contribution)::numeric, 2)
      FROM health_score.metric_scores('2025-12-31') GROUP BY 1, 2 ORDER BY 1, 2$$,
  'dimension_breakdown: metric_scores summed, then rounded');
SELECT results_eq(
  $$SELECT band, accounts, share_of_accounts, mrr, share_of_mrr, average_score FROM health_score.band_summary ORDER BY band$$,
  $$SELECT coalesce(s.band, 'unscored'), count(*), round(count(*) / sum(count(*)) OVER (), 4), round(sum(a.mrr), 2),
           round(sum(a.mrr) / sum(sum(a.mrr)) OVER (), 4), round(avg(s.score)::numeric, 2)
      FROM health_score.account_scores('2025-12-31') s JOIN health_score.accounts a USING (account_id)
     GROUP BY s.band ORDER BY 1$$,
  'band_summary: counts, shares and means from account_scores, rounded');
SELECT results_eq(
  $$SELECT account_id, score, churn_risk, revenue_at_risk FROM health_score.action_queue ORDER BY account_id$$,
  $$SELECT q.account_id, round(s.score::numeric, 2), round(r.churn_risk::numeric, 2),
           round((a.mrr::float8 * r.churn_risk / 100)::numeric, 2)
      FROM health_score.action_queue q JOIN health_score.accounts a USING (account_id)
      JOIN health_score.account_scores('2025-12-31') s USING (account_id)
      LEFT JOIN health_score.account_churn_risk('2025-12-31') r USING (account_id) ORDER BY q.account_id$$,
  'action_queue: the score, the churn risk and MRR x churn risk, rounded');
SELECT results_eq(
  $$SELECT account_id, mrr, score FROM health_score.upsell_candidates ORDER BY account_id$$,
  $$SELECT u.account_id, round(a.mrr, 2), round(s.score::numeric, 2)
      FROM health_score.upsell_candidates u JOIN health_score.accounts a USING (account_id)
      JOIN health_score.account_scores('2025-12-31') s USING (account_id) ORDER BY u.account_id$$,
  'upsell_candidates: the score, rounded');
SELECT results_eq(
  $$SELECT grouping_by, group_value, accounts, mrr, revenue_at_risk, risk_share, revenue_at_risk_low, revenue_at_risk_high
      FROM health_score.revenue_at_risk ORDER BY 1, 2$$,
  $$SELECT grouping_by, group_value, accounts, round(mrr, 2), round(revenue_at_risk::numeric, 2), round(risk_share::numeric, 4),
           round(revenue_at_risk_low::numeric, 2), round(revenue_at_risk_high::numeric, 2)
      FROM health_score.revenue_at_risk('2025-12-31') ORDER BY 1, 2$$,
  'revenue_at_risk: the function''s sums, rounded once');
SELECT results_eq(
  $$SELECT account_id, score, churn_risk, revenue_at_risk, churn_risk_low, churn_risk_high, revenue_at_risk_low, revenue_at_risk_high
      FROM health_score.account_churn ORDER BY account_id$$,
  $$SELECT r.account_id, round(s.score::numeric, 2), round(r.churn_risk::numeric, 2),
           round((a.mrr::float8 * r.churn_risk / 100)::numeric, 2),
           round(r.churn_risk_low::numeric, 2), round(r.churn_risk_high::numeric, 2),
           round((a.mrr::float8 * r.churn_risk_low / 100)::numeric, 2), round((a.mrr::float8 * r.churn_risk_high / 100)::numeric, 2)
      FROM health_score.account_churn_risk('2025-12-31') r JOIN health_score.accounts a USING (account_id)
      LEFT JOIN health_score.account_scores('2025-12-31') s USING (account_id) ORDER BY r.account_id$$,
  'account_churn: account_churn_risk and MRR x risk with its interval, rounded');
SELECT ok((SELECT count(churn_risk_low) > 50 FROM health_score.account_churn), 'and the risks have their intervals');
SELECT results_eq(
  $$SELECT account_id, score, change_7d, change_30d, change_90d, slope_30d, churn_risk, churn_risk_change_30d
      FROM health_score.score_trends ORDER BY account_id$$,
  $$SELECT account_id, round(score::numeric, 2), round(change_7d::numeric, 2), round(change_30d::numeric, 2),
           round(change_90d::numeric, 2), round(slope_30d::numeric, 4), round(churn_risk::numeric, 2),
           round(churn_risk_change_30d::numeric, 2)
      FROM health_score.trends() ORDER BY account_id$$,
  'score_trends: trends() rounded, each change from the full-precision scores');
SELECT results_eq(
  $$SELECT account_id, as_of, score_before, score_after FROM health_score.band_changes ORDER BY 1, 2$$,
  $$SELECT h.account_id, h.as_of, round(p.score::numeric, 2), round(h.score::numeric, 2)
      FROM health_score.score_history h
      JOIN LATERAL (SELECT p.score, p.band FROM health_score.score_history p
                     WHERE p.account_id = h.account_id AND p.as_of < h.as_of ORDER BY p.as_of DESC LIMIT 1) p ON true
     WHERE h.band <> p.band ORDER BY 1, 2$$,
  'band_changes: the scores before and after from score_history, rounded');
SELECT results_eq(
  $$SELECT priority_rank, score, score_drop, churn_risk, churn_risk_rise, priority FROM health_score.alerts ORDER BY 1$$,
  $$SELECT priority_rank, round(score::numeric, 2), round(score_drop::numeric, 2), round(churn_risk::numeric, 2),
           round(churn_risk_rise::numeric, 2), round(priority::numeric, 2)
      FROM health_score.alerts_at() ORDER BY 1$$,
  'alerts: alerts_at() rounded');
SELECT ok((SELECT count(*) > 5 FROM health_score.alerts) AND (SELECT count(*) > 5 FROM health_score.band_changes),
          'and the history has alerts and band changes to compare');

-- ==== plain types =================================================================================
SELECT is((SELECT string_agg(relation || '.' || col, ', ' ORDER BY relation, col) FROM shown
            WHERE (type LIKE '%[]' OR type IN ('jsonb', 'json', 'interval', 'record'))),
          'account_churn.imputed_metrics, account_churn.missing_metrics, action_queue.respond_within, action_queue_mv.respond_within, alerts.rules, alerts_mv.rules',
          'the views show only these arrays and intervals, and no jsonb');
SELECT is((SELECT string_agg(relation || '.' || col, ', ' ORDER BY relation, col) FROM shown s
            WHERE (type LIKE '%[]' OR type = 'interval')
              AND NOT EXISTS (SELECT FROM shown t WHERE t.relation = s.relation
                                 AND t.col = s.col || CASE WHEN s.type = 'interval' THEN '_hours' ELSE '_text' END
                                 AND t.type IN ('text', 'numeric'))),
          NULL, 'each has a plain twin: NAME_text for an array, NAME_hours for an interval');
SELECT is((SELECT count(*) FROM health_score.alerts WHERE rules_text IS DISTINCT FROM array_to_string(rules, ', ')
                                                     OR rules_text NOT LIKE '%' || rules[1] || '%'), 0::bigint,
          'alerts.rules_text lists the rules, comma-separated');
SELECT is((SELECT string_agg(DISTINCT alert_tier || ' ' || respond_within_hours, ', ' ORDER BY alert_tier || ' ' || respond_within_hours)
             FROM health_score.action_queue),
          'at_risk 48.00, critical 0.00', 'action_queue.respond_within_hours: 48 hours at risk, 0 critical (the seeded tiers)');
SELECT ok((SELECT count(*) > 0 AND bool_and(missing_metrics_text IS NOT DISTINCT FROM array_to_string(missing_metrics, ', '))
                  AND bool_and(imputed_metrics_text IS NOT DISTINCT FROM array_to_string(imputed_metrics, ', '))
             FROM health_score.account_churn),
          'account_churn.missing_metrics_text and imputed_metrics_text are missing_metrics and imputed_metrics as text');
SELECT results_eq(
  $$SELECT as_of, account_id, score, coverage, product_score, churn_risk, churn_risk_high FROM health_score.account_history ORDER BY 1, 2$$,
  $$SELECT as_of, account_id, round(score::numeric, 2), round(coverage::numeric, 4), round(product_score::numeric, 2),
           round(churn_risk::numeric, 2), round(churn_risk_high::numeric, 2)
      FROM health_score.score_history ORDER BY 1, 2$$,
  'account_history: score_history with numeric figures');
SELECT results_eq(
  $$SELECT as_of, account_id, dimension, score FROM health_score.dimension_history
     WHERE dimension IN ('product', 'relationship', 'business') ORDER BY 1, 2, 3$$,
  $$SELECT as_of, account_id, d, round(s::numeric, 2)
      FROM health_score.score_history,
           LATERAL (VALUES ('business', business_score), ('product', product_score), ('relationship', relationship_score)) v(d, s)
     WHERE dimension_scores ? d ORDER BY 1, 2, 3$$,
  'dimension_history: one row per dimension, the scores of score_history''s columns');

SELECT * FROM finish();
ROLLBACK;

\c :home
SET client_min_messages = warning;
DROP DATABASE hs_views_numeric;
