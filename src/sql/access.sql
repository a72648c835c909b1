-- health_score install script, last part: who may read what.
--
-- Two roles, created when missing (roles belong to the whole cluster, so they outlive the
-- extension): health_score_reader for BI tools (reads everything), and health_score_csm for
-- customer-success managers, who see only the accounts they own once
-- restrict_accounts_to_owners() has been run. Grant them to login roles.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'health_score_reader') THEN
        CREATE ROLE health_score_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'health_score_csm') THEN
        CREATE ROLE health_score_csm NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA health_score TO health_score_reader, health_score_csm;
GRANT SELECT ON ALL TABLES IN SCHEMA health_score TO health_score_reader, health_score_csm;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA health_score TO health_score_reader, health_score_csm;

-- Views check the caller's rights on the tables below them (PostgreSQL 15 and later), so
-- row-level security applies through them too. On older servers they read through
-- account_scores() and metric_scores(), which run as the caller and so see only its rows.
DO $$
DECLARE
    v record;
BEGIN
    IF current_setting('server_version_num')::int >= 150000 THEN
        FOR v IN SELECT c.relname FROM pg_catalog.pg_class c
                  WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind = 'v' LOOP
            EXECUTE format('ALTER VIEW health_score.%I SET (security_invoker = true)', v.relname);
        END LOOP;
    END IF;
END
$$;

CREATE FUNCTION health_score.restrict_accounts_to_owners(enable boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounts', 'observations'] LOOP
        IF EXISTS (SELECT FROM pg_policies p WHERE p.schemaname = 'health_score' AND p.tablename = t
                                                AND p.policyname = 'owner_only') THEN
            EXECUTE format('DROP POLICY owner_only ON health_score.%I', t);
        END IF;
        EXECUTE format('ALTER TABLE health_score.%I %s ROW LEVEL SECURITY', t,
                       CASE WHEN enable THEN 'ENABLE' ELSE 'DISABLE' END);
    END LOOP;
    IF enable THEN
        -- Readers (BI tools) see every account; everyone else only the accounts they own.
        CREATE POLICY owner_only ON health_score.accounts FOR SELECT
            USING (owner = current_user OR pg_has_role(current_user, 'health_score_reader', 'MEMBER'));
        CREATE POLICY owner_only ON health_score.observations FOR SELECT
            USING (pg_has_role(current_user, 'health_score_reader', 'MEMBER')
                   OR account_id IN (SELECT a.account_id FROM health_score.accounts a));
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.restrict_accounts_to_owners(boolean) IS
'Turns on (or, with false, off) row-level security on accounts and observations: members of health_score_reader see every account, any other role only the accounts whose owner it is. Table owners and superusers are not restricted.';

-- The dashboards' materialized copies (history.sql) cannot apply row-level security, so they
-- are for readers only: CSMs read the live views, which do.
REVOKE SELECT ON health_score.account_health_mv, health_score.dimension_breakdown_mv,
    health_score.band_summary_mv, health_score.action_queue_mv, health_score.upsell_candidates_mv,
    health_score.score_trends_mv, health_score.alerts_mv FROM health_score_csm;

-- The API is what PUBLIC may execute; internals are not part of it. Aggregates check EXECUTE
-- on their support functions against the aggregate's owner and triggers fire whatever the
-- caller's rights, so revoking those from PUBLIC changes nothing for any caller. The query
-- builders and argument checks are called by the API's functions as the caller, so the
-- extension's roles keep EXECUTE on them; those only the writers use (training, feed, catalog
-- and cron checks: the extension's owner) have no grant. REVOKEs in the extension script are recorded in pg_init_privs,
-- so pg_dump and upgrades keep them.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'health_score'::regnamespace
                AND (p.prorettype = 'trigger'::regtype
                     OR p.oid IN (SELECT s.fn FROM pg_catalog.pg_aggregate a,
                                         LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn),
                                                         (a.aggserialfn), (a.aggdeserialfn)) AS s(fn))) LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION health_score.observations_sql(), health_score.metric_scores_sql(),
    health_score.account_scores_sql(text), health_score.account_features_sql(text[], text),
    health_score.check_as_of(timestamptz), health_score.check_date(text, date),
    health_score.attribution_check(date, date), health_score.backtest_check(integer[]),
    health_score.churn_fit(text, text[], text[], text, integer, float8, float8),
    health_score.churn_evaluate(text, text[], text, float8[]), health_score.churn_columns(regclass, text[], text),
    health_score.churn_train(text, text, text, text, text, text[], text[], text, integer, float8, float8, float8,
                             timestamptz, interval),
    health_score.feed_relation(text, text, regclass), health_score.check_cron(text),
    health_score.catalog_keys(text), health_score.check_removed_default(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.observations_sql(), health_score.metric_scores_sql(),
    health_score.account_scores_sql(text), health_score.account_features_sql(text[], text),
    health_score.check_as_of(timestamptz), health_score.check_date(text, date),
    health_score.attribution_check(date, date), health_score.backtest_check(integer[]),
    health_score.churn_fit(text, text[], text[], text, integer, float8, float8),
    health_score.churn_evaluate(text, text[], text, float8[]), health_score.churn_columns(regclass, text[], text)
    TO health_score_reader, health_score_csm;
