/*
 * latest.c: the latest value observed at or before as_of, point in time.
 *
 * For metrics that are a level rather than a flow (seats purchased, contract term, NPS):
 * the most recent observation is the truth. Ties on the time keep the larger value, so the
 * result does not depend on row order and partial states combine.
 *
 * State, float8[5]: {count, observed_at of the kept value, kept value, as_of, 1 once as_of
 * is set}; times in microseconds.
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#define LATEST_STATE_LEN 5
#define LATEST_COUNT 0
#define LATEST_TIME 1
#define LATEST_VALUE 2
#define LATEST_AS_OF 3
#define LATEST_AS_OF_SET 4

/*
 * Keep (t, value) if it is newer than what the state holds, or as new and larger; count
 * rows more (one row, or another state's) were seen.
 */
static void
latest_keep(float8 *s, double count, double t, double value)
{
	double		total = hs_count_add(s[LATEST_COUNT], count, "latest_value", "the count of rows");

	if (s[LATEST_COUNT] == 0 || t > s[LATEST_TIME] ||
		(t == s[LATEST_TIME] && value > s[LATEST_VALUE]))
	{
		s[LATEST_TIME] = t;
		s[LATEST_VALUE] = value;
	}
	s[LATEST_COUNT] = total;
}

/* Error unless s holds a state latest_value's functions can produce. */
static void
latest_check_state(const float8 *s)
{
	hs_check_state_count(s[LATEST_COUNT], "latest_value", "the count");
	if (s[LATEST_AS_OF_SET] != 0 && s[LATEST_AS_OF_SET] != 1)
		hs_invalid_state("latest_value", "the as_of flag must be 0 or 1");
	if (s[LATEST_AS_OF_SET] == 0 && s[LATEST_COUNT] != 0)
		hs_invalid_state("latest_value", "rows counted before as_of was set");
	if (s[LATEST_AS_OF_SET] == 1)
		hs_check_state_time(s[LATEST_AS_OF], "latest_value", "as_of");
	if (s[LATEST_COUNT] == 0)
		return;
	hs_check_state_time(s[LATEST_TIME], "latest_value", "the time of the kept value");
	if (!isfinite(s[LATEST_VALUE]) || s[LATEST_TIME] > s[LATEST_AS_OF])
		hs_invalid_state("latest_value", "the kept value must be finite, its time not after as_of");
}

PG_FUNCTION_INFO_V1(latest_accum);
/* latest_value transition: (state, value, observed_at, as_of) */
Datum
latest_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, LATEST_STATE_LEN, "latest_value", true);
	float8	   *s = HS_STATE_VALUES(state);
	TimestampTz as_of;
	double		observed_at;
	double		value;

	latest_check_state(s);
	as_of = hs_as_of_arg(fcinfo, 3);
	if (s[LATEST_AS_OF_SET] == 0)
	{
		s[LATEST_AS_OF] = (double) as_of;
		s[LATEST_AS_OF_SET] = 1;
	}
	else if (s[LATEST_AS_OF] != (double) as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));

	if (hs_observation_arg(fcinfo, as_of, &observed_at, &value))
		latest_keep(s, 1, observed_at, value);
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(latest_combine);
/* latest_value combine: the newer of the two kept values */
Datum
latest_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = hs_state_arg(fcinfo, 0, LATEST_STATE_LEN, "latest_value", true);
	ArrayType  *state2 = hs_state_arg(fcinfo, 1, LATEST_STATE_LEN, "latest_value", false);
	float8	   *s1 = HS_STATE_VALUES(state1);
	float8	   *s2 = HS_STATE_VALUES(state2);

	latest_check_state(s1);
	latest_check_state(s2);
	if (s1[LATEST_AS_OF_SET] != 0 && s2[LATEST_AS_OF_SET] != 0 &&
		s1[LATEST_AS_OF] != s2[LATEST_AS_OF])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));
	if (s1[LATEST_AS_OF_SET] == 0)
	{
		s1[LATEST_AS_OF] = s2[LATEST_AS_OF];
		s1[LATEST_AS_OF_SET] = s2[LATEST_AS_OF_SET];
	}
	if (s2[LATEST_COUNT] > 0)
		latest_keep(s1, s2[LATEST_COUNT], s2[LATEST_TIME], s2[LATEST_VALUE]);
	PG_RETURN_ARRAYTYPE_P(state1);
}

PG_FUNCTION_INFO_V1(latest_final);
/* latest_value final: the kept value, NULL when nothing was observed by as_of */
Datum
latest_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, LATEST_STATE_LEN, "latest_value", false);
	float8	   *s = HS_STATE_VALUES(state);

	latest_check_state(s);
	if (s[LATEST_COUNT] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[LATEST_VALUE]);
}
