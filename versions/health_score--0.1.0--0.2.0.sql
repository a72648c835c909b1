-- health_score upgrade script from 0.1.0 to 0.2.0.
-- Every change to the SQL surface made in src/sql/ for 0.2.0 is repeated here, so that
-- ALTER EXTENSION health_score UPDATE gives exactly what CREATE EXTENSION gives (the upgrade
-- test in test/tap/upgrade.sh compares the two).

\echo Use "ALTER EXTENSION health_score UPDATE TO '0.2.0'" to load this file. \quit
