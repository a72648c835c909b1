-- Churn models on a raw Telco-style table: text columns as categorical features (one 0/1
-- term per level but the reference), a Yes/No label with positive_label, scoring from raw
-- values, and every bad column in one error. Checked against statsmodels' Logit on the same
-- encoding (test/data/telco_churn_expected.csv, written by test/reference/telco_churn.py with
-- the synthetic test/data/telco_churn.csv), and against the extension's own numeric fit on 0/1
-- columns made by hand, which must be the very same fit.
BEGIN;
SELECT plan(55);
\ir ../lib/helpers.sql
-- Serial plans: the two fits compared bit for bit must sum their rows in the same order.
SET LOCAL max_parallel_workers_per_gather = 0;

-- Loaded as the README shows: every column as text, then typed, blank TotalCharges as NULL.
CREATE SCHEMA churn_tap;
CREATE TABLE churn_tap.telco_raw (
    customer_id text, gender text, senior_citizen text, partner text, dependents text, tenure text,
    phone_service text, multiple_lines text, internet_service text, online_security text,
    online_backup text, device_protection text, tech_support text, streaming_tv text,
    streaming_movies text, contract text, paperless_billing text, payment_method text,
    monthly_charges text, total_charges text, churn text);
\copy churn_tap.telco_raw FROM 'test/data/telco_churn.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE churn_tap.telco AS
SELECT customer_id, gender, senior_citizen::int AS senior_citizen, tenure::int AS tenure,
       internet_service, contract, paperless_billing, payment_method,
       monthly_charges::numeric AS monthly_charges,
       nullif(trim(total_charges), '')::numeric AS total_charges, churn
  FROM churn_tap.telco_raw;
SELECT is((SELECT count(*) FROM churn_tap.telco), 2000::bigint, 'the synthetic Telco table loaded');
SELECT is((SELECT count(*) FROM churn_tap.telco WHERE total_charges IS NULL), 22::bigint,
          'blank TotalCharges became NULL (nullif(trim(x), ''''))');

CREATE TEMP TABLE expected(fit text, key text, term text, value text);
\copy expected FROM 'test/data/telco_churn_expected.csv' WITH (FORMAT csv, HEADER true)
CREATE FUNCTION pg_temp.want(f text, k text, t text DEFAULT '') RETURNS text LANGUAGE sql STABLE AS $$
    SELECT value FROM expected WHERE fit = f AND key = k AND coalesce(term, '') = t
$$;
CREATE TEMP TABLE features(f) AS VALUES (ARRAY['tenure', 'monthly_charges', 'total_charges', 'senior_citizen',
    'gender', 'paperless_billing', 'contract', 'payment_method', 'internet_service']);

-- ---- the default encoding: the most frequent level is the reference ----------------------------
CREATE TEMP TABLE m AS
SELECT * FROM health_score.train_churn_model('telco', 'churn_tap.telco', (SELECT f FROM features), 'churn',
                                             positive_label => 'Yes', tol => 1e-12);
SELECT is((SELECT rows_used FROM m), pg_temp.want('default', 'rows')::bigint, 'rows used');
SELECT is((SELECT rows_skipped FROM m), pg_temp.want('default', 'rows_skipped')::bigint,
          'the rows with a blank TotalCharges are skipped and counted');
SELECT is((SELECT positives FROM m), pg_temp.want('default', 'positives')::bigint, 'positives: Churn = ''Yes''');
SELECT is((SELECT label || ' = ' || positive_label FROM m), 'churn = Yes', 'the catalog records the positive label');
SELECT is((SELECT features FROM m),
          (SELECT array_agg(term ORDER BY value::int) FROM expected WHERE fit = 'default' AND key = 'position'),
          'terms: numeric columns as they are, one per level but the reference, named column=level, levels in byte order');
SELECT is((SELECT reference_levels FROM m),
          (SELECT jsonb_object_agg(term, value) FROM expected WHERE fit = 'default' AND key = 'reference'),
          'the reference of each text column is its most frequent level');
SELECT is((SELECT features[7:8] FROM m), '{"contract=One year","contract=Two year"}',
          'contract: Month-to-month is the reference, One year and Two year are terms');
SELECT is((SELECT array_agg(feature_column || coalesce('|' || level, '') ORDER BY position)
             FROM health_score.churn_model_terms WHERE name = 'telco' AND position > 0),
          (SELECT array_agg(c || coalesce('|' || l, '') ORDER BY i)
             FROM m, unnest(m.feature_columns, m.feature_levels) WITH ORDINALITY AS u(c, l, i)),
          'each term''s column and level, in the terms and in the catalog row');
SELECT is((SELECT feature_column || '|' || level FROM health_score.churn_model_terms
            WHERE name = 'telco' AND term = 'payment_method=Mailed check'),
          'payment_method|Mailed check', 'a level term knows its column and level');

CREATE TEMP VIEW cmp AS
SELECT e.fit, t.term, t.coefficient, t.std_error, t.z, t.p_value,
       pg_temp.want(e.fit, 'coefficient', t.term)::float8 AS w_coef,
       pg_temp.want(e.fit, 'std_error', t.term)::float8 AS w_se,
       pg_temp.want(e.fit, 'z', t.term)::float8 AS w_z,
       pg_temp.want(e.fit, 'p_value', t.term)::float8 AS w_p
  FROM (VALUES ('default', 'telco'), ('named', 'telco_named')) AS e(fit, model)
  JOIN health_score.churn_model_terms t ON t.name = e.model;
SELECT is((SELECT count(*) FROM cmp WHERE fit = 'default' AND w_coef IS NOT NULL), 14::bigint,
          'all 14 terms have a statsmodels value');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE fit = 'default' AND NOT pg_temp.near(coefficient, w_coef, 1e-9)),
          NULL, 'coefficients equal statsmodels within 1e-9 relative');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE fit = 'default' AND NOT pg_temp.near(std_error, w_se, 1e-9)),
          NULL, 'standard errors equal statsmodels within 1e-9 relative');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE fit = 'default'
              AND NOT (pg_temp.near(z, w_z, 1e-9) AND pg_temp.near(p_value, w_p, 1e-8))),
          NULL, 'z statistics and p-values equal statsmodels');
-- (statsmodels fits the null model by iterating, the extension writes it in closed form)
SELECT ok(pg_temp.near((SELECT loglik FROM m), pg_temp.want('default', 'loglik')::float8, 1e-12)
          AND pg_temp.near((SELECT null_loglik FROM m), pg_temp.want('default', 'null_loglik')::float8, 1e-9),
          'log-likelihood (1e-12) and null log-likelihood (1e-9) equal statsmodels');
SELECT ok(abs((SELECT auc FROM m) - pg_temp.want('default', 'auc')::float8) < 1e-12,
          'AUC equals scikit-learn''s roc_auc_score');

-- ---- reference levels named by the user ------------------------------------------------------------
CREATE TEMP TABLE named AS
SELECT * FROM health_score.train_churn_model('telco_named', 'churn_tap.telco', (SELECT f FROM features), 'churn',
    positive_label => 'Yes', tol => 1e-12,
    reference_levels => '{"contract": "Two year", "payment_method": "Mailed check", "internet_service": "No"}');
SELECT is((SELECT features FROM named),
          (SELECT array_agg(term ORDER BY value::int) FROM expected WHERE fit = 'named' AND key = 'position'),
          'named references: their levels have no term, the others keep the most frequent');
SELECT is((SELECT reference_levels FROM named),
          (SELECT jsonb_object_agg(term, value) FROM expected WHERE fit = 'named' AND key = 'reference'),
          'the references used are recorded');
SELECT is((SELECT string_agg(term, ', ') FROM cmp WHERE fit = 'named'
              AND NOT (pg_temp.near(coefficient, w_coef, 1e-9) AND pg_temp.near(std_error, w_se, 1e-9))),
          NULL, 'named references: coefficients and standard errors equal statsmodels within 1e-9');
SELECT is((SELECT count(*) FROM cmp WHERE fit = 'named' AND w_coef IS NOT NULL), 14::bigint,
          'named references: all 14 terms have a statsmodels value');
SELECT ok(pg_temp.near((SELECT loglik FROM named), (SELECT loglik FROM m), 1e-12),
          'another reference is the same model: the same log-likelihood');
SELECT ok(pg_temp.near((SELECT coefficients[9] FROM m),
                       -(SELECT coefficients[array_position(features, 'contract=Month-to-month') + 1] FROM named), 1e-9),
          'Two year against Month-to-month is minus Month-to-month against Two year');

-- ---- the same fit on 0/1 columns made by hand --------------------------------------------------------
CREATE TABLE churn_tap.telco_numeric AS
SELECT tenure, monthly_charges, total_charges, senior_citizen,
       (gender = 'Male')::int AS "gender=Male", (paperless_billing = 'No')::int AS "paperless_billing=No",
       (contract = 'One year')::int AS "contract=One year", (contract = 'Two year')::int AS "contract=Two year",
       (payment_method = 'Bank transfer (automatic)')::int AS "payment_method=Bank transfer (automatic)",
       (payment_method = 'Credit card (automatic)')::int AS "payment_method=Credit card (automatic)",
       (payment_method = 'Mailed check')::int AS "payment_method=Mailed check",
       (internet_service = 'DSL')::int AS "internet_service=DSL", (internet_service = 'No')::int AS "internet_service=No",
       churn = 'Yes' AS churned
  FROM churn_tap.telco;
CREATE TEMP TABLE num AS
SELECT * FROM health_score.train_churn_model('telco_numeric', 'churn_tap.telco_numeric',
    (SELECT features FROM m), 'churned', tol => 1e-12);
SELECT is((SELECT features FROM num), (SELECT features FROM m), 'the numeric model has the same terms');
SELECT is((SELECT coefficients FROM num), (SELECT coefficients FROM m),
          'categorical fit = numeric fit on the same 0/1 columns: coefficients to the last bit');
SELECT is((SELECT std_errors || center || scale FROM num), (SELECT std_errors || center || scale FROM m),
          'and standard errors, means and standard deviations');
SELECT is((SELECT ARRAY[loglik, auc, brier, condition_number] FROM num), (SELECT ARRAY[loglik, auc, brier, condition_number] FROM m),
          'and log-likelihood, AUC, Brier score and condition number');
SELECT is((SELECT reference_levels || jsonb_build_object('n', positive_label) FROM num), '{"n": null}',
          'a numeric model has no reference levels and no positive label');

-- ---- scoring from raw values -------------------------------------------------------------------------------
CREATE TEMP TABLE scored AS
SELECT t.customer_id, t.total_charges IS NULL AS skipped,
       health_score.churn_probability_of('telco', to_jsonb(t)) AS p_raw,
       health_score.churn_features('telco', to_jsonb(t)) AS x_raw,
       CASE WHEN n.total_charges IS NOT NULL THEN health_score.churn_probability('telco_numeric',
           ARRAY[n.tenure, n.monthly_charges, n.total_charges, n.senior_citizen, n."gender=Male", n."paperless_billing=No",
                 n."contract=One year", n."contract=Two year", n."payment_method=Bank transfer (automatic)",
                 n."payment_method=Credit card (automatic)", n."payment_method=Mailed check",
                 n."internet_service=DSL", n."internet_service=No"]::float8[]) END AS p_num,
       ARRAY[n.tenure, n.monthly_charges, n.total_charges, n.senior_citizen, n."gender=Male", n."paperless_billing=No",
             n."contract=One year", n."contract=Two year", n."payment_method=Bank transfer (automatic)",
             n."payment_method=Credit card (automatic)", n."payment_method=Mailed check",
             n."internet_service=DSL", n."internet_service=No"]::float8[] AS x_num
  FROM (SELECT row_number() OVER () AS i, * FROM churn_tap.telco) t
  JOIN (SELECT row_number() OVER () AS i, * FROM churn_tap.telco_numeric) n ON n.i = t.i;
SELECT is((SELECT count(*) FROM scored WHERE NOT skipped AND p_raw = p_num), 1978::bigint,
          'churn_probability_of(raw row) = churn_probability of the numeric model on its 0/1 columns, on every row');
SELECT is((SELECT count(*) FROM scored WHERE x_raw IS NOT DISTINCT FROM x_num), 2000::bigint,
          'churn_features gives the hand-made indicators (NULL where the row has a NULL)');
SELECT is((SELECT count(*) FROM scored WHERE skipped AND p_raw IS NULL), 22::bigint,
          'a row with a NULL value gets a NULL probability, as it is skipped in training');
-- Its interval from raw values: the numeric model's interval on its 0/1 columns, on every row
-- (the numeric model's intervals are checked against statsmodels in churn_intervals.sql).
SELECT is((SELECT count(*)
             FROM (SELECT * FROM scored WHERE NOT skipped) s
             JOIN churn_tap.telco t USING (customer_id),
                  health_score.churn_probability_interval_of('telco', to_jsonb(t)) r,
                  health_score.churn_probability_interval('telco_numeric', s.x_num) n
            WHERE r.probability = s.p_raw AND r.low < r.probability AND r.probability < r.high
              AND abs(r.low - n.low) < 1e-12 AND abs(r.high - n.high) < 1e-12 AND r.reason IS NULL),
          1978::bigint, 'churn_probability_interval_of(raw row) = the numeric model''s interval on its 0/1 columns, on every row');
SELECT is((SELECT array_agg(DISTINCT r.reason) FROM scored s JOIN churn_tap.telco t USING (customer_id),
                  health_score.churn_probability_interval_of('telco', to_jsonb(t)) r
            WHERE s.skipped AND r.probability IS NULL AND r.low IS NULL AND r.high IS NULL),
          ARRAY['no probability: total_charges unknown (NULL in row_values)'],
          'a row with a NULL value: no interval, the reason names the term');
SELECT ok(pg_temp.near(health_score.churn_probability_of('telco',
              '{"tenure": 5, "monthly_charges": 80, "total_charges": 400, "senior_citizen": 0, "gender": "Male",
                "paperless_billing": "Yes", "contract": "Two year", "payment_method": "Mailed check",
                "internet_service": "DSL", "customer_id": "ignored", "churn": "No"}'),
              (SELECT 1 / (1 + exp(-(c[1] + 5 * c[2] + 80 * c[3] + 400 * c[4] + c[6] + c[9] + c[12] + c[13])))
                 FROM (SELECT coefficients AS c FROM m) x), 1e-14),
          'a row written by hand: the logistic of the intercept, the numbers and its levels'' coefficients; other keys ignored');
SELECT is(health_score.churn_probability_of('telco',
              '{"tenure": 5, "monthly_charges": 80, "total_charges": 400, "senior_citizen": true, "gender": "Female",
                "paperless_billing": "Yes", "contract": "Month-to-month", "payment_method": "Electronic check",
                "internet_service": "Fiber optic"}'),
          (SELECT health_score.logit_predict(coefficients, '{5,80,400,1,0,0,0,0,0,0,0,0,0}') FROM m),
          'the reference levels: every indicator 0; a boolean as 1');
SELECT is((SELECT array_agg(feature || ' ' || value || ' ' || round(contribution::numeric, 12) ORDER BY rank)
             FROM health_score.churn_drivers_of('telco', (SELECT to_jsonb(t) FROM churn_tap.telco t WHERE customer_id = '0002-SYNTH'))),
          (SELECT array_agg(feature || ' ' || value || ' ' || round(contribution::numeric, 12) ORDER BY rank)
             FROM health_score.churn_drivers('telco_numeric', (SELECT x_num FROM scored WHERE customer_id = '0002-SYNTH'))),
          'churn_drivers_of(raw row): per level, as the numeric model''s drivers of its 0/1 columns');
SELECT is((SELECT array_agg(feature ORDER BY feature) FROM health_score.churn_feature_influence('telco') WHERE feature LIKE 'contract=%'),
          '{"contract=One year","contract=Two year"}', 'churn_feature_influence ranks each level');
SELECT throws_ok($$SELECT health_score.churn_probability_of('telco',
              '{"tenure": 5, "monthly_charges": 80, "total_charges": 400, "senior_citizen": 0, "gender": "Male",
                "paperless_billing": "Yes", "contract": "Three year", "payment_method": "Mailed check",
                "internet_service": "DSL"}')$$, '22023',
          'row_values does not fit model "telco": column "contract" has no level "Three year" in model "telco" (its levels: "Month-to-month" (the reference), "One year", "Two year")',
          'a level unseen in training is an error naming the column, the value and the levels');
SELECT throws_ok($$SELECT health_score.churn_probability_of('telco',
              '{"tenure": "5", "monthly_charges": 80, "gender": ["Male"], "paperless_billing": "Yes", "contract": "Two year",
                "payment_method": "Mailed check", "internet_service": "DSL"}')$$, '22023',
          'row_values does not fit model "telco": column "tenure" must be a number (or boolean), got "5"; column "total_charges" is missing; column "senior_citizen" is missing; column "gender" must be one of its levels, got ["Male"]',
          'every column that does not fit, at once');
SELECT throws_ok($$SELECT health_score.churn_features('telco', '[1, 2]')$$, '22023', NULL, 'row_values must be an object');
SELECT is(health_score.churn_probability_of('telco_numeric', (SELECT to_jsonb(n) FROM churn_tap.telco_numeric n LIMIT 1)),
          (SELECT p_num FROM scored WHERE customer_id = '0001-SYNTH'), 'churn_probability_of works for numeric models too');

-- ---- an enum: its levels in the enum's order ------------------------------------------------------------------
CREATE TYPE churn_tap.contract_kind AS ENUM ('Two year', 'One year', 'Month-to-month');
CREATE VIEW churn_tap.telco_enum AS
SELECT tenure, monthly_charges, contract::churn_tap.contract_kind AS contract, churn FROM churn_tap.telco;
CREATE TEMP TABLE en AS SELECT * FROM health_score.train_churn_model('telco_enum', 'churn_tap.telco_enum',
    ARRAY['tenure', 'monthly_charges', 'contract'], 'churn', positive_label => 'Yes');
SELECT is((SELECT features FROM en), '{tenure,monthly_charges,"contract=Two year","contract=One year"}',
          'an enum''s levels come in its own order');
CREATE TEMP TABLE tx AS SELECT * FROM health_score.train_churn_model('telco_text', 'churn_tap.telco',
    ARRAY['tenure', 'monthly_charges', 'contract'], 'churn', positive_label => 'Yes');
SELECT ok(pg_temp.near((SELECT coefficients[4] FROM en), (SELECT coefficients[5] FROM tx), 1e-9)
          AND pg_temp.near((SELECT coefficients[5] FROM en), (SELECT coefficients[4] FROM tx), 1e-9),
          'and the same coefficients as the text column''s');

-- ---- NULL in a categorical column: the row is skipped -----------------------------------------------------------
CREATE VIEW churn_tap.telco_holes AS
SELECT tenure, CASE WHEN customer_id LIKE '%7-SYNTH' THEN NULL ELSE contract END AS contract, churn FROM churn_tap.telco;
SELECT is((SELECT rows_skipped FROM health_score.train_churn_model('telco_holes', 'churn_tap.telco_holes',
              ARRAY['tenure', 'contract'], 'churn', positive_label => 'Yes')), 200::bigint,
          'a NULL in a text column skips the row, counted as any NULL feature');

-- ---- cross-validation takes the same arguments -------------------------------------------------------------------
SELECT is((SELECT fold_count || ' ' || (SELECT sum(n) FROM unnest(fold_rows) n)
             FROM health_score.churn_cross_validate('churn_tap.telco', (SELECT f FROM features), 'churn',
                                                    positive_label => 'Yes', reference_levels => '{"contract": "Two year"}')),
          '5 1978', 'churn_cross_validate with text columns and a text label');

-- ---- bad columns: all of them in one error -------------------------------------------------------------------------
CREATE TABLE churn_tap.bad AS
SELECT tenure, contract, churn, 'x'::bytea AS blob, now() AS seen, 'same' AS one_value,
       CASE WHEN tenure % 3 = 0 THEN 'maybe' ELSE churn END AS churn3, churn = 'Yes' AS churned
  FROM churn_tap.telco;
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['tenure', 'nope', 'blob', 'seen', 'contract'], 'churn')$$,
                 '42804',
                 '4 problems with the columns of churn_tap.bad: feature "nope" is not a column of churn_tap.bad; feature "blob" must be a numeric, boolean, text or enum column; in churn_tap.bad it is bytea; feature "seen" must be a numeric, boolean, text or enum column; in churn_tap.bad it is timestamp with time zone; label "churn" is text: name the value that means churned, e.g. positive_label => ''Yes''',
                 'every bad column in one error (42804)');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['tenure', 'nope', 'nada'], 'gone')$$,
                 '42703',
                 '3 problems with the columns of churn_tap.bad: feature "nope" is not a column of churn_tap.bad; feature "nada" is not a column of churn_tap.bad; label "gone" is not a column of churn_tap.bad',
                 'columns that do not exist only: 42703');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['tenure'], 'churn')$$,
                 '42804', 'label "churn" is text: name the value that means churned, e.g. positive_label => ''Yes''',
                 'a text label without positive_label says how');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['tenure', 'one_value', 'contract'], 'churn3',
                                                         positive_label => 'yes', reference_levels => '{"contract": "Three year"}')$$,
                 '22023',
                 '3 problems with the columns of churn_tap.bad: feature "one_value" has a single value ("same") over the rows used; reference level "Three year" of feature "contract" does not occur in the rows used (levels: "Month-to-month", "One year", "Two year"); label "churn3" must have two values, it has more: "No", "Yes", "maybe", ...',
                 'every bad value in one error: a single level, an unknown reference, a label of three values');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['tenure'], 'churn', positive_label => 'yes')$$,
                 '22023', 'positive_label "yes" is not a value of label "churn" (values: "No", "Yes")',
                 'positive_label must be one of the label''s two values');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['tenure'], 'churned', positive_label => 'true')$$,
                 '22023', 'positive_label is for a text or enum label; label "churned" is boolean (true or 1 means churned)',
                 'positive_label is refused for a boolean label');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.telco', ARRAY['tenure', 'customer_id'], 'churn', positive_label => 'Yes')$$,
                 '22023', 'feature "customer_id" has more than 100 distinct values: too many for the levels of a category (is it an identifier?)',
                 'an identifier is no category');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['tenure', 'contract'], 'churned',
                                                         reference_levels => '{"tenure": "1", "nope": "x"}')$$,
                 '22023', 'reference_levels names "nope", "tenure", not among the text or enum features',
                 'reference_levels may name text features only');
SELECT throws_ok($$SELECT health_score.train_churn_model('bad', 'churn_tap.bad', ARRAY['contract'], 'churned',
                                                         reference_levels => '{"contract": 1}')$$,
                 '22023', NULL, 'a reference level must be a JSON string');
SELECT is((SELECT count(*) FROM health_score.churn_models WHERE name = 'bad'), 0::bigint, 'nothing of the failed trainings was written');

SELECT diag('max relative error against statsmodels: coefficients '
            || (SELECT max(abs(coefficient - w_coef) / abs(w_coef)) FROM cmp)
            || ', standard errors ' || (SELECT max(abs(std_error - w_se) / abs(w_se)) FROM cmp));

SELECT * FROM finish();
ROLLBACK;
