#!/usr/bin/env bash
# A long backfill can be interrupted and resumed. backfill_commit_each over 40 dates of the
# demo book is cancelled (pg_cancel_backend) once another session sees 5 dates committed; the
# dates committed stay, and are the first ones. The same CALL again skips them (their rows
# keep the time they were written) and takes the rest, and the history then equals an
# uninterrupted backfill of the range, row for row, at both levels. The progress NOTICEs give
# each date as "(i of 40)" with its accounts and seconds and, while snapshots remain, the time
# left: the mean time per snapshot so far times the snapshots to take.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
source "$(dirname "$0")/../lib/tap.sh"

db=hs_backfill_resume
from=2025-11-01 to=2025-12-10 total=40 cancel_after=5
echo "1..14"
throwaway_databases $db
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' &&
    q $db -v accounts=400 -v end_date=2025-12-31 -f examples/demo/generate.sql >/dev/null ||
    { echo "Bail out! cannot load the demo book"; exit 1; }

call="CALL health_score.backfill_commit_each('$from', '$to')"
committed() { q $db -c "SELECT count(DISTINCT as_of) FROM health_score.score_history"; }

# ---- the run, cancelled once 5 dates are committed ------------------------------------------------
"$PGBIN/psql" -X -q -d $db -c "SET application_name = 'hs_backfill_resume'" -c "$call" \
    >/dev/null 2>"$WORK/backfill_first.err" &
run_pid=$!
seen=0
for _ in $(seq 600); do
    seen=$(committed)
    [ "$seen" -ge $cancel_after ] && break
    kill -0 $run_pid 2>/dev/null || break   # the CALL ended (or failed) on its own
    sleep 0.1
done
q $db -c "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE application_name = 'hs_backfill_resume'" >/dev/null
wait $run_pid
rc=$?
check_that "while the procedure ran, another session saw its dates committed ($seen)" "[ $seen -ge $cancel_after ]"
check_that "the CALL was cancelled (psql exit $rc: canceling statement due to user request)" \
    "[ $rc -ne 0 ] && grep -q 'canceling statement due to user request' '$WORK/backfill_first.err'"
done_dates=$(committed)
check_that "the dates committed before the cancel stay: $done_dates of $total" \
    "[ $done_dates -ge $cancel_after ] && [ $done_dates -lt $total ]"
check "they are the first $done_dates dates of the range" \
    "$(q $db -c "SELECT string_agg(DISTINCT as_of::text, ',' ORDER BY as_of::text) FROM health_score.score_history")" \
    "$(q $db -c "SELECT string_agg(d::date::text, ',' ORDER BY d) FROM generate_series('$from'::date, '$from'::date + $done_dates - 1, '1 day') d")"
check "each committed on its own (one time of writing per date)" \
    "$(q $db -c "SELECT count(DISTINCT taken_at) FROM health_score.score_history")" "$done_dates"
before=$(q $db -c "SELECT string_agg(format('%s %s %s', as_of, count, taken_at), ',' ORDER BY as_of)
                     FROM (SELECT as_of, count(*), min(taken_at) AS taken_at FROM health_score.score_history GROUP BY 1) s")

# ---- the same CALL again resumes ------------------------------------------------------------------
q $db -c "$call" >/dev/null 2>"$WORK/backfill_resume.err"
check "resumed: the CALL completes" "$?" "0"
grep '^NOTICE:  backfill: ' "$WORK/backfill_resume.err" | sed 's/^NOTICE:  //' >"$WORK/backfill_resume.notices"
check "it skips the $done_dates dates done" \
    "$(grep -c ') skipped, done under configuration ' "$WORK/backfill_resume.notices")" "$done_dates"
check "and snapshots the $((total - done_dates)) others" \
    "$(grep -cE '^backfill: [0-9-]{10} \([0-9]+ of 40\), [0-9]+ accounts in ' "$WORK/backfill_resume.notices")" \
    "$((total - done_dates))"
check "the dates done keep their rows as written before the cancel" \
    "$(q $db -c "SELECT string_agg(format('%s %s %s', as_of, count, taken_at), ',' ORDER BY as_of)
                  FROM (SELECT as_of, count(*), min(taken_at) AS taken_at FROM health_score.score_history
                         WHERE as_of < '$from'::date + $done_dates GROUP BY 1) s")" "$before"

# ---- the progress ------------------------------------------------------------------------------
# Each snapshot's line: "backfill: DATE (i of 40), N accounts in T s, about E left", E the mean
# time so far times the snapshots left; the last one has no time left; a summary ends the run.
progress_ok=$(awk -v total=$total -v done=$done_dates '
    function seconds(s,   a) {   # "0.42 s", "12 s", "2 min 05 s", "1 h 05 min" in seconds
        if (match(s, /^[0-9]+ h [0-9]+ min$/)) { split(s, a, " "); return a[1] * 3600 + a[3] * 60 }
        if (match(s, /^[0-9]+ min [0-9]+ s$/)) { split(s, a, " "); return a[1] * 60 + a[3] }
        if (match(s, /^[0-9.]+ s$/)) { split(s, a, " "); return a[1] }
        return -1
    }
    / skipped, done under configuration / { skipped++; next }
    /^backfill: [0-9-]+ \([0-9]+ of [0-9]+\), [0-9]+ accounts in / {
        taken++
        i = $3; sub(/^\(/, "", i)
        if (i != done + taken || $5 != total ")," ) { print "bad count: " $0; next }
        rest = $0; sub(/^.* accounts in /, "", rest)
        t = rest; sub(/, about .*$/, "", t); sum += seconds(t)
        if (index(rest, ", about ")) {
            e = rest; sub(/^.*, about /, "", e); sub(/ left$/, "", e)
            want = sum / taken * (total - done - taken)
            # the figures shown are rounded: within 20 % or 0.05 s of the mean times the snapshots left
            if (seconds(e) < 0 || (seconds(e) - want) ^ 2 > (0.2 * want + 0.05) ^ 2) print "bad estimate (" want " s): " $0
        } else if (i != total) print "no estimate: " $0
        next
    }
    /^backfill: [0-9-]+ to [0-9-]+: / { summary = $0; next }
    { print "unexpected: " $0 }
    END {
        if (skipped != done || taken != total - done) print "counts: " skipped " skipped, " taken " taken"
        if (summary !~ ("^backfill: [0-9-]+ to [0-9-]+: " (total - done) " of " total " dates snapshotted in .*, " done " skipped \\(done under configuration [0-9]+\\)$"))
            print "bad summary: " summary
    }' "$WORK/backfill_resume.notices")
check "each progress NOTICE gives the date, i of 40, accounts, seconds and the time left (mean so far x snapshots left)" \
    "$progress_ok" ""
[ -n "$progress_ok" ] && sed 's/^/#   /' "$WORK/backfill_resume.notices" | head -n 12
check "the first snapshot after the resume is date $((done_dates + 1)) of 40" \
    "$(grep -m1 -oE '\([0-9]+ of 40\), [0-9]+ accounts' "$WORK/backfill_resume.notices" | grep -oE '^\([0-9]+')" "($((done_dates + 1))"

# ---- the result is an uninterrupted backfill's ---------------------------------------------------
history_md5() {
    q $db -c "SELECT md5(string_agg(r::text, E'\n' ORDER BY r::text)) FROM (
                SELECT as_of, account_id, score, product_score, relationship_score, business_score,
                       dimension_scores, band, alert_tier, coverage, churn_risk, reason, config_version
                  FROM health_score.score_history) r" \
          -c "SELECT md5(string_agg(r::text, E'\n' ORDER BY r::text)) FROM health_score.metric_history r"
}
check "all $total dates are in the history, under the current configuration" \
    "$(q $db -c "SELECT count(DISTINCT as_of) || ' ' || bool_and(config_version = health_score.config_version()) FROM health_score.score_history")" \
    "$total true"
resumed=$(history_md5)
check "an uninterrupted backfill of the range (redo) takes all $total dates" \
    "$(q $db -c "SELECT count(*) FILTER (WHERE NOT skipped) FROM health_score.backfill('$from', '$to', redo => true)" 2>/dev/null)" "$total"
check "and gives the same history, row for row (score_history and metric_history)" "$(history_md5)" "$resumed"

[ $failed -eq 0 ]
