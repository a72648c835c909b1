-- Subscription periods: accounts that leave and come back, and MRR that changes. A small book
-- whose periods are written out below; every expected value (who is live at a date, at what
-- MRR, the churns and reactivations, the backtest points and the training labels) is worked
-- out by hand from that list, and the score history the backtest reads is generated from the
-- same list here, not by the extension.
BEGIN;
SELECT plan(56);
\ir ../lib/helpers.sql

SET LOCAL timezone = 'UTC';

-- features_at(as_of): the account model's rows at as_of (account_features_sql), with the churn
-- date its label is read from.
CREATE FUNCTION pg_temp.features_at(as_of timestamptz) RETURNS TABLE (account_id text, churned_on date)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT f.account_id, f.churned_on FROM (%s) f',
                                health_score.account_features_sql(ARRAY['seat_penetration'])) USING as_of;
END
$$;

-- The book (grace 30 days, the default):
--   solo    accounts only: 2024-01-01 .. 2024-07-01 at 100
--   steady  accounts only: from 2023-06-01 at 300, never churns
--   later   accounts only: 2024-01-01 .. 2024-12-01 at 70
--   back    2024-01-01 .. 04-01 at 100, renewed 04-01 .. 06-01 at 150 (an upgrade), back on
--           2024-09-01 at 80 (open): churns on 06-01, returns after 92 days. Its accounts row
--           says 999 and churned 2024-02-01, which must not be read.
--   late    2024-01-01 .. 05-01 at 200, then from 05-21 at 220: a 20-day lapse, no churn
--   twice   2024-02-01 .. 03-01 at 50, 2024-05-01 .. 06-15 at 60: churns twice
CREATE TEMP TABLE hand_periods (account_id text, started_on date, ended_on date, mrr numeric);
INSERT INTO hand_periods VALUES
    ('solo', '2024-01-01', '2024-07-01', 100), ('steady', '2023-06-01', NULL, 300),
    ('later', '2024-01-01', '2024-12-01', 70),
    ('back', '2024-01-01', '2024-04-01', 100), ('back', '2024-04-01', '2024-06-01', 150),
    ('back', '2024-09-01', NULL, 80),
    ('late', '2024-01-01', '2024-05-01', 200), ('late', '2024-05-21', NULL, 220),
    ('twice', '2024-02-01', '2024-03-01', 50), ('twice', '2024-05-01', '2024-06-15', 60);

INSERT INTO health_score.accounts (account_id, name, segment, plan, owner, mrr, started_on, churned_on) VALUES
    ('solo', 'Solo', 'smb', 'basic', 'hs_subs_csm', 100, '2024-01-01', '2024-07-01'),
    ('steady', 'Steady', 'enterprise', 'pro', NULL, 300, '2023-06-01', NULL),
    ('later', 'Later', 'smb', 'basic', NULL, 70, '2024-01-01', '2024-12-01'),
    ('back', 'Back', 'smb', 'basic', 'hs_subs_csm', 999, '2023-01-01', '2024-02-01'),
    ('late', 'Late', 'smb', 'basic', NULL, NULL, NULL, NULL),
    ('twice', 'Twice', 'smb', 'basic', NULL, NULL, NULL, NULL);
INSERT INTO health_score.subscriptions (account_id, started_on, ended_on, mrr, plan, seats) VALUES
    ('back', '2024-01-01', '2024-04-01', 100, NULL, 5), ('back', '2024-04-01', '2024-06-01', 150, 'pro', 10),
    ('back', '2024-09-01', NULL, 80, NULL, 4),
    ('late', '2024-01-01', '2024-05-01', 200, NULL, NULL), ('late', '2024-05-21', NULL, 220, NULL, NULL),
    ('twice', '2024-02-01', '2024-03-01', 50, NULL, NULL), ('twice', '2024-05-01', '2024-06-15', 60, NULL, NULL);

-- ==== periods and who is live ====================================================================
SELECT results_eq(
    $$SELECT account_id, started_on, ended_on, mrr, source FROM health_score.account_periods ORDER BY 1, 2$$,
    $$SELECT h.account_id, h.started_on, h.ended_on, h.mrr,
             CASE WHEN h.account_id IN ('back', 'late', 'twice') THEN 'subscriptions' ELSE 'accounts' END
        FROM hand_periods h ORDER BY 1, 2$$,
    'account_periods: the subscriptions rows, or the accounts row of an account without any');
SELECT results_eq(
    $$SELECT account_id, mrr FROM health_score.live_accounts('2024-03-15') ORDER BY 1$$,
    $$VALUES ('back', 100::numeric), ('late', 200), ('later', 70), ('solo', 100), ('steady', 300)$$,
    'live on 2024-03-15: twice is between its periods, back pays its first period''s 100 (not accounts.mrr)');
SELECT results_eq(
    $$SELECT account_id, mrr FROM health_score.live_accounts('2024-05-10') ORDER BY 1$$,
    $$VALUES ('back', 150::numeric), ('later', 70), ('solo', 100), ('steady', 300), ('twice', 60)$$,
    'live on 2024-05-10: back after its upgrade, twice back, late in its lapse');
SELECT results_eq(
    $$SELECT account_id, mrr FROM health_score.live_accounts('2024-07-15') ORDER BY 1$$,
    $$VALUES ('late', 220::numeric), ('later', 70), ('steady', 300)$$,
    'live on 2024-07-15: back and twice gone, solo churned on 07-01');
SELECT results_eq(
    $$SELECT account_id, mrr FROM health_score.live_accounts('2024-09-01') ORDER BY 1$$,
    $$VALUES ('back', 80::numeric), ('late', 220), ('later', 70), ('steady', 300)$$,
    'live on 2024-09-01: back is live again on the day its new period starts');
SELECT is((SELECT mrr FROM health_score.live_accounts('2024-04-01') WHERE account_id = 'back'), 150::numeric,
          'on a renewal day the new period counts');
SELECT is((SELECT count(*) FROM health_score.live_accounts('2024-06-01') WHERE account_id = 'back'), 0::bigint,
          'on the day a period ends (ended_on) the account is not live');
SELECT is((SELECT count(*) FROM health_score.live_accounts('2024-05-31 23:59:59+00') WHERE account_id = 'back'), 1::bigint,
          'up to the last moment before it');
SELECT is((SELECT (plan, seats, started_on, ended_on, account_started_on) FROM health_score.live_accounts('2024-03-15')
            WHERE account_id = 'back'),
          ('basic'::text, 5, '2024-01-01'::date, '2024-04-01'::date, '2024-01-01'::date),
          'a period without a plan takes accounts.plan; seats, the period''s days and the first start');
SELECT is((SELECT plan FROM health_score.live_accounts('2024-05-10') WHERE account_id = 'back'), 'pro',
          'the period''s own plan');
SELECT set_eq($$SELECT account_id FROM health_score.account_scores('2024-05-10')$$,
              $$SELECT h.account_id FROM hand_periods h WHERE h.started_on <= '2024-05-10' AND coalesce(h.ended_on > '2024-05-10', true)$$,
              'account_scores scores exactly the accounts a period covers');
SELECT set_eq($$SELECT DISTINCT account_id FROM health_score.metric_scores('2024-07-15')$$,
              $$VALUES ('late'), ('later'), ('steady')$$,
              'and so does metric_scores');
-- login_recency reads, for an account without logins, the days since its first period started:
-- back's subscriptions start on 2024-01-01, 288 days before 2024-10-15 (accounts.started_on
-- says 2023-01-01).
SELECT is((SELECT raw_value FROM health_score.metric_scores('2024-10-15') WHERE account_id = 'back' AND metric = 'login_recency'),
          ('2024-10-15'::date - '2024-01-01'::date)::float8,
          'an account''s age counts from its first period');
SELECT throws_ok($$SELECT * FROM health_score.live_accounts(NULL)$$, '22023', 'as_of must be a finite timestamp, got NULL',
                 'live_accounts refuses a NULL as_of');

-- ==== churn events and the grace ==================================================================
SELECT results_eq(
    $$SELECT account_id, customer_since, churned_on, mrr, returned_on FROM health_score.churn_events ORDER BY 1, 3$$,
    $$VALUES ('back', '2024-01-01'::date, '2024-06-01'::date, 150::numeric, '2024-09-01'::date),
             ('later', '2024-01-01', '2024-12-01', 70, NULL),
             ('solo', '2024-01-01', '2024-07-01', 100, NULL),
             ('twice', '2024-02-01', '2024-03-01', 50, '2024-05-01'),
             ('twice', '2024-05-01', '2024-06-15', 60, NULL)$$,
    'churn_events with the default grace (30 days): late''s 20-day lapse is no churn, twice churns twice');
SELECT is((SELECT churn_grace_days FROM health_score.settings), 30, 'the grace is 30 days by default');
CREATE TEMP TABLE version_before AS SELECT health_score.config_version() AS v;
UPDATE health_score.settings SET churn_grace_days = 19;
SELECT results_eq(
    $$SELECT customer_since, churned_on, returned_on FROM health_score.churn_events WHERE account_id = 'late'$$,
    $$VALUES ('2024-01-01'::date, '2024-05-01'::date, '2024-05-21'::date)$$,
    'a grace of 19 days: late''s 20 days without a period are a churn and a reactivation');
UPDATE health_score.settings SET churn_grace_days = 20;
SELECT is((SELECT count(*) FROM health_score.churn_events WHERE account_id = 'late'), 0::bigint,
          'a grace of 20 days: a renewal 20 days late is no churn');
UPDATE health_score.settings SET churn_grace_days = 100;
SELECT results_eq(
    $$SELECT account_id, customer_since, churned_on, returned_on FROM health_score.churn_events ORDER BY 1, 3$$,
    $$VALUES ('later', '2024-01-01'::date, '2024-12-01'::date, NULL::date), ('solo', '2024-01-01', '2024-07-01', NULL),
             ('twice', '2024-02-01', '2024-06-15', NULL)$$,
    'a grace of 100 days: back''s 92 and twice''s 61 days away are one stay each');
UPDATE health_score.settings SET churn_grace_days = 0;
SELECT is((SELECT count(*) FROM health_score.churn_events WHERE account_id = 'back' AND churned_on = '2024-04-01'), 0::bigint,
          'a grace of 0: a renewal on the day the period ends is no churn');
SELECT is((SELECT v FROM version_before), health_score.config_version(),
          'changing the grace keeps the configuration version (it does not change the scores)');
SELECT throws_ok($$UPDATE health_score.settings SET churn_grace_days = -1$$, '23514',
                 'settings: churn_grace_days must be 0 or more, got -1', 'a negative grace is refused');
UPDATE health_score.settings SET churn_grace_days = 30;

-- ==== periods never overlap =======================================================================
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on, ended_on) VALUES ('back', '2024-05-15', '2024-07-01')$$,
                 '23P01', 'subscriptions: the period of account "back" from 2024-05-15 to 2024-07-01 overlaps its period from 2024-04-01 to 2024-06-01',
                 'an overlapping period is refused, naming both');
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on) VALUES ('twice', '2024-02-15')$$,
                 '23P01', 'subscriptions: the period of account "twice" from 2024-02-15 to open overlaps its period from 2024-02-01 to 2024-03-01',
                 'an open period over later periods is refused');
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on, ended_on) VALUES ('back', '2024-08-01', '2025-01-01')$$,
                 '23P01', 'subscriptions: the period of account "back" from 2024-08-01 to 2025-01-01 overlaps its period from 2024-09-01 to open',
                 'a period reaching into an open one is refused');
SELECT throws_ok($$UPDATE health_score.subscriptions SET ended_on = '2024-05-02' WHERE account_id = 'twice' AND started_on = '2024-02-01'$$,
                 '23P01', NULL, 'an update that makes periods overlap is refused');
SELECT lives_ok($$INSERT INTO health_score.subscriptions (account_id, started_on, ended_on) VALUES ('twice', '2024-03-01', '2024-04-01')$$,
                'a period that starts the day the previous one ends is accepted');
SELECT lives_ok($$UPDATE health_score.subscriptions SET started_on = started_on + 10, ended_on = ended_on + 10 WHERE account_id = 'twice'$$,
                'one statement moving every period of an account is judged on the result');
SELECT results_eq($$SELECT started_on, ended_on FROM health_score.subscriptions WHERE account_id = 'twice' ORDER BY 1$$,
                  $$VALUES ('2024-02-11'::date, '2024-03-11'::date), ('2024-03-11', '2024-04-11'), ('2024-05-11', '2024-06-25')$$,
                  'and moved');
UPDATE health_score.subscriptions SET started_on = started_on - 10, ended_on = ended_on - 10 WHERE account_id = 'twice';
DELETE FROM health_score.subscriptions WHERE account_id = 'twice' AND started_on = '2024-03-01';
SET CONSTRAINTS health_score.no_overlap DEFERRED;
INSERT INTO health_score.subscriptions (account_id, started_on, ended_on) VALUES ('late', '2024-02-01', '2024-03-01');
DELETE FROM health_score.subscriptions WHERE account_id = 'late' AND started_on = '2024-02-01';
SELECT lives_ok($$SET CONSTRAINTS health_score.no_overlap IMMEDIATE$$,
                'deferred, a period removed again before the check is no overlap');
SET CONSTRAINTS health_score.no_overlap DEFERRED;
INSERT INTO health_score.subscriptions (account_id, started_on, ended_on) VALUES ('late', '2024-02-01', '2024-03-01');
SELECT throws_ok($$SET CONSTRAINTS health_score.no_overlap IMMEDIATE$$, '23P01', NULL,
                 'deferred, an overlap still there is refused');
DELETE FROM health_score.subscriptions WHERE account_id = 'late' AND started_on = '2024-02-01';
SET CONSTRAINTS health_score.no_overlap IMMEDIATE;
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on, ended_on) VALUES ('steady', '2024-01-01', '2024-01-01')$$,
                 '23514', NULL, 'a period must end after it starts');
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on) VALUES ('steady', '-infinity')$$,
                 '23514', NULL, 'infinite dates are refused');
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on) VALUES ('nobody', '2024-01-01')$$,
                 '23503', NULL, 'a period of an unknown account is refused');
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on, mrr) VALUES ('steady', '2030-01-01', -1)$$,
                 '23514', NULL, 'a negative MRR is refused');
SELECT results_eq($$SELECT account_id, started_on, ended_on FROM health_score.account_periods ORDER BY 1, 2$$,
                  $$SELECT account_id, started_on, ended_on FROM hand_periods ORDER BY 1, 2$$,
                  'after all that, the book is as it was');

-- ==== backtests: each churn and each reactivation ==================================================
-- A daily history of 2024, each account scored on the days a period of hand_periods covers,
-- at a fixed score.
INSERT INTO health_score.score_history (as_of, account_id, score, band, alert_tier, coverage, config_version)
SELECT d::date, h.account_id, s.score, health_score.band(s.score), health_score.alert_tier(s.score), 1, 1
  FROM generate_series('2024-01-01'::date, '2024-12-31'::date, interval '1 day') d
  JOIN hand_periods h ON h.started_on <= d AND (h.ended_on IS NULL OR d < h.ended_on)
 CROSS JOIN LATERAL (SELECT CASE h.account_id WHEN 'solo' THEN 30 WHEN 'steady' THEN 90 WHEN 'later' THEN 20
                                              WHEN 'back' THEN 40 WHEN 'late' THEN 80 ELSE 50 END::float8 AS score) s;
-- 30 days: back (churns 06-01) at 05-02, twice (second churn 06-15) at 05-16, solo at 06-01,
-- later at 11-01; twice's first stay (28 days) has no date 30 days before its end. The others
-- scored on those dates and not churning within 30 days stayed: on 05-02 later, solo, steady
-- and twice (late is in its lapse); on 05-16 later, solo and steady (back churns within 30
-- days: neither); on 06-01 late, later and steady (twice churns on 06-15); on 11-01 back, live
-- again, late and steady.
SELECT results_eq(
    $$SELECT as_of, account_id FROM health_score.backtest_points('{30}') WHERE churned ORDER BY as_of$$,
    $$VALUES ('2024-05-02'::date, 'back'), ('2024-05-16', 'twice'), ('2024-06-01', 'solo'), ('2024-11-01', 'later')$$,
    'backtest, 30 days: one churned point per churn, in the stay it ended');
SELECT results_eq(
    $$SELECT as_of, array_agg(account_id ORDER BY account_id) FROM health_score.backtest_points('{30}')
       WHERE NOT churned GROUP BY as_of ORDER BY as_of$$,
    $$VALUES ('2024-05-02'::date, '{later,solo,steady,twice}'::text[]), ('2024-05-16', '{later,solo,steady}'),
             ('2024-06-01', '{late,later,steady}'), ('2024-11-01', '{back,late,steady}')$$,
    'backtest, 30 days: the stayed points; back counts as staying after it came back');
-- 60 days: back at 04-02, solo at 05-02, later at 10-02; twice's second churn is 60 days after
-- 04-16, in its gap, and its first stay is too short: twice has no 60-day point.
SELECT results_eq(
    $$SELECT as_of, account_id FROM health_score.backtest_points('{60}') WHERE churned ORDER BY as_of$$,
    $$VALUES ('2024-04-02'::date, 'back'), ('2024-05-02', 'solo'), ('2024-10-02', 'later')$$,
    'backtest, 60 days: a churn is not matched with a score from an earlier stay');
SELECT results_eq(
    $$SELECT churned, stayed FROM health_score.backtest('{30}')$$,
    $$VALUES (4::bigint, 13::bigint)$$,
    'backtest counts them');
-- The longest a churned account was scored before its churn within its stay: later, 335 days
-- (2024-01-01 to 12-01); back's 152 days and solo's 182 are shorter.
SELECT lives_ok($$SELECT * FROM health_score.backtest('{335}')$$, 'a horizon up to the longest stay before a churn is accepted');
SELECT throws_ok($$SELECT * FROM health_score.backtest('{336}')$$, '22023', NULL, 'a longer one is refused');

-- ==== account churn models: each churn and each reactivation labelled ===========================
-- seat_penetration, observed once per account, is the one feature.
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT account_id, 'seat_penetration', '2023-01-01', v
  FROM (VALUES ('solo', 30), ('steady', 85), ('later', 20), ('back', 50), ('late', 70), ('twice', 45)) t(account_id, v);
UPDATE health_score.settings SET data_through = '2025-01-31';
CREATE TEMP TABLE features AS
SELECT d::date AS as_of, f.account_id, f.churned_on
  FROM (VALUES ('2024-02-15'::timestamptz), ('2024-04-18'), ('2024-05-10'), ('2024-07-17'), ('2024-10-15')) v(d)
 CROSS JOIN LATERAL pg_temp.features_at(d) f;
SELECT results_eq(
    $$SELECT as_of, account_id, churned_on FROM features ORDER BY 1, 2$$,
    $$VALUES ('2024-02-15'::date, 'back', '2024-06-01'::date), ('2024-02-15', 'late', NULL), ('2024-02-15', 'later', '2024-12-01'),
             ('2024-02-15', 'solo', '2024-07-01'), ('2024-02-15', 'steady', NULL), ('2024-02-15', 'twice', '2024-03-01'),
             ('2024-04-18', 'back', '2024-06-01'), ('2024-04-18', 'late', NULL), ('2024-04-18', 'later', '2024-12-01'),
             ('2024-04-18', 'solo', '2024-07-01'), ('2024-04-18', 'steady', NULL),
             ('2024-05-10', 'back', '2024-06-01'), ('2024-05-10', 'later', '2024-12-01'), ('2024-05-10', 'solo', '2024-07-01'),
             ('2024-05-10', 'steady', NULL), ('2024-05-10', 'twice', '2024-06-15'),
             ('2024-07-17', 'late', NULL), ('2024-07-17', 'later', '2024-12-01'), ('2024-07-17', 'steady', NULL),
             ('2024-10-15', 'back', NULL), ('2024-10-15', 'late', NULL), ('2024-10-15', 'later', '2024-12-01'),
             ('2024-10-15', 'steady', NULL)$$,
    'the label''s churn date: the end of the stay an account is in (twice: its first, then its second; back: none after it came back)');
-- Trained at 2024-10-15 over 90 days with 3 snapshots: 10-15 (back, late, steady stay; later
-- churns 12-01), 07-17 (late, steady, later stay) and 04-18 (solo and back churn, late,
-- steady and later stay; twice is between periods): 12 rows, 3 positives.
CREATE TEMP TABLE m AS SELECT * FROM health_score.train_account_churn_model('subs', '2024-10-15', '90 days',
    ARRAY['seat_penetration'], l2 => 1, snapshots => 3);
SELECT is((SELECT (rows_used, rows_skipped, positives) FROM m), (12::bigint, 0::bigint, 3::bigint),
          'train_account_churn_model: 12 rows, 3 churners, back a churner before it left and not after it came back');

-- ==== revenue at risk uses the MRR at as_of ========================================================
SELECT is((SELECT (accounts, mrr) FROM health_score.revenue_at_risk('2024-05-10') WHERE grouping_by = 'all'),
          (5::bigint, (SELECT sum(h.mrr) FROM hand_periods h WHERE h.started_on <= '2024-05-10' AND coalesce(h.ended_on > '2024-05-10', true))),
          'revenue_at_risk: the MRR of the periods covering as_of (680: back at 150, not 999)');
SELECT ok(pg_temp.near((SELECT revenue_at_risk FROM health_score.revenue_at_risk('2024-05-10') WHERE grouping_by = 'all'),
                       (SELECT sum(h.mrr::float8 * r.churn_risk / 100)
                          FROM health_score.account_churn_risk('2024-05-10') r
                          JOIN hand_periods h ON h.account_id = r.account_id
                         WHERE h.started_on <= '2024-05-10' AND coalesce(h.ended_on > '2024-05-10', true)), 1e-12),
          'revenue_at_risk: MRR at as_of x churn probability');
SET LOCAL health_score.as_of = '2024-03-15';
SELECT results_eq($$SELECT account_id, mrr FROM health_score.account_churn WHERE account_id IN ('back', 'late') ORDER BY 1$$,
                  $$VALUES ('back', 100::numeric), ('late', 200)$$,
                  'account_churn shows the MRR at the scoring time');
SELECT results_eq($$SELECT account_id, mrr, plan FROM health_score.account_health WHERE account_id IN ('back', 'late') ORDER BY 1$$,
                  $$VALUES ('back', 100::numeric, 'basic'), ('late', 200, 'basic')$$,
                  'and so does account_health');
SELECT is((SELECT sum(mrr) FROM health_score.band_summary), 770::numeric,
          'band_summary sums the MRR at the scoring time (100 + 200 + 70 + 100 + 300)');
RESET health_score.as_of;

-- ==== who may read the periods ====================================================================
CREATE ROLE hs_subs_csm LOGIN IN ROLE health_score_csm;
CREATE ROLE hs_subs_bi LOGIN IN ROLE health_score_reader;
SELECT health_score.restrict_accounts_to_owners();
SET LOCAL ROLE hs_subs_csm;
SELECT set_eq($$SELECT DISTINCT account_id FROM health_score.subscriptions$$, $$VALUES ('back')$$,
              'restricted, a CSM reads the periods of its own accounts only');
SELECT set_eq($$SELECT account_id FROM health_score.live_accounts('2024-03-15')$$, $$VALUES ('back'), ('solo')$$,
              'and live_accounts lists its own live accounts');
SELECT set_eq($$SELECT account_id FROM health_score.churn_events$$, $$VALUES ('back'), ('solo')$$,
              'and churn_events its own churns');
SELECT throws_ok($$INSERT INTO health_score.subscriptions (account_id, started_on) VALUES ('back', '2030-01-01')$$, '42501', NULL,
                 'a CSM may not write periods');
RESET ROLE;
SET LOCAL ROLE hs_subs_bi;
SELECT is((SELECT count(*) FROM health_score.subscriptions), 7::bigint, 'a reader reads every period');
SELECT throws_ok($$DELETE FROM health_score.subscriptions$$, '42501', NULL, 'and writes none');
RESET ROLE;

-- ==== snapshots over the periods ================================================================
-- snapshot() writes the accounts live at its date, as the features above list them: not late in
-- its lapse (05-10), not back between its stays (07-17), back again after it came back (10-15).
DELETE FROM health_score.score_history WHERE as_of IN ('2024-05-10', '2024-07-17', '2024-10-15');
SELECT health_score.snapshot(d) FROM (VALUES (date '2024-05-10'), ('2024-07-17'), ('2024-10-15')) v(d);
SELECT results_eq(
    $$SELECT as_of, array_agg(account_id ORDER BY account_id) FROM health_score.score_history
       WHERE as_of IN ('2024-05-10', '2024-07-17', '2024-10-15') GROUP BY as_of ORDER BY as_of$$,
    $$VALUES ('2024-05-10'::date, '{back,later,solo,steady,twice}'::text[]), ('2024-07-17', '{late,later,steady}'),
             ('2024-10-15', '{back,late,later,steady}')$$,
    'snapshot writes the accounts live at its date, by their periods');

SELECT * FROM finish();
ROLLBACK;
