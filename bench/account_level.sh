#!/usr/bin/env bash
# bench/account_level.sh: the account level of scoring (from the metric rows to each account's
# dimension scores, score, band, alert tier, coverage, reason, dimension_scores and weakest
# metrics) in C (the aggregate score_account, src/account_score.c) against the SQL it
# replaced, kept in test/lib/account_scores_reference.sql, side by side on the demo book
# (examples/demo/generate.sql) of 10,000 and 100,000 accounts, in a throwaway cluster.
# Per book: the account level alone over the metric rows kept in a table (as snapshot keeps
# them), against the floor of grouping those rows by account and joining the live accounts;
# then snapshot(as_of) and account_scores(as_of) with either account level (the SQL one
# swapped in for the run by replacing account_scores_sql in a transaction rolled back).
# Inside snapshot, the statement that writes score_history is timed by auto_explain. Medians
# of BENCH_RUNS (default 5) interleaved runs, serial, with microseconds per live account.
#   bench/account_level.sh                          # 10,000 then 100,000 accounts
#   BENCH_ACCOUNTS="2000" bench/account_level.sh    # a quick look
source "$(dirname "$0")/common.sh"

BOOKS=${BENCH_ACCOUNTS:-10000 100000}
END_DATE=2025-12-31

ensure_packages $BASE_PACKAGES
setup_cluster
export PGOPTIONS="-c jit=off -c max_parallel_workers_per_gather=0 -c client_min_messages=warning"

# per_account LIVE LABEL1 SQL1 LABEL2 SQL2 ...: as compare (bench/common.sh), with the median
# in microseconds per live account and the ratio to the first query.
per_account() {
    local live=$1 labels=() queries=() i run base m
    shift
    while [ $# -gt 0 ]; do labels+=("$1"); queries+=("$2"); shift 2; done
    declare -A times
    for i in "${!queries[@]}"; do time_ms "${queries[$i]}" >/dev/null; done
    for run in $(seq "$BENCH_RUNS"); do
        for i in "${!queries[@]}"; do
            times[$i]="${times[$i]:-} $(time_ms "${queries[$i]}")"
        done
    done
    printf '%-58s %11s %13s %8s   %s\n' "query" "median ms" "µs/account" "ratio" "runs (ms)"
    for i in "${!queries[@]}"; do
        # shellcheck disable=SC2086
        m=$(median ${times[$i]})
        [ "$i" -eq 0 ] && base=$m
        printf '%-58s %11.1f %13.1f %8.2f  %s\n' "${labels[$i]}" "$m" \
            "$(awk -v a="$m" -v n="$live" 'BEGIN { print a * 1000 / n }')" \
            "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')" "${times[$i]}"
    done
}

A="'$END_DATE'::timestamptz"
# The SQL account level in place of the C one, for one transaction.
SWAP="CREATE OR REPLACE FUNCTION health_score.account_scores_sql(metric_rows text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
      AS \$\$ SELECT public.account_scores_sql_reference(metric_rows) \$\$;"

for accounts in $BOOKS; do
    db=book_$accounts
    createdb "$db"
    export PGDATABASE=$db
    psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
    log "generating the demo dataset: $accounts accounts, observations up to $END_DATE"
    psql -X -q -v ON_ERROR_STOP=1 -v accounts="$accounts" -v end_date="$END_DATE" -f "$TOP/examples/demo/generate.sql"
    psql -X -q -v ON_ERROR_STOP=1 -v reference_schema=public -f "$TOP/test/lib/account_scores_reference.sql"
    psql -X -q -v ON_ERROR_STOP=1 -c 'VACUUM ANALYZE' \
        -c "CREATE TABLE bench_metric_rows AS SELECT * FROM health_score.metric_scores($A)" \
        -c 'ANALYZE bench_metric_rows'
    live=$(psql -X -At -c "SELECT count(*) FROM health_score.account_scores($A)")
    psql -X -At -c "SELECT format('%s accounts, %s live at $END_DATE; %s observations; %s metric rows', (SELECT count(*) FROM health_score.accounts),
                                  $live, (SELECT count(*) FROM health_score.observations), count(*)) FROM bench_metric_rows"
    old_sql=$(psql -X -At -c "SELECT public.account_scores_sql_reference('public.bench_metric_rows')")
    new_sql=$(psql -X -At -c "SELECT health_score.account_scores_sql('public.bench_metric_rows')")
    [ "$(psql -X -q -At -c "PREPARE o(timestamptz) AS $old_sql" -c "PREPARE n(timestamptz) AS $new_sql" \
            -c "CREATE TEMP TABLE o AS EXECUTE o($A)" -c "CREATE TEMP TABLE n AS EXECUTE n($A)" \
            -c "SELECT count(*) FROM ((SELECT o.*, o.dimension_scores::text FROM o EXCEPT ALL SELECT n.*, n.dimension_scores::text FROM n)
                                         UNION ALL (SELECT n.*, n.dimension_scores::text FROM n EXCEPT ALL SELECT o.*, o.dimension_scores::text FROM o)) d")" = 0 ] ||
        { echo "the two account levels differ on $db" >&2; exit 1; }
    echo "both account levels give the same $live rows"

    echo
    echo "== $accounts accounts: the account level over the kept metric rows (serial)"
    # count(s) forms every row, so each column is computed
    per_account "$live" \
        "floor: metric rows grouped by account, live accounts joined" \
        "SELECT count(s) FROM (SELECT l.account_id, b.n FROM health_score.accounts l
                                LEFT JOIN (SELECT account_id, count(*) AS n FROM bench_metric_rows GROUP BY 1) b USING (account_id)
                               WHERE (l.started_on IS NULL OR l.started_on <= $A) AND (l.churned_on IS NULL OR l.churned_on > $A)) s" \
        "account level, SQL (before)" "PREPARE q(timestamptz) AS SELECT count(s) FROM ($old_sql) s; EXECUTE q($A)" \
        "account level, score_account in C" "PREPARE q(timestamptz) AS SELECT count(s) FROM ($new_sql) s; EXECUTE q($A)"

    echo
    echo "== $accounts accounts: snapshot and account_scores with either account level (serial)"
    per_account "$live" \
        "snapshot(as_of), SQL account level (before)" "BEGIN; $SWAP SELECT health_score.snapshot('$END_DATE'); ROLLBACK" \
        "snapshot(as_of), score_account in C" "BEGIN; SELECT health_score.snapshot('$END_DATE'); ROLLBACK" \
        "account_scores(as_of), SQL account level (before)" "BEGIN; $SWAP SELECT count(s) FROM health_score.account_scores($A) s; ROLLBACK" \
        "account_scores(as_of), score_account in C" "SELECT count(s) FROM health_score.account_scores($A) s"

    # Inside snapshot: the statement that writes score_history (the account level, the churn
    # risk join, the insert), timed by auto_explain; it leaves out weakest_metrics, which the
    # SQL account level then skipped (the planner removed that join), the C one not.
    echo
    echo "== $accounts accounts: inside snapshot, the INSERT INTO score_history (auto_explain, serial)"
    declare -A inside=()
    for run in $(seq 0 "$BENCH_RUNS"); do
        for mode in sql c; do
            from=$(stat -c %s "$WORK/server.log")
            psql -X -q -o /dev/null -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
                -c "SET auto_explain.log_nested_statements = on" \
                -c "BEGIN; $([ $mode = sql ] && echo "$SWAP") SELECT health_score.snapshot('$END_DATE'); ROLLBACK"
            ms=$(tail -c +"$((from + 1))" "$WORK/server.log" |
                 awk '/duration: [0-9.]+ ms  plan:/ { d = $0; sub(/.*duration: /, "", d); sub(/ ms.*/, "", d); getline; getline
                                                       if ($0 ~ /INSERT INTO health_score.score_history/) print d }' | tail -n 1)
            [ "$run" -gt 0 ] && inside[$mode]="${inside[$mode]:-} $ms"   # run 0 warms up
        done
    done
    printf '%-58s %11s %13s   %s\n' "statement" "median ms" "µs/account" "runs (ms)"
    for mode in sql c; do
        # shellcheck disable=SC2086
        m=$(median ${inside[$mode]})
        printf '%-58s %11.1f %13.1f  %s\n' "INSERT INTO score_history, $([ $mode = sql ] && echo "SQL account level (before)" || echo "score_account in C")" \
            "$m" "$(awk -v a="$m" -v n="$live" 'BEGIN { print a * 1000 / n }')" "${inside[$mode]}"
    done
    unset inside
    echo
done
