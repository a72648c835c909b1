#!/usr/bin/env bash
# Training under concurrency, in two sessions:
#   1. a role that may only read (health_score_reader) cannot block training: it holds every
#      lock it can get (the advisory lock training once took, its table locks as a reader)
#      while a training runs with a lock_timeout of 2 s, which must succeed;
#   2. two trainings of one model name: under READ COMMITTED the second waits and becomes the
#      next version; under REPEATABLE READ it fails with 40001 and a hint to retry (not 23505),
#      and the retry succeeds;
#   3. two trainings of different names, each in a transaction that already wrote churn_models
#      (ROW EXCLUSIVE): neither waits for the other's writes, so they do not deadlock.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"
export PGOPTIONS='-c client_min_messages=warning'

db=hs_churn_concurrent blocker=hs_train_blocker
dir=$(mktemp -d "$WORK/churn_concurrent.XXXXXX")
chmod 755 "$dir"

echo "1..10"
throwaway_databases $db
drop_blocker() { "$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $blocker" >/dev/null 2>&1; }
drop_blocker
trap 'drop_throwaway_databases; drop_blocker' EXIT
"$PGBIN/createdb" $db && q $db >/dev/null <<SQL || { echo "Bail out! cannot create $db"; exit 1; }
CREATE EXTENSION health_score;
CREATE ROLE $blocker LOGIN IN ROLE health_score_reader;
CREATE TABLE public.churn_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x1, ((i * 53) % 19) / 3.0::float8 AS x2,
       ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END AS churned
  FROM generate_series(1, 200) i;
GRANT SELECT ON public.churn_rows TO $blocker;
SQL
train() { echo "SELECT version FROM health_score.train_churn_model('$1', 'public.churn_rows', ARRAY['x1', 'x2'], 'churned');"; }

# 1. The reader holds what it can for 6 s: the advisory lock of 0.1.0 on the name, and table
# locks on every churn table it may read, in an open transaction.
"$PGBIN/psql" -X -q -At -d $db -U $blocker >"$dir/blocker.out" 2>&1 <<SQL &
BEGIN;
SELECT pg_advisory_lock(hashtext('health_score.churn_models'), hashtext('blocked'));
SELECT pg_advisory_xact_lock(hashtext('health_score.churn_models'), hashtext('blocked'));
SELECT count(*) FROM health_score.churn_models;
LOCK TABLE health_score.churn_models, health_score.churn_model_terms, health_score.churn_model_calibration IN ACCESS SHARE MODE;
SELECT 'holding';
SELECT pg_sleep(6);
COMMIT;
SQL
blocker_pid=$!
for _ in $(seq 50); do grep -q holding "$dir/blocker.out" && break; sleep 0.1; done
check "the reader holds its locks" "$(grep -c holding "$dir/blocker.out")" 1
check "the reader cannot take the training lock (42501)" \
    "$("$PGBIN/psql" -X -q -At -d $db -U $blocker -c '\set VERBOSITY sqlstate' -c 'BEGIN' \
        -c 'LOCK TABLE health_score.churn_models IN SHARE UPDATE EXCLUSIVE MODE' 2>&1)" "ERROR:  42501"
SECONDS=0
version=$(q $db -c "SET lock_timeout = '2s'" -c "$(train blocked)" 2>&1)
check "training succeeds while the reader holds its locks, without waiting (${SECONDS} s)" "$version" 1
wait $blocker_pid

# 2. Two sessions train one name: the first keeps its transaction open for 2 s after training,
# the second starts its transaction (and, under REPEATABLE READ, its snapshot) meanwhile.
# race ISOLATION NAME: prints the second session's output (the first's goes to a file).
race() {
    q $db >"$dir/first.out" 2>&1 <<SQL &
BEGIN ISOLATION LEVEL $1;
$(train "$2")
SELECT pg_sleep(2);
COMMIT;
SQL
    local first=$!
    sleep 0.7
    q $db 2>&1 <<SQL
\set VERBOSITY verbose
BEGIN ISOLATION LEVEL $1;
SELECT count(*) FROM health_score.churn_models;
$(train "$2")
COMMIT;
SQL
    wait $first
}
second=$(race 'READ COMMITTED' rc)
check "READ COMMITTED: the first training is version 1" "$(cat "$dir/first.out")" 1
check "READ COMMITTED: the second waits and is version 2" "$(tail -n 1 <<<"$second")" 2
second=$(race 'REPEATABLE READ' rr)
echo "$second" | sed 's/^/# /'
check_that "REPEATABLE READ: the second fails with 40001, naming the model, with a hint to retry" \
    'grep -q "ERROR:  40001: churn model \"rr\": another training of this name committed after this transaction began" <<<"$second" &&
     grep -q "HINT:  Retry the transaction" <<<"$second"'
check "REPEATABLE READ: the retry is version 2" \
    "$(q $db -c 'BEGIN ISOLATION LEVEL REPEATABLE READ' -c "$(train rr)" -c 'COMMIT')" 2
check "one active version per name, versions 1 and 2" \
    "$(q $db -c "SELECT string_agg(name || ':' || version || ':' || active, ' ' ORDER BY name, version) FROM health_score.churn_models WHERE name IN ('rc', 'rr')")" \
    "rc:1:false rc:2:true rr:1:false rr:2:true"

# 3. Each session deletes from churn_models (none of its rows), waits 1 s so both hold ROW
# EXCLUSIVE, then trains its own name. A training lock that conflicts with ROW EXCLUSIVE (SHARE
# ROW EXCLUSIVE) makes each wait for the other: a deadlock, one fails with 40P01.
written() {
    q $db 2>&1 <<SQL
\set VERBOSITY sqlstate
BEGIN;
DELETE FROM health_score.churn_models WHERE name = '$1' AND NOT active;
SELECT pg_sleep(1);
$(train "$1")
COMMIT;
SQL
}
written dl1 >"$dir/dl1.out" &
dl1=$!
written dl2 >"$dir/dl2.out"
wait $dl1
check "after a write in the transaction: the first training of one name succeeds" "$(grep -v "^$" "$dir/dl1.out")" 1
check "after a write in the transaction: the training of another name succeeds (no deadlock)" "$(grep -v "^$" "$dir/dl2.out")" 1

[ $failed -eq 0 ]
