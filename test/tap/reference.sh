#!/usr/bin/env bash
# The reference is complete: every object the extension creates for users (each function,
# aggregate, table, view, materialized view, type and sequence, leaving out the support
# functions of aggregates and the trigger functions, which are internal) is named in the
# README's Reference section and carries a COMMENT, as does every column of its tables,
# views and types, so BI tools show a description for each.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd).
source "$(dirname "$0")/../lib/tap.sh"

db=hs_reference
echo "1..5"
throwaway_databases $db
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $db"; exit 1; }

# The extension's objects for users: kind, name, and whether a COMMENT is on it.
objects=$(q $db -F ' ' <<'SQL'
WITH member AS (
    SELECT classid, objid FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'health_score')
), support AS (
    SELECT aggtransfn::oid AS oid FROM pg_aggregate UNION SELECT aggcombinefn FROM pg_aggregate
    UNION SELECT aggfinalfn FROM pg_aggregate
)
SELECT 'function', p.proname, obj_description(p.oid, 'pg_proc') IS NOT NULL
  FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
 WHERE p.oid NOT IN (SELECT oid FROM support) AND p.prorettype <> 'trigger'::regtype
UNION ALL
SELECT 'relation', c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL
  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'type', t.typname, obj_description(t.oid, 'pg_type') IS NOT NULL
  FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
 ORDER BY 1, 2
SQL
)
reference=$(sed -n '/^## Reference/,/^## /p' README.md)

check_that "the README has a Reference section" '[ -n "$reference" ]'
check_that "the extension creates objects for users to check ($(wc -l <<<"$objects"))" '[ "$(wc -l <<<"$objects")" -gt 100 ]'
missing=$(while read -r kind name commented; do
              grep -qE "\`$name[\`(]" <<<"$reference" || echo "$kind $name"
          done <<<"$objects")
check "every function, table, view, type and sequence for users is in the reference" "$missing" ""
check "each of them carries a COMMENT" "$(awk '$3 != "t" { print $1, $2 }' <<<"$objects")" ""
check "every column of the extension's tables, views and types carries a COMMENT" \
    "$(q $db -c "SELECT string_agg(c.relname || '.' || a.attname, ' ' ORDER BY 1)
                   FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  WHERE c.relnamespace = 'health_score'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'c')
                    AND col_description(c.oid, a.attnum) IS NULL")" ""

[ $failed -eq 0 ]
