#!/usr/bin/env bash
# bench/churn.sh: fitting a churn model (logistic regression) on BENCH_ROWS (default 1,000,000)
# rows x 20 features, in the database (serial, and with parallel workers) against statsmodels'
# Logit on the same rows: the fit alone (data already in Python's memory), and the whole
# round trip an analyst does (export to CSV, load, fit, predict, import the predictions).
# Prints medians of BENCH_RUNS (default 5) interleaved runs, in a throwaway cluster.
#   bench/churn.sh
#   BENCH_ROWS=100000 BENCH_RUNS=3 bench/churn.sh   # a quick look
source "$(dirname "$0")/common.sh"

ROWS=${BENCH_ROWS:-1000000}
WORKERS=${BENCH_WORKERS:-2}
PY=/usr/bin/python3

ensure_packages $BASE_PACKAGES
"$PY" -c 'import numpy, pandas, statsmodels' 2>/dev/null || {
    echo "needs Debian's python3-statsmodels (and python3-pandas) for $PY" >&2
    exit 1
}
setup_cluster "max_parallel_workers_per_gather = $WORKERS" "max_parallel_workers = $WORKERS" "jit = off"

FEATURES=$(seq -f 'x%g' 1 20 | paste -sd, -)
FEATURE_ARRAY="ARRAY['$(seq -f 'x%g' 1 20 | paste -sd, - | sed "s/,/','/g")']"
EXPRS="ARRAY['$(seq -f '(x%g)::float8' 1 20 | paste -sd, - | sed "s/,/','/g")']"

log "generating $ROWS rows x 20 features"
# Features of mixed scales (some in the thousands), a true model with 12 non-zero effects,
# labels drawn from it (about 30 % churn).
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION health_score;
\o /dev/null
SELECT setseed(0.42);
\o
CREATE TABLE bench_churn AS
SELECT id, $FEATURES,
       random() < 1 / (1 + exp(-(-1.2 $(for j in $(seq 1 20); do
           case $((j % 5)) in 0|1) ;; 2) printf ' + 0.4 * x%d / scale_%d' "$j" "$j" ;; 3) printf ' - 0.3 * x%d / scale_%d' "$j" "$j" ;; 4) printf ' + 0.2 * x%d / scale_%d' "$j" "$j" ;; esac
       done)))) AS churned
  FROM (SELECT i AS id, $(for j in $(seq 1 20); do
            printf '(random() + random() - 1) * %s AS x%d, %s::float8 AS scale_%d, ' "$(( j % 4 == 0 ? 1000 : 1 ))" "$j" "$(( j % 4 == 0 ? 1000 : 1 ))" "$j"
        done) 0 AS pad
          FROM generate_series(1, $ROWS) AS i) s;
VACUUM ANALYZE bench_churn;
CREATE TABLE pred (id int, p float8);
SQL
psql -X -At -c "SELECT 'table: ' || count(*) || ' rows, ' || round(100 * avg(churned::int), 1) || ' % churned, ' || pg_size_pretty(pg_table_size('bench_churn')) FROM bench_churn"

FIT="SELECT (health_score.churn_fit('public.bench_churn AS s', $EXPRS, $FEATURE_ARRAY, 'churned', 25, 1e-10, 0)).iterations"
TRAIN="SELECT version FROM health_score.train_churn_model('bench', 'bench_churn', $FEATURE_ARRAY, 'churned')"
SERIAL="SET max_parallel_workers_per_gather = 0;"

# statsmodels on the same rows: the fit alone, timed inside Python on arrays already loaded.
cat >"$WORK/fit.py" <<'PY'
import sys, time
import numpy as np, pandas as pd, statsmodels.api as sm
mode, path = sys.argv[1], sys.argv[2]
df = pd.read_csv(path)
X = sm.add_constant(df[[c for c in df.columns if c.startswith("x")]].to_numpy())
y = df["churned"].map({"t": 1.0, "f": 0.0}).to_numpy()
t0 = time.perf_counter()
fit = sm.Logit(y, X).fit(method="newton", maxiter=25, tol=1e-10, disp=False)
t1 = time.perf_counter()
if mode == "fit":
    print("%.1f" % ((t1 - t0) * 1000))
else:
    pd.DataFrame({"id": df["id"], "p": fit.predict(X)}).to_csv(sys.argv[3], index=False)
PY
chmod a+r "$WORK/fit.py"

python_fit_ms() {
    psql -X -q -c "\\copy (SELECT id, $FEATURES, churned FROM bench_churn) TO '$WORK/rows.csv' WITH (FORMAT csv, HEADER true)"
    "$PY" "$WORK/fit.py" fit "$WORK/rows.csv"
}
# export + load + fit + predict + import, wall clock
python_round_trip_ms() {
    local t0 t1
    t0=$(date +%s%N)
    psql -X -q -v ON_ERROR_STOP=1 \
        -c "\\copy (SELECT id, $FEATURES, churned FROM bench_churn) TO '$WORK/rows.csv' WITH (FORMAT csv, HEADER true)"
    "$PY" "$WORK/fit.py" round-trip "$WORK/rows.csv" "$WORK/pred.csv"
    psql -X -q -v ON_ERROR_STOP=1 -c "TRUNCATE pred" \
        -c "\\copy pred FROM '$WORK/pred.csv' WITH (FORMAT csv, HEADER true)"
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

echo
echo "== plan of one pass (logit_step) with parallel workers"
psql -X -At -c "EXPLAIN (COSTS OFF) SELECT health_score.logit_step(ARRAY[$FEATURES]::float8[], churned, array_fill(0::float8, ARRAY[21]), array_fill(0::float8, ARRAY[20]), array_fill(1::float8, ARRAY[20])) FROM bench_churn"

echo
echo "== the passes inside churn_fit, as auto_explain logs them (do they get workers?)"
psql -X -q -o /dev/null -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
    -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_analyze = on" \
    -c "SET auto_explain.log_timing = off" -c "$FIT"
awk '/Query Text: SELECT health_score\.(logit_step|logit_describe)/ { q = $0; sub(/.*Query Text: SELECT health_score\./, "", q); sub(/\(.*/, "", q); n[q]++ }
     /Workers Launched:/ && q != "" { w[q] += $NF; q = "" }
     END { for (k in n) printf "%-16s passes: %d, parallel workers launched in total: %d\n", k, n[k], w[k] }' "$WORK/server.log"

echo
echo "== fitting 20 features on $ROWS rows: in the database and in statsmodels, interleaved runs"
# One warm-up each, then BENCH_RUNS rounds; every round runs each contender once, so a busy
# machine slows them all alike.
labels=("churn_fit, serial (checks + Newton passes)" "churn_fit, $WORKERS workers"
        "train_churn_model, serial (fit + evaluation + catalog)" "train_churn_model, $WORKERS workers"
        "statsmodels Logit fit alone (arrays in memory)" "statsmodels: export + fit + import predictions")
run_one() {
    case $1 in
        0) time_ms "$SERIAL $FIT" ;;
        1) time_ms "$FIT" ;;
        2) time_ms "$SERIAL $TRAIN" ;;
        3) time_ms "$TRAIN" ;;
        4) python_fit_ms ;;
        5) python_round_trip_ms ;;
    esac
}
declare -A times
for i in "${!labels[@]}"; do run_one "$i" >/dev/null; done
for run in $(seq "$BENCH_RUNS"); do
    for i in "${!labels[@]}"; do times[$i]="${times[$i]:-} $(run_one "$i")"; done
done
printf '%-56s %12s %8s   %s\n' "" "median ms" "ratio" "runs (ms)"
for i in "${!labels[@]}"; do
    # shellcheck disable=SC2086
    m=$(median ${times[$i]})
    [ "$i" -eq 0 ] && base=$m
    printf '%-56s %12.1f %8.2f  %s\n' "${labels[$i]}" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')" "${times[$i]}"
done
psql -X -At -c "SELECT 'in-database model: ' || iterations || ' iterations, AUC ' || round(auc::numeric, 4) FROM health_score.churn_models WHERE name = 'bench' AND active"

echo
echo "== one pass against the scan floor"
compare \
    "count(*), serial (scan floor)" "$SERIAL SELECT count(*) FROM bench_churn" \
    "logit_describe pass, serial" "$SERIAL SELECT cardinality(health_score.logit_describe(ARRAY[$FEATURES]::float8[], churned)) FROM bench_churn" \
    "logit_step pass, serial" "$SERIAL SELECT cardinality(health_score.logit_step(ARRAY[$FEATURES]::float8[], churned, array_fill(0::float8, ARRAY[21]), array_fill(0::float8, ARRAY[20]), array_fill(1::float8, ARRAY[20]))) FROM bench_churn"
