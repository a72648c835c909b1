-- The demo dashboard: what a customer-success team reads every morning, as of :as_of.
--
--   psql -X -v as_of=2025-12-31 -v top=10 -f sql/demo/dashboard.sql
--
-- as_of  the moment scored (default 2025-12-31, its midnight UTC)
-- top    rows shown in the action queue and the upsell list (default 10)

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
-- The scoring queries are planned with large row estimates; compiling them with JIT costs
-- more than it saves on a dataset of this size.
SET jit = off;

-- Score once; every panel below reads these two tables.
CREATE TEMP TABLE dash_scores AS
SELECT s.*, a.name, a.segment, a.plan, a.owner, a.mrr
  FROM health_score.account_scores(:'as_of') s
  JOIN health_score.accounts a USING (account_id);

CREATE TEMP TABLE dash_metrics AS
SELECT * FROM health_score.metric_scores(:'as_of');

-- The three metrics that cost each account the most points (effective weight x points below 100).
CREATE TEMP TABLE dash_weakest AS
SELECT account_id,
       string_agg(format('%s %s', metric, round(sub_score)), ', ' ORDER BY lost DESC, metric) AS weakest_metrics
  FROM (SELECT m.*, effective_weight * (100 - sub_score) AS lost,
               row_number() OVER (PARTITION BY account_id ORDER BY effective_weight * (100 - sub_score) DESC, metric) AS rn
          FROM dash_metrics m) w
 WHERE rn <= 3
 GROUP BY account_id;

\echo
SELECT format('health_score demo: scored as of %s UTC', to_char(:'as_of'::timestamptz, 'YYYY-MM-DD HH24:MI')) AS title
\gset
\echo :title
\echo

\pset title 'The book of business'
SELECT (SELECT count(*) FROM health_score.accounts) AS accounts,
       (SELECT count(*) FROM dash_scores) AS live,
       (SELECT count(*) FROM health_score.accounts
         WHERE churned_on <= :'as_of'::timestamptz::date AND churned_on > :'as_of'::timestamptz::date - 365) AS "churned in the year",
       (SELECT count(*) FROM health_score.observations) AS observations,
       (SELECT to_char(sum(mrr), 'FM999,999,999') FROM dash_scores) AS "live MRR";

\pset title 'Accounts and MRR per band'
SELECT coalesce(b.band, 'unscored') AS band,
       CASE WHEN b.band IS NULL THEN 'coverage too low'
            ELSE format('%s-%s', b.min_score, CASE WHEN b.max_score = 100 THEN '100' ELSE '<' || b.max_score END) END AS scores,
       count(s.account_id) AS accounts,
       to_char(100.0 * count(s.account_id) / sum(count(s.account_id)) OVER (), 'FM990.0') || ' %' AS "share",
       to_char(coalesce(sum(s.mrr), 0), 'FM999,999,990') AS mrr,
       to_char(100.0 * coalesce(sum(s.mrr), 0) / sum(sum(s.mrr)) OVER (), 'FM990.0') || ' %' AS "MRR share",
       round(avg(s.score)::numeric, 1) AS "mean score",
       b.focus
  FROM health_score.bands b
  FULL JOIN dash_scores s ON s.band = b.band
 GROUP BY b.band, b.min_score, b.max_score, b.focus
 ORDER BY b.min_score DESC NULLS LAST;

\pset title 'The ten riskiest accounts and what pulls them down'
SELECT s.account_id AS account, s.name, s.segment, s.owner, to_char(s.mrr, 'FM999,990') AS mrr,
       round(s.score::numeric, 1) AS score, s.band, round(s.coverage::numeric, 2) AS coverage,
       w.weakest_metrics AS "weakest metrics (sub-score)"
  FROM dash_scores s
  LEFT JOIN dash_weakest w USING (account_id)
 WHERE s.score IS NOT NULL
 ORDER BY s.score, s.account_id
 LIMIT 10;

SELECT format('Action queue: %s accounts need action; the first %s, soonest due, largest MRR first',
              count(*), least(count(*), :top)) AS title
  FROM dash_scores s JOIN health_score.bands b USING (band) WHERE b.needs_action
\gset
\pset title :title
SELECT s.account_id AS account, s.name, s.owner, to_char(s.mrr, 'FM999,990') AS mrr,
       round(s.score::numeric, 1) AS score, s.alert_tier AS tier,
       CASE WHEN t.respond_within = interval '0' THEN 'now'
            ELSE to_char(:'as_of'::timestamptz + t.respond_within, 'YYYY-MM-DD HH24:MI') END AS "due by",
       t.responder, b.cadence
  FROM dash_scores s
  JOIN health_score.bands b USING (band)
  LEFT JOIN health_score.alert_tiers t ON t.tier = s.alert_tier
 WHERE b.needs_action
 ORDER BY :'as_of'::timestamptz + t.respond_within NULLS LAST, s.mrr DESC NULLS LAST, s.score, s.account_id
 LIMIT :top;

CREATE TEMP TABLE dash_upsell AS
SELECT s.account_id, s.name, s.segment, s.plan, s.owner, s.mrr, s.score,
       count(*) AS signals,
       string_agg(format('%s %s', m.metric, round(m.raw_value::numeric, 1)), ', ' ORDER BY m.metric) AS expansion_signals
  FROM dash_scores s
  JOIN health_score.bands b USING (band)
  JOIN dash_metrics m USING (account_id)
  JOIN health_score.metrics c ON c.name = m.metric
 WHERE b.max_score = 100 AND m.raw_value >= c.expansion_at
 GROUP BY s.account_id, s.name, s.segment, s.plan, s.owner, s.mrr, s.score;

SELECT format('Upsell candidates: %s green accounts with expansion signals; the first %s, most signals, largest MRR first',
              count(*), least(count(*), :top)) AS title
  FROM dash_upsell
\gset
\pset title :title
SELECT u.account_id AS account, u.name, u.segment, u.plan, u.owner, to_char(u.mrr, 'FM999,990') AS mrr,
       round(u.score::numeric, 1) AS score, u.expansion_signals AS "expansion signals (raw value)"
  FROM dash_upsell u
 ORDER BY u.signals DESC, u.mrr DESC NULLS LAST, u.account_id
 LIMIT :top;
