/*
 * auc.c: ROC AUC and threshold rates as combinable aggregates.
 *
 * auc keeps a histogram of the scores over the 0-100 grid at 0.01 steps (10,001 bins) for
 * each class, so its state has a fixed size whatever the number of rows, partial states add
 * up (parallel workers, distributed tables) and no ORDER BY is needed. Scores are rounded to
 * the nearest 0.01: the result equals the rank-sum (Mann-Whitney) AUC, ties counting one
 * half, exactly for scores with at most two decimals.
 *
 * State layout: [0 .. 10001) churned rows per bin, [10001 .. 20002) other rows per bin; the
 * initial state is the empty array and the first row sizes it.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"

#define AUC_BINS 10001
#define AUC_STATE_LENGTH (2 * AUC_BINS)
#define AUC_RATES_LENGTH 5

/* The state argument: sized on first use, updated in place inside an aggregate. */
static ArrayType *
auc_state(FunctionCallInfo fcinfo, int argno, bool writable)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(argno);

	if (ARR_NDIM(state) == 0)
	{
		Size		size = ARR_OVERHEAD_NONULLS(1) + AUC_STATE_LENGTH * sizeof(float8);

		state = (ArrayType *) palloc0(size);
		SET_VARSIZE(state, size);
		state->ndim = 1;
		state->dataoffset = 0;
		state->elemtype = FLOAT8OID;
		ARR_DIMS(state)[0] = AUC_STATE_LENGTH;
		ARR_LBOUND(state)[0] = 1;
		return state;
	}
	return hs_state_arg(fcinfo, argno, AUC_STATE_LENGTH, "auc", writable);
}

/*
 * Error unless every bin of a histogram state holds a count: a whole number within 0 and
 * HS_MAX_COUNT, so the sums of auc_final stay finite and exact (huge bins made inf / inf).
 */
static void
auc_check_state(const float8 *s)
{
	for (int i = 0; i < AUC_STATE_LENGTH; i++)
		if (unlikely(!(s[i] >= 0 && s[i] <= HS_MAX_COUNT && s[i] == floor(s[i]))))
			hs_check_state_count(s[i], "auc", psprintf("bin %d", i + 1));
}

/* Bin of a score (0-100, rounded to 0.01); errors name the argument. */
static int
auc_bin(double score)
{
	double		b;

	hs_check_score(score, "score");
	b = rint(score * 100.0);
	return (int) b;
}

static Datum
auc_add(FunctionCallInfo fcinfo, bool health)
{
	ArrayType  *state;
	int			bin;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("auc: state must not be NULL")));
	state = auc_state(fcinfo, 0, true);
	/* called directly, the state may be built by hand; in an aggregate it is the last row's */
	if (!AggCheckCallContext(fcinfo, NULL))
		auc_check_state(HS_STATE_VALUES(state));
	/* A row with an unknown score or outcome tells nothing about the ranking. */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_ARRAYTYPE_P(state);
	bin = auc_bin(PG_GETARG_FLOAT8(1));
	if (health)
		bin = AUC_BINS - 1 - bin;
	bin += PG_GETARG_BOOL(2) ? 0 : AUC_BINS;
	HS_STATE_VALUES(state)[bin] = hs_count_add(HS_STATE_VALUES(state)[bin], 1, "auc", "the rows of a bin");
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Transition function of auc: a higher score means churn is more likely (a risk score). */
PG_FUNCTION_INFO_V1(auc_accum);
Datum
auc_accum(PG_FUNCTION_ARGS)
{
	return auc_add(fcinfo, false);
}

/* Transition function of auc_health: a lower score means churn is more likely (a health score). */
PG_FUNCTION_INFO_V1(auc_health_accum);
Datum
auc_health_accum(PG_FUNCTION_ARGS)
{
	return auc_add(fcinfo, true);
}

/* Combine function of auc and auc_health: adds two histograms. */
PG_FUNCTION_INFO_V1(auc_combine);
Datum
auc_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	float8	   *sa,
			   *sb;

	if (ARR_NDIM(b) == 0)
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	b = auc_state(fcinfo, 1, false);
	sb = HS_STATE_VALUES(b);
	auc_check_state(sb);
	if (ARR_NDIM(PG_GETARG_ARRAYTYPE_P(0)) == 0)
		PG_RETURN_ARRAYTYPE_P(b);
	a = auc_state(fcinfo, 0, true);
	sa = HS_STATE_VALUES(a);
	auc_check_state(sa);
	for (int i = 0; i < AUC_STATE_LENGTH; i++)
		sa[i] = hs_count_add(sa[i], sb[i], "auc", "the rows of a bin");
	PG_RETURN_ARRAYTYPE_P(a);
}

/* Final function of auc and auc_health: P(churned row ranks above another), ties half. */
PG_FUNCTION_INFO_V1(auc_final);
Datum
auc_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	const float8 *pos,
			   *neg;
	double		below = 0,
				wins = 0,
				npos = 0;

	if (ARR_NDIM(state) == 0)
		PG_RETURN_NULL();
	state = auc_state(fcinfo, 0, false);
	pos = HS_STATE_VALUES(state);
	neg = pos + AUC_BINS;
	auc_check_state(pos);
	for (int i = 0; i < AUC_BINS; i++)
	{
		wins += pos[i] * (below + 0.5 * neg[i]);
		below += neg[i];
		npos += pos[i];
	}
	/* Undefined with a single class. */
	if (npos == 0 || below == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(wins / npos / below);
}

/*
 * Error unless a rates state holds four counts (whole, within 0 and HS_MAX_COUNT, so their
 * sums stay finite and exact: 1e308 + 1e308 made precision 0) and a threshold, NaN until the
 * first row sets it and so only while nothing is counted.
 */
static void
auc_rates_check_state(const float8 *s)
{
	for (int i = 0; i < 4; i++)
		if (unlikely(!(s[i] >= 0 && s[i] <= HS_MAX_COUNT && s[i] == floor(s[i]))))
			hs_check_state_count(s[i], "rates", psprintf("element %d", i + 1));
	if (isinf(s[4]))
		hs_invalid_state("rates", "the threshold must be finite (or NaN before the first row)");
	if (isnan(s[4]) && s[0] + s[1] + s[2] + s[3] > 0)
		hs_invalid_state("rates", "rows counted before the threshold was set");
}

/*
 * Transition function of the threshold rates: state {true positives, false positives,
 * true negatives, false negatives, threshold}; a row is flagged when score >= threshold.
 */
PG_FUNCTION_INFO_V1(auc_rates_accum);
Datum
auc_rates_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	float8	   *s;
	double		score,
				threshold;
	bool		flagged,
				churned;
	int			cell;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rates: state must not be NULL")));
	state = hs_state_arg(fcinfo, 0, AUC_RATES_LENGTH, "rates", true);
	s = HS_STATE_VALUES(state);
	auc_rates_check_state(s);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("threshold must not be NULL")));
	threshold = PG_GETARG_FLOAT8(3);
	hs_check_finite(threshold, "threshold");
	if (isnan(s[4]))
		s[4] = threshold;
	else if (s[4] != threshold)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be the same on every row, got %g and %g", s[4], threshold)));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_ARRAYTYPE_P(state);
	score = PG_GETARG_FLOAT8(1);
	hs_check_finite(score, "score");
	flagged = score >= threshold;
	churned = PG_GETARG_BOOL(2);
	cell = flagged ? (churned ? 0 : 1) : (churned ? 3 : 2);
	s[cell] = hs_count_add(s[cell], 1, "rates", "a count of rows");
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Combine function of the threshold rates: adds the counts. */
PG_FUNCTION_INFO_V1(auc_rates_combine);
Datum
auc_rates_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *b = hs_state_arg(fcinfo, 1, AUC_RATES_LENGTH, "rates", false);
	ArrayType  *a = hs_state_arg(fcinfo, 0, AUC_RATES_LENGTH, "rates", true);
	float8	   *sa = HS_STATE_VALUES(a),
			   *sb = HS_STATE_VALUES(b);

	auc_rates_check_state(sa);
	auc_rates_check_state(sb);
	if (isnan(sa[4]))
		sa[4] = sb[4];
	else if (!isnan(sb[4]) && sa[4] != sb[4])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be the same on every row, got %g and %g", sa[4], sb[4])));
	for (int i = 0; i < 4; i++)
		sa[i] = hs_count_add(sa[i], sb[i], "rates", "a count of rows");
	PG_RETURN_ARRAYTYPE_P(a);
}

/* a / (a + b), NULL when both are zero. */
static Datum
auc_ratio(FunctionCallInfo fcinfo, int num, int other)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, AUC_RATES_LENGTH, "rates", false);
	float8	   *s = HS_STATE_VALUES(state);

	auc_rates_check_state(s);
	if (s[num] + s[other] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[num] / (s[num] + s[other]));
}

/* Final function of precision_at: flagged rows that churned / flagged rows. */
PG_FUNCTION_INFO_V1(auc_precision_final);
Datum
auc_precision_final(PG_FUNCTION_ARGS)
{
	return auc_ratio(fcinfo, 0, 1);
}

/* Final function of recall_at: churned rows flagged / churned rows. */
PG_FUNCTION_INFO_V1(auc_recall_final);
Datum
auc_recall_final(PG_FUNCTION_ARGS)
{
	return auc_ratio(fcinfo, 0, 3);
}

/* Final function of false_positive_rate_at: other rows flagged / other rows. */
PG_FUNCTION_INFO_V1(auc_fpr_final);
Datum
auc_fpr_final(PG_FUNCTION_ARGS)
{
	return auc_ratio(fcinfo, 1, 2);
}

/* Final function of false_negative_rate_at: churned rows missed / churned rows. */
PG_FUNCTION_INFO_V1(auc_fnr_final);
Datum
auc_fnr_final(PG_FUNCTION_ARGS)
{
	return auc_ratio(fcinfo, 3, 0);
}
