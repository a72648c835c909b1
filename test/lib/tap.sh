# test/lib/tap.sh: what every shell test shares: TAP output, psql, throwaway databases.
# Source it; do not run it. Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, WORK.
set -uo pipefail

n=0 failed=0 todo=
ok() { n=$((n + 1)); echo "ok $n - $1${todo:+ # TODO $todo}"; todo=; }
# A failing test marked with "todo REASON" before it is a known gap: reported, not counted.
not_ok() { n=$((n + 1)); [ -n "$todo" ] || failed=$((failed + 1)); echo "not ok $n - $1${todo:+ # TODO $todo}"; todo=; }
todo() { todo=$1; }
# check DESCRIPTION VALUE EXPECTED: passes when the two strings are equal, else shows both.
check() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   got:      $2"; echo "#   expected: $3"; fi; }
# check_that DESCRIPTION CONDITION: passes when the shell condition holds.
check_that() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

# q DATABASE PSQL-ARGS...: psql, quiet and unaligned, stopping at the first error.
q() { local db=$1; shift; "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# throwaway_databases NAME...: drop leftovers of these databases now and the databases on exit.
throwaway_databases() {
    TAP_DATABASES=("$@")
    drop_throwaway_databases
    trap drop_throwaway_databases EXIT
}
drop_throwaway_databases() {
    local db
    for db in "${TAP_DATABASES[@]}"; do "$PGBIN/dropdb" --if-exists "$db" >/dev/null 2>&1; done
}
