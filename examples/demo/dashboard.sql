-- The demo dashboard: what a customer-success team reads every morning, as of :as_of.
--
--   psql -X -v as_of=2025-12-31 -v top=10 -f examples/demo/dashboard.sql
--
-- as_of  the moment scored (default 2025-12-31, its midnight UTC)
-- top    rows shown in each list: fast fallers, action queue, revenue at risk, upsell (default 10)

\set ON_ERROR_STOP on
\if :{?as_of}
\else
\set as_of 2025-12-31
\endif
\if :{?top}
\else
\set top 10
\endif

\pset footer off
\pset null '-'
\pset border 1
\timing off
SET timezone = 'UTC';
-- The views score as of this moment instead of now().
SELECT set_config('health_score.as_of', :'as_of'::timestamptz::text, false) IS NOT NULL AS as_of_set
\gset

-- Each view scores every account when read; read each once.
CREATE TEMP TABLE dash_bands AS SELECT * FROM health_score.band_summary;
CREATE TEMP TABLE dash_health AS SELECT * FROM health_score.account_health;
CREATE TEMP TABLE dash_queue AS SELECT * FROM health_score.action_queue;
CREATE TEMP TABLE dash_upsell AS SELECT * FROM health_score.upsell_candidates;
-- The same accounts 30 days earlier, for the fast fallers.
CREATE TEMP TABLE dash_before AS
SELECT account_id, score, band FROM health_score.account_scores(health_score.current_as_of() - interval '30 days');
-- Churn risk, when an account churn model has been trained (examples/demo/churn_model.sql).
SELECT EXISTS (SELECT 1 FROM health_score.churn_models WHERE kind = 'account' AND active) AS has_model
\gset
CREATE TEMP TABLE dash_risk AS SELECT * FROM health_score.revenue_at_risk WHERE :'has_model'::boolean;
CREATE TEMP TABLE dash_churn AS SELECT * FROM health_score.account_churn WHERE :'has_model'::boolean;

\echo
SELECT format('health_score demo: scored as of %s UTC', to_char(health_score.current_as_of(), 'YYYY-MM-DD HH24:MI')) AS title
\gset
\echo :title
\echo

\pset title 'The book of business'
SELECT (SELECT count(*) FROM health_score.accounts) AS accounts,
       (SELECT count(*) FROM dash_health) AS live,
       (SELECT count(*) FROM health_score.churn_events
         WHERE churned_on <= health_score.current_as_of() AND churned_on > health_score.current_as_of() - interval '365 days') AS "churned in the year",
       (SELECT count(*) FROM health_score.observations) AS observations,
       (SELECT to_char(sum(mrr), 'FM999,999,999') FROM dash_health) AS "live MRR";

\pset title 'Accounts, MRR and revenue at risk per band (band_summary, revenue_at_risk)'
SELECT b.band,
       CASE WHEN b.min_score IS NULL THEN 'coverage too low'
            ELSE format('%s-%s', b.min_score, CASE WHEN b.max_score = 100 THEN '100' ELSE '<' || b.max_score END) END AS scores,
       b.accounts, to_char(100 * b.share_of_accounts, 'FM990.0') || ' %' AS share,
       to_char(b.mrr, 'FM999,999,990') AS mrr, to_char(100 * b.share_of_mrr, 'FM990.0') || ' %' AS "MRR share",
       round(b.average_score::numeric, 1) AS "mean score",
       to_char(r.revenue_at_risk, 'FM999,999,990') AS "MRR at risk",
       to_char(100 * r.risk_share, 'FM990.0') || ' %' AS "mean churn risk",
       c.focus
  FROM dash_bands b
  LEFT JOIN health_score.bands c USING (band)
  LEFT JOIN dash_risk r ON r.grouping_by = 'band' AND r.group_value = b.band
 ORDER BY b.min_score DESC NULLS LAST;

\if :has_model
SELECT format('Churn risk comes from the account churn model %s v%s, trained on the %s accounts live on %s with'
              || ' the metrics it needs (%s of them churned within %s; AUC %s on that data).',
              name, version, to_char(rows_used, 'FM999,999'), to_char(as_of, 'YYYY-MM-DD'), positives, horizon,
              round(auc::numeric, 3)) AS model
  FROM health_score.churn_models WHERE kind = 'account' AND active ORDER BY trained_at DESC, name LIMIT 1
\gset
\echo :model
\echo
\endif

\pset title 'The ten riskiest accounts and what pulls them down (account_health)'
SELECT h.account_id AS account, h.name, h.segment, h.owner, to_char(h.mrr, 'FM999,990') AS mrr,
       round(h.score::numeric, 1) AS score, h.band, round(h.coverage::numeric, 2) AS coverage,
       h.weakest_metrics AS "weakest metrics (sub-score)"
  FROM dash_health h
 WHERE h.score IS NOT NULL
 ORDER BY h.score, h.account_id
 LIMIT 10;

SELECT format('Falling fast (account_health now, account_scores 30 days earlier): %s accounts lost 20 points or more in 30 days; the first %s',
              count(*), least(count(*), :top)) AS title
  FROM dash_health h JOIN dash_before b USING (account_id)
 WHERE b.score - h.score >= 20
\gset
\pset title :title
SELECT h.account_id AS account, h.name, h.owner, to_char(h.mrr, 'FM999,990') AS mrr,
       round(b.score::numeric, 1) AS "30 days ago", round(h.score::numeric, 1) AS now,
       round((h.score - b.score)::numeric, 1) AS change,
       CASE WHEN b.band IS DISTINCT FROM h.band THEN b.band || ' -> ' || h.band ELSE h.band END AS band,
       h.weakest_metrics AS "weakest metrics (sub-score)"
  FROM dash_health h JOIN dash_before b USING (account_id)
 WHERE b.score - h.score >= 20
 ORDER BY h.score - b.score, h.account_id
 LIMIT :top;

SELECT format('Action queue (action_queue): %s accounts need action (%s); the %s soonest due, largest MRR first',
              sum(n), string_agg(format('%s %s', n, alert_tier), ', ' ORDER BY due_by), least(sum(n), :top)) AS title
  FROM (SELECT alert_tier, min(due_by) AS due_by, count(*) AS n FROM dash_queue GROUP BY 1) t
\gset
\pset title :title
SELECT q.account_id AS account, q.name, q.owner, to_char(q.mrr, 'FM999,990') AS mrr,
       round(q.score::numeric, 1) AS score, q.alert_tier AS tier,
       CASE WHEN q.respond_within = interval '0' THEN 'now'
            ELSE to_char(q.due_by, 'YYYY-MM-DD HH24:MI') END AS "due by",
       q.responder, q.weakest_metrics AS "start with"
  FROM dash_queue q
 ORDER BY q.due_by NULLS LAST, q.mrr DESC NULLS LAST, q.score, q.account_id
 LIMIT :top;

\if :has_model
SELECT format('Largest revenue at risk (account_churn): MRR x churn risk, %s a month in all; the first %s',
              to_char(revenue_at_risk, 'FM999,999,990'), :top) AS title
  FROM dash_risk WHERE grouping_by = 'all'
\gset
\pset title :title
SELECT c.account_id AS account, c.name, c.owner, to_char(c.mrr, 'FM999,990') AS mrr,
       round(c.score::numeric, 1) AS score, c.band, to_char(c.churn_risk, 'FM990.0') || ' %' AS "churn risk",
       to_char(c.revenue_at_risk, 'FM999,990') AS "at risk", c.top_drivers AS "drivers (log-odds)"
  FROM dash_churn c
 WHERE c.revenue_at_risk IS NOT NULL
 ORDER BY c.revenue_at_risk DESC, c.account_id
 LIMIT :top;
\endif

SELECT format('Upsell candidates (upsell_candidates): %s green accounts with expansion signals; the first %s',
              count(*), least(count(*), :top)) AS title
  FROM dash_upsell
\gset
\pset title :title
SELECT u.account_id AS account, u.name, u.segment, u.plan, u.owner, to_char(u.mrr, 'FM999,990') AS mrr,
       round(u.score::numeric, 1) AS score, u.expansion_signals AS "expansion signals (raw value)"
  FROM dash_upsell u
 ORDER BY u.signals DESC, u.mrr DESC NULLS LAST, u.account_id   -- the view's own order
 LIMIT :top;
