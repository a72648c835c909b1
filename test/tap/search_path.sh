#!/usr/bin/env bash
# Nothing planted in a schema on the caller's search_path runs inside the extension. A role
# that may create objects in public (mallory) plants operators for the common types, with
# exact argument types so that they would win over the built-in ones, and functions named like
# built-ins. Each records that it ran, and tries to make mallory a superuser, which succeeds
# when it runs with a superuser's rights. A superuser then uses every part of the extension
# with public first on its search_path: feeds, catalog changes, scoring, views, history,
# models, access. Nothing of mallory's may have run (a control query shows that the plants
# do take effect in the session's own SQL).
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"
export PGOPTIONS='-c client_min_messages=warning'

db=hs_search_path
echo "1..5"
throwaway_databases $db
"$PGBIN/psql" -X -q -d postgres -c 'DROP ROLE IF EXISTS mallory' >/dev/null 2>&1
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' -c 'CREATE ROLE mallory LOGIN' \
    -c 'GRANT CREATE ON SCHEMA public TO mallory' || { echo "Bail out! cannot create $db"; exit 1; }
drop_mallory() { "$PGBIN/psql" -X -q -d postgres -c 'DROP ROLE IF EXISTS mallory' >/dev/null 2>&1; }
trap 'drop_throwaway_databases; drop_mallory' EXIT

# The victim's own objects, made before anything is planted: a view to feed, a table to train on.
q $db -v accounts=60 -v end_date=2025-12-31 -f examples/demo/generate.sql >/dev/null &&
    q $db >/dev/null <<'SQL' || { echo "Bail out! cannot load the data"; exit 1; }
CREATE VIEW public.forum_feed AS
    SELECT account_id, 'forum_post'::text AS metric, now() - interval '3 days' AS observed_at, 1::float8 AS value
      FROM health_score.accounts;
CREATE TABLE public.churn_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x1, ((i * 53) % 19) / 3.0::float8 AS x2,
       ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END AS churned
  FROM generate_series(1, 200) i;
SQL

# mallory's plants. trap(what) records a run and tries the escalation.
plants=$(cat <<'SQL'
CREATE TABLE public.planted_ran (who text, what text);
GRANT INSERT ON public.planted_ran TO PUBLIC;
CREATE FUNCTION public.trap(what text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.planted_ran VALUES (current_user, what);
    BEGIN
        ALTER ROLE mallory SUPERUSER;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
END $$;
DO $$
DECLARE
    op record;
    i int := 0;
BEGIN
    FOR op IN
        SELECT o.oprname AS name, o.oprleft::regtype AS l, o.oprright::regtype AS r, o.oprresult::regtype AS res
          FROM pg_operator o
         WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprkind = 'b'
           AND o.oprname IN ('=', '<>', '<', '>', '<=', '>=', '+', '-', '*', '/', '||', '~~', '@>', '&&')
           AND o.oprleft::regtype::text IN ('oid', 'text', 'name', 'double precision', 'integer', 'bigint', 'numeric',
                                            'timestamp with time zone', 'date', 'interval', 'boolean', 'anyarray',
                                            'anycompatiblearray', 'anycompatible')
        UNION ALL SELECT '=', 'oid', 'regclass', 'boolean'   -- exact for oid = regclass
    LOOP
        CONTINUE WHEN op.l::text LIKE 'any%' OR op.r::text LIKE 'any%' OR op.res::text LIKE 'any%';
        i := i + 1;
        EXECUTE format($f$CREATE FUNCTION public.planted_op_%s(a %s, b %s) RETURNS %s LANGUAGE plpgsql
                          SET search_path = pg_catalog AS $q$BEGIN PERFORM public.trap(%L); RETURN a OPERATOR(pg_catalog.%s) b; END $q$ $f$,
                       i, op.l, op.r, op.res, format('operator %s(%s, %s)', op.name, op.l, op.r), op.name);
        EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.planted_op_%s)',
                       op.name, op.l, op.r, i);
    END LOOP;
END $$;
-- Functions named like built-ins (they win when public comes first on the search_path).
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.trap('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.trap('lower(text)'); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION public.format(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.trap('format(text)'); RETURN pg_catalog.format($1); END $$;
CREATE FUNCTION public.round(numeric, integer) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.trap('round(numeric, integer)'); RETURN pg_catalog.round($1, $2); END $$;
CREATE FUNCTION public.abs(double precision) RETURNS double precision LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.trap('abs(double precision)'); RETURN pg_catalog.abs($1); END $$;
CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.trap('to_regclass(text)'); RETURN pg_catalog.to_regclass($1); END $$;
CREATE FUNCTION public.length(text) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.trap('length(text)'); RETURN pg_catalog.length($1); END $$;
SQL
)
if q $db -c 'SET ROLE mallory' -c "$plants" >/dev/null; then
    ok "mallory plants $(q $db -c "SELECT count(*) FROM pg_operator WHERE oprnamespace = 'public'::regnamespace") operators and 7 functions in public"
else
    not_ok "mallory plants operators and functions in public"
fi

# The superuser's session, public first: every part of the extension. Its own SQL qualifies
# its operators, so that whatever runs of mallory's ran inside the extension.
workload=$(cat <<'SQL'
SET search_path = public, pg_catalog;
SET timezone = 'UTC';
INSERT INTO health_score.feeds (name, relation, description) VALUES ('forum', 'forum_feed', 'Forum posts.');
UPDATE health_score.feeds SET description = 'Forum posts, daily.' WHERE name OPERATOR(pg_catalog.=) 'forum';
INSERT INTO health_score.dimensions (name, weight, description) VALUES ('community', 10, 'Forum activity.');
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve,
                                  breakpoints, scores, direction, description)
VALUES ('forum_posts', 'community', 1, 'forum_post', 'decayed_sum', '14 days', 'linear',
        '{0,1,4}', '{30,70,100}', 'higher', 'Posts in the community forum.');
UPDATE health_score.metrics SET weight = 5 WHERE name OPERATOR(pg_catalog.=) 'nps';
DELETE FROM health_score.metrics WHERE name OPERATOR(pg_catalog.=) 'csat';
UPDATE health_score.settings SET min_coverage = 0.4;
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days) VALUES ('score_drop', true, 10, 14);
SELECT count(*) FROM health_score.account_scores('2025-12-31');
SELECT count(*) FROM health_score.metric_scores('2025-12-31');
SELECT count(*) FROM health_score.backfill('2025-11-01', '2025-12-31', '14 days');
SELECT health_score.snapshot('2025-12-31');
SELECT count(*) FROM health_score.train_account_churn_model('sp_model', '2025-09-01', '90 days',
    ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'support_sentiment'], snapshots => 2);
SELECT version FROM health_score.train_churn_model('sp_table', 'churn_rows', ARRAY['x1', 'x2'], 'churned');
SELECT count(*) FROM health_score.churn_cross_validate('churn_rows', ARRAY['x1', 'x2'], 'churned');
SELECT health_score.churn_probability('sp_table', ARRAY[1, 2]);
SELECT count(*) FROM health_score.churn_drivers('sp_table', ARRAY[1, 2]);
SELECT count(*) FROM health_score.churn_feature_influence('sp_table');
SELECT count(*) FROM health_score.suggest_weights('sp_model');
SELECT count(*) FROM health_score.apply_suggested_weights('sp_model');
SELECT count(*) FROM health_score.propose_curves('2025-12-31');
SELECT count(*) FROM health_score.apply_curves('2025-12-31');
SELECT count(*) FROM health_score.account_churn_risk('2025-12-31');
SELECT count(*) FROM health_score.account_churn_drivers((SELECT min(account_id) FROM health_score.account_scores('2025-12-31')), '2025-12-31');
SELECT count(*) FROM health_score.revenue_at_risk('2025-12-31');
SELECT count(*) FROM health_score.trends('2025-12-31');
SELECT count(*) FROM health_score.alerts_at('2025-12-31');
SELECT count(*) FROM health_score.attribution('2025-11-29', '2025-12-31');
SELECT count(*) FROM health_score.attribution_summary('2025-11-29', '2025-12-31');
SELECT count(*) FROM health_score.backtest('{30}');
SELECT count(*) FROM health_score.backtest_bands('{30}');
SELECT count(*) FROM health_score.backtest_points('{30}');
SELECT health_score.sparkline('{1,50,100}'), health_score.band(55), health_score.alert_tier(55), health_score.config_version();
SET health_score.as_of = '2025-12-31';
SELECT count(*) FROM health_score.account_health;
SELECT count(*) FROM health_score.account_churn;
SELECT count(*) FROM health_score.dimension_breakdown;
SELECT count(*) FROM health_score.band_summary;
SELECT count(*) FROM health_score.action_queue;
SELECT count(*) FROM health_score.upsell_candidates;
SELECT count(*) FROM health_score.revenue_at_risk;
SELECT count(*) FROM health_score.score_trends;
SELECT count(*) FROM health_score.alerts;
SELECT count(*) FROM health_score.band_changes;
SELECT count(*) FROM health_score.effective_alert_rules;
RESET health_score.as_of;
SELECT health_score.refresh();
SELECT health_score.restrict_accounts_to_owners(true);
SELECT health_score.restrict_accounts_to_owners(false);
SQL
)
# The committing procedure, which cannot pin its search_path, CALLed on its own (a statement
# of a multi-statement string runs in a transaction block, where it cannot commit).
if q $db -c "$workload" >"$WORK/search_path.out" 2>&1 &&
   q $db -c 'SET search_path = public, pg_catalog' \
        -c "CALL health_score.backfill_commit_each('2025-10-01', '2025-12-31', '30 days', true)" >>"$WORK/search_path.out" 2>&1; then
    ok "a superuser uses every part of the extension with public first on its search_path"
else
    not_ok "a superuser uses every part of the extension with public first on its search_path"
    tail -n 5 "$WORK/search_path.out" | sed 's/^/#   /'
fi

check "nothing planted in public ran inside the extension" \
    "$(q $db -c "SELECT coalesce(string_agg(DISTINCT what, '; '), 'nothing') FROM public.planted_ran")" "nothing"
check "mallory is still not a superuser" "$(q $db -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" "f"
# Control: the same session's own unqualified SQL does pick the plants.
check "the plants do take effect in a caller's own SQL (control)" \
    "$(q $db -c 'SET search_path = public, pg_catalog' \
             -c "SELECT count(*) FROM pg_class WHERE oid = 'pg_class'::regclass AND lower(relname) = 'pg_class'" \
             -c "SELECT string_agg(DISTINCT what, '; ' ORDER BY what) FROM public.planted_ran")" \
    "$(printf '1\nlower(text); operator =(oid, regclass); operator =(text, text)')"

[ $failed -eq 0 ]
