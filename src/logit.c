/*
 * logit.c: logistic regression by iteratively reweighted least squares (Newton's method).
 *
 * logit_step is an aggregate that makes one pass over the rows at the current coefficients
 * and accumulates what a Newton step needs: the score vector Xᵀ(y - μ), the information
 * matrix XᵀWX (W = μ(1 - μ)) and the log-likelihood. Its state is a plain float8[] with a
 * combine function, so a pass runs on parallel workers (and on distributed tables) and the
 * partial states are added. Features are standardised inside the pass with the given centre
 * and scale, so the system stays well conditioned whatever the units of the columns.
 *
 * State layout (k = p + 1 coefficients, intercept first):
 *   [0] p   [1] rows used   [2] rows skipped (a NULL feature or label)   [3] positive rows
 *   [4] log-likelihood at the coefficients given   [5 .. 5+k) score vector
 *   [5+k ..) the upper triangle of XᵀWX, row by row
 * The initial state is the empty array; the first row sizes it from the coefficients.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "health_score.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

#define LOGIT_HEADER 5
#define LOGIT_MAX_FEATURES 500
/* A pivot below this share of its diagonal means the feature adds nothing new. */
#define LOGIT_COLLINEAR_TOL 1e-10

#define LOGIT_STATE_LENGTH(k) (LOGIT_HEADER + (k) + (k) * ((k) + 1) / 2)
/* Index of H[i][j] (i <= j) in the packed upper triangle. */
#define LOGIT_H(k, i, j) ((i) * (k) - (i) * ((i) - 1) / 2 + ((j) - (i)))

/* The elements of a float8[] argument that must have exactly want elements (want < 0: any). */
static float8 *
logit_array(ArrayType *array, const char *arg, int want)
{
	int			n;
	float8	   *values = hs_float8_array(array, arg, &n);

	if (want >= 0 && n != want)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have %d elements, got %d", arg, want, n)));
	return values;
}

/* Number of coefficients k of a state, after checking its length. */
static int
logit_state_k(ArrayType *state, const char *fname)
{
	int			n;
	float8	   *s;
	int			p;

	if (ARR_NDIM(state) == 0)
		return 0;
	if (ARR_NDIM(state) != 1 || ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: state must be a one-dimensional float8[] without NULLs", fname)));
	n = ArrayGetNItems(ARR_NDIM(state), ARR_DIMS(state));
	if (n == 0)
		return 0;
	s = (float8 *) ARR_DATA_PTR(state);
	/* the range first: converting NaN or a huge number to int is undefined */
	if (n < LOGIT_HEADER || !(s[0] >= 1 && s[0] <= LOGIT_MAX_FEATURES) || s[0] != floor(s[0]) ||
		n != LOGIT_STATE_LENGTH((int) s[0] + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: state is not a logit_step state", fname)));
	p = (int) s[0];
	return p + 1;
}

/*
 * Error unless a logit_step state of k coefficients holds what a pass can produce: whole
 * counts (no more positive rows than rows used), a finite log-likelihood of zero or less, a
 * finite score vector and information matrix with no negative diagonal. The transition
 * function only checks the shape (a full check per row would double its cost); whatever
 * reads a state checks it whole.
 */
static void
logit_check_state(const float8 *s, int k, const char *fname)
{
	int			n = LOGIT_STATE_LENGTH(k);

	hs_check_state_count(s[1], fname, "the rows used");
	hs_check_state_count(s[2], fname, "the rows skipped");
	hs_check_state_count(s[3], fname, "the positive rows");
	if (s[3] > s[1])
		hs_invalid_state(fname, "more positive rows than rows used");
	if (!(s[4] <= 0) || isinf(s[4]))
		hs_invalid_state(fname, "the log-likelihood must be finite and not above zero");
	for (int i = LOGIT_HEADER; i < n; i++)
	{
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!isfinite(s[i]))
			hs_invalid_state(fname, "the score vector and information matrix must be finite");
	}
	for (int i = 0; i < k; i++)
		if (s[LOGIT_HEADER + k + LOGIT_H(k, i, i)] < 0)
			hs_invalid_state(fname, "the information matrix has a negative diagonal");
}

/* The elements of an array argument, each of which must be finite. */
static void
logit_check_finite(const float8 *values, int n, const char *arg)
{
	for (int i = 0; i < n; i++)
		if (!isfinite(values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s[%d] must be a finite number, got %g", arg, i + 1, values[i])));
}

/* centre and scale of p features: finite, each scale greater than zero. */
static void
logit_check_standardisation(const float8 *center, const float8 *scale, int p)
{
	logit_check_finite(center, p, "center");
	logit_check_finite(scale, p, "scale");
	for (int j = 0; j < p; j++)
		if (!(scale[j] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("scale[%d] must be greater than zero, got %g", j + 1, scale[j])));
}

/* A new zeroed state for k coefficients. */
static ArrayType *
logit_new_state(int k)
{
	int			n = LOGIT_STATE_LENGTH(k);
	ArrayType  *state;
	Size		size = ARR_OVERHEAD_NONULLS(1) + n * sizeof(float8);

	state = (ArrayType *) palloc0(size);
	SET_VARSIZE(state, size);
	state->ndim = 1;
	state->dataoffset = 0;
	state->elemtype = FLOAT8OID;
	ARR_DIMS(state)[0] = n;
	ARR_LBOUND(state)[0] = 1;
	HS_STATE_VALUES(state)[0] = k - 1;
	return state;
}

/* log(1 + exp(x)) without overflow. */
static inline double
logit_log1pexp(double x)
{
	return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* The name of coefficient j (0 = intercept) for messages. */
static char *
logit_term_name(ArrayType *names, int j)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (j == 0)
		return "(intercept)";
	if (names != NULL)
	{
		deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		if (j - 1 < n && !nulls[j - 1])
			return TextDatumGetCString(elems[j - 1]);
	}
	return psprintf("features[%d]", j);
}

/*
 * The Cholesky factor (lower, row-major k*k) of the matrix held in a (full, row-major).
 * A pivot that collapses names the feature that is a combination of the ones before it.
 */
static void
logit_cholesky(double *a, double *l, int k, ArrayType *names)
{
	for (int j = 0; j < k; j++)
	{
		double		d = a[j * k + j];

		CHECK_FOR_INTERRUPTS();
		for (int m = 0; m < j; m++)
			d -= l[j * k + m] * l[j * k + m];
		if (!(d > LOGIT_COLLINEAR_TOL * a[j * k + j]) || !(a[j * k + j] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature \"%s\" is collinear with the features before it (or constant over the rows used)",
							logit_term_name(names, j)),
					 errhint("Leave the feature out, or fit with an l2 penalty.")));
		l[j * k + j] = sqrt(d);
		for (int i = j + 1; i < k; i++)
		{
			double		s = a[i * k + j];

			for (int m = 0; m < j; m++)
				s -= l[i * k + m] * l[j * k + m];
			l[i * k + j] = s / l[j * k + j];
		}
	}
}

/* Solves L Lᵀ x = b in place. */
static void
logit_cholesky_solve(const double *l, double *b, int k)
{
	for (int i = 0; i < k; i++)
	{
		double		s = b[i];

		for (int m = 0; m < i; m++)
			s -= l[i * k + m] * b[m];
		b[i] = s / l[i * k + i];
	}
	for (int i = k - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int m = i + 1; m < k; m++)
			s -= l[m * k + i] * b[m];
		b[i] = s / l[i * k + i];
	}
}

/* The full penalised information matrix H + l2 I (intercept not penalised) of a state. */
static double *
logit_information(const float8 *s, int k, double l2)
{
	const float8 *h = s + LOGIT_HEADER + k;
	double	   *a = palloc(sizeof(double) * k * k);

	for (int i = 0; i < k; i++)
		for (int j = i; j < k; j++)
			a[i * k + j] = a[j * k + i] = h[LOGIT_H(k, i, j)];
	for (int j = 1; j < k; j++)
		a[j * k + j] += l2;
	return a;
}

static double
logit_l2_arg(FunctionCallInfo fcinfo, int argno)
{
	double		l2 = PG_ARGISNULL(argno) ? 0.0 : PG_GETARG_FLOAT8(argno);

	hs_check_finite(l2, "l2");
	if (l2 < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("l2 must not be negative, got %g", l2)));
	return l2;
}

static ArrayType *
logit_float8_result(const double *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Float8GetDatum(values[i]);
	return construct_array(d, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* Transition function of logit_step: adds one row at the current coefficients. */
PG_FUNCTION_INFO_V1(logit_step_accum);
Datum
logit_step_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	ArrayType  *coef_a;
	float8	   *coef,
			   *center,
			   *scale,
			   *x,
			   *s,
			   *g,
			   *h;
	double		z[LOGIT_MAX_FEATURES + 1];
	double		eta,
				mu,
				w,
				r;
	int			k,
				p;
	bool		y;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("logit_step: state must not be NULL")));
	if (PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients, center and scale must not be NULL")));

	coef_a = PG_GETARG_ARRAYTYPE_P(3);
	coef = hs_float8_array(coef_a, "coefficients", &k);
	p = k - 1;
	if (p < 1 || p > LOGIT_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coefficients must have between 2 and %d elements (intercept first), got %d",
						LOGIT_MAX_FEATURES + 1, k)));
	center = logit_array(PG_GETARG_ARRAYTYPE_P(4), "center", p);
	scale = logit_array(PG_GETARG_ARRAYTYPE_P(5), "scale", p);
	logit_check_finite(coef, k, "coefficients");
	logit_check_standardisation(center, scale, p);

	state = PG_GETARG_ARRAYTYPE_P(0);
	if (logit_state_k(state, "logit_step") == 0)
		state = logit_new_state(k);
	else
	{
		state = hs_state_arg(fcinfo, 0, LOGIT_STATE_LENGTH(k), "logit_step", true);
		/* called directly, the state may be built by hand; in an aggregate it is the last row's */
		if (!AggCheckCallContext(fcinfo, NULL))
			logit_check_state(HS_STATE_VALUES(state), k, "logit_step");
	}
	s = HS_STATE_VALUES(state);
	if ((int) s[0] != p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coefficients must have %d elements like the state, got %d",
						(int) s[0] + 1, k)));

	/* A row with an unknown feature or label is skipped and counted. */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		s[2] = hs_count_add(s[2], 1, "logit_step", "the rows skipped");
		PG_RETURN_ARRAYTYPE_P(state);
	}
	{
		ArrayType  *xa = PG_GETARG_ARRAYTYPE_P(1);
		int			n;

		if (ARR_NDIM(xa) == 1 && ARR_HASNULL(xa) && array_contains_nulls(xa))
		{
			s[2] = hs_count_add(s[2], 1, "logit_step", "the rows skipped");
			PG_RETURN_ARRAYTYPE_P(state);
		}
		x = hs_float8_array(xa, "features", &n);
		if (n != p)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("features must have %d elements like the coefficients, got %d", p, n)));
	}
	y = PG_GETARG_BOOL(2);

	z[0] = 1.0;
	eta = coef[0];
	for (int j = 1; j < k; j++)
	{
		if (unlikely(isnan(x[j - 1]) || isinf(x[j - 1])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("features[%d] must be a finite number, got %g", j, x[j - 1])));
		z[j] = (x[j - 1] - center[j - 1]) / scale[j - 1];
		eta += coef[j] * z[j];
	}
	mu = 1.0 / (1.0 + exp(-eta));
	w = mu * (1.0 - mu);
	r = (y ? 1.0 : 0.0) - mu;

	s[1] = hs_count_add(s[1], 1, "logit_step", "the rows used");
	if (y)
		s[3] += 1;				/* no more than the rows used */
	s[4] += (y ? eta : 0.0) - logit_log1pexp(eta);
	g = s + LOGIT_HEADER;
	h = g + k;
	for (int i = 0; i < k; i++)
	{
		double		wz = w * z[i];

		g[i] += r * z[i];
		for (int j = i; j < k; j++)
			*h++ += wz * z[j];
	}
	hs_check_sum(s[4], "logit_step log-likelihood");
	/*
	 * Huge standardised features overflow the sums. The score vector and the diagonal are
	 * enough to look at: an element off the diagonal is at most the mean of its two diagonal
	 * ones (each term w z_i z_j is at most w (z_i^2 + z_j^2) / 2).
	 */
	for (int i = 0; i < k; i++)
		if (unlikely(!isfinite(g[i]) || !isfinite(g[k + LOGIT_H(k, i, i)])))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("logit_step: the score vector or information matrix is out of range for float8"),
					 errhint("Standardise the features with center and scale.")));
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Combine function of logit_step: adds two partial states. */
PG_FUNCTION_INFO_V1(logit_step_combine);
Datum
logit_step_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			ka = logit_state_k(a, "logit_step_combine");
	int			kb = logit_state_k(b, "logit_step_combine");
	float8	   *sa,
			   *sb;

	if (kb == 0)
		PG_RETURN_ARRAYTYPE_P(a);
	if (ka == 0)
		PG_RETURN_ARRAYTYPE_P(PG_GETARG_ARRAYTYPE_P_COPY(1));
	if (ka != kb)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_step_combine: states have different numbers of features")));
	a = hs_state_arg(fcinfo, 0, LOGIT_STATE_LENGTH(ka), "logit_step_combine", true);
	sa = HS_STATE_VALUES(a);
	sb = HS_STATE_VALUES(b);
	logit_check_state(sa, ka, "logit_step_combine");
	logit_check_state(sb, kb, "logit_step_combine");
	sa[1] = hs_count_add(sa[1], sb[1], "logit_step_combine", "the rows used");
	sa[2] = hs_count_add(sa[2], sb[2], "logit_step_combine", "the rows skipped");
	sa[3] += sb[3];				/* no more than the rows used */
	/* both states passed their checks, so the sums only need to stay finite */
	for (int i = 4; i < LOGIT_STATE_LENGTH(ka); i++)
	{
		sa[i] += sb[i];
		hs_check_sum(sa[i], "logit_step_combine: the sum of the states");
	}
	PG_RETURN_ARRAYTYPE_P(a);
}

/* Final function of logit_step: the state itself, copied so it stays read-only. */
PG_FUNCTION_INFO_V1(logit_step_final);
Datum
logit_step_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P_COPY(0);
	int			k = logit_state_k(state, "logit_step");

	if (k > 0)
		logit_check_state(HS_STATE_VALUES(state), k, "logit_step");
	PG_RETURN_ARRAYTYPE_P(state);
}

/*
 * The coefficients after one Newton step from a logit_step state taken at coefficients coef:
 * coef + (H + l2 I)⁻¹ (g - l2 coef), the intercept not penalised.
 */
PG_FUNCTION_INFO_V1(logit_solve);
Datum
logit_solve(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			k = logit_state_k(state, "logit_solve");
	float8	   *coef;
	double		l2 = logit_l2_arg(fcinfo, 2);
	ArrayType  *names = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	const float8 *s;
	double	   *a,
			   *l,
			   *b;

	if (k == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state must hold at least one row")));
	coef = logit_array(PG_GETARG_ARRAYTYPE_P(1), "coefficients", k);
	logit_check_finite(coef, k, "coefficients");
	s = HS_STATE_VALUES(state);
	logit_check_state(s, k, "logit_solve");
	a = logit_information(s, k, l2);
	l = palloc0(sizeof(double) * k * k);
	b = palloc(sizeof(double) * k);
	logit_cholesky(a, l, k, names);
	for (int j = 0; j < k; j++)
		b[j] = s[LOGIT_HEADER + j] - (j > 0 ? l2 * coef[j] : 0.0);
	logit_cholesky_solve(l, b, k);
	for (int j = 0; j < k; j++)
	{
		b[j] += coef[j];
		hs_check_sum(b[j], "logit_solve coefficient");
	}
	PG_RETURN_ARRAYTYPE_P(logit_float8_result(b, k));
}

/*
 * The covariance matrix (row-major k*k, intercept first) of the coefficients on the original
 * scale of the features: the inverse of the (penalised) information matrix of a state taken
 * at the fitted standardised coefficients, mapped back through the centre and scale.
 */
PG_FUNCTION_INFO_V1(logit_covariance);
Datum
logit_covariance(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			k = logit_state_k(state, "logit_covariance");
	double		l2 = logit_l2_arg(fcinfo, 1);
	float8	   *center,
			   *scale;
	ArrayType  *names = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	double	   *a,
			   *l,
			   *inv,
			   *t,
			   *tc,
			   *out;

	if (k == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state must hold at least one row")));
	center = logit_array(PG_GETARG_ARRAYTYPE_P(2), "center", k - 1);
	scale = logit_array(PG_GETARG_ARRAYTYPE_P(3), "scale", k - 1);
	logit_check_standardisation(center, scale, k - 1);
	logit_check_state(HS_STATE_VALUES(state), k, "logit_covariance");
	a = logit_information(HS_STATE_VALUES(state), k, l2);
	l = palloc0(sizeof(double) * k * k);
	logit_cholesky(a, l, k, names);

	/* Inverse, column by column. */
	inv = palloc0(sizeof(double) * k * k);
	{
		double	   *e = palloc(sizeof(double) * k);

		for (int c = 0; c < k; c++)
		{
			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < k; i++)
				e[i] = (i == c) ? 1.0 : 0.0;
			logit_cholesky_solve(l, e, k);
			for (int i = 0; i < k; i++)
				inv[i * k + c] = e[i];
		}
	}

	/* T maps standardised coefficients to the original scale: b0 - sum(bj cj/sj), bj/sj. */
	t = palloc0(sizeof(double) * k * k);
	t[0] = 1.0;
	for (int j = 1; j < k; j++)
	{
		t[j] = -center[j - 1] / scale[j - 1];
		t[j * k + j] = 1.0 / scale[j - 1];
	}
	tc = palloc0(sizeof(double) * k * k);
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++)
		{
			double		acc = 0;

			if (j == 0)
				CHECK_FOR_INTERRUPTS();
			for (int m = 0; m < k; m++)
				acc += t[i * k + m] * inv[m * k + j];
			tc[i * k + j] = acc;
		}
	out = palloc0(sizeof(double) * k * k);
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++)
		{
			double		acc = 0;

			if (j == 0)
				CHECK_FOR_INTERRUPTS();
			for (int m = 0; m < k; m++)
				acc += tc[i * k + m] * t[j * k + m];
			out[i * k + j] = acc;
		}
	logit_check_finite(out, k * k, "logit_covariance result");
	PG_RETURN_ARRAYTYPE_P(logit_float8_result(out, k * k));
}

/*
 * The 2-norm condition number of the standardised information matrix of a state (largest
 * over smallest eigenvalue, cyclic Jacobi rotations): large values warn of near-collinearity.
 */
PG_FUNCTION_INFO_V1(logit_condition);
Datum
logit_condition(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			k = logit_state_k(state, "logit_condition");
	double	   *a;
	double		lo = DBL_MAX,
				hi = 0;

	if (k == 0)
		PG_RETURN_NULL();
	logit_check_state(HS_STATE_VALUES(state), k, "logit_condition");
	a = logit_information(HS_STATE_VALUES(state), k, 0.0);
	for (int sweep = 0; sweep < 100; sweep++)
	{
		double		off = 0,
					total = 0;

		for (int i = 0; i < k; i++)
			for (int j = 0; j < k; j++)
			{
				total += a[i * k + j] * a[i * k + j];
				if (i != j)
					off += a[i * k + j] * a[i * k + j];
			}
		if (off <= 1e-30 * total)
			break;
		for (int pi = 0; pi < k - 1; pi++)
		{
			/* a sweep over a large matrix takes long: let a cancel or timeout in */
			CHECK_FOR_INTERRUPTS();
			for (int q = pi + 1; q < k; q++)
			{
				double		apq = a[pi * k + q],
							theta,
							tt,
							c,
							sn;

				if (fabs(apq) < 1e-300)
					continue;
				theta = (a[q * k + q] - a[pi * k + pi]) / (2.0 * apq);
				tt = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
				c = 1.0 / sqrt(tt * tt + 1.0);
				sn = tt * c;
				for (int m = 0; m < k; m++)
				{
					double		amp = a[m * k + pi],
								amq = a[m * k + q];

					a[m * k + pi] = c * amp - sn * amq;
					a[m * k + q] = sn * amp + c * amq;
				}
				for (int m = 0; m < k; m++)
				{
					double		apm = a[pi * k + m],
								aqm = a[q * k + m];

					a[pi * k + m] = c * apm - sn * aqm;
					a[q * k + m] = sn * apm + c * aqm;
				}
			}
		}
	}
	for (int i = 0; i < k; i++)
	{
		double		ev = fabs(a[i * k + i]);

		lo = Min(lo, ev);
		hi = Max(hi, ev);
	}
	if (lo <= 0)
		PG_RETURN_FLOAT8(get_float8_infinity());
	PG_RETURN_FLOAT8(hi / lo);
}

/* The 97.5 % quantile of the standard normal: the half-width of a 95 % interval in standard errors. */
#define LOGIT_Z95 1.959963984540054

/*
 * The log-odds b0 + sum b_j x_j of features under coefficients (intercept first), after the
 * checks of logit_predict. logit_predict and logit_predict_interval both take it from here, so
 * the point estimate of an interval is the probability logit_predict gives, to the bit.
 */
static double
logit_eta(ArrayType *coef_a, ArrayType *x_a, int *k_out, float8 **x_out)
{
	int			k;
	float8	   *coef = hs_float8_array(coef_a, "coefficients", &k);
	float8	   *x = logit_array(x_a, "features", k - 1);
	double		eta;

	logit_check_finite(coef, k, "coefficients");
	eta = coef[0];
	for (int j = 1; j < k; j++)
	{
		if (isnan(x[j - 1]) || isinf(x[j - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("features[%d] must be a finite number, got %g", j, x[j - 1])));
		eta += coef[j] * x[j - 1];
	}
	if (!isfinite(eta))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("log-odds out of range for float8")));
	*k_out = k;
	*x_out = x;
	return eta;
}

static inline double
logit_logistic(double eta)
{
	return 1.0 / (1.0 + exp(-eta));
}

/* Probability (0-1) of the positive class for features under coefficients (intercept first). */
PG_FUNCTION_INFO_V1(logit_predict);
Datum
logit_predict(PG_FUNCTION_ARGS)
{
	int			k;
	float8	   *x;
	double		eta = logit_eta(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), &k, &x);

	PG_RETURN_FLOAT8(logit_logistic(eta));
}

/*
 * The variance x'Vx of the log-odds at u = (1, features) under the covariance V (row-major
 * k*k, intercept first, on the scale of the coefficients). A covariance matrix is positive
 * semi-definite, so a clearly negative form means the matrix is not one; a slightly negative
 * one is rounding (the terms cancel when the features lie far from zero) and counts as 0.
 */
static double
logit_quadratic_form(const float8 *v, const float8 *x, int k)
{
	double		q = 0,
				size = 0;

	for (int i = 0; i < k; i++)
	{
		double		ui = i == 0 ? 1.0 : x[i - 1];

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < k; j++)
		{
			double		term = ui * v[i * k + j] * (j == 0 ? 1.0 : x[j - 1]);

			q += term;
			size += fabs(term);
		}
	}
	if (!isfinite(size))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the variance of the log-odds is out of range for float8")));
	if (q < -1e-9 * size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("covariance is not positive semi-definite: the variance of the log-odds at these features is %g", q)));
	return Max(q, 0.0);
}

/*
 * {probability, low, high}: the probability of logit_predict and its 95 % interval by the
 * delta method on the log-odds, logistic(eta -+ 1.959964 sqrt(x'Vx)). The interval is taken
 * on the log-odds, where the estimate is close to normal, and mapped through the logistic
 * function, so it stays within 0 and 1 (and is not symmetric around the probability).
 */
PG_FUNCTION_INFO_V1(logit_predict_interval);
Datum
logit_predict_interval(PG_FUNCTION_ARGS)
{
	int			k;
	float8	   *x;
	double		eta = logit_eta(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(2), &k, &x);
	float8	   *v;
	double		half,
				out[3];

	/* as many as a fit can have; k * k must not overflow either */
	if (k > LOGIT_MAX_FEATURES + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coefficients must have at most %d elements (intercept first), got %d",
						LOGIT_MAX_FEATURES + 1, k)));
	v = logit_array(PG_GETARG_ARRAYTYPE_P(1), "covariance", k * k);
	logit_check_finite(v, k * k, "covariance");
	half = LOGIT_Z95 * sqrt(logit_quadratic_form(v, x, k));
	out[0] = logit_logistic(eta);
	/* eta -+ half may overflow to an infinity, whose logistic is 0 or 1 */
	out[1] = logit_logistic(eta - half);
	out[2] = logit_logistic(eta + half);
	PG_RETURN_ARRAYTYPE_P(logit_float8_result(out, 3));
}

/* Two-sided p-value of a z statistic under the standard normal: erfc(|z| / sqrt 2), exact far in the tail. */
PG_FUNCTION_INFO_V1(logit_p_value);
Datum
logit_p_value(PG_FUNCTION_ARGS)
{
	double		z = PG_GETARG_FLOAT8(0);

	if (isnan(z))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("z must be a number, got NaN")));
	PG_RETURN_FLOAT8(erfc(fabs(z) / M_SQRT2));
}

/*
 * logit_describe: one pass over the rows before a fit. Per feature, over the complete rows
 * (no NULL feature or label): mean and sum of squared deviations (Welford, combined with
 * Chan's formula), minimum and maximum within each class (a feature whose ranges do not
 * overlap separates the classes), and the count of NaN or infinite values.
 *
 * State layout: [0] p  [1] complete rows with finite features  [2] rows skipped (a NULL)
 *   [3] positive rows  [4] rows with a NaN or infinite feature, then LOGIT_DESCRIBE_PER
 *   values per feature: mean, M2, min and max among the other rows, min and max among the
 *   positive rows, NaN or infinite count.
 */
#define LOGIT_DESCRIBE_PER 7
#define LOGIT_DESCRIBE_LENGTH(p) (LOGIT_HEADER + (p) * LOGIT_DESCRIBE_PER)

static int
logit_describe_p(ArrayType *state)
{
	int			n;
	float8	   *s;
	int			p;

	if (ARR_NDIM(state) == 0)
		return 0;
	if (ARR_NDIM(state) != 1 || ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_describe: state must be a one-dimensional float8[] without NULLs")));
	n = ArrayGetNItems(ARR_NDIM(state), ARR_DIMS(state));
	if (n == 0)
		return 0;
	s = (float8 *) ARR_DATA_PTR(state);
	if (n < LOGIT_HEADER || !(s[0] >= 1 && s[0] <= LOGIT_MAX_FEATURES) || s[0] != floor(s[0]) ||
		n != LOGIT_DESCRIBE_LENGTH((int) s[0]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_describe: state is not a logit_describe state")));
	p = (int) s[0];
	return p;
}

/*
 * Error unless a logit_describe state of p features holds what a pass can produce: whole
 * counts, finite means, squared deviations of zero or more, ranges that are empty (+inf,
 * -inf) or finite.
 */
static void
logit_describe_check_state(const float8 *s, int p)
{
	const char *fname = "logit_describe";

	for (int i = 1; i < LOGIT_HEADER; i++)
		hs_check_state_count(s[i], fname, "the row counts");
	if (s[3] > s[1])
		hs_invalid_state(fname, "more positive rows than complete rows");
	for (int j = 0; j < p; j++)
	{
		const float8 *f = s + LOGIT_HEADER + j * LOGIT_DESCRIBE_PER;

		if (!isfinite(f[0]) || !(f[1] >= 0) || isinf(f[1]))
			hs_invalid_state(fname, "the means and squared deviations must be finite, the deviations not negative");
		for (int m = 2; m < 6; m++)
			if (isnan(f[m]))
				hs_invalid_state(fname, "a minimum or maximum is NaN");
		hs_check_state_count(f[6], fname, "the NaN or infinite counts");
	}
}

static ArrayType *
logit_describe_new(int p)
{
	int			n = LOGIT_DESCRIBE_LENGTH(p);
	Size		size = ARR_OVERHEAD_NONULLS(1) + n * sizeof(float8);
	ArrayType  *state = (ArrayType *) palloc0(size);
	float8	   *s;

	SET_VARSIZE(state, size);
	state->ndim = 1;
	state->dataoffset = 0;
	state->elemtype = FLOAT8OID;
	ARR_DIMS(state)[0] = n;
	ARR_LBOUND(state)[0] = 1;
	s = HS_STATE_VALUES(state);
	s[0] = p;
	for (int j = 0; j < p; j++)
	{
		float8	   *f = s + LOGIT_HEADER + j * LOGIT_DESCRIBE_PER;

		f[2] = f[4] = get_float8_infinity();
		f[3] = f[5] = -get_float8_infinity();
	}
	return state;
}

/* Transition function of logit_describe. */
PG_FUNCTION_INFO_V1(logit_describe_accum);
Datum
logit_describe_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	ArrayType  *xa;
	float8	   *s,
			   *x;
	int			p,
				n;
	bool		y,
				finite = true;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("logit_describe: state must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not be NULL (use an array with NULL elements for an unknown value)")));
	xa = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(xa) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must be a non-empty one-dimensional array")));
	n = ArrayGetNItems(ARR_NDIM(xa), ARR_DIMS(xa));
	state = PG_GETARG_ARRAYTYPE_P(0);
	p = logit_describe_p(state);
	if (p == 0)
	{
		if (n < 1 || n > LOGIT_MAX_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("features must have between 1 and %d elements, got %d",
							LOGIT_MAX_FEATURES, n)));
		state = logit_describe_new(n);
		p = n;
	}
	else
	{
		state = hs_state_arg(fcinfo, 0, LOGIT_DESCRIBE_LENGTH(p), "logit_describe", true);
		/* called directly, the state may be built by hand; in an aggregate it is the last row's */
		if (!AggCheckCallContext(fcinfo, NULL))
			logit_describe_check_state(HS_STATE_VALUES(state), p);
	}
	s = HS_STATE_VALUES(state);
	if (n != p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must have %d elements on every row, got %d", p, n)));
	if (PG_ARGISNULL(2) || (ARR_HASNULL(xa) && array_contains_nulls(xa)))
	{
		s[2] = hs_count_add(s[2], 1, "logit_describe", "the rows skipped");
		PG_RETURN_ARRAYTYPE_P(state);
	}
	x = (float8 *) ARR_DATA_PTR(xa);
	y = PG_GETARG_BOOL(2);
	for (int j = 0; j < p; j++)
		if (isnan(x[j]) || isinf(x[j]))
		{
			float8	   *count = s + LOGIT_HEADER + j * LOGIT_DESCRIBE_PER + 6;

			*count = hs_count_add(*count, 1, "logit_describe", "the NaN or infinite counts");
			finite = false;
		}
	if (!finite)
	{
		s[4] = hs_count_add(s[4], 1, "logit_describe", "the rows with a NaN or infinite feature");
		PG_RETURN_ARRAYTYPE_P(state);
	}
	s[1] = hs_count_add(s[1], 1, "logit_describe", "the complete rows");
	if (y)
		s[3] += 1;				/* no more than the complete rows */
	for (int j = 0; j < p; j++)
	{
		float8	   *f = s + LOGIT_HEADER + j * LOGIT_DESCRIBE_PER;
		double		d = x[j] - f[0];

		f[0] += d / s[1];
		f[1] += d * (x[j] - f[0]);
		if (unlikely(isinf(f[1]) || isnan(f[1])))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("features[%d]: the sum of squared deviations is out of range for float8", j + 1),
					 errhint("Rescale the feature (for example to thousands) before fitting.")));
		if (y)
		{
			f[4] = Min(f[4], x[j]);
			f[5] = Max(f[5], x[j]);
		}
		else
		{
			f[2] = Min(f[2], x[j]);
			f[3] = Max(f[3], x[j]);
		}
	}
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Combine function of logit_describe. */
PG_FUNCTION_INFO_V1(logit_describe_combine);
Datum
logit_describe_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			pa = logit_describe_p(a);
	int			pb = logit_describe_p(b);
	float8	   *sa,
			   *sb;
	double		na,
				nb,
				nt;

	if (pb == 0)
		PG_RETURN_ARRAYTYPE_P(a);
	if (pa == 0)
		PG_RETURN_ARRAYTYPE_P(PG_GETARG_ARRAYTYPE_P_COPY(1));
	if (pa != pb)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_describe_combine: states have different numbers of features")));
	a = hs_state_arg(fcinfo, 0, LOGIT_DESCRIBE_LENGTH(pa), "logit_describe", true);
	sa = HS_STATE_VALUES(a);
	sb = HS_STATE_VALUES(b);
	logit_describe_check_state(sa, pa);
	logit_describe_check_state(sb, pb);
	na = sa[1];
	nb = sb[1];
	for (int i = 1; i < LOGIT_HEADER; i++)
		sa[i] = hs_count_add(sa[i], sb[i], "logit_describe", "the row counts");
	nt = sa[1];
	for (int j = 0; j < pa; j++)
	{
		float8	   *fa = sa + LOGIT_HEADER + j * LOGIT_DESCRIBE_PER;
		float8	   *fb = sb + LOGIT_HEADER + j * LOGIT_DESCRIBE_PER;

		if (nb > 0)
		{
			double		d = fb[0] - fa[0];
			double		mean = (na * fa[0] + nb * fb[0]) / nt;

			/* with huge means the products overflow; their weighted mean does not */
			if (!isfinite(mean))
				mean = fa[0] * (na / nt) + fb[0] * (nb / nt);
			fa[0] = mean;
			fa[1] += fb[1] + d * d * na * nb / nt;
			if (unlikely(isinf(fa[1]) || isnan(fa[1])))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("features[%d]: the sum of squared deviations is out of range for float8", j + 1),
						 errhint("Rescale the feature (for example to thousands) before fitting.")));
		}
		fa[2] = Min(fa[2], fb[2]);
		fa[3] = Max(fa[3], fb[3]);
		fa[4] = Min(fa[4], fb[4]);
		fa[5] = Max(fa[5], fb[5]);
		fa[6] = hs_count_add(fa[6], fb[6], "logit_describe", "the NaN or infinite counts");
	}
	PG_RETURN_ARRAYTYPE_P(a);
}

/* A 0/1 label as a boolean: 1 is true, 0 false; anything else is an error. */
PG_FUNCTION_INFO_V1(logit_label);
Datum
logit_label(PG_FUNCTION_ARGS)
{
	double		v = PG_GETARG_FLOAT8(0);

	if (v == 1.0)
		PG_RETURN_BOOL(true);
	if (v == 0.0)
		PG_RETURN_BOOL(false);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("label must be 0 or 1 (or boolean), got %g", v)));
	PG_RETURN_NULL();
}
