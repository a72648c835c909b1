/*
 * scale.c: map a raw metric value onto a 0..100 sub-score with a scoring curve.
 *
 * A curve is two arrays of the same length: strictly increasing breakpoints and the score at
 * each breakpoint (any order, so both higher-is-better and lower-is-better curves work).
 */
#include "postgres.h"

#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"

typedef struct ScaleCurve
{
	int			length;
	const float8 *breakpoints;
	const float8 *scores;
} ScaleCurve;

/*
 * hs_check_curve: error unless breakpoints (nbreakpoints of them, strictly increasing, finite)
 * and scores (0-100) make a curve; the errors name the arguments.
 */
void
hs_check_curve(const float8 *breakpoints, int nbreakpoints, const float8 *scores, int nscores)
{
	int			i;

	if (nscores != nbreakpoints)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("breakpoints and scores must have the same length, got %d and %d",
						nbreakpoints, nscores)));
	for (i = 0; i < nbreakpoints; i++)
	{
		CHECK_FOR_INTERRUPTS();
		hs_check_finite(breakpoints[i], "breakpoints");
		hs_check_score(scores[i], "scores");
		if (i > 0 && breakpoints[i] <= breakpoints[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("breakpoints must be strictly increasing, but element %d (%g) follows %g",
							i + 1, breakpoints[i], breakpoints[i - 1])));
	}
}

/* Read and validate the curve in arguments 1 and 2; errors name the argument. */
static ScaleCurve
scale_curve_args(FunctionCallInfo fcinfo)
{
	ScaleCurve	curve;
	int			nscores;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("breakpoints must not be NULL")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("scores must not be NULL")));

	curve.breakpoints = hs_float8_array(PG_GETARG_ARRAYTYPE_P(1), "breakpoints", &curve.length);
	curve.scores = hs_float8_array(PG_GETARG_ARRAYTYPE_P(2), "scores", &nscores);
	hs_check_curve(curve.breakpoints, curve.length, curve.scores, nscores);
	return curve;
}

/* Index of the last breakpoint <= value, or -1 when value lies below the first one. */
static int
scale_segment(const ScaleCurve *curve, double value)
{
	int			lo = -1;
	int			hi = curve->length - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo + 1) / 2;

		if (curve->breakpoints[mid] <= value)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Read the value argument: NULL stays NULL (unknown), NaN and infinities are errors. */
static bool
scale_value_arg(FunctionCallInfo fcinfo, double *value)
{
	if (PG_ARGISNULL(0))
		return false;
	*value = PG_GETARG_FLOAT8(0);
	hs_check_finite(*value, "value");
	return true;
}

/*
 * hs_scale_linear: the piecewise-linear curve at value (finite), flat beyond both ends; the
 * curve checked by hs_check_curve.
 */
double
hs_scale_linear(const float8 *breakpoints, const float8 *scores, int n, double value)
{
	ScaleCurve	curve = {n, breakpoints, scores};
	int			i = scale_segment(&curve, value);
	double		offset;
	double		span;
	double		t;

	if (i < 0)
		return scores[0];
	if (i == n - 1)
		return scores[i];

	offset = value - breakpoints[i];
	span = breakpoints[i + 1] - breakpoints[i];
	if (isinf(offset) || isinf(span))
	{
		/* breakpoints near the float8 limits: the halves cannot overflow */
		offset = value / 2 - breakpoints[i] / 2;
		span = breakpoints[i + 1] / 2 - breakpoints[i] / 2;
	}
	t = Min(Max(offset / span, 0.0), 1.0);
	return scores[i] + t * (scores[i + 1] - scores[i]);
}

/* hs_scale_banded: the step curve at value (finite), breakpoint i starting band i */
double
hs_scale_banded(const float8 *breakpoints, const float8 *scores, int n, double value)
{
	ScaleCurve	curve = {n, breakpoints, scores};
	int			i = scale_segment(&curve, value);

	/* below the first breakpoint the first band's score applies (flat beyond the ends) */
	return scores[i < 0 ? 0 : i];
}

PG_FUNCTION_INFO_V1(scale_linear);
/* scale(value, breakpoints, scores): piecewise-linear curve, flat beyond both ends */
Datum
scale_linear(PG_FUNCTION_ARGS)
{
	ScaleCurve	curve = scale_curve_args(fcinfo);
	double		value;

	if (!scale_value_arg(fcinfo, &value))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(hs_scale_linear(curve.breakpoints, curve.scores, curve.length, value));
}

PG_FUNCTION_INFO_V1(scale_banded);
/* scale_banded(value, breakpoints, scores): step curve, breakpoint i starts band i */
Datum
scale_banded(PG_FUNCTION_ARGS)
{
	ScaleCurve	curve = scale_curve_args(fcinfo);
	double		value;

	if (!scale_value_arg(fcinfo, &value))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(hs_scale_banded(curve.breakpoints, curve.scores, curve.length, value));
}
