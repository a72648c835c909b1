/*
 * metric_history.c: one account's metric rows of a date as the arrays the compact metric
 * history stores.
 *
 * metric_history_arrays(metric, dimension, raw_value, sub_score, effective_weight,
 * contribution) is an aggregate over the metric rows of one account and date. It returns the
 * row type health_score.metric_history_arrays: the metrics with their dimensions, in the order
 * the rows came, and the values as float8 arrays in that order. The metrics and dimensions are
 * a layout (health_score.metric_history_layouts), so the row of a day stores only its numbers.
 * layout_key numbers the layouts of a query (1, 2, ... in the order first met), and metrics and
 * dimensions are given with the first group of each only, NULL after: the writer looks up or
 * adds a few dozen layouts, and carries, compares and joins integers for a million accounts,
 * not their arrays of names. contributions is NULL when every contribution is effective_weight * sub_score to the bit,
 * as the scoring computes it, and the reader derives it; else it holds them all, so history
 * written otherwise (before 0.2.0, or by hand) is kept as it was.
 *
 * The order is kept, not sorted: snapshot passes an account's rows in the catalog's order (as
 * metric_scores gives them), and the history of 0.1.0 moves in in the order it was written,
 * so a sum over an account's rows of the view metric_history adds them up as it always did,
 * to the last bit. One aggregate for all the arrays, not six array_agg: each would keep a
 * state of its own per account, and a million accounts' worth of them cost more than the
 * rest of the writing.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define HISTORY_STATE_MAGIC 0x48534d48	/* tells our state from another aggregate's */

/* Arguments of the transition function (0 is the state). */
#define ARG_METRIC 1
#define ARG_DIMENSION 2
#define ARG_FIRST_VALUE 3

/* The values of a metric row, in the order of the arguments and of the result's arrays. */
#define VALUE_RAW 0
#define VALUE_SUB_SCORE 1
#define VALUE_WEIGHT 2
#define VALUE_CONTRIBUTION 3
#define HISTORY_VALUES 4

/* Attributes of health_score.metric_history_arrays, in order. */
#define ATT_LAYOUT_KEY 0
#define ATT_METRICS 1
#define ATT_DIMENSIONS 2
#define ATT_FIRST_VALUES 3
#define HISTORY_NATTS 7

#define NO_NAME (-1)

/* A layout met in a query: its (metric, dimension) name numbers, and the next in its bucket. */
typedef struct HistoryLayout
{
	uint32		hash;
	int			n;
	int16	   *pairs;
	int			next;			/* index in layouts, or -1 */
} HistoryLayout;

#define LAYOUT_BUCKETS 1024

/*
 * The names of metrics and dimensions seen in a query, kept once for all its accounts (a few
 * dozen), so an entry holds their numbers. Rows come in the same order account after
 * account, so the name after the last one found is tried first. Also the layouts the final
 * function has met, numbered. All of it lives in the transition function's memory (the query).
 */
typedef struct HistoryNames
{
	MemoryContext mcxt;
	int			nnames;
	int			maxnames;
	int			last;
	char	  **names;
	int		   *lengths;
	int			nlayouts;
	int			maxlayouts;
	HistoryLayout *layouts;
	int			buckets[LAYOUT_BUCKETS];
} HistoryNames;

/*
 * A metric row: 40 bytes, so the 24 a state starts with take a 1 kB chunk (a hash aggregate
 * over a million accounts holds a million states).
 */
typedef struct HistoryEntry
{
	int16		metric;
	int16		dimension;		/* NO_NAME for NULL */
	uint8		nulls;			/* bit i: values[i] is NULL */
	float8		values[HISTORY_VALUES];
} HistoryEntry;

#define HISTORY_FIRST_ENTRIES 24
#define HISTORY_MAX_NAMES PG_INT16_MAX

typedef struct HistoryState
{
	uint32		magic;
	bool		derived;		/* every contribution so far is effective_weight * sub_score */
	int			nentries;
	int			maxentries;
	HistoryNames *names;
	HistoryEntry *entries;
} HistoryState;

/* The number of name (length bytes at name) in the query's names, added when new. */
static int16
history_name(FunctionCallInfo fcinfo, HistoryNames *names, const char *name, int length)
{
	MemoryContext old;
	int			i;

	for (i = 0; i < names->nnames; i++)
	{
		int			k = (names->last + 1 + i) % names->nnames;

		if (names->lengths[k] == length && memcmp(names->names[k], name, length) == 0)
		{
			names->last = k;
			return k;
		}
	}
	if (names->nnames == HISTORY_MAX_NAMES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("metric_history_arrays: more than %d distinct metric and dimension names in one query",
						HISTORY_MAX_NAMES)));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (names->nnames == names->maxnames)
	{
		names->maxnames = Max(16, names->maxnames * 2);
		names->names = names->names == NULL ? palloc(sizeof(char *) * names->maxnames)
			: repalloc(names->names, sizeof(char *) * names->maxnames);
		names->lengths = names->lengths == NULL ? palloc(sizeof(int) * names->maxnames)
			: repalloc(names->lengths, sizeof(int) * names->maxnames);
	}
	names->names[names->nnames] = palloc(Max(length, 1));
	memcpy(names->names[names->nnames], name, length);
	names->lengths[names->nnames] = length;
	MemoryContextSwitchTo(old);
	names->last = names->nnames;
	return names->nnames++;
}

/* The number of the name an argument holds: NO_NAME for NULL. */
static int16
history_name_arg(FunctionCallInfo fcinfo, HistoryNames *names, int argno)
{
	text	   *name;

	if (PG_ARGISNULL(argno))
		return NO_NAME;
	name = PG_GETARG_TEXT_PP(argno);
	return history_name(fcinfo, names, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
}

/*
 * Whether the reader's effective_weight * sub_score gives the entry's contribution to the
 * bit: NULL from a NULL factor, else the product as float8 multiplication computes it, which
 * raises an error where the product of finite factors is infinite, or zero from factors that
 * are not (never so for a contribution the scoring computed).
 */
static bool
contribution_derived(const HistoryEntry *e)
{
	bool		factor_null = (e->nulls & ((1 << VALUE_WEIGHT) | (1 << VALUE_SUB_SCORE))) != 0;
	double		w = e->values[VALUE_WEIGHT];
	double		s = e->values[VALUE_SUB_SCORE];
	double		product;

	if (e->nulls & (1 << VALUE_CONTRIBUTION))
		return factor_null;
	if (factor_null)
		return false;
	product = w * s;
	if (isinf(product) && !isinf(w) && !isinf(s))
		return false;
	if (product == 0.0 && w != 0.0 && s != 0.0)
		return false;
	return memcmp(&product, &e->values[VALUE_CONTRIBUTION], sizeof(double)) == 0;
}

PG_FUNCTION_INFO_V1(metric_history_arrays_accum);
/*
 * metric_history_arrays transition: (state, metric, dimension, raw_value, sub_score,
 * effective_weight, contribution). Any value may be NULL, and any float8 is kept as it is.
 */
Datum
metric_history_arrays_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	HistoryState *st;
	HistoryEntry *e;
	int			i;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("metric_history_arrays_accum can only be called as the transition function of metric_history_arrays")));
	if (PG_ARGISNULL(ARG_METRIC))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric must not be NULL")));

	if (PG_ARGISNULL(0))
	{
		StaticAssertStmt(sizeof(HistoryEntry) * HISTORY_FIRST_ENTRIES <= 1024,
						 "a state's first entries fit a 1 kB chunk");
		if (fcinfo->flinfo->fn_extra == NULL)
		{
			HistoryNames *names = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(HistoryNames));

			names->mcxt = fcinfo->flinfo->fn_mcxt;
			memset(names->buckets, -1, sizeof(names->buckets));
			fcinfo->flinfo->fn_extra = names;
		}
		st = MemoryContextAllocZero(aggcontext, sizeof(HistoryState));
		st->magic = HISTORY_STATE_MAGIC;
		st->derived = true;
		st->names = (HistoryNames *) fcinfo->flinfo->fn_extra;
	}
	else
	{
		st = (HistoryState *) PG_GETARG_POINTER(0);
		if (st->magic != HISTORY_STATE_MAGIC)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("metric_history_arrays: the state is not one of metric_history_arrays'")));
	}

	if (st->nentries == st->maxentries)
	{
		/* room for the seeded catalog's metrics at once, then half as much again each time */
		int			more = st->maxentries == 0 ? HISTORY_FIRST_ENTRIES : st->maxentries / 2;
		HistoryEntry *entries;

		if (st->maxentries > (int) (MaxAllocSize / sizeof(HistoryEntry)) - more)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("metric_history_arrays: too many metric rows in one group")));
		entries = MemoryContextAlloc(aggcontext, sizeof(HistoryEntry) * (st->maxentries + more));
		if (st->nentries > 0)
		{
			memcpy(entries, st->entries, sizeof(HistoryEntry) * st->nentries);
			pfree(st->entries);
		}
		st->entries = entries;
		st->maxentries += more;
	}
	e = &st->entries[st->nentries++];
	e->metric = history_name_arg(fcinfo, st->names, ARG_METRIC);
	e->dimension = history_name_arg(fcinfo, st->names, ARG_DIMENSION);
	e->nulls = 0;
	for (i = 0; i < HISTORY_VALUES; i++)
	{
		if (PG_ARGISNULL(ARG_FIRST_VALUE + i))
		{
			e->nulls |= 1 << i;
			e->values[i] = 0;
		}
		else
			e->values[i] = PG_GETARG_FLOAT8(ARG_FIRST_VALUE + i);
	}
	st->derived = st->derived && contribution_derived(e);
	PG_RETURN_POINTER(st);
}

/*
 * The key of the state's layout in the query (1, 2, ...); *first tells whether the layout is
 * met here for the first time.
 */
static int
history_layout_key(HistoryState *st, bool *first)
{
	HistoryNames *names = st->names;
	int			n = st->nentries;
	int16	   *pairs = palloc(sizeof(int16) * 2 * Max(n, 1));
	uint32		hash;
	int			i;
	HistoryLayout *l;

	for (i = 0; i < n; i++)
	{
		pairs[2 * i] = st->entries[i].metric;
		pairs[2 * i + 1] = st->entries[i].dimension;
	}
	hash = hash_bytes((const unsigned char *) pairs, sizeof(int16) * 2 * n);
	for (i = names->buckets[hash % LAYOUT_BUCKETS]; i >= 0; i = names->layouts[i].next)
	{
		l = &names->layouts[i];
		if (l->hash == hash && l->n == n && memcmp(l->pairs, pairs, sizeof(int16) * 2 * n) == 0)
		{
			pfree(pairs);
			*first = false;
			return i + 1;
		}
	}
	if (names->nlayouts == names->maxlayouts)
	{
		if (names->maxlayouts >= (int) (MaxAllocSize / sizeof(HistoryLayout) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("metric_history_arrays: too many layouts in one query")));
		names->maxlayouts = Max(64, names->maxlayouts * 2);
		names->layouts = names->layouts == NULL
			? MemoryContextAlloc(names->mcxt, sizeof(HistoryLayout) * names->maxlayouts)
			: repalloc(names->layouts, sizeof(HistoryLayout) * names->maxlayouts);
	}
	l = &names->layouts[names->nlayouts];
	l->hash = hash;
	l->n = n;
	l->pairs = MemoryContextAlloc(names->mcxt, sizeof(int16) * 2 * Max(n, 1));
	memcpy(l->pairs, pairs, sizeof(int16) * 2 * n);
	l->next = names->buckets[hash % LAYOUT_BUCKETS];
	names->buckets[hash % LAYOUT_BUCKETS] = names->nlayouts;
	pfree(pairs);
	*first = true;
	return ++names->nlayouts;
}

/* The result's row type, checked once per query. */
static TupleDesc
history_tupdesc(FunctionCallInfo fcinfo)
{
	static const Oid types[HISTORY_NATTS] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID,
		FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID};
	TupleDesc	tupdesc = (TupleDesc) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	int			i;

	if (tupdesc != NULL)
		return tupdesc;
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE || tupdesc->natts != HISTORY_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("metric_history_arrays_final must return health_score.metric_history_arrays as the extension defines it")));
	for (i = 0; i < HISTORY_NATTS; i++)
		if (TupleDescAttr(tupdesc, i)->atttypid != types[i] || TupleDescAttr(tupdesc, i)->attisdropped)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("metric_history_arrays_final must return health_score.metric_history_arrays as the extension defines it")));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = tupdesc;
	return tupdesc;
}

/* A one-dimensional array of n elements, with NULLs where nulls says. */
static Datum
history_array(Datum *elems, bool *nulls, int n, Oid elemtype)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	if (elemtype == TEXTOID)
		return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, FLOAT8OID, sizeof(float8),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(metric_history_arrays_final);
/* metric_history_arrays final: the group's layout (key, and names when new) and value arrays */
Datum
metric_history_arrays_final(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	HistoryState *st;
	const HistoryNames *names;
	Datum		values[HISTORY_NATTS];
	bool		nulls[HISTORY_NATTS];
	Datum	   *elems;
	bool	   *elem_nulls;
	bool		first;
	int			n, i, v;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (HistoryState *) PG_GETARG_POINTER(0);
	if (st->magic != HISTORY_STATE_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metric_history_arrays: the state is not one of metric_history_arrays'")));
	tupdesc = history_tupdesc(fcinfo);
	names = st->names;
	n = st->nentries;
	memset(nulls, false, sizeof(nulls));
	values[ATT_LAYOUT_KEY] = Int32GetDatum(history_layout_key(st, &first));

	elems = palloc(sizeof(Datum) * Max(n, 1));
	elem_nulls = palloc(sizeof(bool) * Max(n, 1));
	nulls[ATT_METRICS] = nulls[ATT_DIMENSIONS] = !first;
	if (first)
	{
		for (i = 0; i < n; i++)
		{
			int			k = st->entries[i].metric;

			elems[i] = PointerGetDatum(cstring_to_text_with_len(names->names[k], names->lengths[k]));
			elem_nulls[i] = false;
		}
		values[ATT_METRICS] = history_array(elems, elem_nulls, n, TEXTOID);
		for (i = 0; i < n; i++)
		{
			int			k = st->entries[i].dimension;

			elem_nulls[i] = k == NO_NAME;
			elems[i] = elem_nulls[i] ? (Datum) 0
				: PointerGetDatum(cstring_to_text_with_len(names->names[k], names->lengths[k]));
		}
		values[ATT_DIMENSIONS] = history_array(elems, elem_nulls, n, TEXTOID);
	}
	for (v = 0; v < HISTORY_VALUES; v++)
	{
		for (i = 0; i < n; i++)
		{
			elem_nulls[i] = (st->entries[i].nulls & (1 << v)) != 0;
			elems[i] = Float8GetDatum(st->entries[i].values[v]);
		}
		values[ATT_FIRST_VALUES + v] = history_array(elems, elem_nulls, n, FLOAT8OID);
	}
	nulls[ATT_FIRST_VALUES + VALUE_CONTRIBUTION] = st->derived;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
