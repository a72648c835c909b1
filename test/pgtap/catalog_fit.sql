-- Curves fitted to the book and weights learned from churn, on the demo book (400 accounts).
-- propose_curves: breakpoints are the percentiles of each metric's raw values, worked out here
-- with percentile_cont, scored in the metric's direction, ties collapsed onto the mean of their
-- scores; skipped metrics say why. apply_curves writes them in one statement (config_version
-- moves on once) and the scores spread out. apply_suggested_weights writes the shares of
-- suggest_weights; a model trained on one period is checked on a later one (the AUCs are
-- printed as diagnostics).
--
-- The demo generator commits a transaction of its own, so the book goes into a database of its
-- own, dropped at the end; the tests themselves run in one transaction, rolled back.
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS hs_catalog_fit;
CREATE DATABASE hs_catalog_fit;
\c hs_catalog_fit
SET client_min_messages = warning;
CREATE EXTENSION pgtap;
CREATE EXTENSION health_score;
\set accounts 400
\set end_date 2025-12-31
\o /dev/null
\ir ../../examples/demo/generate.sql
\o

BEGIN;
SELECT plan(66);
\ir ../lib/helpers.sql
SET LOCAL timezone = 'UTC';

-- later_auc(d): the health score's AUC at d against churn within the 90 days after d.
CREATE FUNCTION pg_temp.later_auc(d timestamptz, OUT scored bigint, OUT churned bigint, OUT auc float8)
LANGUAGE sql AS $$
    SELECT count(s.score), count(s.score) FILTER (WHERE a.churned_on <= d + interval '90 days'),
           health_score.auc_health(s.score, coalesce(a.churned_on <= d + interval '90 days', false))
      FROM health_score.account_scores(d) s
      JOIN health_score.accounts a USING (account_id)
$$;

CREATE TEMP TABLE metrics_as_seeded AS SELECT * FROM health_score.metrics;
CREATE TEMP TABLE scores_before AS SELECT * FROM health_score.account_scores('2025-12-31');

-- ==== propose_curves ============================================================================
-- The percentiles by hand: one percentile_cont per percentile over metric_scores' raw values,
-- the score of each in the metric's direction; a value shared by several percentiles takes the
-- mean of their scores.
CREATE TEMP TABLE by_hand AS
WITH raw AS (
    SELECT ms.metric, ms.raw_value FROM health_score.metric_scores('2025-12-31') ms WHERE ms.raw_value IS NOT NULL
), p(pct, score) AS (VALUES (0.05, 0), (0.25, 25), (0.5, 50), (0.75, 75), (0.95, 100))
SELECT r.metric, p.pct, percentile_cont(p.pct) WITHIN GROUP (ORDER BY r.raw_value) AS value,
       CASE WHEN m.direction = 'lower' THEN 100 - p.score ELSE p.score END::float8 AS score,
       (SELECT count(*) FROM raw r2 WHERE r2.metric = r.metric) AS accounts
  FROM raw r CROSS JOIN p JOIN health_score.metrics m ON m.name = r.metric
 GROUP BY r.metric, p.pct, p.score, m.direction;
CREATE TEMP TABLE expected AS
SELECT v.metric, array_agg(v.value ORDER BY v.value) AS breakpoints, array_agg(v.score ORDER BY v.value) AS scores,
       count(*) AS points
  FROM (SELECT metric, value, avg(score) AS score FROM by_hand GROUP BY metric, value) v
 GROUP BY v.metric;

CREATE TEMP TABLE proposals AS SELECT * FROM health_score.propose_curves('2025-12-31');

SELECT results_eq($$SELECT metric FROM proposals$$,
                  $$SELECT name FROM health_score.metrics WHERE enabled ORDER BY name$$,
                  'one proposal per enabled metric, by name');
SELECT is((SELECT count(*) FROM proposals p
            WHERE p.accounts IS DISTINCT FROM (SELECT max(b.accounts) FROM by_hand b WHERE b.metric = p.metric)),
          0::bigint, 'accounts: the live accounts with a raw value of the metric at as_of');
SELECT is((SELECT count(*) FROM proposals WHERE proposed_breakpoints IS NOT NULL), 20::bigint,
          'twenty metrics get a proposal (all but the target metric support_tickets)');
SELECT is((SELECT count(*) FROM proposals p JOIN expected e USING (metric)
            WHERE p.proposed_breakpoints IS NOT NULL AND p.proposed_breakpoints IS DISTINCT FROM e.breakpoints),
          0::bigint, 'the proposed breakpoints are the distinct percentile_cont values, exactly');
SELECT is((SELECT count(*) FROM proposals p JOIN expected e USING (metric)
            WHERE p.proposed_breakpoints IS NOT NULL AND p.proposed_scores IS DISTINCT FROM e.scores),
          0::bigint, 'the proposed scores are those of the percentiles, the mean where percentiles share a value');
SELECT results_eq(
    $$SELECT metric, proposed_scores FROM proposals
       WHERE metric IN ('login_recency', 'payment_behaviour', 'response_time', 'nps', 'workflow_completion') ORDER BY metric$$,
    $$VALUES ('login_recency', '{100,75,50,25,0}'::float8[]), ('nps', '{0,25,50,75,100}'),
             ('payment_behaviour', '{100,75,50,25,0}'), ('response_time', '{100,75,50,25,0}'),
             ('workflow_completion', '{0,25,50,75,100}')$$,
    'lower-is-better metrics take the scores reversed');
SELECT is((SELECT (proposed_breakpoints, proposed_scores, note LIKE 'ties: 5 percentiles fall on 3 distinct values%')
             FROM proposals WHERE metric = 'contract_term'),
          ('{1,12,36}'::float8[], '{12.5,62.5,100}'::float8[], true),
          'ties: contract_term''s percentiles are 1, 1, 12, 12, 36; three breakpoints scored 12.5, 62.5, 100');
SELECT is((SELECT (proposed_breakpoints IS NULL AND proposed_scores IS NULL, note) FROM proposals WHERE metric = 'support_tickets'),
          (true, 'direction target: a curve that peaks in the middle is not fitted from percentiles'::text),
          'a target metric is skipped, with a note');
SELECT is((SELECT count(*) FROM proposals p JOIN metrics_as_seeded m ON m.name = p.metric
            WHERE (p.current_breakpoints, p.current_scores, p.direction, p.curve)
                  IS DISTINCT FROM (m.breakpoints, m.scores, m.direction, m.curve)),
          0::bigint, 'the current curve is shown beside the proposal');
SELECT is(health_score.config_version(), 0::bigint, 'proposing changes nothing: the configuration version is still 0');
SELECT results_eq($$SELECT metric, proposed_breakpoints FROM health_score.propose_curves('2025-12-31', ARRAY['roi', 'csat'])$$,
                  $$SELECT metric, proposed_breakpoints FROM proposals WHERE metric IN ('roi', 'csat') ORDER BY metric DESC$$,
                  'metrics chooses the metrics, in the order given');
SELECT is((SELECT (proposed_breakpoints, proposed_scores)
             FROM health_score.propose_curves('2025-12-31', ARRAY['nps'], '{0.1,0.9}', '{20,80}')),
          (SELECT (ARRAY[percentile_cont(0.1) WITHIN GROUP (ORDER BY raw_value), percentile_cont(0.9) WITHIN GROUP (ORDER BY raw_value)],
                   '{20,80}'::float8[])
             FROM health_score.metric_scores('2025-12-31') WHERE metric = 'nps'),
          'percentiles and scores of one''s own');

SELECT throws_ok($$SELECT * FROM health_score.propose_curves('2025-12-31', ARRAY['nope'])$$, '42704',
                 'metric "nope" is not in health_score.metrics', 'an unknown metric is refused');
SELECT throws_ok($$SELECT * FROM health_score.propose_curves('2025-12-31', ARRAY['csat', 'csat'])$$, '22023',
                 'metric "csat" is listed twice', 'a metric listed twice is refused');
SELECT throws_ok($$SELECT * FROM health_score.propose_curves('2025-12-31', percentiles => '{0.5,0.25}', scores => '{0,100}')$$,
                 '22023', 'percentiles must be strictly increasing, but 0.25 follows 0.5', 'percentiles must increase');
SELECT throws_ok($$SELECT * FROM health_score.propose_curves('2025-12-31', percentiles => '{0,NaN}', scores => '{0,100}')$$,
                 '22023', 'percentiles must lie within 0 and 1, got NaN', 'percentiles lie within 0 and 1');
SELECT throws_ok($$SELECT * FROM health_score.propose_curves('2025-12-31', scores => '{0,100}')$$, '2202E',
                 'scores must have as many elements as percentiles (5), got 2', 'one score per percentile');
SELECT throws_ok($$SELECT * FROM health_score.propose_curves('2025-12-31', scores => '{100,75,50,25,0}')$$, '22023',
                 'scores must never fall (a lower-is-better metric takes them reversed), but 75 follows 100',
                 'scores never fall: direction reverses them');
SELECT throws_ok($$SELECT * FROM health_score.propose_curves('2025-12-31', min_accounts => 0)$$, '22023',
                 'min_accounts must be 1 or more, got 0', 'min_accounts is 1 or more');
SELECT throws_ok($$SELECT * FROM health_score.propose_curves('infinity')$$, '22023',
                 'as_of must be a finite timestamp, got infinity', 'an infinite as_of is refused');

-- ==== apply_curves ==============================================================================
CREATE TEMP TABLE applied AS SELECT * FROM health_score.apply_curves('2025-12-31');
SELECT is(health_score.config_version(), 1::bigint, 'apply_curves moves the configuration version on once');
SELECT results_eq($$SELECT metric FROM applied WHERE NOT applied$$, $$VALUES ('support_tickets')$$,
                  'every proposal is applied; the skipped metric is not');
SELECT is((SELECT count(*) FROM health_score.metrics m JOIN proposals p ON p.metric = m.name
            WHERE p.proposed_breakpoints IS NOT NULL
              AND (m.breakpoints, m.scores) IS DISTINCT FROM (p.proposed_breakpoints, p.proposed_scores)),
          0::bigint, 'the catalog now holds the proposed curves');
SELECT is((SELECT (breakpoints, scores) FROM health_score.metrics WHERE name = 'support_tickets'),
          (SELECT (breakpoints, scores) FROM metrics_as_seeded WHERE name = 'support_tickets'),
          'the skipped metric keeps its curve');
SELECT is((SELECT count(*) FROM applied a JOIN metrics_as_seeded m ON m.name = a.metric
            WHERE (a.old_breakpoints, a.old_scores) IS DISTINCT FROM (m.breakpoints, m.scores)
               OR (a.new_breakpoints, a.new_scores) IS DISTINCT FROM
                  (SELECT (n.breakpoints, n.scores) FROM health_score.metrics n WHERE n.name = a.metric)),
          0::bigint, 'it returns the old curve and the new one');

-- The scores spread out: on the demo the seeded curves are generous (median about 75); fitted,
-- the median is near 50 and the scores fill more of 0-100.
CREATE TEMP TABLE scores_after AS SELECT * FROM health_score.account_scores('2025-12-31');
CREATE TEMP TABLE spread AS
SELECT w.which, stddev_samp(w.score) AS sd,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY w.score) - percentile_cont(0.25) WITHIN GROUP (ORDER BY w.score) AS iqr,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY w.score) AS median,
       count(*) FILTER (WHERE w.band = 'green') AS green, count(*) FILTER (WHERE w.band = 'yellow') AS yellow,
       count(*) FILTER (WHERE w.band = 'orange') AS orange, count(*) FILTER (WHERE w.band = 'red') AS red
  FROM (SELECT 'before' AS which, score, band FROM scores_before UNION ALL SELECT 'after', score, band FROM scores_after) w
 GROUP BY w.which;
SELECT diag(format('%s: median %s, sd %s, IQR %s; green %s, yellow %s, orange %s, red %s', which,
                   round(median::numeric, 2), round(sd::numeric, 2), round(iqr::numeric, 2), green, yellow, orange, red))
  FROM spread ORDER BY which DESC;
SELECT ok((SELECT a.sd > b.sd AND a.iqr > b.iqr FROM spread a, spread b WHERE a.which = 'after' AND b.which = 'before'),
          'fitted curves spread the scores: a larger standard deviation and interquartile range');
SELECT ok((SELECT abs(a.median - 50) < abs(b.median - 50) AND abs(a.median - 50) < 5
             FROM spread a, spread b WHERE a.which = 'after' AND b.which = 'before'),
          'the median score moves to about 50');
SELECT ok((SELECT a.red > b.red AND a.green + a.red > b.green + b.red FROM spread a, spread b WHERE a.which = 'after' AND b.which = 'before'),
          'more accounts in red, and more in the outer bands (green or red) together');

CREATE TEMP TABLE applied_again AS SELECT * FROM health_score.apply_curves('2025-12-31');
SELECT is((SELECT (count(*) FILTER (WHERE applied), count(*) FILTER (WHERE note = 'unchanged: the fitted curve is the current one'))
             FROM applied_again),
          (0::bigint, 20::bigint), 'applying again changes nothing, and says so');
SELECT is(health_score.config_version(), 1::bigint, 'and leaves the configuration version where it was');

CREATE ROLE hs_fit_reader IN ROLE health_score_reader;
SET LOCAL ROLE hs_fit_reader;
SELECT lives_ok($$SELECT * FROM health_score.propose_curves('2025-12-31')$$, 'a reader may see the proposals');
SELECT throws_ok($$SELECT * FROM health_score.apply_curves('2025-12-31')$$, '42501', NULL,
                 'a reader may not apply them');
RESET ROLE;

-- Fitted on an earlier date, checked later: printed, not asserted.
UPDATE health_score.metrics m SET breakpoints = s.breakpoints, scores = s.scores
  FROM metrics_as_seeded s WHERE s.name = m.name;
CREATE TEMP TABLE auc_seeded AS SELECT * FROM pg_temp.later_auc('2025-09-30');
SELECT count(*) FROM health_score.apply_curves('2025-06-30') \g /dev/null
SELECT diag(format('score AUC at 2025-09-30 (churn within 90 days; %s accounts scored, %s churned): seeded curves %s, curves fitted at 2025-06-30 %s',
                   s.scored, s.churned, round(s.auc::numeric, 4), round(f.auc::numeric, 4)))
  FROM auc_seeded s, pg_temp.later_auc('2025-09-30') f;
UPDATE health_score.metrics m SET breakpoints = s.breakpoints, scores = s.scores
  FROM metrics_as_seeded s WHERE s.name = m.name;

-- ==== apply_suggested_weights ===================================================================
-- Trained on 2025-06-30 (churn until 2025-09-28), checked on 2025-09-30 (churn until 2025-12-29).
SELECT is((SELECT count(*) FROM health_score.metrics m JOIN metrics_as_seeded s USING (name)
            WHERE (m.breakpoints, m.scores, m.weight, m.enabled) IS DISTINCT FROM (s.breakpoints, s.scores, s.weight, s.enabled)),
          0::bigint, 'the seeded curves are back');
CREATE TEMP TABLE model AS
SELECT * FROM health_score.train_account_churn_model('fit', '2025-06-30', '90 days',
    ARRAY['login_frequency', 'login_recency', 'seat_penetration', 'workflow_completion', 'feature_adoption',
          'support_sentiment', 'payment_behaviour', 'contract_term']);
CREATE TEMP TABLE suggested AS SELECT * FROM health_score.suggest_weights('fit');
CREATE TEMP TABLE weights_before AS SELECT * FROM health_score.metrics;
CREATE TEMP TABLE version_before AS SELECT health_score.config_version() AS v;
CREATE TEMP TABLE auc_before AS SELECT * FROM pg_temp.later_auc('2025-09-30');

SET LOCAL ROLE hs_fit_reader;
SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights('fit')$$, '42501', NULL,
                 'a reader may not apply suggested weights');
RESET ROLE;
CREATE TEMP TABLE weighted AS SELECT * FROM health_score.apply_suggested_weights('fit');
SELECT is(health_score.config_version(), (SELECT v + 1 FROM version_before),
          'apply_suggested_weights moves the configuration version on once');
-- By hand: in each dimension the model's metrics with a suggested weight share out the weight
-- the model's metrics held together, less what those without one keep.
CREATE TEMP TABLE held AS
SELECT w.dimension, sum(w.weight) FILTER (WHERE s.weight_in_dimension IS NOT NULL) AS total
  FROM suggested s JOIN weights_before w ON w.name = s.feature
 GROUP BY w.dimension;
SELECT is((SELECT count(*) FROM suggested s JOIN health_score.metrics m ON m.name = s.feature JOIN held h ON h.dimension = m.dimension
            WHERE s.weight_in_dimension IS NOT NULL AND NOT pg_temp.near(m.weight, s.weight_in_dimension * h.total)),
          0::bigint, 'each weighted metric''s new weight is weight_in_dimension x the weight its dimension''s model metrics held');
SELECT is((SELECT count(*) FROM suggested s JOIN health_score.metrics m ON m.name = s.feature
            WHERE s.weight_in_dimension IS NOT NULL
              AND NOT pg_temp.near(m.weight / (SELECT sum(m2.weight) FROM suggested s2 JOIN health_score.metrics m2 ON m2.name = s2.feature
                                                WHERE m2.dimension = m.dimension AND s2.weight_in_dimension IS NOT NULL),
                                   s.weight_in_dimension)),
          0::bigint, 'so their shares within the dimension are exactly suggest_weights'' weight_in_dimension');
SELECT is((SELECT count(*) FROM weighted w JOIN suggested s ON s.feature = w.metric
            WHERE (w.weight_in_dimension, w.suggested_weight) IS DISTINCT FROM (s.weight_in_dimension, s.suggested_weight)),
          0::bigint, 'it returns the shares suggest_weights gives');
SELECT is((SELECT count(*) FROM weighted w JOIN weights_before b ON b.name = w.metric JOIN health_score.metrics m ON m.name = w.metric
            WHERE (w.old_weight, w.new_weight, w.enabled, w.dimension) IS DISTINCT FROM (b.weight, m.weight, m.enabled, m.dimension)),
          0::bigint, 'and each metric''s old and new weight');
SELECT ok((SELECT count(*) > 0 FROM suggested WHERE weight_in_dimension IS NULL),
          'on this book the model gives some metrics no weight (higher sub-scores went with more churn)');
SELECT is((SELECT count(*) FROM suggested s JOIN health_score.metrics m ON m.name = s.feature JOIN weights_before b ON b.name = s.feature
            WHERE s.weight_in_dimension IS NULL AND (m.weight, m.enabled) IS DISTINCT FROM (b.weight, true)),
          0::bigint, 'those keep their weight and stay enabled (wrong_way = keep)');
SELECT is((SELECT count(*) FROM weighted WHERE weight_in_dimension IS NULL
              AND note <> 'higher sub-scores went with more churn: keeps its weight (check its curve, or leave it out)'),
          0::bigint, 'with a note saying so');
SELECT is((SELECT count(*) FROM health_score.metrics m JOIN weights_before b USING (name)
            WHERE m.name NOT IN (SELECT feature FROM suggested) AND (m.weight, m.enabled) IS DISTINCT FROM (b.weight, b.enabled)),
          0::bigint, 'metrics the model did not use keep their weights');
SELECT is((SELECT array_agg(weight ORDER BY name) FROM health_score.dimensions), '{30,40,30}'::float8[],
          'dimension weights stay as they were');

CREATE TEMP TABLE auc_after AS SELECT * FROM pg_temp.later_auc('2025-09-30');
SELECT diag(format('score AUC at 2025-09-30 (%s accounts scored, %s churned within 90 days): seeded weights %s, weights learned at 2025-06-30 %s',
                   b.scored, b.churned, round(b.auc::numeric, 4), round(a.auc::numeric, 4)))
  FROM auc_before b, auc_after a;
SELECT is((SELECT (scored, churned) FROM auc_after), (SELECT (scored, churned) FROM auc_before),
          'the later check compares the same accounts and churners');
SELECT ok((SELECT b.auc > 0.7 AND a.auc > 0.7 FROM auc_before b, auc_after a),
          'the health score ranks the later churners well with either weights (AUC above 0.7)');
SELECT ok((SELECT abs(a.auc - b.auc) < 0.05 FROM auc_before b, auc_after a),
          'on this book the learned weights move that AUC by less than 0.05 (the figures are in the diagnostics)');

-- wrong_way = disable: the metrics without a weight go; the others share all their dimension held.
CREATE TEMP TABLE weights_kept AS SELECT * FROM health_score.metrics;
CREATE TEMP TABLE disabled AS SELECT * FROM health_score.apply_suggested_weights('fit', wrong_way => 'disable');
SELECT is((SELECT array_agg(metric ORDER BY metric) FROM disabled WHERE NOT enabled),
          (SELECT array_agg(feature ORDER BY feature) FROM suggested WHERE weight_in_dimension IS NULL),
          'wrong_way = disable disables exactly the metrics without a suggested weight');
SELECT is((SELECT count(*) FROM suggested s JOIN health_score.metrics m ON m.name = s.feature
            WHERE s.weight_in_dimension IS NOT NULL
              AND NOT pg_temp.near(m.weight, s.weight_in_dimension *
                                   (SELECT sum(k.weight) FROM weights_kept k JOIN suggested s2 ON s2.feature = k.name
                                     WHERE k.dimension = m.dimension))),
          0::bigint, 'and the others share out everything the model''s metrics held');
SELECT diag(format('with wrong_way = disable: score AUC at 2025-09-30 %s', round(auc::numeric, 4)))
  FROM pg_temp.later_auc('2025-09-30');
SELECT is((SELECT count(churn_risk) FROM health_score.account_churn_risk('2025-09-30')), 0::bigint,
          'the model that uses a disabled metric then scores no account, as documented');
UPDATE health_score.metrics m SET weight = k.weight, enabled = k.enabled FROM weights_kept k WHERE k.name = m.name;

SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights('nope')$$, '42704',
                 'churn model "nope" does not exist', 'an unknown model is refused, by name');
SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights(NULL)$$, '22004',
                 'model must not be NULL', 'a NULL model is refused');
SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights('fit', 'drop')$$, '22023',
                 'wrong_way must be keep or disable, got ''drop''', 'wrong_way is keep or disable');
CREATE TABLE public.fit_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x, (i * 53) % 7 < 3 AS churned FROM generate_series(1, 60) i;
SELECT lives_ok($$SELECT health_score.train_churn_model('fit_table', 'public.fit_rows', '{x}', 'churned')$$,
                'a table model');
SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights('fit_table')$$, '22023',
                 'churn model "fit_table" is a table model: its features are columns of public.fit_rows, not metrics',
                 'a table model is refused, by name');
-- A curve turned the wrong way round: more features adopted now scores lower, and goes with less churn.
UPDATE health_score.metrics SET direction = 'lower', scores = '{100,70,20,0}' WHERE name = 'feature_adoption';
SELECT lives_ok($$SELECT health_score.train_account_churn_model('fit_wrong', '2025-06-30', '90 days', ARRAY['feature_adoption'])$$,
                'a model on the reversed curve');
SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights('fit_wrong')$$, '22023',
                 'churn model "fit_wrong" suggests no weight: for each of its metrics a higher sub-score went with more churn',
                 'a model that gives no metric a weight is refused');
UPDATE health_score.metrics m SET direction = s.direction, scores = s.scores FROM metrics_as_seeded s
 WHERE s.name = m.name AND m.name = 'feature_adoption';
UPDATE health_score.metrics SET enabled = false WHERE name = 'feature_adoption';
SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights('fit')$$, '55000',
                 'churn model "fit" gives weight to "feature_adoption", now disabled',
                 'a model that weighs a metric disabled since is refused');
DELETE FROM health_score.metrics WHERE name = 'feature_adoption';
SELECT throws_ok($$SELECT * FROM health_score.apply_suggested_weights('fit')$$, '42704',
                 'churn model "fit" learned from "feature_adoption", no longer in health_score.metrics',
                 'a model whose metric is gone is refused');

-- ==== ties, degenerate and thin metrics, on data made for it ====================================
-- Every live account has a flag (1 for every third account, else 0) and a constant.
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, breakpoints, scores, direction)
VALUES ('fit_flag', 'product', 1, 'fit_flag', 'latest', '{0,1}', '{0,100}', 'higher'),
       ('fit_flag_lower', 'product', 1, 'fit_flag', 'latest', '{0,1}', '{100,0}', 'lower'),
       ('fit_constant', 'product', 1, 'fit_constant', 'latest', '{0,10}', '{0,100}', 'higher');
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a.account_id, u.metric, '2025-12-01', CASE WHEN u.metric = 'fit_constant' THEN 7 ELSE (a.n % 3 = 0)::int END
  FROM (SELECT account_id, row_number() OVER (ORDER BY account_id) AS n FROM health_score.accounts
         WHERE churned_on IS NULL OR churned_on > '2025-12-31') a
 CROSS JOIN (VALUES ('fit_flag'), ('fit_constant')) u(metric);
CREATE TEMP TABLE made AS
SELECT * FROM health_score.propose_curves('2025-12-31', ARRAY['fit_flag', 'fit_flag_lower', 'fit_constant']);
SELECT is((SELECT (proposed_breakpoints, proposed_scores) FROM made WHERE metric = 'fit_flag'),
          ('{0,1}'::float8[], '{25,87.5}'::float8[]),
          'a third of the flags are 1: percentiles 0, 0, 0, 1, 1 give the breakpoints 0 and 1, scored 25 and 87.5');
SELECT is((SELECT (proposed_breakpoints, proposed_scores) FROM made WHERE metric = 'fit_flag_lower'),
          ('{0,1}'::float8[], '{75,12.5}'::float8[]),
          'the same ties, lower is better: 75 and 12.5');
SELECT is((SELECT (proposed_breakpoints, note) FROM made WHERE metric = 'fit_constant'),
          (NULL::float8[], format('every percentile falls on the value 7 (accounts: %s, distinct values: 1): no curve to fit',
                                  (SELECT accounts FROM made WHERE metric = 'fit_constant'))),
          'a metric with one value is skipped, with a note');
SELECT is((SELECT note FROM health_score.propose_curves('2025-12-31', ARRAY['fit_flag'], min_accounts => 100000)),
          format('%s accounts with a value at as_of, fewer than min_accounts (100000)', (SELECT accounts FROM made WHERE metric = 'fit_flag')),
          'a metric with too few accounts is skipped, with a note');
UPDATE health_score.metrics SET enabled = false WHERE name = 'fit_flag';
SELECT is((SELECT (accounts, proposed_breakpoints, note) FROM health_score.propose_curves('2025-12-31', ARRAY['fit_flag'])),
          (0::bigint, NULL::float8[], 'not enabled: it is not scored, so it has no raw values'::text),
          'a disabled metric is skipped, with a note');
SELECT lives_ok($$SELECT health_score.apply_curves('2025-12-31', ARRAY['fit_flag_lower'])$$,
                'a lower-is-better curve with ties passes the catalog''s checks');
SELECT is((SELECT (breakpoints, scores) FROM health_score.metrics WHERE name = 'fit_flag_lower'),
          ('{0,1}'::float8[], '{75,12.5}'::float8[]), 'and is written');

SELECT * FROM finish();
ROLLBACK;

\c :home
SET client_min_messages = warning;
DROP DATABASE hs_catalog_fit;
