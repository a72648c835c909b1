-- Churn risk with its uncertainty: the 95 % interval of a churn probability by the delta method
-- on the log-odds, logistic(eta -+ 1.959964 sqrt(u'Vu)).
--   1. The bank churn data against statsmodels (test/data/bank_churn_covariance.csv and
--      bank_churn_intervals.csv, written by test/reference/bank_churn.py): the stored covariance
--      matrix equals statsmodels' Logit cov_params(), and the intervals of about 400 rows under
--      each of two fits (every row; the first 2,500) equal the binomial GLM's
--      get_prediction().conf_int().
--   2. On a small table, the covariance matrix computed here from the fitted coefficients (the
--      inverse of X'WX, in SQL), and the intervals from it.
--   3. Account models: account_churn_risk, the account_churn view, revenue_at_risk and the
--      history carry the bounds; a model without a covariance matrix (trained before 0.2.0)
--      gives NULL bounds, with the reason.
BEGIN;
SELECT plan(45);
\ir ../lib/helpers.sql

-- 1. The bank data against statsmodels ---------------------------------------------------------

CREATE SCHEMA interval_tap;
CREATE TABLE interval_tap.raw (
    row_number int, customer_id bigint, surname text, credit_score int, geography text,
    gender text, age int, tenure int, balance numeric, num_of_products int, has_cr_card int,
    is_active_member int, estimated_salary numeric, exited int);
\copy interval_tap.raw FROM 'test/data/bank_churn.csv' WITH (FORMAT csv, HEADER true)
-- The feature set of the reference script.
CREATE TABLE interval_tap.bank AS
SELECT row_number, credit_score, age, tenure, balance, num_of_products, has_cr_card,
       is_active_member, estimated_salary, geography = 'Germany' AS is_germany,
       geography = 'Spain' AS is_spain, gender = 'Female' AS is_female, exited,
       ARRAY[credit_score, age, tenure, balance, num_of_products, has_cr_card, is_active_member,
             estimated_salary, (geography = 'Germany')::int, (geography = 'Spain')::int,
             (gender = 'Female')::int]::float8[] AS x
  FROM interval_tap.raw;
CREATE VIEW interval_tap.first_2500 AS SELECT * FROM interval_tap.bank WHERE row_number <= 2500;
CREATE TEMP TABLE covariance_want (row_term text, column_term text, value float8);
\copy covariance_want FROM 'test/data/bank_churn_covariance.csv' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE interval_want (fit text, row_number int, probability float8, ci_low float8, ci_high float8);
\copy interval_want FROM 'test/data/bank_churn_intervals.csv' WITH (FORMAT csv, HEADER true)

SELECT lives_ok($$
    SELECT health_score.train_churn_model(f.name, f.source,
        ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
              'is_active_member', 'estimated_salary', 'is_germany', 'is_spain', 'is_female'],
        'exited', tol => 1e-12)
      FROM (VALUES ('all', 'interval_tap.bank'::regclass), ('first_2500', 'interval_tap.first_2500')) f(name, source)$$,
    'two models train on the bank data: every row, and the first 2,500');

-- The covariance matrix, element by element against statsmodels' Logit.
CREATE TEMP VIEW covariance_got AS
SELECT t1.term AS row_term, t2.term AS column_term, m.covariance[(t1.position) * 12 + t2.position + 1] AS value
  FROM health_score.churn_models m
  JOIN health_score.churn_model_terms t1 ON (t1.name, t1.version) = (m.name, m.version)
  JOIN health_score.churn_model_terms t2 ON (t2.name, t2.version) = (m.name, m.version)
 WHERE m.name = 'all';
SELECT is((SELECT array_length(covariance, 1) FROM health_score.churn_models WHERE name = 'all'), 144,
          'churn_models.covariance holds the 12 x 12 matrix, row-major');
SELECT is((SELECT count(*) FROM covariance_got g JOIN covariance_want w USING (row_term, column_term)), 144::bigint,
          'each of its elements has a reference value');
SELECT is((SELECT string_agg(g.row_term || ' x ' || g.column_term, ', ')
             FROM covariance_got g JOIN covariance_want w USING (row_term, column_term)
            WHERE NOT pg_temp.near(g.value, w.value, 1e-7)), NULL,
          'the covariance matrix equals statsmodels'' cov_params() within 1e-7 relative');
SELECT ok((SELECT bool_and(pg_temp.near(m.covariance[(j - 1) * 12 + j], se * se, 1e-14))
             FROM health_score.churn_models m, unnest(m.std_errors) WITH ORDINALITY AS u(se, j)
            WHERE m.name = 'all'),
          'its diagonal is std_errors squared');
SELECT ok((SELECT bool_and(pg_temp.near(m.covariance[i * 12 + j + 1], m.covariance[j * 12 + i + 1], 1e-12))
             FROM health_score.churn_models m, generate_series(0, 11) i, generate_series(0, 11) j
            WHERE m.name = 'all'),
          'and it is symmetric (within rounding, 1e-12)');

-- The intervals of every reference row under both fits.
CREATE TEMP TABLE interval_got AS
SELECT w.fit, w.row_number, w.probability AS w_p, w.ci_low AS w_low, w.ci_high AS w_high,
       c.probability, c.low, c.high, c.reason, health_score.churn_probability(w.fit, b.x) AS point
  FROM interval_want w
  JOIN interval_tap.bank b USING (row_number),
       LATERAL health_score.churn_probability_interval(w.fit, b.x) c;
SELECT is((SELECT count(*) FROM interval_got), (SELECT count(*) FROM interval_want),
          'every reference row is scored');
SELECT ok((SELECT count(*) FROM interval_got WHERE fit = 'all') > 400
          AND (SELECT count(*) FROM interval_got WHERE fit = 'first_2500') > 400,
          'over 400 rows per fit');
SELECT is((SELECT string_agg(fit || ' ' || row_number, ', ') FROM interval_got
            WHERE NOT (pg_temp.near(probability, w_p, 1e-9))), NULL,
          'probabilities equal statsmodels'' within 1e-9 relative');
SELECT is((SELECT string_agg(fit || ' ' || row_number, ', ') FROM interval_got
            WHERE NOT (pg_temp.near(low, w_low, 1e-9))), NULL,
          'low ends equal statsmodels'' get_prediction().conf_int() within 1e-9 relative');
SELECT is((SELECT string_agg(fit || ' ' || row_number, ', ') FROM interval_got
            WHERE NOT (pg_temp.near(high, w_high, 1e-9))), NULL,
          'high ends equal statsmodels'' get_prediction().conf_int() within 1e-9 relative');
SELECT ok((SELECT max(greatest(abs(low - w_low) / w_low, abs(high - w_high) / w_high)) FROM interval_got) < 1e-10,
          'and in fact within 1e-10');
SELECT is((SELECT count(*) FROM interval_got WHERE probability IS DISTINCT FROM point), 0::bigint,
          'the point estimate is churn_probability''s, to the bit');
SELECT is((SELECT count(*) FROM interval_got WHERE NOT (0 < low AND low < probability AND probability < high AND high < 1)), 0::bigint,
          '0 < low < probability < high < 1 on every row');
SELECT is((SELECT count(*) FROM interval_got WHERE reason IS NOT NULL), 0::bigint, 'no reason when the bounds are known');

-- The same interval from the catalog's coefficients and covariance, here.
SELECT is((SELECT count(*) FROM interval_got g
             JOIN interval_tap.bank b USING (row_number)
             JOIN health_score.churn_models m ON m.name = g.fit AND m.active,
                  LATERAL (SELECT sum(m.coefficients[i] * u.ui) AS eta,
                                  sqrt((SELECT sum(m.covariance[(i1 - 1) * 12 + i2] * v1.ui * v2.ui)
                                          FROM unnest('{1}'::float8[] || b.x) WITH ORDINALITY AS v1(ui, i1),
                                               unnest('{1}'::float8[] || b.x) WITH ORDINALITY AS v2(ui, i2))) AS se
                             FROM unnest('{1}'::float8[] || b.x) WITH ORDINALITY AS u(ui, i)) e
            WHERE NOT pg_temp.near(g.low, 1 / (1 + exp(-(e.eta - 1.959963984540054 * e.se))), 1e-12)
               OR NOT pg_temp.near(g.high, 1 / (1 + exp(-(e.eta + 1.959963984540054 * e.se))), 1e-12)), 0::bigint,
          'low and high are logistic(eta -+ 1.959964 sqrt(u''Vu)) of the stored coefficients and covariance');

-- Less data, wider intervals: a quarter of the rows, about twice as wide.
CREATE TEMP VIEW widths AS
SELECT a.row_number, a.high - a.low AS w_all, q.high - q.low AS w_quarter
  FROM interval_got a JOIN interval_got q USING (row_number)
 WHERE a.fit = 'all' AND q.fit = 'first_2500';
SELECT is((SELECT count(*) FROM widths WHERE w_all >= w_quarter), 0::bigint,
          'every interval is narrower under the model fitted on four times the rows');
SELECT ok((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY w_quarter / w_all) FROM widths) BETWEEN 1.6 AND 2.5,
          'by a median factor near 2 = sqrt(10,000 / 2,500)');

-- A model trained before 0.2.0 has no covariance matrix: NULL bounds, with the reason.
UPDATE health_score.churn_models SET covariance = NULL WHERE name = 'first_2500';
SELECT results_eq(
    $$SELECT probability = health_score.churn_probability('first_2500', '{600,40,5,0,2,1,1,50000,0,0,1}'), low, high, reason
        FROM health_score.churn_probability_interval('first_2500', '{600,40,5,0,2,1,1,50000,0,0,1}')$$,
    $$VALUES (true, NULL::float8, NULL::float8,
              'churn model "first_2500" v1 has no covariance matrix: it was trained before health_score 0.2.0, which stores it; train it again for intervals')$$,
    'a model without a covariance matrix: the probability, NULL bounds and the reason');
SELECT ok((SELECT c IS NULL FROM health_score.churn_probability_interval('all', NULL) c)
          AND (SELECT c IS NULL FROM health_score.churn_probability_interval(NULL, '{1}') c),
          'strict: NULL features or model give NULL');
SELECT throws_ok($$SELECT * FROM health_score.churn_probability_interval('none', '{1}')$$, '42704',
                 'churn model "none" does not exist', 'an unknown model is an error naming it');
SELECT throws_ok($$SELECT * FROM health_score.churn_probability_interval('all', '{1, 2}')$$, '2202E',
                 'features must have 11 elements, got 2', 'features of the wrong length are an error');
SELECT throws_ok($$SELECT * FROM health_score.churn_probability_interval('all', '{600,40,5,0,2,1,1,50000,0,0,NaN}')$$, '22023',
                 'features[11] must be a finite number, got NaN', 'a NaN feature is an error naming it');

-- The kernel on its own.
SELECT is(health_score.logit_predict_interval('{0, 1}', '{0.25, 0, 0, 0.25}', '{0}'),
          ARRAY[0.5, 1 / (1 + exp(1.959963984540054::float8 * 0.5)), 1 / (1 + exp(-(1.959963984540054::float8 * 0.5)))],
          'logit_predict_interval by hand: eta 0, se 0.5');
SELECT throws_ok($$SELECT health_score.logit_predict_interval('{0, 1}', '{1, 0, 0}', '{0}')$$, '2202E',
                 'covariance must have 4 elements, got 3', 'a covariance of the wrong size is an error');
SELECT throws_ok($$SELECT health_score.logit_predict_interval('{0, 1}', '{{1, 0}, {0, 1}}', '{0}')$$, '2202E',
                 'covariance must be a one-dimensional array', 'a 2-D covariance is refused: it is stored row-major');
SELECT throws_ok($$SELECT health_score.logit_predict_interval('{0, 1}', '{1, 0, 0, Infinity}', '{0}')$$, '22023',
                 'covariance[4] must be a finite number, got Infinity', 'a non-finite covariance is an error');
SELECT throws_ok($$SELECT health_score.logit_predict_interval('{0, 1}', '{1, 0, 0, -2}', '{1}')$$, '22023',
                 'covariance is not positive semi-definite: the variance of the log-odds at these features is -1',
                 'a covariance that gives a negative variance is an error');
SELECT throws_ok($$SELECT health_score.logit_predict_interval('{0, 1}', '{1e300, 0, 0, 1e300}', '{1e10}')$$, '22003',
                 'the variance of the log-odds is out of range for float8', 'an overflowing variance is an error');

-- 2. The covariance matrix computed here, on a small table ------------------------------------

CREATE TABLE interval_tap.small AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x1, ((i * 53) % 19) / 3.0::float8 AS x2,
       ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END AS churned
  FROM generate_series(1, 200) i;
SELECT lives_ok($$SELECT health_score.train_churn_model('small', 'interval_tap.small', ARRAY['x1', 'x2'], 'churned')$$,
                'a model trains on the small table');
-- The information matrix X'WX at the fitted coefficients (original scale, intercept first) and
-- its inverse by cofactors.
CREATE TEMP TABLE small_v AS
WITH m AS (SELECT coefficients AS b FROM health_score.churn_models WHERE name = 'small'),
w AS (SELECT s.x1, s.x2, p * (1 - p) AS w
        FROM interval_tap.small s, m, LATERAL (SELECT 1 / (1 + exp(-(m.b[1] + m.b[2] * s.x1 + m.b[3] * s.x2))) AS p) q),
h AS (SELECT sum(w) AS h00, sum(w * x1) AS h01, sum(w * x2) AS h02,
             sum(w * x1 * x1) AS h11, sum(w * x1 * x2) AS h12, sum(w * x2 * x2) AS h22 FROM w),
c AS (SELECT h.*, h22 * h11 - h12 * h12 AS c00, h02 * h12 - h22 * h01 AS c01, h01 * h12 - h02 * h11 AS c02,
             h00 * h22 - h02 * h02 AS c11, h01 * h02 - h00 * h12 AS c12, h00 * h11 - h01 * h01 AS c22 FROM h),
d AS (SELECT c.*, h00 * c00 + h01 * c01 + h02 * c02 AS det FROM c)
SELECT ARRAY[c00 / det, c01 / det, c02 / det, c01 / det, c11 / det, c12 / det, c02 / det, c12 / det, c22 / det] AS v
  FROM d;
SELECT is((SELECT count(*) FROM health_score.churn_models m, small_v s,
                  unnest(m.covariance, s.v) AS u(got, want)
            WHERE m.name = 'small' AND NOT pg_temp.near(got, want, 1e-9)), 0::bigint,
          'the stored covariance is the inverse of X''WX computed here (3 x 3, within 1e-9)');
CREATE TEMP TABLE small_points AS
SELECT x1, x2 FROM (VALUES (0.0, 0.0), (2.2, 3.0), (4.4, 6.0), (10.0, -5.0)) v(x1, x2);
SELECT is((SELECT count(*) FROM small_points p, small_v s,
                  health_score.churn_models m,
                  LATERAL health_score.churn_probability_interval('small', ARRAY[p.x1, p.x2]) c,
                  LATERAL (SELECT m.coefficients[1] + m.coefficients[2] * p.x1 + m.coefficients[3] * p.x2 AS eta,
                                  sqrt(s.v[1] + 2 * s.v[2] * p.x1 + 2 * s.v[3] * p.x2 + s.v[5] * p.x1 * p.x1
                                       + 2 * s.v[6] * p.x1 * p.x2 + s.v[9] * p.x2 * p.x2) AS se) e
            WHERE m.name = 'small'
              AND pg_temp.near(c.low, 1 / (1 + exp(-(e.eta - 1.959964 * e.se))), 1e-6)
              AND pg_temp.near(c.high, 1 / (1 + exp(-(e.eta + 1.959964 * e.se))), 1e-6)), 4::bigint,
          'churn_probability_interval is logistic(eta -+ 1.959964 se) with se from that matrix, at four points');
CREATE FUNCTION pg_temp.logit(p float8) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$ SELECT ln(p / (1 - p)) $$;
SELECT ok((SELECT pg_temp.logit(c2.high) - pg_temp.logit(c2.low) < pg_temp.logit(c4.high) - pg_temp.logit(c4.low)
             FROM health_score.churn_probability_interval('small', '{2.2, 3.0}') c2,
                  health_score.churn_probability_interval('small', '{10, -5}') c4),
          'on the log-odds the interval is wider far from the data than at its centre');

-- 3. Account models, their views and the history -------------------------------------------

CREATE FUNCTION pg_temp.u(key text) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT (abs(hashtext(key)::bigint) % 100000) / 100000.0::float8
$$;
CREATE TEMP TABLE hidden AS
SELECT i, 'v-' || lpad(i::text, 3, '0') AS account_id, pg_temp.u('h' || i) AS h FROM generate_series(1, 300) i;
INSERT INTO health_score.accounts (account_id, segment, mrr, started_on, churned_on)
SELECT account_id, CASE WHEN i % 3 = 0 THEN 'enterprise' ELSE 'smb' END, 100 + i % 5 * 20, '2024-01-01',
       CASE WHEN pg_temp.u('c' || i) < 0.7 - 0.6 * h THEN date '2025-04-01' + (i % 80) END
  FROM hidden;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT account_id, 'nps', d, round(10 * (0.6 * h + 0.4 * pg_temp.u('n' || i))) FROM hidden, (VALUES (timestamptz '2025-03-01'), ('2025-06-25')) v(d)
UNION ALL
SELECT account_id, 'outcome_achievement', d, round(100 * (0.5 * h + 0.5 * pg_temp.u('o' || i))) FROM hidden, (VALUES (timestamptz '2025-03-01'), ('2025-06-25')) v(d)
UNION ALL
SELECT account_id, 'seat_penetration', d, round(100 * (0.5 * h + 0.5 * pg_temp.u('s' || i))) FROM hidden, (VALUES (timestamptz '2025-03-01'), ('2025-06-25')) v(d);
UPDATE health_score.settings SET min_coverage = 0.1, data_through = '2025-06-30';
SET LOCAL client_min_messages = warning;   -- the NOTICE naming the dashboards' model
SELECT lives_ok($$SELECT health_score.train_account_churn_model('accounts', '2025-03-31', '90 days',
                    ARRAY['nps', 'outcome_achievement', 'seat_penetration'])$$, 'an account model trains');

CREATE TEMP TABLE risk AS SELECT * FROM health_score.account_churn_risk('2025-07-01');
SELECT ok((SELECT count(churn_risk) > 100 FROM risk), 'account_churn_risk scores the live accounts');
SELECT is((SELECT count(*) FROM risk r
             JOIN health_score.churn_models m ON m.name = r.model AND m.version = r.model_version,
                  LATERAL (SELECT array_agg(ms.sub_score ORDER BY u.i) AS x
                             FROM unnest(m.features) WITH ORDINALITY AS u(metric, i)
                             JOIN health_score.metric_scores('2025-07-01') ms
                               ON ms.account_id = r.account_id AND ms.metric = u.metric) f,
                  LATERAL health_score.churn_probability_interval(r.model, f.x) c
            WHERE r.churn_risk IS NOT NULL
              AND NOT (r.churn_risk = 100 * c.probability AND r.churn_risk_low = 100 * c.low
                       AND r.churn_risk_high = 100 * c.high)), 0::bigint,
          'each account''s churn_risk, churn_risk_low and churn_risk_high are 100 x churn_probability_interval of its sub-scores');
SELECT is((SELECT count(*) FROM risk WHERE churn_risk IS NOT NULL
             AND NOT (churn_risk_low < churn_risk AND churn_risk < churn_risk_high)), 0::bigint,
          'the bounds bracket each known risk');
SELECT is((SELECT count(*) FROM risk WHERE churn_risk IS NULL AND (churn_risk_low IS NOT NULL OR churn_risk_high IS NOT NULL)), 0::bigint,
          'and are NULL when the risk is');

SELECT set_config('health_score.as_of', '2025-07-01', true);
SELECT results_eq(
    $$SELECT account_id, churn_risk, churn_risk_low, churn_risk_high, revenue_at_risk_low, revenue_at_risk_high
        FROM health_score.account_churn ORDER BY account_id$$,
    $$SELECT r.account_id, round(r.churn_risk::numeric, 2), round(r.churn_risk_low::numeric, 2),
             round(r.churn_risk_high::numeric, 2), round((a.mrr::float8 * r.churn_risk_low / 100)::numeric, 2),
             round((a.mrr::float8 * r.churn_risk_high / 100)::numeric, 2)
        FROM risk r JOIN health_score.accounts a USING (account_id) ORDER BY r.account_id$$,
    'account_churn shows the bounds and MRR x each bound (2 decimals)');
SELECT results_eq(
    $$SELECT grouping_by, group_value, round(revenue_at_risk_low::numeric, 6), round(revenue_at_risk_high::numeric, 6)
        FROM health_score.revenue_at_risk('2025-07-01') WHERE grouping_by IN ('all', 'segment') ORDER BY 1, 2$$,
    $$SELECT 'all', NULL::text, round(sum(a.mrr::float8 * r.churn_risk_low / 100)::numeric, 6),
             round(sum(a.mrr::float8 * r.churn_risk_high / 100)::numeric, 6)
        FROM risk r JOIN health_score.accounts a USING (account_id)
      UNION ALL
      SELECT 'segment', a.segment, round(sum(a.mrr::float8 * r.churn_risk_low / 100)::numeric, 6),
             round(sum(a.mrr::float8 * r.churn_risk_high / 100)::numeric, 6)
        FROM risk r JOIN health_score.accounts a USING (account_id) GROUP BY a.segment ORDER BY 1, 2$$,
    'revenue_at_risk sums MRR x each account''s bounds, in total and per segment (to 1e-6)');
SELECT ok((SELECT bool_and(revenue_at_risk_low < revenue_at_risk AND revenue_at_risk < revenue_at_risk_high)
             FROM health_score.revenue_at_risk WHERE accounts_with_risk > 0),
          'the range brackets the revenue at risk in every group');

SELECT is(health_score.snapshot('2025-07-01'), 300 - (SELECT count(*)::int FROM health_score.accounts WHERE churned_on <= '2025-07-01'),
          'a snapshot after the model''s window');
SELECT results_eq(
    $$SELECT account_id, churn_risk, churn_risk_low, churn_risk_high FROM health_score.score_history
       WHERE as_of = '2025-07-01' ORDER BY account_id$$,
    $$SELECT account_id, churn_risk, churn_risk_low, churn_risk_high FROM risk ORDER BY account_id$$,
    'score_history records each account''s bounds with its risk');

-- The model without its covariance matrix, as one trained before 0.2.0.
UPDATE health_score.churn_models SET covariance = NULL WHERE name = 'accounts';
SELECT is((SELECT count(churn_risk)::int || ' ' || count(churn_risk_low) || ' ' || count(churn_risk_high)
             FROM health_score.account_churn_risk('2025-07-01')),
          (SELECT count(churn_risk)::int || ' 0 0' FROM risk),
          'without a covariance matrix the risks stay and the bounds are NULL');
SELECT is((SELECT count(*) FROM health_score.revenue_at_risk
            WHERE revenue_at_risk IS NOT NULL AND (revenue_at_risk_low IS NOT NULL OR revenue_at_risk_high IS NOT NULL)), 0::bigint,
          'and so is the range of the revenue at risk');

SELECT * FROM finish();
ROLLBACK;
