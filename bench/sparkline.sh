#!/usr/bin/env bash
# bench/sparkline.sh: sparkline() on 1,000, 10,000 and 200,000 values, against the 0.1.0
# function it replaced (a loop appending one character at a time, quadratic in the length),
# in a throwaway cluster. Prints medians of BENCH_RUNS (default 5) interleaved runs.
#   bench/sparkline.sh
source "$(dirname "$0")/common.sh"

ensure_packages $BASE_PACKAGES
setup_cluster

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION health_score;
-- The series, built once, so the timings are of the drawing alone.
CREATE TABLE series AS
SELECT n, ARRAY(SELECT (i * 37 % 101)::float8 FROM generate_series(1, n) i) AS vals
  FROM unnest(ARRAY[1000, 10000, 200000]) n;
-- The 0.1.0 sparkline, for comparison.
CREATE FUNCTION sparkline_0_1_0(vals float8[], lo float8 DEFAULT 0, hi float8 DEFAULT 100)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    blocks constant text[] := '{▁,▂,▃,▄,▅,▆,▇,█}';
    result text := '';
    v float8;
BEGIN
    FOREACH v IN ARRAY vals LOOP
        IF v IS NULL OR v = 'NaN' THEN
            result := result || ' ';
        ELSE
            result := result || blocks[1 + least(7, greatest(0, floor((v - lo) / (hi - lo) * 8)))::int];
        END IF;
    END LOOP;
    RETURN result;
END
$$;
SELECT 'same output: ' || bool_and(health_score.sparkline(vals) = sparkline_0_1_0(vals)) FROM series WHERE n <= 10000;
SQL

export PGOPTIONS="-c jit=off"
args=()
for n in 1000 10000 200000; do
    args+=("sparkline, $n values" "SELECT length(health_score.sparkline(vals)) FROM series WHERE n = $n"
           "0.1.0 loop, $n values" "SELECT length(sparkline_0_1_0(vals)) FROM series WHERE n = $n")
done
compare "${args[@]}"
