-- The C kernels: values on hand-worked examples.
SET extra_float_digits = 0;

-- scale: piecewise linear, flat beyond the ends, higher- and lower-is-better
SELECT v, health_score.scale(v, '{0,10,20}', '{0,50,100}') AS up,
          health_score.scale(v, '{0,10,20}', '{100,50,0}') AS down
  FROM unnest('{-5,0,2.5,10,15,20,99}'::float8[]) AS v;
SELECT health_score.scale(7, '{3}', '{42}') AS single_point;
SELECT health_score.scale(NULL, '{0,1}', '{0,100}') AS null_value;

-- scale_banded: breakpoint i starts band i ("seats >= 80 % -> 95")
SELECT v, health_score.scale_banded(v, '{0,40,60,80}', '{25,60,80,95}') AS seats
  FROM unnest('{-1,0,39.9,40,59.99,60,80,100}'::float8[]) AS v;

-- weighted_avg skips NULL scores and renormalises; coverage is the share of weight present
SELECT health_score.weighted_avg(s, w) AS avg, health_score.weighted_coverage(s, w) AS coverage
  FROM (VALUES (80::float8, 4::float8), (NULL, 3), (50, 3)) AS t(s, w);
SELECT health_score.weighted_avg(s, w) AS all_null, health_score.weighted_coverage(s, w) AS coverage
  FROM (VALUES (NULL::float8, 1::float8)) AS t(s, w);
SELECT health_score.weighted_avg(s, w) AS no_rows, health_score.weighted_coverage(s, w) AS coverage
  FROM (VALUES (1::float8, 1::float8)) AS t(s, w) WHERE false;

-- weighted_score: the row-wise form
SELECT health_score.weighted_score('{70,NULL,40}', '{40,30,30}') AS score,
       health_score.weighted_score_coverage('{70,NULL,40}', '{40,30,30}') AS coverage;
SELECT health_score.weighted_score('{NULL,NULL}', '{1,1}') AS all_null;
SELECT health_score.weighted_score(NULL, '{1}') AS null_scores;

-- effective_weights: metrics in dimensions 40/30/30; the second metric has no data, the third
-- dimension none at all, so the first two dimensions share the whole weight
SELECT health_score.effective_weights('{5,NULL,7,8}', '{1,1,2,3}', '{2,1,1,1}', '{40,30,30}') AS some_known,
       health_score.effective_weights('{5,NULL,7,NULL}', '{1,1,2,3}', '{2,1,1,1}', '{40,30,30}') AS third_dimension_empty,
       health_score.effective_weights('{NULL,NULL}', '{1,2}', '{1,1}', '{1,1}') AS none_known;

-- decayed_avg: a day-old 10 and a 31-day-old 20 with a 30-day half-life
SELECT round(health_score.decayed_avg(v, t, '2024-03-01', '30 days')::numeric, 10) AS decayed_avg,
       round(((10 * 2 ^ (-1 / 30.0)) + 20 * 2 ^ (-31 / 30.0))
             / (2 ^ (-1 / 30.0) + 2 ^ (-31 / 30.0)), 10) AS by_hand
  FROM (VALUES (10::float8, '2024-02-29'::timestamptz), (20, '2024-01-30')) AS o(v, t);

-- decayed_sum; the future observation is ignored, NULL values are skipped
SELECT round(health_score.decayed_sum(v, t, '2024-03-01', '30 days')::numeric, 10) AS decayed_sum,
       round((1 * 2 ^ (-30 / 30.0) + 1)::numeric, 10) AS by_hand
  FROM (VALUES (1::float8, '2024-01-31'::timestamptz), (1, '2024-03-01'),
               (1000, '2024-03-02'), (NULL, '2024-02-01')) AS o(v, t);

-- nothing observed by as_of: NULL, never zero
SELECT health_score.decayed_avg(v, t, '2024-01-01', '30 days') AS avg,
       health_score.decayed_sum(v, t, '2024-01-01', '30 days') AS sum
  FROM (VALUES (5::float8, '2024-06-01'::timestamptz)) AS o(v, t);

-- latest_value: the newest observation at or before as_of
SELECT health_score.latest_value(v, t, '2024-03-01') AS latest
  FROM (VALUES (1::float8, '2024-01-01'::timestamptz), (3, '2024-02-15'),
               (9, '2024-04-01')) AS o(v, t);

-- bands and alert tiers: who owns the edges
SELECT s, health_score.band(s) AS band, health_score.alert_tier(s) AS tier
  FROM unnest('{0,39.99,40,59.99,60,74.99,75,79.99,80,100}'::float8[]) AS s;
SELECT health_score.band(NULL) AS band, health_score.alert_tier(NULL) AS tier;
