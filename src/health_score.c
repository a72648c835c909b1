/*
 * health_score.c: module magic and the array helpers shared by the kernels.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

/*
 * hs_invalid_state: the error for a state that no transition function produces. States are
 * plain float8[], so anyone can hand one over; what names the part that is wrong.
 */
void
hs_invalid_state(const char *aggname, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: invalid state: %s", aggname, what),
			 errdetail("A state comes from the aggregate's own functions; this one was built or changed by hand.")));
}

/*
 * A count in a state must be a whole number within 0 and HS_MAX_COUNT: NaN, infinities and
 * huge counts would make NaN or wrong results (1e308 + 1e308 is infinite, 1e308 / inf 0).
 */
void
hs_check_state_count(double count, const char *aggname, const char *what)
{
	if (!(count >= 0 && count <= HS_MAX_COUNT && count == floor(count)))
		hs_invalid_state(aggname, psprintf("%s must be a whole number within 0 and %.0f, got %g",
										   what, HS_MAX_COUNT, count));
}

/*
 * A time in a state (a timestamptz in microseconds, as float8) must be one a timestamptz can
 * hold: a finite but huge number would make days_since and the decay weights nonsense. The
 * upper end is inclusive because the last valid timestamps round up to END_TIMESTAMP as
 * float8.
 */
void
hs_check_state_time(double t, const char *aggname, const char *what)
{
	if (!(t >= (double) MIN_TIMESTAMP && t <= (double) END_TIMESTAMP && t == floor(t)))
		hs_invalid_state(aggname, psprintf("%s must be a time within the range of timestamptz, got %g",
										   what, t));
}

/*
 * hs_array_arg: the elements of a one-dimensional array argument. NULL, several dimensions
 * and (unless allow_nulls) NULL elements are errors naming the argument. Returns the length.
 */
int
hs_array_arg(FunctionCallInfo fcinfo, int argno, Oid elemtype, const char *arg,
			 bool allow_nulls, Datum **elems, bool **nulls)
{
	ArrayType  *array;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", arg)));
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_ELEMTYPE(array) != elemtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s has the wrong element type", arg)));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", arg)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, elems, nulls, &n);
	if (!allow_nulls && ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", arg)));
	return n;
}

/*
 * hs_float8_array: the elements of a one-dimensional float8[] argument without copying.
 * Empty arrays, several dimensions and NULL elements are errors naming the argument.
 */
float8 *
hs_float8_array(ArrayType *array, const char *arg, int *length)
{
	int			n;

	if (ARR_ELEMTYPE(array) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a float8[]", arg)));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", arg)));
	n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", arg)));
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", arg)));
	*length = n;
	return (float8 *) ARR_DATA_PTR(array);
}

/*
 * hs_state_arg: the aggregate state in argument argno after checking its shape, so a state
 * crafted by hand (the type is a plain float8[]) cannot make a kernel read out of bounds.
 * With writable, inside an aggregate the state is ours and is updated in place (as
 * float8_accum does); called any other way it is copied, so a caller's value never changes.
 * A NULL state (the functions that take a value may be called on NULL input) is an error.
 */
ArrayType *
hs_state_arg(FunctionCallInfo fcinfo, int argno, int length, const char *aggname, bool writable)
{
	ArrayType  *state;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: state must not be NULL", aggname)));
	if (writable && !AggCheckCallContext(fcinfo, NULL))
		state = PG_GETARG_ARRAYTYPE_P_COPY(argno);
	else
		state = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] != length ||
		ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: state must be a float8[] of %d elements without NULLs",
						aggname, length)));
	return state;
}

/*
 * hs_as_of_arg: the as_of in argument argno, which must be a finite timestamp: the moment
 * every point-in-time kernel scores at.
 */
TimestampTz
hs_as_of_arg(FunctionCallInfo fcinfo, int argno)
{
	TimestampTz as_of;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL")));
	as_of = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite timestamp")));
	return as_of;
}

/*
 * hs_observation_arg: the observation in arguments 1 (value) and 2 (observed_at) of a
 * transition function. False when it does not count: a NULL value or time is no
 * observation, and one after as_of does not exist yet (point in time, exact in
 * microseconds). An infinite time or value is an error.
 */
bool
hs_observation_arg(FunctionCallInfo fcinfo, TimestampTz as_of, double *observed_at, double *value)
{
	TimestampTz t;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return false;
	t = PG_GETARG_TIMESTAMPTZ(2);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observed_at must be a finite timestamp")));
	*value = PG_GETARG_FLOAT8(1);
	hs_check_finite(*value, "value");
	if (t > as_of)
		return false;
	*observed_at = (double) t;
	return true;
}
