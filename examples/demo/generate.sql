-- The demo dataset: synthetic accounts and twelve months of observations for the default
-- metrics, loaded into health_score.accounts and health_score.observations.
--
--   psql -v accounts=2000 -v end_date=2025-12-31 -f examples/demo/generate.sql
--
-- accounts  number of accounts (default 2000)
-- end_date  the day the dashboard is read (default 2025-12-31): the observations cover the
--           365 days before it, so scoring as of its midnight sees the whole year.
--
-- Deterministic: every random draw is an md5 of the account key, the day and the stream, so
-- the same parameters give the same rows on every run, machine and plan, and the first N
-- accounts of a bigger dataset are the N accounts of a smaller one. Plain SQL, set-based:
-- it needs nothing but psql and the extension, and refuses to run over existing demo
-- accounts.
--
-- The story it tells: accounts in three segments (enterprise, mid_market, smb) and four plans,
-- each with a latent health that drives every metric through noisy, metric-shaped curves.
-- About 12 % churn during the year; their behaviour deteriorates over the 60-120 days before
-- they cancel (fewer logins, falling seat use, worse surveys and sentiment, late payments,
-- skipped business reviews), although some leave with little warning. A share of healthy
-- accounts grows (seat penetration above 80 %, expansion talks, growing budgets); some live
-- accounts are sliding at the end of the year; some lack whole groups of metrics (no
-- surveys, no CRM data, no product telemetry, or billing only), so coverage varies and a few
-- accounts fall below the minimum coverage.

\set ON_ERROR_STOP on
\if :{?accounts}
\else
\set accounts 2000
\endif
\if :{?end_date}
\else
\set end_date 2025-12-31
\endif

BEGIN;

SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL timezone = 'UTC';
-- Small tables with large row estimates would otherwise pay seconds of JIT compilation.
SET LOCAL jit = off;
-- Keep the working tables in memory (possible only before a session's first temporary table).
DO $$ BEGIN PERFORM set_config('temp_buffers', '256MB', true); EXCEPTION WHEN OTHERS THEN NULL; END $$;

-- The helper functions come first: on a Citus coordinator, a CREATE FUNCTION is refused once
-- the transaction has read or written a distributed table.

-- u(hex, k): the k-th (0-3) uniform draw in [0, 1) from an md5 digest in hex;
-- u1(key) = u(md5(key), 0).
CREATE FUNCTION pg_temp.u(hex text, k int) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('x' || substr(hex, 8 * k + 1, 8))::bit(32)::bigint::float8 / 4294967296.0::float8 $$;

CREATE FUNCTION pg_temp.u1(key text) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('x' || substr(md5(key), 1, 8))::bit(32)::bigint::float8 / 4294967296.0::float8 $$;

-- clamp(v, lo, hi): v within [lo, hi]. Not STRICT, so that the planner inlines it (least and
-- greatest are not strict): a call per row would cost more than the rest of the expression.
CREATE FUNCTION pg_temp.clamp(v float8, lo float8, hi float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT least(greatest(v, lo), hi) $$;

-- at(day, hours): a timestamptz within the day, independent of the session time zone.
CREATE FUNCTION pg_temp.at(day date, hours float8) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (day + make_interval(secs => round(hours * 3600))) AT TIME ZONE 'UTC' $$;

-- The parameters, checked before anything is written.
CREATE TEMP TABLE demo_input ON COMMIT DROP AS
SELECT :'accounts'::text AS accounts, :'end_date'::text AS end_date;

DO $$
DECLARE
    input record;
BEGIN
    SELECT * INTO input FROM demo_input;
    IF input.accounts !~ '^\s*[0-9]{1,6}\s*$' OR NOT trim(input.accounts)::int BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'accounts must be a whole number from 1 to 100000, got "%"', input.accounts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- ISO form only: other forms read differently under other DateStyle settings.
    IF input.end_date !~ '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$' THEN
        RAISE EXCEPTION 'end_date must be a date written YYYY-MM-DD, got "%"', input.end_date
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
        PERFORM trim(input.end_date)::date;
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'end_date must be a valid date, got "%"', input.end_date
            USING ERRCODE = 'invalid_parameter_value';
    END;
    IF EXISTS (SELECT 1 FROM health_score.accounts WHERE account_id LIKE 'ACC-%') THEN
        RAISE EXCEPTION 'the demo accounts (ACC-...) already exist in health_score.accounts'
            USING ERRCODE = 'unique_violation',
                  HINT = 'Load the demo into an empty database, or delete those accounts and their observations first.';
    END IF;
END
$$;

CREATE TEMP TABLE demo_params ON COMMIT DROP AS
SELECT trim(accounts)::int AS accounts, trim(end_date)::date AS end_date, trim(end_date)::date - 365 AS first_day
  FROM demo_input;

-- Accounts -----------------------------------------------------------------------------------
-- Draws per account: segment, plan, seats, price, owner, start, fate, health, missing groups.

CREATE TEMP TABLE demo_account ON COMMIT DROP AS
WITH base AS (
    SELECT 'ACC-' || lpad(i::text, greatest(5, length(i::text)), '0') AS account_id, i, p.first_day, p.end_date,
           md5('demo:a:' || i) AS h1, md5('demo:b:' || i) AS h2, md5('demo:c:' || i) AS h3
      FROM demo_params p, generate_series(1, p.accounts) AS i
), seg AS (
    SELECT b.*,
           CASE WHEN pg_temp.u(h1, 0) < 0.15 THEN 'enterprise'
                WHEN pg_temp.u(h1, 0) < 0.50 THEN 'mid_market'
                ELSE 'smb' END AS segment,
           pg_temp.u(h1, 1) AS u_plan, pg_temp.u(h1, 2) AS u_seats, pg_temp.u(h1, 3) AS u_owner,
           pg_temp.u(h2, 0) AS u_fate, pg_temp.u(h2, 1) AS u_health, pg_temp.u(h2, 2) AS u_start,
           pg_temp.u(h2, 3) AS u_when, pg_temp.u(h3, 0) AS u_gaps, pg_temp.u(h3, 1) AS u_gaps2,
           pg_temp.u(h3, 2) AS u_term
      FROM base b
), fate AS (
    SELECT s.*,
           (CASE s.segment WHEN 'enterprise' THEN ARRAY['business', 'enterprise', 'enterprise', 'enterprise']
                           WHEN 'mid_market' THEN ARRAY['team', 'business', 'business', 'enterprise']
                           ELSE ARRAY['starter', 'starter', 'team', 'business'] END)
               [1 + floor(s.u_plan * 4)::int] AS plan,
           CASE s.segment WHEN 'enterprise' THEN 150 + floor(1850 * s.u_seats ^ 2)
                          WHEN 'mid_market' THEN 25 + floor(175 * s.u_seats ^ 2)
                          ELSE 3 + floor(22 * s.u_seats ^ 2) END::int AS seats,
           (CASE s.segment WHEN 'enterprise' THEN ARRAY['csm_alice', 'csm_bob']
                           WHEN 'mid_market' THEN ARRAY['csm_carol', 'csm_dave', 'csm_erin']
                           ELSE ARRAY['csm_frank', 'csm_grace', 'csm_heidi'] END)
               [1 + floor(s.u_owner * CASE s.segment WHEN 'enterprise' THEN 2 ELSE 3 END)::int] AS owner,
           -- churn: more likely for small businesses; expand: a share of the others
           CASE WHEN s.u_fate < CASE s.segment WHEN 'enterprise' THEN 0.07 WHEN 'mid_market' THEN 0.10 ELSE 0.15 END
                THEN 'churner'
                WHEN s.u_fate > 0.82 THEN 'expander'
                WHEN s.u_fate > 0.72 THEN 'sliding'
                ELSE 'steady' END AS kind
      FROM seg s
), dated AS (
    SELECT f.*,
           -- a quarter of the steady and expanding accounts started during the year (onboarding)
           CASE WHEN f.kind IN ('steady', 'expander') AND f.u_start < 0.25
                THEN f.first_day + 10 + floor(f.u_start / 0.25 * 290)::int
                ELSE f.first_day - 30 - floor(f.u_start * 1400)::int END AS started_on,
           CASE WHEN f.kind = 'churner' THEN f.first_day + 90 + floor(f.u_when * 274)::int END AS churned_on,
           -- latent health 0-1: churners lower on average, with overlap; expanders high
           CASE f.kind WHEN 'churner' THEN 0.22 + 0.50 * f.u_health
                       WHEN 'expander' THEN 0.74 + 0.22 * f.u_health
                       ELSE 0.25 + 0.70 * f.u_health END AS health
      FROM fate f
)
SELECT d.account_id, d.i, d.segment, d.plan, d.seats, d.owner, d.kind, d.started_on, d.churned_on,
       d.health, d.first_day, d.end_date,
       -- how many list-price dollars a seat costs per month, less a volume discount
       round((d.seats * CASE d.plan WHEN 'starter' THEN 15 WHEN 'team' THEN 29 WHEN 'business' THEN 49 ELSE 79 END
              * (1 - least(0.35, d.seats / 4000.0)))::numeric, 0) AS mrr,
       -- the decline before churn (60-120 days; a fifth of churners leave with little warning),
       -- or the slide of a live account over the last 30-120 days of the year
       CASE d.kind WHEN 'churner' THEN d.churned_on - 60 - floor(pg_temp.u1('demo:d:' || d.i) * 61)::int
                   WHEN 'sliding' THEN d.end_date - 30 - floor(pg_temp.u1('demo:d:' || d.i) * 91)::int END AS decline_start,
       CASE d.kind WHEN 'churner' THEN CASE WHEN pg_temp.u1('demo:s:' || d.i) < 0.2 THEN 0.15 ELSE 0.55 + 0.4 * pg_temp.u1('demo:s:' || d.i) END
                   WHEN 'sliding' THEN 0.50 + 0.40 * pg_temp.u1('demo:s:' || d.i)
                   ELSE 0 END AS severity,
       -- groups of metrics an account may lack
       d.u_gaps < 0.015 AS billing_only,
       d.u_gaps >= 0.015 AND d.u_gaps < 0.045 AS no_telemetry,
       d.u_gaps2 < 0.30 AS no_surveys,
       d.segment = 'smb' AND d.u_gaps2 >= 0.30 AND d.u_gaps2 < 0.60 AS no_crm,
       pg_temp.u1('demo:o:' || d.i) < 0.15 AS no_outcomes,
       d.segment <> 'smb' AS has_qbr,
       -- monthly metrics are read on this day of the month, quarterly ones in this month of the quarter
       1 + floor(pg_temp.u1('demo:m:' || d.i) * 28)::int AS month_day,
       floor(pg_temp.u1('demo:q:' || d.i) * 3)::int AS quarter_month,
       1 + floor(pg_temp.u1('demo:w:' || d.i) * 5)::int AS week_day,
       2 * pi() * pg_temp.u1('demo:p:' || d.i) AS phase,
       -- how hard the account's own workflows are to finish, whatever its health
       30 * (pg_temp.u1('demo:f:' || d.i) - 0.5) AS workflow_bias,
       CASE d.segment WHEN 'enterprise' THEN (ARRAY[12, 24, 24, 36])[1 + floor(d.u_term * 4)::int]
                      WHEN 'mid_market' THEN (ARRAY[12, 12, 12, 24])[1 + floor(d.u_term * 4)::int]
                      ELSE (ARRAY[1, 1, 1, 12])[1 + floor(d.u_term * 4)::int] END AS contract_term,
       -- a name made of a first word, a trade and a form, all distinct for the first 7,200 accounts
       (ARRAY['Acme', 'Aster', 'Beacon', 'Birch', 'Blue Harbor', 'Brightline', 'Cedar', 'Cobalt', 'Copper',
              'Crescent', 'Delta', 'Ember', 'Evergreen', 'Falcon', 'Fjord', 'Granite', 'Harbor', 'Helix',
              'Indigo', 'Juniper', 'Keystone', 'Lumen', 'Maple', 'Meridian', 'Nimbus', 'Northwind',
              'Oakridge', 'Orion', 'Pinnacle', 'Quartz', 'Redwood', 'Riverbend', 'Saffron', 'Sequoia',
              'Silverline', 'Summit', 'Tidewater', 'Trident', 'Vertex', 'Willow'])[1 + (d.i * 7919) % 7200 % 40]
       || ' ' ||
       (ARRAY['Analytics', 'Bakeries', 'Biotech', 'Builders', 'Capital', 'Clinics', 'Consulting', 'Dental',
              'Design', 'Energy', 'Foods', 'Freight', 'Games', 'Health', 'Hotels', 'Insurance', 'Labs',
              'Legal', 'Logistics', 'Media', 'Motors', 'Outdoor', 'Pharma', 'Robotics', 'Retail',
              'Software', 'Studios', 'Systems', 'Textiles', 'Travel'])[1 + (d.i * 7919) % 7200 / 40 % 30]
       || (ARRAY['', ' Group', ' Inc', ' & Co', ' Partners', ' Holdings'])[1 + (d.i * 7919) % 7200 / 1200]
       AS name
  FROM dated d;

INSERT INTO health_score.accounts (account_id, name, segment, plan, owner, mrr, started_on, churned_on)
SELECT account_id, name, segment, plan, owner, mrr, started_on, churned_on
  FROM demo_account
 ORDER BY i;

-- Account days -------------------------------------------------------------------------------
-- One row per account and day it was a customer within the year, with its effective health
-- that day (e, 0-1), the md5 that feeds the day's draws and its first four uniform draws.

CREATE TEMP TABLE demo_day ON COMMIT DROP AS
SELECT a.i, a.account_id, day, extract(isodow FROM day)::int AS dow, extract(day FROM day)::int AS dom,
       extract(month FROM day)::int AS month,
       h.hex, pg_temp.u(h.hex, 0) AS u0, pg_temp.u(h.hex, 1) AS u1, pg_temp.u(h.hex, 2) AS u2, pg_temp.u(h.hex, 3) AS u3,
       pg_temp.clamp(
           -- expanders grow through the year; everyone wobbles a little over a quarter
           (a.health + CASE WHEN a.kind = 'expander' THEN 0.08 * (day - a.first_day) / 365.0 ELSE 0 END
                     + 0.04 * sin(a.phase + 2 * pi() * (day - a.first_day) / 91.0))
           -- the decline before churn (or the slide), accelerating
           * (1 - a.severity * CASE WHEN day >= a.decline_start
                                    THEN ((day - a.decline_start)::float8
                                          / greatest(coalesce(a.churned_on, a.end_date) - a.decline_start, 1)) ^ 1.5
                                    ELSE 0 END)
           -- new accounts ramp up over their first 60 days
           * (0.55 + 0.45 * least(1, (day - a.started_on) / 60.0)),
           0.02, 1) AS e,
       a.segment, a.seats, a.kind, a.month_day, a.quarter_month, a.week_day, a.workflow_bias,
       a.billing_only, a.no_telemetry, a.no_surveys, a.no_crm, a.no_outcomes, a.has_qbr, a.contract_term
  FROM demo_account a,
       generate_series(0, least(a.end_date, a.churned_on) - 1 - greatest(a.first_day, a.started_on)) AS k,
       LATERAL (SELECT greatest(a.first_day, a.started_on) + k AS day) AS d,
       LATERAL (SELECT md5(a.account_id || ':' || (d.day - date '2000-01-01')) AS hex OFFSET 0) AS h;

-- Observations -------------------------------------------------------------------------------
-- Every stream in one pass over the account days; each branch says which days it fires on.

INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT o.account_id, o.metric, o.observed_at, o.value
  FROM (
    -- Product telemetry ---------------------------------------------------------------------
    -- login: one event on each day with a login; weekends are quiet
    SELECT d.account_id, 'login' AS metric, pg_temp.at(d.day, 7 + 12 * d.u0 / p.p) AS observed_at, 1::float8 AS value
      FROM demo_day d,
           LATERAL (SELECT (0.02 + 0.93 * d.e ^ 2) * CASE WHEN d.dow >= 6 THEN 0.3 ELSE 1 END AS p) p
     WHERE NOT (d.billing_only OR d.no_telemetry) AND d.u0 < p.p
    UNION ALL
    -- workflow completion: weekly share of started workflows finished
    SELECT d.account_id, 'workflow_completion', pg_temp.at(d.day, 18),
           round(pg_temp.clamp(30 + 65 * d.e + d.workflow_bias + 20 * (d.u1 - 0.5), 0, 100))
      FROM demo_day d
     WHERE NOT (d.billing_only OR d.no_telemetry) AND d.dow = d.week_day
    UNION ALL
    -- monthly: seat penetration, features in use, integrations, power users
    SELECT d.account_id, m.metric, pg_temp.at(d.day, 2), m.value
      FROM demo_day d,
           LATERAL (SELECT md5(d.hex || ':m') AS hm) h,
           LATERAL (VALUES
               ('seat_penetration',
                round(pg_temp.clamp(10 + 75 * d.e + CASE WHEN d.kind = 'expander' THEN 10 ELSE 0 END
                                    + 12 * (pg_temp.u(h.hm, 0) - 0.5), 1, 100)::numeric, 1)::float8),
               ('feature_adoption', round(pg_temp.clamp(1 + 15 * d.e + 4 * (pg_temp.u(h.hm, 1) - 0.5), 0, 20))),
               ('integrations', round(pg_temp.clamp((0.3 + 4.5 * d.e) * CASE d.segment WHEN 'smb' THEN 0.6 WHEN 'enterprise' THEN 1.3 ELSE 1 END
                                                    + (pg_temp.u(h.hm, 2) - 0.5), 0, 9))),
               ('power_users', round(pg_temp.clamp(d.e ^ 2 * (3 + 0.05 * d.seats) + pg_temp.u(h.hm, 3) - 0.5, 0, d.seats)))
           ) AS m(metric, value)
     WHERE NOT (d.billing_only OR d.no_telemetry) AND d.dom = d.month_day
    UNION ALL
    -- Relationship ----------------------------------------------------------------------------
    -- support tickets (events) and the sentiment of each conversation
    SELECT d.account_id, t.metric, pg_temp.at(d.day, 8 + 10 * d.u1 / p.p), t.value
      FROM demo_day d,
           LATERAL (SELECT CASE d.segment WHEN 'smb' THEN 0.7 WHEN 'enterprise' THEN 1.6 ELSE 1 END
                           * (0.012 + 0.2 * (1 - d.e) ^ 2) AS p) p,
           LATERAL (VALUES ('support_tickets', 1::float8),
                           ('support_sentiment', round(pg_temp.clamp(1.7 * d.e - 0.75 + 0.9 * (d.u2 - 0.5), -1, 1)::numeric, 2)::float8)
           ) AS t(metric, value)
     WHERE NOT d.billing_only AND d.u1 < p.p
    UNION ALL
    -- champion advocacy (rare events of healthy accounts' champions) and expansion conversations
    SELECT d.account_id, 'champion_advocacy', pg_temp.at(d.day, 11), 1
      FROM demo_day d
     WHERE NOT (d.billing_only OR d.no_crm) AND d.u3 < 0.006 * d.e ^ 3
    UNION ALL
    SELECT d.account_id, 'expansion_conversations', pg_temp.at(d.day, 15), 1
      FROM demo_day d
     WHERE NOT (d.billing_only OR d.no_crm)
       AND d.u3 > 1 - CASE WHEN d.kind = 'expander' THEN 0.02 ELSE 0.003 * d.e ^ 2 END
    UNION ALL
    -- monthly: executive sponsor engagement level and response time to outreach
    SELECT d.account_id, m.metric, pg_temp.at(d.day, 3), m.value
      FROM demo_day d,
           LATERAL (SELECT md5(d.hex || ':r') AS hr) h,
           LATERAL (VALUES
               ('executive_sponsor', round(pg_temp.clamp(3.4 * d.e - 0.4 + (pg_temp.u(h.hr, 0) - 0.5), 0, 3))),
               ('response_time', round(exp(ln(4) + 5.5 * (1 - d.e) ^ 1.3 + 0.8 * (pg_temp.u(h.hr, 1) - 0.5))::numeric, 1)::float8)
           ) AS m(metric, value)
     WHERE NOT (d.billing_only OR d.no_crm) AND d.dom = d.month_day
    UNION ALL
    -- quarterly: business reviews (attended or not), NPS and CSAT surveys
    SELECT d.account_id, q.metric, pg_temp.at(d.day, 10), q.value
      FROM demo_day d,
           LATERAL (SELECT md5(d.hex || ':q') AS hq) h,
           LATERAL (VALUES
               ('qbr_participation', CASE WHEN d.has_qbr AND NOT d.no_crm
                                          THEN (pg_temp.u(h.hq, 0) < 0.1 + 0.9 * d.e ^ 1.5)::int::float8 END),
               ('nps', CASE WHEN NOT d.no_surveys THEN round(pg_temp.clamp(1 + 9 * d.e + 3 * (pg_temp.u(h.hq, 1) - 0.5), 0, 10)) END),
               ('csat', CASE WHEN NOT d.no_surveys
                             THEN round(pg_temp.clamp(1 + 4.3 * d.e + 1.2 * (pg_temp.u(h.hq, 2) - 0.5), 1, 5)::numeric, 1)::float8 END)
           ) AS q(metric, value)
     WHERE NOT d.billing_only AND d.dom = d.month_day AND (d.month - 1) % 3 = d.quarter_month
    UNION ALL
    -- Business ----------------------------------------------------------------------------------
    -- monthly: from the invoice, days it was paid late and the contract term; from the account
    -- review, goals met, ROI and budget change
    SELECT d.account_id, m.metric, pg_temp.at(d.day, 12), m.value
      FROM demo_day d,
           LATERAL (SELECT md5(d.hex || ':b') AS hb) h,
           LATERAL (VALUES
               ('payment_behaviour', greatest(0, round(60 * (1 - d.e) ^ 2.2 + 6 * (pg_temp.u(h.hb, 0) - 0.6)))),
               ('contract_term', d.contract_term),
               ('outcome_achievement', CASE WHEN NOT (d.billing_only OR d.no_crm OR d.no_outcomes)
                                            THEN round(pg_temp.clamp(5 + 95 * d.e ^ 1.2 + 16 * (pg_temp.u(h.hb, 1) - 0.5), 0, 100)) END),
               ('roi', CASE WHEN NOT (d.billing_only OR d.no_crm OR d.no_outcomes)
                            THEN round(pg_temp.clamp(0.2 + 5 * d.e ^ 1.5 + 0.8 * (pg_temp.u(h.hb, 2) - 0.5), 0, 10)::numeric, 1)::float8 END),
               ('budget_trend', CASE WHEN NOT (d.billing_only OR d.no_crm OR d.no_outcomes)
                                     THEN round(pg_temp.clamp(-40 + 55 * d.e + CASE WHEN d.kind = 'expander' THEN 15 ELSE 0 END
                                                              + 16 * (pg_temp.u(h.hb, 3) - 0.5), -80, 60)) END)
           ) AS m(metric, value)
     WHERE d.dom = d.month_day
  ) AS o
 WHERE o.value IS NOT NULL
 ORDER BY o.account_id, o.metric, o.observed_at;

COMMIT;

ANALYZE health_score.accounts;
ANALYZE health_score.observations;
