-- The demo's churn model: an account churn model learned from the demo data itself, so the
-- dashboard can show churn risk and the revenue at stake beside the health scores.
--
--   psql -X -v as_of=2025-12-31 -f sql/demo/churn_model.sql
--
-- It learns, from the accounts live 90 days before as_of, which of them churned within those
-- 90 days, using the sub-scores of metrics that nearly every account has (product telemetry,
-- support sentiment, payment behaviour, contract term): accounts missing one are left out of
-- the fit and get no risk. Skipped, with a notice, when as_of is still in the future (the churn
-- of those 90 days is not known yet).

\set ON_ERROR_STOP on
\if :{?as_of}
\else
\set as_of 2025-12-31
\endif

SET timezone = 'UTC';

SELECT :'as_of'::timestamptz <= now() AS as_of_past
\gset
\if :as_of_past
SELECT format('trained %s v%s on %s accounts (%s churned within 90 days); in-sample AUC %s',
              name, version, rows_used, positives, round(auc::numeric, 3)) AS model
  FROM health_score.train_account_churn_model(
           'demo_account_churn', :'as_of'::timestamptz - interval '90 days', interval '90 days',
           ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'workflow_completion',
                 'feature_adoption', 'support_sentiment', 'payment_behaviour', 'contract_term'])
\gset
\echo :model
\else
\echo 'as_of is in the future: no churn model trained'
\endif
