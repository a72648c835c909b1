-- Load CDNOW's real purchase history (test/data/cdnow_transactions.txt) into health_score as
-- accounts and observations, and score it with three purchase metrics (recency, frequency,
-- monetary value) in place of the default catalog.
--
--   psql -d DB -f examples/cdnow/load.sql          (from the project's top folder; the database has
--                                              CREATE EXTENSION health_score)
--
-- Meant for a database of its own: it disables every other metric. Re-running it replaces the
-- CDNOW accounts and observations.
--
-- Every customer made a first purchase in January-March 1997; the data end on 1998-06-30.
-- Churn proxy: a customer who bought nothing after the cut-off 1997-09-30 churned on
-- 1997-10-01; the others stay (churned_on NULL). Each account starts on its first purchase.
-- A purchase counts from noon of its day, so a score as of a date (midnight at its start)
-- never sees that day's purchases.

\set ON_ERROR_STOP on

CREATE TEMP TABLE cdnow_raw (line text);
\copy cdnow_raw (line) FROM 'test/data/cdnow_transactions.txt'

CREATE TEMP TABLE cdnow_purchases AS
SELECT f[1] AS customer_id, to_date(f[2], 'YYYYMMDD') AS day, f[3]::int AS cds, f[4]::numeric AS dollars
  FROM (SELECT regexp_split_to_array(btrim(replace(line, E'\r', '')), '\s+') AS f FROM cdnow_raw) r
 WHERE f[1] ~ '^[0-9]+$';

DO $$
DECLARE
    n bigint;
    customers bigint;
BEGIN
    SELECT count(*), count(DISTINCT customer_id) INTO n, customers FROM cdnow_purchases;
    IF n <> 69659 OR customers <> 23570 THEN
        RAISE EXCEPTION 'cdnow_transactions.txt: expected 69,659 purchases of 23,570 customers, read % of %', n, customers;
    END IF;
END
$$;

DELETE FROM health_score.observations WHERE account_id LIKE 'cdnow-%';
DELETE FROM health_score.accounts WHERE account_id LIKE 'cdnow-%';

INSERT INTO health_score.accounts (account_id, name, segment, started_on, churned_on)
SELECT 'cdnow-' || customer_id, 'CDNOW customer ' || ltrim(customer_id, '0'), NULL, min(day),
       CASE WHEN max(day) <= '1997-09-30' THEN '1997-10-01'::date END
  FROM cdnow_purchases
 GROUP BY customer_id;

-- purchase: 1 per purchase line; spend: its dollar value.
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT 'cdnow-' || customer_id, 'cdnow_purchase', day + time '12:00', 1 FROM cdnow_purchases
UNION ALL
SELECT 'cdnow-' || customer_id, 'cdnow_spend', day + time '12:00', dollars FROM cdnow_purchases;

-- The metrics: recency and frequency of purchases (product use), decayed spend (business).
UPDATE health_score.metrics SET enabled = false WHERE name NOT LIKE 'cdnow\_%' AND enabled;
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve,
                                  breakpoints, scores, direction, unit, description)
VALUES
 ('cdnow_recency', 'product', 1, 'cdnow_purchase', 'days_since', '90 days', 'linear',
  '{0,30,60,120,240}', '{100,75,50,25,0}', 'lower', 'days',
  'CDNOW: days since the last purchase.'),
 ('cdnow_frequency', 'product', 1, 'cdnow_purchase', 'decayed_rate', '90 days', 'linear',
  '{0,0.01,0.03,0.1}', '{0,40,75,100}', 'higher', 'purchases per day',
  'CDNOW: purchases per day, with a 90-day half-life.'),
 ('cdnow_monetary', 'business', 1, 'cdnow_spend', 'decayed_sum', '90 days', 'linear',
  '{0,20,60,150}', '{0,40,75,100}', 'higher', 'dollars (decayed)',
  'CDNOW: dollars spent, with a 90-day half-life.')
ON CONFLICT (name) DO NOTHING;

ANALYZE health_score.accounts;
ANALYZE health_score.observations;
