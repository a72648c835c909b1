#!/usr/bin/env bash
# bench/predictive.sh: how well the health score ranks churners, against a logistic regression
# on the same metrics and points. Two books in a throwaway cluster:
#   CDNOW (examples/cdnow/): the 30-day backtest points (every customer at 1997-09-01) scored
#     with the seeded CDNOW curves, with curves fitted to the book (propose_curves), and a
#     logistic regression on the log of the same three raw metric values, in-sample and 5-fold
#     cross-validated. Then what more can be had on those points: seven more metrics of the same
#     purchases, curves fitted and weights learned on the points themselves (in-sample, so at
#     best optimistic); the same book at the cut-off itself (the purchases through 1997-09-30,
#     where the AUC usually quoted for CDNOW is measured); and bench/cdnow_ceiling.py, the
#     cross-validated AUC of a regression on many purchase features and of gradient-boosted
#     trees (Python with numpy), the data's ceiling on each point set.
#   The demo (examples/demo/, BENCH_DEMO_ACCOUNTS accounts, 2025 backfilled weekly): an account
#     model trained at 2025-03-31 (90-day horizon, labels known by 2025-06-29), its weights
#     applied and curves fitted at 2025-06-30; measured only on the later snapshots
#     (2025-07-01 on), stored defaults against the proposal rescored (backtest_compare).
# Every proposal is tried in a transaction and rolled back.
#   bench/predictive.sh
#   BENCH_DEMO_ACCOUNTS=500 bench/predictive.sh   # a quicker look
source "$(dirname "$0")/common.sh"

DEMO_ACCOUNTS=${BENCH_DEMO_ACCOUNTS:-2000}

ensure_packages $BASE_PACKAGES
setup_cluster
export PGOPTIONS="-c jit=off -c client_min_messages=warning"

echo "== CDNOW: 23,570 customers, the 30-day backtest points (1997-09-01)"
createdb cdnow
export PGDATABASE=cdnow
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
(cd "$TOP" && psql -X -q -v ON_ERROR_STOP=1 -f examples/cdnow/load.sql)
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c "SELECT * FROM health_score.backfill('1997-07-03', '1997-09-01', '30 days')"
psql -X -v ON_ERROR_STOP=1 <<'SQL'
-- The points and the raw values of the three metrics at the points' date.
CREATE TEMP TABLE points AS
SELECT p.account_id, p.churned,
       ln(1 + max(m.raw_value) FILTER (WHERE m.metric = 'cdnow_recency')) AS log_recency,
       ln(1 + 1000 * max(m.raw_value) FILTER (WHERE m.metric = 'cdnow_frequency')) AS log_frequency,
       ln(1 + max(m.raw_value) FILTER (WHERE m.metric = 'cdnow_monetary')) AS log_monetary
  FROM health_score.backtest_points('{30}') p
  JOIN health_score.metric_history m ON m.account_id = p.account_id AND m.as_of = p.as_of
 GROUP BY p.account_id, p.churned;
CREATE TEMP TABLE result (model text, points bigint, auc float8);
INSERT INTO result SELECT 'health score, seeded curves (backtest)', churned + stayed, auc
  FROM health_score.backtest('{30}');
-- A proposal's figures leave its transaction in psql variables (the rollback undoes the rest).
BEGIN;
SELECT count(*) AS curves_fitted FROM health_score.apply_curves('1997-09-01') WHERE applied \gset
SELECT churned + stayed AS fit_now_points, auc AS fit_now_auc
  FROM health_score.backtest_compare('{30}') WHERE source = 'what-if' \gset
ROLLBACK;
BEGIN;
SELECT count(*) AS curves_fitted FROM health_score.apply_curves('1997-07-03') WHERE applied \gset
SELECT churned + stayed AS fit_before_points, auc AS fit_before_auc
  FROM health_score.backtest_compare('{30}') WHERE source = 'what-if' \gset
ROLLBACK;
INSERT INTO result VALUES
    ('health score, curves fitted at 1997-09-01 (what-if)', :fit_now_points, :fit_now_auc),
    ('health score, curves fitted at 1997-07-03 (what-if)', :fit_before_points, :fit_before_auc);
INSERT INTO result
SELECT 'logistic regression on log R, F, M (in-sample)', m.rows_used, m.auc
  FROM health_score.train_churn_model('cdnow_rfm', 'pg_temp.points',
                                      ARRAY['log_recency', 'log_frequency', 'log_monetary'], 'churned') m;
INSERT INTO result
SELECT 'logistic regression on log R, F, M (5-fold CV)', (SELECT count(*) FROM points), v.auc_mean
  FROM health_score.churn_cross_validate('pg_temp.points', ARRAY['log_recency', 'log_frequency', 'log_monetary'],
                                         'churned') v;
SELECT model, points, round(auc::numeric, 4) AS auc FROM result;

-- What more metrics from the same purchases, curves fitted and weights learned give: every fit
-- made on the 30-day points themselves (in-sample, so at best optimistic), each rolled back.
CREATE TEMP TABLE more (model text, points bigint, auc float8);
BEGIN;
SELECT count(*) AS curves_fitted FROM health_score.apply_curves('1997-09-01') WHERE applied \gset
SELECT rows_used AS three_rows, auc AS three_train_auc
  FROM health_score.train_account_churn_model('cdnow_three', '1997-09-01', '30 days') \gset
SELECT count(*) AS weights_applied FROM health_score.apply_suggested_weights('cdnow_three', 'disable') \gset
SELECT churned + stayed AS three_points, auc AS three_auc
  FROM health_score.backtest_compare('{30}') WHERE source = 'what-if' \gset
ROLLBACK;
BEGIN;
-- Seven more metrics of the same two inputs; their curves come from apply_curves below.
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, max_age,
                                  breakpoints, scores, direction, description)
VALUES
 ('cdnow_frequency_30', 'product', 1, 'cdnow_purchase', 'decayed_rate', '30 days', NULL, '{0,1}', '{0,100}', 'higher', 'purchases per day, 30-day half-life'),
 ('cdnow_frequency_365', 'product', 1, 'cdnow_purchase', 'decayed_rate', '365 days', NULL, '{0,1}', '{0,100}', 'higher', 'purchases per day, 365-day half-life'),
 ('cdnow_purchases_90d', 'product', 1, 'cdnow_purchase', 'decayed_sum', '100000 days', '90 days', '{0,1}', '{0,100}', 'higher', 'purchases in the last 90 days'),
 ('cdnow_monetary_30', 'business', 1, 'cdnow_spend', 'decayed_sum', '30 days', NULL, '{0,1}', '{0,100}', 'higher', 'dollars, 30-day half-life'),
 ('cdnow_monetary_365', 'business', 1, 'cdnow_spend', 'decayed_sum', '365 days', NULL, '{0,1}', '{0,100}', 'higher', 'dollars, 365-day half-life'),
 ('cdnow_order_value', 'business', 1, 'cdnow_spend', 'decayed_avg', '90 days', NULL, '{0,1}', '{0,100}', 'higher', 'dollars per purchase, 90-day half-life'),
 ('cdnow_last_order', 'business', 1, 'cdnow_spend', 'latest', '90 days', NULL, '{0,1}', '{0,100}', 'higher', 'dollars of the last purchase');
SELECT count(*) AS curves_fitted FROM health_score.apply_curves('1997-09-01') WHERE applied \gset
SELECT churned + stayed AS ten_fitted_points, auc AS ten_fitted_auc
  FROM health_score.backtest_compare('{30}') WHERE source = 'what-if' \gset
SELECT rows_used AS ten_rows, auc AS ten_train_auc
  FROM health_score.train_account_churn_model('cdnow_ten', '1997-09-01', '30 days') \gset
SELECT count(*) AS weights_applied FROM health_score.apply_suggested_weights('cdnow_ten', 'disable') \gset
SELECT churned + stayed AS ten_points, auc AS ten_auc
  FROM health_score.backtest_compare('{30}') WHERE source = 'what-if' \gset
ROLLBACK;
INSERT INTO more VALUES
    ('3 metrics, curves fitted, weights learned (in-sample)', :three_points, :three_auc),
    ('logistic regression on the 3 fitted sub-scores (in-sample)', :three_rows, :three_train_auc),
    ('10 metrics, curves fitted, equal weights', :ten_fitted_points, :ten_fitted_auc),
    ('10 metrics, curves fitted, weights learned (in-sample)', :ten_points, :ten_auc),
    ('logistic regression on the 10 fitted sub-scores (in-sample)', :ten_rows, :ten_train_auc);
SELECT model, points, round(auc::numeric, 4) AS auc FROM more;

-- The cut-off itself (the purchases through 1997-09-30, the last moment before the churn date):
-- the points of the figure usually quoted for CDNOW, 30 days later than the backtest's.
CREATE TEMP TABLE cutoff AS
SELECT m.account_id, a.churned_on IS NOT NULL AS churned,
       ln(1 + max(m.raw_value) FILTER (WHERE m.metric = 'cdnow_recency')) AS log_recency,
       ln(1 + 1000 * max(m.raw_value) FILTER (WHERE m.metric = 'cdnow_frequency')) AS log_frequency,
       ln(1 + max(m.raw_value) FILTER (WHERE m.metric = 'cdnow_monetary')) AS log_monetary
  FROM health_score.metric_scores('1997-09-30 23:59:59') m
  JOIN health_score.accounts a ON a.account_id = m.account_id
 GROUP BY m.account_id, a.churned_on;
CREATE TEMP TABLE at_cutoff (model text, points bigint, auc float8);
INSERT INTO at_cutoff
SELECT 'health score, seeded curves', count(*), health_score.auc(100 - s.score, a.churned_on IS NOT NULL)
  FROM health_score.account_scores('1997-09-30 23:59:59') s JOIN health_score.accounts a USING (account_id);
BEGIN;
SELECT count(*) AS curves_fitted FROM health_score.apply_curves('1997-09-30 23:59:59') WHERE applied \gset
SELECT count(*) AS cut_points, health_score.auc(100 - s.score, a.churned_on IS NOT NULL) AS cut_fitted_auc
  FROM health_score.account_scores('1997-09-30 23:59:59') s JOIN health_score.accounts a USING (account_id) \gset
ROLLBACK;
INSERT INTO at_cutoff VALUES ('health score, curves fitted at the cut-off', :cut_points, :cut_fitted_auc);
INSERT INTO at_cutoff
SELECT 'logistic regression on log R, F, M (5-fold CV)', (SELECT count(*) FROM cutoff), v.auc_mean
  FROM health_score.churn_cross_validate('pg_temp.cutoff', ARRAY['log_recency', 'log_frequency', 'log_monetary'],
                                         'churned') v;
SELECT model, points, round(auc::numeric, 4) AS auc FROM at_cutoff;
SQL

echo
echo "== CDNOW: the same customers and label, read from the file, other models (5-fold CV)"
ensure_packages python3-numpy
/usr/bin/python3 "$TOP/bench/cdnow_ceiling.py" "$TOP/test/data/cdnow_transactions.txt" 1997-09-01 1997-10-01

echo
echo "== the demo: $DEMO_ACCOUNTS accounts, 2025 backfilled weekly; fitted up to 2025-06-30, measured after"
createdb demo
export PGDATABASE=demo
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
psql -X -q -v ON_ERROR_STOP=1 -v accounts="$DEMO_ACCOUNTS" -v end_date=2025-12-31 -f "$TOP/examples/demo/generate.sql"
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c "SELECT * FROM health_score.backfill('2025-01-05', '2025-12-28', '7 days')"
psql -X -v ON_ERROR_STOP=1 <<'SQL'
SELECT name, version, rows_used, positives, round(auc::numeric, 4) AS training_auc
  FROM health_score.train_account_churn_model('demo_weights', '2025-03-31', '90 days',
           ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'workflow_completion',
                 'feature_adoption', 'support_sentiment', 'payment_behaviour', 'contract_term']);
-- Each proposal is shown in its own transaction, on the points of the stored snapshots from 2025-07-01.
BEGIN;
SELECT count(*) AS weights_applied FROM health_score.apply_suggested_weights('demo_weights') \gset
SELECT CASE source WHEN 'stored' THEN 'seeded' ELSE 'suggested weights' END AS configuration,
       horizon_days, churned, stayed, round(auc::numeric, 4) AS auc
  FROM health_score.backtest_compare('{30,60,90}', '2025-07-01') ORDER BY horizon_days, source;
SELECT count(*) AS curves_fitted FROM health_score.apply_curves('2025-06-30') WHERE applied \gset
SELECT 'suggested weights + curves fitted' AS configuration, horizon_days, churned, stayed, round(auc::numeric, 4) AS auc
  FROM health_score.backtest_compare('{30,60,90}', '2025-07-01') WHERE source = 'what-if' ORDER BY horizon_days;
ROLLBACK;
BEGIN;
SELECT count(*) AS curves_fitted FROM health_score.apply_curves('2025-06-30') WHERE applied \gset
SELECT 'curves fitted' AS configuration, horizon_days, churned, stayed, round(auc::numeric, 4) AS auc
  FROM health_score.backtest_compare('{30,60,90}', '2025-07-01') WHERE source = 'what-if' ORDER BY horizon_days;
ROLLBACK;
SQL
