#!/usr/bin/env bash
# Snapshots under concurrency, in two sessions:
#   1. a writer of the history does not hold a snapshot up: while one transaction keeps a row
#      of score_history written (ROW EXCLUSIVE), a snapshot with a lock_timeout of 2 s succeeds;
#      a reader cannot take the snapshot lock (42501);
#   2. two snapshots, each in a transaction that already wrote score_history and metric_history
#      (it pruned an old date): neither waits for the other's writes, so they do not deadlock;
#   3. two refresh() calls, one in a transaction that pruned the history first: the other
#      refresh locks the feeds (check_feeds) and does not wait for the pruning, so they do not
#      deadlock either;
#   4. two snapshots of one date: under READ COMMITTED the second waits and replaces the
#      first's rows (one set of rows, all from one snapshot); under REPEATABLE READ it fails
#      with 40001 and a hint to retry (not 23505), whether the date had rows or not, and the
#      retry succeeds;
#   5. a REPEATABLE READ snapshot that finds the scoring state rolled on by another since it
#      began scores from every row and succeeds, leaving the state alone.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"
export PGOPTIONS='-c client_min_messages=warning'

db=hs_snapshot_concurrent reader=hs_snapshot_reader
dir=$(mktemp -d "$WORK/snapshot_concurrent.XXXXXX")
chmod 755 "$dir"

echo "1..26"
throwaway_databases $db
drop_reader() { "$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $reader" >/dev/null 2>&1; }
drop_reader
trap 'drop_throwaway_databases; drop_reader' EXIT
# 40 accounts with 5 observations of every catalog metric over the last 60 days, a feed, and
# snapshots of four old dates (the ones the sessions prune).
"$PGBIN/createdb" $db && q $db >/dev/null <<SQL || { echo "Bail out! cannot create $db"; exit 1; }
CREATE EXTENSION health_score;
CREATE ROLE $reader LOGIN IN ROLE health_score_reader;
SELECT setseed(0.5);
INSERT INTO health_score.accounts (account_id)
SELECT format('acct%s', lpad(i::text, 2, '0')) FROM generate_series(1, 40) i;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.name, now() - (random() * interval '60 days'), round((random() * 100)::numeric, 1)
  FROM health_score.accounts a CROSS JOIN (SELECT DISTINCT input AS name FROM health_score.metrics) m
 CROSS JOIN generate_series(1, 5);
CREATE TABLE public.feed_rows (account_id text, metric text, observed_at timestamptz, value float8);
INSERT INTO public.feed_rows SELECT account_id, metric, observed_at, value FROM health_score.observations LIMIT 100;
INSERT INTO health_score.feeds (name, relation) VALUES ('warehouse', 'public.feed_rows');
SELECT health_score.snapshot(current_date - d) FROM generate_series(20, 23) d;
SQL
accounts=40
# until_waited: SQL that returns once another session waits for a lock this one holds (at most
# 60 s): a session keeps its transaction open until the other has queued behind it, however
# slowly the other starts.
until_waited='DO $$ BEGIN FOR i IN 1..600 LOOP
    EXIT WHEN EXISTS (SELECT FROM pg_locks l WHERE NOT l.granted AND pg_backend_pid() = ANY (pg_blocking_pids(l.pid)));
    PERFORM pg_sleep(0.1); END LOOP; END $$;'
# one_set DATE: "rows distinct-writers metric-rows-without-score" of that date's history.
one_set() {
    q $db -c "SELECT (SELECT count(*) FROM health_score.score_history WHERE as_of = $1) || ' ' ||
                     (SELECT count(DISTINCT x) FROM (SELECT xmin::text AS x FROM health_score.score_history WHERE as_of = $1
                                                     UNION ALL SELECT xmin::text FROM health_score.metric_history_days WHERE as_of = $1) w) || ' ' ||
                     (SELECT count(*) FROM health_score.metric_history m WHERE m.as_of = $1
                         AND NOT EXISTS (SELECT 1 FROM health_score.score_history s WHERE s.as_of = m.as_of AND s.account_id = m.account_id))"
}

# 1. A writer keeps a row of score_history written until the snapshot's rows are there (at
# most 60 s); the snapshot must not wait for it.
q $db >"$dir/writer.out" 2>&1 <<'SQL' &
BEGIN;
UPDATE health_score.score_history SET reason = reason WHERE as_of = current_date - 20 AND account_id = 'acct01';
SELECT 'holding';
DO $$ BEGIN FOR i IN 1..600 LOOP
    EXIT WHEN EXISTS (SELECT FROM health_score.score_history WHERE as_of = current_date - 5);
    PERFORM pg_sleep(0.1); END LOOP; END $$;
ROLLBACK;
SQL
writer=$!
for _ in $(seq 300); do grep -q holding "$dir/writer.out" && break; sleep 0.1; done
check "the writer holds its lock" "$(grep -c holding "$dir/writer.out")" 1
SECONDS=0
written=$(q $db -c '\set VERBOSITY sqlstate' -c "SET lock_timeout = '2s'" -c 'SELECT health_score.snapshot(current_date - 5)' 2>&1)
check "a snapshot succeeds while another transaction has written the history, without waiting (${SECONDS} s)" \
    "$written" $accounts
wait $writer
check "a reader cannot take the snapshot lock (42501)" \
    "$("$PGBIN/psql" -X -q -At -d $db -U $reader -c '\set VERBOSITY sqlstate' -c 'BEGIN' \
        -c 'LOCK TABLE health_score.score_history IN SHARE UPDATE EXCLUSIVE MODE' 2>&1)" "ERROR:  42501"

# 2. Each session prunes its own old date from both tables (ROW EXCLUSIVE on each), waits until
# both hold their locks (at most 60 s), then snapshots yesterday. A snapshot lock that
# conflicts with ROW EXCLUSIVE (SHARE ROW EXCLUSIVE) makes each wait for the other: a
# deadlock, one fails with 40P01.
pruned() {
    q $db 2>&1 <<SQL
\set VERBOSITY sqlstate
BEGIN;
DELETE FROM health_score.metric_history WHERE as_of = current_date - $1;
DELETE FROM health_score.score_history WHERE as_of = current_date - $1;
DO \$\$ BEGIN FOR i IN 1..600 LOOP
    EXIT WHEN (SELECT count(DISTINCT l.pid) FROM pg_locks l
                WHERE l.relation = 'health_score.score_history'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted) >= 2;
    PERFORM pg_sleep(0.1); END LOOP; END \$\$;
SELECT health_score.snapshot(current_date - 1);
COMMIT;
SQL
}
pruned 20 >"$dir/dl1.out" &
dl1=$!
pruned 21 >"$dir/dl2.out"
wait $dl1
check "after pruning in the transaction: the first snapshot succeeds" "$(grep -v "^$" "$dir/dl1.out")" $accounts
check "after pruning in the transaction: the second snapshot succeeds (no deadlock)" "$(grep -v "^$" "$dir/dl2.out")" $accounts
check "both pruned dates are gone" \
    "$(q $db -c 'SELECT count(*) FROM health_score.score_history WHERE as_of IN (current_date - 20, current_date - 21)')" 0
check "yesterday: $accounts rows, all written by one snapshot" "$(one_set 'current_date - 1')" "$accounts 1 0"

# 3. The first session prunes, then refreshes 2 s later; the second refreshes meanwhile. Its
# check_feeds() locks the feed's row; with a snapshot lock that waits for the pruning, the first
# session's check_feeds() then waits for the second's: a deadlock.
q $db >"$dir/rf1.out" 2>&1 <<'SQL' &
\set VERBOSITY sqlstate
BEGIN;
DELETE FROM health_score.metric_history WHERE as_of = current_date - 22;
DELETE FROM health_score.score_history WHERE as_of = current_date - 22;
SELECT 'pruned';
SELECT pg_sleep(2);
SELECT health_score.refresh();
COMMIT;
SQL
rf1=$!
for _ in $(seq 300); do grep -q pruned "$dir/rf1.out" && break; sleep 0.1; done
check "a refresh while another transaction prunes the history succeeds" \
    "$(q $db -c '\set VERBOSITY sqlstate' -c 'SELECT health_score.refresh()' 2>&1)" $accounts
wait $rf1
check "the refresh in the pruning transaction succeeds (no deadlock)" "$(grep -v -e "^$" -e "^pruned$" "$dir/rf1.out")" $accounts
check "today: $accounts rows, all written by one snapshot" "$(one_set current_date)" "$accounts 1 0"

# 4. Two sessions snapshot one date: the first keeps its transaction open after the snapshot
# until the second, which starts its transaction (and, under REPEATABLE READ, its snapshot)
# once the first has written, waits for the first's lock in its own snapshot.
# race ISOLATION DATE: prints the second session's output, its own transaction's now() last
# (the first's output goes to a file).
race() {
    q $db >"$dir/first.out" 2>&1 <<SQL &
\set VERBOSITY sqlstate
BEGIN ISOLATION LEVEL $1;
SELECT health_score.snapshot($2);
$until_waited
COMMIT;
SQL
    local first=$!
    for _ in $(seq 300); do [ -s "$dir/first.out" ] && break; sleep 0.1; done   # it holds the lock
    q $db 2>&1 <<SQL
\set VERBOSITY verbose
BEGIN ISOLATION LEVEL $1;
SELECT count(*) FROM health_score.score_history;
SELECT health_score.snapshot($2);
SELECT now();
COMMIT;
SQL
    wait $first
}
second=$(race 'READ COMMITTED' 'current_date - 2')
check "READ COMMITTED: the first snapshot of a date succeeds" "$(grep -v "^$" "$dir/first.out")" $accounts
check "READ COMMITTED: the second waits and succeeds" "$(sed -n 2p <<<"$second")" $accounts
check "READ COMMITTED: the date has $accounts rows, all written by one snapshot" "$(one_set 'current_date - 2')" "$accounts 1 0"
check "READ COMMITTED: the second snapshot's rows replaced the first's" \
    "$(q $db -c "SELECT count(*) FROM health_score.score_history WHERE as_of = current_date - 2 AND taken_at = '$(tail -n 1 <<<"$second")'")" $accounts

# rr LABEL DATE: a REPEATABLE READ race over DATE, then the retry.
rr() {
    local day
    day=$(q $db -c "SELECT to_char($2, 'YYYY-MM-DD')")
    second=$(race 'REPEATABLE READ' "$2")
    echo "$second" | sed 's/^/# /'
    check "REPEATABLE READ, $1: the first snapshot succeeds" "$(grep -v "^$" "$dir/first.out")" $accounts
    check_that "REPEATABLE READ, $1: the second fails with 40001, naming the date, with a hint to retry" \
        'grep -q "ERROR:  40001: snapshot of $day: another transaction that committed after this one began wrote the history of this date" <<<"$second" &&
         grep -q "HINT:  Retry the transaction" <<<"$second"'
    check "REPEATABLE READ, $1: the retry succeeds" \
        "$(q $db -c 'BEGIN ISOLATION LEVEL REPEATABLE READ' -c "SELECT health_score.snapshot($2)" -c 'COMMIT')" $accounts
    check "REPEATABLE READ, $1: the date has $accounts rows, all written by one snapshot" "$(one_set "$2")" "$accounts 1 0"
}
rr "a new date" 'current_date - 3'
rr "a date snapshotted before" 'current_date - 23'

# 5. The scoring state under REPEATABLE READ: a transaction whose snapshot predates another
# snapshot's (which rolled the state on) cannot write the state; it scores from every row
# instead, writes its own date, and leaves the state as the other left it.
q $db >"$dir/rr_state.out" 2>&1 <<'SQL' &
\set VERBOSITY sqlstate
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM health_score.score_history;
SELECT pg_sleep(5);
SELECT health_score.snapshot(current_date - 4);
COMMIT;
SQL
rr_state=$!
for _ in $(seq 300); do [ -s "$dir/rr_state.out" ] && break; sleep 0.1; done   # its snapshot is taken
check "another session's snapshot rolls the state on meanwhile" "$(q $db -c 'SELECT health_score.snapshot(current_date)')" $accounts
wait $rr_state
check "REPEATABLE READ, the state changed since it began: its snapshot succeeds, from every row" \
    "$(grep -v "^$" "$dir/rr_state.out" | tail -n 1)" $accounts
check "REPEATABLE READ: the state is the other snapshot's" \
    "$(q $db -c "SELECT as_of::date = current_date AND last_mode = 'rolled' FROM health_score.scoring_state_info")" t
check "REPEATABLE READ: its date equals the live scores" \
    "$(q $db -c "SELECT count(*) FROM (SELECT * FROM health_score.score_history WHERE as_of = current_date - 4) h
                   FULL JOIN health_score.account_scores(current_date - 4) a USING (account_id)
                 WHERE h.as_of IS NULL OR a.account_id IS NULL OR h.score IS DISTINCT FROM a.score OR h.band IS DISTINCT FROM a.band")" 0

[ $failed -eq 0 ]
