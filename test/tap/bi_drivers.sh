#!/usr/bin/env bash
# The views through the drivers BI tools use: every view and materialized view of the extension
# is read by the read-only role through psqlODBC (the Unicode driver, over the Unix socket, as
# Tableau, Power BI and Excel read it) and through the PostgreSQL JDBC driver (over TCP, as
# Metabase, Tableau and DBeaver read it), with the past date passed as a connection option
# (options=-c health_score.as_of=...). Checked against the catalog and psql:
#   - every column arrives with a standard SQL type (text, integer, decimal, bit or boolean,
#     date, timestamp; a double for the configuration's float8), each numeric(18,s) column as a
#     NUMERIC of precision 18 and scale s; the arrays and intervals the views also show for SQL
#     users are the only exceptions, and each has a plain twin (rules_text, ..._hours);
#   - every value, read as its type, equals what psql shows (the exceptions left out).
# JDBC needs TCP, which the suite's cluster does not listen on: a throwaway cluster of its own,
# on 127.0.0.1 and a private port, holds the demo book.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"

echo "1..12"
dir=$(mktemp -d "$WORK/bi_drivers.XXXXXX")
chmod 777 "$dir"
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_cluster() { [ -f "$dir/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1; }
trap stop_cluster EXIT

# ---- the readers, and a cluster on TCP holding the demo book ------------------------------------
cc -Wall -Wextra -Werror -o "$dir/odbc_read" test/lib/odbc_read.c -lodbc 2>"$dir/build.err" &&
    javac -d "$dir" test/lib/JdbcRead.java 2>>"$dir/build.err" &&
    ok "the ODBC reader (C, unixODBC) and the JDBC reader (Java) build" ||
    { not_ok "the ODBC reader (C, unixODBC) and the JDBC reader (Java) build"; sed 's/^/#   /' "$dir/build.err"; }
jdbc_jar=/usr/share/java/postgresql.jar

port=$((20000 + RANDOM % 10000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 10000)); done
export PGHOST=$dir PGPORT=$port PGDATABASE=hs_bi
as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null &&
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c timezone=UTC" \
        start >/dev/null || { echo "Bail out! cannot start a cluster on 127.0.0.1:$port"; exit 1; }
as_of=2025-12-31
"$PGBIN/createdb" hs_bi && q hs_bi -c 'CREATE EXTENSION health_score' &&
    q hs_bi -v accounts=80 -v end_date=$as_of -f examples/demo/generate.sql >/dev/null &&
    q hs_bi >/dev/null <<SQL
SET client_min_messages = warning;
SELECT health_score.train_account_churn_model('bi', '2025-09-01', '90 days',
           ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'support_sentiment']);
SELECT count(*) FROM health_score.backfill('2025-10-01', '$as_of', '7 days');
SET health_score.as_of = '$as_of';
REFRESH MATERIALIZED VIEW health_score.account_health_mv;
REFRESH MATERIALIZED VIEW health_score.dimension_breakdown_mv;
REFRESH MATERIALIZED VIEW health_score.band_summary_mv;
REFRESH MATERIALIZED VIEW health_score.action_queue_mv;
REFRESH MATERIALIZED VIEW health_score.upsell_candidates_mv;
REFRESH MATERIALIZED VIEW health_score.score_trends_mv;
REFRESH MATERIALIZED VIEW health_score.alerts_mv;
CREATE ROLE bi_tool LOGIN;
GRANT health_score_reader TO bi_tool;
SQL
[ $? -eq 0 ] && ok "a cluster on 127.0.0.1 holds the demo book, its history and a churn model; bi_tool is a health_score_reader" ||
    not_ok "a cluster on 127.0.0.1 holds the demo book, its history and a churn model; bi_tool is a health_score_reader"

odbc="Driver=PostgreSQL Unicode;Servername=$dir;Port=$port;Database=hs_bi;Username=bi_tool;BoolsAsChar=0;pqopt={options='-c health_score.as_of=$as_of'}"
jdbc="jdbc:postgresql://127.0.0.1:$port/hs_bi?user=bi_tool&options=-c%20health_score.as_of=$as_of"
odbc_read() { "$dir/odbc_read" "$odbc" "$1"; }
jdbc_read() { java -cp "$dir:$jdbc_jar" JdbcRead "$jdbc" "$1"; }
psql_read() { PGUSER=bi_tool PGOPTIONS="-c health_score.as_of=$as_of" q hs_bi -F $'\t' -P null='\N' -c "$1"; }

check "the past date reaches the server as a connection option, through both drivers" \
    "$(odbc_read "SELECT current_setting('health_score.as_of')" | tail -n 1) $(jdbc_read "SELECT current_setting('health_score.as_of')" | tail -n 1)" \
    "$as_of $as_of"

# ---- every view and materialized view, through each reader --------------------------------------
# columns REL: one line per column: name, the catalog's type, and how psql shows it as the
# drivers read it (text escaped as the readers escape it, timestamps in UTC, booleans as words).
columns() {
    q hs_bi -F $'\t' -c "
        SELECT a.attname, format_type(a.atttypid, a.atttypmod),
               CASE WHEN t.typcategory = 'S' OR a.atttypid = 'name'::regtype
                    THEN format('replace(replace(replace(%1\$I::text, E''\\\\'', E''\\\\\\\\''), E''\\t'', E''\\\\t''), E''\\n'', E''\\\\n'')', a.attname)
                    WHEN a.atttypid = 'boolean'::regtype THEN format('CASE WHEN %1\$I THEN ''true'' ELSE ''false'' END', a.attname)
                    WHEN a.atttypid = 'timestamptz'::regtype
                    THEN format('to_char(%1\$I AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS'') || CASE WHEN extract(microseconds FROM %1\$I)::bigint %% 1000000 <> 0 THEN to_char(%1\$I, ''.US'') ELSE '''' END', a.attname)
                    WHEN a.atttypid = 'date'::regtype THEN format('to_char(%1\$I, ''YYYY-MM-DD'')', a.attname)
                    ELSE format('%1\$I::text', a.attname) END
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = 'health_score.$1'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
}
relations=$(q hs_bi -c "SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class
                         WHERE relnamespace = 'health_score'::regnamespace AND relkind IN ('v', 'm')")
mkdir -p "$dir/psql" "$dir/odbc" "$dir/jdbc" "$dir/cols"
read_failed=
for rel in $relations; do
    columns "$rel" >"$dir/cols/$rel"
    order=$(seq -s, 1 "$(wc -l <"$dir/cols/$rel")")
    odbc_read "SELECT * FROM health_score.$rel ORDER BY $order" >"$dir/odbc/$rel" 2>>"$dir/read.err" || read_failed+=" odbc:$rel"
    jdbc_read "SELECT * FROM health_score.$rel ORDER BY $order" >"$dir/jdbc/$rel" 2>>"$dir/read.err" || read_failed+=" jdbc:$rel"
    # (ordered by the columns themselves, not by the text psql shows)
    psql_read "SELECT $(cut -f3 "$dir/cols/$rel" | paste -sd,) FROM health_score.$rel r
                ORDER BY $(cut -f1 "$dir/cols/$rel" | sed 's/.*/r."&"/' | paste -sd,)" >"$dir/psql/$rel" || read_failed+=" psql:$rel"
done
check "the read-only role reads all $(wc -w <<<"$relations") views and materialized views through ODBC, JDBC and psql" \
    "${read_failed:-none failed}" "none failed"
[ -s "$dir/read.err" ] && sed 's/^/#   /' "$dir/read.err" | head -n 10
check_that "and they hold rows to compare: every one but those the book leaves empty" \
    '[ "$(for rel in $relations; do [ -s "$dir/psql/$rel" ] || echo "$rel"; done | paste -sd" ")" = "" ]'

# The columns the views show for SQL users only (arrays, intervals), each beside its plain twin.
sql_only() { awk -F'\t' '$2 ~ /\[\]$/ || $2 == "interval" { print $1 }' "$dir/cols/$1"; }
check "the arrays and intervals are those with a plain twin beside them" \
    "$(for rel in $relations; do for c in $(sql_only "$rel"); do
           twin=$(awk -F'\t' -v c="$c" '$1 == c "_text" || $1 == c "_hours" { print $1 }' "$dir/cols/$rel")
           echo "$rel.$c${twin:+ ($twin)}"; done; done | paste -sd, | sed 's/,/, /g')" \
    "account_churn.missing_metrics (missing_metrics_text), account_churn.imputed_metrics (imputed_metrics_text), action_queue.respond_within (respond_within_hours), action_queue_mv.respond_within (respond_within_hours), alerts.rules (rules_text), alerts_mv.rules (rules_text)"

# types DRIVER STANDARD: the columns (but the SQL-only ones) whose type is not in STANDARD (a
# regular expression), or whose numeric(18,s) is not a NUMERIC of precision 18 and scale s.
types() {
    local rel
    for rel in $relations; do
        paste "$dir/cols/$rel" <(grep '^#' "$dir/$1/$rel" | cut -c2-) |
            awk -F'\t' -v rel="$rel" -v std="$2" -v skip="$(sql_only "$rel" | paste -sd' ')" '
                BEGIN { n = split(skip, s, " "); for (i = 1; i <= n; i++) sqlonly[s[i]] = 1 }
                $1 in sqlonly { next }
                $1 != $4 { print rel "." $1 ": got the column " $4; next }
                $5 !~ std { print rel "." $1 " (" $2 "): " $5 }
                match($2, /^numeric\(18,[0-9]+\)$/) {
                    scale = substr($2, 12, length($2) - 12)
                    if ($5 != "NUMERIC" || $6 != 18 || $7 != scale) print rel "." $1 " (" $2 "): " $5 "(" $6 "," $7 ")"
                }'
    done
}
# values DRIVER: the relations whose rows, read by the driver, differ from psql's (the SQL-only
# columns left out).
values() {
    local rel keep
    for rel in $relations; do
        keep=$(awk -F'\t' '!($2 ~ /\[\]$/ || $2 == "interval") { printf "%s%d", (n++ ? "," : ""), NR }' "$dir/cols/$rel")
        diff <(cut -f"$keep" "$dir/psql/$rel") <(grep -v '^#' "$dir/$1/$rel" | cut -f"$keep") >>"$dir/$1.diff" || echo "$rel"
    done
}
# shown DRIVER: the first lines of the differences found, as TAP comments.
shown() { [ -s "$dir/$1.diff" ] && head -n 6 "$dir/$1.diff" | sed 's/^/#   /'; }
standard_odbc='^(VARCHAR|LONGVARCHAR|WVARCHAR|WLONGVARCHAR|NUMERIC|INTEGER|BIGINT|BIT|DATE|TIMESTAMP|FLOAT|DOUBLE)$'
standard_jdbc='^(VARCHAR|NUMERIC|INTEGER|BIGINT|BIT|BOOLEAN|DATE|TIMESTAMP|DOUBLE)$'
check "ODBC: every column arrives with a standard SQL type, numeric(18,s) as NUMERIC(18,s)" \
    "$(types odbc "$standard_odbc" | head -n 20)" ""
check "ODBC: every value equals psql's" "$(values odbc | paste -sd' ')" ""
shown odbc
check "JDBC: every column arrives with a standard SQL type, numeric(18,s) as NUMERIC(18,s)" \
    "$(types jdbc "$standard_jdbc" | head -n 20)" ""
check "JDBC: every value equals psql's" "$(values jdbc | paste -sd' ')" ""
shown jdbc
# The figures a dashboard shows first, as each driver reads them: the book's MRR and MRR at risk.
total="SELECT mrr, revenue_at_risk FROM health_score.revenue_at_risk WHERE grouping_by = 'all'"
check "the book's MRR and revenue at risk read the same through ODBC, JDBC and psql, as of $as_of" \
    "$(odbc_read "$total" | tail -n 1) | $(jdbc_read "$total" | tail -n 1)" \
    "$(psql_read "$total") | $(psql_read "$total")"
check_that "and as of the connection's date: the revenue at risk differs a month earlier" \
    '[ "$(psql_read "$total")" != "$(PGUSER=bi_tool PGOPTIONS="-c health_score.as_of=2025-11-30" q hs_bi -F $'"'"'\t'"'"' -c "$total")" ]'

[ $failed -eq 0 ]
