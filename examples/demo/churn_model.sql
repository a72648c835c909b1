-- The demo's churn model: an account churn model learned from the demo data itself, so the
-- dashboard can show churn risk and the revenue at stake beside the health scores.
--
--   psql -X -v as_of=2025-12-31 -f examples/demo/churn_model.sql
--
-- It learns, from the accounts live 90 days before as_of, which of them churned within those
-- 90 days, using the sub-scores of metrics that nearly every account has (product telemetry,
-- support sentiment, payment behaviour, contract term): accounts missing one are left out of
-- the fit and get no risk. When no model can be trained (as_of still in the future, so the
-- churn of those 90 days is not known yet, or too few accounts to fit), it says why and
-- leaves the catalog as it was: the dashboard then shows no churn risk.

\set ON_ERROR_STOP on
\if :{?as_of}
\else
\set as_of 2025-12-31
\endif

SET timezone = 'UTC';
SELECT set_config('health_score_demo.as_of', :'as_of'::timestamptz::text, false) IS NOT NULL AS as_of_set
\gset

DO $$
DECLARE
    as_of timestamptz := current_setting('health_score_demo.as_of')::timestamptz;
    m health_score.churn_models;
BEGIN
    IF as_of > now() THEN
        RAISE NOTICE 'no churn model: as_of % is in the future', as_of;
        RETURN;
    END IF;
    SELECT * INTO m
      FROM health_score.train_account_churn_model(
               'demo_account_churn', as_of - interval '90 days', interval '90 days',
               ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'workflow_completion',
                     'feature_adoption', 'support_sentiment', 'payment_behaviour', 'contract_term']);
    RAISE NOTICE 'trained % v% on % accounts (% churned within 90 days)', m.name, m.version, m.rows_used, m.positives;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'no churn model: %', SQLERRM;
END
$$;
