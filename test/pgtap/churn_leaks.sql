-- Account churn models without leaks, on the demo book (200 accounts, observations through
-- 2024-12-30, read on 2024-12-31):
--   1. the churn window as_of + horizon must be over in the data (data_through(): the setting,
--      else the latest observation of the table and the feeds), not only on the calendar: a
--      window that ends after the last day of data is refused;
--   2. history records a model's risk only from the day its window ended: a backfill of the
--      days before gets NULL with the reason, the days after get account_churn_risk;
--   3. the views use the model settings.churn_model names: the first one trained, until the
--      setting names another; training another model does not switch them.
--
-- The demo generator commits a transaction of its own, so the book goes into a database of its
-- own, dropped at the end; the tests themselves run in one transaction, rolled back.
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS hs_churn_leaks;
CREATE DATABASE hs_churn_leaks;
\c hs_churn_leaks
SET client_min_messages = warning;
CREATE EXTENSION pgtap;
CREATE EXTENSION health_score;
\set accounts 200
\set end_date 2024-12-31
\o /dev/null
\ir ../../examples/demo/generate.sql
\o

BEGIN;
SELECT plan(42);
\ir ../lib/helpers.sql
SET LOCAL timezone = 'UTC';
-- The views read the book on the day after its last observations.
SELECT set_config('health_score.as_of', '2024-12-31', true) IS NOT NULL AS as_of_set \gset

CREATE TEMP TABLE before_training AS SELECT health_score.config_version() AS v;

-- ==== 3. the model the views use =================================================================
-- "current" is trained first, "challenger" after it: both in this one transaction, so they
-- share trained_at and the newest-model rule of 0.1.0 picked the first name in order,
-- "challenger".
CREATE TEMP TABLE current_model AS
SELECT * FROM health_score.train_account_churn_model('current', '2024-06-01', '90 days',
    ARRAY['login_frequency', 'seat_penetration', 'support_sentiment', 'payment_behaviour'], l2 => 1);
SELECT is((SELECT churn_model FROM health_score.settings), 'current',
          'the first account model trained is written into settings.churn_model');
SELECT is(health_score.config_version(), (SELECT v FROM before_training),
          'which is no change of the scoring configuration');
SELECT is((SELECT array_agg(DISTINCT model) FROM health_score.account_churn), ARRAY['current'],
          'account_churn uses it');
CREATE TEMP TABLE rar_current AS SELECT * FROM health_score.revenue_at_risk WHERE grouping_by = 'all';
SELECT ok((SELECT revenue_at_risk > 0 FROM rar_current), 'revenue_at_risk has a figure');

CREATE TEMP TABLE challenger_model AS
SELECT * FROM health_score.train_account_churn_model('challenger', '2024-07-01', '90 days',
    ARRAY['login_recency', 'workflow_completion', 'contract_term'], l2 => 1);
SELECT is((SELECT churn_model FROM health_score.settings), 'current',
          'training another model leaves settings.churn_model as it was');
SELECT is((SELECT (name, version) FROM health_score.account_churn_model()), ('current'::text, 1),
          'account_churn_model() is still the first model');
SELECT is((SELECT array_agg(DISTINCT model) FROM health_score.account_churn), ARRAY['current'],
          'account_churn still uses the first model');
SELECT is((SELECT array_agg(DISTINCT model) FROM health_score.account_churn_risk('2024-12-31')), ARRAY['current'],
          'account_churn_risk too');
SELECT is((SELECT revenue_at_risk FROM health_score.revenue_at_risk WHERE grouping_by = 'all'),
          (SELECT revenue_at_risk FROM rar_current), 'revenue_at_risk is unchanged');
SELECT is((SELECT array_agg(metric ORDER BY metric)
             FROM health_score.account_churn_drivers((SELECT min(account_id) FROM health_score.account_churn
                                                       WHERE churn_risk IS NOT NULL), '2024-12-31')),
          (SELECT array_agg(f ORDER BY f) FROM current_model, unnest(features) f),
          'account_churn_drivers explains the first model');
SELECT is((SELECT count(*) FROM health_score.account_health h
             JOIN health_score.account_churn_risk('2024-12-31') r USING (account_id)
            WHERE h.churn_risk IS DISTINCT FROM round(r.churn_risk::numeric, 2)::float8), 0::bigint,
          'account_health shows the first model''s risk');

UPDATE health_score.settings SET churn_model = 'challenger';
SELECT is(health_score.config_version(), (SELECT v FROM before_training),
          'naming another model is no change of the scoring configuration either');
SELECT is((SELECT array_agg(DISTINCT model) FROM health_score.account_churn), ARRAY['challenger'],
          'with settings.churn_model = challenger, account_churn uses it');
SELECT is((SELECT revenue_at_risk FROM health_score.revenue_at_risk WHERE grouping_by = 'all'),
          (SELECT round(sum(a.mrr::float8 * r.churn_risk / 100)::numeric, 2)
             FROM health_score.account_churn_risk('2024-12-31') r
             JOIN health_score.account_scores('2024-12-31') s USING (account_id)
             JOIN health_score.accounts a USING (account_id)
            WHERE r.model = 'challenger'),
          'revenue_at_risk is MRR x the new model''s risk (2 decimals)');
SELECT isnt((SELECT revenue_at_risk FROM health_score.revenue_at_risk WHERE grouping_by = 'all'),
            (SELECT revenue_at_risk FROM rar_current), 'which differs from the first model''s');
SELECT is((SELECT array_agg(metric ORDER BY metric)
             FROM health_score.account_churn_drivers((SELECT min(account_id) FROM health_score.account_churn
                                                       WHERE churn_risk IS NOT NULL), '2024-12-31')),
          ARRAY['contract_term', 'login_recency', 'workflow_completion'],
          'account_churn_drivers explains the new model');

UPDATE health_score.settings SET churn_model = 'nope';
SELECT is((SELECT count(*) FROM health_score.account_churn), 0::bigint,
          'a setting that names no account model: no churn risk in the views');
SELECT throws_ok($$SELECT * FROM health_score.account_churn_drivers('ACC-00001', '2024-12-31')$$, '42704',
                 'settings.churn_model names "nope", which is no active account churn model',
                 'account_churn_drivers names the setting');
SELECT throws_ok($$UPDATE health_score.settings SET churn_model = ''$$, '23514',
                 'settings: churn_model must name a churn model or be NULL, got an empty name',
                 'an empty churn_model is refused');
UPDATE health_score.settings SET churn_model = 'current';

-- ==== 1. the churn window must be over in the data ===============================================
SELECT is(health_score.data_through(), (SELECT max(observed_at)::date FROM health_score.observations),
          'data_through(): without the setting, the day of the latest observation');
SELECT is(health_score.data_through(), date '2024-12-30', 'the demo''s observations run through 2024-12-30');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('late', '2024-12-01', '90 days',
                     ARRAY['login_frequency', 'seat_penetration'], l2 => 1)$$, '22023',
                 'as_of + horizon (2024-12-01 00:00:00+00 + 90 days = 2025-03-01 00:00:00+00) is after the end of the data (2024-12-30, the day of the latest observation): who churns in that window is not in the data yet',
                 'a model whose 90 days of churn go beyond the data is refused, although they are past on the calendar');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('late', '2024-10-03', '90 days',
                     ARRAY['login_frequency', 'seat_penetration'], l2 => 1)$$, '22023', NULL,
                 'a window ending one day later, at midnight at the end of 2024-12-31, is refused');
SELECT lives_ok($$SELECT health_score.train_account_churn_model('edge', '2024-10-02', '90 days',
                    ARRAY['login_frequency', 'seat_penetration'], l2 => 1)$$,
                'a window ending at midnight at the end of the last day of data is accepted');
SELECT is((SELECT count(*) FROM health_score.churn_models WHERE name = 'late'), 0::bigint,
          'the refused trainings wrote nothing');

UPDATE health_score.settings SET data_through = '2024-09-30';
SELECT is(health_score.data_through(), date '2024-09-30', 'settings.data_through sets the end of the data');
SELECT is(health_score.config_version(), (SELECT v FROM before_training),
          'which is no change of the scoring configuration');
SELECT throws_ok($$SELECT health_score.train_account_churn_model('late', '2024-07-15', '90 days',
                     ARRAY['login_frequency', 'seat_penetration'], l2 => 1)$$, '22023',
                 'as_of + horizon (2024-07-15 00:00:00+00 + 90 days = 2024-10-13 00:00:00+00) is after the end of the data (2024-09-30, settings.data_through): who churns in that window is not in the data yet',
                 'an earlier data_through refuses a window the observations would allow, naming the setting');
UPDATE health_score.settings SET data_through = '2025-03-31';
SELECT lives_ok($$SELECT health_score.train_account_churn_model('late', '2024-12-01', '90 days',
                    ARRAY['login_frequency', 'seat_penetration'], l2 => 1)$$,
                'a later data_through vouches for churn dates beyond the observations');
SELECT throws_ok($$UPDATE health_score.settings SET data_through = 'infinity'$$, '23514',
                 'settings: data_through must be a finite date or NULL, got infinity', 'an infinite data_through is refused');
UPDATE health_score.settings SET data_through = NULL;
SELECT is((SELECT churn_model FROM health_score.settings), 'current', 'none of these trainings switched the views');

-- ==== 2. no look-ahead in history =================================================================
-- "current" learned at 2024-06-01 who churned in the 90 days after: up to 2024-08-30.
SELECT is((SELECT (as_of + horizon)::date FROM health_score.account_churn_model()), date '2024-08-30',
          'precondition: the model in use learned from the churn up to 2024-08-30');
SELECT is((SELECT count(*)::int FROM health_score.backfill('2024-08-16', '2024-09-13', '7 days')), 5,
          'a backfill of 2024-08-16 to 2024-09-13, weekly');
SELECT is((SELECT count(churn_risk) FROM health_score.score_history WHERE as_of < '2024-08-30'), 0::bigint,
          'the days before the end of the model''s window have no churn risk');
SELECT is((SELECT array_agg(DISTINCT churn_risk_reason) FROM health_score.score_history WHERE as_of < '2024-08-30'),
          ARRAY['churn model "current" v1 learned from churn up to 2024-08-30, after this date'],
          'and say why, naming the model');
SELECT is((SELECT array_agg(DISTINCT churn_model || ' v' || churn_model_version) FROM health_score.score_history),
          ARRAY['current v1'], 'every row names the model asked');
CREATE TEMP TABLE live_risk AS
SELECT d.day, r.* FROM (VALUES (date '2024-08-30'), ('2024-09-06'), ('2024-09-13')) d(day),
       LATERAL health_score.account_churn_risk(d.day::timestamptz) r;
SELECT is((SELECT count(*) FROM health_score.score_history h
             FULL JOIN live_risk r ON r.account_id = h.account_id AND r.day = h.as_of
            WHERE coalesce(h.as_of, r.day) >= '2024-08-30'
              AND (h.account_id IS NULL OR r.account_id IS NULL OR (h.churn_risk IS NULL) <> (r.churn_risk IS NULL)
                   -- the backfill rolls its scoring state forward: the sums differ in their last bits
                   OR abs(h.churn_risk - r.churn_risk) > 1e-12 * greatest(abs(r.churn_risk), 1e-12))), 0::bigint,
          'from the last day of the window on (2024-08-30, 2024-09-06, 2024-09-13), the risk is account_churn_risk of that day (1e-12 relative)');
SELECT cmp_ok((SELECT count(churn_risk) FROM health_score.score_history WHERE as_of >= '2024-08-30'), '>', 300::bigint,
              'and most accounts have one');
SELECT is((SELECT count(*) FROM health_score.score_history h JOIN live_risk r ON r.account_id = h.account_id AND r.day = h.as_of
            WHERE h.churn_risk IS NULL
              AND h.churn_risk_reason IS DISTINCT FROM 'no data for ' || array_to_string(r.missing_metrics, ', ')), 0::bigint,
          'a NULL risk after the window names the metrics without data');

-- A snapshot without a usable model says so.
UPDATE health_score.settings SET churn_model = 'nope';
SELECT health_score.snapshot('2024-09-13') IS NOT NULL AS snapshot_taken \gset
SELECT is((SELECT array_agg(DISTINCT coalesce(churn_risk::text, churn_risk_reason)) FROM health_score.score_history
            WHERE as_of = '2024-09-13'),
          ARRAY['settings.churn_model names "nope", which is no active account churn model'],
          'with a setting naming no model, a snapshot records no risk and why');

-- The end of the data counts the feeds, and no observation dated after now.
UPDATE health_score.settings SET data_through = NULL;
CREATE VIEW public.churn_leaks_feed AS
SELECT 'ACC-00001'::text AS account_id, 'login'::text AS metric, timestamptz '2025-01-15 10:00' AS observed_at, 1::float8 AS value;
INSERT INTO health_score.feeds (name, relation) VALUES ('later logins', 'public.churn_leaks_feed');
SELECT is(health_score.data_through(), date '2025-01-15', 'data_through(): a feed with a later observation moves the end of the data');
INSERT INTO health_score.observations (account_id, metric, observed_at, value) VALUES ('ACC-00001', 'login', now() + interval '1 day', 1);
SELECT is(health_score.data_through(), date '2025-01-15', 'an observation dated after now does not');

SELECT diag('current: ' || (SELECT rows_used || ' rows, ' || positives || ' churned, AUC ' || round(auc::numeric, 3) FROM current_model)
            || '; challenger: ' || (SELECT rows_used || ' rows, ' || positives || ' churned, AUC ' || round(auc::numeric, 3) FROM challenger_model)
            || '; revenue at risk under current ' || (SELECT round(revenue_at_risk::numeric, 2) FROM rar_current));
SELECT * FROM finish();
ROLLBACK;

\c :home
SET client_min_messages = warning;
DROP DATABASE hs_churn_leaks;
