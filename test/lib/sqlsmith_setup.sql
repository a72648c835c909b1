-- The database sqlsmith runs against (bench/sqlsmith.sh, test/tap/sqlsmith.sh), after the demo
-- book is loaded: history (monthly snapshots of the year) and a churn model of each kind, and
-- the login role sqlsmith connects as: not a superuser (random calls of pg_catalog's
-- functions must not stop the server or touch its files), with every right on the extension's
-- tables (so that its writes reach the triggers) and functions. Its statements are bounded by
-- a timeout; its errors reach the server log with their SQLSTATE.
SELECT count(*) AS snapshots FROM health_score.backfill('2025-01-31', '2025-12-31', '1 month');
CREATE TABLE public.smith_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x, (i * 53) % 7 < 3 AS churned FROM generate_series(1, 60) i;
SELECT name FROM health_score.train_churn_model('smith_model', 'public.smith_rows', '{x}', 'churned');
DROP ROLE IF EXISTS hs_smith;
CREATE ROLE hs_smith LOGIN;
GRANT USAGE ON SCHEMA health_score TO hs_smith;
GRANT ALL ON ALL TABLES IN SCHEMA health_score TO hs_smith;
GRANT ALL ON ALL SEQUENCES IN SCHEMA health_score TO hs_smith;
GRANT SELECT ON public.smith_rows TO hs_smith;
-- and every function, internals included (PUBLIC may not run those), so that random calls
-- reach the aggregates' support functions and the query builders too
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA health_score TO hs_smith;
ALTER ROLE hs_smith SET statement_timeout = '1s';
ALTER ROLE hs_smith SET log_error_verbosity = verbose;
