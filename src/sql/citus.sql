-- health_score install script, last part: scaling out on Citus.
--
-- distribute() shards the tables that grow with the book (every table of the extension with an
-- account_id column) across the Citus workers, by account_id and colocated, so that scoring,
-- which groups by account, runs on each shard alone. The catalog (metrics, bands, settings,
-- models, ...) stays in ordinary tables on the coordinator, which Citus joins to the shards by
-- sending their few rows along: as reference tables their validation triggers, which read other
-- catalog tables, would run on the shards, where Citus cannot run them. Citus is not needed at
-- install time: its functions are called by name, only when distribute() runs.

CREATE FUNCTION health_score.distribute(shard_count integer DEFAULT NULL)
RETURNS TABLE (table_name regclass, kind text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
    pol record;
    moved regclass[] := '{}';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'distribute() needs Citus: the citus extension is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Load citus (shared_preload_libraries = ''citus''), CREATE EXTENSION citus and add the workers, then call distribute() on the coordinator.';
    END IF;
    IF shard_count IS NOT NULL AND shard_count NOT BETWEEN 1 AND 64000 THEN
        RAISE EXCEPTION 'shard_count must be from 1 to 64000, got %', shard_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Citus allows no subquery in the policies of a distributed table, and the restriction of
    -- accounts to their owners is such a policy (observations and history follow accounts).
    IF health_score.accounts_restricted() THEN
        RAISE EXCEPTION 'distribute() cannot keep accounts restricted to their owners: Citus allows no subquery in the row-level security policies of a distributed table'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Run restrict_accounts_to_owners(false) first; on Citus every role that may read the tables sees every account.';
    END IF;
    -- With accounts unrestricted, the policies with a subquery (on accounts) let every row
    -- through: restrictive ones go, permissive ones let every row through without one. So on
    -- the tables to distribute, and on the metric history and its months, which stay on the
    -- coordinator: Citus joins no local table to the distributed accounts in a policy.
    FOR pol IN
        SELECT p.polrelid::regclass AS rel, p.polname, p.polpermissive,
               CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS cmd
          FROM pg_policy p
         WHERE p.polcmd <> 'a'
           AND coalesce(pg_get_expr(p.polqual, p.polrelid), '') || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
               ~* '\mselect\M'
           AND (p.polrelid IN (SELECT t.relid FROM pg_partition_tree('health_score.metric_history_days') t)
                OR p.polrelid IN (SELECT d.objid FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
                                     AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'health_score')
                                     AND EXISTS (SELECT FROM pg_attribute a
                                                  WHERE a.attrelid = d.objid AND a.attname = 'account_id' AND NOT a.attisdropped)))
         ORDER BY p.polrelid, p.polname
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', pol.polname, pol.rel);
        IF pol.polpermissive THEN
            EXECUTE format('CREATE POLICY %I ON %s FOR %s USING (true)', pol.polname, pol.rel, pol.cmd);
        END IF;
    END LOOP;
    FOR t IN
        SELECT c.oid::regclass
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'health_score')
           AND c.relkind = 'r'
           AND EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped)
         ORDER BY c.relname <> 'accounts', c.relname   -- accounts first: the others colocate with it
    LOOP
        table_name := t;
        IF EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = t) THEN
            kind := 'already distributed';
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- Citus distributes no table with triggers: the ones recording changes for the
        -- incremental scoring go, and every snapshot then reads every row (roll_state).
        IF t = 'health_score.observations'::regclass THEN
            DROP TRIGGER IF EXISTS record_inserts ON health_score.observations;
            DROP TRIGGER IF EXISTS record_updates ON health_score.observations;
            DROP TRIGGER IF EXISTS record_deletes ON health_score.observations;
            DROP TRIGGER IF EXISTS record_truncates ON health_score.observations;
        END IF;
        -- and the check that an account's subscription periods never overlap goes too: on
        -- Citus the loader must keep them apart (account_periods would count both).
        -- Its reference to accounts loses ON UPDATE CASCADE, which Citus refuses on the
        -- distribution column (and Citus changes no row's account_id anyway).
        IF t = 'health_score.subscriptions'::regclass THEN
            DROP TRIGGER IF EXISTS no_overlap ON health_score.subscriptions;
            ALTER TABLE health_score.subscriptions
                DROP CONSTRAINT IF EXISTS subscriptions_account_id_fkey,
                ADD CONSTRAINT subscriptions_account_id_fkey FOREIGN KEY (account_id)
                    REFERENCES health_score.accounts (account_id) ON DELETE CASCADE;
        END IF;
        IF t = 'health_score.accounts'::regclass THEN
            PERFORM create_distributed_table(t, 'account_id', colocate_with => 'none',
                                             shard_count => coalesce(shard_count, current_setting('citus.shard_count')::int));
        ELSE
            PERFORM create_distributed_table(t, 'account_id', colocate_with => 'health_score.accounts');
        END IF;
        moved := moved || t;
        kind := 'distributed';
        RETURN NEXT;
    END LOOP;
    -- The rows now live in the shards: free the coordinator's copies, once every table is
    -- distributed (Citus refuses to empty accounts while a local table, subscriptions,
    -- still references it).
    FOREACH t IN ARRAY moved LOOP
        PERFORM truncate_local_data_after_distributing_table(t);
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.distribute(integer) IS
'On a Citus coordinator: distributes every table of the extension keyed by account (accounts, observations, subscriptions, score_history, scoring_state) by account_id, colocated, in shard_count shards (default citus.shard_count), moving their rows to the workers; the catalog and the compact metric history (metric_history_days, partitioned by month) stay on the coordinator. One row per table: distributed, or already distributed. The triggers Citus cannot distribute go: those recording observation changes (every snapshot then rescores from every row) and the overlap check of subscriptions (periods must then be loaded without overlaps); the reference of subscriptions to accounts keeps ON DELETE CASCADE but not ON UPDATE CASCADE, which Citus refuses. The row-level security policies that read accounts (on these tables and on the metric history) let every row through: on Citus every role that may read the tables sees every account. Refuses (0A000) without Citus and while restrict_accounts_to_owners() is on. The extension''s owner only.';

-- Distributing moves the book: the extension's owner (who owns the tables) decides.
REVOKE EXECUTE ON FUNCTION health_score.distribute(integer) FROM PUBLIC;
