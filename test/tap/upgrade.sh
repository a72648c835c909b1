#!/usr/bin/env bash
# Upgrades: the first release (0.1.0) is installed, a book that uses everything is loaded
# (accounts and observations, a feed over the user's own view, catalog changes and removed
# defaults, segment weights, alert rules, history from a backfill, a table model and an
# account model, row-level security on), then ALTER EXTENSION health_score UPDATE. Checked:
#   1. the upgraded schema is exactly that of a fresh install of the new version holding the
#      same book (pg_dump --schema-only --binary-upgrade, which lists the extension's own
#      objects, normalised only for OIDs; the configuration tables pg_dump keeps, and how);
#   2. every row of every table, the user's and the extension's, and every result read from
#      the history is the same as before the update (the alerts, which 0.2.0 changes, and the
#      views, whose figures become numeric, as a fresh install gives them from the same
#      history), every score is what a fresh install computes on the same book (0.2.0 scores
#      differently), and the dashboards' materialized copies, which the update rebuilds, hold
#      what their views show at the update's health_score.as_of; the metric history, which
#      0.2.0 stores compactly behind a view of the old table's columns, row for row and to the
#      bit, odd values included;
#   3. a pg_dump of the upgraded database restores and gives the same rows and scores, and a
#      CSM sees only their accounts' history, through the view and in each month's partition.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"
# Scores are compared under a serial plan: a parallel plan may sum in another order.
export PGOPTIONS='-c max_parallel_workers_per_gather=0 -c client_min_messages=warning'

first=0.1.0
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" health_score.control)
up=hs_upgrade fresh=hs_upgrade_fresh restored=hs_upgrade_restored
dir=$(mktemp -d "$WORK/upgrade.XXXXXX")
chmod 755 "$dir"
as_of='2025-12-31 00:00:00+00'

echo "1..27"
throwaway_databases $up $fresh $restored hs_upgrade_user_view
"$PGBIN/createdb" $up && q $up -c "CREATE EXTENSION health_score VERSION '$first'" &&
    "$PGBIN/createdb" $fresh && q $fresh -c 'CREATE EXTENSION health_score' ||
    { echo "Bail out! cannot create the databases"; exit 1; }
# A CSM of the demo book, to see what row-level security shows them.
q postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'csm_alice') THEN CREATE ROLE csm_alice; END IF; END \$\$" \
    -c "GRANT health_score_csm TO csm_alice" >/dev/null
check "the old database runs $first, the fresh one $current" \
    "$(q $up -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'") $(q $fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'")" \
    "$first $current"

# load_book DB: the user's configuration, data, history, models and access rules.
load_book() {
    q "$1" -v accounts=150 -v end_date=2025-12-31 -f examples/demo/generate.sql >/dev/null &&
    q "$1" -f test/lib/book.sql >/dev/null &&
    q "$1" >/dev/null <<'SQL'
SET timezone = 'UTC';
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days) VALUES ('score_drop', true, 10, 14);
-- history, a table model and an account model
SELECT count(*) FROM health_score.backfill('2025-10-01', '2025-12-31', '7 days');
CREATE TABLE public.churn_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x1, ((i * 53) % 19) / 3.0::float8 AS x2,
       ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END AS churned
  FROM generate_series(1, 200) i;
SELECT version FROM health_score.train_churn_model('table_model', 'public.churn_rows', ARRAY['x1', 'x2'], 'churned');
SELECT version FROM health_score.train_account_churn_model('account_model', '2025-09-01', '90 days',
    ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'support_sentiment'], snapshots => 2);
SELECT health_score.refresh();
-- row-level security
SELECT health_score.restrict_accounts_to_owners(true);
SQL
}
load_book $up && ok "the book is loaded into the $first database" || not_ok "the book is loaded into the $first database"
# Metric history as 0.1.0 may hold it, which the compact storage must keep to the bit: a
# metric without values (0.1.0 kept the rows of metrics spoilt by bad data),
# NaN, infinite, tiny and negative-zero values, contributions that are not effective_weight *
# sub_score, a NULL dimension and a metric the catalog no longer has (at a date the backfill
# did not take, in a month it did, so that the months are those of a fresh install).
q $up >/dev/null <<'SQL'
INSERT INTO health_score.metric_history (as_of, account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution)
VALUES ('2025-10-02', 'ACC-00001', 'login_frequency', 'product', NULL, NULL, NULL, NULL),
       ('2025-10-02', 'ACC-00001', 'nps', 'relationship', 'NaN', 'NaN', 0.125, 'NaN'),
       ('2025-10-02', 'ACC-00001', 'roi', 'business', 'Infinity', 100, '-0', '-0'),
       ('2025-10-02', 'ACC-00001', 'retired_metric', NULL, 3.5, 42, 0.2, 8.5),
       ('2025-10-02', 'ACC-00002', 'csat', 'relationship', '-Infinity', 0, 5e-324, 0),
       ('2025-10-02', 'ACC-00002', 'nps', 'relationship', 1e-300, 1e-300, 1e-300, 0),
       ('2025-10-02', 'ACC-00002', 'roi', 'business', 2, 50, 0.5, NULL),
       ('2025-10-02', 'ACC-00003', 'roi', 'business', 2, 50, 0.5, 25);
SQL

# Tables of 0.1.0 that 0.2.0 keeps as views of the same columns over another storage (the
# metric history, stored compactly): their rows are compared as those of the tables.
became_views="health_score.metric_history"

# rows DB KINDS [COLUMNS]: the rows of every relation of those kinds (r tables, m materialized
# views) in the extension's schema and the user's, and of $became_views, each as a count and an
# md5 of its rows as text in a fixed order; and the configuration version. The column lists
# used are written to $dir/columns, or read from the file COLUMNS (so columns an upgrade adds
# are left out). The incremental scoring's state and change log are left out: derived data,
# not dumped, rebuilt by the first snapshot.
rows() {
    local rel cols
    [ -n "${3:-}" ] || : >"$dir/columns"
    for rel in $(q "$1" -c "SELECT format('%I.%I', n.nspname, c.relname)
                              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname IN ('health_score', 'forum', 'public')
                               AND (c.relkind = ANY ('{$2}') OR format('%I.%I', n.nspname, c.relname) = ANY (string_to_array('$became_views', ' ')))
                               AND NOT (n.nspname = 'health_score'
                                        AND c.relname IN ('scoring_state', 'scoring_state_info', 'observation_changes'))
                             ORDER BY 1"); do
        if [ -n "${3:-}" ]; then
            cols=$(awk -v rel="$rel" '$1 == rel { $1 = ""; print substr($0, 2) }' "$3")
        else
            cols=$(q "$1" -c "SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                               WHERE a.attrelid = '$rel'::regclass AND a.attnum > 0 AND NOT a.attisdropped")
            echo "$rel $cols" >>"$dir/columns"
        fi
        echo "$rel $(q "$1" -c "SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\n' ORDER BY r::text), '')) FROM (SELECT ${cols:-*} FROM $rel) r")"
    done
    echo "config_version $(q "$1" -c 'SELECT health_score.config_version()')"
}

# results DB FOLDER QUERY...: the rows of each query (a relation or a function call) at as_of,
# one file per query, in a fixed order, columns separated by |.
results() {
    local db=$1 folder=$2 query
    shift 2
    mkdir -p "$folder"
    for query in "$@"; do
        q "$db" -c "SET health_score.as_of = '$as_of'" -c "SELECT * FROM $query r ORDER BY r::text" >"$folder/$query"
    done
}
# scoring DB FOLDER: what the functions and views score from the book at as_of;
# reading DB FOLDER: what they read from the history; scores DB FOLDER: both.
scoring() {
    results "$1" "$2" "health_score.account_scores('$as_of')" "health_score.metric_scores('$as_of')" \
                 "health_score.account_churn_risk('$as_of')" "health_score.revenue_at_risk('$as_of')" \
                 health_score.account_health health_score.account_churn health_score.dimension_breakdown \
                 health_score.band_summary health_score.action_queue health_score.upsell_candidates \
                 health_score.revenue_at_risk
}
reading() {
    results "$1" "$2" "health_score.trends('2025-12-31')" "health_score.alerts_at('2025-12-31')" \
                 "health_score.attribution('2025-11-05', '2025-12-31')" "health_score.backtest('{30}')" \
                 health_score.score_trends health_score.alerts health_score.band_changes \
                 health_score.effective_alert_rules
}
scores() { scoring "$1" "$2" && reading "$1" "$2"; }

# same_scores FOLDER1 FOLDER2 [TOLERANCE]: the queries whose results differ, numbers compared
# within a tolerance (default 0: exactly), relative to the number or to 1 if it is smaller
# (a residual such as attribution's rounding is a difference of large numbers); nothing when
# all agree. A sum over rows read in another physical order (a restored table) may differ in
# the last bits.
same_scores() {
    local f
    for f in "$1"/*; do
        awk -F'|' -v tol="${3:-0}" '
            function num(x) { return x ~ /^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/ }
            NR == FNR { want[FNR] = $0; n = FNR; next }
            { got[FNR] = $0; m = FNR }
            END {
                if (n != m) exit 1
                for (i = 1; i <= n; i++) {
                    if (want[i] == got[i]) continue
                    k = split(want[i], a, "|"); if (split(got[i], b, "|") != k) exit 1
                    for (j = 1; j <= k; j++) {
                        if (a[j] == b[j]) continue
                        if (!num(a[j]) || !num(b[j])) exit 1
                        d = a[j] - b[j]; d = d < 0 ? -d : d; s = (a[j] < 0 ? -a[j] : a[j]); s = s < 1 ? 1 : s
                        if (d > tol * s) exit 1
                    }
                }
            }' "$f" "$2/$(basename "$f")" || echo "$(basename "$f") differs"
    done
}

# schema DB: the schema as pg_dump sees it in binary-upgrade mode (where the extension's own
# objects are dumped one by one), without the OIDs that mode pins, nor the count of layouts of
# the metric history (data: 0.1.0 scored other sets of metrics than 0.2.0 does).
schema() {
    "$PGBIN/pg_dump" --schema-only --binary-upgrade -d "$1" |
        grep -v -E '^SELECT pg_catalog\.binary_upgrade_(set_next_|create_empty_extension)|^-- For binary upgrade|pg\.dropped\.' |
        grep -v -E "^SELECT pg_catalog\.setval\('health_score\.metric_history_layout_numbers', " |
        grep -v -E "^SET relfrozenxid = |^WHERE oid = '[0-9]+';\$|^\\\\(un)?restrict " |
        sed -E '/^--$/d; /^$/d'
}
# extension_config DB: the configuration tables pg_dump keeps, with the filter of each.
extension_config() {
    q "$1" -c "SELECT string_agg(c.relname || ' ' || coalesce(e.cond, ''), E'\n' ORDER BY c.relname)
                 FROM pg_extension x, unnest(x.extconfig, x.extcondition) AS e(tab, cond) JOIN pg_class c ON c.oid = e.tab
                WHERE x.extname = 'health_score'"
}

rows "$up" r >"$dir/rows.before"
scores "$up" "$dir/scores.before"
check_that "the book fills history, both models, a feed and row-level security" \
    '[ "$(q $up -c "SELECT (SELECT count(*) > 1000 FROM health_score.score_history) AND (SELECT count(DISTINCT name) = 2 FROM health_score.churn_models)
                        AND (SELECT count(*) = 1 FROM health_score.feeds) AND (SELECT count(*) FROM health_score.removed_defaults) > 0
                        AND (SELECT relrowsecurity FROM pg_class WHERE oid = '"'"'health_score.accounts'"'"'::regclass)")" = t ]'

# The update rebuilds the dashboards' materialized copies as of health_score.as_of.
q $up -c "SET health_score.as_of = '$as_of'" -c 'ALTER EXTENSION health_score UPDATE' 2>"$dir/update.err" && [ ! -s "$dir/update.err" ] &&
    ok "ALTER EXTENSION health_score UPDATE, without errors or warnings" ||
    { not_ok "ALTER EXTENSION health_score UPDATE, without errors or warnings"; sed 's/^/#   /' "$dir/update.err"; }
check "the upgraded database runs $current" \
    "$(q $up -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'")" "$current"
# Models trained before the update stored no covariance matrix: no intervals, and the reason.
check "the models trained on $first have no covariance matrix: NULL bounds, with the reason" \
    "$(q $up -c "SELECT (SELECT count(covariance) FROM health_score.churn_models) || ' | '
                        || (SELECT count(*) FILTER (WHERE churn_risk IS NOT NULL) || ' risks, ' || count(churn_risk_low) || ' bounds'
                              FROM health_score.account_churn_risk('$as_of')) || ' | '
                        || (SELECT concat_ws(', ', low, high, reason) FROM health_score.churn_probability_interval('table_model', '{1, 2}'))")" \
    "0 | $(q $up -c "SELECT count(churn_risk) FROM health_score.account_churn_risk('$as_of')") risks, 0 bounds | churn model \"table_model\" v1 has no covariance matrix: it was trained before health_score 0.2.0, which stores it; train it again for intervals"

# A view of the user's over account_churn_risk() (whose columns change) stops the update before
# anything changes, naming the view.
user_view=hs_upgrade_user_view
"$PGBIN/createdb" $user_view && q $user_view -c "CREATE EXTENSION health_score VERSION '$first'" \
    -c "CREATE VIEW public.my_risk AS SELECT account_id, churn_risk FROM health_score.account_churn_risk(now())" >/dev/null
q $user_view -c 'ALTER EXTENSION health_score UPDATE' >/dev/null 2>"$dir/user_view.err"
check "a view of the user's over account_churn_risk() stops the update, named, and $first stays" \
    "$(grep -o 'ERROR: .*' "$dir/user_view.err"); $(q $user_view -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'")" \
    "ERROR:  health_score 0.2.0 adds columns to the functions account_churn_risk and revenue_at_risk, and these read them: public.my_risk; $first"
# So do the user's views over the extension's views and their materialized copies, whose column
# types change.
q $user_view -c "DROP VIEW public.my_risk" -c "CREATE VIEW public.my_health AS SELECT account_id, score FROM health_score.account_health" \
    -c "CREATE MATERIALIZED VIEW public.my_alerts AS SELECT account_id FROM health_score.alerts_mv" >/dev/null
q $user_view -c 'ALTER EXTENSION health_score UPDATE' >/dev/null 2>"$dir/user_view.err"
check "views of the user's over the extension's views stop the update, named, and $first stays" \
    "$(grep -o 'ERROR: .*' "$dir/user_view.err"); $(q $user_view -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'")" \
    "ERROR:  health_score 0.2.0 changes the column types of its views (their figures become numeric), and these read them: public.my_alerts, public.my_health; $first"

# ---- 1. the upgraded schema is a fresh install's --------------------------------------------------
load_book $fresh && ok "the same book is loaded into a fresh $current database" ||
    not_ok "the same book is loaded into a fresh $current database"
schema $up >"$dir/schema.upgraded"
schema $fresh >"$dir/schema.fresh"
check "pg_dump --schema-only --binary-upgrade lists each of the extension's objects" \
    "$(grep -c "^ALTER EXTENSION health_score ADD" "$dir/schema.fresh")" \
    "$(q $fresh -c "SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                      AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'health_score')")"
if diff -u "$dir/schema.fresh" "$dir/schema.upgraded" >"$dir/schema.diff"; then
    ok "the upgraded schema equals a fresh install's: no difference at all"
else
    not_ok "the upgraded schema equals a fresh install's: no difference at all"
    head -n 80 "$dir/schema.diff" | sed 's/^/#   /'
fi
check "pg_dump keeps the same configuration tables, with the same filters" \
    "$(extension_config $up)" "$(extension_config $fresh)"

# ---- 2. the user's data and every score are intact ------------------------------------------------
cp "$dir/columns" "$dir/columns.before"
rows "$up" r "$dir/columns.before" >"$dir/rows.after"
scores "$up" "$dir/scores.after"
# (Tables new in this version are checked on their own below.)
check "every row of every table is still there and equal ($(wc -l <"$dir/rows.before") relations)" \
    "$(diff "$dir/rows.before" <(grep -F -f <(cut -d' ' -f1 "$dir/rows.before" | sed 's/$/ /') "$dir/rows.after") | head -n 20)" ""
# The update rebuilt the dashboards' materialized copies (their views' columns changed type):
# each holds, row for row, what its view shows at the update's health_score.as_of.
copies=$(q $up -c "SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class
                    WHERE relnamespace = 'health_score'::regnamespace AND relkind = 'm'")
check "the update rebuilt the dashboards' copies ($(wc -w <<<"$copies") materialized views, $(q $up -c "SELECT count(*) FROM health_score.account_health_mv") accounts): each holds what its view shows at the update's as_of" \
    "$(for mv in $copies; do
           q $up -c "SET health_score.as_of = '$as_of'" -c "SELECT '$mv differs' WHERE EXISTS (SELECT * FROM health_score.$mv EXCEPT ALL SELECT * FROM health_score.${mv%_mv})
                                                           OR EXISTS (SELECT * FROM health_score.${mv%_mv} EXCEPT ALL SELECT * FROM health_score.$mv)"
       done)" ""
# 0.2.0 scores differently (metrics.absent_means, rates over the time an account has existed):
# what reads the history is as before the update, what scores is what 0.2.0 computes. The
# alerts change on purpose (windows reach back to the snapshot before them, so the book's weekly
# history now shows a 30-day band downgrade; the new unusual_drop rule): they are compared with
# a fresh install's reading the same history, below, and so are the views over the history,
# whose figures are numeric now.
reading "$up" "$dir/reading.after"
changed=("health_score.alerts_at('2025-12-31')" health_score.effective_alert_rules
         health_score.score_trends health_score.alerts health_score.band_changes)
mkdir -p "$dir/changed.after"
for query in "${changed[@]}"; do mv "$dir/reading.after/$query" "$dir/changed.after/"; done
check "what reads the history is the same ($(ls "$dir/reading.after" | wc -l) queries, to the last bit)" \
    "$(same_scores "$dir/reading.after" "$dir/scores.before")" ""
metric_rows="SELECT string_agg(format('%s %s %s %s', name, aggregation, absent_means, is_default), ', ' ORDER BY name) FROM health_score.metrics"
check "every metric, seeded or the user's, has the absent_means of a fresh install ($(q $up -c "SELECT count(*) FILTER (WHERE NOT is_default) FROM health_score.metrics") of the user's)" \
    "$(q $up -c "$metric_rows")" "$(q $fresh -c "$metric_rows")"
# The scores themselves are a fresh install's on the same book, once it holds the churn models
# the upgraded database keeps (trained on 0.1.0's scores before the update).
q $fresh -c 'DELETE FROM health_score.churn_models'
for t in churn_models churn_model_terms churn_model_calibration; do
    q $up -c "COPY health_score.$t TO STDOUT" | q $fresh -c "COPY health_score.$t FROM STDIN"
done
scoring "$up" "$dir/scoring.upgraded"
scoring "$fresh" "$dir/scoring.fresh"
check "every score through the functions and views is what a fresh install computes on the same book and models ($(ls "$dir/scoring.upgraded" | wc -l) queries, to the last bit)" \
    "$(same_scores "$dir/scoring.fresh" "$dir/scoring.upgraded")" ""
# The alerts, from the history the upgraded database keeps (0.1.0's scores).
q $fresh -c 'DELETE FROM health_score.score_history'
q $up -c "COPY health_score.score_history TO STDOUT" | q $fresh -c "COPY health_score.score_history FROM STDIN"
results $fresh "$dir/changed.fresh" "${changed[@]}"
check "the alerts and alert rules, which $current changes, and the views over the history are a fresh install's on the same history" \
    "$(same_scores "$dir/changed.fresh" "$dir/changed.after")" ""
# Models of 0.1.0 had numeric and boolean columns only: each term is recorded as its own
# column, so they score from raw values by column name as from their features array.
check "the models of $first record each term as its own column, and score from raw values" "$(q $up <<'SQL'
SELECT (SELECT bool_and(feature_columns = features AND cardinality(feature_levels) = cardinality(features)
                        AND array_position(feature_levels, NULL) = 1 AND array_remove(feature_levels, NULL) = '{}'
                        AND reference_levels = '{}' AND positive_label IS NULL)
          FROM health_score.churn_models)
       AND (SELECT bool_and(feature_column = term AND level IS NULL) FROM health_score.churn_model_terms WHERE position > 0)
       AND health_score.churn_probability_of('table_model', '{"x1": 1.5, "x2": 2}')
           = health_score.churn_probability('table_model', '{1.5,2}')
SQL
)" t

# ---- 3. a dump of the upgraded database restores the same ----------------------------------------
"$PGBIN/pg_dump" -Fc -f "$dir/upgraded.dump" $up && "$PGBIN/createdb" $restored &&
    "$PGBIN/pg_restore" -d $restored "$dir/upgraded.dump" 2>"$dir/restore.err"
check "pg_dump of the upgraded database restores without errors" "$(cat "$dir/restore.err")" ""
check "the restored database holds every row of every table the upgraded one does" \
    "$(diff <(rows $up r) <(rows $restored r) | head -n 20)" ""
# rls DB: the tables with row-level security on, and their policies.
rls() {
    q "$1" -c "SELECT string_agg(c.relname || coalesce(' ' || p.policies, ''), ', ' ORDER BY c.relname)
                      || '; restricted: ' || health_score.accounts_restricted()
                 FROM pg_class c LEFT JOIN (SELECT tablename, string_agg(policyname, ' ' ORDER BY policyname) AS policies
                                              FROM pg_policies WHERE schemaname = 'health_score' GROUP BY 1) p ON p.tablename = c.relname
                WHERE c.relnamespace = 'health_score'::regnamespace AND c.relrowsecurity"
}
check "row-level security is the same after the restore" "$(rls $restored)" "$(rls $up)"
# csm_sees DB: the accounts, observations and score history rows a CSM of the book (csm_alice)
# sees; owned DB: those of csm_alice's accounts, as the superuser sees them.
# The metric history is read through the view, and also month by month from each partition by
# its name (query_to_xml runs the count as the caller).
csm_sees() {
    q "$1" -c "SET ROLE csm_alice" -c "SELECT (SELECT count(*) FROM health_score.accounts) || ' accounts, '
        || (SELECT count(*) FROM health_score.observations) || ' observations, '
        || (SELECT count(*) FROM health_score.score_history) || ' in the history, '
        || (SELECT count(*) FROM health_score.metric_history) || ' in the metric history, '
        || (SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', i.inhrelid::regclass),
                                                           false, true, '')))[1]::text::bigint)
              FROM pg_inherits i WHERE i.inhparent = 'health_score.metric_history_days'::regclass) || ' in its months'"
}
owned() {
    q "$1" -c "SELECT (SELECT count(*) FROM health_score.accounts WHERE owner = 'csm_alice') || ' accounts, '
        || (SELECT count(*) FROM health_score.observations o JOIN health_score.accounts a USING (account_id) WHERE a.owner = 'csm_alice') || ' observations, '
        || (SELECT count(*) FROM health_score.score_history h JOIN health_score.accounts a USING (account_id) WHERE a.owner = 'csm_alice') || ' in the history, '
        || (SELECT count(*) FROM health_score.metric_history h JOIN health_score.accounts a USING (account_id) WHERE a.owner = 'csm_alice') || ' in the metric history, '
        || (SELECT count(*) FROM health_score.metric_history_days h JOIN health_score.accounts a USING (account_id) WHERE a.owner = 'csm_alice') || ' in its months'"
}
check_that "csm_alice owns some of the book's accounts, not all" \
    '[ "$(q $up -c "SELECT count(*) FILTER (WHERE owner = '"'"'csm_alice'"'"') BETWEEN 1 AND count(*) - 1 FROM health_score.accounts")" = t ]'
check "after the upgrade a CSM sees only their accounts, their observations and their history, metric history and its months included" "$(csm_sees $up)" "$(owned $up)"
check "and after a dump and restore too" "$(csm_sees $restored)" "$(csm_sees $up)"
scores "$restored" "$dir/scores.restored"
check "and scores the same (within 1e-12: restored catalog rows lie in another physical order)" \
    "$(same_scores "$dir/scores.after" "$dir/scores.restored" 1e-12)" ""
# The dashboards' materialized views are data derived at the last refresh: a restore recreates
# them from the restored data (refresh() would also take today's snapshot, so refresh them
# directly), and then they must hold what the upgraded ones hold after the same refresh.
dashboards=$(q $up -c "SELECT string_agg(oid::regclass::text, ' ' ORDER BY 1) FROM pg_class
                        WHERE relnamespace = 'health_score'::regnamespace AND relkind = 'm'")
for db in $up $restored; do
    for mv in $dashboards; do q $db -c "SET health_score.as_of = '$as_of'" -c "REFRESH MATERIALIZED VIEW $mv"; done
done
results $up "$dir/dashboards.upgraded" $dashboards
results $restored "$dir/dashboards.restored" $dashboards
check "the restored dashboards, refreshed, hold what the upgraded ones do after the same refresh ($(wc -w <<<"$dashboards") views)" \
    "$(same_scores "$dir/dashboards.upgraded" "$dir/dashboards.restored" 1e-12)" ""

[ $failed -eq 0 ]
