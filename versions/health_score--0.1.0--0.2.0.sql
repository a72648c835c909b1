-- health_score upgrade script from 0.1.0 to 0.2.0.
-- Every change to the SQL surface made in src/sql/ for 0.2.0 is repeated here, so that
-- ALTER EXTENSION health_score UPDATE gives exactly what CREATE EXTENSION gives (the upgrade
-- test in test/tap/upgrade.sh compares the two).

\echo Use "ALTER EXTENSION health_score UPDATE TO '0.2.0'" to load this file. \quit

-- Each part below repeats the changes of one area, in the order of src/sql/; keep them apart
-- so that changes to different areas never touch the same lines.

-- Kernels (src/sql/kernels.sql) ------------------------------------------------------------------

-- Catalog (src/sql/catalog.sql) ------------------------------------------------------------------

-- Scores and feeds (src/sql/scores.sql) ----------------------------------------------------------

-- Churn (src/sql/churn.sql) ----------------------------------------------------------------------

-- Views (src/sql/views.sql) ----------------------------------------------------------------------

-- History (src/sql/history.sql) ------------------------------------------------------------------

-- Access (src/sql/access.sql) --------------------------------------------------------------------
