-- Using a trained churn model: probability, drivers, influence, weights, cross-validation.
SET extra_float_digits = 0;

CREATE TABLE churn_u AS
SELECT i AS id,
       ((i * 37) % 23) / 5.0::float8 AS x1,
       ((i * 53) % 19) / 3.0::float8 AS x2,
       i % 2 = 0 AS flag,
       CASE WHEN ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END THEN 1 ELSE 0 END AS y
  FROM generate_series(1, 120) AS i;

SELECT round(coefficients[1]::numeric, 6) AS b0, round(coefficients[2]::numeric, 6) AS b_x1,
       round(coefficients[3]::numeric, 6) AS b_x2, round(coefficients[4]::numeric, 6) AS b_flag,
       round(center[1]::numeric, 6) AS mean_x1, round(center[2]::numeric, 6) AS mean_x2
  FROM health_score.train_churn_model('use', 'churn_u', ARRAY['x1', 'x2', 'flag'], 'y');

-- probability: the logistic of the linear predictor
SELECT round(health_score.churn_probability('use', ARRAY[4, 1, 0])::numeric, 6) AS p,
       round((1 / (1 + exp(-(coefficients[1] + coefficients[2] * 4 + coefficients[3] * 1))))::numeric, 6) AS by_hand
  FROM health_score.churn_models WHERE name = 'use';
SELECT health_score.churn_probability('use', NULL) AS null_in;
SELECT error_of($$SELECT health_score.churn_probability('nope', ARRAY[1, 2, 3])$$);
SELECT error_of($$SELECT health_score.churn_probability('use', ARRAY[1, 2])$$);

-- drivers of one row, relative to the average row
SELECT rank, feature, value, round(average::numeric, 4) AS average, round(contribution::numeric, 4) AS contribution,
       round(odds_multiplier::numeric, 4) AS odds_multiplier
  FROM health_score.churn_drivers('use', ARRAY[4, 1, 0]);
SELECT error_of($$SELECT * FROM health_score.churn_drivers('use', ARRAY[4, 1])$$);

-- which data drives churn
SELECT rank, feature, round(standardized_coefficient::numeric, 4) AS standardized,
       round(odds_ratio_per_sd::numeric, 4) AS odds_ratio_per_sd, direction, significant
  FROM health_score.churn_feature_influence('use');

-- suggested weights: shares of the standardised effect (a table model: the size counts)
SELECT feature, dimension, round(suggested_weight::numeric, 4) AS suggested_weight, current_weight, note
  FROM health_score.suggest_weights('use');
SELECT error_of($$SELECT * FROM health_score.suggest_weights('nope')$$);

-- k-fold cross-validation: fold sizes add up to the rows, mean and sd of the fold AUCs
SELECT fold_count, round(auc_mean::numeric, 4) AS auc_mean, round(auc_sd::numeric, 4) AS auc_sd,
       (SELECT sum(n) FROM unnest(fold_rows) n) AS rows,
       round(auc_mean::numeric, 12) = round((SELECT avg(a) FROM unnest(fold_auc) a)::numeric, 12) AS mean_ok
  FROM health_score.churn_cross_validate('churn_u', ARRAY['x1', 'x2', 'flag'], 'y', folds => 4);
SELECT count(*) AS models_after_cv FROM health_score.churn_models;
SELECT error_of($$SELECT * FROM health_score.churn_cross_validate('churn_u', ARRAY['x1'], 'y', folds => 1)$$);
SELECT error_of($$SELECT * FROM health_score.churn_cross_validate('churn_u', ARRAY['x9'], 'y')$$);

-- no account model yet: an empty risk list, and the views are empty
SELECT count(*) AS risks FROM health_score.account_churn_risk('2025-01-01');
SELECT count(*) AS rows FROM health_score.account_churn;
SELECT error_of($$SELECT * FROM health_score.account_churn_risk('infinity')$$);
SELECT error_of($$SELECT health_score.train_account_churn_model('a', '2025-01-01', '-1 day')$$);
SELECT error_of($$SELECT health_score.train_account_churn_model('a', '2025-01-01', '30 days', ARRAY['nps', 'nps'])$$);

DELETE FROM health_score.churn_models WHERE name = 'use';
DROP TABLE churn_u;
