#!/usr/bin/env bash
# The demo dataset (examples/demo/generate.sql) is deterministic and tells the story it promises:
# two loads give identical rows whatever the plan, every segment is there, churners'
# behaviour and scores fall before they cancel, coverage varies, and the score ranks
# churners above stayers (ROC AUC from a rank sum written out here). The dashboard runs.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"

db1=hs_demo_a db2=hs_demo_b db3=hs_demo_c

echo "1..24"
throwaway_databases $db1 $db2 $db3
for db in $db1 $db2 $db3; do
    "$PGBIN/createdb" "$db" && q "$db" -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $db"; exit 1; }
done

generate() { local db=$1 accounts=$2; shift 2; q "$db" -v accounts="$accounts" -v end_date=2025-12-31 "$@" -f examples/demo/generate.sql; }

# md5 of every row of both tables in a fixed order (numbers as text, so any difference shows).
fingerprint() {
    q "$1" -c "SELECT md5(string_agg(t, E'\n' ORDER BY t)) FROM (
                 SELECT format('%s|%s|%s|%s|%s|%s|%s|%s', account_id, name, segment, plan, owner, mrr, started_on, churned_on) AS t
                   FROM health_score.accounts $2
                 UNION ALL
                 SELECT format('%s|%s|%s|%s', account_id, metric, extract(epoch FROM observed_at), value::text)
                   FROM health_score.observations $2) r"
}

# ---- determinism -------------------------------------------------------------------------------
generate $db1 200 >/dev/null && ok "the generator loads 200 accounts" || not_ok "the generator loads 200 accounts"
# The second load runs under other plans and settings: no hash joins or aggregates, tiny
# work_mem, another session time zone and date style.
PGOPTIONS='-c enable_hashjoin=off -c enable_hashagg=off -c work_mem=64kB -c TimeZone=Asia/Tokyo -c DateStyle=German' \
    generate $db2 200 >/dev/null
f1=$(fingerprint $db1 "") f2=$(fingerprint $db2 "")
check "two loads give identical accounts and observations, whatever the plan, time zone or date style" "$f2" "$f1"
generate $db3 100 >/dev/null
check "the first 100 accounts of 200 are the 100 accounts of a smaller load, with the same observations" \
    "$(fingerprint $db1 "WHERE account_id <= 'ACC-00100'")" "$(fingerprint $db3 "")"

# ---- shape -------------------------------------------------------------------------------------
check "every segment is present" \
    "$(q $db1 -c "SELECT string_agg(DISTINCT segment, ',' ORDER BY segment) FROM health_score.accounts")" "enterprise,mid_market,smb"
check "four plans, owners are csm_ role names, MRR positive" \
    "$(q $db1 -c "SELECT count(DISTINCT plan) = 4 AND bool_and(owner::text ~ '^csm_[a-z]+$') AND bool_and(mrr > 0)
                  AND count(DISTINCT owner) >= 6 FROM health_score.accounts")" "t"
check "enterprise accounts pay more than mid-market, mid-market more than small businesses (median MRR)" \
    "$(q $db1 -c "SELECT bool_and(ent > mid AND mid > smb) FROM (
                    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY mrr) FILTER (WHERE segment = 'enterprise') AS ent,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY mrr) FILTER (WHERE segment = 'mid_market') AS mid,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY mrr) FILTER (WHERE segment = 'smb') AS smb
                      FROM health_score.accounts) m")" "t"
check "8-20 % of accounts churn, all inside the twelve months" \
    "$(q $db1 -c "SELECT count(churned_on) BETWEEN 0.08 * count(*) AND 0.20 * count(*)
                         AND coalesce(bool_and(churned_on BETWEEN date '2025-12-31' - 365 AND date '2025-12-30'), false)
                    FROM health_score.accounts")" "t"
check "every observation lies within the account's life and the year before the end date" \
    "$(q $db1 -c "SELECT count(*) FROM health_score.observations o JOIN health_score.accounts a USING (account_id)
                   WHERE o.observed_at < greatest(a.started_on, date '2025-12-31' - 365)::timestamp AT TIME ZONE 'UTC'
                      OR o.observed_at >= least(a.churned_on, date '2025-12-31')::timestamp AT TIME ZONE 'UTC'")" "0"
check "every default metric input is fed, and nothing else" \
    "$(q $db1 -c "SELECT (SELECT array_agg(DISTINCT input ORDER BY input) FROM health_score.metrics)
                         = (SELECT array_agg(DISTINCT metric ORDER BY metric) FROM health_score.observations)")" "t"
check "login rows are events (value 1, at most one per account and day); the year stays small (under 600 observations per account)" \
    "$(q $db1 -c "SELECT bool_and(value = 1) AND count(*) = count(DISTINCT (account_id, observed_at::date))
                         AND (SELECT count(*) FROM health_score.observations) < 200 * 600
                    FROM health_score.observations WHERE metric = 'login'")" "t"

# ---- behaviour before churn (raw data, no scoring) ------------------------------------------------
# Per churner: login days per week and mean NPS-free signals in days 150-121 before cancelling
# against the last 30 days; and the same windows for accounts that stayed, at the same dates.
check "churners log in on fewer days in their last 30 days than 120-150 days before (mean over churners)" \
    "$(q $db1 -c "WITH c AS (SELECT account_id, churned_on FROM health_score.accounts
                              WHERE churned_on >= date '2025-12-31' - 365 + 150),
                     l AS (SELECT c.account_id,
                                  count(*) FILTER (WHERE o.observed_at >= c.churned_on - 30) AS late,
                                  count(*) FILTER (WHERE o.observed_at >= c.churned_on - 150 AND o.observed_at < c.churned_on - 120) AS early
                             FROM c JOIN health_score.observations o ON o.account_id = c.account_id AND o.metric = 'login'
                            GROUP BY 1)
                  SELECT avg(late) < 0.8 * avg(early) FROM l")" "t"
check "churners pay later in their last 60 days than stayers over the same dates" \
    "$(q $db1 -c "WITH c AS (SELECT account_id, churned_on FROM health_score.accounts WHERE churned_on IS NOT NULL),
                     churner AS (SELECT avg(o.value) AS v FROM c JOIN health_score.observations o USING (account_id)
                                  WHERE o.metric = 'payment_behaviour' AND o.observed_at >= c.churned_on - 60),
                     stayer AS (SELECT avg(o.value) AS v FROM health_score.accounts a JOIN health_score.observations o USING (account_id)
                                 WHERE a.churned_on IS NULL AND o.metric = 'payment_behaviour'
                                   AND EXISTS (SELECT 1 FROM c WHERE o.observed_at >= c.churned_on - 60 AND o.observed_at < c.churned_on))
                  SELECT churner.v > stayer.v + 3 FROM churner, stayer")" "t"

# ---- scores --------------------------------------------------------------------------------------
# Each churner scored 90 days before it cancelled, against every stayer scored at those dates.
q $db1 -c "CREATE TABLE demo_points AS
           SELECT d.as_of, s.account_id, s.score, a.churned_on
             FROM (SELECT DISTINCT churned_on - 90 AS as_of FROM health_score.accounts
                    WHERE churned_on - 90 >= date '2025-12-31' - 365 + 30) d
            CROSS JOIN LATERAL health_score.account_scores(d.as_of) s
             JOIN health_score.accounts a USING (account_id)
            WHERE s.score IS NOT NULL AND (a.churned_on IS NULL OR a.churned_on - 90 = d.as_of)"
check "churners score lower 90 days before they cancel than stayers at the same dates (by 5 points or more)" \
    "$(q $db1 -c "SELECT avg(score) FILTER (WHERE churned_on IS NOT NULL) + 5 < avg(score) FILTER (WHERE churned_on IS NULL)
                         AND count(*) FILTER (WHERE churned_on IS NOT NULL) >= 10
                    FROM demo_points")" "t"

# Monthly backtest: every account scored at each month end from March to September; positive
# when it churns within the next 90 days. AUC = P(a churner scores below a stayer), from the
# Mann-Whitney rank sum with ties at half.
q $db1 -c "CREATE TABLE demo_backtest AS
           SELECT m::date AS as_of, s.account_id, s.score,
                  a.churned_on IS NOT NULL AND a.churned_on <= m::date + 90 AS churned
             FROM generate_series(date '2025-03-31', date '2025-09-30', interval '1 month') m
            CROSS JOIN LATERAL health_score.account_scores(m) s
             JOIN health_score.accounts a USING (account_id)
            WHERE s.score IS NOT NULL"
auc=$(q $db1 -c "WITH r AS (SELECT churned, rank() OVER (ORDER BY score DESC) AS lo,
                                   count(*) OVER (PARTITION BY score) AS ties FROM demo_backtest),
                      s AS (SELECT sum(lo + (ties - 1) / 2.0) FILTER (WHERE churned) AS rank_sum,
                                   count(*) FILTER (WHERE churned) AS p, count(*) FILTER (WHERE NOT churned) AS n FROM r)
                 SELECT round((rank_sum - p * (p + 1) / 2.0) / (p * n), 3) FROM s")
check "the score ranks churners below stayers: monthly backtest ROC AUC > 0.65 (got $auc)" \
    "$(awk -v a="$auc" 'BEGIN { print (a > 0.65) ? "t" : "f" }')" "t"
check "the rank-sum AUC agrees with the auc_health aggregate" \
    "$(q $db1 -c "SELECT round(health_score.auc_health(score, churned)::numeric, 3) FROM demo_backtest")" "$auc"

# At the end date: bands, coverage, expansion.
q $db1 -c "CREATE TABLE demo_end AS SELECT * FROM health_score.account_scores('2025-12-31')"
check "coverage varies: from below 0.5 (NULL score with a reason) to full" \
    "$(q $db1 -c "SELECT min(coverage) < 0.5 AND max(coverage) > 0.95 AND stddev(coverage) > 0.05
                         AND count(*) FILTER (WHERE score IS NULL AND reason LIKE 'coverage % below min_coverage %') BETWEEN 1 AND 0.1 * count(*)
                    FROM demo_end")" "t"
check "at the end date the live accounts fill every band, green the largest" \
    "$(q $db1 -c "SELECT count(DISTINCT band) = 4 AND mode() WITHIN GROUP (ORDER BY band) = 'green' FROM demo_end WHERE band IS NOT NULL")" "t"
check "some green accounts are expanding (seat penetration 80 % or more and expansion conversations)" \
    "$(q $db1 -c "SELECT count(*) >= 5 FROM demo_end e
                    JOIN health_score.metric_scores('2025-12-31') m USING (account_id)
                   WHERE e.band = 'green' AND m.metric = 'seat_penetration' AND m.raw_value >= 80
                     AND EXISTS (SELECT 1 FROM health_score.observations o WHERE o.account_id = e.account_id
                                    AND o.metric = 'expansion_conversations')")" "t"

# ---- refusals and the dashboard ------------------------------------------------------------------
err=$(generate $db1 200 2>&1 >/dev/null)
check "loading twice is refused, naming the demo accounts" \
    "$(echo "$err" | grep -c 'demo accounts (ACC-...) already exist')" "1"
err=$(generate $db3 0 2>&1 >/dev/null; generate $db3 abc 2>&1 >/dev/null
      q $db3 -v accounts=10 -v end_date=12/31/2025 -f examples/demo/generate.sql 2>&1 >/dev/null)
check "bad parameters are refused, naming them (accounts 0 and abc, end_date 12/31/2025)" \
    "$(echo "$err" | grep -cE 'accounts must be a whole number from 1 to 100000, got "(0|abc)"|end_date must be a date written YYYY-MM-DD, got "12/31/2025"')" "3"
check "a refused load leaves nothing half-written" \
    "$(q $db3 -c "SELECT count(*) FROM health_score.accounts")" "100"
out=$("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d $db1 -v as_of=2025-12-31 -v top=5 -f examples/demo/dashboard.sql 2>&1)
check "without a churn model the dashboard prints six panels" \
    "$(echo "$out" | grep -cE '^ +(The book of business|Accounts, MRR and revenue at risk per band|The ten riskiest accounts|Falling fast|Action queue|Largest revenue at risk|Upsell candidates)')" "6"
model=$(q $db1 -v as_of=2025-12-31 -f examples/demo/churn_model.sql 2>&1)
check "the demo trains an account churn model on its own churn ($(echo "$model" | sed "s/.*NOTICE: *//"))" \
    "$(q $db1 -c "SELECT count(*) FROM health_score.churn_models WHERE name = 'demo_account_churn' AND kind = 'account' AND positives > 0")" "1"
out=$("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d $db1 -v as_of=2025-12-31 -v top=5 -f examples/demo/dashboard.sql 2>&1)
check "with it the dashboard adds the largest revenue at risk: seven panels" \
    "$(echo "$out" | grep -cE '^ +(The book of business|Accounts, MRR and revenue at risk per band|The ten riskiest accounts|Falling fast|Action queue|Largest revenue at risk|Upsell candidates)')" "7"

[ "$failed" -eq 0 ]
