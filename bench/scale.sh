#!/usr/bin/env bash
# bench/scale.sh: the nightly refresh of a large book, and what history costs. For each book
# size (accounts at the demo's density, from bench/scale_gen.c: about 290 observations per
# account and year, loaded day after day as daily loads store them) and each depth of
# observation history (days of observations before the night):
#   - the nightly snapshot: the previous night's snapshot is taken, the day's observations
#     are loaded (with the indexes in place, as a daily load), and snapshot() of the next day
#     is timed (median of SCALE_RUNS runs; each replaces the date's rows);
#   - the observation rows it reads (pg_stat_user_tables: rows fetched by scans of
#     observations during the snapshot) against the rows of the new day and of the table;
#   - the metric history it writes for that day: bytes of metric_history_days
#     (pg_total_relation_size before and after the first run, which writes a date of its own,
#     here always into a partition that no other run has written), per account, metric and day;
#   - at one depth, the same snapshot under other settings of work_mem (SCALE_WORK_MEMS);
# and, at one depth, a backfill of a month (SCALE_BACKFILL_DAYS daily snapshots, one call),
# with the bytes of history it adds (metric_history_days and score_history) per day.
# The snapshot is the one this commit ships (the script prints the commit): rerun it as the
# snapshot changes. Observations are loaded without their btree index and the index is built
# after each bulk load (a btree filled in day order by a million accounts costs hours).
#   bench/scale.sh                                              # 10,000 and 100,000 accounts
#   SCALE_ACCOUNTS=1000000 SCALE_RUNS=1 bench/scale.sh          # the million-account book
#   SCALE_ACCOUNTS=2000 SCALE_DEPTHS="30 60" bench/scale.sh     # a quick look
# Env: SCALE_ACCOUNTS (book sizes), SCALE_DEPTHS (days of history, ascending; default
# "30 180 365"), SCALE_RUNS (timed snapshots per point, default 3), SCALE_BACKFILL_AT (the
# depth after which the month is backfilled, default the last; "none" to skip),
# SCALE_BACKFILL_DAYS (default 30), SCALE_WORK_MEM (work_mem of the sessions, default the
# server's 64MB), SCALE_WORK_MEMS (the others to compare, default "4MB 256MB"; 4MB is
# PostgreSQL's default; "" for none) and SCALE_WORK_MEM_AT (the depth where, default the last),
# SCALE_DROP_HISTORY (1: drop the history after the backfill, to keep the disk for the
# observations of the deeper books; the nights after it start without history),
# SCALE_EXPLAIN_AT (a depth where one more snapshot runs under auto_explain, every statement
# of it over 50 ms printed with its EXPLAIN ANALYZE at the end; default none).
# SCALE_DASHBOARDS (1: at every depth, also time refresh() at the night, its snapshot and the
# dashboards' materialized views, against the same with the views scoring again; "refresh":
# refresh() alone; default 0).
# The load column is the machine's 1-minute load average at the start of each timed run,
# lowest and highest: on 2 cores, figures taken above 2 are inflated by other work.
source "$(dirname "$0")/common.sh"

ACCOUNTS_LIST=${SCALE_ACCOUNTS:-10000 100000}
DEPTHS=${SCALE_DEPTHS:-30 180 365}
RUNS=${SCALE_RUNS:-3}
BACKFILL_AT=${SCALE_BACKFILL_AT:-${DEPTHS##* }}
BACKFILL_DAYS=${SCALE_BACKFILL_DAYS:-30}
WORK_MEM=${SCALE_WORK_MEM:-}
DASHBOARDS=${SCALE_DASHBOARDS:-0}
WORK_MEMS=${SCALE_WORK_MEMS-4MB 256MB}
WORK_MEM_AT=${SCALE_WORK_MEM_AT:-${DEPTHS##* }}
DROP_HISTORY=${SCALE_DROP_HISTORY:-0}
EXPLAIN_AT=${SCALE_EXPLAIN_AT:-none}
END_DATE=2025-12-31          # the book's year is the 365 days before it

ensure_packages $BASE_PACKAGES
setup_cluster "maintenance_work_mem = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min"
cc -O2 -o "$WORK/scale_gen" "$TOP/bench/scale_gen.c" -lm
GEN="$WORK/scale_gen"
log "commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown): $(git -C "$TOP" log -1 --format=%s 2>/dev/null | cut -c1-100)"
log "disk: $(df -h "$WORK" | awk 'NR == 2 { print $4 " free of " $2 }')"
export PGOPTIONS="-c jit=off -c client_min_messages=warning${WORK_MEM:+ -c work_mem=$WORK_MEM}"

load_now() { cut -d' ' -f1 /proc/loadavg; }
load_range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd- -; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
first_day=$(psql -X -At -d postgres -c "SELECT date '$END_DATE' - 365")
day_of() { psql -X -At -d postgres -c "SELECT date '$first_day' + $1"; }

# load FROM TO: the observations of the book's days FROM to TO - 1, in bulk, without the
# btree (dropped, then built again), then VACUUM ANALYZE.
load() {
    local start
    start=$(date +%s.%N)
    psql -X -q -c 'DROP INDEX IF EXISTS health_score.observations_account_id_metric_observed_at_idx'
    "$GEN" observations "$N" "$END_DATE" "$1" "$2" | psql -X -q -c 'COPY health_score.observations FROM STDIN'
    psql -X -q -c 'CREATE INDEX observations_account_id_metric_observed_at_idx
                       ON health_score.observations (account_id, metric, observed_at)' \
         -c 'VACUUM ANALYZE health_score.observations'
    log "loaded days $1-$(($2 - 1)): $(psql -X -At -c 'SELECT count(*) FROM health_score.observations') observations in $(elapsed "$start") s"
}

# observations_read: rows fetched from observations by scans so far (counters of this database)
# (a session's counters reach them when it ends: time_ms's session has ended, give it a moment)
observations_read() {
    sleep 1
    psql -X -At -c "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                      FROM pg_stat_user_tables WHERE relid = 'health_score.observations'::regclass"
}
history_bytes() {
    psql -X -At -c "SELECT coalesce((SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
                                      WHERE i.inhparent = 'health_score.metric_history_days'::regclass), 0)
                           || ' ' || pg_total_relation_size('health_score.score_history')"
}

printf '\n%-9s %5s %13s %9s %10s %13s %8s %9s %8s %11s\n' accounts days observations new_day snapshot_s rows_read read_x metric_MB B/metric load
results=() explained=()
for N in $ACCOUNTS_LIST; do
    db="scale_$N"
    createdb "$db"
    export PGDATABASE=$db
    psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION health_score'
    "$GEN" accounts "$N" "$END_DATE" | psql -X -q -c 'COPY health_score.accounts FROM STDIN'
    psql -X -q -c 'ANALYZE health_score.accounts'
    loaded=0
    for depth in $DEPTHS; do
        [ "$depth" -gt "$loaded" ] && load "$loaded" "$depth"
        night=$(day_of "$depth")
        next=$(day_of $((depth + 1)))
        start=$(date +%s.%N)
        psql -X -q -c "SELECT health_score.snapshot('$night')" >/dev/null
        log "$N accounts, $depth days: the previous night's snapshot ($night) in $(elapsed "$start") s"
        # the day's observations, loaded as a daily load (indexes in place)
        "$GEN" observations "$N" "$END_DATE" "$depth" $((depth + 1)) | psql -X -q -c 'COPY health_score.observations FROM STDIN'
        loaded=$((depth + 1))
        new_day=$(psql -X -At -c "SELECT count(*) FROM health_score.observations
                                   WHERE observed_at >= '$night'::timestamptz AND observed_at < '$next'::timestamptz")
        total=$(psql -X -At -c 'SELECT count(*) FROM health_score.observations')
        read -r metric_before _ <<<"$(history_bytes)"
        times=() loads=() read_rows=""
        for run in $(seq "$RUNS"); do
            before=$(observations_read)
            loads+=("$(load_now)")
            times+=("$(time_ms "SELECT health_score.snapshot('$next')")")
            after=$(observations_read)
            [ -n "$read_rows" ] || read_rows=$((after - before))
            if [ "$run" -eq 1 ]; then
                read -r metric_after _ <<<"$(history_bytes)"
                metric_rows=$(psql -X -At -c "SELECT sum(cardinality(raw_values)) FROM health_score.metric_history_days WHERE as_of = '$next'")
            fi
        done
        # shellcheck disable=SC2086
        line=$(printf '%-9s %5s %13s %9s %10.1f %13s %8.2f %9.1f %8.1f %11s' "$N" "$depth" "$total" "$new_day" \
            "$(awk -v m="$(median "${times[@]}")" 'BEGIN { print m / 1000 }')" "$read_rows" \
            "$(awk -v r="$read_rows" -v n="$new_day" 'BEGIN { print r / n }')" \
            "$(awk -v a="$metric_after" -v b="$metric_before" 'BEGIN { print (a - b) / 1048576 }')" \
            "$(awk -v a="$metric_after" -v b="$metric_before" -v n="$metric_rows" 'BEGIN { print (a - b) / n }')" \
            "$(load_range "${loads[@]}")")
        echo "$line"
        results+=("$line   runs (ms): ${times[*]}")
        if [ "$DASHBOARDS" != 0 ]; then
            # refresh() at the night: its snapshot, then the dashboards' materialized views from
            # the snapshot's metric rows (refresh_dashboards), in one transaction; against the
            # views scoring the book again, each on its own, as before refresh_rows (the same
            # refreshes with health_score.as_of a microsecond later, which refresh_rows does not serve)
            refresh=() again=()
            for run in $(seq "$RUNS"); do
                refresh+=("$(time_ms "SELECT health_score.snapshot('$next'), health_score.refresh_dashboards('$next')")")
                [ "$DASHBOARDS" = refresh ] ||   # refresh() alone, without the comparison
                    again+=("$(PGOPTIONS="$PGOPTIONS -c health_score.as_of=${next}T00:00:00.000001" time_ms "SELECT health_score.snapshot('$next'), health_score.refresh_dashboards('$next')")")
            done
            results+=("$(printf '%-9s %5s   refresh(): snapshot and dashboards, median %.1f s; with the views scoring again, %.1f s   runs (ms): %s / %s' "$N" "$depth" \
                "$(awk -v m="$(median "${refresh[@]}")" 'BEGIN { print m / 1000 }')" \
                "$(awk -v m="$(median "${again[@]:-0}")" 'BEGIN { print m / 1000 }')" "${refresh[*]}" "${again[*]:-}")")
        fi
        if [ "$depth" = "$WORK_MEM_AT" ]; then
            for wm in $WORK_MEMS; do
                times=()
                for run in $(seq "$RUNS"); do
                    times+=("$(PGOPTIONS="$PGOPTIONS -c work_mem=$wm" time_ms "SELECT health_score.snapshot('$next')")")
                done
                results+=("$(printf '%-9s %5s   the same snapshot with work_mem = %s: median %.1f s   runs (ms): %s' "$N" "$depth" "$wm" \
                    "$(awk -v m="$(median "${times[@]}")" 'BEGIN { print m / 1000 }')" "${times[*]}")")
            done
        fi
        if [ "$depth" = "$EXPLAIN_AT" ]; then
            # one more run of the same snapshot, its statements' plans logged by auto_explain
            log_from=$(($(stat -c %s "$WORK/server.log") + 1))
            psql -X -q -o /dev/null -c "LOAD 'auto_explain'" -c 'SET auto_explain.log_min_duration = 50' \
                 -c 'SET auto_explain.log_analyze = on' -c 'SET auto_explain.log_buffers = on' \
                 -c 'SET auto_explain.log_nested_statements = on' -c "SELECT health_score.snapshot('$next')"
            explained+=("$N accounts, $depth days, snapshot('$next') under auto_explain (statements over 50 ms):"
                        "$(tail -c +"$log_from" "$WORK/server.log")")
        fi
        if [ "$depth" = "$BACKFILL_AT" ]; then
            # the month ends before the night, so its dates are new: what they add is theirs
            read -r metric_before score_before <<<"$(history_bytes)"
            start=$(date +%s.%N)
            psql -X -q -c "CREATE TABLE bench_backfill AS
                SELECT * FROM health_score.backfill(date '$night' - $BACKFILL_DAYS, date '$night' - 1)"
            wall=$(elapsed "$start")
            read -r metric_after score_after <<<"$(history_bytes)"
            results+=("$(psql -X -At -c "SELECT format('%s accounts, %s days of history: backfill of %s days in %s s (median %s s a day, %s-%s s)',
                                $N, $depth, count(*), round(sum(seconds)::numeric, 1),
                                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 1),
                                round(min(seconds)::numeric, 1), round(max(seconds)::numeric, 1))
                           FROM bench_backfill")   wall clock $wall s")
            results+=("$(psql -X -At -c "SELECT format('   history it added per day: metric %s MB (%s bytes per account, metric and day), scores %s MB (%s bytes per account and day)',
                                round(($metric_after - $metric_before) / 1048576.0 / $BACKFILL_DAYS, 1),
                                round(($metric_after - $metric_before)::numeric / sum(cardinality(h.raw_values)), 1),
                                round(($score_after - $score_before) / 1048576.0 / $BACKFILL_DAYS, 1),
                                round(($score_after - $score_before)::numeric
                                      / (SELECT count(*) FROM health_score.score_history s
                                          WHERE s.as_of BETWEEN date '$night' - $BACKFILL_DAYS AND date '$night' - 1), 1))
                           FROM health_score.metric_history_days h
                          WHERE h.as_of BETWEEN date '$night' - $BACKFILL_DAYS AND date '$night' - 1")")
            psql -X -q -c 'DROP TABLE bench_backfill'
            if [ "$DROP_HISTORY" = 1 ]; then
                psql -X -q -c 'TRUNCATE health_score.score_history' \
                     -c "DO \$\$ DECLARE p regclass; BEGIN
                             FOR p IN SELECT inhrelid::regclass FROM pg_inherits
                                       WHERE inhparent = 'health_score.metric_history_days'::regclass LOOP
                                 EXECUTE format('DROP TABLE %s', p);
                             END LOOP; END \$\$"
            fi
        fi
        log "disk: $(df -h "$WORK" | awk 'NR == 2 { print $4 " free" }')"
    done
    unset PGDATABASE
    dropdb "$db"
done

echo
printf '%s\n' "${results[@]}"
[ ${#explained[@]} -eq 0 ] || { echo; printf '%s\n' "${explained[@]}"; }
