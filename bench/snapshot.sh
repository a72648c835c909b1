#!/usr/bin/env bash
# bench/snapshot.sh: the nightly snapshot, incremental against a full rescoring, at two
# lengths of history and a fixed number of accounts. Loads the demo dataset
# (examples/demo/generate.sql, a year of observations up to END_DATE) once, stored in time
# order as daily loads store it, and copies it into one database per history length, keeping
# the last N days of observations. In each, the scoring state is brought to the day before
# END_DATE; then the nightly snapshot of END_DATE (the state rolls one day forward, reading
# that day's rows) and the same snapshot with full_rescore => true (every row read again) are
# timed, each in a transaction rolled back, so every run starts from the same state. Medians
# of BENCH_RUNS (default 5) runs interleaved across the four, after a warm-up run each, serial.
# With BENCH_BASELINE=REV (a git revision, e.g. main), the same databases are copied into a
# second cluster running the extension as of REV, and every run times both side by side
# (interleaved), to measure a change against what it changes.
#   bench/snapshot.sh                                    # 5,000 accounts, 30 and 365 days
#   BENCH_ACCOUNTS=1000 BENCH_HISTORIES="30 90" bench/snapshot.sh   # a quick look
#   BENCH_BASELINE=main BENCH_HISTORIES=30 bench/snapshot.sh        # this tree against main
source "$(dirname "$0")/common.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-5000}
HISTORIES=${BENCH_HISTORIES:-30 365}
END_DATE=2025-12-31

BASELINE=${BENCH_BASELINE:-}

ensure_packages $BASE_PACKAGES
setup_cluster
[ -n "$BASELINE" ] && start_baseline "$BASELINE"
INSTALLS="tree${BASELINE:+ baseline}"

# in_install INSTALL CMD...: run CMD against that install's cluster (tree: this source tree)
in_install() {
    local install=$1
    shift
    if [ "$install" = baseline ]; then on_baseline "$@"; else "$@"; fi
}
export PGOPTIONS="-c jit=off -c max_parallel_workers_per_gather=0 -c client_min_messages=warning"

createdb demo
psql -X -q -v ON_ERROR_STOP=1 -d demo -c 'CREATE EXTENSION health_score'
log "generating the demo dataset: $ACCOUNTS accounts, observations up to $END_DATE"
psql -X -q -v ON_ERROR_STOP=1 -d demo -v accounts="$ACCOUNTS" -v end_date="$END_DATE" -f "$TOP/examples/demo/generate.sql"
# in time order, as the README says to store a bulk import once
psql -X -q -v ON_ERROR_STOP=1 -d demo <<'SQL'
BEGIN;
CREATE TEMP TABLE sorted AS SELECT * FROM health_score.observations ORDER BY observed_at;
TRUNCATE health_score.observations;
INSERT INTO health_score.observations SELECT * FROM sorted;
DELETE FROM health_score.observation_changes;
COMMIT;
SQL

for days in $HISTORIES; do
    db=history_$days
    createdb -T demo "$db"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
        -c "DELETE FROM health_score.observations WHERE observed_at <= date '$END_DATE' - $days" \
        -c 'DELETE FROM health_score.observation_changes' \
        -c 'VACUUM FULL health_score.observations' -c 'VACUUM ANALYZE' \
        -c "SELECT brin_summarize_new_values('health_score.observations_observed_at_idx')" >/dev/null
    if [ -n "$BASELINE" ]; then
        # the same rows, in the same physical order, in the baseline's cluster
        on_baseline "$BASELINE_PGBIN/createdb" "$db"
        "$PGBIN/pg_dump" -Fc -d "$db" | on_baseline "$BASELINE_PGBIN/pg_restore" -d "$db" 2>/dev/null || true
        on_baseline psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'DELETE FROM health_score.observation_changes' -c 'VACUUM ANALYZE'
        [ "$(on_baseline psql -X -At -d "$db" -c 'SELECT count(*) FROM health_score.observations')" = \
          "$(psql -X -At -d "$db" -c 'SELECT count(*) FROM health_score.observations')" ] || { log "the baseline's copy of $db differs"; exit 1; }
    fi
    # the state as of the night before, as the last nightly snapshot left it
    for install in $INSTALLS; do
        in_install "$install" psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SELECT health_score.snapshot(date '$END_DATE' - 1)" \
            -c 'VACUUM ANALYZE' >/dev/null
    done
    psql -X -At -d "$db" -c "SELECT format('%s days of history: %s observations (%s), %s accounts live at $END_DATE',
                                           $days, count(*), pg_size_pretty(pg_table_size('health_score.observations')),
                                           (SELECT count(*) FROM health_score.accounts a
                                             WHERE (a.started_on IS NULL OR a.started_on <= '$END_DATE')
                                               AND (a.churned_on IS NULL OR a.churned_on > '$END_DATE')))
                               FROM health_score.observations"
    for mode in rolled full; do
        psql -X -q -At -d "$db" -c "BEGIN" \
            -c "SELECT health_score.snapshot('$END_DATE', full_rescore => $([ $mode = full ] && echo true || echo false))" \
            -c "SELECT format('  %s: %s, %s observation rows read into the state', '$mode', last_mode, last_rows_read)
                  FROM health_score.scoring_state_info" -c "ROLLBACK" | sed -n 2p
    done
done

SNAP="BEGIN; SELECT health_score.snapshot('$END_DATE', full_rescore => %s); ROLLBACK"
declare -A times
for run in $(seq 0 "$BENCH_RUNS"); do
    for days in $HISTORIES; do
        for mode in full rolled; do
            for install in $INSTALLS; do
                # shellcheck disable=SC2059
                ms=$(PGDATABASE=history_$days in_install "$install" time_ms \
                         "$(printf "$SNAP" "$([ $mode = full ] && echo true || echo false)")")
                # run 0 warms up
                [ "$run" -gt 0 ] && times[$install.$days.$mode]="${times[$install.$days.$mode]:-} $ms"
            done
        done
    done
done

echo
echo "== the nightly snapshot of $END_DATE, $ACCOUNTS accounts (serial, median of $BENCH_RUNS)"
printf '%-10s %14s %16s %12s   %s\n' "history" "full, ms" "incremental, ms" "incr./full" "runs (full | incremental)"
first=""
for days in $HISTORIES; do
    # shellcheck disable=SC2086
    f=$(median ${times[tree.$days.full]})
    # shellcheck disable=SC2086
    r=$(median ${times[tree.$days.rolled]})
    printf '%-10s %14.1f %16.1f %12.2f   %s |%s\n' "$days days" "$f" "$r" "$(awk -v a="$r" -v b="$f" 'BEGIN { print a / b }')" \
        "${times[tree.$days.full]}" "${times[tree.$days.rolled]}"
    if [ -z "$first" ]; then first=$days; f0=$f; r0=$r; else
        printf '%-10s %14.2f %16.2f\n' "${days}/${first}" "$(awk -v a="$f" -v b="$f0" 'BEGIN { print a / b }')" \
            "$(awk -v a="$r" -v b="$r0" 'BEGIN { print a / b }')"
    fi
done

if [ -n "$BASELINE" ]; then
    echo
    echo "== this tree against $BASELINE ($(git -C "$TOP" rev-parse --short "$BASELINE")), the same snapshots, interleaved (median of $BENCH_RUNS)"
    printf '%-22s %14s %14s %10s   %s\n' "snapshot" "baseline, ms" "this tree, ms" "ratio" "runs (baseline | this tree)"
    for days in $HISTORIES; do
        for mode in rolled full; do
            # shellcheck disable=SC2086
            b=$(median ${times[baseline.$days.$mode]})
            # shellcheck disable=SC2086
            t=$(median ${times[tree.$days.$mode]})
            printf '%-22s %14.1f %14.1f %10.2f   %s |%s\n' "$days days, $([ $mode = full ] && echo full || echo incremental)" "$b" "$t" \
                "$(awk -v a="$t" -v b="$b" 'BEGIN { print a / b }')" "${times[baseline.$days.$mode]}" "${times[tree.$days.$mode]}"
        done
    done
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
