/*
 * account_score.c: the account level of scoring in one pass over an account's metric rows.
 *
 * score_account(metric, dimension, raw_value, sub_score, effective_weight, contribution,
 * coverage_share, min_coverage, bands, band_mins, band_maxes, tiers, tier_mins, tier_maxes)
 * is an aggregate over the metric rows of one account (the rows of metric_scores). It
 * returns the row type health_score.account_score: the score, band, alert tier, coverage,
 * dimension scores (typed and as jsonb) and the three weakest metrics, exactly as the SQL
 * formulation it replaced computed them. That formulation grouped the rows twice (by account
 * and dimension, then by account), ranked them with a window sort for the weakest metrics and
 * looked bands and tiers up with a subquery per account; this does all of it in one state.
 *
 * "Exactly" includes the rounding: round(x::numeric, n)::float8 goes through the decimal text
 * of x to 15 significant digits and rounds half away from zero in decimal, which a binary
 * round() does not reproduce (1.005 is 1.00499999999999989... in binary, but 1.01 in SQL; and
 * 47.5 goes up). round_as_numeric gives the same double without a numeric: from the binary
 * value when it is far from a half, from the 15 digits snprintf gives when it is near one.
 *
 * The state is internal (a C struct in the aggregate's memory): it holds text, and nobody can
 * hand one over from SQL. The catalog arguments (min_coverage, bands, tiers) are the same on
 * every row of a query; they are parsed once and kept, like metric_values' arrays.
 */
#include "postgres.h"

#include <float.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#define ACCOUNT_STATE_MAGIC 0x48534143	/* tells our state from another aggregate's */
#define ACCOUNT_MAX_DIMENSIONS 1000
#define ACCOUNT_WEAKEST 3
#define ACCOUNT_CATALOGS_SEARCHED 8

/* Arguments of the transition function (0 is the state). */
#define ARG_METRIC 1
#define ARG_DIMENSION 2
#define ARG_RAW_VALUE 3
#define ARG_SUB_SCORE 4
#define ARG_EFFECTIVE_WEIGHT 5
#define ARG_CONTRIBUTION 6
#define ARG_COVERAGE_SHARE 7
#define ARG_MIN_COVERAGE 8
#define ARG_FIRST_ARRAY 9
#define CATALOG_ARRAYS 6

/* Attributes of health_score.account_score, in order. */
#define ATT_SCORE 0
#define ATT_BAND 1
#define ATT_ALERT_TIER 2
#define ATT_COVERAGE 3
#define ATT_PRODUCT 4
#define ATT_RELATIONSHIP 5
#define ATT_BUSINESS 6
#define ATT_REASON 7
#define ATT_DIMENSION_SCORES 8
#define ATT_WEAKEST 9
#define ATT_BAD_ROWS 10
#define ACCOUNT_SCORE_NATTS 11

static const char *const catalog_array_names[CATALOG_ARRAYS] =
{"bands", "band_mins", "band_maxes", "tiers", "tier_mins", "tier_maxes"};

/* Ranges 0-100 named by bands or alert tiers. */
typedef struct ScoreRanges
{
	int			n;
	Datum	   *names;			/* text */
	float8	   *mins;
	float8	   *maxes;
} ScoreRanges;

/*
 * The catalog arguments of a query, parsed. Never freed before the query ends (they live in
 * the transition function's memory), since states point to them; a query that passes other
 * values adds another to the list.
 */
typedef struct ScoreCatalog
{
	struct ScoreCatalog *next;
	bool		min_coverage_null;
	float8		min_coverage;
	ArrayType  *arrays[CATALOG_ARRAYS];	/* copies of the arguments, to compare */
	ScoreRanges bands;
	ScoreRanges tiers;
} ScoreCatalog;

/*
 * The names of dimensions and metrics seen in a query, kept once for all its accounts (there
 * are a few dozen), so a state points to them instead of copying them; past ACCOUNT_NAMES
 * distinct names, a state copies its own.
 */
#define ACCOUNT_NAMES 128

typedef struct AccountQuery
{
	ScoreCatalog *catalogs;		/* the last parsed first */
	int			nnames;
	char	   *names[ACCOUNT_NAMES];
	int			lengths[ACCOUNT_NAMES];
} AccountQuery;

/* The sums of one dimension of an account; a has_ flag is false while every value was NULL. */
typedef struct AccountDimension
{
	const char *name;
	int			length;
	bool		bad;			/* a row without raw value */
	bool		has_contribution;
	bool		has_weight;
	bool		has_coverage;
	double		contribution;
	double		weight;
	double		coverage;
} AccountDimension;

/* A candidate for the weakest metrics: the points it costs (NULL sorts first, as in SQL). */
typedef struct AccountWeak
{
	const char *metric;
	int			length;
	bool		lost_null;
	double		lost;
	double		sub_score;
} AccountWeak;

/*
 * The state of one account, 256 bytes with the dimensions of the seeded catalog inline (a
 * hash aggregate over a million accounts holds a million of them).
 */
#define ACCOUNT_INLINE_DIMENSIONS 3

typedef struct AccountState
{
	uint32		magic;
	Oid			collation;		/* the metric names' collation, for ties */
	ScoreCatalog *catalog;
	int			ndims;
	int			maxdims;
	AccountDimension *dims;		/* in the order first seen: inline_dims, or allocated */
	int			nweak;
	AccountWeak weak[ACCOUNT_WEAKEST];	/* the weakest so far, weakest first */
	AccountDimension inline_dims[ACCOUNT_INLINE_DIMENSIONS];
} AccountState;

/* A float8 argument that may be NULL; a value must be finite, and arg names it in the error. */
static bool
finite_arg(FunctionCallInfo fcinfo, int argno, const char *arg, double *value)
{
	if (PG_ARGISNULL(argno))
		return false;
	*value = PG_GETARG_FLOAT8(argno);
	hs_check_finite(*value, arg);
	return true;
}

/* One range list from three array arguments, checked: names without NULLs, same lengths. */
static void
ranges_parse(FunctionCallInfo fcinfo, int argno, ScoreRanges *ranges)
{
	Datum	   *names;
	Datum	   *mins;
	Datum	   *maxes;
	bool	   *nulls;
	int			n, i;

	n = hs_array_arg(fcinfo, argno, TEXTOID, catalog_array_names[argno - ARG_FIRST_ARRAY], false, &names, &nulls);
	if (hs_array_arg(fcinfo, argno + 1, FLOAT8OID, catalog_array_names[argno + 1 - ARG_FIRST_ARRAY], false,
					 &mins, &nulls) != n ||
		hs_array_arg(fcinfo, argno + 2, FLOAT8OID, catalog_array_names[argno + 2 - ARG_FIRST_ARRAY], false,
					 &maxes, &nulls) != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s, %s and %s must have the same length", catalog_array_names[argno - ARG_FIRST_ARRAY],
						catalog_array_names[argno + 1 - ARG_FIRST_ARRAY],
						catalog_array_names[argno + 2 - ARG_FIRST_ARRAY])));
	ranges->n = n;
	ranges->names = palloc(sizeof(Datum) * Max(n, 1));
	ranges->mins = palloc(sizeof(float8) * Max(n, 1));
	ranges->maxes = palloc(sizeof(float8) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		ranges->names[i] = PointerGetDatum(DatumGetTextPCopy(names[i]));
		ranges->mins[i] = DatumGetFloat8(mins[i]);
		ranges->maxes[i] = DatumGetFloat8(maxes[i]);
	}
}

/*
 * Whether the catalog arguments of this call are the ones cat was parsed from. Called on
 * every row: an argument stored with a short header is compared as it is, not detoasted.
 */
static bool
catalog_matches(FunctionCallInfo fcinfo, const ScoreCatalog *cat)
{
	int			i;

	if (PG_ARGISNULL(ARG_MIN_COVERAGE) != cat->min_coverage_null)
		return false;
	if (!cat->min_coverage_null)
	{
		float8		min_coverage = PG_GETARG_FLOAT8(ARG_MIN_COVERAGE);

		if (memcmp(&min_coverage, &cat->min_coverage, sizeof(float8)) != 0)
			return false;
	}
	for (i = 0; i < CATALOG_ARRAYS; i++)
	{
		struct varlena *array;

		if (PG_ARGISNULL(ARG_FIRST_ARRAY + i))
			return false;
		array = (struct varlena *) PG_GETARG_POINTER(ARG_FIRST_ARRAY + i);
		if (VARATT_IS_EXTERNAL(array) || VARATT_IS_COMPRESSED(array))
			array = PG_DETOAST_DATUM(PG_GETARG_DATUM(ARG_FIRST_ARRAY + i));
		if (VARSIZE_ANY_EXHDR(array) != VARSIZE(cat->arrays[i]) - VARHDRSZ ||
			memcmp(VARDATA_ANY(array), VARDATA(cat->arrays[i]), VARSIZE_ANY_EXHDR(array)) != 0)
			return false;
	}
	return true;
}

/* The query's names and catalogs, in the transition function's memory (it lasts the query). */
static AccountQuery *
account_query(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AccountQuery));
	return (AccountQuery *) fcinfo->flinfo->fn_extra;
}

/*
 * The parsed catalog of this call's arguments: one of the last ones parsed in this query when
 * the values are the same, else a new one.
 */
static ScoreCatalog *
catalog_lookup(FunctionCallInfo fcinfo, AccountQuery *query)
{
	ScoreCatalog *cat;
	MemoryContext old;
	int			searched = 0;
	int			i;

	for (cat = query->catalogs; cat != NULL && searched < ACCOUNT_CATALOGS_SEARCHED; cat = cat->next, searched++)
		if (catalog_matches(fcinfo, cat))
			return cat;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cat = palloc0(sizeof(ScoreCatalog));
	cat->min_coverage_null = PG_ARGISNULL(ARG_MIN_COVERAGE);
	if (!cat->min_coverage_null)
		cat->min_coverage = PG_GETARG_FLOAT8(ARG_MIN_COVERAGE);
	ranges_parse(fcinfo, ARG_FIRST_ARRAY, &cat->bands);
	ranges_parse(fcinfo, ARG_FIRST_ARRAY + 3, &cat->tiers);
	for (i = 0; i < CATALOG_ARRAYS; i++)
	{
		ArrayType  *array = PG_GETARG_ARRAYTYPE_P(ARG_FIRST_ARRAY + i);

		cat->arrays[i] = (ArrayType *) palloc(VARSIZE(array));
		memcpy(cat->arrays[i], array, VARSIZE(array));
	}
	MemoryContextSwitchTo(old);
	cat->next = query->catalogs;
	query->catalogs = cat;
	return cat;
}

/* A lasting copy of a name: the query's, or past ACCOUNT_NAMES names one in aggcontext. */
static const char *
account_name(FunctionCallInfo fcinfo, AccountQuery *query, const char *name, int length,
			 MemoryContext aggcontext)
{
	char	   *copy;
	int			i;

	for (i = 0; i < query->nnames; i++)
		if (query->lengths[i] == length && memcmp(query->names[i], name, length) == 0)
			return query->names[i];
	if (query->nnames == ACCOUNT_NAMES)
		copy = MemoryContextAlloc(aggcontext, Max(length, 1));
	else
	{
		copy = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, Max(length, 1));
		query->names[query->nnames] = copy;
		query->lengths[query->nnames++] = length;
	}
	memcpy(copy, name, length);
	return copy;
}

/* The dimension named name in the state, added when new. */
static AccountDimension *
account_dimension(FunctionCallInfo fcinfo, AccountQuery *query, AccountState *st, const char *name, int length,
				  MemoryContext aggcontext)
{
	AccountDimension *dim;
	int			i;

	for (i = 0; i < st->ndims; i++)
		if (st->dims[i].length == length && memcmp(st->dims[i].name, name, length) == 0)
			return &st->dims[i];
	if (st->ndims >= ACCOUNT_MAX_DIMENSIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dimension: the metric rows of an account name more than %d dimensions",
						ACCOUNT_MAX_DIMENSIONS)));
	if (st->ndims == st->maxdims)
	{
		AccountDimension *dims = MemoryContextAlloc(aggcontext, sizeof(AccountDimension) * st->maxdims * 2);

		memcpy(dims, st->dims, sizeof(AccountDimension) * st->ndims);
		if (st->dims != st->inline_dims)
			pfree(st->dims);
		st->dims = dims;
		st->maxdims *= 2;
	}
	dim = &st->dims[st->ndims++];
	memset(dim, 0, sizeof(AccountDimension));
	dim->name = account_name(fcinfo, query, name, length, aggcontext);
	dim->length = length;
	return dim;
}

/*
 * Whether a ranks before b among the weakest metrics: more points lost first (NULL first, as
 * ORDER BY ... DESC puts it; float8 order, NaN highest), then by metric name in its collation.
 */
static bool
weak_before(const AccountWeak *a, const AccountWeak *b, Oid collation)
{
	if (a->lost_null != b->lost_null)
		return a->lost_null;
	if (!a->lost_null)
	{
		int			c = float8_cmp_internal(a->lost, b->lost);

		if (c != 0)
			return c > 0;
	}
	return varstr_cmp(a->metric, a->length, b->metric, b->length, collation) < 0;
}

/* Offer a metric with a sub-score below 100 to the weakest three. */
static void
account_weak_add(FunctionCallInfo fcinfo, AccountQuery *query, AccountState *st, AccountWeak *candidate,
				 MemoryContext aggcontext)
{
	int			at = st->nweak;

	while (at > 0 && weak_before(candidate, &st->weak[at - 1], st->collation))
		at--;
	if (at >= ACCOUNT_WEAKEST)
		return;
	if (st->nweak == ACCOUNT_WEAKEST)
		st->nweak--;
	memmove(&st->weak[at + 1], &st->weak[at], sizeof(AccountWeak) * (st->nweak - at));
	st->weak[at] = *candidate;
	st->weak[at].metric = account_name(fcinfo, query, candidate->metric, candidate->length, aggcontext);
	st->nweak++;
}

PG_FUNCTION_INFO_V1(score_account_accum);
/*
 * score_account transition: (state, metric, dimension, raw_value, sub_score, effective_weight,
 * contribution, coverage_share, min_coverage, bands, band_mins, band_maxes, tiers, tier_mins,
 * tier_maxes). Each value column may be NULL, as a bad row's are; the sums skip NULLs as SQL's
 * sum does.
 */
Datum
score_account_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	AccountQuery *query;
	AccountState *st;
	AccountDimension *dim;
	text	   *metric;
	text	   *dimension;
	double		sub_score = 0;
	double		weight = 0;
	double		contribution = 0;
	double		coverage_share = 0;
	bool		has_sub_score;
	bool		has_weight;
	bool		has_contribution;
	bool		has_coverage;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("score_account_accum can only be called as the transition function of score_account")));
	if (PG_ARGISNULL(ARG_METRIC))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric must not be NULL")));
	if (PG_ARGISNULL(ARG_DIMENSION))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dimension must not be NULL")));
	has_sub_score = finite_arg(fcinfo, ARG_SUB_SCORE, "sub_score", &sub_score);
	if (has_sub_score)
		hs_check_score(sub_score, "sub_score");
	has_weight = finite_arg(fcinfo, ARG_EFFECTIVE_WEIGHT, "effective_weight", &weight);
	if (has_weight)
		hs_check_weight(weight, "effective_weight");
	has_contribution = finite_arg(fcinfo, ARG_CONTRIBUTION, "contribution", &contribution);
	has_coverage = finite_arg(fcinfo, ARG_COVERAGE_SHARE, "coverage_share", &coverage_share);

	query = account_query(fcinfo);
	if (PG_ARGISNULL(0))
	{
		StaticAssertStmt(sizeof(AccountState) <= 256, "an account's state fits a 256-byte chunk");
		st = MemoryContextAllocZero(aggcontext, sizeof(AccountState));
		st->magic = ACCOUNT_STATE_MAGIC;
		st->collation = PG_GET_COLLATION();
		st->catalog = catalog_lookup(fcinfo, query);
		st->maxdims = ACCOUNT_INLINE_DIMENSIONS;
		st->dims = st->inline_dims;
	}
	else
	{
		st = (AccountState *) PG_GETARG_POINTER(0);
		if (st->magic != ACCOUNT_STATE_MAGIC)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("score_account: the state is not one of score_account's")));
		if (!catalog_matches(fcinfo, st->catalog))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("min_coverage, bands, band_mins, band_maxes, tiers, tier_mins and tier_maxes must be the same for every row of a group")));
	}

	dimension = PG_GETARG_TEXT_PP(ARG_DIMENSION);
	dim = account_dimension(fcinfo, query, st, VARDATA_ANY(dimension), VARSIZE_ANY_EXHDR(dimension), aggcontext);
	dim->bad |= PG_ARGISNULL(ARG_RAW_VALUE);
	if (has_contribution)
	{
		dim->contribution += contribution;
		dim->has_contribution = true;
		hs_check_sum(dim->contribution, "the sum of contribution");
	}
	if (has_weight)
	{
		dim->weight += weight;
		dim->has_weight = true;
		hs_check_sum(dim->weight, "the sum of effective_weight");
	}
	if (has_coverage)
	{
		dim->coverage += coverage_share;
		dim->has_coverage = true;
		hs_check_sum(dim->coverage, "the sum of coverage_share");
	}

	/* points the metric costs the score: effective_weight x (100 - sub_score) */
	if (has_sub_score && sub_score < HS_SCORE_MAX)
	{
		AccountWeak candidate;

		metric = PG_GETARG_TEXT_PP(ARG_METRIC);
		candidate.metric = VARDATA_ANY(metric);
		candidate.length = VARSIZE_ANY_EXHDR(metric);
		candidate.lost_null = !has_weight;
		candidate.lost = has_weight ? weight * (HS_SCORE_MAX - sub_score) : 0;
		candidate.sub_score = sub_score;
		hs_check_sum(candidate.lost, "effective_weight * (100 - sub_score)");
		account_weak_add(fcinfo, query, st, &candidate, aggcontext);
	}
	PG_RETURN_POINTER(st);
}

/*
 * round(x::numeric, places)::float8 as PostgreSQL computes it. float8 to numeric keeps 15
 * significant digits (%.15g), numeric's round goes half away from zero, and numeric to float8
 * reads the decimal text back with strtod. The result is scaled / 10^places, scaled a whole
 * number; IEEE division rounds that quotient correctly, as strtod does its decimal text, so
 * both give the same double. Values too large for a 64-bit scaled (never a score) take
 * PostgreSQL's own functions and keep the numeric.
 */
typedef struct Rounded
{
	double		value;
	int			places;
	bool		small;			/* scaled holds it; else numeric */
	int64		scaled;
	Numeric		numeric;
} Rounded;

static const double powers_of_ten[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};

/*
 * The rounding, exactly as numeric does it, of x's 15 significant digits: the digits of
 * %.14e, the value being mantissa x 10^(exponent - 14), in a 64-bit integer.
 */
static int64
round_digits(double x, int places)
{
	char		digits[32];
	int64		mantissa = 0;
	int			exponent;
	int			drop;
	const char *p;
	int			i;

	snprintf(digits, sizeof(digits), "%.*e", DBL_DIG - 1, fabs(x));
	for (p = digits; *p != 'e'; p++)
		if (*p != '.')
			mantissa = mantissa * 10 + (*p - '0');
	exponent = atoi(p + 1);
	/* the digits below 10^-places go, half away from zero */
	drop = 14 - exponent - places;
	if (drop > 15)
		return 0;
	for (i = 0; i < -drop; i++)
		mantissa *= 10;
	if (drop > 0)
	{
		int64		divisor = 1;

		for (i = 0; i < drop; i++)
			divisor *= 10;
		mantissa = mantissa / divisor + (mantissa % divisor * 2 >= divisor ? 1 : 0);
	}
	return x < 0 ? -mantissa : mantissa;
}

static void
round_as_numeric(double x, int places, Rounded *r)
{
	double		scaled = fabs(x) * powers_of_ten[places];

	Assert(places >= 0 && places < lengthof(powers_of_ten));
	r->places = places;
	r->small = scaled < 1e12;
	if (!r->small)
	{
		r->numeric = DatumGetNumeric(DirectFunctionCall2(numeric_round,
														 DirectFunctionCall1(float8_numeric, Float8GetDatum(x)),
														 Int32GetDatum(places)));
		r->value = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(r->numeric)));
		return;
	}

	/*
	 * Far enough from a half, the 15 digits (within 5e-15 relative of x) round as x does, and
	 * the product above errs by far less: no need to print them.
	 */
	{
		double		whole = floor(scaled);
		double		fraction = scaled - whole;	/* exact */

		if (fabs(fraction - 0.5) > (scaled + 1) * 1e-13)
			r->scaled = (int64) whole + (fraction > 0.5 ? 1 : 0);
		else
			r->scaled = Abs(round_digits(x, places));
		if (x < 0)
			r->scaled = -r->scaled;
	}
	/* numeric has no negative zero */
	r->value = r->scaled == 0 ? 0.0 : (double) r->scaled / powers_of_ten[places];
}

/* The rounded value as numeric, with its scale (72.50 has two decimals). */
static Numeric
rounded_numeric(const Rounded *r)
{
	if (!r->small)
		return r->numeric;
#if PG_VERSION_NUM >= 140000
	return int64_div_fast_to_numeric(r->scaled, r->places);
#else
	{
		char		text[64];
		int64		scale = (int64) powers_of_ten[r->places];
		int64		magnitude = r->scaled < 0 ? -r->scaled : r->scaled;

		if (r->places == 0)
			snprintf(text, sizeof(text), INT64_FORMAT, r->scaled);
		else
			snprintf(text, sizeof(text), "%s" INT64_FORMAT ".%0*" INT64_MODIFIER "d", r->scaled < 0 ? "-" : "",
					 magnitude / scale, r->places, magnitude % scale);
		return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
#endif
}

/* The rounded value as numeric_out prints it, when it has no decimals. */
static void
append_rounded_whole(StringInfo buf, const Rounded *r)
{
	Assert(r->places == 0);
	if (r->small)
		appendStringInfo(buf, INT64_FORMAT, r->scaled);
	else
		appendStringInfoString(buf, DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(r->numeric))));
}

/*
 * The name of the range (band or tier) that owns score, as the lookup it replaced found it:
 * score >= min and (score < max, or score = 100 and max = 100), compared as float8; NULL for
 * none, an error for several.
 */
static bool
ranges_find(const ScoreRanges *ranges, double score, const char *what, Datum *name)
{
	bool		found = false;
	int			i;

	for (i = 0; i < ranges->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (float8_ge(score, ranges->mins[i]) &&
			(float8_lt(score, ranges->maxes[i]) ||
			 (float8_eq(score, HS_SCORE_MAX) && float8_eq(ranges->maxes[i], HS_SCORE_MAX))))
		{
			if (found)
				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("more than one of the %s owns the score %s", what,
								DatumGetCString(DirectFunctionCall1(float8out, Float8GetDatum(score))))));
			found = true;
			*name = ranges->names[i];
		}
	}
	return found;
}

/* The row type of the result, checked once per query: it is the extension's, but alterable. */
static TupleDesc
account_score_tupdesc(FunctionCallInfo fcinfo)
{
	static const Oid types[ACCOUNT_SCORE_NATTS] = {FLOAT8OID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID,
		FLOAT8OID, FLOAT8OID, TEXTOID, JSONBOID, TEXTOID, BOOLOID};
	TupleDesc	tupdesc = (TupleDesc) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	int			i;

	if (tupdesc != NULL)
		return tupdesc;
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE || tupdesc->natts != ACCOUNT_SCORE_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("score_account_final must return health_score.account_score as the extension defines it")));
	for (i = 0; i < ACCOUNT_SCORE_NATTS; i++)
		if (TupleDescAttr(tupdesc, i)->atttypid != types[i] || TupleDescAttr(tupdesc, i)->attisdropped)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("score_account_final must return health_score.account_score as the extension defines it")));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = tupdesc;
	return tupdesc;
}

/*
 * Each dimension's score, its contributions over its effective weights rounded to two
 * decimals; has[i] false unless both exist.
 */
static void
dimension_scores(const AccountState *st, Rounded *scores, bool *has)
{
	int			i;

	for (i = 0; i < st->ndims; i++)
	{
		const AccountDimension *dim = &st->dims[i];
		double		score;

		CHECK_FOR_INTERRUPTS();
		has[i] = dim->has_contribution && dim->has_weight;
		if (!has[i])
			continue;
		score = dim->contribution / dim->weight;
		hs_check_sum(score, "a dimension's contribution / effective_weight");
		round_as_numeric(score, 2, &scores[i]);
	}
}

/* The jsonb object {dimension: score, or null}; pushJsonbValue puts the keys in jsonb order. */
static Jsonb *
dimension_scores_jsonb(const AccountState *st, const Rounded *scores, const bool *has)
{
	JsonbParseState *parse = NULL;
	JsonbValue *object;
	int			i;

	pushJsonbValue(&parse, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < st->ndims; i++)
	{
		JsonbValue	key;
		JsonbValue	value;

		CHECK_FOR_INTERRUPTS();
		key.type = jbvString;
		key.val.string.val = unconstify(char *, st->dims[i].name);
		key.val.string.len = st->dims[i].length;
		pushJsonbValue(&parse, WJB_KEY, &key);
		if (has[i])
		{
			value.type = jbvNumeric;
			value.val.numeric = rounded_numeric(&scores[i]);
		}
		else
			value.type = jbvNull;
		pushJsonbValue(&parse, WJB_VALUE, &value);
	}
	object = pushJsonbValue(&parse, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(object);
}

/* "metric sub-score, ..." of the weakest metrics, sub-scores rounded to whole numbers. */
static text *
weakest_text(const AccountState *st)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < st->nweak; i++)
	{
		Rounded		score;

		round_as_numeric(st->weak[i].sub_score, 0, &score);
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendBinaryStringInfo(&buf, st->weak[i].metric, st->weak[i].length);
		appendStringInfoChar(&buf, ' ');
		append_rounded_whole(&buf, &score);
	}
	return cstring_to_text_with_len(buf.data, buf.len);
}

/* The index of the dimension named name, or -1. */
static int
named_dimension(const AccountState *st, const char *name)
{
	int			length = strlen(name);
	int			i;

	for (i = 0; i < st->ndims; i++)
		if (st->dims[i].length == length && memcmp(st->dims[i].name, name, length) == 0)
			return i;
	return -1;
}

/* The text of a float8 as format('%s', x) prints it (extra_float_digits applies). */
static char *
float8_text(double x)
{
	return DatumGetCString(DirectFunctionCall1(float8out, Float8GetDatum(x)));
}

PG_FUNCTION_INFO_V1(score_account_final);
/* score_account final: the account's row of account_scores but its reason for bad rows */
Datum
score_account_final(PG_FUNCTION_ARGS)
{
	/* the dimensions account_scores has a column for */
	static const char *const named[3] = {"product", "relationship", "business"};
	TupleDesc	tupdesc;
	AccountState *st;
	const ScoreCatalog *cat;
	Datum		values[ACCOUNT_SCORE_NATTS];
	bool		nulls[ACCOUNT_SCORE_NATTS];
	Rounded    *scores;
	bool	   *has;
	Rounded		rounded;
	double		raw_score = 0;
	double		coverage = 0;
	bool		has_raw_score = false;
	bool		bad = false;
	bool		has_score;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (AccountState *) PG_GETARG_POINTER(0);
	if (st->magic != ACCOUNT_STATE_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score_account: the state is not one of score_account's")));
	tupdesc = account_score_tupdesc(fcinfo);
	cat = st->catalog;
	memset(nulls, true, sizeof(nulls));

	for (i = 0; i < st->ndims; i++)
	{
		CHECK_FOR_INTERRUPTS();
		bad |= st->dims[i].bad;
		if (st->dims[i].has_contribution)
		{
			raw_score += st->dims[i].contribution;
			has_raw_score = true;
			hs_check_sum(raw_score, "the sum of contribution");
		}
		if (st->dims[i].has_coverage)
		{
			coverage += st->dims[i].coverage;
			hs_check_sum(coverage, "the sum of coverage_share");
		}
	}

	/*
	 * Coverage is rounded to four decimals, as shown, before the min_coverage test: a sum of
	 * shares that is 0.5 exactly must not fall either side of 0.5 with the order of addition.
	 * Scores are rounded to two decimals: the float noise of summing in another order never
	 * shows, and the auc aggregate is exact on them.
	 */
	round_as_numeric(Min(coverage, 1.0), 4, &rounded);
	coverage = rounded.value;
	values[ATT_COVERAGE] = Float8GetDatum(coverage);
	nulls[ATT_COVERAGE] = false;
	has_score = has_raw_score && !bad && !cat->min_coverage_null && float8_ge(coverage, cat->min_coverage);
	if (has_score)
	{
		round_as_numeric(Min(Max(raw_score, HS_SCORE_MIN), HS_SCORE_MAX), 2, &rounded);
		values[ATT_SCORE] = Float8GetDatum(rounded.value);
		nulls[ATT_SCORE] = false;
		nulls[ATT_BAND] = !ranges_find(&cat->bands, rounded.value, "bands", &values[ATT_BAND]);
		nulls[ATT_ALERT_TIER] = !ranges_find(&cat->tiers, rounded.value, "alert tiers", &values[ATT_ALERT_TIER]);
	}

	scores = palloc(sizeof(Rounded) * Max(st->ndims, 1));
	has = palloc(sizeof(bool) * Max(st->ndims, 1));
	dimension_scores(st, scores, has);
	for (i = 0; i < lengthof(named); i++)
	{
		int			d = named_dimension(st, named[i]);

		if (d >= 0 && has[d])
		{
			values[ATT_PRODUCT + i] = Float8GetDatum(scores[d].value);
			nulls[ATT_PRODUCT + i] = false;
		}
	}
	if (st->ndims > 0)
	{
		values[ATT_DIMENSION_SCORES] = JsonbPGetDatum(dimension_scores_jsonb(st, scores, has));
		nulls[ATT_DIMENSION_SCORES] = false;
	}

	/* with bad rows the caller gives the reason: it reads the feeds (bad_observations) */
	if (!bad && !has_raw_score)
	{
		values[ATT_REASON] = CStringGetTextDatum("no observations");
		nulls[ATT_REASON] = false;
	}
	else if (!bad && !has_score)
	{
		values[ATT_REASON] = CStringGetTextDatum(psprintf("coverage %s below min_coverage %s", float8_text(coverage),
														  cat->min_coverage_null ? "" : float8_text(cat->min_coverage)));
		nulls[ATT_REASON] = false;
	}
	if (st->nweak > 0)
	{
		values[ATT_WEAKEST] = PointerGetDatum(weakest_text(st));
		nulls[ATT_WEAKEST] = false;
	}
	values[ATT_BAD_ROWS] = BoolGetDatum(bad);
	nulls[ATT_BAD_ROWS] = false;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
