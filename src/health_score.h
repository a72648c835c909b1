/*
 * health_score.h: checks and helpers shared by the C kernels.
 *
 * Every kernel refuses bad input with an SQLSTATE and a message naming the argument, so a
 * wrong number never leaves the database silently.
 */
#ifndef HEALTH_SCORE_H
#define HEALTH_SCORE_H

#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#define HS_SCORE_MIN 0.0
#define HS_SCORE_MAX 100.0

/* Error unless value is a finite number; arg names the SQL argument. */
static inline void
hs_check_finite(double value, const char *arg)
{
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number, got %g", arg, value)));
}

/* Error unless value is a score within 0..100. */
static inline void
hs_check_score(double value, const char *arg)
{
	hs_check_finite(value, arg);
	if (value < HS_SCORE_MIN || value > HS_SCORE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be within 0 and 100, got %g", arg, value)));
}

/* Error unless value is a finite weight greater than zero. */
static inline void
hs_check_weight(double value, const char *arg)
{
	hs_check_finite(value, arg);
	if (value <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be greater than zero, got %g", arg, value),
				 errhint("Leave a metric out instead of giving it a zero weight.")));
}

/*
 * Error unless a running sum is still finite: sums of huge (but finite) inputs can overflow,
 * and inf / inf would otherwise come back as a silent NaN. what names the sum and its argument.
 */
static inline void
hs_check_sum(double sum, const char *what)
{
	if (unlikely(isinf(sum) || isnan(sum)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range for float8", what)));
}

/*
 * The largest count a float8 state holds exactly: above 2^53 adding a row is lost to
 * rounding, so a state's counts stay within it.
 */
#define HS_MAX_COUNT 9007199254740992.0

/*
 * count + more for a count of a state (one row in a transition function, another state's
 * count in a combine function), both already whole and within 0 and HS_MAX_COUNT. Beyond
 * HS_MAX_COUNT the count would no longer be exact: an error, not a wrong state. The test is
 * on the difference, which is exact, because the sum may round back down to HS_MAX_COUNT.
 */
static inline double
hs_count_add(double count, double more, const char *aggname, const char *what)
{
	if (unlikely(more > HS_MAX_COUNT - count))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: %s would exceed %.0f, beyond which a float8 count is not exact",
						aggname, what, HS_MAX_COUNT)));
	return count + more;
}

/*
 * Decay state (decay.c), float8[6]: {count, sum of weights, sum of weight * value, reference
 * time, as_of, half_life}; metric_value's state starts with the same six.
 */
#define DECAY_STATE_LEN 6
#define DECAY_COUNT 0
#define DECAY_SUM_W 1
#define DECAY_SUM_WV 2
#define DECAY_REF 3
#define DECAY_AS_OF 4
#define DECAY_HALF_LIFE 5

/* Metric aggregations (metric_value.c), stored in states as these numbers. */
#define METRIC_UNSET 0
#define METRIC_DECAYED_AVG 1
#define METRIC_DECAYED_SUM 2
#define METRIC_DECAYED_RATE 3
#define METRIC_LATEST 4
#define METRIC_DAYS_SINCE 5

extern int	hs_metric_kind(text *name);
extern bool hs_metric_kind_decays(double kind);
extern double hs_metric_raw_value(const float8 *s, double kind, double latest_t, double latest_v);
extern double hs_interval_usecs(const Interval *span, const char *arg);
extern TimestampTz hs_decay_settings(FunctionCallInfo fcinfo, float8 *s);
extern void hs_decay_add(float8 *s, double t, double value, const char *aggname);
extern void hs_decay_merge(float8 *s1, const float8 *s2, const char *aggname);
extern double hs_decay_sum(const float8 *s);

extern void hs_invalid_state(const char *aggname, const char *what) pg_attribute_noreturn();
extern void hs_check_state_count(double count, const char *aggname, const char *what);
extern void hs_check_state_time(double t, const char *aggname, const char *what);
extern void hs_check_decay_state(const float8 *s, bool sums, const char *aggname);
extern void hs_check_metric_slot(const float8 *s, double kind, double latest_t, double latest_v,
								 const char *aggname);
extern int	hs_array_arg(FunctionCallInfo fcinfo, int argno, Oid elemtype, const char *arg,
						 bool allow_nulls, Datum **elems, bool **nulls);

extern TimestampTz hs_as_of_arg(FunctionCallInfo fcinfo, int argno);
extern bool hs_observation_arg(FunctionCallInfo fcinfo, TimestampTz as_of, double *observed_at,
							   double *value);
extern float8 *hs_float8_array(ArrayType *array, const char *arg, int *length);
extern ArrayType *hs_state_arg(FunctionCallInfo fcinfo, int argno, int length,
								const char *aggname, bool writable);

extern void hs_check_curve(const float8 *breakpoints, int nbreakpoints, const float8 *scores, int nscores);
extern double hs_scale_linear(const float8 *breakpoints, const float8 *scores, int n, double value);
extern double hs_scale_banded(const float8 *breakpoints, const float8 *scores, int n, double value);

#define HS_STATE_VALUES(state) ((float8 *) ARR_DATA_PTR(state))

#endif
