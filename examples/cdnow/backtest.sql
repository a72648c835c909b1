-- The backtest on CDNOW, after examples/cdnow/load.sql: every customer scored 30, 60 and 90 days
-- before the churn date (1997-10-01), then the AUC per horizon, false positives and
-- negatives, lift of the riskiest decile and the churn rate per band.
--
--   psql -d DB -f examples/cdnow/load.sql -f examples/cdnow/backtest.sql

\set ON_ERROR_STOP on
SET jit = off;
SELECT as_of, accounts, round(seconds::numeric, 2) AS seconds
  FROM health_score.backfill('1997-07-03', '1997-09-01', '30 days');
SELECT horizon_days, churned, stayed, round(auc::numeric, 4) AS auc,
       false_positives, round(false_positive_rate::numeric, 4) AS false_positive_rate,
       false_negatives, round(false_negative_rate::numeric, 4) AS false_negative_rate,
       round(top_decile_churn_rate::numeric, 4) AS top_decile_churn_rate,
       round(top_decile_lift::numeric, 2) AS top_decile_lift
  FROM health_score.backtest('{30,60,90}');
SELECT horizon_days, band, points, churned, round(churn_rate::numeric, 4) AS churn_rate
  FROM health_score.backtest_bands('{30,60,90}');
