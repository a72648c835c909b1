/*
 * metric_values.c: the raw values of every metric of an account in one aggregate.
 *
 * Scoring groups the observations by account only. Each row finds the metrics that read its
 * input in the catalog arrays (parsed once per query and kept in fn_extra) and updates
 * their slots of the state, so no row is ever joined with the catalog.
 *
 * The catalog arrives as four arrays of the same length, one element per metric (a slot):
 * inputs text[], half_lives interval[], max_ages interval[] (NULL: no limit) and
 * aggregations text[] (as metric_value). The result is a float8[] with one raw value per
 * slot, NULL for a metric without observations.
 *
 * State, float8[]: {as_of, 1 once as_of is set, a fingerprint of the catalog arrays}, then
 * per slot nine values: the six of the decay state (see decay.c, with the slot's half-life),
 * the latest time, the latest value and the aggregation. It starts empty ('{}') and is sized
 * on the first row; the fingerprint makes arrays that change within a group an error.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define VALUES_HEADER 3
#define VALUES_AS_OF 0
#define VALUES_AS_OF_SET 1
#define VALUES_CATALOG 2
#define SLOT_LEN 9
#define SLOT_LATEST_T 6
#define SLOT_LATEST_V 7
#define SLOT_KIND 8

#define VALUES_BUCKETS 64

static const char *const values_array_names[4] = {"inputs", "half_lives", "max_ages", "aggregations"};

/*
 * The catalog arrays, parsed once per query and again whenever their contents change (a
 * caller may pass other arrays on any row: the bytes are compared, not the pointers, since
 * a new array can land at the address of the last one). Slots reading the same input are
 * chained from a small hash table on the input name, so a row finds its metrics without
 * comparing its input with every metric's. Everything lives in its own memory context,
 * dropped when the arrays change.
 */
typedef struct ValuesCatalog
{
	MemoryContext mcxt;
	ArrayType  *arrays[4];		/* copies of the array arguments this was parsed from */
	uint32		fingerprint;	/* a hash of them, kept in the state to tell groups apart */
	int			nslots;
	char	  **inputs;
	int		   *input_lengths;
	double	   *half_life_us;
	double	   *max_age_us;		/* 0: no limit */
	int		   *kinds;
	int			bucket_first[VALUES_BUCKETS];	/* first slot in the bucket, -1 if none */
	int		   *bucket_next;	/* next slot in the same bucket, -1 at the end */
} ValuesCatalog;

/* A cheap hash of an input name: its length and its first and last bytes. */
static inline int
values_bucket(const char *name, int length)
{
	if (length == 0)
		return 0;
	return (length * 31 + (unsigned char) name[0] * 7 + (unsigned char) name[length - 1]) % VALUES_BUCKETS;
}

/* Parse and check the catalog arrays (arguments 5 to 8) into a new memory context. */
static ValuesCatalog *
values_catalog_parse(FunctionCallInfo fcinfo, ArrayType **arrays)
{
	MemoryContext mcxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "metric_values catalog",
											   ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	ValuesCatalog *cat = palloc0(sizeof(ValuesCatalog));
	Datum	   *inputs, *half_lives, *max_ages, *kinds;
	bool	   *in_nulls, *hl_nulls, *age_nulls, *kind_nulls;
	int			n, i;

	cat->mcxt = mcxt;
	n = hs_array_arg(fcinfo, 5, TEXTOID, "inputs", false, &inputs, &in_nulls);
	if (hs_array_arg(fcinfo, 6, INTERVALOID, "half_lives", false, &half_lives, &hl_nulls) != n ||
		hs_array_arg(fcinfo, 7, INTERVALOID, "max_ages", true, &max_ages, &age_nulls) != n ||
		hs_array_arg(fcinfo, 8, TEXTOID, "aggregations", false, &kinds, &kind_nulls) != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("inputs, half_lives, max_ages and aggregations must have the same length")));
	cat->nslots = n;
	cat->inputs = palloc(sizeof(char *) * Max(n, 1));
	cat->input_lengths = palloc(sizeof(int) * Max(n, 1));
	cat->half_life_us = palloc(sizeof(double) * Max(n, 1));
	cat->max_age_us = palloc(sizeof(double) * Max(n, 1));
	cat->kinds = palloc(sizeof(int) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		text	   *input = DatumGetTextPP(inputs[i]);

		CHECK_FOR_INTERRUPTS();
		cat->input_lengths[i] = VARSIZE_ANY_EXHDR(input);
		cat->inputs[i] = pnstrdup(VARDATA_ANY(input), cat->input_lengths[i]);
		cat->half_life_us[i] = hs_interval_usecs(DatumGetIntervalP(half_lives[i]), "half_lives");
		if (!(cat->half_life_us[i] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("half_lives must be positive, got element %d", i + 1)));
		cat->max_age_us[i] = age_nulls[i] ? 0 : hs_interval_usecs(DatumGetIntervalP(max_ages[i]), "max_ages");
		if (!age_nulls[i] && !(cat->max_age_us[i] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_ages must be positive or NULL, got element %d", i + 1)));
		cat->kinds[i] = hs_metric_kind(DatumGetTextPP(kinds[i]));
	}
	cat->fingerprint = 0;
	for (i = 0; i < 4; i++)
	{
		cat->arrays[i] = (ArrayType *) palloc(VARSIZE(arrays[i]));
		memcpy(cat->arrays[i], arrays[i], VARSIZE(arrays[i]));
		cat->fingerprint = hash_combine(cat->fingerprint,
										hash_bytes((const unsigned char *) arrays[i], VARSIZE(arrays[i])));
	}
	cat->bucket_next = palloc(sizeof(int) * Max(n, 1));
	for (i = 0; i < VALUES_BUCKETS; i++)
		cat->bucket_first[i] = -1;
	for (i = n - 1; i >= 0; i--)
	{
		int			b = values_bucket(cat->inputs[i], cat->input_lengths[i]);

		cat->bucket_next[i] = cat->bucket_first[b];
		cat->bucket_first[b] = i;
	}
	MemoryContextSwitchTo(old);
	return cat;
}

/* The parsed catalog, parsing again only when the arrays differ from the ones seen before. */
static ValuesCatalog *
values_catalog(FunctionCallInfo fcinfo)
{
	ValuesCatalog *cat = (ValuesCatalog *) fcinfo->flinfo->fn_extra;
	ArrayType  *arrays[4];
	bool		same = cat != NULL;
	int			i;

	for (i = 0; i < 4; i++)
	{
		if (PG_ARGISNULL(5 + i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", values_array_names[i])));
		arrays[i] = PG_GETARG_ARRAYTYPE_P(5 + i);
		same = same && VARSIZE(arrays[i]) == VARSIZE(cat->arrays[i]) &&
			memcmp(arrays[i], cat->arrays[i], VARSIZE(arrays[i])) == 0;
	}
	if (same)
		return cat;
	if (cat != NULL)
	{
		fcinfo->flinfo->fn_extra = NULL;
		MemoryContextDelete(cat->mcxt);
	}
	cat = values_catalog_parse(fcinfo, arrays);
	fcinfo->flinfo->fn_extra = cat;
	return cat;
}

/* Error unless the header of a state is one the functions produce. */
static void
values_check_header(const float8 *s)
{
	if (s[VALUES_AS_OF_SET] != 0 && s[VALUES_AS_OF_SET] != 1)
		hs_invalid_state("metric_values", "the as_of flag must be 0 or 1");
	if (s[VALUES_AS_OF_SET] == 0)
		return;
	hs_check_state_time(s[VALUES_AS_OF], "metric_values", "as_of");
	if (!(s[VALUES_CATALOG] >= 0 && s[VALUES_CATALOG] <= PG_UINT32_MAX &&
		  s[VALUES_CATALOG] == floor(s[VALUES_CATALOG])))
		hs_invalid_state("metric_values", "the catalog fingerprint must be a whole number within 0 and 2^32 - 1");
}

/* Error unless a slot is one the functions produce for a state with this header. */
static void
values_check_slot(const float8 *s, const float8 *slot)
{
	if (s[VALUES_AS_OF_SET] == 0 ? slot[DECAY_COUNT] != 0 : slot[DECAY_AS_OF] != s[VALUES_AS_OF])
		hs_invalid_state("metric_values", "a metric's as_of differs from the state's");
	hs_check_metric_slot(slot, slot[SLOT_KIND], slot[SLOT_LATEST_T], slot[SLOT_LATEST_V], "metric_values");
}

/* The whole state in argument argno, checked: its length, header and every slot. */
static ArrayType *
values_checked_state(FunctionCallInfo fcinfo, int argno, bool writable)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(argno);
	int			n = ArrayGetNItems(ARR_NDIM(state), ARR_DIMS(state));
	float8	   *s;
	int			i;

	if (n < VALUES_HEADER || (n - VALUES_HEADER) % SLOT_LEN != 0)
		hs_invalid_state("metric_values", psprintf("%d elements are not a header and whole slots", n));
	state = hs_state_arg(fcinfo, argno, n, "metric_values", writable);
	s = HS_STATE_VALUES(state);
	values_check_header(s);
	for (i = 0; i < (n - VALUES_HEADER) / SLOT_LEN; i++)
	{
		CHECK_FOR_INTERRUPTS();
		values_check_slot(s, s + VALUES_HEADER + SLOT_LEN * i);
	}
	return state;
}

/* The state in argument 0, sized for nslots: a new one (in the aggregate's memory) when empty. */
static ArrayType *
values_state(FunctionCallInfo fcinfo, int nslots)
{
	ArrayType  *state;
	MemoryContext aggcontext;
	int			length = VALUES_HEADER + SLOT_LEN * nslots;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric_values: state must not be NULL")));
	state = PG_GETARG_ARRAYTYPE_P(0);
	if (ArrayGetNItems(ARR_NDIM(state), ARR_DIMS(state)) == 0)
	{
		MemoryContext old;
		Datum	   *zeros;
		int			i;

		if (!AggCheckCallContext(fcinfo, &aggcontext))
			aggcontext = CurrentMemoryContext;
		old = MemoryContextSwitchTo(aggcontext);
		zeros = palloc(sizeof(Datum) * length);
		for (i = 0; i < length; i++)
			zeros[i] = Float8GetDatum(0.0);
		state = construct_array(zeros, length, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
		pfree(zeros);			/* a group's state lives as long as the group: so would zeros */
		MemoryContextSwitchTo(old);
		return state;
	}
	state = hs_state_arg(fcinfo, 0, length, "metric_values", true);
	values_check_header(HS_STATE_VALUES(state));
	/* called directly, the state may be built by hand; in an aggregate it is the last row's */
	if (!AggCheckCallContext(fcinfo, NULL))
		for (int i = 0; i < nslots; i++)
			values_check_slot(HS_STATE_VALUES(state), HS_STATE_VALUES(state) + VALUES_HEADER + SLOT_LEN * i);
	return state;
}

/* Add one observation to a slot: decayed sums or the latest value, as its aggregation wants. */
static void
values_slot_add(float8 *slot, double t, double value)
{
	if (hs_metric_kind_decays(slot[SLOT_KIND]))
		hs_decay_add(slot, t, value, "metric_values");
	else
	{
		if (slot[DECAY_COUNT] == 0 || t > slot[SLOT_LATEST_T] ||
			(t == slot[SLOT_LATEST_T] && value > slot[SLOT_LATEST_V]))
		{
			slot[SLOT_LATEST_T] = t;
			slot[SLOT_LATEST_V] = value;
		}
		slot[DECAY_COUNT] = hs_count_add(slot[DECAY_COUNT], 1, "metric_values", "the count of rows");
	}
}

/*
 * Merge the rows of slot b into slot a, two slots of one metric (same settings and as_of):
 * the decayed sums on the newer reference, or the later latest value. Only the row data
 * moves, so a slot keeps its own as_of.
 */
static void
values_slot_merge(float8 *a, const float8 *b)
{
	if (b[DECAY_COUNT] == 0)
		return;
	if (a[DECAY_COUNT] == 0)
	{
		a[DECAY_COUNT] = b[DECAY_COUNT];
		a[DECAY_SUM_W] = b[DECAY_SUM_W];
		a[DECAY_SUM_WV] = b[DECAY_SUM_WV];
		a[DECAY_REF] = b[DECAY_REF];
		a[SLOT_LATEST_T] = b[SLOT_LATEST_T];
		a[SLOT_LATEST_V] = b[SLOT_LATEST_V];
	}
	else if (hs_metric_kind_decays(a[SLOT_KIND]))
		hs_decay_merge(a, b, "metric_values");
	else
	{
		a[DECAY_COUNT] = hs_count_add(a[DECAY_COUNT], b[DECAY_COUNT], "metric_values", "the count of rows");
		if (b[SLOT_LATEST_T] > a[SLOT_LATEST_T] ||
			(b[SLOT_LATEST_T] == a[SLOT_LATEST_T] && b[SLOT_LATEST_V] > a[SLOT_LATEST_V]))
		{
			a[SLOT_LATEST_T] = b[SLOT_LATEST_T];
			a[SLOT_LATEST_V] = b[SLOT_LATEST_V];
		}
	}
}

PG_FUNCTION_INFO_V1(metric_values_accum);
/* metric_values transition: (state, value, observed_at, as_of, input, inputs, half_lives, max_ages, aggregations) */
Datum
metric_values_accum(PG_FUNCTION_ARGS)
{
	ValuesCatalog *cat = values_catalog(fcinfo);
	ArrayType  *state = values_state(fcinfo, cat->nslots);
	float8	   *s = HS_STATE_VALUES(state);
	TimestampTz as_of;
	double		observed_at;
	double		value;
	text	   *input;
	int			input_length;
	int			i;

	as_of = hs_as_of_arg(fcinfo, 3);
	if (s[VALUES_AS_OF_SET] == 0)
	{
		s[VALUES_AS_OF] = (double) as_of;
		s[VALUES_AS_OF_SET] = 1;
		s[VALUES_CATALOG] = cat->fingerprint;
		for (i = 0; i < cat->nslots; i++)
		{
			float8	   *slot = s + VALUES_HEADER + SLOT_LEN * i;

			CHECK_FOR_INTERRUPTS();
			if (slot[DECAY_COUNT] != 0)
				hs_invalid_state("metric_values", "rows counted before as_of was set");
			slot[DECAY_AS_OF] = (double) as_of;
			slot[DECAY_HALF_LIFE] = cat->half_life_us[i];
			slot[SLOT_KIND] = cat->kinds[i];
		}
	}
	else if (s[VALUES_AS_OF] != (double) as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));
	else if (s[VALUES_CATALOG] != cat->fingerprint)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the metric arrays must be the same for every row of a group")));

	if (PG_ARGISNULL(4) || !hs_observation_arg(fcinfo, as_of, &observed_at, &value))
		PG_RETURN_ARRAYTYPE_P(state);

	/* every metric that reads this input takes the observation */
	input = PG_GETARG_TEXT_PP(4);
	input_length = VARSIZE_ANY_EXHDR(input);
	for (i = cat->bucket_first[values_bucket(VARDATA_ANY(input), input_length)]; i >= 0; i = cat->bucket_next[i])
	{
		float8	   *slot = s + VALUES_HEADER + SLOT_LEN * i;

		if (cat->input_lengths[i] != input_length ||
			memcmp(cat->inputs[i], VARDATA_ANY(input), input_length) != 0)
			continue;
		if (slot[DECAY_HALF_LIFE] != cat->half_life_us[i] || slot[SLOT_KIND] != cat->kinds[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the metric arrays must be the same for every row of a group")));
		values_check_slot(s, slot);
		if (cat->max_age_us[i] > 0 && observed_at <= (double) as_of - cat->max_age_us[i])
			continue;
		values_slot_add(slot, observed_at, value);
	}
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(metric_values_combine);
/* metric_values combine: merge two partial states slot by slot */
Datum
metric_values_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *state2 = PG_GETARG_ARRAYTYPE_P(1);
	int			n1 = ArrayGetNItems(ARR_NDIM(state1), ARR_DIMS(state1));
	int			n2 = ArrayGetNItems(ARR_NDIM(state2), ARR_DIMS(state2));
	float8	   *s1;
	float8	   *s2;
	int			i;

	if (n2 == 0)
		PG_RETURN_ARRAYTYPE_P(n1 == 0 ? state1 : values_checked_state(fcinfo, 0, true));
	state2 = values_checked_state(fcinfo, 1, false);
	if (n1 == 0)
		PG_RETURN_ARRAYTYPE_P(state2);
	if (n1 != n2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metric_values: states of different shapes cannot be combined")));
	state1 = values_checked_state(fcinfo, 0, true);
	s1 = HS_STATE_VALUES(state1);
	s2 = HS_STATE_VALUES(state2);
	if (s2[VALUES_AS_OF_SET] == 0)
		PG_RETURN_ARRAYTYPE_P(state1);
	if (s1[VALUES_AS_OF_SET] == 0)
		PG_RETURN_ARRAYTYPE_P(state2);
	if (s1[VALUES_AS_OF] != s2[VALUES_AS_OF])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));
	if (s1[VALUES_CATALOG] != s2[VALUES_CATALOG])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the metric arrays must be the same for every row of a group")));
	for (i = 0; i < (n1 - VALUES_HEADER) / SLOT_LEN; i++)
	{
		float8	   *a = s1 + VALUES_HEADER + SLOT_LEN * i;
		float8	   *b = s2 + VALUES_HEADER + SLOT_LEN * i;

		CHECK_FOR_INTERRUPTS();
		if (a[SLOT_KIND] != b[SLOT_KIND] || a[DECAY_HALF_LIFE] != b[DECAY_HALF_LIFE])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the metric arrays must be the same for every row of a group")));
		values_slot_merge(a, b);
	}
	PG_RETURN_ARRAYTYPE_P(state1);
}

PG_FUNCTION_INFO_V1(metric_values_final);
/* metric_values final: one raw value per metric, NULL where nothing was observed */
Datum
metric_values_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			n = ArrayGetNItems(ARR_NDIM(state), ARR_DIMS(state));
	int			nslots;
	float8	   *s;
	Datum	   *values;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1] = {1};
	int			i;

	if (n == 0)
		PG_RETURN_NULL();
	state = values_checked_state(fcinfo, 0, false);
	s = HS_STATE_VALUES(state);
	nslots = (n - VALUES_HEADER) / SLOT_LEN;
	values = palloc(sizeof(Datum) * Max(nslots, 1));
	nulls = palloc(sizeof(bool) * Max(nslots, 1));
	for (i = 0; i < nslots; i++)
	{
		float8	   *slot = s + VALUES_HEADER + SLOT_LEN * i;

		nulls[i] = slot[DECAY_COUNT] == 0;
		values[i] = Float8GetDatum(nulls[i] ? 0.0 :
								   hs_metric_raw_value(slot, slot[SLOT_KIND], slot[SLOT_LATEST_T], slot[SLOT_LATEST_V]));
	}
	dims[0] = nslots;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 1, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Rolling forward (metric_values_roll). A state does not depend on its as_of but through the
 * rows it took in: each slot's decayed sums are kept relative to its newest row, and only
 * the final function weighs them to as_of. So the state of an earlier as_of, moved to a
 * later one and merged with the state of the rows observed since, is the state of every row
 * at the later as_of, with no factor compounded day after day. What cannot roll is a
 * decayed slot with a max_age: a row that ages out cannot be taken back out of its sums.
 * Those slots come from a state of the rows within max_age instead (windowed). A latest or
 * days_since slot with a max_age rolls: when its latest row ages out, so did every older one.
 */

/* A part of a roll: the state in argument argno, or NULL when NULL, empty or without rows. */
static ArrayType *
values_roll_part(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *state;

	if (PG_ARGISNULL(argno))
		return NULL;
	state = PG_GETARG_ARRAYTYPE_P(argno);
	if (ArrayGetNItems(ARR_NDIM(state), ARR_DIMS(state)) == 0)
		return NULL;
	state = values_checked_state(fcinfo, argno, false);
	if (HS_STATE_VALUES(state)[VALUES_AS_OF_SET] == 0)
		return NULL;
	return state;
}

/* Error unless part has the shape, metric arrays and metric settings of first. */
static void
values_roll_check_same(ArrayType *first, ArrayType *part)
{
	float8	   *a = HS_STATE_VALUES(first);
	float8	   *b = HS_STATE_VALUES(part);
	int			n = ArrayGetNItems(ARR_NDIM(first), ARR_DIMS(first));
	int			i;

	if (ArrayGetNItems(ARR_NDIM(part), ARR_DIMS(part)) != n || a[VALUES_CATALOG] != b[VALUES_CATALOG])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metric_values_roll: the states must come from the same metric arrays")));
	for (i = 0; i < (n - VALUES_HEADER) / SLOT_LEN; i++)
	{
		float8	   *sa = a + VALUES_HEADER + SLOT_LEN * i;
		float8	   *sb = b + VALUES_HEADER + SLOT_LEN * i;

		if (sa[SLOT_KIND] != sb[SLOT_KIND] || sa[DECAY_HALF_LIFE] != sb[DECAY_HALF_LIFE])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("metric_values_roll: the states must come from the same metric arrays")));
	}
}

/* The max_ages argument (argno) in microseconds, 0 for none; nslots elements. */
static double *
values_roll_max_ages(FunctionCallInfo fcinfo, int argno, int nslots)
{
	Datum	   *ages;
	bool	   *nulls;
	double	   *usecs;
	int			i;

	if (hs_array_arg(fcinfo, argno, INTERVALOID, "max_ages", true, &ages, &nulls) != nslots)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("max_ages must have one element per metric of the states (%d)", nslots)));
	usecs = palloc(sizeof(double) * Max(nslots, 1));
	for (i = 0; i < nslots; i++)
	{
		usecs[i] = nulls[i] ? 0 : hs_interval_usecs(DatumGetIntervalP(ages[i]), "max_ages");
		if (!nulls[i] && !(usecs[i] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_ages must be positive or NULL, got element %d", i + 1)));
	}
	return usecs;
}

/* Clear a slot's rows, keeping its settings and as_of. */
static void
values_slot_clear(float8 *slot)
{
	slot[DECAY_COUNT] = 0;
	slot[DECAY_SUM_W] = 0;
	slot[DECAY_SUM_WV] = 0;
	slot[DECAY_REF] = 0;
	slot[SLOT_LATEST_T] = 0;
	slot[SLOT_LATEST_V] = 0;
}

PG_FUNCTION_INFO_V1(metric_values_roll);
/* metric_values_roll(state, as_of, fresh, windowed, max_ages): the state as of as_of from its parts */
Datum
metric_values_roll(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = hs_as_of_arg(fcinfo, 1);
	ArrayType  *parts[3];		/* the earlier state, the rows since, the rows within max_age */
	ArrayType  *first = NULL;
	ArrayType  *result;
	float8	   *r;
	double	   *max_age_us;
	int			n, nslots, i, p;

	parts[0] = values_roll_part(fcinfo, 0);
	parts[1] = values_roll_part(fcinfo, 2);
	parts[2] = values_roll_part(fcinfo, 3);
	if (parts[0] != NULL && HS_STATE_VALUES(parts[0])[VALUES_AS_OF] > (double) as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must not be before the as_of of state"),
				 errhint("A state rolls forward only; score an earlier date from all its rows.")));
	for (p = 1; p < 3; p++)
		if (parts[p] != NULL && HS_STATE_VALUES(parts[p])[VALUES_AS_OF] != (double) as_of)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be a state as of as_of", p == 1 ? "fresh" : "windowed")));
	for (p = 0; p < 3; p++)
		if (parts[p] != NULL)
		{
			if (first == NULL)
				first = parts[p];
			else
				values_roll_check_same(first, parts[p]);
		}
	if (first == NULL)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(FLOAT8OID));

	n = ArrayGetNItems(ARR_NDIM(first), ARR_DIMS(first));
	nslots = (n - VALUES_HEADER) / SLOT_LEN;
	max_age_us = values_roll_max_ages(fcinfo, 4, nslots);

	/* the shape and settings of the parts, as of as_of, without rows */
	result = (ArrayType *) palloc(VARSIZE(first));
	memcpy(result, first, VARSIZE(first));
	r = HS_STATE_VALUES(result);
	r[VALUES_AS_OF] = (double) as_of;
	for (i = 0; i < nslots; i++)
	{
		float8	   *slot = r + VALUES_HEADER + SLOT_LEN * i;
		bool		decays = hs_metric_kind_decays(slot[SLOT_KIND]);
		bool		windowed = decays && max_age_us[i] > 0;

		CHECK_FOR_INTERRUPTS();
		slot[DECAY_AS_OF] = (double) as_of;
		values_slot_clear(slot);
		for (p = 0; p < 3; p++)
			if (parts[p] != NULL && (p == 2) == windowed)
				values_slot_merge(slot, HS_STATE_VALUES(parts[p]) + VALUES_HEADER + SLOT_LEN * i);
		if (!decays && max_age_us[i] > 0 && slot[DECAY_COUNT] > 0 &&
			slot[SLOT_LATEST_T] <= (double) as_of - max_age_us[i])
			values_slot_clear(slot);
	}
	PG_RETURN_ARRAYTYPE_P(result);
}
