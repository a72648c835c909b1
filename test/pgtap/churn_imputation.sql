-- Account models on accounts without data for a metric: the training mean and an indicator
-- term, metric:missing, instead of skipping the row; the rows skipped only when they all churned
-- or all stayed (an indicator would separate them); predictions apply the same rule.
--
-- The book is made so that the fit has a closed form. NPS takes two values, 2 (sub-score 40/3 on
-- the curve 0, 6, 8, 10 -> 0, 40, 75, 100) and 9 (sub-score 87.5), or is missing; with the
-- intercept, the NPS term and its indicator the model is saturated on these three groups, so
-- the fitted probability of each group is its churn rate, and the variance of a group's fitted
-- log-odds is 1 / (n p (1 - p)).
--   accounts   1-40:  NPS 2, 20 of them churn   (p = 0.5)
--   accounts  41-100: NPS 9, 12 of them churn   (p = 0.2)
--   accounts 101-120: no NPS, 8 of them churn   (p = 0.4)
BEGIN;
SELECT plan(39);
\ir ../lib/helpers.sql

CREATE FUNCTION pg_temp.logit(p float8) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$ SELECT ln(p / (1 - p)) $$;
CREATE FUNCTION pg_temp.expit(z float8) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$ SELECT 1 / (1 + exp(-z)) $$;

INSERT INTO health_score.accounts (account_id, segment, started_on, churned_on)
SELECT 'imp-' || lpad(i::text, 3, '0'), 'smb', '2024-01-01',
       CASE WHEN i <= 20 OR i BETWEEN 41 AND 52 OR i BETWEEN 101 AND 108 THEN date '2025-05-01' END
  FROM generate_series(1, 120) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT 'imp-' || lpad(i::text, 3, '0'), 'nps', timestamptz '2025-03-01', CASE WHEN i <= 40 THEN 2 ELSE 9 END
  FROM generate_series(1, 100) i
UNION ALL   -- feature adoption: none for accounts 113-117, which all stay
SELECT 'imp-' || lpad(i::text, 3, '0'), 'feature_adoption', '2025-03-01', i % 13
  FROM generate_series(1, 120) i WHERE i NOT BETWEEN 113 AND 117
UNION ALL   -- champion advocacy (absent_means zero): acts by the odd accounts only
SELECT 'imp-' || lpad(i::text, 3, '0'), 'champion_advocacy', '2025-03-01', 1
  FROM generate_series(1, 120) i WHERE i % 2 = 1
UNION ALL   -- CSAT: from the accounts with NPS, and only them
SELECT 'imp-' || lpad(i::text, 3, '0'), 'csat', '2025-03-01', 1 + i % 5
  FROM generate_series(1, 100) i
UNION ALL   -- ROI: none for account 108 (churns) and 113-117 (stay, and lack feature adoption)
SELECT 'imp-' || lpad(i::text, 3, '0'), 'roi', '2025-03-01', (i % 7) / 2.0
  FROM generate_series(1, 120) i WHERE i <> 108 AND i NOT BETWEEN 113 AND 117;
UPDATE health_score.settings SET data_through = '2025-08-31';

CREATE TEMP TABLE closed AS
SELECT 40 / 3.0::float8 AS s_lo, 87.5::float8 AS s_hi,
       (40 * (40 / 3.0::float8) + 60 * 87.5) / 100 AS mean_nps;

CREATE TEMP TABLE sat AS SELECT * FROM health_score.train_account_churn_model('saturated', '2025-03-31', '90 days', ARRAY['nps']);

-- ==== what training did =================================================================
SELECT is((SELECT (features, rows_used, rows_skipped, rows_imputed) FROM sat),
          (ARRAY['nps', 'nps:missing'], 120::bigint, 0::bigint, 20::bigint),
          'no row is lost: the 20 accounts without NPS take part, marked by the term nps:missing');
SELECT is((SELECT imputation - 'nps' FROM sat), '{}'::jsonb, 'only nps is recorded as imputed');
SELECT is((SELECT (imputation -> 'nps' -> 'missing', imputation -> 'nps' -> 'missing_churned', imputation -> 'nps' -> 'indicator') FROM sat),
          ('20'::jsonb, '8'::jsonb, '"nps:missing"'::jsonb), 'the rows without NPS, how many churned, the indicator');
SELECT ok(pg_temp.near((SELECT (imputation -> 'nps' ->> 'value')::float8 FROM sat), (SELECT mean_nps FROM closed), 1e-15),
          'the value given is the mean NPS sub-score of the accounts with one');
SELECT is((SELECT feature_columns FROM sat), ARRAY['nps', 'nps'], 'both terms are made from the metric nps');

-- The saturated fit in closed form: b_nps from the two answered groups, the intercept from the
-- low group, the indicator from the group without NPS (at the imputed value).
SELECT ok(pg_temp.near((SELECT coefficients[2] FROM sat),
                       (pg_temp.logit(0.2) - pg_temp.logit(0.5)) / ((SELECT s_hi - s_lo FROM closed)), 1e-9),
          'the NPS coefficient: the difference of the log-odds of the two groups per point');
SELECT ok(pg_temp.near((SELECT coefficients[1] FROM sat),
                       pg_temp.logit(0.5) - (SELECT coefficients[2] FROM sat) * (SELECT s_lo FROM closed), 1e-9),
          'the intercept');
SELECT ok(pg_temp.near((SELECT coefficients[3] FROM sat),
                       pg_temp.logit(0.4) - (SELECT coefficients[1] + coefficients[2] * (SELECT mean_nps FROM closed) FROM sat), 1e-9),
          'the indicator: the log-odds of the group without NPS less the model''s at the imputed value');

-- ==== predictions apply the same rule ===================================================
CREATE TEMP TABLE risk AS SELECT * FROM health_score.account_churn_risk('2025-03-31');
SELECT is((SELECT count(*) FROM risk WHERE account_id LIKE 'imp-%' AND churn_risk IS NOT NULL), 120::bigint,
          'every account has a risk');
SELECT ok((SELECT bool_and(pg_temp.near(churn_risk, CASE WHEN account_id <= 'imp-040' THEN 50 WHEN account_id <= 'imp-100' THEN 20 ELSE 40 END, 1e-9))
             FROM risk WHERE account_id LIKE 'imp-%'),
          'each group''s risk is its churn rate: 50, 20 and, without NPS, 40 %');
SELECT is((SELECT array_agg(DISTINCT coalesce(imputed_metrics::text, 'none')) FROM risk WHERE account_id LIKE 'imp-%' AND missing_metrics IS NULL),
          ARRAY['none', '{nps}'], 'imputed_metrics names nps for the accounts without it, nothing for the others');
SELECT is((SELECT count(*) FROM risk WHERE imputed_metrics = ARRAY['nps']), 20::bigint, 'the 20 accounts without NPS');
-- The interval of a group's log-odds in a saturated model: se = 1 / sqrt(n p (1 - p)).
SELECT ok((SELECT bool_and(pg_temp.near(churn_risk_low, 100 * pg_temp.expit(pg_temp.logit(0.4) - 1.959963984540054 / sqrt(20 * 0.4 * 0.6)), 1e-8)
                           AND pg_temp.near(churn_risk_high, 100 * pg_temp.expit(pg_temp.logit(0.4) + 1.959963984540054 / sqrt(20 * 0.4 * 0.6)), 1e-8))
             FROM risk WHERE imputed_metrics = ARRAY['nps']),
          'the 95 % interval of an account without NPS is that of its group''s rate, 1 / sqrt(n p (1 - p)) on the log-odds');
SELECT ok((SELECT bool_and(pg_temp.near(churn_risk_low, 100 * pg_temp.expit(pg_temp.logit(0.2) - 1.959963984540054 / sqrt(60 * 0.2 * 0.8)), 1e-8))
             FROM risk WHERE account_id BETWEEN 'imp-041' AND 'imp-100'),
          'and so is that of an account with NPS 9');
CREATE TEMP TABLE by_values AS
SELECT health_score.churn_features('saturated', '{"nps": null}') AS x_null,
       health_score.churn_features('saturated', '{"nps": 87.5}') AS x_hi;
SELECT is((SELECT x_null FROM by_values), ARRAY[(SELECT (imputation -> 'nps' ->> 'value')::float8 FROM sat), 1],
          'churn_features: a null NPS takes the imputed value and sets the indicator');
SELECT is((SELECT x_hi FROM by_values), ARRAY[87.5, 0]::float8[], 'a known NPS leaves the indicator 0');
SELECT ok((SELECT pg_temp.near(100 * i.low, r.churn_risk_low, 1e-12) AND pg_temp.near(100 * i.high, r.churn_risk_high, 1e-12)
                  AND pg_temp.near(100 * i.probability, r.churn_risk, 1e-12)
             FROM risk r, health_score.churn_probability_interval('saturated', (SELECT x_null FROM by_values)) i
            WHERE r.account_id = 'imp-120'),
          'churn_probability_interval on those features gives the account''s risk and bounds');
SELECT ok(pg_temp.near(health_score.churn_probability_of('saturated', '{"nps": null}'), 0.4, 1e-9),
          'churn_probability_of with a null NPS: the rate of the accounts without one');
SELECT ok((SELECT pg_temp.near(sum(d.contribution),
                               pg_temp.logit(0.4) - (SELECT coefficients[1] + coefficients[2] * center[1] + coefficients[3] * center[2] FROM sat), 1e-9)
                  AND bool_and(d.metric <> 'nps' OR abs(d.contribution) < 1e-12)
             FROM health_score.account_churn_drivers('imp-120', '2025-03-31') d),
          'drivers: the imputed NPS adds nothing, the indicator carries the difference from the average account');
SELECT is((SELECT array_agg(feature) FROM health_score.suggest_weights('saturated')), ARRAY['nps'],
          'suggest_weights weighs the metric, not its indicator');

SET LOCAL health_score.as_of = '2025-03-31';
SELECT is((SELECT (churn_risk IS NOT NULL, imputed_metrics) FROM health_score.account_churn WHERE account_id = 'imp-101'),
          (true, ARRAY['nps']), 'the view account_churn shows the risk and the imputed metric');
RESET health_score.as_of;

-- History: once the model's window is over, a snapshot records the same risk.
SELECT cmp_ok(health_score.snapshot('2025-07-01'), '>', 0, 'a snapshot after the window');
SELECT is((SELECT count(*) FROM health_score.score_history h
             JOIN health_score.account_churn_risk('2025-07-01') r USING (account_id)
            WHERE h.as_of = '2025-07-01' AND h.account_id LIKE 'imp-%'
              AND h.churn_risk IS NOT DISTINCT FROM r.churn_risk AND h.churn_risk_low IS NOT DISTINCT FROM r.churn_risk_low
              AND h.churn_risk IS NOT NULL),
          (SELECT count(*) FROM health_score.accounts WHERE account_id LIKE 'imp-%' AND churned_on IS NULL),
          'history records account_churn_risk for every live account, those without NPS too');
SELECT ok((SELECT bool_and(pg_temp.near(churn_risk, 40, 1e-9)) FROM health_score.score_history
            WHERE as_of = '2025-07-01' AND account_id > 'imp-100'),
          'for those, the rate of the group without NPS');

-- ==== rows skipped when an indicator would separate them ================================
CREATE TEMP TABLE skip AS SELECT * FROM health_score.train_account_churn_model('skip', '2025-03-31', '90 days',
    ARRAY['nps', 'feature_adoption']);
SELECT is((SELECT imputation -> 'feature_adoption' FROM skip),
          '{"missing": 5, "missing_churned": 0, "value": null, "indicator": null}'::jsonb,
          'the 5 accounts without feature adoption all stayed: no value, no indicator');
SELECT is((SELECT (features, rows_used, rows_skipped, rows_imputed) FROM skip),
          (ARRAY['nps', 'feature_adoption', 'nps:missing'], 115::bigint, 5::bigint, 15::bigint),
          'those rows are skipped; of the 15 other rows without NPS each is imputed');
-- The same rows by hand: NPS imputed with the mean of the accounts that have one, the rows
-- without feature adoption left NULL (train_churn_model skips them).
CREATE TABLE public.imputation_by_hand AS
SELECT a.account_id,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'nps') AS nps,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'feature_adoption') AS feature_adoption,
       a.churned_on IS NOT NULL AS churned
  FROM health_score.accounts a
  LEFT JOIN health_score.metric_scores('2025-03-31') ms ON ms.account_id = a.account_id
 WHERE a.account_id LIKE 'imp-%'
 GROUP BY a.account_id, a.churned_on;
ALTER TABLE public.imputation_by_hand ADD COLUMN nps_missing int;
UPDATE public.imputation_by_hand SET nps_missing = (nps IS NULL)::int, nps = coalesce(nps, (SELECT mean_nps FROM closed));
SELECT ok((SELECT bool_and(pg_temp.near(a, b, 1e-12))
             FROM unnest((SELECT coefficients FROM skip),
                         (SELECT coefficients FROM health_score.train_churn_model('skip by hand', 'public.imputation_by_hand',
                              ARRAY['nps', 'feature_adoption', 'nps_missing'], 'churned'))) u(a, b)),
          'the model equals one fitted by train_churn_model on the rows built by hand');
UPDATE health_score.settings SET churn_model = 'skip';
SELECT is((SELECT (churn_risk, missing_metrics) FROM health_score.account_churn_risk('2025-03-31') WHERE account_id = 'imp-115'),
          (NULL::float8, ARRAY['feature_adoption']),
          'at prediction an account without feature adoption has no risk, and the metric is named');
SELECT is(health_score.churn_probability_of('skip', '{"nps": 50, "feature_adoption": null}'), NULL::float8,
          'churn_probability_of: a null the model does not impute gives NULL');
UPDATE health_score.settings SET churn_model = 'saturated';
-- Cross-validated, a held-out account without feature adoption is never scored (no fold's model
-- imputes it), nor one without NPS when the fold's model does not impute NPS.
CREATE TEMP TABLE cv_skip AS SELECT * FROM health_score.account_churn_cross_validate('2025-03-31', '90 days',
    ARRAY['nps', 'feature_adoption'], folds => 2);
CREATE TEMP TABLE cv_skip_by_hand AS
WITH t AS (SELECT abs(hashtext(account_id)::bigint) % 2 AS fold, nps_missing = 1 AS no_nps,
                  feature_adoption IS NULL AS no_fa, churned FROM public.imputation_by_hand)
SELECT f.fold,
       (SELECT count(*) FROM t WHERE t.fold = f.fold AND (t.no_fa OR (t.no_nps AND NOT f.imputes_nps))) AS unscored
  FROM (SELECT g AS fold, (SELECT count(DISTINCT churned) = 2 FROM t WHERE t.fold <> g AND t.no_nps AND NOT t.no_fa) AS imputes_nps
          FROM generate_series(0, 1) g) f;
SELECT is((SELECT fold_unscored FROM cv_skip), (SELECT array_agg(unscored ORDER BY fold) FROM cv_skip_by_hand),
          'cross-validation: the held-out rows not scored, as prediction would leave them');
SELECT is((SELECT sum(r)::bigint + sum(u)::bigint FROM cv_skip, unnest(fold_rows, fold_unscored) AS x(r, u)), 120::bigint,
          'and every other row is scored');

-- Skipping rows can leave another metric's rows without data of one class: ROI lacks data on
-- account 108 (churned) and on 113-117 (stayed), mixed; once 113-117 are skipped for feature
-- adoption, only 108 is left, and it is skipped too.
CREATE TEMP TABLE cascade AS SELECT * FROM health_score.train_account_churn_model('cascade', '2025-03-31', '90 days',
    ARRAY['nps', 'feature_adoption', 'roi']);
SELECT is((SELECT (imputation -> 'roi', rows_used, rows_skipped) FROM cascade),
          ('{"missing": 1, "missing_churned": 1, "value": null, "indicator": null}'::jsonb, 114::bigint, 6::bigint),
          'a metric whose rows without data become of one class once others are skipped is skipped too');

-- ==== metrics without data on the same rows share one indicator =========================
-- CSAT lacks data on exactly the accounts without NPS: two indicators would be equal.
CREATE TEMP TABLE shared AS SELECT * FROM health_score.train_account_churn_model('shared', '2025-03-31', '90 days',
    ARRAY['nps', 'csat']);
SELECT is((SELECT (features, imputation -> 'csat' ->> 'indicator') FROM shared),
          (ARRAY['nps', 'csat', 'nps:missing'], 'nps:missing'::text), 'one indicator, named after the first metric, marks both');
CREATE TABLE public.shared_by_hand AS
SELECT a.account_id,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'nps') AS nps,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'csat') AS csat,
       a.churned_on IS NOT NULL AS churned
  FROM health_score.accounts a
  LEFT JOIN health_score.metric_scores('2025-03-31') ms ON ms.account_id = a.account_id
 WHERE a.account_id LIKE 'imp-%'
 GROUP BY a.account_id, a.churned_on;
ALTER TABLE public.shared_by_hand ADD COLUMN missing int;
UPDATE public.shared_by_hand SET missing = (nps IS NULL)::int, nps = coalesce(nps, (SELECT avg(nps) FROM public.shared_by_hand)),
       csat = coalesce(csat, (SELECT avg(csat) FROM public.shared_by_hand));
SELECT ok((SELECT bool_and(pg_temp.near(a, b, 1e-12))
             FROM unnest((SELECT coefficients FROM shared),
                         (SELECT coefficients FROM health_score.train_churn_model('shared by hand', 'public.shared_by_hand',
                              ARRAY['nps', 'csat', 'missing'], 'churned'))) u(a, b)),
          'the model equals one fitted by hand with a single indicator');
-- At prediction the shared indicator is 1 when either metric has no data.
SELECT is(health_score.churn_features('shared', '{"nps": 87.5, "csat": null}'),
          ARRAY[87.5, (SELECT (imputation -> 'csat' ->> 'value')::float8 FROM shared), 1],
          'churn_features: CSAT alone without data sets the shared indicator');
UPDATE health_score.settings SET churn_model = 'shared';
DELETE FROM health_score.observations WHERE account_id = 'imp-041' AND metric = 'csat';
SELECT ok((SELECT pg_temp.near(r.churn_risk / 100, health_score.churn_probability_of('shared', jsonb_build_object('nps', 87.5, 'csat', NULL)), 1e-12)
                  AND r.imputed_metrics = ARRAY['csat']
             FROM health_score.account_churn_risk('2025-03-31') r WHERE r.account_id = 'imp-041'),
          'account_churn_risk applies it alike to an account with NPS but no CSAT');
UPDATE health_score.settings SET churn_model = 'saturated';

-- ==== absent_means zero: no event is a zero, nothing to impute ==========================
SELECT is((SELECT (imputation ? 'champion_advocacy', rows_used)
             FROM health_score.train_account_churn_model('zero', '2025-03-31', '90 days', ARRAY['nps', 'champion_advocacy'])),
          (false, 120::bigint), 'a metric whose absence means zero has a value on every account: nothing imputed');

-- ==== errors ==============================================================================
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', '2025-03-31', '90 days', ARRAY['nps', 'budget_trend'])$$,
                 '22023', 'metric "budget_trend" has no data on any of the 120 training rows',
                 'a metric with no data at all is refused, naming it');
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve, breakpoints, scores, direction, absent_means)
SELECT 'nps:missing', dimension, weight, input, aggregation, half_life, curve, breakpoints, scores, direction, absent_means
  FROM health_score.metrics WHERE name = 'nps';
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', '2025-03-31', '90 days', ARRAY['nps', 'nps:missing'])$$,
                 '22023', 'the indicator term "nps:missing" is also the name of one of the metrics',
                 'an indicator term named like a metric is refused');

SELECT * FROM finish();
ROLLBACK;
