#!/usr/bin/env bash
# Feeds are read with their owner's rights, and CSMs get only their own accounts' rows.
# mallory owns a view that a superuser registered as a feed; she then replaces it with one
# that calls her trap, which records who ran it and tries to make her a superuser (it succeeds
# when it runs with a superuser's rights). A superuser scores, checks the feeds, snapshots,
# reads the views and refreshes: the trap must run as mallory only. Then carol, a CSM with no
# grant on the feed, scores her accounts: she gets her rows only, and another owner's NaN row
# with settings.bad_data = 'error' does not fail her.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"
export PGOPTIONS='-c client_min_messages=warning -c timezone=UTC'

db=hs_feed_access
roles="mallory carol dave eve"
echo "1..14"
drop_roles() { for r in $roles; do "$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1; done; }
throwaway_databases $db
drop_roles
trap 'drop_throwaway_databases; drop_roles' EXIT
"$PGBIN/createdb" $db && q $db >/dev/null <<'SQL' || { echo "Bail out! cannot create $db"; exit 1; }
CREATE EXTENSION health_score;
CREATE ROLE mallory LOGIN;
CREATE ROLE carol LOGIN IN ROLE health_score_csm;
CREATE ROLE dave LOGIN IN ROLE health_score_csm;
CREATE ROLE eve LOGIN;
GRANT CREATE ON SCHEMA public TO mallory;
SQL
q $db -v accounts=60 -v end_date=2025-12-31 -f examples/demo/generate.sql >/dev/null ||
    { echo "Bail out! cannot load the demo book"; exit 1; }

# mallory's table and view, the view registered as a feed with a metric reading it; carol and
# dave own ten accounts each; one of dave's accounts has a NaN post.
q $db >/dev/null <<'SQL' || { echo "Bail out! cannot set up the feed"; exit 1; }
SET ROLE mallory;
CREATE TABLE public.posts (account_id text, metric text, observed_at timestamptz, value float8);
CREATE VIEW public.mallory_feed AS SELECT * FROM public.posts;
CREATE TABLE public.planted_ran (who text, what text);
GRANT INSERT ON public.planted_ran TO PUBLIC;
CREATE FUNCTION public.trap(what text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.planted_ran VALUES (current_user, what);
    BEGIN
        ALTER ROLE mallory SUPERUSER;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN true;
END $$;
RESET ROLE;
WITH ranked AS (SELECT account_id, row_number() OVER (ORDER BY account_id) AS i FROM health_score.accounts
                 WHERE started_on <= '2025-12-31' AND (churned_on IS NULL OR churned_on > '2025-12-31'))
UPDATE health_score.accounts a
   SET owner = CASE WHEN r.i <= 10 THEN 'carol' WHEN r.i <= 20 THEN 'dave' ELSE 'others' END
  FROM ranked r WHERE r.account_id = a.account_id;
UPDATE health_score.accounts SET owner = 'others' WHERE owner NOT IN ('carol', 'dave', 'others');
INSERT INTO public.posts
SELECT a.account_id, 'forum_post', timestamptz '2025-12-31' - d * interval '4 days', 1 + d % 3
  FROM health_score.accounts a, generate_series(1, 5) d;
INSERT INTO public.posts
SELECT min(account_id), 'forum_post', '2025-12-20', 'NaN' FROM health_score.accounts WHERE owner = 'dave';
INSERT INTO health_score.feeds (name, relation, description) VALUES ('forum', 'public.mallory_feed', 'Forum posts.');
INSERT INTO health_score.dimensions (name, weight, description) VALUES ('community', 10, 'Forum activity.');
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve,
                                  breakpoints, scores, direction, description)
VALUES ('forum_posts', 'community', 1, 'forum_post', 'decayed_sum', '14 days', 'linear',
        '{0,1,4}', '{30,70,100}', 'higher', 'Posts in the community forum.');
SELECT health_score.restrict_accounts_to_owners(true);
SQL

# The trojan: the registered view now calls mallory's trap for every row.
if q $db -c 'SET ROLE mallory' \
     -c "CREATE OR REPLACE VIEW public.mallory_feed AS SELECT p.* FROM public.posts p WHERE public.trap('feed view')" >/dev/null; then
    ok "mallory replaces her registered feed view with one calling her trap"
else
    not_ok "mallory replaces her registered feed view with one calling her trap"
fi

workload=$(cat <<'SQL'
SELECT count(*) FROM health_score.account_scores('2025-12-31');
SELECT count(*) FROM health_score.check_feeds('2025-12-31');
SELECT health_score.snapshot('2025-12-31');
SET health_score.as_of = '2025-12-31';
SELECT count(*) FROM health_score.account_health;
SELECT count(*) FROM health_score.action_queue;
RESET health_score.as_of;
SELECT health_score.refresh();
SQL
)
if q $db -c "$workload" >"$WORK/feed_access.out" 2>&1; then
    ok "a superuser scores, checks feeds, snapshots, reads the views and refreshes"
else
    not_ok "a superuser scores, checks feeds, snapshots, reads the views and refreshes"
    tail -n 5 "$WORK/feed_access.out" | sed 's/^/#   /'
fi
check "mallory is still not a superuser" "$(q $db -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" "f"
check "the trap ran, as mallory only" \
    "$(q $db -c "SELECT coalesce(string_agg(DISTINCT who, ', '), 'never') FROM public.planted_ran")" "mallory"
check "the feed is read: every live account but dave's NaN one has forum posts in its score" \
    "$(q $db -c "SELECT count(*) FILTER (WHERE raw_value IS NULL),
                        count(*) = (SELECT count(*) FROM health_score.account_scores('2025-12-31'))
                   FROM health_score.metric_scores('2025-12-31') WHERE metric = 'forum_posts'")" "1|t"

# carol: a CSM with no grant on mallory's view or table.
as_carol() { q $db -c 'SET ROLE carol' "$@"; }
check "carol, with no grant on the feed, scores her ten accounts, with their forum posts" \
    "$(as_carol -c "SELECT count(*), count(*) FILTER (WHERE raw_value IS NOT NULL)
                      FROM health_score.metric_scores('2025-12-31') WHERE metric = 'forum_posts'")" "10|10"
check "feed_rows gives carol her accounts' rows only" \
    "$(as_carol -c "SELECT count(*), count(*) FILTER (WHERE account_id NOT IN
                           (SELECT account_id FROM health_score.accounts WHERE owner = 'carol'))
                      FROM health_score.feed_rows('forum', '2025-12-31')")" "50|0"
check "carol's scores equal the superuser's for her accounts" \
    "$(as_carol -c "SELECT count(*) FROM health_score.account_scores('2025-12-31') c
                      JOIN (SELECT * FROM health_score.account_scores('2025-12-31')) s USING (account_id)")" \
    "$(q $db -c "SELECT count(*) FROM health_score.account_scores('2025-12-31') s
                  JOIN health_score.accounts a USING (account_id)
                 WHERE a.owner = 'carol'")"
q $db -c "SELECT account_id, score, coverage FROM health_score.account_scores('2025-12-31')
           WHERE account_id IN (SELECT account_id FROM health_score.accounts WHERE owner = 'carol') ORDER BY 1" \
    >"$WORK/feed_access_super.txt"
as_carol -c "SELECT account_id, score, coverage FROM health_score.account_scores('2025-12-31') ORDER BY 1" \
    >"$WORK/feed_access_carol.txt"
check_that "carol's scores and coverage are the superuser's, row for row" \
    "cmp -s '$WORK/feed_access_super.txt' '$WORK/feed_access_carol.txt' && [ -s '$WORK/feed_access_carol.txt' ]"

check "an unknown feed is 42704 for carol" \
    "$(as_carol -c '\set VERBOSITY sqlstate' -c "SELECT count(*) FROM health_score.feed_rows('nope', now())" 2>&1)" \
    "ERROR:  42704"
check "a role without the extension's roles may not call feed_rows (42501)" \
    "$(q $db -c 'SET ROLE eve' -c '\set VERBOSITY sqlstate' \
             -c "SELECT count(*) FROM health_score.feed_rows('forum', now())" 2>&1)" "ERROR:  42501"

q $db -c "UPDATE health_score.settings SET bad_data = 'error'" >/dev/null
check "with bad_data = error, dave's NaN row does not fail carol's scoring" \
    "$(as_carol -c "SELECT count(*) FROM health_score.account_scores('2025-12-31')" 2>&1)" "10"
check "with bad_data = error, dave's own scoring fails on it, naming the feed" \
    "$(q $db -c 'SET ROLE dave' -c "SELECT count(*) FROM health_score.account_scores('2025-12-31')" 2>&1 |
       grep -c 'feed "forum"')" "1"

# A read that fails says which feed, which relation and whose rights it ran with.
q $db -c 'SET ROLE mallory' \
      -c "CREATE OR REPLACE VIEW public.mallory_feed AS SELECT p.* FROM public.posts p WHERE 1 / 0 = 1" >/dev/null
check "a failing read names the feed, its relation and its owner" \
    "$(q $db -c "SELECT count(*) FROM health_score.feed_rows('forum', now())" 2>&1 |
       grep -c 'reading feed "forum" (mallory_feed) as its owner mallory')" "1"

[ $failed -eq 0 ]
