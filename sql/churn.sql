-- Churn model surface: training on a small table, the catalog rows, and every kind of bad
-- input, each a clear error that leaves nothing in the catalog.
SET extra_float_digits = 0;

-- 60 rows: churn grows with x1, shrinks with x2; x3 is NULL on three rows.
CREATE TABLE churn_t AS
SELECT i AS id,
       ((i * 37) % 23) / 5.0::float8 AS x1,
       ((i * 53) % 19) / 3.0::float8 AS x2,
       CASE WHEN i % 20 = 0 THEN NULL ELSE (i % 7)::float8 END AS x3,
       i % 2 = 0 AS flag,
       'text' || i AS t,
       5.0::float8 AS const,
       ((i * 37) % 23) / 5.0::float8 + ((i * 53) % 19) / 3.0::float8 AS x1_plus_x2,
       CASE WHEN ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END THEN 1 ELSE 0 END AS y,
       CASE WHEN ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END THEN true ELSE false END AS churned
  FROM generate_series(1, 60) AS i;

SELECT name, version, active, kind, source, label, features, rows_used, rows_skipped, positives,
       round(churn_rate::numeric, 4) AS churn_rate, iterations, l2, ridge_fallback,
       round(loglik::numeric, 6) AS loglik, round(null_loglik::numeric, 6) AS null_loglik,
       round(pseudo_r2::numeric, 6) AS pseudo_r2, round(auc::numeric, 6) AS auc
  FROM health_score.train_churn_model('small', 'churn_t', ARRAY['x1', 'x2', 'x3', 'flag'], 'y');

SELECT position, term, round(coefficient::numeric, 6) AS coefficient, round(std_error::numeric, 6) AS std_error,
       round(z::numeric, 4) AS z, round(p_value::numeric, 4) AS p_value, round(odds_ratio::numeric, 4) AS odds_ratio,
       round(standardized_coefficient::numeric, 4) AS standardized
  FROM health_score.churn_model_terms WHERE name = 'small' ORDER BY position;

SELECT decile, rows, churned, round(mean_predicted::numeric, 4) AS mean_predicted, round(observed_rate::numeric, 4) AS observed_rate
  FROM health_score.churn_model_calibration WHERE name = 'small' ORDER BY decile;

-- a boolean label gives the same model; a second training is version 2 and the active one
SELECT version, active, round(coefficients[2]::numeric, 6) AS x1
  FROM health_score.train_churn_model('small', 'churn_t', ARRAY['x1', 'x2', 'x3', 'flag'], 'churned');
SELECT version, active FROM health_score.churn_models WHERE name = 'small' ORDER BY version;

-- Bad input: each names the culprit.
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1', 'nope'], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1'], 'nope')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1', 't'], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1', 'x1'], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1', 'y'], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY[]::text[], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1', NULL], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', NULL, 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('', 'churn_t', ARRAY['x1'], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'no_such_table', ARRAY['x1'], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1'], 'y', max_iter => 0)$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1'], 'y', tol => 0)$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1'], 'y', l2 => -1)$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1'], 'y', ridge_fallback => 0)$$);
-- constant feature
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1', 'const'], 'y')$$);
-- single class
CREATE VIEW churn_retained AS SELECT * FROM churn_t WHERE y = 0;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_retained', ARRAY['x1'], 'y')$$);
-- NaN and infinite values
CREATE VIEW churn_nan AS SELECT id, CASE WHEN id = 7 THEN 'NaN' ELSE x1 END AS x1, x2, y FROM churn_t;
CREATE VIEW churn_inf AS SELECT id, CASE WHEN id IN (7, 8) THEN '-Infinity' ELSE x1 END AS x1, x2, y FROM churn_t;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_nan', ARRAY['x2', 'x1'], 'y')$$);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_inf', ARRAY['x2', 'x1'], 'y')$$);
-- values so large that their squares overflow
CREATE VIEW churn_huge AS SELECT id, x1, CASE WHEN id % 2 = 0 THEN 1e200 ELSE -1e200 END::float8 AS big, y FROM churn_t;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_huge', ARRAY['x1', 'big'], 'y')$$);
-- more features than rows
CREATE VIEW churn_three AS SELECT * FROM churn_t WHERE id IN (1, 2, 5, 14);
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_three', ARRAY['x1', 'x2', 'x3'], 'y')$$);
-- no rows at all
CREATE VIEW churn_empty AS SELECT * FROM churn_t WHERE false;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_empty', ARRAY['x1'], 'y')$$);
-- no complete row
CREATE VIEW churn_nulls AS SELECT id, NULL::float8 AS x1, y FROM churn_t;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_nulls', ARRAY['x1'], 'y')$$);
-- a label that is not 0/1
CREATE VIEW churn_label2 AS SELECT id, x1, y * 2 AS y FROM churn_t;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_label2', ARRAY['x1'], 'y')$$);
-- perfect separation by one feature, and by a combination of two
CREATE VIEW churn_sep AS SELECT id, x2, id::float8 AS x_sep, x1, (id > 30)::int AS y FROM churn_t;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_sep', ARRAY['x2', 'x_sep'], 'y')$$);
-- (x1 + x2 > 5: the ranges of x1 and of x2 overlap between the classes, their sum does not)
CREATE VIEW churn_sep2 AS SELECT id, x1, x2, x3, (x1 + x2 > 5)::int AS y FROM churn_t;
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_sep2', ARRAY['x3', 'x1', 'x2'], 'y')$$);
-- collinearity: x1_plus_x2 = x1 + x2
SELECT error_of($$SELECT health_score.train_churn_model('bad', 'churn_t', ARRAY['x1', 'x2', 'x1_plus_x2'], 'y')$$);
-- nothing of the failed trainings was written
SELECT count(*) AS bad_models FROM health_score.churn_models WHERE name = 'bad';
SELECT count(*) AS bad_terms FROM health_score.churn_model_terms WHERE name = 'bad';

-- The ridge fall-back, when asked, fits what the plain fit cannot, with a warning.
SELECT version, ridge_fallback, l2, fallback_reason, rows_used, round(auc::numeric, 4) AS auc
  FROM health_score.train_churn_model('ridge', 'churn_t', ARRAY['x1', 'x2', 'x1_plus_x2'], 'y', ridge_fallback => 1);
SELECT ridge_fallback, l2, round(auc::numeric, 4) AS auc
  FROM health_score.train_churn_model('ridge_sep', 'churn_sep', ARRAY['x2', 'x_sep'], 'y', ridge_fallback => 0.5);
-- a penalty asked for up front is no fall-back
SELECT ridge_fallback, l2 FROM health_score.train_churn_model('ridge2', 'churn_t', ARRAY['x1', 'x2'], 'y', l2 => 2);
-- the penalty shrinks the standardised coefficients
SELECT (SELECT sum(abs(standardized_coefficient)) FROM health_score.churn_model_terms WHERE name = 'ridge2')
     < (SELECT sum(abs(standardized_coefficient)) FROM health_score.churn_model_terms WHERE name = 'small' AND version = 1
         AND term IN ('x1', 'x2')) AS shrunk;

-- The evaluation aggregates.
CREATE TABLE auc_t(score float8, churned boolean);
INSERT INTO auc_t VALUES (90, true), (80, true), (80, false), (70, false), (60, true), (50, false),
                         (NULL, true), (40, NULL), (10.5, false);
SELECT health_score.auc(score, churned) AS auc_risk, health_score.auc_health(score, churned) AS auc_health,
       health_score.auc(100 - score, churned) AS auc_reversed FROM auc_t;
SELECT health_score.precision_at(score, churned, 80) AS precision, health_score.recall_at(score, churned, 80) AS recall,
       health_score.false_positive_rate_at(score, churned, 80) AS fpr,
       health_score.false_negative_rate_at(score, churned, 80) AS fnr FROM auc_t;
-- rounding to the 0.01 grid: 0.1 + 0.2 lands in the 0.30 bin
SELECT health_score.auc(s, c) FROM (VALUES ((0.1 + 0.2) * 100, true), (30::float8, false)) v(s, c);
SELECT health_score.auc(score, true) AS one_class, health_score.auc(score, churned) FILTER (WHERE false) AS no_rows FROM auc_t;
SELECT error_of($$SELECT health_score.auc(s, true) FROM (VALUES (-1::float8)) v(s)$$);
SELECT error_of($$SELECT health_score.auc(s, true) FROM (VALUES (100.5::float8)) v(s)$$);
SELECT error_of($$SELECT health_score.auc(s, true) FROM (VALUES ('NaN'::float8)) v(s)$$);
SELECT error_of($$SELECT health_score.precision_at(score, churned, score) FROM auc_t$$);
SELECT error_of($$SELECT health_score.recall_at(score, churned, 'Infinity') FROM auc_t$$);
SELECT error_of($$SELECT health_score.auc_final('{1,2,3}')$$);

-- The kernels called directly.
SELECT error_of($$SELECT health_score.logit_step(ARRAY[1, 2]::float8[], true, '{0,0}', '{0}', '{1}')$$);
SELECT error_of($$SELECT health_score.logit_step(ARRAY[1]::float8[], true, '{0,0}', '{0}', '{0}')$$);
SELECT error_of($$SELECT health_score.logit_solve('{1,2,3}', '{0,0}', 0, '{a}')$$);
SELECT error_of($$SELECT health_score.logit_predict('{0,1}', '{1,2}')$$);
SELECT health_score.logit_predict('{0,1}', '{0}') AS half, round(health_score.logit_predict('{-1,2}', '{1}')::numeric, 6) AS p;
SELECT health_score.logit_label(1) AS one, health_score.logit_label(0) AS zero;
SELECT error_of($$SELECT health_score.logit_label(0.5)$$);
SELECT health_score.logit_p_value(0) AS p0, round(health_score.logit_p_value(1.959963984540054)::numeric, 6) AS p196;

DELETE FROM health_score.churn_models;
DROP VIEW churn_empty, churn_huge, churn_retained, churn_nan, churn_inf, churn_three, churn_nulls, churn_label2, churn_sep, churn_sep2;
DROP TABLE churn_t, auc_t;
