-- The account views carry the churn risk of the active account model.
BEGIN;
SELECT plan(5);

CREATE FUNCTION pg_temp.u(key text) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT (abs(hashtext(key)::bigint) % 100000) / 100000.0::float8
$$;
CREATE TEMP TABLE hidden AS
SELECT i, 'v-' || lpad(i::text, 3, '0') AS account_id, pg_temp.u('h' || i) AS h FROM generate_series(1, 300) i;
INSERT INTO health_score.accounts (account_id, segment, mrr, started_on, churned_on)
SELECT account_id, 'smb', 100 + i % 5 * 20, '2024-01-01',
       CASE WHEN pg_temp.u('c' || i) < 0.7 - 0.6 * h THEN date '2025-04-01' + (i % 80) END
  FROM hidden;
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT account_id, 'nps', timestamptz '2025-03-01', round(10 * (0.6 * h + 0.4 * pg_temp.u('n' || i))) FROM hidden
UNION ALL
SELECT account_id, 'outcome_achievement', '2025-03-01', round(100 * (0.5 * h + 0.5 * pg_temp.u('o' || i))) FROM hidden
UNION ALL
SELECT account_id, 'seat_penetration', '2025-03-01', round(100 * (0.5 * h + 0.5 * pg_temp.u('s' || i))) FROM hidden;
UPDATE health_score.settings SET min_coverage = 0.1;
-- The observations stop in March; the churn dates are complete to the end of June.
UPDATE health_score.settings SET data_through = '2025-06-30';

SELECT set_config('health_score.as_of', '2025-03-31', true);
SELECT is((SELECT count(churn_risk) FROM health_score.account_health), 0::bigint,
          'no churn risk before an account model is trained');

SELECT lives_ok($$SELECT health_score.train_account_churn_model('views', '2025-03-31', '90 days',
                    ARRAY['nps', 'outcome_achievement', 'seat_penetration'])$$, 'an account model trains');

SELECT results_eq(
  $$SELECT account_id, churn_risk FROM health_score.account_health ORDER BY account_id$$,
  $$SELECT s.account_id, round(r.churn_risk::numeric, 2)
      FROM health_score.account_scores('2025-03-31') s
      LEFT JOIN health_score.account_churn_risk('2025-03-31') r USING (account_id) ORDER BY s.account_id$$,
  'account_health shows each account''s churn risk');
SELECT results_eq(
  $$SELECT account_id, revenue_at_risk FROM health_score.action_queue ORDER BY account_id$$,
  $$SELECT q.account_id, round((a.mrr::float8 * r.churn_risk / 100)::numeric, 2)
      FROM health_score.action_queue q JOIN health_score.accounts a USING (account_id)
      JOIN health_score.account_churn_risk('2025-03-31') r USING (account_id) ORDER BY q.account_id$$,
  'action_queue shows the revenue at risk: MRR x churn risk');

SELECT ok((SELECT count(revenue_at_risk) FROM health_score.action_queue) > 10,
          'and the action queue is not empty');

SELECT * FROM finish();
ROLLBACK;
