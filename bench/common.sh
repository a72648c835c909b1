# Shared by the benchmarks: a throwaway cluster (scripts/common.sh) and side-by-side timing.
# Source it; do not run it.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

BENCH_RUNS=${BENCH_RUNS:-5}

# time_ms SQL: the client-side time of one run of SQL in milliseconds (psql's \timing).
time_ms() {
    psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c '\timing on' -c "$1" |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}

# median N...: the median of the numbers given.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# compare LABEL1 SQL1 LABEL2 SQL2 ...: run the queries BENCH_RUNS times each, interleaved so
# that drift hits all alike (one warm-up run each first), and print a table of the medians
# with each query's ratio to the first one (the baseline).
compare() {
    local labels=() queries=() i run
    while [ $# -gt 0 ]; do labels+=("$1"); queries+=("$2"); shift 2; done
    declare -A times
    for i in "${!queries[@]}"; do time_ms "${queries[$i]}" >/dev/null; done
    for run in $(seq "$BENCH_RUNS"); do
        for i in "${!queries[@]}"; do
            times[$i]="${times[$i]:-} $(time_ms "${queries[$i]}")"
        done
    done
    local base m
    printf '%-48s %12s %8s   %s\n' "query" "median ms" "ratio" "runs (ms)"
    for i in "${!queries[@]}"; do
        # shellcheck disable=SC2086
        m=$(median ${times[$i]})
        [ "$i" -eq 0 ] && base=$m
        printf '%-48s %12.1f %8.2f  %s\n' "${labels[$i]}" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')" "${times[$i]}"
    done
}

# start_baseline REV: a second throwaway cluster running the extension as of git revision REV
# (built from `git archive`, so the working tree is left alone), beside the one setup_cluster
# started, to time a change side by side against what it changes. Sets BASELINE_PGHOST,
# BASELINE_PGPORT and BASELINE_PGBIN; the cluster is stopped and removed with the first one.
start_baseline() {
    local rev=$1 top=$TOP work=$WORK pgbin=$PGBIN pgdata=$PGDATA_DIR socket=$SOCKET_DIR
    local host=$PGHOST port=$PGPORT
    mkdir -p "$work/baseline/src"
    git -C "$top" archive "$rev" | tar -C "$work/baseline/src" -xf -
    TOP="$work/baseline/src" WORK="$work/baseline"
    log "baseline: the extension as of $rev ($(git -C "$top" rev-parse --short "$rev"))"
    build_private_install
    start_cluster
    BASELINE_PGHOST=$PGHOST BASELINE_PGPORT=$PGPORT BASELINE_PGBIN=$PGBIN BASELINE_PGDATA=$PGDATA_DIR
    TOP=$top WORK=$work PGBIN=$pgbin PGDATA_DIR=$pgdata SOCKET_DIR=$socket
    export PGHOST=$host PGPORT=$port
    trap baseline_cleanup EXIT
}

# baseline_cleanup: stop the baseline cluster, then cleanup (which keeps the exit status).
baseline_cleanup() {
    local rc=$?
    run_as_owner "$BASELINE_PGBIN/pg_ctl" -D "$BASELINE_PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
    (exit $rc)
    cleanup
}

# on_baseline CMD...: run CMD against the baseline cluster.
on_baseline() {
    PGHOST=$BASELINE_PGHOST PGPORT=$BASELINE_PGPORT "$@"
}
