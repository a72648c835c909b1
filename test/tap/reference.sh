#!/usr/bin/env bash
# The reference is complete and says which functions are the API: every object the extension
# creates for users (each function PUBLIC may execute, aggregate, table, view, materialized view,
# type and sequence) is named in the README's Reference section and carries a COMMENT, as does
# every column of its tables, views and types, so BI tools show a description for each. Every
# other function is internal (an aggregate's support function, a trigger function or one named
# under Internals) or for the extension's owner (named under Owner only), and none of those is
# executable by PUBLIC.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd).
source "$(dirname "$0")/../lib/tap.sh"

db=hs_reference
echo "1..8"
throwaway_databases $db
"$PGBIN/createdb" $db && q $db -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $db"; exit 1; }

# The extension's objects for users: kind, name, and whether a COMMENT is on it.
objects=$(q $db -F ' ' <<'SQL'
WITH member AS (
    SELECT classid, objid FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'health_score')
), support AS (
    SELECT s.fn AS oid FROM pg_aggregate a,
           LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn), (a.aggserialfn), (a.aggdeserialfn)) s(fn)
), public_may AS (
    SELECT p.oid FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
     WHERE x.grantee = 0 AND x.privilege_type = 'EXECUTE'
)
SELECT 'function', p.proname, obj_description(p.oid, 'pg_proc') IS NOT NULL
  FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
 WHERE p.oid IN (SELECT oid FROM public_may)
UNION ALL
SELECT 'relation', c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL
  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'type', t.typname, obj_description(t.oid, 'pg_type') IS NOT NULL
  FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
 ORDER BY 1, 2
SQL
)
reference=$(sed -n '/^## Reference/,/^## /p' README.md | sed '/^### Internals/,/^##/d')
internals=$(sed -n '/^### Internals/,/^##/p' README.md)
owner_only=$(sed -n '/^### Owner only/,/^##/p' README.md | sed '1d')
# Every function: name, whether it is an aggregate's support or a trigger function, whether
# PUBLIC may execute it.
functions=$(q $db -F ' ' <<'SQL'
WITH support AS (
    SELECT s.fn AS oid FROM pg_aggregate a,
           LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn), (a.aggserialfn), (a.aggdeserialfn)) s(fn)
)
SELECT p.proname, p.oid IN (SELECT oid FROM support) OR p.prorettype = 'trigger'::regtype,
       has_function_privilege('public', p.oid, 'EXECUTE')
  FROM pg_proc p WHERE p.pronamespace = 'health_score'::regnamespace ORDER BY 1
SQL
)
internal_names=$(grep -oE '`[a-z_]+\(' <<<"$internals" | tr -d '`(' | sort -u)
owner_names=$(grep -oE '^\| `[a-z_]+\(' <<<"$owner_only" | tr -d '|` (' | sort -u)

check_that "the README has a Reference section" '[ -n "$reference" ]'
check_that "the extension creates objects for users to check ($(wc -l <<<"$objects"))" '[ "$(wc -l <<<"$objects")" -gt 80 ]'
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

check "every function PUBLIC may not execute is an aggregate's support, a trigger, under Internals or Owner only" \
    "$(while read -r name support public; do
           [ "$public" = t ] || [ "$support" = t ] || grep -qx "$name" <<<"$internal_names" ||
               grep -qx "$name" <<<"$owner_names" || echo "$name"
       done <<<"$functions")" ""
check "no function under Owner only is executable by PUBLIC" \
    "$(while read -r name support public; do
           [ "$public" = t ] && grep -qx "$name" <<<"$owner_names" && echo "$name"
       done <<<"$functions")" ""
check "no aggregate support function, trigger function or internal is executable by PUBLIC" \
    "$(while read -r name support public; do
           [ "$public" = t ] && { [ "$support" = t ] || grep -qx "$name" <<<"$internal_names"; } && echo "$name"
       done <<<"$functions")" ""
[ $failed -eq 0 ]
