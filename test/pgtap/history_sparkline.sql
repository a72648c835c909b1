-- sparkline: NULL and NaN are gaps, never values; Infinity and arrays of more than one
-- dimension are refused, naming vals; the time is linear in the number of values; any finite
-- values and bounds are drawn, without overflow or underflow.
BEGIN;
SELECT plan(14);

SELECT is(health_score.sparkline('{0,NaN,100,NULL,50}'), '▁ █ ▅', 'NULL and NaN draw a gap');
SELECT is(health_score.sparkline('{3,NaN,1,NULL,2}', NULL, NULL), '█ ▁ ▅',
          'the own range leaves NaN out (it is no maximum)');
SELECT is(health_score.sparkline('{NULL,NaN}', NULL, NULL), '  ', 'only gaps: only spaces');
SELECT is(health_score.sparkline('{}'), '', 'an empty array draws nothing');
SELECT is(health_score.sparkline('[0:2]={0,50,100}'), '▁▅█', 'any lower bound');
SELECT throws_ok($$SELECT health_score.sparkline('{1,Infinity}')$$, '22023',
                 'vals must not contain Infinity or -Infinity', 'Infinity is refused, not drawn as the top');
SELECT throws_ok($$SELECT health_score.sparkline('{-Infinity,1}', NULL, NULL)$$, '22023',
                 'vals must not contain Infinity or -Infinity', '-Infinity is refused with the own range');
SELECT throws_ok($$SELECT health_score.sparkline('{{1,2},{3,4}}')$$, '2202E',
                 'vals must be a one-dimensional array, got 2 dimensions', 'a 2-D array is refused, not flattened');

SELECT is(health_score.sparkline('{-1e308,1e308,0}', NULL, NULL), '▁█▅',
          'the own range of the largest finite values (high - low overflows float8)');
SELECT is(health_score.sparkline('{0,1e308,-1e308,6e307}', -1e308, 1e308), '▅█▁▇',
          'the widest finite bounds');
SELECT is(health_score.sparkline('{5e-324,-5e-324,50}'), '▁▁▅',
          'the smallest float8 values, on the 0-100 scale (dividing them underflowed)');
SELECT is(health_score.sparkline('{1e-300,2.2e-300,3e-300}', NULL, NULL), '▁▅█', 'a tiny own range');

-- 200,000 values: about 0.2 s in one aggregate; appending in a loop took 4 to 12 s.
CREATE TEMP TABLE long_series AS SELECT ARRAY(SELECT (i % 101)::float8 FROM generate_series(1, 200000) i) AS vals;
CREATE FUNCTION pg_temp.seconds_to_draw() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    PERFORM health_score.sparkline(vals) FROM long_series;
    RETURN extract(epoch FROM clock_timestamp() - started);
END
$$;
SELECT is(length(health_score.sparkline(vals)), 200000, 'one character per value') FROM long_series;
SELECT cmp_ok(pg_temp.seconds_to_draw(), '<', 2::float8, '200,000 values drawn within 2 s');

SELECT * FROM finish();
ROLLBACK;
