-- Account churn models: trained on the accounts' metric sub-scores at a date, with the churn
-- label taken from accounts.churned_on; risk, drivers, weights and revenue at risk checked
-- against the same numbers worked out directly in SQL. Accounts without NPS take the mean NPS
-- sub-score and an indicator term (test/pgtap/churn_imputation.sql has the rules in detail).
BEGIN;
SELECT plan(47);
\ir ../lib/helpers.sql

-- u(key): a reproducible number in [0, 1) from a key.
CREATE FUNCTION pg_temp.u(key text) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT (abs(hashtext(key)::bigint) % 100000) / 100000.0::float8
$$;

-- 400 accounts with a hidden health h; the healthier adopt more features, answer NPS higher and
-- have a more engaged sponsor, and churn less in the 90 days after 2025-03-31. Accounts 391-400
-- never answered NPS; accounts 1-5 churned before 2025-03-31 (not live then).
CREATE TEMP TABLE hidden AS
SELECT i, 'acct-' || lpad(i::text, 3, '0') AS account_id, pg_temp.u('h' || i) AS h FROM generate_series(1, 400) i;
INSERT INTO health_score.accounts (account_id, name, segment, plan, owner, mrr, started_on, churned_on)
SELECT account_id, 'Account ' || i, CASE WHEN i % 3 = 0 THEN 'enterprise' ELSE 'smb' END, 'standard',
       CASE WHEN i % 2 = 0 THEN 'csm_a' ELSE 'csm_b' END, 100 + (i % 7) * 50, '2024-01-01',
       CASE WHEN i <= 5 THEN date '2025-02-01'
            WHEN pg_temp.u('c' || i) < 0.6 - 0.5 * h THEN date '2025-04-01' + (i % 80)
            WHEN pg_temp.u('c' || i) < 0.75 - 0.5 * h THEN date '2025-08-01' END
  FROM hidden;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT account_id, 'feature_adoption', '2025-03-01', round(15 * (0.3 * h + 0.7 * pg_temp.u('f' || i)))
  FROM hidden
UNION ALL
SELECT account_id, 'nps', '2025-03-01'::timestamptz - (k * interval '20 days'),
       round(10 * (0.6 * h + 0.4 * pg_temp.u('n' || i || '-' || k)))
  FROM hidden, generate_series(0, 2) k WHERE i <= 390
UNION ALL
SELECT account_id, 'executive_sponsor', '2025-02-15', floor(4 * (0.5 * h + 0.5 * pg_temp.u('e' || i)))
  FROM hidden;

-- The observations stop in March; the churn dates are complete to the end of August.
UPDATE health_score.settings SET data_through = '2025-08-31';

SELECT is((SELECT count(*) FROM health_score.account_churn_risk('2025-03-31')), 0::bigint,
          'account_churn_risk is empty before any account model is trained');
SELECT throws_ok($$SELECT * FROM health_score.account_churn_drivers('acct-010', '2025-03-31')$$, '42704',
                 'no account churn model has been trained', 'account_churn_drivers without a model');

CREATE TEMP TABLE m AS SELECT * FROM health_score.train_account_churn_model('accounts', '2025-03-31', '90 days',
    ARRAY['feature_adoption', 'nps', 'executive_sponsor']);

-- The same rows built by hand from metric_scores and accounts, fitted as a plain table.
CREATE TABLE public.churn_accounts_by_hand AS
SELECT a.account_id,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'feature_adoption') AS feature_adoption,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'nps') AS nps,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'executive_sponsor') AS executive_sponsor,
       a.churned_on > '2025-03-31' AND a.churned_on <= '2025-06-29' AS churned
  FROM health_score.accounts a
  LEFT JOIN health_score.metric_scores('2025-03-31') ms ON ms.account_id = a.account_id
 WHERE a.churned_on IS NULL OR a.churned_on > '2025-03-31'
 GROUP BY a.account_id, a.churned_on;
UPDATE public.churn_accounts_by_hand SET churned = false WHERE churned IS NULL;
-- no NPS: the mean NPS sub-score of the accounts with one, and a 0/1 indicator
ALTER TABLE public.churn_accounts_by_hand ADD COLUMN nps_missing int;
UPDATE public.churn_accounts_by_hand
   SET nps_missing = (nps IS NULL)::int, nps = coalesce(nps, (SELECT avg(nps) FROM public.churn_accounts_by_hand));
CREATE TEMP TABLE by_hand AS SELECT * FROM health_score.train_churn_model('by_hand', 'public.churn_accounts_by_hand',
    ARRAY['feature_adoption', 'nps', 'executive_sponsor', 'nps_missing'], 'churned');

SELECT is((SELECT (kind, rows_used, rows_skipped, rows_imputed) FROM m), ('account'::text, 395::bigint, 0::bigint, 10::bigint),
          'the 395 accounts live at as_of take part, the 10 without NPS imputed');
SELECT is((SELECT features FROM m), ARRAY['feature_adoption', 'nps', 'executive_sponsor', 'nps:missing'],
          'the terms: the metrics, then the indicator of the one imputed');
SELECT is((SELECT positives FROM m),
          (SELECT count(*) FROM health_score.accounts WHERE churned_on > '2025-03-31' AND churned_on <= '2025-06-29'),
          'positives: accounts that churned within 90 days after as_of');
SELECT ok((SELECT bool_and(pg_temp.near(a, b, 1e-12)) FROM unnest((SELECT coefficients FROM m), (SELECT coefficients FROM by_hand)) u(a, b)),
          'the account model equals a model fitted on the same rows assembled by hand');
SELECT ok((SELECT auc BETWEEN 0.6 AND 0.95 FROM m), 'the hidden health is found (AUC between 0.6 and 0.95)');
SELECT ok((SELECT bool_and(coefficient < 0) FROM health_score.churn_model_terms WHERE name = 'accounts' AND position > 0),
          'every healthy sub-score lowers churn');
SELECT is((SELECT (as_of, horizon) FROM m), ('2025-03-31'::timestamptz, '90 days'::interval), 'as_of and horizon recorded');
SELECT is((SELECT config_version FROM m), health_score.config_version(), 'the scoring configuration version is recorded');

-- Risk per account, by hand: 100 / (1 + exp(-(b0 + sum b_j x_j))).
CREATE TEMP TABLE risk AS SELECT * FROM health_score.account_churn_risk('2025-03-31');
SELECT is((SELECT count(*) FROM risk), 395::bigint, 'one row per account live at as_of');
SELECT is((SELECT count(*) FROM risk WHERE churn_risk IS NULL), 0::bigint, 'every account has a risk, those without NPS too');
SELECT is((SELECT (missing_metrics, imputed_metrics) FROM risk WHERE account_id = 'acct-400'), (NULL::text[], ARRAY['nps']),
          'and the imputed metric is named');
SELECT is((SELECT count(*) FROM risk r JOIN public.churn_accounts_by_hand h USING (account_id)
            WHERE NOT pg_temp.near(r.churn_risk,
                  100 / (1 + exp(-((SELECT coefficients[1] FROM m) + (SELECT coefficients[2] FROM m) * h.feature_adoption
                                   + (SELECT coefficients[3] FROM m) * h.nps + (SELECT coefficients[4] FROM m) * h.executive_sponsor
                                   + (SELECT coefficients[5] FROM m) * h.nps_missing))), 1e-12)),
          0::bigint, 'every risk equals the logistic formula worked by hand');
SELECT is((SELECT (model, model_version) FROM risk LIMIT 1), ('accounts'::text, 1), 'the model and version are named');

-- Drivers: contributions add up to the log-odds minus the average account's.
CREATE TEMP TABLE drv AS SELECT * FROM health_score.account_churn_drivers('acct-010', '2025-03-31');
SELECT ok(pg_temp.near((SELECT sum(contribution) FROM drv),
          (SELECT ln(r.churn_risk / (100 - r.churn_risk)) FROM risk r WHERE account_id = 'acct-010')
          - (SELECT coefficients[1] + coefficients[2] * center[1] + coefficients[3] * center[2] + coefficients[4] * center[3]
                    + coefficients[5] * center[4] FROM m), 1e-9),
          'drivers add up to the log-odds relative to the average account');
SELECT is((SELECT array_agg(metric ORDER BY rank) FROM drv),
          (SELECT array_agg(metric ORDER BY contribution DESC) FROM drv), 'drivers ranked by contribution');
SELECT is((SELECT top_drivers FROM risk WHERE account_id = 'acct-010'),
          (SELECT string_agg(metric || ' ' || to_char(contribution, 'FMSG990.00'), ', ' ORDER BY rank) FROM drv
            WHERE round(contribution::numeric, 2) > 0 AND (metric <> 'nps:missing' OR sub_score = 1)),
          'top_drivers lists the metrics pushing the risk up by at least 0.01 (an indicator only when set)');

-- Influence and weights.
SELECT is((SELECT array_agg(feature ORDER BY rank) FROM health_score.churn_feature_influence('accounts')),
          (SELECT array_agg(term ORDER BY abs(standardized_coefficient) DESC) FROM health_score.churn_model_terms
            WHERE name = 'accounts' AND position > 0), 'influence ranks by the size of the standardised coefficient');
SELECT ok(pg_temp.near((SELECT sum(suggested_weight) FROM health_score.suggest_weights('accounts')), 1, 1e-12),
          'suggested weights are shares summing to 1');
SELECT ok((SELECT bool_and(pg_temp.near(weight_in_dimension, suggested_weight / d.total, 1e-12))
             FROM health_score.suggest_weights('accounts') w
             JOIN (SELECT dimension, sum(suggested_weight) AS total FROM health_score.suggest_weights('accounts') GROUP BY 1) d USING (dimension)),
          'weights within a dimension are the shares of that dimension');
SELECT is((SELECT array_agg(dimension ORDER BY feature) FROM health_score.suggest_weights('accounts')),
          ARRAY['relationship', 'product', 'relationship'], 'each metric''s dimension');

-- Revenue at risk: sum of MRR x probability, overall and by band, segment and owner.
CREATE TEMP TABLE rar AS SELECT * FROM health_score.revenue_at_risk('2025-03-31');
SELECT ok(pg_temp.near((SELECT revenue_at_risk FROM rar WHERE grouping_by = 'all'),
          (SELECT sum(a.mrr * r.churn_risk / 100)::float8 FROM risk r JOIN health_score.accounts a USING (account_id)), 1e-12),
          'total revenue at risk = sum of MRR x churn probability');
SELECT ok((SELECT bool_and(pg_temp.near(t, (SELECT revenue_at_risk FROM rar WHERE grouping_by = 'all'), 1e-12))
             FROM (SELECT sum(revenue_at_risk) AS t FROM rar WHERE grouping_by <> 'all' GROUP BY grouping_by) x),
          'band, segment and owner groups each add up to the total');
SELECT is((SELECT array_agg(group_value ORDER BY group_value) FROM rar WHERE grouping_by = 'owner'),
          ARRAY['csm_a', 'csm_b']::text[], 'by owner');

-- History snapshots record no risk from a model that learned from the churn after that day
-- (test/pgtap/churn_leaks.sql has the days after its window).
SELECT cmp_ok(health_score.snapshot('2025-03-31'), '>', 0, 'a history snapshot of that day');
SELECT is((SELECT count(*) FROM health_score.score_history h JOIN risk r USING (account_id)
            WHERE h.as_of = '2025-03-31' AND h.churn_risk IS NULL AND h.churn_model = 'accounts'
              AND h.churn_risk_reason LIKE 'churn model "accounts" v1 learned from churn up to %, after this date'),
          395::bigint, 'the snapshot of the training day stores no churn risk, and says why, for every account');

-- Several snapshot dates: 2025-03-31 and 2024-12-31 (90 days earlier), with observations
-- from 2024-11-15 so that the earlier date has data (accounts 391-400 still lack NPS).
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT account_id, 'feature_adoption', timestamptz '2024-11-15', round(15 * (0.3 * h + 0.7 * pg_temp.u('f0' || i))) FROM hidden
UNION ALL
SELECT account_id, 'nps', '2024-11-15', round(10 * (0.6 * h + 0.4 * pg_temp.u('n0' || i))) FROM hidden WHERE i <= 390
UNION ALL
SELECT account_id, 'executive_sponsor', '2024-11-15', floor(4 * (0.5 * h + 0.5 * pg_temp.u('e0' || i))) FROM hidden;
CREATE TEMP TABLE m2 AS SELECT * FROM health_score.train_account_churn_model('two dates', '2025-03-31', '90 days',
    ARRAY['feature_adoption', 'nps', 'executive_sponsor'], snapshots => 2);
CREATE TABLE public.churn_accounts_two_dates AS
SELECT d.day, a.account_id,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'feature_adoption') AS feature_adoption,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'nps') AS nps,
       max(ms.sub_score) FILTER (WHERE ms.metric = 'executive_sponsor') AS executive_sponsor,
       coalesce(a.churned_on > d.day AND a.churned_on <= d.day + 90, false) AS churned
  FROM (VALUES (date '2025-03-31'), (date '2024-12-31')) d(day)
  JOIN health_score.accounts a ON a.churned_on IS NULL OR a.churned_on > d.day
  LEFT JOIN LATERAL health_score.metric_scores(d.day) ms ON ms.account_id = a.account_id
 GROUP BY d.day, a.account_id, a.churned_on;
ALTER TABLE public.churn_accounts_two_dates ADD COLUMN nps_missing int;
UPDATE public.churn_accounts_two_dates
   SET nps_missing = (nps IS NULL)::int, nps = coalesce(nps, (SELECT avg(nps) FROM public.churn_accounts_two_dates));
CREATE TEMP TABLE two_by_hand AS SELECT * FROM health_score.train_churn_model('two by hand', 'public.churn_accounts_two_dates',
    ARRAY['feature_adoption', 'nps', 'executive_sponsor', 'nps_missing'], 'churned');
SELECT is((SELECT (rows_used, rows_skipped, rows_imputed) FROM m2), (795::bigint, 0::bigint, 20::bigint),
          'two dates: 395 + 400 accounts, 10 + 10 without NPS imputed');
SELECT is((SELECT positives FROM m2), (SELECT count(*) FROM public.churn_accounts_two_dates WHERE churned),
          'two dates: the churn label of each date''s window');
SELECT ok((SELECT bool_and(pg_temp.near(a, b, 1e-12)) FROM unnest((SELECT coefficients FROM m2), (SELECT coefficients FROM two_by_hand)) u(a, b)),
          'two dates: the model equals one fitted on both dates'' rows assembled by hand');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', '2025-03-31', '90 days', snapshots => 0)$$, '22023',
                 'snapshots must be between 1 and 120, got 0', 'snapshots must be positive');

-- Cross-validation on the same two dates' rows: the folds are groups of accounts, an account's
-- fold abs(hashtext(account_id)) % 3, so its two rows are always on one side. Each fold by
-- hand: train_churn_model on the other folds' rows, NPS imputed with their mean, and the exact
-- AUC on the fold's rows (with the same mean) by counting pairs.
CREATE TEMP TABLE models_before AS SELECT count(*) AS n FROM health_score.churn_models;
CREATE TEMP TABLE cv AS SELECT * FROM health_score.account_churn_cross_validate('2025-03-31', '90 days',
    ARRAY['feature_adoption', 'nps', 'executive_sponsor'], folds => 3, snapshots => 2);
CREATE TEMP TABLE models_after AS SELECT count(*) AS n FROM health_score.churn_models;
ALTER TABLE public.churn_accounts_two_dates ADD COLUMN fold int;
UPDATE public.churn_accounts_two_dates SET fold = abs(hashtext(account_id)::bigint) % 3;
SELECT ok((SELECT bool_and((SELECT count(DISTINCT churned) FROM public.churn_accounts_two_dates
                             WHERE fold <> f AND nps_missing = 1) = 2) FROM generate_series(0, 2) f),
          'precondition: the rows without NPS of each fold''s training rows churned and stayed');
CREATE TEMP TABLE cv_by_hand (fold int, coefficients float8[], mean_nps float8);
DO $$
DECLARE
    mean float8;
BEGIN
    FOR f IN 0..2 LOOP
        mean := (SELECT avg(nps) FROM public.churn_accounts_two_dates WHERE fold <> f AND nps_missing = 0);
        EXECUTE format('CREATE VIEW public.cv_train_%s AS
                        SELECT feature_adoption, CASE WHEN nps_missing = 1 THEN %s ELSE nps END AS nps,
                               executive_sponsor, nps_missing, churned
                          FROM public.churn_accounts_two_dates WHERE fold <> %s', f, mean, f);
        INSERT INTO cv_by_hand
        SELECT f, coefficients, mean
          FROM health_score.train_churn_model('cv ' || f, format('public.cv_train_%s', f)::regclass,
                                              ARRAY['feature_adoption', 'nps', 'executive_sponsor', 'nps_missing'], 'churned');
    END LOOP;
END
$$;
CREATE TEMP TABLE cv_pred AS
SELECT t.fold, t.account_id, t.churned,
       1 / (1 + exp(-(h.coefficients[1] + h.coefficients[2] * t.feature_adoption
                      + h.coefficients[3] * CASE WHEN t.nps_missing = 1 THEN h.mean_nps ELSE t.nps END
                      + h.coefficients[4] * t.executive_sponsor + h.coefficients[5] * t.nps_missing))) AS p
  FROM public.churn_accounts_two_dates t JOIN cv_by_hand h USING (fold);
CREATE TEMP TABLE cv_auc AS
SELECT a.fold, (count(*) FILTER (WHERE a.p > b.p) + 0.5 * count(*) FILTER (WHERE a.p = b.p)) / count(*)::float8 AS auc
  FROM cv_pred a JOIN cv_pred b ON b.fold = a.fold AND NOT b.churned
 WHERE a.churned GROUP BY a.fold;
SELECT is((SELECT (fold_count, fold_rows, fold_unscored) FROM cv),
          (3, (SELECT array_agg(n ORDER BY fold) FROM (SELECT fold, count(*) AS n FROM public.churn_accounts_two_dates GROUP BY fold) c),
           ARRAY[0, 0, 0]::bigint[]),
          'cross-validation: each fold scores the rows of its accounts, every one of them');
SELECT is((SELECT fold_accounts FROM cv),
          (SELECT array_agg(n ORDER BY fold) FROM (SELECT fold, count(DISTINCT account_id) AS n FROM public.churn_accounts_two_dates GROUP BY fold) c),
          'the accounts of each fold');
SELECT is((SELECT sum(a)::bigint FROM cv, unnest(fold_accounts) a), (SELECT count(DISTINCT account_id) FROM public.churn_accounts_two_dates),
          'the folds are grouped: no account sits in two folds');
SELECT ok((SELECT bool_and(pg_temp.near(u.a, c.auc, 1e-12)) FROM cv, unnest(fold_auc) WITH ORDINALITY AS u(a, i)
             JOIN cv_auc c ON c.fold = u.i - 1),
          'each fold''s AUC equals the one worked by hand (a model fitted on the other folds, their NPS mean)');
SELECT ok((SELECT pg_temp.near(auc_mean, (SELECT avg(auc) FROM cv_auc), 1e-12)
                  AND pg_temp.near(auc_sd, (SELECT stddev_samp(auc) FROM cv_auc), 1e-9) FROM cv),
          'and their mean and standard deviation');
SELECT is((SELECT n FROM models_after), (SELECT n FROM models_before), 'cross-validation writes no model');
SELECT throws_ok($$SELECT * FROM health_score.account_churn_cross_validate('2025-03-31', folds => 1)$$, '22023',
                 'folds must be between 2 and 100, got 1', 'folds must be at least 2');
SELECT throws_ok($$SELECT * FROM health_score.account_churn_cross_validate('2025-03-31', '90 days', ARRAY['nope'])$$, '42704',
                 'metric "nope" is not in health_score.metrics', 'the arguments are checked as for training');

-- Every churn object and column carries a comment (BI tools show them).
SELECT is((SELECT string_agg(p.proname, ', ') FROM pg_proc p
            WHERE p.pronamespace = 'health_score'::regnamespace
              AND (p.proname ~ '(churn|logit|auc|rates_)' OR p.proname IN ('precision_at', 'recall_at',
                   'false_positive_rate_at', 'false_negative_rate_at', 'suggest_weights', 'revenue_at_risk'))
              AND obj_description(p.oid, 'pg_proc') IS NULL), NULL, 'every churn function and aggregate has a comment');
SELECT is((SELECT string_agg(c.relname || '.' || coalesce(a.attname, ''), ', ') FROM pg_class c
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relnamespace = 'health_score'::regnamespace
              AND c.relname IN ('churn_models', 'churn_model_terms', 'churn_model_calibration', 'account_churn',
                                'revenue_at_risk', 'churn_fit_result', 'churn_evaluation')
              AND (obj_description(c.oid, 'pg_class') IS NULL AND c.relkind <> 'c'
                   OR col_description(c.oid, a.attnum) IS NULL)), NULL, 'every churn table, view and column has a comment');

-- Bad input.
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', now(), '90 days')$$, '22023', NULL,
                 'a horizon that has not passed yet is refused');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', '2025-03-31', '90 days', ARRAY['nope'])$$, '42704',
                 'metric "nope" is not in health_score.metrics', 'an unknown metric is named');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', '2025-03-31', '90 days', '{{a,b},{c,d}}')$$, '2202E',
                 'metrics must be a one-dimensional array, got 2 dimensions', 'a 2-D metrics array is refused, naming metrics');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', '2025-03-31', '90 days', l2 => 1e308)$$, '22023',
                 'l2 must be at most 1e12, got 1e+308', 'an l2 beyond 1e12 is refused, naming l2 (it underflowed)');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('x', '2025-03-31', '90 days', ridge_fallback => 1e300)$$, '22023',
                 'ridge_fallback must be at most 1e12, got 1e+300', 'a ridge_fallback beyond 1e12 is refused');

SELECT diag('account model: ' || (SELECT rows_used || ' accounts, ' || positives || ' churned, AUC ' || round(auc::numeric, 3)
                                    || ', coefficients ' || coefficients::text FROM m)
            || '; revenue at risk ' || (SELECT round(revenue_at_risk::numeric, 2) FROM rar WHERE grouping_by = 'all')
            || '; acct-010 drivers: ' || (SELECT top_drivers FROM risk WHERE account_id = 'acct-010'));
SELECT * FROM finish();
ROLLBACK;
