#!/usr/bin/env bash
# The report (scripts/report), as a person would see it: written from a database holding the demo
# book (150 accounts, six months of weekly snapshots, an account churn model), opened in headless
# Chromium, which logs no console message; the screenshot is a picture of the page; every chart
# is an SVG with marks in it; and the page's figures are those of the views (band_summary,
# revenue_at_risk, backtest, score_trends) as of the report's date.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"

db=hs_report
echo "1..12"
throwaway_databases $db
dir=$(mktemp -d "$WORK/report.XXXXXX")
chmod 755 "$dir"
as_of=2025-12-31
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' &&
    q $db -v accounts=150 -v end_date=$as_of -f examples/demo/generate.sql >/dev/null &&
    q $db >/dev/null <<SQL
SET client_min_messages = warning;
-- Subscription periods for a part of the book, kept in a table of the test's own: live
-- accounts that double their MRR on 2025-09-01, leave on 10-20 and come back on 11-25 at
-- half their first MRR.
CREATE TABLE public.report_periods AS
SELECT a.account_id, p.started_on, p.ended_on, a.mrr * p.factor AS mrr
  FROM health_score.accounts a
 CROSS JOIN LATERAL (VALUES (a.started_on, date '2025-09-01', 1.0), ('2025-09-01', '2025-10-20', 2.0),
                            ('2025-11-25', NULL, 0.5)) p (started_on, ended_on, factor)
 WHERE a.churned_on IS NULL AND a.started_on < '2025-06-01' AND a.account_id ~ '[05]\$';
INSERT INTO health_score.subscriptions (account_id, started_on, ended_on, mrr)
SELECT account_id, started_on, ended_on, mrr FROM public.report_periods;
SELECT health_score.train_account_churn_model('report', '2025-09-01', '90 days',
           ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'support_sentiment']);
SELECT count(*) FROM health_score.backfill('2025-07-01', '$as_of', '7 days');
SQL
[ $? -eq 0 ] || { echo "Bail out! cannot load the demo book"; exit 1; }

# The report's tools go to a cache of their own (outside the source tree), kept between runs.
export HEALTH_SCORE_CACHE=${HEALTH_SCORE_CACHE:-/var/tmp/health_score_cache}
PATH="$PGBIN:$PATH" scripts/report -o "$dir/report.html" --as-of $as_of -d $db 2>"$dir/report.err" &&
    ok "scripts/report writes the page" || { not_ok "scripts/report writes the page"; sed 's/^/#   /' "$dir/report.err"; }
check "the page is self-contained: no script, stylesheet, image or font from elsewhere" \
    "$(grep -oiE '(src|href)="[^"#]+"|url\([^)]*\)|@import' "$dir/report.html" | sort -u | paste -sd' ')" ""

# Chromium, headless, as a person's browser: the page as it renders, its console, a screenshot.
browser() {
    timeout 120 chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
        --user-data-dir="$dir/profile" "$@"
}
printf '<!DOCTYPE html><html><body><script>console.error("a console error")</script></body></html>' >"$dir/bad.html"
browser --dump-dom "file://$dir/bad.html" >/dev/null 2>"$dir/bad.log"
check_that "Chromium's console is read: a page with an error logs it" 'grep -q ":CONSOLE.*a console error" "$dir/bad.log"'
browser --dump-dom "file://$dir/report.html" >"$dir/dom.html" 2>"$dir/console.log"
check "Chromium opens the report with no console message" "$(grep ':CONSOLE' "$dir/console.log" | head -n 5)" ""
browser --window-size=1280,3400 --screenshot="$dir/report.png" "file://$dir/report.html" >/dev/null 2>&1
# PNG width and height, from its header.
size=$(od -An -tu1 -j16 -N8 "$dir/report.png" 2>/dev/null | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 "x" $5 * 16777216 + $6 * 65536 + $7 * 256 + $8 }')
check_that "the screenshot is a 1280x3400 picture of some weight ($(($(stat -c %s "$dir/report.png" 2>/dev/null || echo 0) / 1024)) kB)" \
    '[ "$size" = 1280x3400 ] && [ "$(stat -c %s "$dir/report.png")" -gt 100000 ]'
[ -n "${REPORT_SCREENSHOT:-}" ] && cp "$dir/report.png" "$REPORT_SCREENSHOT"

# The charts: every <svg> of the page, with marks drawn in it: a group of marks whose first child
# is a path (a bar, an area, a line or a point), as Vega renders data; an empty chart has none.
awk 'BEGIN { RS = "<svg" } NR > 1 { n++; if ($0 !~ /role-mark[^>]*><path[^>]* d="M-?[0-9.]+,-?[0-9.]+[A-Za-z]/) bad++ }
     END { print n + 0, bad + 0 }' "$dir/dom.html" >"$dir/svgs"
falling=$(q $db -c "SET health_score.as_of = '$as_of'" -c "SELECT least(count(*), 10) FROM health_score.score_trends WHERE change_30d < 0")
check "the page holds 7 charts and a sparkline per falling account ($falling), each with its marks drawn" \
    "$(cat "$dir/svgs")" "$((7 + falling)) 0"

# figure NAME: the data-value of the element carrying data-figure="NAME" in the rendered page.
figure() { grep -o "data-figure=\"$1\" data-value=\"[^\"]*\"" "$dir/dom.html" | head -n 1 | sed 's/.*data-value="\([^"]*\)"/\1/'; }
view() { q $db -c "SET health_score.as_of = '$as_of'" -c "$1"; }
same() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 == b + 0) }'; }
check_that "the live accounts and MRR are band_summary's ($(figure accounts) accounts, MRR $(figure mrr))" \
    'same "$(figure accounts)" "$(view "SELECT sum(accounts) FROM health_score.band_summary")" &&
     same "$(figure mrr)" "$(view "SELECT sum(mrr) FROM health_score.band_summary")"'
check_that "the revenue at risk is revenue_at_risk's ($(figure revenue_at_risk))" \
    'same "$(figure revenue_at_risk)" "$(view "SELECT revenue_at_risk FROM health_score.revenue_at_risk WHERE grouping_by = '"'"'all'"'"'")"'
check_that "the backtest AUC is backtest()'s at the longest horizon with points ($(figure backtest_auc))" \
    'same "$(figure backtest_auc)" "$(view "SELECT round(auc::numeric, 3) FROM health_score.backtest(ARRAY[(SELECT max(horizon_days) FROM health_score.backtest_points())])")"'
check "the band table is band_summary's, band by band" \
    "$(grep -o '<tr data-band=.*</tr>' "$dir/dom.html" |
        sed -nE 's/^<tr data-band="([a-z_]*)".*data-figure="band_accounts">([0-9]+)<.*data-value="([0-9.]+)".*/\1 \2 \3/p' | paste -sd' ')" \
    "$(view "SELECT string_agg(band || ' ' || accounts || ' ' || (mrr::float8)::text, ' ' ORDER BY min_score DESC NULLS LAST) FROM health_score.band_summary")"

# MRR per band over time: each snapshot's accounts at the MRR of their period covering that
# date, worked out here from the test's own list of periods (accounts.mrr for the others),
# not today's MRR; the report's data files are those the page's charts are drawn from.
mkdir -p "$dir/data" && chmod 755 "$dir/data"
PGOPTIONS="-c health_score.as_of=$as_of" q $db -v dir="$dir/data" -f scripts/report.d/report.sql >/dev/null
paid="SELECT h.as_of, h.band, h.churn_risk,
             CASE WHEN EXISTS (SELECT FROM public.report_periods r WHERE r.account_id = h.account_id)
                  THEN (SELECT r.mrr FROM public.report_periods r
                         WHERE r.account_id = h.account_id AND r.started_on <= h.as_of AND coalesce(r.ended_on > h.as_of, true))
                  ELSE a.mrr END AS mrr, a.mrr AS mrr_today
        FROM health_score.score_history h JOIN health_score.accounts a USING (account_id)"
expected=$(q $db -c "SELECT string_agg(format('%s %s %s', to_char(as_of, 'YYYY-MM-DD'), band, coalesce(m, 0)), ' ' ORDER BY as_of, band)
                       FROM (SELECT as_of, band, sum(mrr)::numeric(18,2)::float8 AS m FROM ($paid) p
                              WHERE band IS NOT NULL GROUP BY as_of, band) b")
check_that "MRR per band over time is the MRR each snapshot's date was paid at, not today's" \
    '[ "$(jq -r "map(\"\\(.as_of) \\(.band) \\(.mrr // 0 | tonumber)\") | join(\" \")" "$dir/data/band_history.json")" = "$expected" ]'
check_that "and the two differ on this book (the periods change what an account paid)" \
    '[ "$(q $db -c "SELECT count(*) FROM ($paid) p WHERE mrr IS DISTINCT FROM mrr_today AND band IS NOT NULL")" -gt 0 ]'

[ $failed -eq 0 ]
