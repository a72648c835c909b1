-- Access control: health_score_reader (BI tools) reads everything and writes nothing; after
-- restrict_accounts_to_owners() a CSM's login role sees only the accounts it owns, in the
-- tables, in account_scores() and metric_scores(), in every view and in the score history
-- (the materialized dashboard, which holds every account, is closed to CSMs), while a reader
-- still sees all; restrict_accounts_to_owners(false) lifts it. The expected rows are computed
-- first as the superuser (who is never restricted), then each role's view of them is compared.
-- The roles are created inside the transaction, so they vanish with the ROLLBACK.
BEGIN;
SELECT plan(46);

SET LOCAL timezone = 'UTC';
SET LOCAL health_score.as_of = '2025-06-30 00:00+00';

CREATE ROLE hs_access_csm_a LOGIN IN ROLE health_score_csm;
CREATE ROLE hs_access_csm_b LOGIN IN ROLE health_score_csm;
CREATE ROLE hs_access_bi LOGIN IN ROLE health_score_reader;
CREATE ROLE hs_access_nobody LOGIN IN ROLE health_score_csm;

-- Five accounts per CSM at health levels 0, 0.25, 0.5, 0.75 and 1, and two without an owner. Every
-- metric input is observed twice with the value of its curve's breakpoint whose sub-score is
-- nearest to the level, so the levels spread the accounts over every band, and a healthy
-- account with 80 % seat penetration is an upsell candidate.
INSERT INTO health_score.accounts (account_id, name, segment, plan, owner, mrr, started_on)
SELECT format('acc-%s-%s', o.tag, l.i), format('%s account %s', o.tag, l.i), 'mid_market', 'pro',
       o.owner, 100 * l.i + o.k, date '2024-01-01'
  FROM (VALUES ('a', 'hs_access_csm_a', 1), ('b', 'hs_access_csm_b', 2), ('n', NULL, 3)) AS o(tag, owner, k)
 CROSS JOIN generate_series(1, 5) AS l(i)
 WHERE o.tag <> 'n' OR l.i IN (1, 5);

INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, m.input, timestamptz '2025-06-30 00:00+00' - d * interval '1 day',
       (SELECT m.breakpoints[k] FROM generate_subscripts(m.breakpoints, 1) AS k
         ORDER BY abs(m.scores[k] - (split_part(a.account_id, '-', 3)::int - 1) * 25), k LIMIT 1)
  FROM health_score.accounts a
 CROSS JOIN (SELECT DISTINCT ON (input) * FROM health_score.metrics ORDER BY input, name) m
 CROSS JOIN (VALUES (2), (9)) AS t(d)
 WHERE a.account_id LIKE 'acc-%';

-- Expected rows, as the superuser sees them; readable by the test roles.
CREATE TEMP TABLE t_scores AS
SELECT s.*, a.owner, a.mrr AS account_mrr FROM health_score.account_scores(health_score.current_as_of()) s
  JOIN health_score.accounts a USING (account_id) WHERE s.account_id LIKE 'acc-%';
CREATE TEMP TABLE t_metric_scores AS
SELECT m.*, a.owner FROM health_score.metric_scores(health_score.current_as_of()) m
  JOIN health_score.accounts a USING (account_id) WHERE m.account_id LIKE 'acc-%';
CREATE TEMP TABLE t_observations AS
SELECT o.*, a.owner FROM health_score.observations o JOIN health_score.accounts a USING (account_id);
CREATE TEMP TABLE t_views AS
SELECT 'account_health' AS view, account_id FROM health_score.account_health
UNION ALL SELECT 'dimension_breakdown', account_id FROM health_score.dimension_breakdown
UNION ALL SELECT 'action_queue', account_id FROM health_score.action_queue
UNION ALL SELECT 'upsell_candidates', account_id FROM health_score.upsell_candidates;
GRANT SELECT ON t_scores, t_metric_scores, t_observations, t_views TO PUBLIC;

-- A day of score history for every test account.
INSERT INTO health_score.score_history (as_of, account_id, score, band, alert_tier, coverage, config_version)
SELECT '2025-06-29', account_id, score, band, alert_tier, coverage, 0 FROM t_scores;

-- The data is what the checks need: every CSM owns scored accounts, some needing action and
-- one upsell candidate; some accounts belong to nobody.
SELECT ok((SELECT count(*) FILTER (WHERE score IS NOT NULL) = 12 AND count(DISTINCT band) >= 3 FROM t_scores),
          'the twelve test accounts are scored, over at least three bands');
SELECT ok((SELECT bool_and(n > 0) AND count(*) = 2 FROM (
              SELECT count(*) AS n FROM t_views v JOIN health_score.accounts a USING (account_id)
               WHERE v.view = 'action_queue' AND a.owner IS NOT NULL GROUP BY a.owner) q)
      AND (SELECT bool_and(n > 0) AND count(*) = 2 FROM (
              SELECT count(*) AS n FROM t_views v JOIN health_score.accounts a USING (account_id)
               WHERE v.view = 'upsell_candidates' AND a.owner IS NOT NULL GROUP BY a.owner) u),
          'each CSM owns accounts in the action queue and among the upsell candidates');

-- ---- the reader: sees everything, writes nothing -------------------------------------------------
SET LOCAL ROLE hs_access_bi;
SELECT is((SELECT count(*) FROM health_score.accounts WHERE account_id LIKE 'acc-%'), 12::bigint,
          'reader sees every account');
SELECT set_eq($$SELECT account_id, score, band FROM health_score.account_scores(health_score.current_as_of()) WHERE account_id LIKE 'acc-%'$$,
              $$SELECT account_id, score, band FROM t_scores$$,
              'reader gets every account''s score');
SELECT is((SELECT count(*) FROM health_score.band_summary WHERE accounts > 0) > 0
          AND (SELECT count(*) FROM health_score.account_health) >= 12, true,
          'reader reads the views');
SELECT throws_ok($$INSERT INTO health_score.accounts (account_id) VALUES ('acc-x-1')$$, '42501', NULL,
                 'reader cannot insert accounts');
SELECT throws_ok($$INSERT INTO health_score.observations VALUES ('acc-a-1', 'nps', now(), 9)$$, '42501', NULL,
                 'reader cannot insert observations');
SELECT throws_ok($$UPDATE health_score.accounts SET owner = 'hs_access_bi'$$, '42501', NULL,
                 'reader cannot update accounts');
SELECT throws_ok($$UPDATE health_score.metrics SET weight = 9 WHERE name = 'nps'$$, '42501', NULL,
                 'reader cannot change a metric');
SELECT throws_ok($$INSERT INTO health_score.dimensions (name, weight) VALUES ('x', 1)$$, '42501', NULL,
                 'reader cannot add a dimension');
SELECT throws_ok($$UPDATE health_score.bands SET playbook = 'x'$$, '42501', NULL,
                 'reader cannot change the bands');
SELECT throws_ok($$DELETE FROM health_score.alert_tiers$$, '42501', NULL,
                 'reader cannot delete alert tiers');
SELECT throws_ok($$UPDATE health_score.settings SET min_coverage = 0$$, '42501', NULL,
                 'reader cannot change the settings');
SELECT throws_ok($$INSERT INTO health_score.segment_dimension_weights VALUES ('x', 'product', 1)$$, '42501', NULL,
                 'reader cannot add segment weights');
SELECT throws_ok($$INSERT INTO health_score.feeds (name, relation) VALUES ('x', 'health_score.observations')$$, '42501', NULL,
                 'reader cannot add a feed');
SELECT throws_ok($$SELECT health_score.restrict_accounts_to_owners()$$, '42501', NULL,
                 'reader cannot turn row-level security on or off');
RESET ROLE;

-- ---- before the restriction a CSM sees every account too -----------------------------------------
SET LOCAL ROLE hs_access_csm_a;
SELECT is((SELECT count(*) FROM health_score.accounts WHERE account_id LIKE 'acc-%'), 12::bigint,
          'before the restriction a CSM sees every account');
SELECT throws_ok($$UPDATE health_score.metrics SET weight = 9 WHERE name = 'nps'$$, '42501', NULL,
                 'a CSM cannot change the catalog');
RESET ROLE;

SELECT lives_ok($$SELECT health_score.restrict_accounts_to_owners()$$, 'restrict_accounts_to_owners() runs');
SELECT lives_ok($$SELECT health_score.restrict_accounts_to_owners()$$, 'and runs again (idempotent)');
SELECT is(health_score.accounts_restricted(), true, 'accounts_restricted() says so');
SELECT throws_ok($$SELECT health_score.restrict_accounts_to_owners(NULL)$$, '22004',
                 'enable must be true or false, got NULL', 'restrict_accounts_to_owners(NULL) is refused, naming the argument');

-- ---- a CSM sees only its own accounts, everywhere -------------------------------------------------
SET LOCAL ROLE hs_access_csm_a;
SELECT set_eq($$SELECT account_id FROM health_score.accounts$$,
              $$SELECT account_id FROM t_scores WHERE owner = 'hs_access_csm_a'$$,
              'CSM a: accounts holds only its five accounts');
SELECT set_eq($$SELECT account_id, metric, observed_at, value FROM health_score.observations$$,
              $$SELECT account_id, metric, observed_at, value FROM t_observations WHERE owner = 'hs_access_csm_a'$$,
              'CSM a: observations only of its accounts, all of them');
SELECT set_eq($$SELECT * FROM health_score.account_scores(health_score.current_as_of())$$,
              $$SELECT account_id, score, band, alert_tier, coverage, product_score, relationship_score, business_score,
                       reason, dimension_scores, weakest_metrics FROM t_scores WHERE owner = 'hs_access_csm_a'$$,
              'CSM a: account_scores() gives its accounts, with the scores the superuser sees');
SELECT set_eq($$SELECT account_id, metric, raw_value, sub_score FROM health_score.metric_scores(health_score.current_as_of())$$,
              $$SELECT account_id, metric, raw_value, sub_score FROM t_metric_scores WHERE owner = 'hs_access_csm_a'$$,
              'CSM a: metric_scores() gives its accounts'' metrics, with the same values');
SELECT set_eq($$SELECT account_id, score FROM health_score.account_health$$,
              $$SELECT account_id, score FROM t_scores WHERE owner = 'hs_access_csm_a'$$,
              'CSM a: account_health shows its accounts only');
SELECT set_eq($$SELECT DISTINCT account_id FROM health_score.dimension_breakdown$$,
              $$SELECT DISTINCT account_id FROM t_metric_scores WHERE owner = 'hs_access_csm_a'$$,
              'CSM a: dimension_breakdown shows its accounts only');
SELECT set_eq($$SELECT band, accounts FROM health_score.band_summary WHERE accounts > 0$$,
              $$SELECT coalesce(band, 'unscored'), count(*) FROM t_scores WHERE owner = 'hs_access_csm_a' GROUP BY 1$$,
              'CSM a: band_summary counts its accounts only');
SELECT is((SELECT sum(mrr) FROM health_score.band_summary),
          (SELECT sum(account_mrr) FROM t_scores WHERE owner = 'hs_access_csm_a'),
          'CSM a: band_summary sums its MRR only');
SELECT set_eq($$SELECT account_id FROM health_score.action_queue$$,
              $$SELECT v.account_id FROM t_views v JOIN t_scores s USING (account_id)
                 WHERE v.view = 'action_queue' AND s.owner = 'hs_access_csm_a'$$,
              'CSM a: action_queue holds its accounts that need action, no others');
SELECT set_eq($$SELECT account_id FROM health_score.upsell_candidates$$,
              $$SELECT v.account_id FROM t_views v JOIN t_scores s USING (account_id)
                 WHERE v.view = 'upsell_candidates' AND s.owner = 'hs_access_csm_a'$$,
              'CSM a: upsell_candidates holds its candidates, no others');
SELECT set_eq($$SELECT account_id FROM health_score.score_history WHERE account_id LIKE 'acc-%'$$,
              $$SELECT account_id FROM t_scores WHERE owner = 'hs_access_csm_a'$$,
              'CSM a: score_history holds its accounts only');
SELECT throws_ok($$SELECT count(*) FROM health_score.account_health_mv$$, '42501', NULL,
                 'CSM a cannot read the materialized dashboard (it holds every account)');
SELECT throws_ok($$UPDATE health_score.accounts SET owner = 'hs_access_csm_a'$$, '42501', NULL,
                 'CSM a cannot take accounts over');
RESET ROLE;

SET LOCAL ROLE hs_access_csm_b;
SELECT set_eq($$SELECT account_id FROM health_score.account_health$$,
              $$SELECT account_id FROM t_scores WHERE owner = 'hs_access_csm_b'$$,
              'CSM b: account_health shows its own five accounts');
SELECT set_eq($$SELECT account_id, score FROM health_score.account_scores(health_score.current_as_of())$$,
              $$SELECT account_id, score FROM t_scores WHERE owner = 'hs_access_csm_b'$$,
              'CSM b: account_scores() gives its own accounts');
SELECT set_eq($$SELECT DISTINCT account_id FROM health_score.observations$$,
              $$SELECT DISTINCT account_id FROM t_observations WHERE owner = 'hs_access_csm_b'$$,
              'CSM b: observations of its own accounts');
RESET ROLE;

SET LOCAL ROLE hs_access_nobody;
SELECT is((SELECT count(*) FROM health_score.account_health) + (SELECT count(*) FROM health_score.observations)
          + (SELECT sum(accounts) FROM health_score.band_summary), 0::numeric,
          'a CSM owning no account sees no account, observation or band count');
RESET ROLE;

-- ---- writing is a matter of grants, restricted or not -----------------------------------------------
CREATE ROLE hs_access_loader LOGIN;
GRANT USAGE ON SCHEMA health_score TO hs_access_loader;
GRANT INSERT ON health_score.observations TO hs_access_loader;
SET LOCAL ROLE hs_access_loader;
SELECT lives_ok($$INSERT INTO health_score.observations VALUES ('acc-b-1', 'nps', '2025-06-29', 9)$$,
                'under the restriction a role granted INSERT still loads observations of any account');
RESET ROLE;
DELETE FROM health_score.observations WHERE account_id = 'acc-b-1' AND metric = 'nps' AND observed_at = '2025-06-29';

-- ---- a reader still sees all ------------------------------------------------------------------------
SET LOCAL ROLE hs_access_bi;
SELECT set_eq($$SELECT account_id, score FROM health_score.account_health WHERE account_id LIKE 'acc-%'$$,
              $$SELECT account_id, score FROM t_scores$$,
              'under the restriction a reader still sees every account');
SELECT is((SELECT count(*) FROM health_score.observations o JOIN t_observations USING (account_id, metric, observed_at)),
          (SELECT count(*) FROM t_observations),
          'under the restriction a reader still sees every observation');
RESET ROLE;

-- ---- lifted ------------------------------------------------------------------------------------------
SELECT lives_ok($$SELECT health_score.restrict_accounts_to_owners(false)$$, 'restrict_accounts_to_owners(false) runs');
SELECT is(health_score.accounts_restricted(), false, 'accounts_restricted() says so');
SET LOCAL ROLE hs_access_csm_a;
SELECT set_eq($$SELECT account_id, score FROM health_score.account_health WHERE account_id LIKE 'acc-%'$$,
              $$SELECT account_id, score FROM t_scores$$,
              'after restrict_accounts_to_owners(false) a CSM sees every account again');
SELECT is((SELECT count(*) FROM health_score.observations o JOIN t_observations USING (account_id, metric, observed_at)),
          (SELECT count(*) FROM t_observations),
          'and every observation');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
