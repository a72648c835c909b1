-- The churn model on the bank churn data against statsmodels' Logit and scikit-learn's
-- roc_auc_score (test/data/bank_churn_expected.csv, written by test/reference/bank_churn.py),
-- the auc aggregate against an independent rank-sum, and serial against parallel fits.
BEGIN;
SELECT plan(40);
\ir ../lib/helpers.sql

CREATE SCHEMA churn_tap;
CREATE TABLE churn_tap.raw (
    row_number int, customer_id bigint, surname text, credit_score int, geography text,
    gender text, age int, tenure int, balance numeric, num_of_products int, has_cr_card int,
    is_active_member int, estimated_salary numeric, exited int);
\copy churn_tap.raw FROM 'test/data/bank_churn.csv' WITH (FORMAT csv, HEADER true)
-- The feature set of the reference script, as columns.
CREATE TABLE churn_tap.bank AS
SELECT customer_id, credit_score, age, tenure, balance, num_of_products, has_cr_card,
       is_active_member, estimated_salary, geography = 'Germany' AS is_germany,
       geography = 'Spain' AS is_spain, gender = 'Female' AS is_female, exited
  FROM churn_tap.raw;
ANALYZE churn_tap.bank;
CREATE TEMP TABLE expected(key text, term text, value text);
\copy expected FROM 'test/data/bank_churn_expected.csv' WITH (FORMAT csv, HEADER true)
CREATE FUNCTION pg_temp.want(k text, t text DEFAULT '') RETURNS float8 LANGUAGE sql STABLE AS $$
    SELECT value::float8 FROM expected WHERE key = k AND coalesce(term, '') = t
$$;

SELECT is((SELECT count(*) FROM churn_tap.raw), 10000::bigint, 'the bank churn data loaded');

CREATE TEMP TABLE m AS
SELECT * FROM health_score.train_churn_model('bank', 'churn_tap.bank',
    ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
          'is_active_member', 'estimated_salary', 'is_germany', 'is_spain', 'is_female'],
    'exited', tol => 1e-12);

SELECT is((SELECT version FROM m), 1, 'the first training is version 1');
SELECT is((SELECT rows_used FROM m), pg_temp.want('rows')::bigint, 'rows used');
SELECT is((SELECT positives FROM m), pg_temp.want('positives')::bigint, 'positives');
SELECT is((SELECT rows_skipped FROM m), 0::bigint, 'no row skipped');

-- Terms against statsmodels, 1e-6 relative; the failing terms are listed.
CREATE TEMP VIEW cmp AS
SELECT t.term, t.coefficient, t.std_error, t.z, t.p_value,
       pg_temp.want('coefficient', t.term) AS w_coef, pg_temp.want('std_error', t.term) AS w_se,
       pg_temp.want('z', t.term) AS w_z, pg_temp.want('p_value', t.term) AS w_p
  FROM health_score.churn_model_terms t WHERE t.name = 'bank' AND t.version = 1;
SELECT is((SELECT count(*) FROM cmp WHERE w_coef IS NOT NULL), 12::bigint, 'all 12 terms have a reference value');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE NOT pg_temp.near(coefficient, w_coef, 1e-6)), NULL,
          'coefficients equal statsmodels within 1e-6 relative');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE NOT pg_temp.near(std_error, w_se, 1e-6)), NULL,
          'standard errors equal statsmodels within 1e-6 relative');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE NOT pg_temp.near(z, w_z, 1e-6)), NULL,
          'z statistics equal statsmodels within 1e-6 relative');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE NOT pg_temp.near(p_value, w_p, 1e-6)), NULL,
          'p-values equal statsmodels within 1e-6 relative (down to 1e-175)');
SELECT ok((SELECT max(abs(coefficient - w_coef) / abs(w_coef)) FROM cmp) < 1e-8,
          'coefficients agree far tighter than required (1e-8)');
-- the catalog arrays hold the same numbers as the terms
SELECT is((SELECT coefficients FROM m),
          (SELECT array_agg(coefficient ORDER BY position) FROM health_score.churn_model_terms WHERE name = 'bank'),
          'catalog coefficients array = terms');
SELECT ok(pg_temp.near((SELECT loglik FROM m), pg_temp.want('loglik'), 1e-9), 'log-likelihood equals statsmodels');
SELECT ok(pg_temp.near((SELECT null_loglik FROM m), pg_temp.want('null_loglik'), 1e-9), 'null log-likelihood equals statsmodels');
SELECT ok(pg_temp.near((SELECT pseudo_r2 FROM m), pg_temp.want('pseudo_r2'), 1e-8), 'pseudo R-squared equals statsmodels');
SELECT ok(pg_temp.near((SELECT null_deviance FROM m), -2 * pg_temp.want('null_loglik'), 1e-9), 'null deviance = -2 null loglik');
SELECT ok(abs((SELECT auc FROM m) - pg_temp.want('auc')) < 1e-9, 'AUC equals scikit-learn''s roc_auc_score within 1e-9');
SELECT ok(pg_temp.near((SELECT brier FROM m), pg_temp.want('brier'), 1e-8), 'Brier score equals the reference');
SELECT ok((SELECT auc_ci_low < auc AND auc < auc_ci_high AND auc_ci_high - auc_ci_low BETWEEN 0.01 AND 0.05 FROM m),
          'the AUC interval brackets the AUC');
-- Hanley-McNeil by hand for this AUC, n1 = 2037, n0 = 7963
SELECT ok(pg_temp.near((SELECT auc_std_error FROM m),
          (SELECT sqrt((a * (1 - a) + 2036 * (a / (2 - a) - a ^ 2) + 7962 * (2 * a ^ 2 / (1 + a) - a ^ 2)) / (2037.0 * 7963))
             FROM (SELECT auc AS a FROM m) x), 1e-12), 'AUC standard error is Hanley-McNeil''s');
SELECT is((SELECT sum(rows)::bigint FROM health_score.churn_model_calibration WHERE name = 'bank'), 10000::bigint,
          'calibration deciles hold every row');
SELECT ok((SELECT bool_and(abs(mean_predicted - observed_rate) < 0.1) FROM health_score.churn_model_calibration WHERE name = 'bank'),
          'calibration: each decile''s predicted and observed churn within 10 points');
SELECT ok(pg_temp.near((SELECT condition_number FROM m), pg_temp.want('condition_number'), 1e-9),
          'condition number equals numpy''s eigenvalue ratio of the standardised information matrix');

-- The auc aggregate against scikit-learn on the 0-100 grid and against a rank-sum in SQL.
SELECT ok(abs((SELECT health_score.auc(age, exited = 1) FROM churn_tap.bank) - pg_temp.want('auc_age')) < 1e-12,
          'auc(age) equals scikit-learn');
SELECT ok(abs((SELECT health_score.auc(credit_score / 10.0, exited = 1) FROM churn_tap.bank)
              - pg_temp.want('auc_credit_score_tenth')) < 1e-12, 'auc(credit_score / 10) equals scikit-learn');
CREATE TEMP TABLE scored AS
SELECT round((100 * health_score.logit_predict((SELECT coefficients FROM m),
            ARRAY[credit_score, age, tenure, balance, num_of_products, has_cr_card, is_active_member,
                  estimated_salary, is_germany::int, is_spain::int, is_female::int]::float8[]))::numeric, 2)::float8 AS risk,
       exited = 1 AS churned
  FROM churn_tap.bank;
SELECT ok(abs((SELECT health_score.auc(risk, churned) FROM scored)
              - (SELECT (sum(r) FILTER (WHERE churned) - 2037 * 2038 / 2.0) / (2037.0 * 7963)
                   FROM (SELECT churned, avg(rn) OVER (PARTITION BY risk) AS r
                           FROM (SELECT risk, churned, row_number() OVER (ORDER BY risk) AS rn FROM scored) a) b)) < 1e-12,
          'auc on two-decimal risk % equals a rank-sum computed in SQL');
SELECT ok(abs((SELECT health_score.auc_health(100 - risk, churned) FROM scored)
              - (SELECT health_score.auc(risk, churned) FROM scored)) < 1e-12,
          'auc_health(100 - risk) = auc(risk)');

-- A ridge fit checked by its optimality conditions, computed here in SQL: on the standardised
-- features z, sum over rows of (y - p) z_j = l2 * beta_j for every feature, and sum (y - p) = 0.
CREATE TEMP TABLE ridge AS SELECT * FROM health_score.train_churn_model('bank_ridge', 'churn_tap.bank',
    ARRAY['credit_score', 'age', 'balance', 'is_active_member', 'is_germany'], 'exited', l2 => 50);
CREATE TEMP TABLE kkt AS
SELECT u.j, sum(((b.exited = 1)::int - b.p) * (u.x - r.center[u.j]) / r.scale[u.j]) AS gradient,
       50 * (SELECT standardized_coefficient FROM health_score.churn_model_terms
              WHERE name = 'bank_ridge' AND position = u.j) AS penalty,
       sum((b.exited = 1)::int - b.p) AS intercept_gradient
  FROM (SELECT *, health_score.logit_predict((SELECT coefficients FROM ridge),
                      ARRAY[credit_score, age, balance, is_active_member, is_germany::int]::float8[]) AS p
          FROM churn_tap.bank) b
 CROSS JOIN ridge r
 CROSS JOIN LATERAL unnest(ARRAY[b.credit_score, b.age, b.balance, b.is_active_member, b.is_germany::int]::float8[])
            WITH ORDINALITY AS u(x, j)
 GROUP BY u.j;
SELECT ok((SELECT bool_and(abs(gradient - penalty) < 1e-6 * greatest(1, abs(penalty))) FROM kkt),
          'ridge: the gradient on each standardised feature equals l2 x its coefficient');
SELECT ok((SELECT bool_and(abs(intercept_gradient) < 1e-6) AND bool_and(abs(penalty) > 0.1) FROM kkt),
          'ridge: the intercept is unpenalised and the penalty is not negligible');

-- 5-fold cross-validation: the published figure for logistic regression on this table is about 0.765.
CREATE TEMP TABLE cv AS SELECT * FROM health_score.churn_cross_validate('churn_tap.bank',
    ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
          'is_active_member', 'estimated_salary', 'is_germany', 'is_spain', 'is_female'], 'exited');
SELECT ok((SELECT auc_mean BETWEEN 0.75 AND 0.78 AND auc_sd < 0.03 FROM cv), 'cross-validated AUC near the published 0.765');
SELECT is((SELECT (SELECT sum(n) FROM unnest(fold_rows) n) FROM cv), 10000::numeric, 'the folds partition the rows');

-- Serial and parallel fits agree (a regular table: temporary ones are never scanned in parallel).
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS SELECT * FROM health_score.train_churn_model('bank_serial', 'churn_tap.bank',
    ARRAY['age', 'balance', 'is_active_member', 'is_germany', 'is_female'], 'exited');
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
CREATE TEMP TABLE step_plan AS SELECT pg_temp.explain_of($$
    CREATE TEMP TABLE par_state AS
    SELECT health_score.logit_step(ARRAY[age, balance, is_active_member]::float8[], exited = 1,
                                   '{-1.4,0.5,0.2,-0.5}', '{38.9,76485.9,0.515}', '{10.5,62394.3,0.5}') AS st
      FROM churn_tap.bank$$) AS plan;
SELECT matches(plan, 'Partial Aggregate', 'logit_step runs as a partial aggregate') FROM step_plan;
SELECT matches(plan, 'Workers Launched: [1-9]', 'parallel workers really ran') FROM step_plan;
CREATE TEMP TABLE par AS SELECT * FROM health_score.train_churn_model('bank_parallel', 'churn_tap.bank',
    ARRAY['age', 'balance', 'is_active_member', 'is_germany', 'is_female'], 'exited');
RESET max_parallel_workers_per_gather;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT ok((SELECT bool_and(pg_temp.near(a, b, 1e-10)) FROM unnest(
              (SELECT st FROM par_state),
              (SELECT health_score.logit_step(ARRAY[age, balance, is_active_member]::float8[], exited = 1,
                                   '{-1.4,0.5,0.2,-0.5}', '{38.9,76485.9,0.515}', '{10.5,62394.3,0.5}') FROM churn_tap.bank)) u(a, b)),
          'parallel and serial logit_step states are equal (1e-10 relative)');
SELECT ok((SELECT bool_and(pg_temp.near(a, b, 1e-10)) FROM unnest((SELECT coefficients FROM serial), (SELECT coefficients FROM par)) u(a, b)),
          'parallel fit gives the serial coefficients');
SELECT ok((SELECT bool_and(pg_temp.near(a, b, 1e-10)) FROM unnest((SELECT std_errors FROM serial), (SELECT std_errors FROM par)) u(a, b)),
          'parallel fit gives the serial standard errors');

SELECT diag('max relative error: coefficients ' || (SELECT max(abs(coefficient - w_coef) / abs(w_coef)) FROM cmp)
            || ', standard errors ' || (SELECT max(abs(std_error - w_se) / abs(w_se)) FROM cmp)
            || ', p-values ' || (SELECT max(abs(p_value - w_p) / abs(w_p)) FROM cmp)
            || '; AUC difference ' || (SELECT abs(auc - pg_temp.want('auc')) FROM m)
            || '; CV AUC ' || (SELECT round(auc_mean::numeric, 4) || ' +- ' || round(auc_sd::numeric, 4) FROM cv)
            || '; iterations ' || (SELECT iterations FROM m) || '; condition ' || (SELECT condition_number FROM m));
-- auc in a forced-parallel plan, and as a window function over frames
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
CREATE TEMP TABLE auc_plan AS SELECT pg_temp.explain_of($$
    CREATE TEMP TABLE auc_par AS SELECT health_score.auc(age, exited = 1) AS a,
           health_score.auc_health(100 - age, exited = 1) AS h FROM churn_tap.bank$$) AS plan;
SELECT matches(plan, 'Workers Launched: [1-9](.|\n)*Partial Aggregate', 'auc runs as a partial aggregate in workers') FROM auc_plan;
SELECT ok((SELECT abs(a - pg_temp.want('auc_age')) < 1e-12 AND abs(h - pg_temp.want('auc_age')) < 1e-12 FROM auc_par),
          'the parallel auc equals scikit-learn');
SELECT is((SELECT count(*) FROM (
             SELECT customer_id, health_score.auc(age, exited = 1) OVER (ORDER BY customer_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
               FROM churn_tap.bank) w
             WHERE customer_id IN (SELECT customer_id FROM churn_tap.bank ORDER BY customer_id LIMIT 1 OFFSET 4999)
               AND abs(running - (SELECT health_score.auc(age, exited = 1) FROM (SELECT * FROM churn_tap.bank ORDER BY customer_id LIMIT 5000) f)) < 1e-12),
          1::bigint, 'as a window function, the running auc at row 5000 equals the auc of the first 5000 rows');
-- An expression is a feature as a named column of a view (as the README shows): the view trains
-- as a table holding the same values does (within 1e-9: the rows may be summed in another order).
CREATE VIEW churn_tap.shaped AS SELECT *, ln(1 + balance) AS log_balance, age * age AS age_squared FROM churn_tap.bank;
CREATE TABLE churn_tap.shaped_copy AS SELECT * FROM churn_tap.shaped;
CREATE TEMP TABLE shaped AS
SELECT v.coefficients || v.std_errors AS from_view, t.coefficients || t.std_errors AS from_table
  FROM health_score.train_churn_model('shaped_view', 'churn_tap.shaped',
           ARRAY['age', 'age_squared', 'log_balance', 'is_active_member', 'is_germany'], 'exited') v,
       health_score.train_churn_model('shaped_table', 'churn_tap.shaped_copy',
           ARRAY['age', 'age_squared', 'log_balance', 'is_active_member', 'is_germany'], 'exited') t;
SELECT is((SELECT count(*) FROM shaped, unnest(from_view, from_table) u(a, b)
            WHERE abs(a - b) > 1e-9 * greatest(abs(b), 1)), 0::bigint,
          'a view of expressions trains as a table of their values: coefficients and standard errors');
SELECT * FROM finish();
ROLLBACK;
