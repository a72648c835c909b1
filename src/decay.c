/*
 * decay.c: exponentially time-decayed aggregates, point in time.
 *
 * An observation made at t weighs 2^(-(as_of - t) / half_life). Observations after as_of
 * are ignored, so scoring "as of" a date never sees the future.
 *
 * Weights are kept relative to the newest observation seen so far (the reference time), not
 * to as_of: the newest one weighs exactly 1, so the denominator never underflows, however
 * old the history or short the half-life. When a newer observation arrives the sums are
 * rescaled once. The result does not depend on the order of the rows, which is what lets
 * the aggregate run in parallel, combine partial states and serve as a window function.
 *
 * State, float8[6]: {count, sum of weights, sum of weight * value, reference time,
 * as_of, half_life}; times in microseconds, half_life 0 until the first row sets it.
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/timestamp.h"


/*
 * Interval length in microseconds, months counted as extract(epoch from ...) counts them;
 * arg names the argument when the interval is infinite (PostgreSQL 17 and later).
 */
double
hs_interval_usecs(const Interval *span, const char *arg)
{
	double		days;

#if PG_VERSION_NUM >= 170000
	if (INTERVAL_NOT_FINITE(span))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", arg)));
#endif
	days = (double) DAYS_PER_YEAR * (span->month / MONTHS_PER_YEAR)
		+ (double) DAYS_PER_MONTH * (span->month % MONTHS_PER_YEAR)
		+ (double) span->day;
	return days * USECS_PER_DAY + (double) span->time;
}

/*
 * Read as_of and half_life (arguments 3 and 4); the first row fixes them for the group.
 * Returns as_of. Shared with metric_value, whose state begins like this one.
 */
TimestampTz
hs_decay_settings(FunctionCallInfo fcinfo, float8 *s)
{
	TimestampTz as_of;
	Interval   *half_life;
	double		half_life_us;

	as_of = hs_as_of_arg(fcinfo, 3);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("half_life must not be NULL")));

	half_life = PG_GETARG_INTERVAL_P(4);
	half_life_us = hs_interval_usecs(half_life, "half_life");
	if (!(half_life_us > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("half_life must be positive"),
				 errhint("A half-life of 30 days is the usual default.")));

	if (s[DECAY_HALF_LIFE] == 0.0)
	{
		s[DECAY_AS_OF] = (double) as_of;
		s[DECAY_HALF_LIFE] = half_life_us;
	}
	else if (s[DECAY_AS_OF] != (double) as_of || s[DECAY_HALF_LIFE] != half_life_us)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of and half_life must be the same for every row of a group")));
	return as_of;
}

/*
 * Error unless s holds a decay state its functions can produce: counts are whole, settings
 * are either unset (half_life 0, no rows) or a valid as_of with a finite positive half-life,
 * and (when sums) with rows the reference time is a valid time at or before as_of and the
 * newest row weighs 1, so the sum of weights lies within 1 and the count. Kinds that keep
 * only the latest value (sums false) leave the reference time and the sums unset.
 */
void
hs_check_decay_state(const float8 *s, bool sums, const char *aggname)
{
	hs_check_state_count(s[DECAY_COUNT], aggname, "the count");
	if (s[DECAY_HALF_LIFE] == 0.0)
	{
		if (s[DECAY_COUNT] != 0)
			hs_invalid_state(aggname, "rows counted before half_life was set");
		return;
	}
	if (!(s[DECAY_HALF_LIFE] > 0) || isinf(s[DECAY_HALF_LIFE]))
		hs_invalid_state(aggname, "half_life must be finite and positive");
	hs_check_state_time(s[DECAY_AS_OF], aggname, "as_of");
	if (s[DECAY_COUNT] == 0 || !sums)
		return;
	hs_check_state_time(s[DECAY_REF], aggname, "the reference time");
	if (s[DECAY_REF] > s[DECAY_AS_OF])
		hs_invalid_state(aggname, "the reference time must not be after as_of");
	if (!(s[DECAY_SUM_W] >= 1.0 && s[DECAY_SUM_W] <= s[DECAY_COUNT]) || !isfinite(s[DECAY_SUM_WV]))
		hs_invalid_state(aggname, "the sum of weights must lie within 1 and the count, the weighted sum be finite");
}

/* Add one observation with value at time t to the state. */
void
hs_decay_add(float8 *s, double t, double value, const char *aggname)
{
	double		half_life = s[DECAY_HALF_LIFE];

	if (s[DECAY_COUNT] == 0)
	{
		s[DECAY_SUM_W] = 1.0;
		s[DECAY_SUM_WV] = value;
		s[DECAY_REF] = t;
	}
	else if (t > s[DECAY_REF])
	{
		/* a newer observation becomes the reference: rescale what we have */
		double		rescale = exp2(-(t - s[DECAY_REF]) / half_life);

		s[DECAY_SUM_W] = s[DECAY_SUM_W] * rescale + 1.0;
		s[DECAY_SUM_WV] = s[DECAY_SUM_WV] * rescale + value;
		s[DECAY_REF] = t;
	}
	else
	{
		double		weight = exp2(-(s[DECAY_REF] - t) / half_life);

		s[DECAY_SUM_W] += weight;
		s[DECAY_SUM_WV] += weight * value;
	}
	s[DECAY_COUNT] = hs_count_add(s[DECAY_COUNT], 1, aggname, "the count of rows");
	hs_check_sum(s[DECAY_SUM_WV], "the decayed sum of value");
}

/*
 * Merge the decayed sums of s2 into s1 (both with observations, same settings); an error when
 * the merged count or sum would be out of range.
 */
void
hs_decay_merge(float8 *s1, const float8 *s2, const char *aggname)
{
	double		older_scale;

	s1[DECAY_COUNT] = hs_count_add(s1[DECAY_COUNT], s2[DECAY_COUNT], aggname, "the count of rows");
	older_scale = exp2(-fabs(s1[DECAY_REF] - s2[DECAY_REF]) / s1[DECAY_HALF_LIFE]);
	if (s2[DECAY_REF] > s1[DECAY_REF])
	{
		s1[DECAY_SUM_W] = s1[DECAY_SUM_W] * older_scale + s2[DECAY_SUM_W];
		s1[DECAY_SUM_WV] = s1[DECAY_SUM_WV] * older_scale + s2[DECAY_SUM_WV];
		s1[DECAY_REF] = s2[DECAY_REF];
	}
	else
	{
		s1[DECAY_SUM_W] += s2[DECAY_SUM_W] * older_scale;
		s1[DECAY_SUM_WV] += s2[DECAY_SUM_WV] * older_scale;
	}
	hs_check_sum(s1[DECAY_SUM_WV], "the decayed sum of value");
}

/* The decayed sum with weights relative to as_of (the state holds them relative to ref). */
double
hs_decay_sum(const float8 *s)
{
	return s[DECAY_SUM_WV] * exp2(-(s[DECAY_AS_OF] - s[DECAY_REF]) / s[DECAY_HALF_LIFE]);
}

PG_FUNCTION_INFO_V1(decay_accum);
/* decayed_avg / decayed_sum transition: (state, value, observed_at, as_of, half_life) */
Datum
decay_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, DECAY_STATE_LEN, "decayed_avg", true);
	float8	   *s = HS_STATE_VALUES(state);
	TimestampTz as_of;
	double		observed_at;
	double		value;

	hs_check_decay_state(s, true, "decayed_avg");
	as_of = hs_decay_settings(fcinfo, s);

	if (hs_observation_arg(fcinfo, as_of, &observed_at, &value))
		hs_decay_add(s, observed_at, value, "decayed_avg");
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(decay_combine);
/* decayed_avg / decayed_sum combine: merge two partial states on the newer reference */
Datum
decay_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = hs_state_arg(fcinfo, 0, DECAY_STATE_LEN, "decayed_avg", true);
	ArrayType  *state2 = hs_state_arg(fcinfo, 1, DECAY_STATE_LEN, "decayed_avg", false);
	float8	   *s1 = HS_STATE_VALUES(state1);
	float8	   *s2 = HS_STATE_VALUES(state2);

	hs_check_decay_state(s1, true, "decayed_avg");
	hs_check_decay_state(s2, true, "decayed_avg");
	if (s2[DECAY_HALF_LIFE] == 0.0)
		PG_RETURN_ARRAYTYPE_P(state1);
	if (s1[DECAY_HALF_LIFE] == 0.0)
	{
		memcpy(s1, s2, sizeof(float8) * DECAY_STATE_LEN);
		PG_RETURN_ARRAYTYPE_P(state1);
	}
	if (s1[DECAY_AS_OF] != s2[DECAY_AS_OF] || s1[DECAY_HALF_LIFE] != s2[DECAY_HALF_LIFE])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of and half_life must be the same for every row of a group")));
	if (s2[DECAY_COUNT] == 0)
		PG_RETURN_ARRAYTYPE_P(state1);
	if (s1[DECAY_COUNT] == 0)
	{
		memcpy(s1, s2, sizeof(float8) * DECAY_STATE_LEN);
		PG_RETURN_ARRAYTYPE_P(state1);
	}

	hs_decay_merge(s1, s2, "decayed_avg");
	PG_RETURN_ARRAYTYPE_P(state1);
}

PG_FUNCTION_INFO_V1(decay_avg_final);
/* decayed_avg final: weighted mean, NULL when no observation was at or before as_of */
Datum
decay_avg_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, DECAY_STATE_LEN, "decayed_avg", false);
	float8	   *s = HS_STATE_VALUES(state);

	hs_check_decay_state(s, true, "decayed_avg");
	if (s[DECAY_COUNT] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[DECAY_SUM_WV] / s[DECAY_SUM_W]);
}

PG_FUNCTION_INFO_V1(decay_sum_final);
/* decayed_sum final: sum of weight * value with weights relative to as_of */
Datum
decay_sum_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, DECAY_STATE_LEN, "decayed_sum", false);
	float8	   *s = HS_STATE_VALUES(state);

	hs_check_decay_state(s, true, "decayed_sum");
	if (s[DECAY_COUNT] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(hs_decay_sum(s));
}
