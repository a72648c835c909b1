/*
 * metric_level.c: the metric level of scoring in one call per account.
 *
 * metric_level(raw_values, age_days, spoilt, <the catalog>, <the account's segment>) turns an
 * account's raw values (metric_values' result, in the catalog's slot order) into its metric
 * rows, as the SQL it replaced did slot by slot: absent values (absent_means, days_since from
 * the account's age), a decayed_rate over the decayed exposure since the account started,
 * the effective weights (as effective_weights), and each metric's curve (as scale and
 * scale_banded). That SQL built an array of the slots per account with a subquery, unnested
 * it beside the weights and called a curve per row: about 100 µs an account, against a few
 * here (bench/snapshot.sh).
 *
 * The catalog and segment arguments are the same for every account of a segment: they are
 * parsed and checked once per query and kept in fn_extra, compared byte for byte on each call
 * (as account_score.c keeps its bands). A curve is checked when it is first used, as scale
 * did, so a metric no account has data for never raises its curve's error.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "health_score.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

/* Arguments. */
#define ARG_RAW_VALUES 0
#define ARG_AGE_DAYS 1
#define ARG_SPOILT 2
#define ARG_FIRST_CATALOG 3		/* metrics ... score_counts */
#define CATALOG_ARGS 11
#define ARG_FIRST_SEGMENT (ARG_FIRST_CATALOG + CATALOG_ARGS)	/* dimension_nos ... */
#define SEGMENT_ARGS 4
#define LEVEL_ARGS (ARG_FIRST_SEGMENT + SEGMENT_ARGS)

#define LEVEL_NATTS 7
#define LEVEL_SEGMENTS_SEARCHED 16

static const char *const level_arg_names[LEVEL_ARGS] =
{"raw_values", "age_days", "spoilt",
	"metrics", "dimensions", "aggregations", "absent_means", "half_life_days", "max_age_days",
	"curves", "breakpoints", "breakpoint_counts", "scores", "score_counts",
"groups", "weights", "group_weights", "coverage_shares"};

/* Argument values, copied, to tell whether a call passes the same ones. */
typedef struct ArgCopies
{
	int			n;
	int			first;
	ArrayType  *values[CATALOG_ARGS];
} ArgCopies;

/* The metrics, in slot order: what the catalog arguments say. */
typedef struct LevelCatalog
{
	ArgCopies	args;			/* the arrays below point into these */
	int			n;
	Datum	   *metrics;		/* text */
	Datum	   *dimensions;		/* text */
	int		   *kinds;			/* METRIC_* */
	bool	   *absent_zero;
	float8	   *half_life_days;
	float8	   *max_age_days;
	bool	   *max_age_known;
	bool	   *banded;
	const float8 **breakpoints;
	const float8 **scores;
	int		   *curve_lengths;	/* breakpoints */
	int		   *score_lengths;
	bool	   *curve_checked;
} LevelCatalog;

/* One segment's weights, in slot order. */
typedef struct LevelSegment
{
	struct LevelSegment *next;
	ArgCopies	args;
	int			ngroups;
	int32	   *groups;			/* 1-based */
	float8	   *weights;
	float8	   *group_weights;
	float8	   *coverage_shares;
} LevelSegment;

typedef struct LevelQuery
{
	LevelCatalog *catalog;
	LevelSegment *segments;		/* the last used first */
	TupleDesc	tupdesc;
} LevelQuery;

/* The argument as stored, not detoasted unless it is compressed or out of line. */
static struct varlena *
arg_bytes(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *v = (struct varlena *) PG_GETARG_POINTER(argno);

	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
		v = PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));
	return v;
}

/* Whether arguments first .. first + n - 1 are the ones copied (none may be NULL). */
static bool
args_match(FunctionCallInfo fcinfo, const ArgCopies *copies)
{
	int			i;

	for (i = 0; i < copies->n; i++)
	{
		struct varlena *v = arg_bytes(fcinfo, copies->first + i);

		if (VARSIZE_ANY_EXHDR(v) != VARSIZE(copies->values[i]) - VARHDRSZ ||
			memcmp(VARDATA_ANY(v), VARDATA(copies->values[i]), VARSIZE_ANY_EXHDR(v)) != 0)
			return false;
	}
	return true;
}

/* Copies of arguments first .. first + n - 1 (arrays), in the current memory context. */
static void
args_copy(FunctionCallInfo fcinfo, int first, int n, ArgCopies *copies)
{
	int			i;

	copies->first = first;
	copies->n = n;
	for (i = 0; i < n; i++)
		copies->values[i] = DatumGetArrayTypePCopy(PG_GETARG_DATUM(first + i));
}

/*
 * The elements of the copy of argument argno (one-dimensional, of elemtype, n of them unless
 * n < 0), NULL elements only with nulls: an error naming the argument otherwise. Returns the
 * length.
 */
static int
elems_of(const ArgCopies *copies, int argno, Oid elemtype, int n, Datum **elems, bool **nulls)
{
	ArrayType  *array = copies->values[argno - copies->first];
	const char *arg = level_arg_names[argno];
	bool	   *isnull;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			length;

	if (ARR_ELEMTYPE(array) != elemtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s has the wrong element type", arg)));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", arg)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, elems, &isnull, &length);
	if (nulls == NULL && ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", arg)));
	if (n >= 0 && length != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have one element per metric (%d), got %d", arg, n, length)));
	if (nulls)
		*nulls = isnull;
	return length;
}

static int32 *
int4_elems(const ArgCopies *copies, int argno, int n)
{
	Datum	   *elems;
	int32	   *result = palloc(sizeof(int32) * Max(n, 1));
	int			i;

	elems_of(copies, argno, INT4OID, n, &elems, NULL);
	for (i = 0; i < n; i++)
		result[i] = DatumGetInt32(elems[i]);
	return result;
}

static float8 *
float8_elems(const ArgCopies *copies, int argno, int *n)
{
	Datum	   *elems;
	float8	   *result;
	int			i;

	*n = elems_of(copies, argno, FLOAT8OID, *n, &elems, NULL);
	result = palloc(sizeof(float8) * Max(*n, 1));
	for (i = 0; i < *n; i++)
		result[i] = DatumGetFloat8(elems[i]);
	return result;
}

static bool
text_is(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);

	return VARSIZE_ANY_EXHDR(t) == strlen(s) && memcmp(VARDATA_ANY(t), s, strlen(s)) == 0;
}

/* The catalog arguments, copied and parsed into the current memory context. */
static LevelCatalog *
catalog_parse(FunctionCallInfo fcinfo)
{
	LevelCatalog *cat = palloc0(sizeof(LevelCatalog));
	const ArgCopies *args = &cat->args;
	Datum	   *elems;
	bool	   *nulls;
	float8	   *breakpoints;
	float8	   *scores;
	int			nbreakpoints = -1,
				nscores = -1,
				at_breakpoint = 0,
				at_score = 0;
	int32	   *breakpoint_counts;
	int32	   *score_counts;
	int			n,
				i;

	args_copy(fcinfo, ARG_FIRST_CATALOG, CATALOG_ARGS, &cat->args);
	n = cat->n = elems_of(args, ARG_FIRST_CATALOG, TEXTOID, -1, &cat->metrics, NULL);
	elems_of(args, ARG_FIRST_CATALOG + 1, TEXTOID, n, &cat->dimensions, NULL);
	cat->kinds = palloc(sizeof(int) * Max(n, 1));
	elems_of(args, ARG_FIRST_CATALOG + 2, TEXTOID, n, &elems, NULL);
	for (i = 0; i < n; i++)
		cat->kinds[i] = hs_metric_kind(DatumGetTextPP(elems[i]));
	cat->absent_zero = palloc(sizeof(bool) * Max(n, 1));
	elems_of(args, ARG_FIRST_CATALOG + 3, TEXTOID, n, &elems, NULL);
	for (i = 0; i < n; i++)
		cat->absent_zero[i] = text_is(elems[i], "zero");
	cat->half_life_days = float8_elems(args, ARG_FIRST_CATALOG + 4, &n);
	cat->max_age_days = palloc(sizeof(float8) * Max(n, 1));
	cat->max_age_known = palloc(sizeof(bool) * Max(n, 1));
	elems_of(args, ARG_FIRST_CATALOG + 5, FLOAT8OID, n, &elems, &nulls);
	for (i = 0; i < n; i++)
	{
		cat->max_age_known[i] = !nulls[i];
		cat->max_age_days[i] = nulls[i] ? 0 : DatumGetFloat8(elems[i]);
	}
	cat->banded = palloc(sizeof(bool) * Max(n, 1));
	elems_of(args, ARG_FIRST_CATALOG + 6, TEXTOID, n, &elems, NULL);
	for (i = 0; i < n; i++)
		cat->banded[i] = text_is(elems[i], "banded");

	/* the curves, end to end: breakpoint_counts and score_counts say where each ends */
	breakpoints = float8_elems(args, ARG_FIRST_CATALOG + 7, &nbreakpoints);
	breakpoint_counts = int4_elems(args, ARG_FIRST_CATALOG + 8, n);
	scores = float8_elems(args, ARG_FIRST_CATALOG + 9, &nscores);
	score_counts = int4_elems(args, ARG_FIRST_CATALOG + 10, n);
	cat->breakpoints = palloc(sizeof(float8 *) * Max(n, 1));
	cat->scores = palloc(sizeof(float8 *) * Max(n, 1));
	cat->curve_lengths = palloc(sizeof(int) * Max(n, 1));
	cat->score_lengths = palloc(sizeof(int) * Max(n, 1));
	cat->curve_checked = palloc0(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (breakpoint_counts[i] < 1 || breakpoint_counts[i] > nbreakpoints - at_breakpoint ||
			score_counts[i] < 1 || score_counts[i] > nscores - at_score)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("breakpoint_counts and score_counts must divide breakpoints and scores into one non-empty curve per metric")));
		cat->breakpoints[i] = breakpoints + at_breakpoint;
		cat->scores[i] = scores + at_score;
		cat->curve_lengths[i] = breakpoint_counts[i];
		cat->score_lengths[i] = score_counts[i];
		at_breakpoint += breakpoint_counts[i];
		at_score += score_counts[i];
	}
	return cat;
}

/* A segment's arguments, copied, parsed into the current memory context and checked. */
static LevelSegment *
segment_parse(FunctionCallInfo fcinfo, int n)
{
	LevelSegment *seg = palloc0(sizeof(LevelSegment));
	int			i;

	args_copy(fcinfo, ARG_FIRST_SEGMENT, SEGMENT_ARGS, &seg->args);
	seg->groups = int4_elems(&seg->args, ARG_FIRST_SEGMENT, n);
	seg->weights = float8_elems(&seg->args, ARG_FIRST_SEGMENT + 1, &n);
	seg->ngroups = -1;
	seg->group_weights = float8_elems(&seg->args, ARG_FIRST_SEGMENT + 2, &seg->ngroups);
	seg->coverage_shares = float8_elems(&seg->args, ARG_FIRST_SEGMENT + 3, &n);
	for (i = 0; i < seg->ngroups; i++)
		hs_check_weight(seg->group_weights[i], "group_weights");
	for (i = 0; i < n; i++)
	{
		if (seg->groups[i] < 1 || seg->groups[i] > seg->ngroups)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("groups must be within 1 and %d (the length of group_weights), got %d",
							seg->ngroups, seg->groups[i])));
		hs_check_weight(seg->weights[i], "weights");
	}
	return seg;
}

/* The query's parsed catalog and segment for this call's arguments. */
static LevelQuery *
level_query(FunctionCallInfo fcinfo, LevelSegment **segment)
{
	LevelQuery *query = (LevelQuery *) fcinfo->flinfo->fn_extra;
	LevelSegment *seg,
			   *prev = NULL;
	MemoryContext old;
	int			searched = 0;
	int			i;

	for (i = ARG_FIRST_CATALOG; i < LEVEL_ARGS; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", level_arg_names[i])));
	if (query == NULL)
	{
		TupleDesc	tupdesc;

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE || tupdesc->natts != LEVEL_NATTS)
			elog(ERROR, "metric_level: return type must be a row type of %d columns", LEVEL_NATTS);
		query = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(LevelQuery));
		query->tupdesc = CreateTupleDescCopy(tupdesc);
		fcinfo->flinfo->fn_extra = query;
	}

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (query->catalog == NULL || !args_match(fcinfo, &query->catalog->args))
	{
		/* another catalog (rare: one query passes one): its segments go with the old one */
		query->catalog = catalog_parse(fcinfo);
		query->segments = NULL;
	}
	for (seg = query->segments; seg != NULL && searched < LEVEL_SEGMENTS_SEARCHED; prev = seg, seg = seg->next, searched++)
		if (args_match(fcinfo, &seg->args))
			break;
	if (seg == NULL || searched == LEVEL_SEGMENTS_SEARCHED)
	{
		seg = segment_parse(fcinfo, query->catalog->n);
		prev = NULL;
		seg->next = query->segments;
		query->segments = seg;
	}
	else if (prev != NULL)
	{
		/* the last used first: accounts of one segment often come together */
		prev->next = seg->next;
		seg->next = query->segments;
		query->segments = seg;
	}
	MemoryContextSwitchTo(old);
	*segment = seg;
	return query;
}

/*
 * An optional array argument (raw_values, spoilt) as elements and NULL flags, slots beyond
 * its end NULL; NULL as a whole: every slot NULL.
 */
static void
optional_slots(FunctionCallInfo fcinfo, int argno, Oid elemtype, int n, Datum *values, bool *nulls)
{
	Datum	   *elems;
	bool	   *isnull;
	int			length = 0,
				i;

	if (!PG_ARGISNULL(argno))
		length = hs_array_arg(fcinfo, argno, elemtype, level_arg_names[argno], true, &elems, &isnull);
	for (i = 0; i < n; i++)
	{
		nulls[i] = i >= length || isnull[i];
		values[i] = nulls[i] ? (Datum) 0 : elems[i];
	}
}

/* x / y as float8div computes it: its errors for a zero divisor and an overflow. */
static double
divide(double x, double y)
{
	double		r;

	if (unlikely(y == 0.0) && !isnan(x))
		float_zero_divide_error();
	r = x / y;
	if (unlikely(isinf(r)) && !isinf(x) && !isinf(y))
		float_overflow_error();
	return r;
}

/*
 * The raw value of slot i as scoring reads it, false for no data: absent_means for a value
 * not observed, the decayed exposure since the account started for a decayed_rate. The
 * operations are those of the SQL it replaced, in its order, so the results are the same to
 * the bit: least() of SQL skips a NULL max_age.
 */
static bool
slot_value(const LevelCatalog *cat, int i, bool observed, double raw, bool age_known, double age_days,
		   double *value)
{
	double		days;

	if (!observed)
	{
		if (!cat->absent_zero[i])
			return false;
		if (cat->kinds[i] != METRIC_DAYS_SINCE)
		{
			*value = 0;
			return true;
		}
		if (!age_known)
			return false;
		*value = cat->max_age_known[i] ? Min(age_days, cat->max_age_days[i]) : age_days;
		return true;
	}
	if (cat->kinds[i] == METRIC_DECAYED_RATE && age_known)
	{
		days = cat->max_age_known[i] ? Min(age_days, cat->max_age_days[i]) : age_days;
		days = Min(divide(Max(days, 7.0), cat->half_life_days[i]), 1000.0);
		*value = divide(raw, 1 - pow(2.0, -days));
		return true;
	}
	*value = raw;
	return true;
}

PG_FUNCTION_INFO_V1(metric_level);
/*
 * metric_level(raw_values, age_days, spoilt, metrics, dimensions, aggregations, absent_means,
 * half_life_days, max_age_days, curves, breakpoints, breakpoint_counts, scores, score_counts,
 * groups, weights, group_weights, coverage_shares): one row per metric with data, in slot
 * order: metric, dimension, raw_value, sub_score, effective_weight, contribution,
 * coverage_share.
 */
Datum
metric_level(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LevelSegment *seg;
	LevelQuery *query;
	LevelCatalog *cat;
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	MemoryContext old;
	Datum	   *raw;
	bool	   *raw_null;
	Datum	   *spoilt;
	bool	   *spoilt_null;
	double	   *values;
	bool	   *known;
	double	   *known_weight;
	double		known_group_weight = 0.0;
	bool		age_known = !PG_ARGISNULL(ARG_AGE_DAYS);
	double		age_days = age_known ? PG_GETARG_FLOAT8(ARG_AGE_DAYS) : 0;
	int			n,
				i;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || (rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("metric_level must be called in a FROM clause")));
	query = level_query(fcinfo, &seg);
	cat = query->catalog;
	n = cat->n;

	raw = palloc(sizeof(Datum) * Max(n, 1));
	raw_null = palloc(sizeof(bool) * Max(n, 1));
	spoilt = palloc(sizeof(Datum) * Max(n, 1));
	spoilt_null = palloc(sizeof(bool) * Max(n, 1));
	values = palloc(sizeof(double) * Max(n, 1));
	known = palloc(sizeof(bool) * Max(n, 1));
	known_weight = palloc0(sizeof(double) * Max(seg->ngroups, 1));
	optional_slots(fcinfo, ARG_RAW_VALUES, FLOAT8OID, n, raw, raw_null);
	optional_slots(fcinfo, ARG_SPOILT, BOOLOID, n, spoilt, spoilt_null);

	/* the values, then the weights of the groups (dimensions) and metrics with data */
	for (i = 0; i < n; i++)
	{
		int			g = seg->groups[i] - 1;

		known[i] = !(!spoilt_null[i] && DatumGetBool(spoilt[i])) &&
			slot_value(cat, i, !raw_null[i], raw_null[i] ? 0 : DatumGetFloat8(raw[i]), age_known, age_days,
					   &values[i]);
		if (!known[i])
			continue;
		if (known_weight[g] == 0.0)
			known_group_weight += seg->group_weights[g];
		known_weight[g] += seg->weights[i];
		hs_check_sum(known_weight[g], "the sum of weights");
	}
	hs_check_sum(known_group_weight, "the sum of group_weights");

	/* the caller frees the descriptor after each call: a copy each time */
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	store = tuplestore_begin_heap(false, false, work_mem);
	tupdesc = CreateTupleDescCopy(query->tupdesc);
	MemoryContextSwitchTo(old);
	for (i = 0; i < n; i++)
	{
		Datum		row[LEVEL_NATTS];
		bool		row_null[LEVEL_NATTS] = {false};
		int			g = seg->groups[i] - 1;
		double		sub_score;
		double		weight;

		if (!known[i])
			continue;
		hs_check_finite(values[i], "value");
		if (!cat->curve_checked[i])
		{
			hs_check_curve(cat->breakpoints[i], cat->curve_lengths[i], cat->scores[i], cat->score_lengths[i]);
			cat->curve_checked[i] = true;
		}
		sub_score = cat->banded[i]
			? hs_scale_banded(cat->breakpoints[i], cat->scores[i], cat->curve_lengths[i], values[i])
			: hs_scale_linear(cat->breakpoints[i], cat->scores[i], cat->curve_lengths[i], values[i]);
		weight = seg->weights[i] / known_weight[g] * seg->group_weights[g] / known_group_weight;
		row[0] = cat->metrics[i];
		row[1] = cat->dimensions[i];
		row[2] = Float8GetDatum(values[i]);
		row[3] = Float8GetDatum(sub_score);
		row[4] = Float8GetDatum(weight);
		row[5] = Float8GetDatum(weight * sub_score);
		row[6] = Float8GetDatum(seg->coverage_shares[i]);
		tuplestore_putvalues(store, tupdesc, row, row_null);
	}

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}
