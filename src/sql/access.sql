-- health_score install script, last part: who may read what.
--
-- Two roles, created when missing (roles belong to the whole cluster, so they outlive the
-- extension): health_score_reader for BI tools (reads everything), and health_score_csm for
-- customer-success managers, who see only the accounts they own once
-- restrict_accounts_to_owners() has been run (a flag pg_dump keeps, so a restore keeps it).
-- Grant them to login roles.

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

-- Row-level security on accounts, observations and subscriptions is always on, and the policies read one flag,
-- access_settings.restrict_to_owners, which restrict_accounts_to_owners() sets. The flag is a
-- row of a configuration table, so pg_dump keeps it and a restore (which recreates the policies
-- with CREATE EXTENSION) restricts again; the policies themselves never change.
CREATE TABLE health_score.access_settings (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    restrict_to_owners boolean NOT NULL
);

COMMENT ON TABLE health_score.access_settings IS
'Access settings: at most one row, written by restrict_accounts_to_owners(); no row means unrestricted.';
COMMENT ON COLUMN health_score.access_settings.id IS 'Always true: the table holds at most one row.';
COMMENT ON COLUMN health_score.access_settings.restrict_to_owners IS
'True after restrict_accounts_to_owners(): roles other than health_score_reader''s members see only the accounts they own.';

SELECT pg_catalog.pg_extension_config_dump('health_score.access_settings', '');
-- The policies read it as the caller, whoever may read accounts; the flag is no secret.
GRANT SELECT ON health_score.access_settings TO PUBLIC;

CREATE FUNCTION health_score.accounts_restricted() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT s.restrict_to_owners FROM health_score.access_settings s), false)
$$;

COMMENT ON FUNCTION health_score.accounts_restricted() IS
'True when restrict_accounts_to_owners() is on: then only members of health_score_reader see every account.';

CREATE FUNCTION health_score.sees_every_account() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT health_score.accounts_restricted()
           OR pg_has_role(current_user, 'health_score_reader', 'MEMBER')
$$;

COMMENT ON FUNCTION health_score.sees_every_account() IS
'True when the current role sees every account: accounts are not restricted to owners, or it is a member of health_score_reader. Else it sees the accounts it owns (table owners and superusers, whom row-level security does not restrict, see all).';

-- Before PostgreSQL 15 a view reads its tables with its owner's rights, which row-level
-- security does not restrict: there metric_history keeps itself to the accounts the caller may
-- see, as the policy of metric_history_days does (the owner_only policy of accounts, spelt out).
DO $$
BEGIN
    IF current_setting('server_version_num')::int < 150000 THEN
        EXECUTE format('CREATE OR REPLACE VIEW health_score.metric_history AS %s WHERE m.account_id IN (SELECT a.account_id FROM health_score.accounts a WHERE (SELECT health_score.sees_every_account()) OR a.owner = CURRENT_USER)',
                       rtrim(pg_get_viewdef('health_score.metric_history'::regclass), '; ' || chr(10)));
    END IF;
END
$$;

-- Grants decide who may write (all_rows); the restrictive owner_only policy narrows what the
-- caller sees. Its test is a scalar subquery, evaluated once per query rather than per row.
ALTER TABLE health_score.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE health_score.observations ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_rows ON health_score.accounts USING (true) WITH CHECK (true);
CREATE POLICY all_rows ON health_score.observations USING (true) WITH CHECK (true);
CREATE POLICY owner_only ON health_score.accounts AS RESTRICTIVE FOR SELECT
    USING ((SELECT health_score.sees_every_account()) OR owner = current_user);
CREATE POLICY owner_only ON health_score.observations AS RESTRICTIVE FOR SELECT
    USING ((SELECT health_score.sees_every_account())
           OR account_id IN (SELECT a.account_id FROM health_score.accounts a));
-- Subscription periods follow their account, as observations do.
ALTER TABLE health_score.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_rows ON health_score.subscriptions USING (true) WITH CHECK (true);
CREATE POLICY owner_only ON health_score.subscriptions AS RESTRICTIVE FOR SELECT
    USING ((SELECT health_score.sees_every_account())
           OR account_id IN (SELECT a.account_id FROM health_score.accounts a));

CREATE FUNCTION health_score.restrict_accounts_to_owners(enable boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    distributed boolean;
BEGIN
    IF enable IS NULL THEN
        RAISE EXCEPTION 'enable must be true or false, got NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- On Citus (distribute()) the owner_only policies are gone: Citus allows no subquery in the
    -- policies of a distributed table. Refuse rather than restrict nothing.
    IF enable AND to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
            INTO distributed USING 'health_score.accounts'::regclass;
        IF distributed THEN
            RAISE EXCEPTION 'accounts cannot be restricted to their owners on Citus: health_score.accounts is distributed, and Citus allows no subquery in its row-level security policies'
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Give CSMs their own views or databases; on Citus every role that may read the tables sees every account.';
        END IF;
    END IF;
    INSERT INTO health_score.access_settings (id, restrict_to_owners) VALUES (true, enable)
    ON CONFLICT (id) DO UPDATE SET restrict_to_owners = EXCLUDED.restrict_to_owners;
END
$$;

COMMENT ON FUNCTION health_score.restrict_accounts_to_owners(boolean) IS
'Restricts (or, with false, no longer restricts) accounts, observations and subscriptions, and so every score, view and history read from them: members of health_score_reader see every account, any other role only the accounts whose owner it is. Table owners and superusers are not restricted. Kept by pg_dump (access_settings).';

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

REVOKE EXECUTE ON FUNCTION health_score.observations_sql(), health_score.feeds_sql(),
    health_score.metric_scores_sql(), health_score.metric_rows_sql(text),
    health_score.metric_level(float8[], float8, boolean[], text[], text[], text[], text[], float8[], float8[], text[],
                              float8[], integer[], float8[], integer[], integer[], float8[], float8[], float8[]),
    health_score.account_periods_sql(), health_score.live_accounts_sql(),
    health_score.account_scores_sql(text), health_score.account_features_sql(text[], text),
    health_score.score_account(text, text, float8, float8, float8, float8, float8, float8, text[], float8[],
                               float8[], text[], float8[], float8[]),
    health_score.check_as_of(timestamptz), health_score.check_date(text, date),
    health_score.step_dates(date, date, interval),
    health_score.refresh_rows(timestamptz),
    health_score.attribution_check(date, date),
    health_score.churn_fit(text, text[], text[], text, integer, float8, float8),
    health_score.check_fit_arguments(integer, float8, float8, float8), health_score.check_metric_names(text[]),
    health_score.churn_evaluate(text, text[], text, float8[]), health_score.churn_columns(regclass, text[], text, text, jsonb),
    health_score.account_training(timestamptz, interval, text[], integer, integer, float8, float8, float8),
    health_score.account_imputation(text, text[]), health_score.account_design(text[], jsonb, text),
    health_score.account_model_design(health_score.churn_models, text),
    health_score.churn_train(text, text, text, text, text, text[], text[], text, integer, float8, float8, float8,
                             timestamptz, interval, text[], text[], jsonb, text),
    health_score.feed_relation(text, text, regclass), health_score.check_cron(text),
    health_score.catalog_keys(text), health_score.check_removed_default(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.observations_sql(), health_score.feeds_sql(),
    health_score.metric_scores_sql(), health_score.metric_rows_sql(text),
    health_score.metric_level(float8[], float8, boolean[], text[], text[], text[], text[], float8[], float8[], text[],
                              float8[], integer[], float8[], integer[], integer[], float8[], float8[], float8[]),
    health_score.account_periods_sql(), health_score.live_accounts_sql(),
    health_score.account_scores_sql(text), health_score.account_features_sql(text[], text),
    health_score.score_account(text, text, float8, float8, float8, float8, float8, float8, text[], float8[],
                               float8[], text[], float8[], float8[]),
    health_score.check_as_of(timestamptz), health_score.check_date(text, date),
    health_score.step_dates(date, date, interval),
    health_score.refresh_rows(timestamptz),
    health_score.attribution_check(date, date),
    health_score.churn_fit(text, text[], text[], text, integer, float8, float8),
    health_score.check_fit_arguments(integer, float8, float8, float8), health_score.check_metric_names(text[]),
    health_score.churn_evaluate(text, text[], text, float8[]), health_score.churn_columns(regclass, text[], text, text, jsonb),
    health_score.account_training(timestamptz, interval, text[], integer, integer, float8, float8, float8),
    health_score.account_imputation(text, text[]), health_score.account_design(text[], jsonb, text),
    health_score.account_model_design(health_score.churn_models, text)
    TO health_score_reader, health_score_csm;

-- Backtest internals: the checks and the points and figures of the stored and what-if backtests.
REVOKE EXECUTE ON FUNCTION health_score.backtest_check_horizons(integer[]),
    health_score.backtest_check(integer[], date, date, bigint),
    health_score.backtest_points_of(integer[], date, date, bigint, date[], text),
    health_score.backtest_of(integer[], date, date, bigint, date[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.backtest_check_horizons(integer[]),
    health_score.backtest_check(integer[], date, date, bigint),
    health_score.backtest_points_of(integer[], date, date, bigint, date[], text),
    health_score.backtest_of(integer[], date, date, bigint, date[], text)
    TO health_score_reader, health_score_csm;

-- The rows of trends, score_change_z and alerts_at, read by them as the caller.
REVOKE EXECUTE ON FUNCTION health_score.trends_of(date), health_score.score_change_z_of(date),
    health_score.alerts_at_of(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.trends_of(date), health_score.score_change_z_of(date),
    health_score.alerts_at_of(date)
    TO health_score_reader, health_score_csm;

-- Backfill's steps: used only by the roles that write the history (as installed, the
-- extension's owner), through backfill and backfill_commit_each.
REVOKE EXECUTE ON FUNCTION health_score.duration_text(float8),
    health_score.backfill_dates(date, date, interval, boolean), health_score.backfill_done(date),
    health_score.backfill_step(date, boolean, integer, integer, integer, integer, float8),
    health_score.backfill_finish(date, date, integer, integer, float8),
    health_score.warn_default_segments(text), health_score.refresh_dashboards(date) FROM PUBLIC;

-- Metric history's writers and their helpers: used only by the roles that write the history
-- (as installed, the extension's owner), through snapshot.
REVOKE EXECUTE ON FUNCTION health_score.metric_history_arrays(text, text, float8, float8, float8, float8),
    health_score.metric_history_partition(date), health_score.metric_history_write(date, text),
    health_score.metric_history_layout(text[], text[]) FROM PUBLIC;

-- Feeds and bad data: the feed checks and readers the scoring calls as the caller. A feed needs
-- no grant of its own: feed_rows reads it as its owner and returns the caller's accounts only.
REVOKE EXECUTE ON FUNCTION health_score.feed_problem(regclass), health_score.feed_relid(text),
    health_score.feed_rows(text, timestamptz, text),
    health_score.bad_observations(text, timestamptz),
    health_score.refuse_observation(text, text, text, timestamptz, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION health_score.feed_problem(regclass), health_score.feed_relid(text),
    health_score.feed_rows(text, timestamptz, text),
    health_score.bad_observations(text, timestamptz),
    health_score.refuse_observation(text, text, text, timestamptz, float8)
    TO health_score_reader, health_score_csm;

-- The incremental scoring: its state and change log hold per-account data, and only the
-- roles that write the history (as installed, the extension's owner) use them, through
-- snapshot. scoring_state_info says what the state is and what the last snapshot did: no
-- account's data, readable by the extension's roles.
REVOKE ALL ON health_score.scoring_state, health_score.observation_changes FROM health_score_reader, health_score_csm;
REVOKE EXECUTE ON FUNCTION health_score.roll_state(timestamptz, boolean),
    health_score.rolled_metric_scores(timestamptz, boolean) FROM PUBLIC;
