#!/usr/bin/env bash
# The report (scripts/report), as a person would see it: written from a database holding the demo
# book (150 accounts, six months of weekly snapshots, an account churn model), opened in headless
# Chromium, which logs no console message; the screenshot is a picture of the page; every chart
# is an SVG with marks in it; and the page's figures are those of the views (band_summary,
# revenue_at_risk, backtest, score_trends) as of the report's date.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"

db=hs_report
echo "1..10"
throwaway_databases $db
dir=$(mktemp -d "$WORK/report.XXXXXX")
chmod 755 "$dir"
as_of=2025-12-31
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' &&
    q $db -v accounts=150 -v end_date=$as_of -f examples/demo/generate.sql >/dev/null &&
    q $db >/dev/null <<SQL
SET client_min_messages = warning;
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

[ $failed -eq 0 ]
