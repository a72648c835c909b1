/*
 * composite.c: weighted means of sub-scores that skip unknown (NULL) scores.
 *
 * A missing metric must not count as zero: it is left out and the remaining weights are
 * renormalised. The share of weight that was present (coverage) is kept alongside, so a
 * reader knows how much of the composite stands on data.
 *
 * Aggregate state, float8[3]: {present weight, sum of weight * score, total weight}.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#define WAVG_STATE_LEN 3
#define WAVG_PRESENT 0
#define WAVG_SUM 1
#define WAVG_TOTAL 2

/*
 * Error unless s holds sums the functions can produce: finite, the present weight within 0
 * and the total, the weighted sum within 0 and 100 times the present weight (give or take
 * rounding).
 */
static void
wavg_check_state(const float8 *s, const char *aggname)
{
	if (!isfinite(s[WAVG_PRESENT]) || !isfinite(s[WAVG_SUM]) || !isfinite(s[WAVG_TOTAL]))
		hs_invalid_state(aggname, "the sums must be finite");
	if (!(s[WAVG_PRESENT] >= 0 && s[WAVG_PRESENT] <= s[WAVG_TOTAL]))
		hs_invalid_state(aggname, "the present weight must lie within 0 and the total weight");
	if (!(s[WAVG_SUM] >= 0 && s[WAVG_SUM] <= HS_SCORE_MAX * s[WAVG_PRESENT] * (1 + 1e-9)))
		hs_invalid_state(aggname, "the sum of weight * score must lie within 0 and 100 times the present weight");
}

/* A mean of scores, kept within 0..100 where rounding would step an ulp outside. */
static double
wavg_mean(double sum, double weight)
{
	return Min(Max(sum / weight, HS_SCORE_MIN), HS_SCORE_MAX);
}

PG_FUNCTION_INFO_V1(weighted_avg_accum);
/* weighted_avg(score, weight) transition: NULL score adds to the total weight only */
Datum
weighted_avg_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, WAVG_STATE_LEN, "weighted_avg", true);
	float8	   *s = HS_STATE_VALUES(state);
	double		weight;

	wavg_check_state(s, "weighted_avg");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("weight must not be NULL")));
	weight = PG_GETARG_FLOAT8(2);
	hs_check_weight(weight, "weight");

	s[WAVG_TOTAL] += weight;
	hs_check_sum(s[WAVG_TOTAL], "the total of weight");
	if (!PG_ARGISNULL(1))
	{
		double		score = PG_GETARG_FLOAT8(1);

		hs_check_score(score, "score");
		s[WAVG_PRESENT] += weight;
		s[WAVG_SUM] += weight * score;
		hs_check_sum(s[WAVG_SUM], "the sum of weight * score");
	}
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(weighted_avg_combine);
/* weighted_avg combine: states add up element by element */
Datum
weighted_avg_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = hs_state_arg(fcinfo, 0, WAVG_STATE_LEN, "weighted_avg", true);
	ArrayType  *state2 = hs_state_arg(fcinfo, 1, WAVG_STATE_LEN, "weighted_avg", false);
	float8	   *s1 = HS_STATE_VALUES(state1);
	float8	   *s2 = HS_STATE_VALUES(state2);
	int			i;

	wavg_check_state(s1, "weighted_avg");
	wavg_check_state(s2, "weighted_avg");
	for (i = 0; i < WAVG_STATE_LEN; i++)
		s1[i] += s2[i];
	hs_check_sum(s1[WAVG_TOTAL], "the total of weight");
	hs_check_sum(s1[WAVG_SUM], "the sum of weight * score");
	PG_RETURN_ARRAYTYPE_P(state1);
}

PG_FUNCTION_INFO_V1(weighted_avg_final);
/* weighted_avg final: mean over the present scores, NULL when none was present */
Datum
weighted_avg_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, WAVG_STATE_LEN, "weighted_avg", false);
	float8	   *s = HS_STATE_VALUES(state);

	wavg_check_state(s, "weighted_avg");
	if (s[WAVG_PRESENT] <= 0.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(wavg_mean(s[WAVG_SUM], s[WAVG_PRESENT]));
}

PG_FUNCTION_INFO_V1(weighted_coverage_final);
/* weighted_coverage final: present weight / total weight, NULL for no rows */
Datum
weighted_coverage_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, WAVG_STATE_LEN, "weighted_coverage", false);
	float8	   *s = HS_STATE_VALUES(state);

	wavg_check_state(s, "weighted_coverage");
	if (s[WAVG_TOTAL] <= 0.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[WAVG_PRESENT] / s[WAVG_TOTAL]);
}

/*
 * Row-wise form: the same sums over two arrays. scores may hold NULLs (unknown, skipped);
 * weights may not. Fills the three state sums.
 */
static void
weighted_arrays(FunctionCallInfo fcinfo, float8 *sums)
{
	Datum	   *scores;
	bool	   *score_nulls;
	int			nscores;
	const float8 *weights;
	int			nweights;
	int			i;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("weights must not be NULL")));
	weights = hs_float8_array(PG_GETARG_ARRAYTYPE_P(1), "weights", &nweights);
	nscores = hs_array_arg(fcinfo, 0, FLOAT8OID, "scores", true, &scores, &score_nulls);
	if (nscores != nweights)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("scores and weights must have the same length, got %d and %d",
						nscores, nweights)));

	sums[WAVG_PRESENT] = sums[WAVG_SUM] = sums[WAVG_TOTAL] = 0.0;
	for (i = 0; i < nweights; i++)
	{
		CHECK_FOR_INTERRUPTS();
		hs_check_weight(weights[i], "weights");
		sums[WAVG_TOTAL] += weights[i];
		hs_check_sum(sums[WAVG_TOTAL], "the total of weights");
		if (score_nulls[i])
			continue;
		hs_check_score(DatumGetFloat8(scores[i]), "scores");
		sums[WAVG_PRESENT] += weights[i];
		sums[WAVG_SUM] += weights[i] * DatumGetFloat8(scores[i]);
		hs_check_sum(sums[WAVG_SUM], "the sum of weights * scores");
	}
}

PG_FUNCTION_INFO_V1(weighted_score);
/* weighted_score(scores[], weights[]): weighted mean of the non-NULL scores */
Datum
weighted_score(PG_FUNCTION_ARGS)
{
	float8		sums[WAVG_STATE_LEN];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	weighted_arrays(fcinfo, sums);
	if (sums[WAVG_PRESENT] <= 0.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(wavg_mean(sums[WAVG_SUM], sums[WAVG_PRESENT]));
}

PG_FUNCTION_INFO_V1(weighted_score_coverage);
/* weighted_score_coverage(scores[], weights[]): share of the weight whose score is known */
Datum
weighted_score_coverage(PG_FUNCTION_ARGS)
{
	float8		sums[WAVG_STATE_LEN];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	weighted_arrays(fcinfo, sums);
	PG_RETURN_FLOAT8(sums[WAVG_PRESENT] / sums[WAVG_TOTAL]);
}

/*
 * The elements of a one-dimensional int4[] argument, none NULL, as hs_float8_array does for
 * float8[].
 */
static int32 *
int4_array(ArrayType *array, const char *arg, int *length)
{
	if (ARR_ELEMTYPE(array) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be an integer[]", arg)));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", arg)));
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", arg)));
	*length = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	return (int32 *) ARR_DATA_PTR(array);
}

PG_FUNCTION_INFO_V1(effective_weights);
/*
 * effective_weights(raw_values[], groups[], weights[], group_weights[]): the weight each known
 * (non-NULL) value carries in a two-level composite, e.g. metrics within dimensions. Within
 * its group a value's share is weights[i] over its group's known weights; a group's share is
 * group_weights[g] over the weights of the groups with a known value. The result, NULL where
 * the value is NULL, sums to 1 whenever a value is known. One call per account replaces two
 * window sums over the account's metric rows.
 */
Datum
effective_weights(PG_FUNCTION_ARGS)
{
	bool	   *value_nulls;
	Datum	   *unused;
	int			nvalues,
				ngroup_ids,
				nweights,
				ngroups;
	const int32 *groups = int4_array(PG_GETARG_ARRAYTYPE_P(1), "groups", &ngroup_ids);
	const float8 *weights = hs_float8_array(PG_GETARG_ARRAYTYPE_P(2), "weights", &nweights);
	const float8 *group_weights = hs_float8_array(PG_GETARG_ARRAYTYPE_P(3), "group_weights", &ngroups);
	float8	   *known_weight;	/* per group: sum of its known values' weights */
	float8		known_group_weight = 0.0;
	Datum	   *result;
	int			lower_bound;
	int			i;

	nvalues = hs_array_arg(fcinfo, 0, FLOAT8OID, "raw_values", true, &unused, &value_nulls);
	if (ngroup_ids != nvalues || nweights != nvalues)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("raw_values, groups and weights must have the same length, got %d, %d and %d",
						nvalues, ngroup_ids, nweights)));

	known_weight = palloc0(sizeof(float8) * ngroups);
	for (i = 0; i < ngroups; i++)
		hs_check_weight(group_weights[i], "group_weights");
	for (i = 0; i < nvalues; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (groups[i] < 1 || groups[i] > ngroups)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("groups must be within 1 and %d (the length of group_weights), got %d",
							ngroups, groups[i])));
		hs_check_weight(weights[i], "weights");
		if (value_nulls[i])
			continue;
		if (known_weight[groups[i] - 1] == 0.0)
			known_group_weight += group_weights[groups[i] - 1];
		known_weight[groups[i] - 1] += weights[i];
		hs_check_sum(known_weight[groups[i] - 1], "the sum of weights");
	}
	hs_check_sum(known_group_weight, "the sum of group_weights");

	result = palloc(sizeof(Datum) * nvalues);
	for (i = 0; i < nvalues; i++)
	{
		int			g = groups[i] - 1;

		if (value_nulls[i])
			result[i] = (Datum) 0;
		else
			result[i] = Float8GetDatum(weights[i] / known_weight[g] * group_weights[g] / known_group_weight);
	}
	/* one-dimensional and never empty: hs_float8_array refuses an empty weights */
	lower_bound = 1;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(result, value_nulls, 1, &nvalues, &lower_bound,
											 FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
											 TYPALIGN_DOUBLE));
}
