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

PG_FUNCTION_INFO_V1(weighted_avg_accum);
/* weighted_avg(score, weight) transition: NULL score adds to the total weight only */
Datum
weighted_avg_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, WAVG_STATE_LEN, "weighted_avg", true);
	float8	   *s = HS_STATE_VALUES(state);
	double		weight;

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

	if (s[WAVG_PRESENT] <= 0.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[WAVG_SUM] / s[WAVG_PRESENT]);
}

PG_FUNCTION_INFO_V1(weighted_coverage_final);
/* weighted_coverage final: present weight / total weight, NULL for no rows */
Datum
weighted_coverage_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hs_state_arg(fcinfo, 0, WAVG_STATE_LEN, "weighted_coverage", false);
	float8	   *s = HS_STATE_VALUES(state);

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
	ArrayType  *scores_array = PG_GETARG_ARRAYTYPE_P(0);
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

	if (ARR_NDIM(scores_array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("scores must be a one-dimensional array")));
	deconstruct_array(scores_array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &scores, &score_nulls, &nscores);
	if (nscores != nweights)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("scores and weights must have the same length, got %d and %d",
						nscores, nweights)));

	sums[WAVG_PRESENT] = sums[WAVG_SUM] = sums[WAVG_TOTAL] = 0.0;
	for (i = 0; i < nweights; i++)
	{
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
	PG_RETURN_FLOAT8(sums[WAVG_SUM] / sums[WAVG_PRESENT]);
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
