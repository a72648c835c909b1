#!/usr/bin/env bash
# Citus: the extension on a real Citus cluster (a coordinator and two workers, each a throwaway
# cluster on a private socket folder and port) gives what one server gives. The same book (the
# demo generator's accounts and a year of observations, test/lib/book.sql's configuration and
# feed, alert rules, a backfill, a table model and an account model, a refresh()) is loaded into
# a database of the suite's server and, after distribute(), into the coordinator; then every
# score, view, alert, materialized view, history table and history reading, the churn models, AUCs,
# backtests and revenue at risk agree within 1e-9 (bands and other text exactly). The whole
# distributed run has citus.coordinator_aggregation_strategy = 'disabled', so nothing is pulled
# to the coordinator row by row, and EXPLAIN shows the scoring pass and the aggregates pushed
# down to the shards. Writes through the coordinator, the refusals and what row-level security
# becomes are checked too. Skipped, with the reason, when no Citus is installed and CITUS_SOURCE
# names no source to build it from (scripts/citus.sh).
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, PG_CONFIG, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"
source scripts/citus.sh

if ! found=$(citus_find "$WORK/inst"); then
    echo "1..0 # SKIP no Citus: $found"
    exit 0
fi
echo "# $found"

single=hs_citus_single
throwaway_databases $single
dir=$(mktemp -d "$WORK/citus.XXXXXX")
trap 'citus_stop; drop_throwaway_databases' EXIT
citus_cluster "$dir" 2 || { echo "Bail out! cannot start the Citus cluster"; tail -n 5 "$dir"/node*.log; exit 1; }
coordinator=${CITUS_PORTS[0]}
as_of='2025-12-31 00:00:00+00'
# Serial plans on both sides; on the coordinator no aggregate may be computed from raw rows.
serial='-c max_parallel_workers_per_gather=0 -c client_min_messages=warning'
s() { PGOPTIONS="$serial" q $single "$@"; }
c() { PGOPTIONS="$serial -c citus.coordinator_aggregation_strategy=disabled" citus_psql "$coordinator" "$@"; }

"$PGBIN/createdb" $single && s -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $single"; exit 1; }
c -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create the extension on the coordinator"; exit 1; }
version=$(s -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'")
check "the extension is on the coordinator and both workers, version $version (Citus creates it on the workers)" \
    "$(for port in "${CITUS_PORTS[@]}"; do citus_psql "$port" -c "SELECT extversion FROM pg_extension WHERE extname = 'health_score'"; done | tr '\n' ' ')" \
    "$version $version $version "

# Refusals: no Citus on the single server, a bad shard count, a restriction Citus cannot keep.
check "without Citus distribute() is refused (0A000, naming Citus)" \
    "$(s -c '\set VERBOSITY sqlstate' -c 'SELECT health_score.distribute()' 2>&1; s -c 'SELECT health_score.distribute()' 2>&1 | grep -c 'needs Citus')" \
    "ERROR:  0A000
1"
check "shard_count 0 is refused (22023)" \
    "$(c -c '\set VERBOSITY sqlstate' -c 'SELECT health_score.distribute(shard_count => 0)' 2>&1)" "ERROR:  22023"
c -c 'SELECT health_score.restrict_accounts_to_owners(true)' >/dev/null
check "distribute() refuses while accounts are restricted to their owners (0A000)" \
    "$(c -c '\set VERBOSITY sqlstate' -c 'SELECT health_score.distribute(4)' 2>&1)" "ERROR:  0A000"
c -c 'SELECT health_score.restrict_accounts_to_owners(false)' >/dev/null
check "PUBLIC may not execute distribute()" \
    "$(c -c "SELECT has_function_privilege('public', 'health_score.distribute(integer)', 'EXECUTE')")" f

# An account loaded before distribute(): its rows move to the shards.
early="INSERT INTO health_score.accounts (account_id, segment, mrr, started_on) VALUES ('EARLY-1', 'smb', 100, '2025-01-01');
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT 'EARLY-1', 'login', timestamptz '2025-12-30 12:00+00' - i * interval '1 day', 1 FROM generate_series(0, 59) i;"
s -c "$early" && c -c "$early"
check "distribute(shard_count => 4): the tables keyed by account, colocated" \
    "$(c -F ' ' -c 'SELECT table_name, kind FROM health_score.distribute(shard_count => 4)')" \
    "health_score.accounts distributed
health_score.observations distributed
health_score.score_history distributed
health_score.scoring_state distributed
health_score.subscriptions distributed"
check "in one colocation group of 4 shards each; the catalog stays local" \
    "$(c -F ' ' -c "SELECT count(DISTINCT p.colocationid), min(n.shards), max(n.shards), count(*)
                      FROM pg_dist_partition p JOIN pg_class r ON r.oid = p.logicalrelid
                     CROSS JOIN LATERAL (SELECT count(*) AS shards FROM pg_dist_shard d
                                          WHERE d.logicalrelid = p.logicalrelid) n
                     WHERE r.relnamespace = 'health_score'::regnamespace")" "1 4 4 5"
check "the rows loaded before moved to the shards, none left in the coordinator's table" \
    "$(c -c "SELECT count(*) FROM health_score.observations WHERE account_id = 'EARLY-1'") $(c -c "SELECT pg_relation_size('health_score.observations')")" \
    "60 0"
check "a second distribute() leaves them as they are" \
    "$(c -c 'SELECT DISTINCT kind FROM health_score.distribute()')" "already distributed"
check "then accounts cannot be restricted to their owners (0A000): Citus would not keep the policy" \
    "$(c -c '\set VERBOSITY sqlstate' -c 'SELECT health_score.restrict_accounts_to_owners(true)' 2>&1)" "ERROR:  0A000"

# The book, loaded the same way on both: the demo generator (writing to the distributed tables
# through the coordinator), the configuration and feed, history, models, the refresh's steps.
load() {
    "$1" -v accounts=150 -v end_date=2025-12-31 -c 'SET client_min_messages = error' -f examples/demo/generate.sql >/dev/null &&
    "$1" -c 'SET client_min_messages = error' -f test/lib/book.sql >/dev/null &&
    "$1" ${2:+-c "$2"} >/dev/null <<'SQL'
SET timezone = 'UTC';
-- Subscription periods for a part of the book: live accounts that upgrade on 2025-10-15,
-- leave on 11-10 and come back on 12-15 (35 days, more than the grace); churners renewed
-- late (a 15-day lapse within the grace) before they leave.
INSERT INTO health_score.subscriptions (account_id, started_on, ended_on, mrr)
SELECT a.account_id, p.started_on, p.ended_on, a.mrr * p.factor
  FROM health_score.accounts a
 CROSS JOIN LATERAL (VALUES (a.started_on, date '2025-10-15', 1.0), ('2025-10-15', '2025-11-10', 1.5),
                            ('2025-12-15', NULL, 1.2)) p (started_on, ended_on, factor)
 WHERE a.churned_on IS NULL AND a.started_on < '2025-09-01' AND a.account_id ~ '[05]$'
UNION ALL
SELECT a.account_id, p.started_on, p.ended_on, a.mrr * p.factor
  FROM health_score.accounts a
 CROSS JOIN LATERAL (VALUES (a.started_on, a.churned_on - 40, 1.0), (a.churned_on - 25, a.churned_on, 0.8)) p (started_on, ended_on, factor)
 WHERE a.churned_on - 40 > a.started_on AND a.account_id ~ '[37]$';
INSERT INTO health_score.alert_rules (rule, enabled, threshold, window_days) VALUES ('score_drop', true, 10, 14);
SELECT count(*) FROM health_score.backfill('2025-10-01', '2025-12-31', '7 days');
SELECT version FROM health_score.train_churn_model('table_model', 'public.churn_rows', ARRAY['x1', 'x2'], 'churned');
SELECT version FROM health_score.train_account_churn_model('account_model', '2025-09-01', '90 days',
    ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'support_sentiment'], snapshots => 2);
SET health_score.as_of = '2025-12-31';   -- what the materialized views read
SELECT health_score.refresh();            -- the feeds, today's snapshot, every materialized view
SQL
}
rows_sql="CREATE TABLE public.churn_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x1, ((i * 53) % 19) / 3.0::float8 AS x2,
       ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END AS churned
  FROM generate_series(1, 2000) i"
s -c "$rows_sql" >/dev/null && c -c "$rows_sql" -c "SELECT create_distributed_table('public.churn_rows', 'i')" >/dev/null
load s && ok "the book is loaded on the single server" || not_ok "the book is loaded on the single server"
load c && ok "the book is loaded through the coordinator, aggregation on the coordinator disabled" \
    || not_ok "the book is loaded through the coordinator, aggregation on the coordinator disabled"

# results FOLDER PSQL QUERY...: each query's rows at as_of, in a fixed order, | between columns.
results() {
    local folder=$1 run=$2 query
    shift 2
    mkdir -p "$folder"
    for query in "$@"; do
        "$run" -c "SET health_score.as_of = '$as_of'" -c "SELECT * FROM $query r ORDER BY r::text" >"$folder/$query" 2>&1 ||
            echo "failed: $(head -n 3 "$folder/$query")" >>"$folder/errors"
    done
}
# same FOLDER1 FOLDER2: the queries whose rows differ, numbers (in arrays and jsonb too) compared
# within 1e-9 relative to the number (or to 1 if it is smaller), anything else exactly.
same() {
    local f
    for f in "$1"/*; do
        awk -F'|' -v tol=1e-9 '
            function num(x) { return x ~ /^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/ }
            NR == FNR { want[FNR] = $0; n = FNR; next }
            { got[FNR] = $0; m = FNR }
            END {
                if (n != m) exit 1
                for (i = 1; i <= n; i++) {
                    if (want[i] == got[i]) continue
                    gsub(/[][{}(),:"]/, "|", want[i]); gsub(/[][{}(),:"]/, "|", got[i])
                    k = split(want[i], a, "|"); if (split(got[i], b, "|") != k) exit 1
                    for (j = 1; j <= k; j++) {
                        if (a[j] == b[j]) continue
                        if (!num(a[j]) || !num(b[j])) exit 1
                        d = a[j] - b[j]; d = d < 0 ? -d : d; s = (a[j] < 0 ? -a[j] : a[j]); s = s < 1 ? 1 : s
                        if (d > tol * s) exit 1
                    }
                }
            }' "$f" "$2/$(basename "$f")" || { echo "$(basename "$f") differs:"; diff "$f" "$2/$(basename "$f")" | head -n 6; }
    done
}
queries=(
    "health_score.account_scores('$as_of')" "health_score.metric_scores('$as_of')"
    "health_score.account_churn_risk('$as_of')" "health_score.revenue_at_risk('$as_of')"
    health_score.account_health health_score.account_churn health_score.dimension_breakdown
    health_score.band_summary health_score.action_queue health_score.upsell_candidates
    health_score.revenue_at_risk
    health_score.account_periods health_score.churn_events "health_score.live_accounts('2025-11-20')"
    "health_score.trends('2025-12-31')"
    "health_score.score_change_z('2025-12-31')"
    "health_score.attribution('2025-11-05', '2025-12-31')" "health_score.attribution_summary('2025-11-05', '2025-12-31')"
    "health_score.backtest('{30}')" "health_score.backtest_points('{30}')" "health_score.backtest_bands('{30}')"
    "health_score.backtest_compare('{30}')"
    health_score.score_trends health_score.band_changes health_score.effective_alert_rules
    "health_score.alerts_at('2025-12-31')" "health_score.alerts_at('2025-11-26')" health_score.alerts
    health_score.account_history health_score.dimension_history
    health_score.account_health_mv health_score.dimension_breakdown_mv health_score.band_summary_mv
    health_score.action_queue_mv health_score.upsell_candidates_mv health_score.score_trends_mv
    health_score.alerts_mv
    "(SELECT as_of, account_id, score, band, alert_tier, coverage, churn_risk, reason, dimension_scores, churn_risk_low, churn_risk_high FROM health_score.score_history)"
    "(SELECT * FROM health_score.metric_history)"
    "(SELECT name, version, active, kind, features, coefficients, std_errors, center, scale, loglik, null_loglik, aic, iterations, rows_used, rows_skipped, positives, auc, auc_std_error, brier, covariance FROM health_score.churn_models)"
    # a table model's deciles split tied probabilities by row order: the account model's only
    "(SELECT * FROM health_score.churn_model_terms)"
    "(SELECT * FROM health_score.churn_model_calibration WHERE name = 'account_model')"
    "health_score.suggest_weights('account_model')" "health_score.propose_curves('$as_of')"
    "health_score.churn_cross_validate('public.churn_rows', ARRAY['x1', 'x2'], 'churned')"
    "(SELECT health_score.auc_health(h.score, a.churned_on IS NOT NULL) FROM health_score.score_history h JOIN health_score.accounts a USING (account_id) WHERE h.as_of = '2025-10-01')"
    "(SELECT o.metric, health_score.auc(least(abs(o.value), 100), o.value > 1), health_score.decayed_avg(o.value, o.observed_at, '$as_of', '30 days') FROM health_score.observations o GROUP BY o.metric)"
    "(SELECT health_score.data_through(), health_score.config_version() > 0)"
)
results "$WORK/citus_single" s "${queries[@]}"
results "$WORK/citus_coordinator" c "${queries[@]}"
check "every query runs on the single server" "$(cat "$WORK/citus_single/errors" 2>/dev/null)" ""
check "every query runs on the coordinator with coordinator aggregation disabled" "$(cat "$WORK/citus_coordinator/errors" 2>/dev/null)" ""
rm -f "$WORK"/citus_*/errors
check "the book is the same on both ($(wc -l <"$WORK/citus_single/health_score.account_health") accounts scored)" \
    "$(c -c 'SELECT count(*) FROM health_score.accounts') $(c -c 'SELECT count(*) FROM health_score.observations') $(c -c 'SELECT count(*) FROM health_score.subscriptions')" \
    "$(s -c 'SELECT count(*) FROM health_score.accounts') $(s -c 'SELECT count(*) FROM health_score.observations') $(s -c 'SELECT count(*) FROM health_score.subscriptions')"
check "${#queries[@]} scores, views, histories, models and figures agree within 1e-9, bands exactly" \
    "$(same "$WORK/citus_single" "$WORK/citus_coordinator")" ""
check_that "the results are not empty (trends, backtest points, alerts, history rows, reactivations)" \
    '[ -s "$WORK/citus_single/health_score.score_trends" ] && [ -s "$WORK/citus_single/health_score.backtest_points('"'"'{30}'"'"')" ] &&
     [ -s "$WORK/citus_single/health_score.alerts_at('"'"'2025-12-31'"'"')" ] && [ -s "$WORK/citus_single/health_score.alerts_mv" ] &&
     grep -q "|2025-11-10|.*|2025-12-15" "$WORK/citus_single/health_score.churn_events" &&
     [ "$(wc -l <"$WORK/citus_single/(SELECT * FROM health_score.metric_history)")" -gt 1000 ]'


# The bands reordered (green and red swap their ranges) on both: the workers keep the
# extension's default bands, so whatever reads the bands must read them on the coordinator.
swap_bands="UPDATE health_score.bands SET (min_score, max_score) = (SELECT s.min_score, s.max_score
              FROM health_score.bands s WHERE s.band = CASE bands.band WHEN 'green' THEN 'red' ELSE 'green' END)
             WHERE band IN ('green', 'red')"
s -c "$swap_bands" >/dev/null && c -c "$swap_bands" >/dev/null
band_queries=(health_score.band_changes health_score.account_health health_score.band_summary
    health_score.action_queue health_score.score_trends "health_score.trends('2025-12-31')"
    "health_score.alerts_at('2025-12-31')" "health_score.backtest_bands('{30}')")
results "$WORK/citus_bands_single" s "${band_queries[@]}"
results "$WORK/citus_bands_coordinator" c "${band_queries[@]}"
check "with green and red swapped on the coordinator, the band views agree (${#band_queries[@]}), band changes' direction too" \
    "$(cat "$WORK/citus_bands_coordinator/errors" 2>/dev/null; same "$WORK/citus_bands_single" "$WORK/citus_bands_coordinator")" ""
check_that "the swap turns downgrades into upgrades: the check can see a worker's default bands" \
    '[ "$(grep -c "|downgrade|" "$WORK/citus_single/health_score.band_changes")" != "$(grep -c "|downgrade|" "$WORK/citus_bands_single/health_score.band_changes")" ]'
s -c "$swap_bands" >/dev/null && c -c "$swap_bands" >/dev/null

# The plans, coordinator aggregation disabled: the scoring pass aggregates each account's
# observations on its shard; an aggregate grouped by another column, and a Newton pass of the
# churn training, run as partial aggregates on the shards merged on the coordinator. With a feed
# enabled the observations are grouped by account on the shards and the feed's rows on the
# coordinator, their states merged there: per-account results move, never the observations.
scoring_plan() {
    c <<SQL
SELECT format('PREPARE scoring(timestamptz) AS %s',
              health_score.account_scores_sql('(' || health_score.metric_scores_sql() || ')')) \gexec
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE scoring('$as_of');
SQL
}
# moved_bytes: bytes the coordinator received or sent between steps, from EXPLAIN ANALYZE.
moved_bytes() {
    awk '/Intermediate Data Size:|Tuple data received from nodes:/ {
             v = $(NF - 1); u = $NF; v *= (u == "kB" ? 1024 : u == "MB" ? 1048576 : 1); s += v }
         END { printf "%d", s }'
}
table=$(c -c "SELECT citus_table_size('health_score.observations')")
feed_plan=$(scoring_plan)
with_feed=$(moved_bytes <<<"$feed_plan")
check "the scoring pass with a feed: metric_values_state grouped by account on each shard of observations" \
    "$(grep 'Query: .*health_score.metric_values_state(' <<<"$feed_plan" | grep 'observations_[0-9]' | grep -c 'GROUP BY')" 1
c -c "UPDATE health_score.feeds SET enabled = false" >/dev/null
plan=$(scoring_plan)
c -c "UPDATE health_score.feeds SET enabled = true" >/dev/null
check "the scoring pass without feeds: metric_values grouped by account on each shard of observations" \
    "$(grep 'Query: .*health_score.metric_values(' <<<"$plan" | grep 'observations_[0-9]' | grep -c 'GROUP BY')" 1
moved=$(moved_bytes <<<"$plan")
check_that "it moves per-account results (intermediate results between the steps), not observations: $moved bytes between coordinator and workers (with the feed $with_feed), the observations take $table" \
    '[ "$moved" -gt 0 ] && [ $((moved * 2)) -lt "$table" ]'
# With the feed the per-account states (about 2 kB an account, whatever the history) move in
# the place of the raw values: no step of the plan receives a row per observation.
observation_rows=$(c -c "SELECT count(*) FROM health_score.observations")
most_rows=$(grep -o 'Custom Scan (Citus Adaptive) (actual rows=[0-9]*' <<<"$feed_plan" | grep -o '[0-9]*$' | sort -n | tail -n 1)
check_that "with the feed no step receives a row per observation: at most $most_rows rows from the nodes ($observation_rows observations; $with_feed bytes between the steps)" \
    '[ -n "$most_rows" ] && [ $((most_rows * 10)) -lt "$observation_rows" ]'
plan=$(c -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT o.metric, health_score.decayed_avg(o.value, o.observed_at, '$as_of', '30 days')
               FROM health_score.observations o GROUP BY o.metric")
check "decayed_avg grouped by metric: worker_partial_agg on the shards, coord_combine_agg on the coordinator" \
    "$(grep -c 'worker_partial_agg' <<<"$plan") $(grep -c 'coord_combine_agg' <<<"$plan")" "2 1"
plan=$(c -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT health_score.logit_step(ARRAY[x1, x2], churned, '{0,0,0}', '{0,0}', '{1,1}')
               FROM public.churn_rows")
check "a Newton pass over a distributed table: partial logit_step states on the shards, combined on the coordinator" \
    "$(grep -c 'worker_partial_agg' <<<"$plan") $(grep -c 'coord_combine_agg' <<<"$plan")" "2 1"

# Writes through the coordinator: rows land in their shard, a bad row is refused and takes its
# transaction's other rows with it, updates and deletes work.
acc=$(c -c "SELECT min(account_id) FROM health_score.accounts WHERE churned_on IS NULL")
before=$(c -c "SELECT count(*) FROM health_score.observations WHERE account_id = '$acc'")
c -c "INSERT INTO health_score.observations VALUES ('$acc', 'login', '2025-12-31 09:00+00', 1), ('$acc', 'nps', '2025-12-31 09:00+00', 9)" >/dev/null
check "observations written through the coordinator are read back" \
    "$(c -c "SELECT count(*) FROM health_score.observations WHERE account_id = '$acc'")" "$((before + 2))"
check "a NaN is refused (23514) and the row written before it in the transaction is not kept" \
    "$(c -c '\set VERBOSITY sqlstate' -c 'BEGIN' -c "INSERT INTO health_score.observations VALUES ('$acc', 'login', '2025-12-30 09:00+00', 1)" \
         -c "INSERT INTO health_score.observations VALUES ('$acc', 'login', '2025-12-30 10:00+00', 'NaN')" 2>&1)
$(c -c "SELECT count(*) FROM health_score.observations WHERE account_id = '$acc'")" \
    "ERROR:  23514
$((before + 2))"
check "accounts are updated and observations deleted through the coordinator" \
    "$(c -c "UPDATE health_score.accounts SET mrr = 4242 WHERE account_id = '$acc'" \
         -c "DELETE FROM health_score.observations WHERE account_id = '$acc' AND observed_at = '2025-12-31 09:00+00'" \
         -c "SELECT mrr FROM health_score.accounts WHERE account_id = '$acc'" \
         -c "SELECT count(*) FROM health_score.observations WHERE account_id = '$acc'" | tr '\n' ' ')" \
    "4242 $before "
check "refresh() on the coordinator: today's snapshot and every materialized view, alerts_mv as the alerts view" \
    "$(c -c 'SELECT health_score.refresh() > 0' \
         -c 'SELECT count(*) FROM (SELECT * FROM health_score.alerts_mv EXCEPT ALL SELECT * FROM health_score.alerts) x' \
         -c 'SELECT count(*) > 0 FROM health_score.alerts_mv' | tr '\n' ' ')" "t 0 t "
check "the feed is read on the coordinator (check_feeds)" \
    "$(c -c "SELECT count(*) FROM health_score.feeds WHERE status = 'ok'")" 1

# Row-level security on Citus: roles are created on the workers too, and must be able to log in
# there (Citus reads the shards as the caller); a CSM reads every account (the owner restriction
# is refused on Citus, above), a role without the extension's roles none.
c -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'citus_csm') THEN CREATE ROLE citus_csm LOGIN; END IF;
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'citus_nobody') THEN CREATE ROLE citus_nobody LOGIN; END IF; END \$\$" \
  -c 'GRANT health_score_csm TO citus_csm' >/dev/null
check "a CSM reads every account's score and history through the coordinator" \
    "$(c -c 'SET ROLE citus_csm' -c "SELECT count(*) FROM health_score.account_scores('$as_of')" \
         -c "SELECT count(DISTINCT account_id) FROM health_score.score_history WHERE as_of = '2025-12-31'" | tr '\n' ' ')" \
    "$(c -c "SELECT count(*) FROM health_score.account_scores('$as_of')" \
         -c "SELECT count(DISTINCT account_id) FROM health_score.score_history WHERE as_of = '2025-12-31'" | tr '\n' ' ')"
check "a CSM reads the metric history (on the coordinator, its policy reading the distributed accounts)" \
    "$(c -c 'SET ROLE citus_csm' -c "SELECT count(*), count(DISTINCT account_id) FROM health_score.metric_history WHERE as_of = '2025-12-31'" \
         -c "SELECT count(*) FROM health_score.attribution('2025-11-05', '2025-12-31')" 2>&1 | tr '\n' ' ')" \
    "$(c -c "SELECT count(*), count(DISTINCT account_id) FROM health_score.metric_history WHERE as_of = '2025-12-31'" \
         -c "SELECT count(*) FROM health_score.attribution('2025-11-05', '2025-12-31')" | tr '\n' ' ')"
check "a role without the extension's roles may not read observations (42501)" \
    "$(c -c '\set VERBOSITY sqlstate' -c 'SET ROLE citus_nobody' -c 'SELECT count(*) FROM health_score.observations' 2>&1)" \
    "ERROR:  42501"

echo "1..$n"
[ $failed -eq 0 ]
