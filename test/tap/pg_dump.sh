#!/usr/bin/env bash
# pg_dump round trip: a database holding the extension, a configuration changed in every way a
# user would (a seeded metric reweighted and re-curved, a new dimension and metric, a seeded
# metric and a seeded segment weight deleted, segment weights changed and a segment added,
# bands and alert tiers re-partitioned, min_coverage raised, a feed over the user's own view)
# and the demo data with subscription periods for some accounts, dumped in plain and custom format and restored into fresh databases. The
# restored databases must hold the same catalog (row for row), the same configuration version
# and give exactly the same account_scores and metric_scores as the original did; accounts
# restricted to their owners stay restricted.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"
# Scores are compared under a serial plan: a parallel plan may sum in another order.
export PGOPTIONS='-c max_parallel_workers_per_gather=0'

src=hs_dump_src plain=hs_dump_plain custom=hs_dump_custom plain1=hs_dump_plain1 again=hs_dump_again
dir=$(mktemp -d "$WORK/pg_dump.XXXXXX")
as_of='2025-12-31 00:00:00+00'

echo "1..28"
throwaway_databases $src $plain $custom $plain1 $again
"$PGBIN/createdb" $src && q $src -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $src"; exit 1; }

# ---- data: the demo generator at a small size; the user's configuration and forum posts ------------
if q $src -v accounts=120 -v end_date=2025-12-31 -f examples/demo/generate.sql >/dev/null
then ok "demo data loaded (120 accounts)"
else not_ok "demo data loaded (120 accounts)"; fi
if q $src -f test/lib/book.sql >/dev/null
then ok "the configuration is changed in every way (weights, curve, new and deleted rows, bands, tiers, settings, feed)"
else not_ok "the configuration is changed in every way (weights, curve, new and deleted rows, bands, tiers, settings, feed)"; fi

# Subscription periods for some accounts still there at as_of: the first ten (by key) left on
# 2025-09-01 and came back on 2025-12-15 at 20 % more, the next five left on 2025-12-01 for good.
# The periods reference their accounts, so a restore must load the accounts first.
q $src >/dev/null <<'SQL'
CREATE TEMP TABLE chosen AS
SELECT account_id, started_on, mrr, row_number() OVER (ORDER BY account_id) AS n
  FROM health_score.accounts WHERE churned_on IS NULL AND started_on < '2025-06-01' ORDER BY account_id LIMIT 15;
INSERT INTO health_score.subscriptions (account_id, started_on, ended_on, mrr, seats)
SELECT account_id, started_on, CASE WHEN n <= 10 THEN date '2025-09-01' ELSE date '2025-12-01' END, mrr, n FROM chosen
UNION ALL
SELECT account_id, '2025-12-15', NULL, mrr * 1.2, n FROM chosen WHERE n <= 10;
SQL
check "the periods shape the scores: the five accounts that left are not scored, the ten back are" \
    "$(q $src -c "SELECT count(*) FILTER (WHERE s.account_id IS NULL) || ' ' || count(*) FILTER (WHERE s.account_id IS NOT NULL)
                   FROM (SELECT account_id, count(*) AS periods FROM health_score.subscriptions GROUP BY 1) p
                   LEFT JOIN health_score.account_scores('$as_of') s USING (account_id)")" "5 10"

# The saved results live in the user's own tables, so they travel with the dump.
q $src >/dev/null <<SQL
CREATE TABLE public.saved_account_scores AS SELECT * FROM health_score.account_scores('$as_of');
CREATE TABLE public.saved_metric_scores AS SELECT * FROM health_score.metric_scores('$as_of');
CREATE TABLE public.saved_config AS SELECT health_score.config_version() AS config_version;
SQL
# Accounts restricted to their owners: a CSM of the demo book must see only theirs after a restore.
q $src -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'csm_carol') THEN CREATE ROLE csm_carol; END IF; END \$\$" \
    -c "GRANT health_score_csm TO csm_carol" -c "SELECT health_score.restrict_accounts_to_owners()" >/dev/null
# csm_sees DB: the accounts, observations and periods csm_carol sees, and (as the superuser)
# those it owns.
csm_sees() {
    q "$1" -c "SET ROLE csm_carol" -c "SELECT (SELECT count(*) FROM health_score.accounts) || ' accounts, '
                                          || (SELECT count(*) FROM health_score.observations) || ' observations, '
                                          || (SELECT count(*) FROM health_score.subscriptions) || ' periods'"
}
owned=$(q $src -c "SELECT (SELECT count(*) FROM health_score.accounts WHERE owner = 'csm_carol') || ' accounts, '
                          || (SELECT count(*) FROM health_score.observations o JOIN health_score.accounts a USING (account_id)
                               WHERE a.owner = 'csm_carol') || ' observations, '
                          || (SELECT count(*) FROM health_score.subscriptions p JOIN health_score.accounts a USING (account_id)
                               WHERE a.owner = 'csm_carol') || ' periods'")
check "a CSM sees only the accounts, observations and periods it owns ($owned of $(q $src -c 'SELECT count(*) FROM health_score.accounts') accounts, $(q $src -c 'SELECT count(*) FROM health_score.subscriptions') periods)" \
    "$(csm_sees $src)" "$owned"
check "the changed configuration shapes the scores (forum metric scored, csat not, scores and a NULL score present)" \
    "$(q $src -c "SELECT (SELECT count(*) > 0 FROM saved_metric_scores WHERE metric = 'forum_posts')
                         AND (SELECT count(*) = 0 FROM saved_metric_scores WHERE metric = 'csat')
                         AND (SELECT count(score) > 50 AND count(*) > count(score) FROM saved_account_scores)
                         AND (SELECT config_version > 0 FROM saved_config)")" "t"

# fingerprint DB: every catalog table, each row as text, in key order (numbers as text, so
# any difference shows), and the configuration version.
fingerprint() {
    local t out=""
    for t in dimensions metrics segment_dimension_weights segment_metric_weights bands alert_tiers settings \
             removed_defaults feeds subscriptions; do
        out+="$t:$(q "$1" -c "SELECT md5(coalesce(string_agg(r::text, E'\n' ORDER BY r::text), '')) FROM health_score.$t r") "
    done
    echo "$out"
}
catalog_src=$(fingerprint $src)
check "the catalog fingerprint covers ten tables (and the subscription periods)" "$(grep -o -E ':[0-9a-f]{32} ' <<<"$catalog_src" | wc -l)" "10"

# ---- dump ---------------------------------------------------------------------------------------
"$PGBIN/pg_dump" -d $src -Fp -f "$dir/plain.sql" 2>"$dir/dump_plain.err" &&
    [ ! -s "$dir/dump_plain.err" ] && ok "pg_dump, plain format, without warnings" ||
    { not_ok "pg_dump, plain format, without warnings"; sed 's/^/#   /' "$dir/dump_plain.err"; }
"$PGBIN/pg_dump" -d $src -Fc -f "$dir/dump.custom" 2>"$dir/dump_custom.err" &&
    [ ! -s "$dir/dump_custom.err" ] && ok "pg_dump, custom format, without warnings" ||
    { not_ok "pg_dump, custom format, without warnings"; sed 's/^/#   /' "$dir/dump_custom.err"; }
check "the dump keeps the user's catalog rows and tombstones, not the seeded ones" \
    "$(grep -c -E "^(forum_posts|csat|login_recency)	|^metrics	\{\"name\": \"csat\"\}" "$dir/plain.sql")" "2"

# ---- restore ------------------------------------------------------------------------------------
# restore_checks DB LABEL: the restored database against the original.
restore_checks() {
    local db=$1 label=$2
    check "$label: the catalog is the same, row for row" "$(fingerprint $db)" "$catalog_src"
    check "$label: the CSM still sees only its own accounts, observations and periods" "$(csm_sees $db)" "$owned"
    check "$label: the configuration version is the same" \
        "$(q $db -c "SELECT health_score.config_version() = config_version FROM saved_config")" "t"
    check "$label: account_scores at as_of are identical (EXCEPT both ways, no rows; same count)" \
        "$(q $db -c "SELECT (SELECT count(*) FROM (SELECT * FROM saved_account_scores
                                                    EXCEPT ALL SELECT * FROM health_score.account_scores('$as_of')) d)
                          || ' ' || (SELECT count(*) FROM (SELECT * FROM health_score.account_scores('$as_of')
                                                          EXCEPT ALL SELECT * FROM saved_account_scores) d)
                          || ' ' || (SELECT count(*) FROM saved_account_scores)")" \
        "0 0 $(q $src -c 'SELECT count(*) FROM saved_account_scores')"
    # The effective weights are sums over a window whose row order the plan chooses, so their
    # last bits can differ after a restore; everything else must be bit for bit the same.
    check "$label: metric_scores at as_of are identical in account, metric, dimension, raw value and sub-score (EXCEPT both ways)" \
        "$(q $db -c "WITH r AS (SELECT account_id, metric, dimension, raw_value, sub_score FROM health_score.metric_scores('$as_of')),
                          s AS (SELECT account_id, metric, dimension, raw_value, sub_score FROM saved_metric_scores)
                     SELECT (SELECT count(*) FROM (TABLE s EXCEPT ALL TABLE r) d) || ' ' || (SELECT count(*) FROM (TABLE r EXCEPT ALL TABLE s) d)
                            || ' ' || (SELECT count(*) FROM r)")" \
        "0 0 $(q $src -c 'SELECT count(*) FROM saved_metric_scores')"
    check "$label: metric_scores effective weights and contributions agree to 1e-12" \
        "$(q $db -c "SELECT count(*) FILTER (WHERE abs(r.effective_weight - s.effective_weight) <= 1e-12
                                              AND abs(r.contribution - s.contribution) <= 1e-12 * 100)
                          || ' ' || count(*)
                     FROM saved_metric_scores s JOIN health_score.metric_scores('$as_of') r USING (account_id, metric)")" \
        "$(q $src -c 'SELECT count(*) || chr(32) || count(*) FROM saved_metric_scores')"
}

# Plain format, statement by statement (no single transaction), stopping at the first error.
"$PGBIN/createdb" $plain
if q $plain -f "$dir/plain.sql" >/dev/null 2>"$dir/restore_plain.err" && ! grep -q -E 'ERROR|WARNING' "$dir/restore_plain.err"; then
    ok "plain dump restores with psql (no single transaction) without an error or warning"
else
    not_ok "plain dump restores with psql (no single transaction) without an error or warning"
    sed 's/^/#   /' "$dir/restore_plain.err" | head -n 20
fi
restore_checks $plain "plain restore"

# Custom format with pg_restore, stopping at the first error.
"$PGBIN/createdb" $custom
if "$PGBIN/pg_restore" --exit-on-error -d $custom "$dir/dump.custom" 2>"$dir/restore_custom.err" &&
   [ ! -s "$dir/restore_custom.err" ]; then
    ok "custom dump restores with pg_restore without an error or warning"
else
    not_ok "custom dump restores with pg_restore without an error or warning"
    sed 's/^/#   /' "$dir/restore_custom.err" | head -n 20
fi
restore_checks $custom "custom restore"

# The plain dump in one transaction (psql -1) restores too.
"$PGBIN/createdb" $plain1
if q $plain1 -1 -f "$dir/plain.sql" >/dev/null 2>"$dir/restore_plain1.err" && ! grep -q -E 'ERROR|WARNING' "$dir/restore_plain1.err"; then
    ok "plain dump restores in a single transaction (psql -1) too"
else
    not_ok "plain dump restores in a single transaction (psql -1) too"
    sed 's/^/#   /' "$dir/restore_plain1.err" | head -n 20
fi
check "single-transaction restore: the catalog is the same, row for row" "$(fingerprint $plain1)" "$catalog_src"

# A restored database is a normal one: it dumps and restores again to the same catalog, and
# the configuration checks still refuse bad changes.
"$PGBIN/createdb" $again
if "$PGBIN/pg_dump" -d $custom -Fc -f "$dir/again.custom" &&
   "$PGBIN/pg_restore" --exit-on-error -d $again "$dir/again.custom" 2>"$dir/restore_again.err" && [ ! -s "$dir/restore_again.err" ]; then
    check "a second round trip (dump of the restored database) keeps the catalog and the version" \
        "$(fingerprint $again) $(q $again -c 'SELECT health_score.config_version() = config_version FROM saved_config')" "$catalog_src t"
else
    not_ok "a second round trip (dump of the restored database) keeps the catalog and the version"
    sed 's/^/#   /' "$dir/restore_again.err" | head -n 20
fi
check "after a restore, bands that leave a gap are still refused at commit" \
    "$(q $custom -c "BEGIN" -c "UPDATE health_score.bands SET min_score = 76 WHERE band = 'green'" -c "COMMIT" 2>&1 |
       grep -o -m1 'bands leave the scores from 75 to 76 uncovered')" \
    "bands leave the scores from 75 to 76 uncovered"
check "after a restore, a change bumps the configuration version" \
    "$(q $custom -c "UPDATE health_score.settings SET min_coverage = 0.5" -c "SELECT health_score.config_version() > config_version FROM saved_config")" "t"

[ $failed -eq 0 ]
