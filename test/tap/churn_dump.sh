#!/usr/bin/env bash
# pg_dump round trip of trained churn models: the catalog tables (churn_models and its child
# tables, linked by foreign keys) are extension configuration tables, so a plain dump restored
# into a fresh database must bring back every version row for row, in an order the foreign
# keys accept.
# Env (from scripts/test): PGHOST, PGPORT, PGUSER, PGBIN, BUILD (the cwd), WORK.
source "$(dirname "$0")/../lib/tap.sh"

src=hs_churn_dump_src dst=hs_churn_dump_dst

echo "1..5"
throwaway_databases $src $dst
"$PGBIN/createdb" $src && q $src -c 'CREATE EXTENSION health_score' || { echo "Bail out! cannot create $src"; exit 1; }
q $src >/dev/null <<'SQL'
CREATE TABLE public.churn_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x1, ((i * 53) % 19) / 3.0::float8 AS x2,
       ((i * 13) % 7) < CASE WHEN ((i * 37) % 23) > 11 THEN 5 ELSE 2 END AS churned
  FROM generate_series(1, 200) i;
SELECT version FROM health_score.train_churn_model('dumped', 'public.churn_rows', ARRAY['x1', 'x2'], 'churned');
SELECT version FROM health_score.train_churn_model('dumped', 'public.churn_rows', ARRAY['x1'], 'churned');
SQL
check "two versions trained" "$(q $src -c 'SELECT count(*) FROM health_score.churn_models')" 2

if "$PGBIN/pg_dump" -d $src -f "$WORK/churn_dump.sql" && "$PGBIN/createdb" $dst &&
   q $dst -f "$WORK/churn_dump.sql" >/dev/null 2>"$WORK/churn_restore.err" && [ ! -s "$WORK/churn_restore.err" ]; then
    ok "plain dump restores without an error"
else
    not_ok "plain dump restores without an error"; sed 's/^/#   /' "$WORK/churn_restore.err" | head -5
fi
for t in "churn_models:name, version" "churn_model_terms:name, version, position" "churn_model_calibration:name, version, decile"; do
    table=${t%%:*} key=${t#*:}
    sql="SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY $key)) FROM health_score.$table r"
    check "$table restored row for row" "$(q $dst -c "$sql")" "$(q $src -c "$sql")"
done
