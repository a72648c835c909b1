/*
 * metric_value.c: one metric's raw value from its observations, whatever its aggregation.
 *
 * Scoring reads every observation once, grouped by account and metric, and each metric has
 * its own aggregation. One aggregate that knows them all costs one transition per row,
 * where one aggregate per kind (with FILTER) would cost several.
 *
 * State, float8[9]: the six of the decay state (see decay.c), then {kind, time of the
 * latest value, latest value}. Kinds: decayed_avg, decayed_sum, decayed_rate (decayed
 * events per day), latest, days_since (days from the latest observation to as_of).
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define METRIC_STATE_LEN 9
#define METRIC_KIND 6
#define METRIC_LATEST_T 7
#define METRIC_LATEST_V 8

static const char *const metric_kind_names[] = {
	NULL, "decayed_avg", "decayed_sum", "decayed_rate", "latest", "days_since"
};

/* The kind an aggregation name stands for; an unknown name is an error. */
int
hs_metric_kind(text *name)
{
	int			kind;

	for (kind = METRIC_DECAYED_AVG; kind <= METRIC_DAYS_SINCE; kind++)
	{
		const char *candidate = metric_kind_names[kind];

		if (VARSIZE_ANY_EXHDR(name) == strlen(candidate) &&
			memcmp(VARDATA_ANY(name), candidate, strlen(candidate)) == 0)
			return kind;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("aggregation must be one of decayed_avg, decayed_sum, decayed_rate, latest, days_since, got \"%s\"",
					text_to_cstring(name))));
	return METRIC_UNSET;		/* not reached */
}

bool
hs_metric_kind_decays(double kind)
{
	return kind == METRIC_DECAYED_AVG || kind == METRIC_DECAYED_SUM || kind == METRIC_DECAYED_RATE;
}

/*
 * Error unless a metric state (s: the decay state, then kind and latest observation) is one
 * its functions can produce; metric_value and each slot of metric_values share it.
 */
void
hs_check_metric_slot(const float8 *s, double kind, double latest_t, double latest_v,
					 const char *aggname)
{
	if (!(kind >= METRIC_UNSET && kind <= METRIC_DAYS_SINCE && kind == floor(kind)))
		hs_invalid_state(aggname, psprintf("unknown aggregation %g", kind));
	hs_check_decay_state(s, hs_metric_kind_decays(kind), aggname);
	if (kind == METRIC_UNSET && s[DECAY_COUNT] != 0)
		hs_invalid_state(aggname, "rows counted before the aggregation was set");
	/* the time is 0 (2000-01-01) until a row sets it, so it is always a valid time */
	hs_check_state_time(latest_t, aggname, "the time of the latest value");
	if (!isfinite(latest_v) ||
		(s[DECAY_COUNT] > 0 && !hs_metric_kind_decays(kind) && latest_t > s[DECAY_AS_OF]))
		hs_invalid_state(aggname, "the latest value must be finite, its time not after as_of");
}

/* The raw value of a kind from a decay state (s) and the latest observation kept. */
double
hs_metric_raw_value(const float8 *s, double kind, double latest_t, double latest_v)
{
	double		rate;

	switch ((int) kind)
	{
		case METRIC_DECAYED_AVG:
			return s[DECAY_SUM_WV] / s[DECAY_SUM_W];
		case METRIC_DECAYED_SUM:
			return hs_decay_sum(s);
		case METRIC_DECAYED_RATE:
			/*
			 * events per day: a decayed sum over an endless daily history is half_life / ln 2.
			 * A half-life shorter than a day scales the sum up, so a huge one overflows.
			 */
			rate = hs_decay_sum(s) * M_LN2 * USECS_PER_DAY / s[DECAY_HALF_LIFE];
			hs_check_sum(rate, "the decayed rate");
			return rate;
		case METRIC_LATEST:
			return latest_v;
		case METRIC_DAYS_SINCE:
			return (s[DECAY_AS_OF] - latest_t) / USECS_PER_DAY;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("metric state has an unknown aggregation %g", kind)));
	return 0;					/* not reached */
}

/* The kind named by argument 5. */
static int
metric_kind_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("aggregation must not be NULL")));
	return hs_metric_kind(PG_GETARG_TEXT_PP(5));
}

/* Keep (t, value) if it is newer than the latest, or as new and larger (as latest_value). */
static void
metric_keep_latest(float8 *s, double t, double value, bool first)
{
	if (first || t > s[METRIC_LATEST_T] ||
		(t == s[METRIC_LATEST_T] && value > s[METRIC_LATEST_V]))
	{
		s[METRIC_LATEST_T] = t;
		s[METRIC_LATEST_V] = value;
	}
}

static void
metric_check_state(const float8 *s)
{
	hs_check_metric_slot(s, s[METRIC_KIND], s[METRIC_LATEST_T], s[METRIC_LATEST_V], "metric_value");
}

PG_FUNCTION_INFO_V1(metric_value_accum);
/* metric_value transition: (state, value, observed_at, as_of, half_life, aggregation) */
Datum
metric_value_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, METRIC_STATE_LEN, "metric_value", true);
	float8	   *s = HS_STATE_VALUES(state);
	int			kind;
	TimestampTz as_of;
	double		observed_at;
	double		value;

	metric_check_state(s);
	kind = metric_kind_arg(fcinfo);
	as_of = hs_decay_settings(fcinfo, s);

	if (s[METRIC_KIND] == METRIC_UNSET)
		s[METRIC_KIND] = kind;
	else if (s[METRIC_KIND] != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("aggregation must be the same for every row of a group")));

	if (!hs_observation_arg(fcinfo, as_of, &observed_at, &value))
		PG_RETURN_ARRAYTYPE_P(state);
	if (hs_metric_kind_decays(kind))
		hs_decay_add(s, observed_at, value, "metric_value");
	else
	{
		metric_keep_latest(s, observed_at, value, s[DECAY_COUNT] == 0);
		s[DECAY_COUNT] = hs_count_add(s[DECAY_COUNT], 1, "metric_value", "the count of rows");
	}
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(metric_value_combine);
/* metric_value combine: merge two partial states */
Datum
metric_value_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = hs_state_arg(fcinfo, 0, METRIC_STATE_LEN, "metric_value", true);
	ArrayType  *state2 = hs_state_arg(fcinfo, 1, METRIC_STATE_LEN, "metric_value", false);
	float8	   *s1 = HS_STATE_VALUES(state1);
	float8	   *s2 = HS_STATE_VALUES(state2);

	metric_check_state(s1);
	metric_check_state(s2);
	if (s2[METRIC_KIND] == METRIC_UNSET)
		PG_RETURN_ARRAYTYPE_P(state1);
	if (s1[METRIC_KIND] == METRIC_UNSET || s1[DECAY_COUNT] == 0)
	{
		if (s1[METRIC_KIND] != METRIC_UNSET && s1[METRIC_KIND] != s2[METRIC_KIND])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("aggregation must be the same for every row of a group")));
		memcpy(s1, s2, sizeof(float8) * METRIC_STATE_LEN);
		PG_RETURN_ARRAYTYPE_P(state1);
	}
	if (s1[METRIC_KIND] != s2[METRIC_KIND] ||
		s1[DECAY_AS_OF] != s2[DECAY_AS_OF] || s1[DECAY_HALF_LIFE] != s2[DECAY_HALF_LIFE])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of, half_life and aggregation must be the same for every row of a group")));
	if (s2[DECAY_COUNT] == 0)
		PG_RETURN_ARRAYTYPE_P(state1);

	if (hs_metric_kind_decays(s1[METRIC_KIND]))
		hs_decay_merge(s1, s2, "metric_value");
	else
	{
		s1[DECAY_COUNT] = hs_count_add(s1[DECAY_COUNT], s2[DECAY_COUNT], "metric_value", "the count of rows");
		metric_keep_latest(s1, s2[METRIC_LATEST_T], s2[METRIC_LATEST_V], false);
	}
	PG_RETURN_ARRAYTYPE_P(state1);
}

PG_FUNCTION_INFO_V1(metric_value_final);
/* metric_value final: the raw value for the state's kind, NULL when nothing was observed */
Datum
metric_value_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, METRIC_STATE_LEN, "metric_value", false);
	float8	   *s = HS_STATE_VALUES(state);

	metric_check_state(s);
	if (s[DECAY_COUNT] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(hs_metric_raw_value(s, s[METRIC_KIND], s[METRIC_LATEST_T], s[METRIC_LATEST_V]));
}
