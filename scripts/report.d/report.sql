-- The report's data, read from the views (and, for what only they hold, the history and the
-- catalog of churn models), written as JSON files into :dir for the charts and the page:
--   scripts/report runs it as  psql -v dir=FOLDER -f scripts/report.d/report.sql
-- with health_score.as_of set to the report's date. Every figure the page shows comes from here.

\set ON_ERROR_STOP on
\pset tuples_only on
\pset format unaligned
SET client_min_messages = warning;

-- The headline figures, from the views as of the report's date.
\o :dir/figures.json
SELECT json_build_object(
    'as_of', to_char(health_score.current_as_of(), 'YYYY-MM-DD'),
    'accounts', (SELECT sum(accounts) FROM health_score.band_summary),
    'mrr', (SELECT sum(mrr) FROM health_score.band_summary),
    'revenue_at_risk', (SELECT revenue_at_risk FROM health_score.revenue_at_risk WHERE grouping_by = 'all'),
    'revenue_at_risk_low', (SELECT revenue_at_risk_low FROM health_score.revenue_at_risk WHERE grouping_by = 'all'),
    'revenue_at_risk_high', (SELECT revenue_at_risk_high FROM health_score.revenue_at_risk WHERE grouping_by = 'all'),
    'bands', (SELECT json_agg(json_build_object('band', band, 'accounts', accounts, 'mrr', mrr,
                                                'share_of_mrr', share_of_mrr, 'average_score', average_score)
                              ORDER BY min_score DESC NULLS LAST)
                FROM health_score.band_summary),
    'model', (SELECT json_build_object('name', m.name, 'version', m.version, 'auc', round(m.auc::numeric, 3),
                                       'rows', m.rows_used, 'positives', m.positives,
                                       'trained_on', to_char(m.as_of, 'YYYY-MM-DD'), 'horizon', m.horizon::text)
                FROM health_score.account_churn_model() m),
    'snapshots', (SELECT count(DISTINCT as_of) FROM health_score.account_history),
    'first_snapshot', (SELECT to_char(min(as_of), 'YYYY-MM-DD') FROM health_score.account_history),
    'last_snapshot', (SELECT to_char(max(as_of), 'YYYY-MM-DD') FROM health_score.account_history));

-- Each snapshot's accounts with the MRR they paid that day: that of the period covering the
-- snapshot (account_periods, the rule revenue_at_risk follows), not today's. A snapshot
-- scores at midnight at the start of its date, so a period covers it when it started by that
-- date and ends after it; an account no period covers adds no MRR.
CREATE TEMP TABLE report_history AS
SELECT h.as_of, h.account_id, h.band, h.churn_risk, h.churn_risk_low, h.churn_risk_high, p.mrr
  FROM health_score.account_history h
  LEFT JOIN health_score.account_periods p
    ON p.account_id = h.account_id
   AND (p.started_on IS NULL OR p.started_on <= h.as_of) AND (p.ended_on IS NULL OR p.ended_on > h.as_of);

-- Band mix and MRR per band at each snapshot.
\o :dir/band_history.json
SELECT coalesce(json_agg(json_build_object('as_of', as_of, 'band', band, 'rank', health_score.band_rank(band),
                                           'accounts', accounts, 'mrr', mrr) ORDER BY as_of, band), '[]')
  FROM (SELECT to_char(h.as_of, 'YYYY-MM-DD') AS as_of, h.band, count(*) AS accounts, sum(h.mrr)::numeric(18,2) AS mrr
          FROM report_history h
         WHERE h.band IS NOT NULL GROUP BY h.as_of, h.band) b;

-- Revenue at risk at each snapshot: MRR x the churn risk the snapshot recorded, with its range.
\o :dir/risk_history.json
SELECT coalesce(json_agg(r ORDER BY r.as_of), '[]')
  FROM (SELECT to_char(h.as_of, 'YYYY-MM-DD') AS as_of,
               (sum(h.mrr * h.churn_risk / 100))::numeric(18,2) AS revenue_at_risk,
               (sum(h.mrr * h.churn_risk_low / 100))::numeric(18,2) AS low,
               (sum(h.mrr * h.churn_risk_high / 100))::numeric(18,2) AS high,
               count(h.churn_risk) AS accounts_with_risk
          FROM report_history h
         GROUP BY h.as_of HAVING count(h.churn_risk) > 0) r;

-- The ten accounts that fell most over 30 days at the latest snapshot, with their MRR then and
-- their last 90 days.
\o :dir/falling.json
SELECT coalesce(json_agg(f ORDER BY f.change_30d, f.account_id), '[]')
  FROM (SELECT t.account_id, a.name, a.owner::text AS owner, r.mrr::numeric(18,2) AS mrr, t.score, t.band,
               t.band_change, t.change_30d, t.churn_risk,
               (SELECT json_agg(json_build_object('as_of', to_char(h.as_of, 'YYYY-MM-DD'), 'score', h.score) ORDER BY h.as_of)
                  FROM health_score.account_history h
                 WHERE h.account_id = t.account_id AND h.as_of > t.as_of - 90 AND h.score IS NOT NULL) AS history
          FROM health_score.score_trends t JOIN health_score.accounts a USING (account_id)
          LEFT JOIN report_history r ON r.account_id = t.account_id AND r.as_of = t.as_of
         WHERE t.change_30d < 0
         ORDER BY t.change_30d, t.account_id LIMIT 10) f;

-- The backtest at the longest horizon the history covers: the ROC curve of the score (lower is
-- riskier, so the thresholds go up from the lowest score), its AUC and the churn rate per band.
CREATE TEMP TABLE report_points AS
SELECT * FROM health_score.backtest_points('{90,60,30}');
SELECT coalesce(max(horizon_days)::text, '') AS horizon, count(*) > 0 AS has_points FROM report_points
\gset report_
\o :dir/backtest.json
\if :report_has_points
SELECT json_build_object(
    'horizon', h, 'auc', round(b.auc::numeric, 3), 'churned', b.churned, 'stayed', b.stayed,
    'roc', (WITH totals AS (SELECT count(*) FILTER (WHERE churned) AS p, count(*) FILTER (WHERE NOT churned) AS n
                              FROM report_points WHERE horizon_days = h),
                 steps AS (SELECT score, count(*) FILTER (WHERE churned) AS tp, count(*) FILTER (WHERE NOT churned) AS fp
                             FROM report_points WHERE horizon_days = h GROUP BY score),
                 curve AS (SELECT 0::numeric AS tp, 0::numeric AS fp, -1::float8 AS score
                           UNION ALL
                           SELECT sum(tp) OVER w, sum(fp) OVER w, score FROM steps WINDOW w AS (ORDER BY score))
            SELECT json_agg(json_build_object('fpr', round(c.fp / t.n, 4), 'tpr', round(c.tp / t.p, 4)) ORDER BY c.score)
              FROM curve c, totals t WHERE t.p > 0 AND t.n > 0),
    'bands', (SELECT json_agg(json_build_object('band', band, 'points', points, 'churned', churned,
                                                'churn_rate', round((100 * churn_rate)::numeric, 2))
                              ORDER BY health_score.band_rank(band) DESC)
                FROM health_score.backtest_bands(ARRAY[h])))
  FROM (SELECT :'report_horizon'::integer AS h) x, health_score.backtest(ARRAY[x.h]) b;
\else
SELECT '{}';
\endif

-- The churn model the dashboards use: its calibration by decile and its strongest drivers.
\o :dir/model.json
SELECT json_build_object(
    'calibration', (SELECT json_agg(json_build_object('decile', c.decile, 'rows', c.rows,
                                                      'predicted', round((100 * c.mean_predicted)::numeric, 2),
                                                      'observed', round((100 * c.observed_rate)::numeric, 2)) ORDER BY c.decile)
                      FROM health_score.churn_model_calibration c JOIN health_score.account_churn_model() m USING (name, version)),
    'drivers', (SELECT json_agg(d ORDER BY abs(d.standardized) DESC, d.term)
                  FROM (SELECT t.term, round(t.standardized_coefficient::numeric, 3) AS standardized,
                               round(t.odds_ratio::numeric, 3) AS odds_ratio, round(t.p_value::numeric, 4) AS p_value
                          FROM health_score.churn_model_terms t JOIN health_score.account_churn_model() m USING (name, version)
                         WHERE t.position > 0 AND t.standardized_coefficient IS NOT NULL
                         ORDER BY abs(t.standardized_coefficient) DESC, t.term LIMIT 8) d));
\o
