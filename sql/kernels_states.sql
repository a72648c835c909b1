-- Every C entry point called the way no aggregate calls it: NULL states, states built or
-- changed by hand (NaN, infinities, negative counts, impossible sums), states of the wrong
-- length, arrays with several dimensions, NULL elements or mismatched lengths. Each gets an
-- SQLSTATE and a message, never a crash and never a NaN or an out-of-range result.
SELECT q, public.error_of(q) FROM (VALUES
  -- a NULL state in the transition functions that are called on NULL input
  ($$SELECT health_score.decay_accum(NULL, 1, now(), now(), '1 day')$$),
  ($$SELECT health_score.weighted_avg_accum(NULL, 1, 1)$$),
  ($$SELECT health_score.latest_accum(NULL, 1, now(), now())$$),
  ($$SELECT health_score.metric_value_accum(NULL, 1, now(), now(), '1 day', 'latest')$$),
  ($$SELECT health_score.metric_values_accum(NULL, 1, now(), now(), 'a', '{a}', '{1 day}', '{NULL}', '{latest}')$$),
  ($$SELECT health_score.auc_accum(NULL, 50, true)$$),
  ($$SELECT health_score.rates_accum(NULL, 50, true, 50)$$),
  ($$SELECT health_score.logit_step_accum(NULL, '{1}', true, '{0,0}', '{0}', '{1}')$$),
  ($$SELECT health_score.logit_describe_accum(NULL, '{1}', true)$$),
  -- decay states
  ($$SELECT health_score.decay_accum('{-1,0,0,0,0,0}', 1, now(), now(), '1 day')$$),
  ($$SELECT health_score.decay_accum('{0.5,1,1,0,0,1}', 1, now(), now(), '1 day')$$),
  ($$SELECT health_score.decay_accum('{3,1,1,0,0,0}', 1, now(), now(), '1 day')$$),
  ($$SELECT health_score.decay_accum('{1,1,1,0,0,-1}', 1, now(), now(), '1 day')$$),
  ($$SELECT health_score.decay_avg_final('{1,0,5,0,0,1}')$$),
  ($$SELECT health_score.decay_avg_final('{1,NaN,5,0,0,1}')$$),
  ($$SELECT health_score.decay_avg_final('{2,3,5,0,0,1}')$$),
  ($$SELECT health_score.decay_avg_final('{1,1,Infinity,0,0,1}')$$),
  ($$SELECT health_score.decay_avg_final('{1,1,1,5,0,1}')$$),
  ($$SELECT health_score.decay_avg_final('{NaN,1,1,0,0,1}')$$),
  ($$SELECT health_score.decay_sum_final('{1,1,1,0,NaN,1}')$$),
  ($$SELECT health_score.decay_sum_final('{1,1,1,0,0,Infinity}')$$),
  ($$SELECT health_score.decay_combine('{1,1,1,0,0,1}', '{1,1,NaN,0,0,1}')$$),
  ($$SELECT health_score.decay_combine('{-5,1,1,0,0,1}', '{1,1,1,0,0,1}')$$),
  ($$SELECT health_score.decay_avg_final('{1,1,42,0,0,1}')$$),
  -- latest_value states
  ($$SELECT health_score.latest_final('{-1,0,0,0,1}')$$),
  ($$SELECT health_score.latest_final('{1,0,NaN,0,1}')$$),
  ($$SELECT health_score.latest_final('{1,0,5,0,0}')$$),
  ($$SELECT health_score.latest_final('{1,0,5,0,2}')$$),
  ($$SELECT health_score.latest_final('{1,10,5,0,1}')$$),
  ($$SELECT health_score.latest_combine('{1,0,5,0,1}', '{1,0,Infinity,0,1}')$$),
  ($$SELECT health_score.latest_accum('{0,0,0,NaN,1}', 1, now(), now())$$),
  ($$SELECT health_score.latest_final('{1,0,5,0,1}')$$),
  -- metric_value states
  ($$SELECT health_score.metric_value_final('{1,1,1,0,0,1,7,0,0}')$$),
  ($$SELECT health_score.metric_value_final('{1,1,1,0,0,1,1.5,0,0}')$$),
  ($$SELECT health_score.metric_value_final('{1,1,1,0,0,1,NaN,0,0}')$$),
  ($$SELECT health_score.metric_value_final('{1,0,0,0,0,1,0,0,0}')$$),
  ($$SELECT health_score.metric_value_final('{1,0,0,0,0,1,5,10,0}')$$),
  ($$SELECT health_score.metric_value_final('{1,0,0,0,0,1,4,0,NaN}')$$),
  ($$SELECT health_score.metric_value_final('{1,0,0,0,0,0,4,0,1}')$$),
  ($$SELECT health_score.metric_value_final('{1,0.5,1,0,0,1,1,0,0}')$$),
  ($$SELECT health_score.metric_value_combine('{1,1,1,0,0,1,1,0,0}', '{-1,1,1,0,0,1,1,0,0}')$$),
  ($$SELECT health_score.metric_value_accum('{1,1,1,0,0,1,9,0,0}', 1, now(), now(), '1 day', 'latest')$$),
  ($$SELECT health_score.metric_value_final('{1,0,0,0,0,1,5,-86400000000,0}')$$),
  -- metric_values states: header {as_of, as_of set, catalog fingerprint}, nine per metric
  ($$SELECT health_score.metric_values_final('{1}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,0,0,0,0,0,0,0,0,0,0,0}')$$),
  ($$SELECT health_score.metric_values_final('{0,2,0,1,1,1,0,0,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,0,1,1,1,0,0,1,0,0,9}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,0,1,NaN,1,0,0,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,0,1,1,1,0,5,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{0,0,0,1,1,1,0,0,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{NaN,1,0,1,1,1,0,0,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,-1,1,1,1,0,0,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{{0,1,0},{1,1,1}}')$$),
  ($$SELECT health_score.metric_values_combine('{0,1,0,1,1,1,0,0,1,0,0,1}', '{0,1,0,1,1,1,0,0,1,0,0,NaN}')$$),
  ($$SELECT health_score.metric_values_combine('{0,1,0,1,1,1,0,0,1,0,0,1}', '{0,1,7,1,1,1,0,0,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_combine('{0,1,0,1,1,1,0,0,1,0,0,1}', '{0,1,0,1,1,1,0,0,1,0,0,4}')$$),
  ($$SELECT health_score.metric_values_accum('{0,0,0,5,1,1,0,0,1,0,0,1}', 1, now(), now(), 'a', '{a}', '{1 day}', '{NULL}', '{latest}')$$),
  ($$SELECT health_score.metric_values_accum('{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}', 1, now(), now(), 'a', '{a}', '{1 day}', '{NULL}', '{latest}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,0,1,1,1,0,0,1,0,0,1}')$$),
  -- metric_values catalog arrays
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', NULL, '{1 day}', '{NULL}', '{latest}')$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{a}', NULL, '{NULL}', '{latest}')$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{a}', '{1 day}', NULL, '{latest}')$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{a}', '{1 day}', '{NULL}', NULL)$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{{a},{b}}', '{1 day}', '{NULL}', '{latest}')$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{a,NULL}', '{1 day,1 day}', '{NULL,NULL}', '{latest,latest}')$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{a}', '{1 day,2 days}', '{NULL}', '{latest}')$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{a}', '{-1 day}', '{NULL}', '{latest}')$$),
  ($$SELECT health_score.metric_values_accum('{}', 1, now(), now(), 'a', '{a}', '{1 day}', '{NULL}', '{median}')$$),
  -- weighted_avg states {present weight, sum of weight*score, total weight}
  ($$SELECT health_score.weighted_avg_final('{1,NaN,1}')$$),
  ($$SELECT health_score.weighted_avg_final('{1,500,1}')$$),
  ($$SELECT health_score.weighted_avg_final('{1,-50,1}')$$),
  ($$SELECT health_score.weighted_avg_final('{-1,-50,1}')$$),
  ($$SELECT health_score.weighted_coverage_final('{5,100,1}')$$),
  ($$SELECT health_score.weighted_coverage_final('{1,50,Infinity}')$$),
  ($$SELECT health_score.weighted_avg_accum('{0,0,-Infinity}', 50, 1)$$),
  ($$SELECT health_score.weighted_avg_combine('{1,50,1}', '{1,50,NaN}')$$),
  ($$SELECT health_score.weighted_avg_final('{2,100,4}')$$),
  ($$SELECT health_score.weighted_coverage_final('{2,100,4}')$$),
  -- weighted_score and effective_weights arrays
  ($$SELECT health_score.weighted_score('{{50,60},{70,80}}', '{1,1,1,1}')$$),
  ($$SELECT health_score.weighted_score_coverage('{50,60}', '{{1,1}}')$$),
  ($$SELECT health_score.effective_weights('{{1,2}}', '{1,1}', '{1,1}', '{1}')$$),
  ($$SELECT health_score.effective_weights('{1,2}', '{1,NULL}', '{1,1}', '{1}')$$),
  ($$SELECT health_score.effective_weights('{1,2}', '{1,2}', '{1,1}', '{1}')$$),
  ($$SELECT health_score.effective_weights('{1,2}', '{1,1}', '{1,1}', '{}')$$),
  -- auc and the threshold rates
  ($$SELECT health_score.auc_final('{1,2,3}')$$),
  ($$SELECT health_score.auc_final(array_fill(-1::float8, ARRAY[20002]))$$),
  ($$SELECT health_score.auc_final(array_fill('NaN'::float8, ARRAY[20002]))$$),
  ($$SELECT health_score.auc_combine(array_fill(1::float8, ARRAY[20002]), array_fill('Infinity'::float8, ARRAY[20002]))$$),
  ($$SELECT health_score.auc_accum('{1,2}', 50, true)$$),
  ($$SELECT health_score.rates_precision_final('{-1,1,0,0,50}')$$),
  ($$SELECT health_score.rates_recall_final('{1,NaN,0,0,50}')$$),
  ($$SELECT health_score.rates_accum('{0,0,0,0,Infinity}', 50, true, 50)$$),
  ($$SELECT health_score.rates_combine('{1,0,0,0,50}', '{Infinity,0,0,0,50}')$$),
  ($$SELECT health_score.rates_precision_final('{1,1,0,0,50}')$$),
  -- logit_step states: {p, rows, skipped, positive, log-likelihood, score (k), XtWX (k(k+1)/2)}
  ($$SELECT health_score.logit_step_final('{NaN,0,0,0,0,0,0,0,0,0}')$$),
  ($$SELECT health_score.logit_step_final('{1e300,0,0,0,0,0,0,0,0,0}')$$),
  ($$SELECT health_score.logit_step_final('{1,-1,0,0,0,0,0,1,0,1}')$$),
  ($$SELECT health_score.logit_step_final('{1,1,0,2,0,0,0,1,0,1}')$$),
  ($$SELECT health_score.logit_step_final('{1,1,0,0,5,0,0,1,0,1}')$$),
  ($$SELECT health_score.logit_condition('{1,10,0,5,-1,0,0,NaN,0,1}')$$),
  ($$SELECT health_score.logit_condition('{1,10,0,5,-1,0,0,-1,0,1}')$$),
  ($$SELECT health_score.logit_solve('{1,10,0,5,-1,0,Infinity,1,0,1}', '{0,0}', 0, '{x}')$$),
  ($$SELECT health_score.logit_solve('{1,10,0,5,-1,0,0,1,0,1}', '{0,Infinity}', 0, '{x}')$$),
  ($$SELECT health_score.logit_covariance('{1,10,0,5,-1,0,0,1,0,1}', 0, '{NaN}', '{1}', '{x}')$$),
  ($$SELECT health_score.logit_covariance('{1,10,0,5,-1,0,0,1,0,1}', 0, '{0}', '{0}', '{x}')$$),
  ($$SELECT health_score.logit_covariance('{1,10,0,5,-1,0,0,1,0,1}', 'NaN', '{0}', '{1}', '{x}')$$),
  ($$SELECT health_score.logit_step_combine('{1,10,0,5,-1,0,0,1,0,1}', '{1,10,0,5,-1,NaN,0,1,0,1}')$$),
  ($$SELECT health_score.logit_step_accum('{}', '{1}', true, '{0,Infinity}', '{0}', '{1}')$$),
  ($$SELECT health_score.logit_step_accum('{}', '{1}', true, '{0,0}', '{Infinity}', '{1}')$$),
  ($$SELECT health_score.logit_step_accum('{}', '{{1}}', true, '{0,0}', '{0}', '{1}')$$),
  ($$SELECT health_score.logit_step_accum('{}', '{1}', true, '{{0,0}}', '{0}', '{1}')$$),
  ($$SELECT health_score.logit_condition('{1,10,0,5,-1,0,0,1,0,4}')$$),
  -- logit_predict
  ($$SELECT health_score.logit_predict('{0,Infinity}', '{1}')$$),
  ($$SELECT health_score.logit_predict('{-Infinity,1}', '{1}')$$),
  ($$SELECT health_score.logit_predict('{NaN,1}', '{1}')$$),
  ($$SELECT health_score.logit_predict('{0,1e308,1e308}', '{1e308,1e308}')$$),
  ($$SELECT health_score.logit_predict('{0,1}', '{{1}}')$$),
  ($$SELECT health_score.logit_predict('{0,1}', '{1,2}')$$),
  ($$SELECT health_score.logit_predict('{0,1}', '{1}')$$),
  -- logit_describe states: {p, complete, skipped, positive, non-finite}, seven per feature
  ($$SELECT health_score.logit_describe_combine('{1,1,0,0,0,1,0,1,1,Infinity,-Infinity,0}', '{1,1,0,0,0,NaN,0,1,1,Infinity,-Infinity,0}')$$),
  ($$SELECT health_score.logit_describe_combine('{1,1,0,0,0,1,0,1,1,Infinity,-Infinity,0}', '{1,-1,0,0,0,1,0,1,1,Infinity,-Infinity,0}')$$),
  ($$SELECT health_score.logit_describe_combine('{1,1,0,0,0,1,0,1,1,Infinity,-Infinity,0}', '{1,1,0,0,0,1,-5,1,1,Infinity,-Infinity,0}')$$),
  ($$SELECT health_score.logit_describe_accum('{NaN,1,0,0,0,1,0,1,1,Infinity,-Infinity,0}', '{1}', true)$$),
  ($$SELECT health_score.logit_describe_accum('{}', '{{1}}', true)$$),
  -- the transition functions of the large states, called directly, check the state whole
  ($$SELECT health_score.auc_accum(array_fill(-1::float8, ARRAY[20002]), 50, true)$$),
  ($$SELECT health_score.logit_step_accum('{1,10,0,5,-1,0,0,NaN,0,1}', '{1}', true, '{0,0}', '{0}', '{1}')$$),
  ($$SELECT health_score.logit_describe_accum('{1,1,0,0,0,NaN,0,1,1,Infinity,-Infinity,0}', '{1}', true)$$),
  ($$SELECT health_score.metric_values_accum('{0,1,0,1,NaN,1,0,0,1,0,0,1}', 1, now(), now(), 'a', '{a}', '{1 day}', '{NULL}', '{latest}')$$)
) AS t(q);

-- Counts, sums and times out of range. A count in a state is a whole number within 0 and
-- 2^53, beyond which float8 counts are no longer exact: a bigger one in a state is refused
-- (22023), a combine or transition that would go beyond it raises 22003. A time in a state
-- is one a timestamptz can hold, and no sum (nor a final result) overflows to infinity.
SELECT q, public.error_of(q) FROM (VALUES
  -- huge bins made inf / inf (NaN), huge counts 1e308 / inf (0)
  ($$SELECT health_score.auc_final(array_fill(1e305::float8, ARRAY[20002]))$$),
  ($$SELECT health_score.auc_final(array_fill(0.5::float8, ARRAY[20002]))$$),
  ($$SELECT health_score.auc_combine(array_fill(9007199254740992::float8, ARRAY[20002]), array_fill(1::float8, ARRAY[20002]))$$),
  ($$SELECT health_score.auc_accum(array_fill(9007199254740992::float8, ARRAY[20002]), 0, true)$$),
  ($$SELECT health_score.auc_final(array_fill(9007199254740992::float8, ARRAY[20002]))$$),
  ($$SELECT health_score.rates_precision_final('{1e308,1e308,0,0,50}')$$),
  ($$SELECT health_score.rates_recall_final('{1.5,0,0,0,50}')$$),
  ($$SELECT health_score.rates_precision_final('{1,0,0,0,NaN}')$$),
  ($$SELECT health_score.rates_combine('{9007199254740992,0,0,0,50}', '{1,0,0,0,50}')$$),
  ($$SELECT health_score.rates_accum('{9007199254740992,0,0,0,50}', 60, true, 50)$$),
  ($$SELECT health_score.rates_precision_final('{9007199254740992,9007199254740992,0,0,50}')$$),
  -- decay states {count, sum of weights, weighted sum, reference time, as_of, half_life}
  ($$SELECT health_score.decay_avg_final('{1e16,1,1,0,0,1}')$$),
  ($$SELECT health_score.decay_combine('{9007199254740992,1,1,0,0,1}', '{1,1,1,0,0,1}')$$),
  ($$SELECT health_score.decay_accum('{9007199254740992,1,1,0,0,1}', 1, '2000-01-01 00:00+00', '2000-01-01 00:00+00', '1 microsecond')$$),
  ($$SELECT health_score.decay_avg_final('{1,1,1,0,1e300,1}')$$),
  ($$SELECT health_score.decay_avg_final('{1,1,1,-1e300,0,1}')$$),
  ($$SELECT health_score.decay_sum_final('{1,1,1,0.5,1,1}')$$),
  ($$SELECT health_score.decay_combine('{9007199254740991,1,1,0,0,1}', '{1,1,1,0,0,1}')$$),
  -- latest_value states {count, time, value, as_of, as_of set}
  ($$SELECT health_score.latest_final('{1,-1e300,5,0,1}')$$),
  ($$SELECT health_score.latest_final('{1,0,5,1e300,1}')$$),
  ($$SELECT health_score.latest_combine('{9007199254740992,0,5,0,1}', '{1,0,5,0,1}')$$),
  ($$SELECT health_score.latest_accum('{9007199254740992,0,5,0,1}', 1, '2000-01-01 00:00+00', '2000-01-01 00:00+00')$$),
  -- metric_value states: the decay state, then {kind, time of the latest value, latest value}
  ($$SELECT health_score.metric_value_final('{1,0,0,0,0,1,5,-1e300,0}')$$),
  ($$SELECT health_score.metric_value_final('{1,0,0,0,0,1,4,0.5,0}')$$),
  ($$SELECT health_score.metric_value_final('{0,0,0,0,0,0,0,Infinity,0}')$$),
  ($$SELECT health_score.metric_value_combine('{9007199254740992,0,0,0,0,1,4,0,1}', '{1,0,0,0,0,1,4,0,1}')$$),
  ($$SELECT health_score.metric_value_combine('{9007199254740992,1,1,0,0,1,1,0,0}', '{1,1,1,0,0,1,1,0,0}')$$),
  ($$SELECT health_score.metric_value_accum('{9007199254740992,0,0,0,0,1,4,0,1}', 1, '2000-01-01 00:00+00', '2000-01-01 00:00+00', '1 microsecond', 'latest')$$),
  -- a short half-life scales a huge decayed sum up to infinity, from real rows
  ($$SELECT health_score.metric_value(1e300, now(), now(), '1 microsecond', 'decayed_rate')$$),
  ($$SELECT health_score.metric_value(1e300, '294276-12-31 23:59:59.999999+00', '294276-12-31 23:59:59.999999+00', '1 day', 'days_since')$$),
  -- metric_values states: header {as_of, as_of set, catalog fingerprint}, nine per metric
  ($$SELECT health_score.metric_values_final('{1e300,1,0,0,0,0,0,1e300,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,0.5,1,1,1,0,0,1,0,0,1}')$$),
  ($$SELECT health_score.metric_values_final('{0,1,0,1,0,0,0,0,1,-1e300,0,4}')$$),
  ($$SELECT health_score.metric_values_combine('{0,1,0,9007199254740992,0,0,0,0,1,0,0,4}', '{0,1,0,1,0,0,0,0,1,0,0,4}')$$),
  ($$SELECT health_score.metric_values_combine('{0,1,0,9007199254740992,1,1,0,0,1,0,0,1}', '{0,1,0,1,1,1,0,0,1,0,0,1}')$$),
  -- logit_step: counts and sums of two states, and huge features on real rows
  ($$SELECT health_score.logit_step_combine('{1,9007199254740992,0,0,-1,0,0,1,0,1}', '{1,1,0,0,-1,0,0,1,0,1}')$$),
  ($$SELECT health_score.logit_step_combine('{1,10,0,5,-1,0,0,1e308,0,1}', '{1,10,0,5,-1,0,0,1e308,0,1}')$$),
  ($$SELECT health_score.logit_step(ARRAY[1e154::float8], true, '{0,0}', '{0}', '{1}') FROM generate_series(1, 8)$$),
  -- logit_describe: counts and squared deviations of two states; huge means stay finite
  ($$SELECT health_score.logit_describe_combine('{1,9007199254740992,0,0,0,1,0,1,1,Infinity,-Infinity,0}', '{1,1,0,0,0,1,0,1,1,Infinity,-Infinity,0}')$$),
  ($$SELECT health_score.logit_describe_combine('{1,1,0,0,0,1,1e308,1,1,Infinity,-Infinity,0}', '{1,1,0,0,0,1,1e308,1,1,Infinity,-Infinity,0}')$$),
  ($$SELECT health_score.logit_describe_combine('{1,1000,0,0,0,1e306,0,1e306,1e306,Infinity,-Infinity,0}', '{1,1000,0,0,0,1e306,0,1e306,1e306,Infinity,-Infinity,0}')$$)
) AS t(q);
SELECT health_score.logit_describe_combine('{1,1000,0,0,0,1e306,0,1e306,1e306,Infinity,-Infinity,0}',
                                           '{1,1000,0,0,0,1e306,0,1e306,1e306,Infinity,-Infinity,0}');

-- metric_values notices arrays that change within a query: the catalog is parsed again
-- when the arrays differ (here built per row, so each lands where the last one was), and
-- arrays that differ within one group are an error.
SELECT g, health_score.metric_values(v, t, '2024-01-10', 'a', ARRAY[inp], '{1 day}', '{NULL}', ARRAY[agg])
  FROM (VALUES (1, 1.0, '2024-01-01'::timestamptz, 'a', 'latest'),
               (2, 2.0, '2024-01-02', 'a', 'days_since'),
               (3, 3.0, '2024-01-03', 'b', 'latest'),
               (4, 4.0, '2024-01-04', 'a', 'decayed_sum')) AS r(g, v, t, inp, agg)
 GROUP BY g ORDER BY g;
SELECT public.error_of($$
SELECT health_score.metric_values(v, t, '2024-01-10', 'a', ARRAY[inp], '{1 day}', '{NULL}', '{latest}')
  FROM (VALUES (1.0, '2024-01-01'::timestamptz, 'a'), (2.0, '2024-01-02', 'b')) AS r(v, t, inp)
$$);
-- Times before 2000 are negative inside the states: still valid.
SELECT health_score.metric_values(v, '1998-01-01', '1998-02-01', 'a', '{a,a}', '{1 day,1 day}', '{NULL,NULL}', '{latest,decayed_sum}'),
       health_score.metric_value(v, '1998-01-01', '1998-02-01', '1 day', 'days_since'),
       health_score.latest_value(v, '1998-01-01', '1998-02-01'),
       health_score.decayed_avg(v, '1998-01-01', '1998-02-01', '1 day')
  FROM (VALUES (2.0)) AS r(v);
-- churn_fit, called directly, checks its settings as train_churn_model does.
CREATE TABLE public.fit_rows AS
SELECT i, ((i * 37) % 23) / 5.0::float8 AS x, (i * 53) % 7 < 3 AS churned FROM generate_series(1, 60) i;
SELECT q, public.error_of(q) FROM (VALUES
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, 'NaN', 0)$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, 0, 0)$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, NULL, 0)$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 0, 1e-8, 0)$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', NULL, 1e-8, 0)$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, 1e-8, 'NaN')$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, 1e-8, -1)$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, 1e-8, 'Infinity')$$),
  ($$SELECT health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, 1e-8, 0)$$)
) AS t(q);
SELECT iterations > 1 AS iterated FROM health_score.churn_fit('public.fit_rows', '{x}', '{x}', 'churned', 25, 1e-8, 0);
DROP TABLE public.fit_rows;
