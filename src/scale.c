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

/* Read and validate the curve in arguments 1 and 2; errors name the argument. */
static ScaleCurve
scale_curve_args(FunctionCallInfo fcinfo)
{
	ScaleCurve	curve;
	int			nscores;
	int			i;

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
	if (nscores != curve.length)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("breakpoints and scores must have the same length, got %d and %d",
						curve.length, nscores)));

	for (i = 0; i < curve.length; i++)
	{
		CHECK_FOR_INTERRUPTS();
		hs_check_finite(curve.breakpoints[i], "breakpoints");
		hs_check_score(curve.scores[i], "scores");
		if (i > 0 && curve.breakpoints[i] <= curve.breakpoints[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("breakpoints must be strictly increasing, but element %d (%g) follows %g",
							i + 1, curve.breakpoints[i], curve.breakpoints[i - 1])));
	}
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

PG_FUNCTION_INFO_V1(scale_linear);
/* scale(value, breakpoints, scores): piecewise-linear curve, flat beyond both ends */
Datum
scale_linear(PG_FUNCTION_ARGS)
{
	ScaleCurve	curve = scale_curve_args(fcinfo);
	double		value;
	int			i;
	double		offset;
	double		span;
	double		t;

	if (!scale_value_arg(fcinfo, &value))
		PG_RETURN_NULL();

	i = scale_segment(&curve, value);
	if (i < 0)
		PG_RETURN_FLOAT8(curve.scores[0]);
	if (i == curve.length - 1)
		PG_RETURN_FLOAT8(curve.scores[i]);

	offset = value - curve.breakpoints[i];
	span = curve.breakpoints[i + 1] - curve.breakpoints[i];
	if (isinf(offset) || isinf(span))
	{
		/* breakpoints near the float8 limits: the halves cannot overflow */
		offset = value / 2 - curve.breakpoints[i] / 2;
		span = curve.breakpoints[i + 1] / 2 - curve.breakpoints[i] / 2;
	}
	t = Min(Max(offset / span, 0.0), 1.0);
	PG_RETURN_FLOAT8(curve.scores[i] + t * (curve.scores[i + 1] - curve.scores[i]));
}

PG_FUNCTION_INFO_V1(scale_banded);
/* scale_banded(value, breakpoints, scores): step curve, breakpoint i starts band i */
Datum
scale_banded(PG_FUNCTION_ARGS)
{
	ScaleCurve	curve = scale_curve_args(fcinfo);
	double		value;
	int			i;

	if (!scale_value_arg(fcinfo, &value))
		PG_RETURN_NULL();

	/* below the first breakpoint the first band's score applies (flat beyond the ends) */
	i = scale_segment(&curve, value);
	PG_RETURN_FLOAT8(curve.scores[i < 0 ? 0 : i]);
}
