-- health_score install script, part 4: churn risk: logistic regression, model catalog, AUC.

-- Evaluation aggregates: ROC AUC and rates at a threshold -----------------------------------

CREATE FUNCTION health_score.auc_accum(state float8[], score float8, churned boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_accum(float8[], float8, boolean) IS
'Transition function of auc: counts the row in its 0.01-wide bin of the 0-100 grid, per class (higher score = riskier).';

CREATE FUNCTION health_score.auc_health_accum(state float8[], score float8, churned boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_health_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_health_accum(float8[], float8, boolean) IS
'Transition function of auc_health: as auc_accum with the grid reversed (lower score = riskier).';

CREATE FUNCTION health_score.auc_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_combine(float8[], float8[]) IS
'Combine function of auc and auc_health: adds two histograms.';

CREATE FUNCTION health_score.auc_final(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'auc_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.auc_final(float8[]) IS
'Final function of auc and auc_health: the probability that a churned row ranks riskier than a retained one, ties counting one half; NULL unless both classes are present.';

CREATE AGGREGATE health_score.auc(score float8, churned boolean) (
    SFUNC = health_score.auc_accum,
    STYPE = float8[],
    FINALFUNC = health_score.auc_final,
    COMBINEFUNC = health_score.auc_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.auc(float8, boolean) IS
'ROC AUC of a risk score 0-100 (higher = more likely to churn, e.g. churn probability * 100) against the churn outcome. Scores are rounded to the nearest 0.01, so the result equals the rank-sum AUC (scikit-learn''s roc_auc_score) exactly for scores with at most two decimals. Rows with a NULL score or outcome are skipped; NULL unless both classes occur. Fixed-size state (2 x 10,001 bins), combinable and parallel safe.';

CREATE AGGREGATE health_score.auc_health(score float8, churned boolean) (
    SFUNC = health_score.auc_health_accum,
    STYPE = float8[],
    FINALFUNC = health_score.auc_final,
    COMBINEFUNC = health_score.auc_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.auc_health(float8, boolean) IS
'ROC AUC of a health score 0-100 (lower = more likely to churn) against the churn outcome: auc_health(score, churned) = auc(100 - score, churned). Same grid, rounding and NULL handling as auc.';

CREATE FUNCTION health_score.rates_accum(state float8[], score float8, churned boolean, threshold float8)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_rates_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.rates_accum(float8[], float8, boolean, float8) IS
'Transition function of the threshold rates; state {true positives, false positives, true negatives, false negatives, threshold}; a row is flagged when score >= threshold.';

CREATE FUNCTION health_score.rates_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'auc_rates_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.rates_combine(float8[], float8[]) IS
'Combine function of the threshold rates: adds the counts.';

CREATE FUNCTION health_score.rates_precision_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_precision_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_precision_final(float8[]) IS
'Final function of precision_at: flagged rows that churned / flagged rows; NULL when nothing was flagged.';

CREATE FUNCTION health_score.rates_recall_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_recall_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_recall_final(float8[]) IS
'Final function of recall_at: churned rows flagged / churned rows; NULL when none churned.';

CREATE FUNCTION health_score.rates_fpr_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_fpr_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_fpr_final(float8[]) IS
'Final function of false_positive_rate_at: retained rows flagged / retained rows; NULL when all churned.';

CREATE FUNCTION health_score.rates_fnr_final(state float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'auc_fnr_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION health_score.rates_fnr_final(float8[]) IS
'Final function of false_negative_rate_at: churned rows not flagged / churned rows; NULL when none churned.';

CREATE AGGREGATE health_score.precision_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_precision_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.precision_at(float8, boolean, float8) IS
'Precision of the flag score >= threshold (a risk score: higher = riskier; for a health score pass -score and -threshold to flag score <= threshold): the share of flagged rows that churned. threshold must be the same on every row; rows with a NULL score or outcome are skipped.';

CREATE AGGREGATE health_score.recall_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_recall_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.recall_at(float8, boolean, float8) IS
'Recall (true-positive rate) of the flag score >= threshold: the share of churned rows that were flagged. Orientation and NULLs as precision_at.';

CREATE AGGREGATE health_score.false_positive_rate_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_fpr_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.false_positive_rate_at(float8, boolean, float8) IS
'False-positive rate of the flag score >= threshold: the share of retained rows that were flagged. Orientation and NULLs as precision_at.';

CREATE AGGREGATE health_score.false_negative_rate_at(score float8, churned boolean, threshold float8) (
    SFUNC = health_score.rates_accum, STYPE = float8[], FINALFUNC = health_score.rates_fnr_final,
    COMBINEFUNC = health_score.rates_combine, INITCOND = '{0,0,0,0,NaN}', PARALLEL = SAFE
);
COMMENT ON AGGREGATE health_score.false_negative_rate_at(float8, boolean, float8) IS
'False-negative rate of the flag score >= threshold: the share of churned rows that were not flagged (1 - recall). Orientation and NULLs as precision_at.';

-- Logistic regression kernels ----------------------------------------------------------------

CREATE FUNCTION health_score.logit_step_accum(state float8[], features float8[], churned boolean,
                                              coefficients float8[], center float8[], scale float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_step_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_step_accum(float8[], float8[], boolean, float8[], float8[], float8[]) IS
'Transition function of logit_step: adds one row''s score vector, information matrix and log-likelihood at the given coefficients.';

CREATE FUNCTION health_score.logit_step_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_step_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_step_combine(float8[], float8[]) IS
'Combine function of logit_step: adds two partial states.';

CREATE FUNCTION health_score.logit_step_final(state float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_step_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_step_final(float8[]) IS
'Final function of logit_step: the accumulated state (copied).';

CREATE AGGREGATE health_score.logit_step(features float8[], churned boolean, coefficients float8[],
                                         center float8[], scale float8[]) (
    SFUNC = health_score.logit_step_accum,
    STYPE = float8[],
    FINALFUNC = health_score.logit_step_final,
    COMBINEFUNC = health_score.logit_step_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.logit_step(float8[], boolean, float8[], float8[], float8[]) IS
'One pass of a logistic regression fit (IRLS / Newton): features are standardised as (x - center) / scale, coefficients (intercept first) apply to the standardised features. Returns {p, rows used, rows skipped (a NULL feature or label), positive rows, log-likelihood, score vector X''(y - mu) (p + 1 values), upper triangle of X''WX row by row}. Feed it to logit_solve for the next coefficients. Combinable and parallel safe.';

CREATE FUNCTION health_score.logit_solve(state float8[], coefficients float8[], l2 float8, names text[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_solve'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_solve(float8[], float8[], float8, text[]) IS
'The coefficients after one Newton step from a logit_step state taken at coefficients: coefficients + (H + l2 I)^-1 (g - l2 coefficients), the intercept unpenalised (Cholesky). A feature that is a linear combination of the ones before it is an error naming it (names: the feature names, for the message).';

CREATE FUNCTION health_score.logit_covariance(state float8[], l2 float8, center float8[], scale float8[], names text[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_covariance'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_covariance(float8[], float8, float8[], float8[], text[]) IS
'Covariance matrix (row-major (p+1) x (p+1), intercept first) of the coefficients on the original scale of the features: the inverse (penalised) information matrix of a logit_step state taken at the fitted coefficients, mapped back through center and scale.';

CREATE FUNCTION health_score.logit_condition(state float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'logit_condition'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_condition(float8[]) IS
'2-norm condition number (largest / smallest eigenvalue) of the information matrix of a logit_step state on the standardised features; large values (say above 1e6) warn of near-collinear features.';

CREATE FUNCTION health_score.logit_predict(coefficients float8[], features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'logit_predict'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_predict(float8[], float8[]) IS
'Probability 0-1 of the positive class: 1 / (1 + exp(-(b0 + sum b_j x_j))), coefficients intercept first, features on their original scale.';

CREATE FUNCTION health_score.logit_predict_interval(coefficients float8[], covariance float8[], features float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_predict_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_predict_interval(float8[], float8[], float8[]) IS
'{probability, low, high}: logit_predict(coefficients, features) and its 95 % confidence interval by the delta method on the log-odds, 1 / (1 + exp(-(eta -+ 1.959964 sqrt(u''Vu)))) with eta the log-odds, u = (1, features) and V the covariance matrix of the coefficients (row-major (p+1) x (p+1), intercept first, on the scale of the coefficients, as churn_models.covariance holds it). A V that is not positive semi-definite at u is an error.';

CREATE FUNCTION health_score.logit_p_value(z float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'logit_p_value'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_p_value(float8) IS
'Two-sided p-value of a Wald z statistic under the standard normal, erfc(|z| / sqrt 2).';

CREATE FUNCTION health_score.logit_label(value float8)
RETURNS boolean
AS 'MODULE_PATHNAME', 'logit_label'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_label(float8) IS
'A 0/1 churn label as a boolean (1 = churned); any other value is an error.';

CREATE FUNCTION health_score.logit_describe_accum(state float8[], features float8[], churned boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_describe_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_describe_accum(float8[], float8[], boolean) IS
'Transition function of logit_describe.';

CREATE FUNCTION health_score.logit_describe_combine(state1 float8[], state2 float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logit_describe_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.logit_describe_combine(float8[], float8[]) IS
'Combine function of logit_describe (means and squared deviations merged with Chan''s formula).';

CREATE AGGREGATE health_score.logit_describe(features float8[], churned boolean) (
    SFUNC = health_score.logit_describe_accum,
    STYPE = float8[],
    COMBINEFUNC = health_score.logit_describe_combine,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.logit_describe(float8[], boolean) IS
'The pass before a fit: {p, complete rows with finite features, rows skipped (a NULL feature or label), positive rows, rows with a NaN or infinite feature}, then 7 values per feature: mean, sum of squared deviations, min and max among retained rows, min and max among churned rows, NaN or infinite count.';

-- Model catalog ------------------------------------------------------------------------------

CREATE TABLE health_score.churn_models (
    name                text NOT NULL CHECK (name <> ''),
    version             int NOT NULL CHECK (version > 0),
    active              boolean NOT NULL DEFAULT true,
    kind                text NOT NULL DEFAULT 'table' CHECK (kind IN ('table', 'account')),
    trained_at          timestamptz NOT NULL DEFAULT now(),
    source              text NOT NULL,
    label               text NOT NULL,
    features            text[] NOT NULL,
    coefficients        float8[] NOT NULL,
    std_errors          float8[] NOT NULL,
    center              float8[] NOT NULL,
    scale               float8[] NOT NULL,
    l2                  float8 NOT NULL DEFAULT 0 CHECK (l2 >= 0),
    ridge_fallback      boolean NOT NULL DEFAULT false,
    fallback_reason     text,
    loglik              float8 NOT NULL,
    null_loglik         float8 NOT NULL,
    null_deviance       float8 NOT NULL,
    residual_deviance   float8 NOT NULL,
    pseudo_r2           float8 NOT NULL,
    aic                 float8 NOT NULL,
    iterations          int NOT NULL,
    rows_used           bigint NOT NULL,
    rows_skipped        bigint NOT NULL,
    positives           bigint NOT NULL,
    churn_rate          float8 NOT NULL,
    condition_number    float8,
    auc                 float8,
    auc_std_error       float8,
    auc_ci_low          float8,
    auc_ci_high         float8,
    brier               float8,
    as_of               timestamptz,
    horizon             interval,
    config_version      bigint,
    feature_columns     text[] NOT NULL,
    feature_levels      text[] NOT NULL,
    reference_levels    jsonb NOT NULL DEFAULT '{}',
    positive_label      text,
    covariance          float8[],
    imputation          jsonb NOT NULL DEFAULT '{}',
    rows_imputed        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
);

COMMENT ON TABLE health_score.churn_models IS
'Trained churn models (logistic regression), one row per name and version, with the fit statistics and the evidence for trusting it. Training a new version of a name makes it the active one.';
COMMENT ON COLUMN health_score.churn_models.name IS 'Model name.';
COMMENT ON COLUMN health_score.churn_models.version IS 'Version within the name, 1 for the first training, increasing.';
COMMENT ON COLUMN health_score.churn_models.active IS 'Whether this version is the one churn_probability and the account views use (one active version per name).';
COMMENT ON COLUMN health_score.churn_models.kind IS 'table: trained on a table''s columns (train_churn_model); account: trained on the accounts'' metric sub-scores (train_account_churn_model).';
COMMENT ON COLUMN health_score.churn_models.trained_at IS 'When the model was trained (transaction time).';
COMMENT ON COLUMN health_score.churn_models.source IS 'The relation (or description of the rows) the model was trained on.';
COMMENT ON COLUMN health_score.churn_models.label IS 'The churn label: a boolean or 0/1 column, a text or enum column whose value positive_label means churned, or how account churn was defined.';
COMMENT ON COLUMN health_score.churn_models.features IS 'Term names, in the order of coefficients[2:] and of the features array churn_probability takes: a numeric or boolean column''s name, and column=level for each level of a text or enum column but its reference level.';
COMMENT ON COLUMN health_score.churn_models.coefficients IS 'Coefficients on the original scale of the features, intercept first (log-odds per unit).';
COMMENT ON COLUMN health_score.churn_models.std_errors IS 'Standard errors of the coefficients (from the inverse information matrix; penalised when l2 > 0), intercept first.';
COMMENT ON COLUMN health_score.churn_models.center IS 'Mean of each feature over the training rows: the average account the drivers compare against.';
COMMENT ON COLUMN health_score.churn_models.scale IS 'Standard deviation (population) of each feature over the training rows, used for the internal standardisation.';
COMMENT ON COLUMN health_score.churn_models.l2 IS 'L2 penalty used, on the standardised coefficients (objective: log-likelihood - l2/2 * sum of squared standardised coefficients, intercept unpenalised); 0 for plain maximum likelihood.';
COMMENT ON COLUMN health_score.churn_models.ridge_fallback IS 'True when the plain fit failed (separation or collinearity) and the ridge fall-back penalty was used instead.';
COMMENT ON COLUMN health_score.churn_models.fallback_reason IS 'Why the ridge fall-back was used (the error of the plain fit), NULL otherwise.';
COMMENT ON COLUMN health_score.churn_models.loglik IS 'Log-likelihood at the fitted coefficients (unpenalised).';
COMMENT ON COLUMN health_score.churn_models.null_loglik IS 'Log-likelihood of the intercept-only model (the churn rate for everyone).';
COMMENT ON COLUMN health_score.churn_models.null_deviance IS 'Null deviance, -2 * null_loglik.';
COMMENT ON COLUMN health_score.churn_models.residual_deviance IS 'Residual deviance, -2 * loglik.';
COMMENT ON COLUMN health_score.churn_models.pseudo_r2 IS 'McFadden''s pseudo R-squared, 1 - loglik / null_loglik.';
COMMENT ON COLUMN health_score.churn_models.aic IS 'Akaike information criterion, 2 * (number of coefficients) - 2 * loglik.';
COMMENT ON COLUMN health_score.churn_models.iterations IS 'Newton (IRLS) iterations until the largest change of a standardised coefficient fell below the tolerance.';
COMMENT ON COLUMN health_score.churn_models.rows_used IS 'Rows used: every feature and the label known.';
COMMENT ON COLUMN health_score.churn_models.rows_skipped IS 'Rows skipped because a feature or the label was NULL.';
COMMENT ON COLUMN health_score.churn_models.positives IS 'Rows used that churned.';
COMMENT ON COLUMN health_score.churn_models.churn_rate IS 'positives / rows_used.';
COMMENT ON COLUMN health_score.churn_models.condition_number IS 'Condition number of the information matrix on the standardised features; above about 1e6 the features are nearly collinear and the coefficients unstable.';
COMMENT ON COLUMN health_score.churn_models.auc IS 'ROC AUC of the fitted probabilities on the training rows, exact (rank-sum with ties counting one half).';
COMMENT ON COLUMN health_score.churn_models.auc_std_error IS 'Standard error of the AUC (Hanley and McNeil, 1982).';
COMMENT ON COLUMN health_score.churn_models.auc_ci_low IS 'Lower end of the 95 % confidence interval of the AUC (auc - 1.96 * auc_std_error, at least 0).';
COMMENT ON COLUMN health_score.churn_models.auc_ci_high IS 'Upper end of the 95 % confidence interval of the AUC (at most 1).';
COMMENT ON COLUMN health_score.churn_models.brier IS 'Brier score: mean squared difference between the fitted probability and the outcome (0 is perfect; the churn rate times one minus it is what a constant guess scores).';
COMMENT ON COLUMN health_score.churn_models.as_of IS 'Account models: the date whose metric values were the features.';
COMMENT ON COLUMN health_score.churn_models.horizon IS 'Account models: churn was counted when it happened within this interval after as_of.';
COMMENT ON COLUMN health_score.churn_models.config_version IS 'Account models: config_version() when trained; the sub-scores it learned from depend on the scoring configuration of that version, so retrain after changing curves or metrics.';
COMMENT ON COLUMN health_score.churn_models.feature_columns IS 'For each term of features, the column (or metric) it is made from.';
COMMENT ON COLUMN health_score.churn_models.feature_levels IS 'For each term of features, the level of a text or enum column whose 0/1 indicator it is; NULL for a numeric or boolean column.';
COMMENT ON COLUMN health_score.churn_models.reference_levels IS 'The reference level of each text or enum column, {"column": "level"}: the level without a term, which the other levels'' coefficients compare against; {} when there is none.';
COMMENT ON COLUMN health_score.churn_models.positive_label IS 'A text or enum label: the value that means churned. NULL for a boolean or 0/1 label.';
COMMENT ON COLUMN health_score.churn_models.covariance IS 'Covariance matrix of the coefficients, row-major (p+1) x (p+1), intercept first, on the original scale of the features like coefficients (the inverse information matrix; penalised when l2 > 0): its diagonal is std_errors squared; the intervals of churn_probability_interval and account_churn_risk come from it. NULL for a model trained before 0.2.0, which did not store it: its intervals are NULL until it is trained again.';

COMMENT ON COLUMN health_score.churn_models.imputation IS 'Account models: each metric that had no data on some training rows, {"metric": {"missing": those rows, "missing_churned": of them, those that churned, "value": the value they were given, "indicator": the 0/1 term that marks them}}. value is the mean sub-score of the rows used that have data, indicator the term metric:missing (shared by the metrics without data on the same rows, named after the first); both are NULL when those rows all churned or all stayed (an indicator would separate them): they were skipped, and an account without data for that metric gets no risk. The counts are over the rows used or, for a metric whose rows were skipped, over the rows not skipped already for another. Predictions apply the same rule. {} for table models and when every row had every metric.';
COMMENT ON COLUMN health_score.churn_models.rows_imputed IS 'Account models: rows used with at least one metric given its imputed value (see imputation); 0 for table models.';

CREATE UNIQUE INDEX churn_models_one_active ON health_score.churn_models (name) WHERE active;

CREATE TABLE health_score.churn_model_terms (
    name                    text NOT NULL,
    version                 int NOT NULL,
    position                int NOT NULL,
    term                    text NOT NULL,
    coefficient             float8 NOT NULL,
    std_error               float8 NOT NULL,
    z                       float8 NOT NULL,
    p_value                 float8 NOT NULL,
    ci_low                  float8 NOT NULL,
    ci_high                 float8 NOT NULL,
    odds_ratio              float8 NOT NULL,
    odds_ratio_ci_low       float8 NOT NULL,
    odds_ratio_ci_high      float8 NOT NULL,
    standardized_coefficient float8,
    mean                    float8,
    sd                      float8,
    feature_column          text,
    level                   text,
    PRIMARY KEY (name, version, position),
    FOREIGN KEY (name, version) REFERENCES health_score.churn_models (name, version) ON DELETE CASCADE
);

COMMENT ON TABLE health_score.churn_model_terms IS
'One row per coefficient of each churn model (the intercept is position 0): estimate, standard error, Wald z and p-value, 95 % confidence interval, odds ratio.';
COMMENT ON COLUMN health_score.churn_model_terms.name IS 'Model name.';
COMMENT ON COLUMN health_score.churn_model_terms.version IS 'Model version.';
COMMENT ON COLUMN health_score.churn_model_terms.position IS '0 for the intercept, then the position of the feature in features.';
COMMENT ON COLUMN health_score.churn_model_terms.term IS 'Feature name: the column, or column=level for a level of a text or enum column; or (intercept).';
COMMENT ON COLUMN health_score.churn_model_terms.coefficient IS 'Change in log-odds of churn per unit of the feature, others held equal.';
COMMENT ON COLUMN health_score.churn_model_terms.std_error IS 'Standard error of the coefficient.';
COMMENT ON COLUMN health_score.churn_model_terms.z IS 'Wald statistic, coefficient / std_error.';
COMMENT ON COLUMN health_score.churn_model_terms.p_value IS 'Two-sided p-value of z under the standard normal.';
COMMENT ON COLUMN health_score.churn_model_terms.ci_low IS 'Lower end of the 95 % confidence interval of the coefficient (coefficient - 1.959964 * std_error).';
COMMENT ON COLUMN health_score.churn_model_terms.ci_high IS 'Upper end of the 95 % confidence interval of the coefficient.';
COMMENT ON COLUMN health_score.churn_model_terms.odds_ratio IS 'exp(coefficient): how the odds of churn multiply per unit of the feature.';
COMMENT ON COLUMN health_score.churn_model_terms.odds_ratio_ci_low IS 'exp(ci_low).';
COMMENT ON COLUMN health_score.churn_model_terms.odds_ratio_ci_high IS 'exp(ci_high).';
COMMENT ON COLUMN health_score.churn_model_terms.standardized_coefficient IS 'Change in log-odds per standard deviation of the feature (coefficient * sd): comparable across features; NULL for the intercept.';
COMMENT ON COLUMN health_score.churn_model_terms.mean IS 'Mean of the feature over the training rows; NULL for the intercept.';
COMMENT ON COLUMN health_score.churn_model_terms.sd IS 'Standard deviation of the feature over the training rows; NULL for the intercept.';
COMMENT ON COLUMN health_score.churn_model_terms.feature_column IS 'The column (or metric) the term is made from; NULL for the intercept.';
COMMENT ON COLUMN health_score.churn_model_terms.level IS 'For a level of a text or enum column, the level (the coefficient compares it with the reference level, churn_models.reference_levels); else NULL.';

CREATE TABLE health_score.churn_model_calibration (
    name            text NOT NULL,
    version         int NOT NULL,
    decile          int NOT NULL CHECK (decile BETWEEN 1 AND 10),
    rows            bigint NOT NULL,
    churned         bigint NOT NULL,
    mean_predicted  float8 NOT NULL,
    observed_rate   float8 NOT NULL,
    PRIMARY KEY (name, version, decile),
    FOREIGN KEY (name, version) REFERENCES health_score.churn_models (name, version) ON DELETE CASCADE
);

COMMENT ON TABLE health_score.churn_model_calibration IS
'Calibration of each churn model on its training rows: the rows split into ten equal groups by fitted probability (1 = lowest), with the mean predicted probability and the observed churn rate of each. A well-calibrated model has the two close in every decile.';
COMMENT ON COLUMN health_score.churn_model_calibration.name IS 'Model name.';
COMMENT ON COLUMN health_score.churn_model_calibration.version IS 'Model version.';
COMMENT ON COLUMN health_score.churn_model_calibration.decile IS 'Decile of fitted probability, 1 (lowest risk) to 10 (highest).';
COMMENT ON COLUMN health_score.churn_model_calibration.rows IS 'Training rows in the decile.';
COMMENT ON COLUMN health_score.churn_model_calibration.churned IS 'Of those, rows that churned.';
COMMENT ON COLUMN health_score.churn_model_calibration.mean_predicted IS 'Mean fitted churn probability (0-1) in the decile.';
COMMENT ON COLUMN health_score.churn_model_calibration.observed_rate IS 'Observed churn rate (0-1) in the decile.';

SELECT pg_catalog.pg_extension_config_dump('health_score.churn_models', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.churn_model_terms', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.churn_model_calibration', '');

-- Fitting ------------------------------------------------------------------------------------

CREATE TYPE health_score.churn_fit_result AS (
    coefficients        float8[],
    std_errors          float8[],
    standardized        float8[],
    center              float8[],
    scale               float8[],
    l2                  float8,
    loglik              float8,
    null_loglik         float8,
    iterations          int,
    rows_used           bigint,
    rows_skipped        bigint,
    positives           bigint,
    condition_number    float8,
    covariance          float8[]
);

COMMENT ON TYPE health_score.churn_fit_result IS
'Result of churn_fit: coefficients, standard errors and their covariance matrix on the original scale (intercept first), the standardised coefficients, the centre and scale used, and the fit statistics.';
COMMENT ON COLUMN health_score.churn_fit_result.coefficients IS 'Coefficients on the original scale, intercept first.';
COMMENT ON COLUMN health_score.churn_fit_result.std_errors IS 'Their standard errors.';
COMMENT ON COLUMN health_score.churn_fit_result.standardized IS 'Coefficients on the standardised features (intercept first).';
COMMENT ON COLUMN health_score.churn_fit_result.center IS 'Mean of each feature over the rows used.';
COMMENT ON COLUMN health_score.churn_fit_result.scale IS 'Population standard deviation of each feature over the rows used.';
COMMENT ON COLUMN health_score.churn_fit_result.l2 IS 'L2 penalty used on the standardised coefficients.';
COMMENT ON COLUMN health_score.churn_fit_result.loglik IS 'Log-likelihood at the coefficients.';
COMMENT ON COLUMN health_score.churn_fit_result.null_loglik IS 'Log-likelihood of the intercept-only model.';
COMMENT ON COLUMN health_score.churn_fit_result.iterations IS 'Newton iterations.';
COMMENT ON COLUMN health_score.churn_fit_result.rows_used IS 'Rows with every feature and the label known.';
COMMENT ON COLUMN health_score.churn_fit_result.rows_skipped IS 'Rows skipped for a NULL feature or label.';
COMMENT ON COLUMN health_score.churn_fit_result.positives IS 'Rows used that churned.';
COMMENT ON COLUMN health_score.churn_fit_result.condition_number IS 'Condition number of the standardised information matrix.';
COMMENT ON COLUMN health_score.churn_fit_result.covariance IS 'Covariance matrix of the coefficients on the original scale, row-major (p+1) x (p+1), intercept first.';

-- check_fit_arguments(max_iter, tol, l2, ridge_fallback): refuses the arguments of a fit that
-- churn_fit cannot honour. Called by churn_fit and by each function that calls it, before any
-- data is read.
CREATE FUNCTION health_score.check_fit_arguments(max_iter int, tol float8, l2 float8,
                                                 ridge_fallback float8 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF max_iter IS NULL OR max_iter < 1 OR max_iter > 1000 THEN
        RAISE EXCEPTION 'max_iter must be between 1 and 1000, got %', coalesce(max_iter::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A NaN tol (greater than any step in PostgreSQL's order) reported a one-step fit as converged.
    IF tol IS NULL OR NOT (tol > 0 AND tol < 1) THEN
        RAISE EXCEPTION 'tol must be greater than 0 and less than 1, got %', coalesce(tol::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF l2 IS NULL OR NOT (l2 >= 0 AND l2 < 'Infinity') THEN
        RAISE EXCEPTION 'l2 must be a finite number, zero or more, got %', coalesce(l2::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- On standardised features a penalty far above the number of rows leaves the intercept
    -- alone; past about 1e150 the objective underflowed (22003).
    IF l2 > 1e12 THEN
        RAISE EXCEPTION 'l2 must be at most 1e12, got %', l2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A penalty far above the number of rows already fits the intercept alone.';
    END IF;
    IF ridge_fallback IS NOT NULL AND NOT (ridge_fallback > 0 AND ridge_fallback < 'Infinity') THEN
        RAISE EXCEPTION 'ridge_fallback must be a finite number greater than zero, got %', ridge_fallback
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ridge_fallback > 1e12 THEN   -- the bound of l2
        RAISE EXCEPTION 'ridge_fallback must be at most 1e12, got %', ridge_fallback
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.check_fit_arguments(integer, float8, float8, float8) IS
'Raises an error (22023) naming the argument unless max_iter is between 1 and 1000, tol greater than 0 and less than 1, l2 finite, zero or more and at most 1e12, and ridge_fallback NULL or finite, greater than zero and at most 1e12. Used by churn_fit and the functions that call it.';

CREATE FUNCTION health_score.churn_fit(from_sql text, feature_exprs text[], names text[], label_expr text,
                                       max_iter int, tol float8, l2 float8)
RETURNS health_score.churn_fit_result
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p int := cardinality(names);
    k int := cardinality(names) + 1;
    x_expr text := 'ARRAY[' || array_to_string(feature_exprs, ', ') || ']::float8[]';
    d float8[];
    used bigint;
    pos bigint;
    o int;
    sd float8;
    center float8[] := '{}';
    scale float8[] := '{}';
    beta float8[];
    newbeta float8[];
    prev_beta float8[];
    prev_obj float8;
    obj float8;
    st float8[];
    cov float8[];
    step float8;
    big int;
    it int := 0;
    halvings int := 0;
    converged boolean := false;
    q text;
    r health_score.churn_fit_result;
BEGIN
    -- Checked here too, since churn_fit can be called directly.
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2);
    -- One pass for the counts, moments and class ranges: everything is checked before a fit.
    EXECUTE format('SELECT health_score.logit_describe(%s, %s) FROM %s', x_expr, label_expr, from_sql) INTO d;
    IF d IS NULL OR cardinality(d) = 0 THEN
        RAISE EXCEPTION 'source has no rows to fit' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR j IN 1..p LOOP
        o := 6 + (j - 1) * 7;
        IF d[o + 6] > 0 THEN
            RAISE EXCEPTION 'feature "%" has % NaN or infinite values', names[j], d[o + 6]::bigint
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Replace them with NULL (the row is then skipped) or with a finite value.';
        END IF;
    END LOOP;
    used := d[2]::bigint;
    pos := d[4]::bigint;
    IF used = 0 THEN
        RAISE EXCEPTION 'no complete rows: each of the % rows has a NULL feature or label', d[3]::bigint
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF used <= k THEN
        RAISE EXCEPTION 'more features than rows: % features and an intercept need more than % complete rows, got %',
            p, k, used
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pos = 0 OR pos = used THEN
        RAISE EXCEPTION 'label has a single class over the % rows used (% churned)', used, pos
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A churn model needs rows that churned and rows that did not.';
    END IF;
    FOR j IN 1..p LOOP
        o := 6 + (j - 1) * 7;
        sd := sqrt(d[o + 1] / used);
        IF NOT (sd > 1e-12 * greatest(abs(d[o]), 1e-300)) THEN
            RAISE EXCEPTION 'feature "%" is constant (%) over the rows used', names[j], d[o]
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave it out: it cannot explain churn.';
        END IF;
        center := center || d[o];
        scale := scale || sd;
        IF l2 = 0 AND (d[o + 3] <= d[o + 4] OR d[o + 5] <= d[o + 2]) THEN
            RAISE EXCEPTION 'feature "%" separates the classes perfectly: churned rows lie in [%, %], the others in [%, %]',
                names[j], d[o + 4], d[o + 5], d[o + 2], d[o + 3]
                USING ERRCODE = 'data_exception',
                      HINT = 'The maximum-likelihood coefficient is infinite: leave the feature out, or fit with an l2 penalty (l2 or ridge_fallback).';
        END IF;
    END LOOP;

    beta := array_fill(0::float8, ARRAY[k]);
    beta[1] := ln(pos::float8 / (used - pos));
    q := format('SELECT health_score.logit_step(%s, %s, $1, $2, $3) FROM %s', x_expr, label_expr, from_sql);
    LOOP
        EXECUTE q INTO st USING beta, center, scale;
        obj := st[5] - l2 / 2 * (SELECT coalesce(sum(b * b), 0) FROM unnest(beta[2:k]) b);
        -- Newton steps on a concave objective rarely overshoot; when one does, halve it.
        IF prev_obj IS NOT NULL AND obj < prev_obj - 1e-9 * abs(prev_obj) AND halvings < 30 THEN
            halvings := halvings + 1;
            SELECT array_agg((a + b) / 2 ORDER BY i) INTO beta
              FROM unnest(prev_beta, beta) WITH ORDINALITY AS u(a, b, i);
            CONTINUE;
        END IF;
        EXIT WHEN converged;
        IF it >= max_iter THEN
            SELECT i - 1 INTO big FROM unnest(beta) WITH ORDINALITY AS u(b, i)
             WHERE i > 1 ORDER BY abs(b) DESC LIMIT 1;
            RAISE EXCEPTION 'the fit did not converge in % iterations; feature "%" has the largest standardised coefficient (%)',
                max_iter, names[big], round(beta[big + 1]::numeric, 2)
                USING ERRCODE = 'data_exception',
                      HINT = 'The classes may be separated by a combination of features: leave that feature out, raise max_iter, or fit with an l2 penalty (l2 or ridge_fallback).';
        END IF;
        newbeta := health_score.logit_solve(st, beta, l2, names);
        it := it + 1;
        SELECT max(abs(a - b)) INTO step FROM unnest(newbeta, beta) AS u(a, b);
        IF l2 = 0 THEN
            SELECT i - 1 INTO big FROM unnest(newbeta) WITH ORDINALITY AS u(b, i)
             WHERE i > 1 AND abs(b) > 30 ORDER BY abs(b) DESC LIMIT 1;
            IF big IS NOT NULL THEN
                RAISE EXCEPTION 'the classes are (nearly) perfectly separated: feature "%" has a standardised coefficient of % after % iterations',
                    names[big], round(newbeta[big + 1]::numeric, 2), it
                    USING ERRCODE = 'data_exception',
                          HINT = 'Leave the feature out, or fit with an l2 penalty (l2 or ridge_fallback).';
            END IF;
        END IF;
        prev_beta := beta;
        prev_obj := obj;
        beta := newbeta;
        converged := step < tol;
    END LOOP;

    -- st was taken at the final coefficients: its information matrix gives the covariance.
    cov := health_score.logit_covariance(st, l2, center, scale, names);
    r.standardized := beta;
    r.coefficients := ARRAY[beta[1] - (SELECT coalesce(sum(beta[j + 1] * center[j] / scale[j]), 0)
                                         FROM generate_series(1, p) j)]
                      || (SELECT array_agg(beta[j + 1] / scale[j] ORDER BY j) FROM generate_series(1, p) j);
    r.std_errors := (SELECT array_agg(sqrt(cov[(j - 1) * k + j]) ORDER BY j) FROM generate_series(1, k) j);
    r.center := center;
    r.scale := scale;
    r.l2 := l2;
    r.loglik := st[5];
    r.null_loglik := pos * ln(pos::float8 / used) + (used - pos) * ln((used - pos)::float8 / used);
    r.iterations := it;
    r.rows_used := st[2]::bigint;
    r.rows_skipped := st[3]::bigint;
    r.positives := st[4]::bigint;
    r.condition_number := health_score.logit_condition(st);
    r.covariance := cov;
    RETURN r;
END
$$;

COMMENT ON FUNCTION health_score.churn_fit(text, text[], text[], text, int, float8, float8) IS
'The fitting engine behind train_churn_model and churn_cross_validate: checks the rows (NaN or infinite values, constant features, a single class, too few rows, a feature that separates the classes), then iterates logit_step and logit_solve on standardised features until the largest change of a coefficient is below tol. from_sql is the FROM clause, feature_exprs one float8 expression per feature, label_expr a boolean expression. Errors with SQLSTATE 22000 mean separation or collinearity (what a ridge penalty cures).';

CREATE TYPE health_score.churn_evaluation AS (
    auc                 float8,
    rows_used           bigint,
    positives           bigint,
    brier               float8,
    decile_rows         bigint[],
    decile_churned      bigint[],
    decile_predicted    float8[],
    decile_observed     float8[]
);

COMMENT ON TYPE health_score.churn_evaluation IS
'Result of churn_evaluate: exact AUC, rows, positives, Brier score and calibration by decile of predicted probability.';
COMMENT ON COLUMN health_score.churn_evaluation.auc IS 'Exact rank-sum AUC (NULL with a single class).';
COMMENT ON COLUMN health_score.churn_evaluation.rows_used IS 'Rows evaluated.';
COMMENT ON COLUMN health_score.churn_evaluation.positives IS 'Rows evaluated that churned.';
COMMENT ON COLUMN health_score.churn_evaluation.brier IS 'Mean squared difference between probability and outcome.';
COMMENT ON COLUMN health_score.churn_evaluation.decile_rows IS 'Rows per decile of predicted probability (1 = lowest).';
COMMENT ON COLUMN health_score.churn_evaluation.decile_churned IS 'Churned rows per decile.';
COMMENT ON COLUMN health_score.churn_evaluation.decile_predicted IS 'Mean predicted probability per decile.';
COMMENT ON COLUMN health_score.churn_evaluation.decile_observed IS 'Observed churn rate per decile.';

CREATE FUNCTION health_score.churn_evaluate(from_sql text, feature_exprs text[], label_expr text,
                                            coefficients float8[])
RETURNS health_score.churn_evaluation
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r health_score.churn_evaluation;
    rank_sum float8;
BEGIN
    EXECUTE format($q$
        WITH p AS (
            SELECT health_score.logit_predict($1, x) AS p, y
              FROM (SELECT %s AS x, %s AS y FROM %s) s
             WHERE y IS NOT NULL AND array_position(x, NULL) IS NULL),
        r AS MATERIALIZED (
            SELECT p, y,
                   rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0::float8 AS rk,
                   ntile(10) OVER (ORDER BY p) AS decile
              FROM p),
        cal AS (
            SELECT decile, count(*) AS n, count(*) FILTER (WHERE y) AS churned, avg(p) AS mp
              FROM r GROUP BY decile)
        SELECT a.*, c.*
          FROM (SELECT sum(rk) FILTER (WHERE y), count(*), count(*) FILTER (WHERE y),
                       avg((p - y::int) ^ 2) FROM r) a,
               (SELECT array_agg(n ORDER BY decile), array_agg(churned ORDER BY decile),
                       array_agg(mp ORDER BY decile), array_agg(churned::float8 / n ORDER BY decile)
                  FROM cal) c$q$,
        'ARRAY[' || array_to_string(feature_exprs, ', ') || ']::float8[]', label_expr, from_sql)
    INTO rank_sum, r.rows_used, r.positives, r.brier,
         r.decile_rows, r.decile_churned, r.decile_predicted, r.decile_observed
    USING coefficients;
    IF r.positives > 0 AND r.positives < r.rows_used THEN
        -- Mann-Whitney: AUC = (R1 - n1 (n1 + 1) / 2) / (n1 n0), ranks averaged over ties.
        r.auc := (rank_sum - r.positives * (r.positives + 1) / 2.0::float8)
                 / (r.positives::float8 * (r.rows_used - r.positives));
    END IF;
    RETURN r;
END
$$;

COMMENT ON FUNCTION health_score.churn_evaluate(text, text[], text, float8[]) IS
'Evaluates coefficients on rows (from_sql, feature_exprs and label_expr as in churn_fit): exact rank-sum AUC (ties count one half, as scikit-learn''s roc_auc_score), Brier score and calibration by decile (ntile of the predicted probability). Rows with a NULL feature or label are left out.';

CREATE FUNCTION health_score.churn_train(name text, kind text, source_desc text, label_desc text,
                                         from_sql text, feature_exprs text[], names text[], label_expr text,
                                         max_iter int, tol float8, l2 float8, ridge_fallback float8,
                                         as_of timestamptz DEFAULT NULL, horizon interval DEFAULT NULL,
                                         term_columns text[] DEFAULT NULL, term_levels text[] DEFAULT NULL,
                                         references_used jsonb DEFAULT NULL, positive_value text DEFAULT NULL)
RETURNS health_score.churn_models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f health_score.churn_fit_result;
    e health_score.churn_evaluation;
    m health_score.churn_models;
    k int := cardinality(names) + 1;
    reason text;
    state text;
    q1 float8;
    q2 float8;
    n1 float8;
    n0 float8;
    zq constant float8 := 1.959963984540054;   -- the 97.5 % quantile of the standard normal
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'name must not be NULL or empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2, ridge_fallback);

    IF ridge_fallback IS NULL OR l2 > 0 THEN
        f := health_score.churn_fit(from_sql, feature_exprs, names, label_expr, max_iter, tol, l2);
    ELSE
        BEGIN
            f := health_score.churn_fit(from_sql, feature_exprs, names, label_expr, max_iter, tol, l2);
        EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, reason = MESSAGE_TEXT;
            IF state <> '22000' THEN
                RAISE;
            END IF;
            RAISE WARNING 'churn model "%": %; fitting with the ridge fall-back l2 = %', name, reason, ridge_fallback;
            f := health_score.churn_fit(from_sql, feature_exprs, names, label_expr, max_iter, tol, ridge_fallback);
        END;
    END IF;

    e := health_score.churn_evaluate(from_sql, feature_exprs, label_expr, f.coefficients);

    -- One training at a time, so versions never collide. A table lock that only roles that may
    -- update churn_models can take (an advisory lock any role could hold, blocking training);
    -- it never waits for readers, nor for writers (ROW EXCLUSIVE): SHARE ROW EXCLUSIVE did, and
    -- two trainings in transactions that had already written churn_models deadlocked.
    LOCK TABLE health_score.churn_models IN SHARE UPDATE EXCLUSIVE MODE;
    m.name := name;
    m.active := true;
    m.kind := kind;
    m.trained_at := now();
    m.source := source_desc;
    m.label := label_desc;
    m.features := names;
    m.coefficients := f.coefficients;
    m.std_errors := f.std_errors;
    m.center := f.center;
    m.scale := f.scale;
    m.l2 := f.l2;
    m.ridge_fallback := reason IS NOT NULL;
    m.fallback_reason := reason;
    m.loglik := f.loglik;
    m.null_loglik := f.null_loglik;
    m.null_deviance := -2 * f.null_loglik;
    m.residual_deviance := -2 * f.loglik;
    m.pseudo_r2 := 1 - f.loglik / f.null_loglik;
    m.aic := 2 * k - 2 * f.loglik;
    m.iterations := f.iterations;
    m.rows_used := f.rows_used;
    m.rows_skipped := f.rows_skipped;
    m.positives := f.positives;
    m.churn_rate := f.positives::float8 / f.rows_used;
    m.condition_number := f.condition_number;
    m.auc := e.auc;
    IF e.auc IS NOT NULL THEN
        -- Hanley and McNeil (1982).
        n1 := e.positives;
        n0 := e.rows_used - e.positives;
        q1 := e.auc / (2 - e.auc);
        q2 := 2 * e.auc ^ 2 / (1 + e.auc);
        m.auc_std_error := sqrt((e.auc * (1 - e.auc) + (n1 - 1) * (q1 - e.auc ^ 2)
                                 + (n0 - 1) * (q2 - e.auc ^ 2)) / (n1 * n0));
        m.auc_ci_low := greatest(0, e.auc - zq * m.auc_std_error);
        m.auc_ci_high := least(1, e.auc + zq * m.auc_std_error);
    END IF;
    m.brier := e.brier;
    m.as_of := as_of;
    m.horizon := horizon;
    m.config_version := CASE WHEN kind = 'account' THEN health_score.config_version() END;
    -- Without an encoding (account models), each term is a column of its own name.
    m.feature_columns := coalesce(term_columns, names);
    m.feature_levels := coalesce(term_levels, array_fill(NULL::text, ARRAY[k - 1]));
    m.reference_levels := coalesce(references_used, '{}');
    m.positive_label := positive_value;
    m.covariance := f.covariance;
    m.imputation := '{}';   -- train_account_churn_model records its own
    m.rows_imputed := 0;
    BEGIN
        UPDATE health_score.churn_models c SET active = false WHERE c.name = churn_train.name AND c.active;
        m.version := coalesce((SELECT max(c.version) FROM health_score.churn_models c
                                WHERE c.name = churn_train.name), 0) + 1;
        INSERT INTO health_score.churn_models SELECT m.*;
    EXCEPTION WHEN unique_violation OR serialization_failure THEN
        -- Under REPEATABLE READ or SERIALIZABLE the snapshot predates a training of this name
        -- that committed while this one waited for the lock: its version is not visible here.
        RAISE EXCEPTION 'churn model "%": another training of this name committed after this transaction began', name
            USING ERRCODE = 'serialization_failure',
                  HINT = 'Retry the transaction. Under READ COMMITTED, trainings of one name wait for each other instead.';
    END;

    INSERT INTO health_score.churn_model_terms
    SELECT m.name, m.version, j - 1,
           CASE WHEN j = 1 THEN '(intercept)' ELSE names[j - 1] END,
           b, se, b / se, health_score.logit_p_value(b / se),
           b - zq * se, b + zq * se, exp(b), exp(b - zq * se), exp(b + zq * se),
           CASE WHEN j > 1 THEN f.standardized[j] END,
           CASE WHEN j > 1 THEN f.center[j - 1] END,
           CASE WHEN j > 1 THEN f.scale[j - 1] END,
           CASE WHEN j > 1 THEN m.feature_columns[j - 1] END,
           CASE WHEN j > 1 THEN m.feature_levels[j - 1] END
      FROM unnest(f.coefficients, f.std_errors) WITH ORDINALITY AS u(b, se, j);

    INSERT INTO health_score.churn_model_calibration
    SELECT m.name, m.version, i, nr, nc, mp, ob
      FROM unnest(e.decile_rows, e.decile_churned, e.decile_predicted, e.decile_observed)
           WITH ORDINALITY AS u(nr, nc, mp, ob, i);
    RETURN m;
END
$$;

COMMENT ON FUNCTION health_score.churn_train(text, text, text, text, text, text[], text[], text, int, float8, float8, float8, timestamptz, interval, text[], text[], jsonb, text) IS
'Shared by train_churn_model and train_account_churn_model: fits (churn_fit, with the ridge fall-back when asked), evaluates on the training rows (churn_evaluate) and records the new active version in churn_models, churn_model_terms and churn_model_calibration, all or nothing. term_columns, term_levels, references_used and positive_value record how the columns were encoded (churn_columns); without them each term is a column of its own name.';

CREATE FUNCTION health_score.churn_columns(source regclass, features text[], label text,
                                           positive_label text DEFAULT NULL, reference_levels jsonb DEFAULT NULL,
                                           OUT feature_exprs text[], OUT terms text[], OUT term_columns text[],
                                           OUT term_levels text[], OUT references_used jsonb, OUT label_expr text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[] := '{}';
    codes text[] := '{}';
    kinds text[] := '{}';       -- per feature: numeric, boolean, text or enum
    label_kind text;
    kind text;
    typ oid;
    base oid;
    f text;
    complete text;
    total bigint;
    used bigint;
    levels text[];
    counts bigint[];
    ref text;
    listed text;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF features IS NULL OR cardinality(features) = 0 THEN
        RAISE EXCEPTION 'features must name at least one column' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_ndims(features) <> 1 OR array_position(features, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'features must be a one-dimensional array without NULLs' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(features) > 500 THEN
        RAISE EXCEPTION 'features must name at most 500 columns, got %', cardinality(features)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT u INTO f FROM unnest(features) u GROUP BY u HAVING count(*) > 1 LIMIT 1;
    IF f IS NOT NULL THEN
        RAISE EXCEPTION 'feature "%" is listed twice', f USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF label IS NULL THEN
        RAISE EXCEPTION 'label must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF label = ANY (features) THEN
        RAISE EXCEPTION 'label "%" must not also be a feature', label USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF reference_levels IS NOT NULL AND jsonb_typeof(reference_levels) <> 'object' THEN
        RAISE EXCEPTION 'reference_levels must be a JSON object naming a level per text column, like {"contract": "Month-to-month"}, got a JSON %',
            jsonb_typeof(reference_levels) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(format('"%s"', e.k), ', ' ORDER BY e.k) INTO listed
      FROM jsonb_each(reference_levels) AS e(k, v) WHERE jsonb_typeof(e.v) <> 'string';
    IF listed IS NOT NULL THEN
        RAISE EXCEPTION 'reference_levels must give each column its level as a JSON string, not so for %', listed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The columns and their types, every problem collected: one error lists them all.
    FOREACH f IN ARRAY features || label LOOP
        SELECT a.atttypid INTO typ FROM pg_attribute a
         WHERE a.attrelid = source AND a.attname = f AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            problems := problems || format('%s "%s" is not a column of %s',
                                           CASE WHEN f = label THEN 'label' ELSE 'feature' END, f, source);
            codes := codes || '42703'::text;
            kind := NULL;
        ELSE
            -- a domain is read as its base type
            base := typ;
            WHILE (SELECT t.typtype FROM pg_type t WHERE t.oid = base) = 'd' LOOP
                base := (SELECT t.typbasetype FROM pg_type t WHERE t.oid = base);
            END LOOP;
            kind := CASE WHEN base = 'boolean'::regtype THEN 'boolean'
                         WHEN base IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'real'::regtype,
                                       'double precision'::regtype, 'numeric'::regtype) THEN 'numeric'
                         WHEN base IN ('text'::regtype, 'character varying'::regtype, 'character'::regtype) THEN 'text'
                         WHEN (SELECT t.typtype FROM pg_type t WHERE t.oid = base) = 'e' THEN 'enum' END;
            IF f <> label AND kind IS NULL THEN
                problems := problems || format('feature "%s" must be a numeric, boolean, text or enum column; in %s it is %s',
                                               f, source, format_type(typ, NULL));
                codes := codes || '42804'::text;
            ELSIF f = label AND kind IS NULL THEN
                problems := problems || format('label "%s" must be a boolean or 0/1 column, or text or enum with positive_label; in %s it is %s',
                                               f, source, format_type(typ, NULL));
                codes := codes || '42804'::text;
            ELSIF f = label AND kind IN ('text', 'enum') AND positive_label IS NULL THEN
                problems := problems || format('label "%s" is %s: name the value that means churned, e.g. positive_label => ''Yes''',
                                               f, format_type(typ, NULL));
                codes := codes || '42804'::text;
            ELSIF f = label AND kind IN ('boolean', 'numeric') AND positive_label IS NOT NULL THEN
                problems := problems || format('positive_label is for a text or enum label; label "%s" is %s (true or 1 means churned)',
                                               f, format_type(typ, NULL));
                codes := codes || '22023'::text;
            END IF;
        END IF;
        IF f = label THEN
            label_kind := kind;
        ELSE
            kinds := kinds || kind;
        END IF;
    END LOOP;
    SELECT string_agg(format('"%s"', e.k), ', ' ORDER BY e.k) INTO listed
      FROM jsonb_each(reference_levels) AS e(k, v)
     WHERE NOT EXISTS (SELECT FROM unnest(features, kinds) AS u(f, kind) WHERE u.f = e.k AND u.kind IN ('text', 'enum'));
    IF listed IS NOT NULL THEN
        problems := problems || format('reference_levels names %s, not among the text or enum features', listed);
        codes := codes || '22023'::text;
    END IF;
    -- Their values, once the columns are fit for use.
    IF cardinality(problems) = 0 THEN
        -- Text and enum features: their levels over the rows used (no NULL feature or label).
        complete := (SELECT string_agg(format('(%I) IS NOT NULL', u), ' AND ') FROM unnest(features || label) u);
        IF 'text' = ANY (kinds) OR 'enum' = ANY (kinds) OR label_kind IN ('text', 'enum') THEN
            EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %s) FROM %s AS s', complete, source) INTO total, used;
            -- as churn_fit says it, before the levels (there are none)
            IF total = 0 THEN
                RAISE EXCEPTION 'source has no rows to fit' USING ERRCODE = 'invalid_parameter_value';
            ELSIF used = 0 THEN
                RAISE EXCEPTION 'no complete rows: each of the % rows has a NULL feature or label', total
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
        feature_exprs := '{}';
        terms := '{}';
        term_columns := '{}';
        term_levels := '{}';
        references_used := '{}';
        FOR i IN 1..cardinality(features) LOOP
            f := features[i];
            IF kinds[i] = 'numeric' THEN
                feature_exprs := feature_exprs || format('(%I)::float8', f);
            ELSIF kinds[i] = 'boolean' THEN
                feature_exprs := feature_exprs || format('(%I)::int::float8', f);
            END IF;
            IF kinds[i] IN ('numeric', 'boolean') THEN
                terms := terms || f;
                term_columns := term_columns || f;
                term_levels := term_levels || NULL::text;
                CONTINUE;
            END IF;
            -- Levels in the enum's order, or in byte order for text (any locale gives the same
            -- terms); one more than allowed is enough to refuse.
            EXECUTE format('SELECT array_agg(g::text ORDER BY g), array_agg(n ORDER BY g)
                              FROM (SELECT %s AS g, count(*) AS n FROM %s AS s WHERE %s GROUP BY 1 ORDER BY 1 LIMIT 101) q',
                           CASE WHEN kinds[i] = 'enum' THEN format('%I', f) ELSE format('(%I)::text COLLATE "C"', f) END,
                           source, complete)
                INTO levels, counts;
            ref := reference_levels ->> f;
            IF cardinality(levels) > 100 THEN
                problems := problems || format('feature "%s" has more than 100 distinct values: too many for the levels of a category (is it an identifier?)', f);
            ELSIF cardinality(levels) = 1 THEN
                problems := problems || format('feature "%s" has a single value ("%s") over the rows used', f, levels[1]);
            ELSIF cardinality(levels) = used THEN
                problems := problems || format('feature "%s" has a different value on each of the %s rows used: it identifies rows, it is no category', f, used);
            ELSIF ref IS NOT NULL AND NOT ref = ANY (levels) THEN
                problems := problems || format('reference level "%s" of feature "%s" does not occur in the rows used (levels: %s)',
                                               ref, f, (SELECT string_agg(format('"%s"', l), ', ' ORDER BY o)
                                                          FROM unnest(levels) WITH ORDINALITY AS u(l, o)));
            ELSE
                -- the most frequent level, the first in order on a tie
                ref := coalesce(ref, (SELECT u.l FROM unnest(levels, counts) WITH ORDINALITY AS u(l, n, o)
                                       ORDER BY u.n DESC, u.o LIMIT 1));
                references_used := references_used || jsonb_build_object(f, ref);
                FOR j IN 1..cardinality(levels) LOOP
                    CONTINUE WHEN levels[j] = ref;
                    feature_exprs := feature_exprs || format('((%I)::text COLLATE "C" = %L)::int::float8', f, levels[j]);
                    terms := terms || (f || '=' || levels[j]);
                    term_columns := term_columns || f;
                    term_levels := term_levels || levels[j];
                END LOOP;
                CONTINUE;
            END IF;
            codes := codes || '22023'::text;
        END LOOP;

        IF label_kind IN ('boolean', 'numeric') THEN
            label_expr := CASE WHEN label_kind = 'boolean' THEN format('%I', label)
                               ELSE format('health_score.logit_label((%I)::float8)', label) END;
        ELSE
            -- A text label has two values, one of them positive_label (three are enough to refuse).
            EXECUTE format('SELECT array_agg(v ORDER BY v) FROM (SELECT DISTINCT (%I)::text COLLATE "C" AS v FROM %s AS s
                             WHERE (%I) IS NOT NULL ORDER BY 1 LIMIT 3) q', label, source, label)
                INTO levels;
            listed := (SELECT string_agg(format('"%s"', l), ', ' ORDER BY o) FROM unnest(levels) WITH ORDINALITY AS u(l, o));
            IF cardinality(levels) > 2 THEN
                problems := problems || format('label "%s" must have two values, it has more: %s, ...', label, listed);
                codes := codes || '22023'::text;
            ELSIF NOT positive_label = ANY (levels) THEN
                problems := problems || format('positive_label "%s" is not a value of label "%s" (values: %s)', positive_label, label, listed);
                codes := codes || '22023'::text;
            END IF;
            label_expr := format('((%I)::text COLLATE "C" = %L)', label, positive_label);
        END IF;
        SELECT string_agg(format('"%s"', u), ', ') INTO listed
          FROM (SELECT u FROM unnest(terms) u GROUP BY u HAVING count(*) > 1) d;
        IF listed IS NOT NULL THEN
            problems := problems || format('the features give two terms of one name: %s (rename a column in a view)', listed);
            codes := codes || '22023'::text;
        END IF;
        IF cardinality(terms) > 500 THEN
            problems := problems || format('the features make %s terms (one per level of a text or enum column but its reference), at most 500',
                                           cardinality(terms));
            codes := codes || '22023'::text;
        END IF;
    END IF;
    IF cardinality(problems) = 1 THEN
        RAISE EXCEPTION '%', problems[1] USING ERRCODE = codes[1];
    ELSIF cardinality(problems) > 1 THEN
        -- one SQLSTATE for all: theirs when they agree, else 42804 (a column unfit for its use)
        RAISE EXCEPTION '% problems with the columns of %: %', cardinality(problems), source,
            array_to_string(problems, '; ')
            USING ERRCODE = CASE WHEN codes <@ ARRAY[codes[1]] THEN codes[1] ELSE '42804' END;
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.churn_columns(regclass, text[], text, text, jsonb) IS
'Checks the feature and label columns of a relation (they exist and are numeric, boolean, text or enum; no duplicates; the label is not a feature; a text or enum label has two values, positive_label one of them) and encodes them: the float8 expression and name of each term (a numeric or boolean column is one term, a text or enum column one 0/1 indicator per level but the reference, named column=level, levels in the enum''s or in byte order), each term''s column and level, the reference level chosen per column (reference_levels, else the most frequent over the rows used), and the boolean expression of the label. Every problem is reported in one error.';

CREATE FUNCTION health_score.train_churn_model(name text, source regclass, features text[], label text,
                                               max_iter int DEFAULT 25, tol float8 DEFAULT 1e-10,
                                               l2 float8 DEFAULT 0, ridge_fallback float8 DEFAULT NULL,
                                               positive_label text DEFAULT NULL, reference_levels jsonb DEFAULT NULL)
RETURNS health_score.churn_models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
BEGIN
    c := health_score.churn_columns(source, features, label, positive_label, reference_levels);
    RETURN health_score.churn_train(name, 'table', source::text, label, source::text || ' AS s',
                                    c.feature_exprs, c.terms, c.label_expr, max_iter, tol, l2, ridge_fallback,
                                    NULL, NULL, c.term_columns, c.term_levels, c.references_used, positive_label);
END
$$;

COMMENT ON FUNCTION health_score.train_churn_model(text, regclass, text[], text, int, float8, float8, float8, text, jsonb) IS
'Trains a churn model (logistic regression with an intercept) on a table or view. features are column names: a numeric or boolean column is one term (true = 1); a text or enum column is one 0/1 term per level but its reference level, named column=level, the reference being the most frequent level over the rows used unless reference_levels names it ({"column": "level"}). label is a boolean or 0/1 column (true/1 = churned), or a text or enum column with two values, positive_label naming the one that means churned. Rows with a NULL feature or label are skipped and counted. Features are standardised internally; coefficients are reported on the original scale. Iterates Newton steps until the largest change of a standardised coefficient is below tol (at most max_iter). l2 > 0 adds a ridge penalty on the standardised coefficients; ridge_fallback, when given, is the penalty to fall back on (with a warning) if the plain fit meets separation or collinearity. Bad input (unknown or unusable columns, all listed in one error; a constant feature or a single level, NaN or infinite values, a single class, more features than rows, perfect separation, collinearity) is an error naming the culprit, and nothing is written. Returns the new catalog row (the active version of name).';

-- Using a model ------------------------------------------------------------------------------

CREATE FUNCTION health_score.churn_model(model text)
RETURNS health_score.churn_models
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
BEGIN
    SELECT * INTO m FROM health_score.churn_models c WHERE c.name = model AND c.active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'churn model "%" does not exist', model
            USING ERRCODE = 'undefined_object', HINT = 'Train it with train_churn_model or train_account_churn_model.';
    END IF;
    RETURN m;
END
$$;

COMMENT ON FUNCTION health_score.churn_model(text) IS
'The active version of a churn model (its catalog row); an error when there is none.';

CREATE FUNCTION health_score.churn_probability(model text, features float8[])
RETURNS float8
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN health_score.logit_predict((health_score.churn_model(model)).coefficients, features);
END
$$;

COMMENT ON FUNCTION health_score.churn_probability(text, float8[]) IS
'Churn probability 0-1 under the active version of a model, features in the order of churn_models.features (booleans as 0/1, a level of a text column as its 0/1 indicator). NULL features give NULL. For raw values by column name, churn_probability_of. For many rows, join churn_models and call logit_predict(coefficients, features) directly.';

CREATE FUNCTION health_score.churn_features(model text, row_values jsonb)
RETURNS float8[]
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
    problems text[];
    x float8[];
BEGIN
    IF jsonb_typeof(row_values) <> 'object' THEN
        RAISE EXCEPTION 'row_values must be a JSON object of column names and values, like {"tenure": 5, "contract": "Two year"}, got a JSON %',
            jsonb_typeof(row_values) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Every problem at once, in the order of the model's columns.
    WITH cols AS (
        SELECT u.c, min(u.i) AS i, bool_or(u.lvl IS NOT NULL) AS categorical,
               array_agg(u.lvl ORDER BY u.i) FILTER (WHERE u.lvl IS NOT NULL) AS levels,
               row_values -> u.c AS v, jsonb_typeof(row_values -> u.c) AS t
          FROM unnest(m.feature_columns, m.feature_levels) WITH ORDINALITY AS u(c, lvl, i)
         GROUP BY u.c)
    SELECT array_agg(q.p ORDER BY q.i) INTO problems
      FROM (SELECT cols.i, CASE
                WHEN cols.v IS NULL THEN format('column "%s" is missing', cols.c)
                WHEN NOT cols.categorical AND cols.t NOT IN ('number', 'boolean', 'null') THEN
                    format('column "%s" must be a number (or boolean), got %s', cols.c, left(cols.v::text, 100))
                WHEN NOT cols.categorical AND cols.t = 'number' AND abs(cols.v::numeric) > 1.7976931348623157e308 THEN
                    format('column "%s" is out of the range of double precision: %s', cols.c, left(cols.v::text, 100))
                WHEN cols.categorical AND cols.t IN ('object', 'array') THEN
                    format('column "%s" must be one of its levels, got %s', cols.c, left(cols.v::text, 100))
                WHEN cols.categorical AND cols.t <> 'null'
                     AND NOT (cols.v #>> '{}' = ANY (cols.levels) OR cols.v #>> '{}' = m.reference_levels ->> cols.c) THEN
                    format('column "%s" has no level "%s" in model "%s" (its levels: "%s" (the reference), %s)',
                           cols.c, left(cols.v #>> '{}', 100), m.name, m.reference_levels ->> cols.c,
                           (SELECT string_agg(format('"%s"', l), ', ' ORDER BY o)
                              FROM unnest(cols.levels) WITH ORDINALITY AS w(l, o)))
            END AS p
              FROM cols) q
     WHERE q.p IS NOT NULL;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'row_values does not fit model "%": %', m.name, array_to_string(problems, '; ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give each column the model was trained on (churn_models.feature_columns) its raw value; other keys are ignored.';
    END IF;
    -- An imputed metric of an account model (churn_models.imputation): a null takes the value
    -- given in training, and its indicator term is 1, as account_churn_risk does (an indicator
    -- shared by metrics: when one of them is null).
    SELECT array_agg(CASE WHEN u.t = m.imputation -> u.c ->> 'indicator'
                          THEN EXISTS (SELECT FROM jsonb_each(m.imputation) e
                                        WHERE e.value ->> 'indicator' = u.t AND jsonb_typeof(row_values -> e.key) = 'null')::int
                          WHEN u.lvl IS NOT NULL THEN (row_values ->> u.c = u.lvl)::int
                          WHEN jsonb_typeof(row_values -> u.c) = 'boolean' THEN (row_values -> u.c)::boolean::int
                          WHEN jsonb_typeof(row_values -> u.c) = 'number' THEN (row_values -> u.c)::float8
                          ELSE (m.imputation -> u.c ->> 'value')::float8 END
                     ORDER BY u.i)
      INTO x
      FROM unnest(m.features, m.feature_columns, m.feature_levels) WITH ORDINALITY AS u(t, c, lvl, i);
    RETURN x;
END
$$;

COMMENT ON FUNCTION health_score.churn_features(text, jsonb) IS
'The features array of one row under the active version of a model, from its raw values by column name (row_values, e.g. to_jsonb(t) of a row of the training table, or {"tenure": 5, "contract": "Two year"}): a number as it is, a boolean as 0/1, a text or enum column as the 0/1 indicator of each of its levels. Keys the model does not use are ignored; a JSON null gives a NULL element (and so a NULL probability), except for a metric an account model imputes (churn_models.imputation): it takes the value given in training, and its indicator term metric:missing is 1. A missing column, a value of the wrong kind or a level the model did not see in training is an error (22023) listing every such column.';

CREATE FUNCTION health_score.churn_probability_of(model text, row_values jsonb)
RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN array_position(f.x, NULL) IS NULL THEN health_score.logit_predict(m.coefficients, f.x) END
      FROM health_score.churn_model(model) m, health_score.churn_features(model, row_values) AS f(x)
$$;

COMMENT ON FUNCTION health_score.churn_probability_of(text, jsonb) IS
'Churn probability 0-1 under the active version of a model, from a row''s raw values by column name (see churn_features): churn_probability_of(''telco'', ''{"tenure": 5, "contract": "Two year", ...}''), or to_jsonb(t) to score a row of a table. A JSON null (a NULL in the row) gives NULL, as such a row is skipped in training; a level not seen in training is an error naming the column and the value.';

CREATE FUNCTION health_score.churn_probability_interval(model text, features float8[],
                                                        OUT probability float8, OUT low float8,
                                                        OUT high float8, OUT reason text)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
    iv float8[];
BEGIN
    -- The probability is churn_probability's, computed the same way; the bounds need the
    -- covariance matrix, which models trained before 0.2.0 do not have.
    probability := health_score.logit_predict(m.coefficients, features);
    IF m.covariance IS NULL THEN
        reason := format('churn model "%s" v%s has no covariance matrix: it was trained before health_score 0.2.0, which stores it; train it again for intervals',
                         m.name, m.version);
        RETURN;
    END IF;
    iv := health_score.logit_predict_interval(m.coefficients, m.covariance, features);
    low := iv[2];
    high := iv[3];
END
$$;

COMMENT ON FUNCTION health_score.churn_probability_interval(text, float8[]) IS
'churn_probability(model, features) with its 95 % confidence interval: low and high are 1 / (1 + exp(-(eta -+ 1.959964 se))), eta the log-odds and se = sqrt(u''Vu) its standard error by the delta method (u = (1, features), V = churn_models.covariance), the uncertainty of the fitted coefficients at these features (not of whether this one row churns). NULL bounds, with the reason, for a model trained before 0.2.0, which has no covariance matrix. For many rows, call logit_predict_interval(coefficients, covariance, features) directly.';

-- churn_probability_interval_of(model, row_values): the interval from raw values by column name.
CREATE FUNCTION health_score.churn_probability_interval_of(model text, row_values jsonb,
                                                           OUT probability float8, OUT low float8,
                                                           OUT high float8, OUT reason text)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
    x float8[] := health_score.churn_features(model, row_values);
    unknown text;
BEGIN
    -- A NULL in the row gives NULL, as churn_probability_of does; the reason names the terms.
    SELECT string_agg(u.term, ', ' ORDER BY u.i) INTO unknown
      FROM unnest(m.features, x) WITH ORDINALITY AS u(term, value, i)
     WHERE u.value IS NULL;
    IF unknown IS NOT NULL THEN
        reason := format('no probability: %s unknown (NULL in row_values)', unknown);
        RETURN;
    END IF;
    SELECT i.probability, i.low, i.high, i.reason INTO probability, low, high, reason
      FROM health_score.churn_probability_interval(model, x) i;
END
$$;

COMMENT ON FUNCTION health_score.churn_probability_interval_of(text, jsonb) IS
'churn_probability_interval from a row''s raw values by column name (see churn_features): the probability (= churn_probability_of) and its 95 % interval, e.g. churn_probability_interval_of(''telco'', to_jsonb(t)); a level of a text column counts as its 0/1 indicator. A JSON null (a NULL in the row) gives NULL probability and bounds, with a reason naming the terms it leaves unknown; a model without a covariance matrix gives NULL bounds with the reason.';

CREATE FUNCTION health_score.churn_drivers(model text, features float8[])
RETURNS TABLE (rank int, feature text, value float8, average float8, coefficient float8,
               contribution float8, odds_multiplier float8)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models := health_score.churn_model(model);
BEGIN
    IF cardinality(features) <> cardinality(m.features) THEN
        RAISE EXCEPTION 'features must have % elements (%), got %', cardinality(m.features),
            array_to_string(m.features, ', '), cardinality(features)
            USING ERRCODE = 'array_subscript_error';
    END IF;
    RETURN QUERY
    SELECT (row_number() OVER (ORDER BY d.c DESC NULLS LAST, d.i))::int, d.f, d.x, d.mean, d.b, d.c, exp(d.c)
      FROM (SELECT u.f, u.x, u.mean, m.coefficients[u.i + 1] AS b,
                   m.coefficients[u.i + 1] * (u.x - u.mean) AS c, u.i
              FROM unnest(m.features, features, m.center) WITH ORDINALITY AS u(f, x, mean, i)) d
     ORDER BY 1;
END
$$;

COMMENT ON FUNCTION health_score.churn_drivers(text, float8[]) IS
'Why this row is at risk: each feature''s contribution to the log-odds of churn relative to the average training row, coefficient x (value - average), largest push towards churn first; odds_multiplier = exp(contribution) is how much that feature alone multiplies the odds. The contributions add up to the row''s log-odds minus the log-odds of the average row. A NULL value gives a NULL contribution (ranked last).';

CREATE FUNCTION health_score.churn_drivers_of(model text, row_values jsonb)
RETURNS TABLE (rank int, feature text, value float8, average float8, coefficient float8,
               contribution float8, odds_multiplier float8)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM health_score.churn_drivers(model, health_score.churn_features(model, row_values))
$$;

COMMENT ON FUNCTION health_score.churn_drivers_of(text, jsonb) IS
'churn_drivers from a row''s raw values by column name (see churn_features): one row per term, so per level of a text or enum column (value 1 for the row''s level, 0 for the others; average: the share of training rows in that level).';

CREATE FUNCTION health_score.churn_feature_influence(model text)
RETURNS TABLE (rank int, feature text, standardized_coefficient float8, odds_ratio_per_sd float8,
               coefficient float8, odds_ratio float8, p_value float8, direction text, significant boolean)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (row_number() OVER (ORDER BY abs(t.standardized_coefficient) DESC, t.position))::int,
           t.term, t.standardized_coefficient, exp(t.standardized_coefficient), t.coefficient, t.odds_ratio,
           t.p_value, CASE WHEN t.coefficient > 0 THEN 'raises churn' ELSE 'lowers churn' END,
           t.p_value < 0.05
      FROM health_score.churn_model_terms t
     WHERE (t.name, t.version) = (SELECT m.name, m.version FROM health_score.churn_model(model) m)
       AND t.position > 0
     ORDER BY 1
$$;

COMMENT ON FUNCTION health_score.churn_feature_influence(text) IS
'Which data drives churn: the features of the active version of a model ranked by the size of their standardised coefficient (change in log-odds per standard deviation), with the odds ratio per standard deviation, the direction and whether p < 0.05.';

CREATE FUNCTION health_score.churn_cross_validate(source regclass, features text[], label text,
                                                  folds int DEFAULT 5, l2 float8 DEFAULT 0,
                                                  max_iter int DEFAULT 25, tol float8 DEFAULT 1e-8,
                                                  positive_label text DEFAULT NULL, reference_levels jsonb DEFAULT NULL)
RETURNS TABLE (fold_count int, auc_mean float8, auc_sd float8, fold_auc float8[], fold_rows bigint[])
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    fit health_score.churn_fit_result;
    e health_score.churn_evaluation;
    fold_expr text;
    aucs float8[] := '{}';
    nrows bigint[] := '{}';
    k int := folds;
BEGIN
    IF k IS NULL OR k < 2 OR k > 100 THEN
        RAISE EXCEPTION 'folds must be between 2 and 100, got %', coalesce(k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2);
    -- The levels come from all the rows: every fold's fit has the same terms.
    c := health_score.churn_columns(source, features, label, positive_label, reference_levels);
    -- Each row's fold comes from a hash of its content: reproducible, no ORDER BY needed.
    fold_expr := format('(abs(hashtext(s::text)::bigint) %% %s)', k);
    FOR i IN 0..k - 1 LOOP
        fit := health_score.churn_fit(format('%s AS s WHERE %s <> %s', source, fold_expr, i),
                                      c.feature_exprs, c.terms, c.label_expr, max_iter, tol, l2);
        e := health_score.churn_evaluate(format('%s AS s WHERE %s = %s', source, fold_expr, i),
                                         c.feature_exprs, c.label_expr, fit.coefficients);
        aucs := aucs || e.auc;
        nrows := nrows || e.rows_used;
    END LOOP;
    RETURN QUERY SELECT k, avg(a), stddev_samp(a), aucs, nrows FROM unnest(aucs) a;
END
$$;

COMMENT ON FUNCTION health_score.churn_cross_validate(regclass, text[], text, int, float8, int, float8, text, jsonb) IS
'k-fold cross-validated AUC of a model specification (features, label, positive_label and reference_levels as in train_churn_model; the levels of text columns are taken over all the rows, so a level missing from a fold''s training rows is an error): the rows are split into folds by a hash of their content (reproducible); each fold is scored (exact AUC) by a model fitted on the other folds. Returns the mean and sample standard deviation of the fold AUCs (a fold with a single class has a NULL AUC and is left out of both), each fold''s AUC and its number of rows used. Nothing is written to the catalog.';

CREATE FUNCTION health_score.suggest_weights(model text)
RETURNS TABLE (feature text, dimension text, standardized_coefficient float8, p_value float8,
               suggested_weight float8, weight_in_dimension float8, current_weight float8, note text)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH m AS (SELECT * FROM health_score.churn_model(model)),
    t AS (
        SELECT tm.term, tm.position, tm.standardized_coefficient AS b, tm.p_value, mt.dimension, mt.weight,
               -- for an account model the features are sub-scores (higher = healthier): a metric
               -- earns weight by lowering churn; for other models the size of the effect counts
               CASE WHEN (SELECT kind FROM m) = 'account'
                    THEN greatest(-tm.standardized_coefficient, 0)
                    ELSE abs(tm.standardized_coefficient) END AS strength
          FROM health_score.churn_model_terms tm
          LEFT JOIN health_score.metrics mt ON (SELECT kind FROM m) = 'account' AND mt.name = tm.term
         WHERE (tm.name, tm.version) = (SELECT name, version FROM m) AND tm.position > 0
           -- an account model's indicator terms (metric:missing) are no metrics to weigh
           AND ((SELECT kind FROM m) <> 'account' OR tm.term = tm.feature_column))
    SELECT t.term, t.dimension, t.b, t.p_value,
           nullif(t.strength, 0) / nullif(sum(t.strength) OVER (), 0),
           nullif(t.strength, 0) / nullif(sum(t.strength) OVER (PARTITION BY t.dimension), 0),
           t.weight,
           CASE WHEN t.strength = 0 THEN 'higher values go with more churn: check the metric''s curve or leave it out'
                WHEN t.p_value >= 0.05 THEN 'effect not significant (p >= 0.05): weight uncertain'
           END
      FROM t
     ORDER BY t.strength DESC, t.position
$$;

COMMENT ON FUNCTION health_score.suggest_weights(text) IS
'Metric weights derived from a churn model: each feature''s share of the total predictive strength (size of its standardised coefficient; for account models only metrics whose higher sub-score lowers churn count, and the indicator terms metric:missing none), overall and within its dimension, beside the weight now configured. A metric that goes the wrong way gets no weight and a note; the shares of one dimension can be copied into metrics.weight.';

-- apply_suggested_weights(model): suggest_weights written into the catalog. Metric weights are
-- relative within their dimension, so the model's metrics of a dimension share out the weight
-- they hold together now, in the model's proportions (weight_in_dimension): the shares within
-- the dimension are the suggested ones, while the dimension weights, the metrics the model did
-- not use and the segment overrides keep their meaning. One UPDATE of metrics, so the
-- configuration version moves on once.
CREATE FUNCTION health_score.apply_suggested_weights(model text, wrong_way text DEFAULT 'keep')
RETURNS TABLE (metric text, dimension text, old_weight float8, new_weight float8, weight_in_dimension float8,
               suggested_weight float8, enabled boolean, note text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
    features text[];
    shares float8[];
    overall float8[];
    notes text[];
    bad text;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF wrong_way IS DISTINCT FROM 'keep' AND wrong_way IS DISTINCT FROM 'disable' THEN
        RAISE EXCEPTION 'wrong_way must be keep or disable, got %', coalesce(quote_literal(wrong_way), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    m := health_score.churn_model(model);
    IF m.kind <> 'account' THEN
        RAISE EXCEPTION 'churn model "%" is a table model: its features are columns of %, not metrics', model, m.source
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Train an account model on the metrics with train_account_churn_model.';
    END IF;
    -- Lock the metrics (refused without the right to update them): the weights read as the old
    -- ones are those replaced.
    PERFORM 1 FROM health_score.metrics mt FOR UPDATE;
    SELECT string_agg(format('"%s"', f), ', ') INTO bad
      FROM unnest(m.features, m.feature_columns) AS u(f, c)
     WHERE f = c   -- the metrics, not their indicator terms
       AND NOT EXISTS (SELECT 1 FROM health_score.metrics mt WHERE mt.name = f);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'churn model "%" learned from %, no longer in health_score.metrics', model, bad
            USING ERRCODE = 'undefined_object', HINT = 'Retrain the model on the metrics there are now.';
    END IF;
    -- The suggestion, read once: every step below uses the same.
    SELECT array_agg(s.feature ORDER BY s.feature), array_agg(s.weight_in_dimension ORDER BY s.feature),
           array_agg(s.suggested_weight ORDER BY s.feature), array_agg(s.note ORDER BY s.feature)
      INTO features, shares, overall, notes
      FROM health_score.suggest_weights(model) s;
    IF NOT EXISTS (SELECT 1 FROM unnest(shares) w WHERE w IS NOT NULL) THEN
        RAISE EXCEPTION 'churn model "%" suggests no weight: for each of its metrics a higher sub-score went with more churn', model
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Check the metrics'' curves and direction (suggest_weights shows the coefficients), then retrain.';
    END IF;
    SELECT string_agg(format('"%s"', u.f), ', ' ORDER BY u.f) INTO bad
      FROM unnest(features, shares) u(f, w)
      JOIN health_score.metrics mt ON mt.name = u.f
     WHERE NOT mt.enabled AND u.w IS NOT NULL;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'churn model "%" gives weight to %, now disabled', model, bad
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Enable the metrics again, or train a model without them.';
    END IF;
    SELECT string_agg(mt.name, ', ' ORDER BY mt.name) INTO bad
      FROM health_score.metrics mt WHERE mt.enabled AND mt.name <> ALL (features);
    IF bad IS NOT NULL THEN
        RAISE NOTICE 'enabled metrics not in churn model "%" keep their weights: %', model, bad;
    END IF;

    RETURN QUERY
    WITH s AS (
        SELECT u.f AS metric, u.w AS share, u.o AS overall, u.note, mt.dimension, mt.weight, mt.enabled
          FROM unnest(features, shares, overall, notes) AS u(f, w, o, note)
          JOIN health_score.metrics mt ON mt.name = u.f
    ), held AS (
        -- the weight the model's enabled metrics hold together in each dimension, less what the
        -- metrics it gives no weight keep (with wrong_way = keep)
        SELECT s.dimension,
               sum(s.weight) - CASE WHEN wrong_way = 'keep' THEN coalesce(sum(s.weight) FILTER (WHERE s.share IS NULL), 0)
                                    ELSE 0 END AS total
          FROM s WHERE s.enabled GROUP BY s.dimension
    ), changed AS (
        UPDATE health_score.metrics mt
           SET weight = CASE WHEN s.share IS NULL THEN mt.weight ELSE s.share * h.total END,
               enabled = s.share IS NOT NULL
          FROM s JOIN held h ON h.dimension = s.dimension
         WHERE mt.name = s.metric AND s.enabled AND (s.share IS NOT NULL OR wrong_way = 'disable')
        RETURNING mt.name, mt.weight, mt.enabled
    ), overrides AS (
        SELECT sw.metric, string_agg(format('%s %s', sw.segment, sw.weight), ', ' ORDER BY sw.segment) AS segments
          FROM health_score.segment_metric_weights sw
         WHERE sw.metric = ANY (features)
         GROUP BY sw.metric
    )
    SELECT s.metric, s.dimension, s.weight, coalesce(c.weight, s.weight), s.share, s.overall,
           coalesce(c.enabled, s.enabled),
           nullif(concat_ws('; ',
               CASE WHEN s.share IS NOT NULL THEN s.note
                    WHEN NOT s.enabled THEN 'higher sub-scores went with more churn: left disabled'
                    WHEN wrong_way = 'disable' THEN 'higher sub-scores went with more churn: disabled'
                    ELSE 'higher sub-scores went with more churn: keeps its weight (check its curve, or leave it out)' END,
               CASE WHEN o.segments IS NOT NULL AND s.share IS NOT NULL
                    THEN 'segment_metric_weights keep their own weight for ' || o.segments END), '')
      FROM s
      LEFT JOIN changed c ON c.name = s.metric
      LEFT JOIN overrides o ON o.metric = s.metric
     ORDER BY s.dimension, s.share DESC NULLS LAST, s.metric;
END
$$;

COMMENT ON FUNCTION health_score.apply_suggested_weights(text, text) IS
'Writes suggest_weights(model) into health_score.metrics in one statement (the configuration version moves on once) and returns, per metric of the model, its old and new weight, the shares applied and what else happened. In each dimension the model''s metrics share out the weight they hold together in the proportions weight_in_dimension, so that their shares within the dimension are exactly the suggested ones; dimension weights, the metrics the model did not use and segment_metric_weights stay as they are. A metric the model gives no weight (its higher sub-score went with more churn) keeps its weight, like a metric the model did not use (wrong_way = keep), or is disabled (wrong_way = disable; an account model that uses it then scores no account until retrained). Refused for an unknown or table model, a model whose metrics are gone or disabled, or one that gives no metric a weight. Needs the right to update health_score.metrics.';

-- Accounts: train on the health metrics, score every account, revenue at risk ----------------

CREATE FUNCTION health_score.account_features_sql(metrics text[],
                                                  metric_rows text DEFAULT '(SELECT * FROM health_score.metric_scores($1))')
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- churned_on: the end of the stay the account is in at as_of, its first churn after as_of.
    -- A reader that does not use it (the risk) loses the join: the planner removes it.
    SELECT format($q$
        SELECT f.account_id, c.churned_on, f.x, f.missing
          FROM (SELECT a.account_id,
                       array_agg(ms.sub_score ORDER BY u.i) AS x,
                       array_agg(u.metric ORDER BY u.i) FILTER (WHERE ms.sub_score IS NULL) AS missing
                  FROM (%s) a
                 CROSS JOIN unnest(%L::text[]) WITH ORDINALITY AS u(metric, i)
                  LEFT JOIN %s ms
                    ON ms.account_id = a.account_id AND ms.metric = u.metric
                 GROUP BY a.account_id) f
          LEFT JOIN (SELECT e.account_id, min(e.churned_on) AS churned_on
                       FROM health_score.churn_events e
                      WHERE e.churned_on > $1
                      GROUP BY e.account_id) c ON c.account_id = f.account_id$q$,
        health_score.live_accounts_sql(), metrics, metric_rows)
$$;

COMMENT ON FUNCTION health_score.account_features_sql(text[], text) IS
'The query (parameter $1: as_of) giving, per account live at as_of, its sub-score of each metric (in order, NULL when the metric had no data), the metrics missing, and churned_on, the end of the stay it is in (its first churn after as_of in churn_events; NULL: none yet): the features and label of an account churn model. metric_rows: where the sub-scores come from, by default metric_scores($1).';

-- account_imputation(training, metrics): how the training rows without data for a metric are
-- handled. A row is not skipped for lack of one metric: it takes the mean sub-score of the rows
-- with data and a 0/1 indicator term, metric:missing, whose coefficient learns what having no
-- data says about churn (with the indicator in the model the value given does not change the
-- fit; the mean keeps the metric's own coefficient and driver readable). When the rows without
-- data all churned, or all stayed, the indicator's coefficient would be infinite: those rows
-- are skipped instead. Over the rows kept, metrics missing on exactly the same rows (a young
-- account has none of them yet) share one indicator, named after the first: two equal
-- indicators would be collinear. training: a FROM clause with x (the sub-scores in the order
-- of metrics) and churned.
CREATE FUNCTION health_score.account_imputation(training text, metrics text[],
                                                OUT imputation jsonb, OUT rows_imputed bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := cardinality(metrics);
    total bigint;
    used bigint;
    missing bigint[];
    missing_churned bigint[];
    means float8[];
    same boolean[];                  -- same[(i - 1) * n + j]: i and j lack data on the same rows
    skip boolean[] := array_fill(false, ARRAY[n]);   -- recorded in imputation with the counts of its pass
    kept text := 'true';             -- the rows not skipped
    leader int[] := '{}';            -- the first metric of each indicator
    imputed text[] := '{}';
    lead int;
    again boolean := true;
BEGIN
    imputation := '{}';
    EXECUTE format('SELECT count(*), ARRAY[%s] FROM %s',
                   (SELECT string_agg(format('count(*) FILTER (WHERE s.x[%s] IS NULL)', i), ', ') FROM generate_series(1, n) i),
                   training)
       INTO total, missing;
    FOR i IN 1..n LOOP
        IF missing[i] = total AND total > 0 THEN
            RAISE EXCEPTION 'metric "%" has no data on any of the % training rows', metrics[i], total
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Leave it out of metrics, or load its observations.';
        END IF;
    END LOOP;
    -- Skipping the rows of one metric can leave another's rows without data of one class: the
    -- counts are taken again over the rows kept until no more metric is skipped.
    WHILE again LOOP
        EXECUTE format('SELECT count(*), ARRAY[%s], ARRAY[%s] FROM (SELECT s.x, s.churned FROM %s) s WHERE %s',
                       (SELECT string_agg(format('count(*) FILTER (WHERE s.x[%s] IS NULL)', i), ', ') FROM generate_series(1, n) i),
                       (SELECT string_agg(format('count(*) FILTER (WHERE s.x[%s] IS NULL AND s.churned)', i), ', ') FROM generate_series(1, n) i),
                       training, kept)
           INTO used, missing, missing_churned;
        again := false;
        FOR i IN 1..n LOOP
            IF NOT skip[i] AND missing[i] > 0 AND (missing_churned[i] = 0 OR missing_churned[i] = missing[i]) THEN
                skip[i] := true;
                kept := kept || format(' AND s.x[%s] IS NOT NULL', i);
                again := true;
                imputation := imputation || jsonb_build_object(metrics[i], jsonb_build_object(
                    'missing', missing[i], 'missing_churned', missing_churned[i], 'value', NULL, 'indicator', NULL));
            END IF;
        END LOOP;
    END LOOP;
    -- Over the rows kept: the means, and which metrics lack data on the same rows (their
    -- indicators would be equal, so collinear: they share one).
    EXECUTE format('SELECT ARRAY[%s]::float8[], ARRAY[%s]::boolean[] FROM (SELECT s.x, s.churned FROM %s) s WHERE %s',
                   (SELECT string_agg(format('avg(s.x[%s])', i), ', ') FROM generate_series(1, n) i),
                   (SELECT string_agg(CASE WHEN i < j THEN format('coalesce(bool_and((s.x[%s] IS NULL) = (s.x[%s] IS NULL)), true)', i, j)
                                           ELSE 'NULL' END, ', ' ORDER BY i, j)
                      FROM generate_series(1, n) i, generate_series(1, n) j),
                   training, kept)
       INTO means, same;
    FOR i IN 1..n LOOP
        CONTINUE WHEN missing[i] = 0 OR skip[i];
        lead := (SELECT min(l) FROM unnest(leader) l WHERE same[(l - 1) * n + i]);
        IF lead IS NULL THEN
            lead := i;
            leader := leader || i;
        END IF;
        imputation := imputation || jsonb_build_object(metrics[i], jsonb_build_object(
            'missing', missing[i], 'missing_churned', missing_churned[i],
            'value', means[i], 'indicator', metrics[lead] || ':missing'));
        imputed := imputed || format('s.x[%s] IS NULL', i);
    END LOOP;
    rows_imputed := 0;
    IF cardinality(imputed) > 0 THEN
        EXECUTE format('SELECT count(*) FROM (SELECT s.x FROM %s) s WHERE %s AND (%s)',
                       training, kept, array_to_string(imputed, ' OR '))
           INTO rows_imputed;
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.account_imputation(text, text[]) IS
'How the rows of an account model''s training (training: a FROM clause with x, the metrics'' sub-scores in order, and churned) that lack a metric are handled, as churn_models.imputation records it: each metric without data on some rows gets the mean sub-score of the rows with data and an indicator term metric:missing, shared by the metrics without data on exactly the same rows (named after the first of them), unless those rows all churned or all stayed (then they are skipped). rows_imputed: rows used with an imputed value. A metric without data on every row is an error (22023).';

-- account_design(metrics, imputation, x): the terms of an account model and the SQL expression
-- of each over x, the array of the metrics' sub-scores (NULL: no data): the metrics in order
-- (an imputed one with its value when NULL), then each indicator, 1 when one of its metrics
-- has no data. Training, cross-validation and every prediction build their features here, so
-- they agree.
CREATE FUNCTION health_score.account_design(metrics text[], imputation jsonb, x text,
                                            OUT exprs text[], OUT terms text[], OUT term_columns text[])
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH u AS (
        SELECT u.metric, u.i, imputation -> u.metric ->> 'value' AS value, imputation -> u.metric ->> 'indicator' AS indicator
          FROM unnest(metrics) WITH ORDINALITY AS u(metric, i))
    SELECT array_agg(d.expr ORDER BY d.o, d.i), array_agg(d.term ORDER BY d.o, d.i),
           array_agg(d.metric ORDER BY d.o, d.i)
      FROM (SELECT u.i, 0 AS o, u.metric, u.metric AS term,
                   CASE WHEN u.value IS NULL THEN format('%s[%s]', x, u.i)
                        ELSE format('coalesce(%s[%s], %L::float8)', x, u.i, u.value) END AS expr
              FROM u
            UNION ALL
            SELECT min(u.i), 1, (array_agg(u.metric ORDER BY u.i))[1], u.indicator,
                   format('(%s)::int::float8', string_agg(format('%s[%s] IS NULL', x, u.i), ' OR ' ORDER BY u.i))
              FROM u WHERE u.value IS NOT NULL
             GROUP BY u.indicator) d
$$;

COMMENT ON FUNCTION health_score.account_design(text[], jsonb, text) IS
'The terms of an account model over metrics with imputation (churn_models.imputation), the metric each is made from, and the SQL expression of each over x (an array of the metrics'' sub-scores, NULL when a metric had no data): a metric''s sub-score (its imputed value when NULL, for an imputed metric), then each indicator term metric:missing, 1 when one of the metrics it marks has no data. Shared by training, cross-validation and prediction.';

-- account_model_design(m, x): account_design for a trained account model, whose metrics are
-- the terms made from a metric of their own name.
CREATE FUNCTION health_score.account_model_design(m health_score.churn_models, x text,
                                                  OUT metrics text[], OUT exprs text[], OUT imputed text[])
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
BEGIN
    metrics := (SELECT array_agg(u.c ORDER BY u.i) FROM unnest(m.features, m.feature_columns) WITH ORDINALITY AS u(f, c, i)
                 WHERE u.f = u.c);
    d := health_score.account_design(metrics, m.imputation, x);
    IF d.terms IS DISTINCT FROM m.features THEN
        RAISE EXCEPTION 'churn model "%" v%: its features do not follow from its metrics and imputation', m.name, m.version
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train it again.';
    END IF;
    exprs := d.exprs;
    imputed := coalesce((SELECT array_agg(u ORDER BY i) FROM unnest(metrics) WITH ORDINALITY AS t(u, i)
                          WHERE m.imputation -> u ->> 'value' IS NOT NULL), '{}');
END
$$;

COMMENT ON FUNCTION health_score.account_model_design(health_score.churn_models, text) IS
'For an account model: its metrics (in the order of the sub-scores it reads), the expression of each of its terms over x (account_design) and the metrics it imputes. An error when the model''s terms do not follow from them (a catalog row edited by hand).';

-- data_through(): the last day the data are complete for. Account models learn who churned
-- within a horizon after as_of: that window must be over in the data, not only on the calendar.
CREATE FUNCTION health_score.data_through()
RETURNS date
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    day date := (SELECT s.data_through FROM health_score.settings s);
    latest timestamptz;
BEGIN
    IF day IS NULL THEN
        -- Up to now: an observation dated in the future is no sign of data to come.
        EXECUTE format('SELECT max(o.observed_at) FROM (%s) o WHERE o.observed_at <= $1 AND NOT o.bad',
                       health_score.observations_sql())
           INTO latest USING now();
        day := latest::date;
    END IF;
    RETURN day;
END
$$;

COMMENT ON FUNCTION health_score.data_through() IS
'The last day the data are complete for: settings.data_through when set, else the day (session time zone) of the latest observation up to now in the observations table and the feeds (a feed''s NaN or infinite rows left out); NULL without either. train_account_churn_model refuses a window as_of + horizon that ends after that day.';

-- account_churn_model(): the one account model the views, revenue at risk and history use. It
-- is named, so that training another model never switches the dashboards by itself.
CREATE FUNCTION health_score.account_churn_model()
RETURNS SETOF health_score.churn_models
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.*
      FROM health_score.churn_models c
      LEFT JOIN health_score.settings s ON true
     WHERE c.kind = 'account' AND c.active
       AND (s.churn_model IS NULL OR c.name = s.churn_model)
     ORDER BY c.trained_at DESC, c.name
     LIMIT 1
$$;

COMMENT ON FUNCTION health_score.account_churn_model() IS
'The account churn model the views, revenue_at_risk and history use: the active version of the model settings.churn_model names (the first account model trained writes its name there); no row when that is no active account model. While settings.churn_model is NULL, the newest active account model.';

-- account_training(...): the arguments of an account model's training checked, and its rows:
-- pg_temp.health_score_account_training (account_id, snapshot_at, x: the sub-scores of the
-- metrics in order, churned), dropped at commit. Returns the metrics. Shared by
-- train_account_churn_model and account_churn_cross_validate.
CREATE FUNCTION health_score.account_training(as_of timestamptz, horizon interval, metrics text[], snapshots int,
                                              max_iter int, tol float8, l2 float8, ridge_fallback float8)
RETURNS text[]
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chosen text[] := metrics;
    data_end date;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    IF snapshots IS NULL OR snapshots < 1 OR snapshots > 120 THEN
        RAISE EXCEPTION 'snapshots must be between 1 and 120, got %', coalesce(snapshots::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'horizon must be a positive interval, got %', coalesce(horizon::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- From any as_of, a horizon of more than 10,000 years ends after today (and adding it could
    -- leave the range of timestamps); the earliest snapshot date must be a timestamp too.
    IF horizon > interval '10000 years' OR as_of + horizon > now() THEN
        RAISE EXCEPTION 'as_of + horizon (% + %) is in the future: the accounts that will churn by then are not known yet', as_of, horizon
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Train on an earlier as_of, or a shorter horizon.';
    END IF;
    BEGIN
        PERFORM as_of - (snapshots - 1) * horizon;
    EXCEPTION WHEN datetime_field_overflow THEN
        RAISE EXCEPTION 'the earliest snapshot date, as_of - (snapshots - 1) x horizon (% - % x %), is before the first timestamp', as_of, snapshots - 1, horizon
            USING ERRCODE = 'datetime_field_overflow', HINT = 'Take fewer snapshots or a shorter horizon.';
    END;
    IF chosen IS NULL THEN
        SELECT array_agg(m.name ORDER BY m.name) INTO chosen FROM health_score.metrics m WHERE m.enabled;
        IF chosen IS NULL THEN
            RAISE EXCEPTION 'no enabled metric in health_score.metrics' USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    PERFORM health_score.check_metric_names(chosen);
    -- The labels are the churn dates up to as_of + horizon (the scoring's point in time: an
    -- account with churned_on d is gone at midnight at the start of d), so data complete
    -- through a day hold them up to midnight at the end of that day.
    data_end := health_score.data_through();
    IF data_end IS NULL THEN
        RAISE EXCEPTION 'the end of the data is unknown: there are no observations'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Load observations, or set health_score.settings.data_through to the last day the data are complete for.';
    END IF;
    IF as_of + horizon > (data_end + 1)::timestamptz THEN
        RAISE EXCEPTION 'as_of + horizon (% + % = %) is after the end of the data (%, %): who churns in that window is not in the data yet',
                        as_of, horizon, as_of + horizon, to_char(data_end, 'YYYY-MM-DD'),
                        CASE WHEN (SELECT s.data_through FROM health_score.settings s) IS NOT NULL
                             THEN 'settings.data_through' ELSE 'the day of the latest observation' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Train on an as_of up to %s or a shorter horizon; when the observations and churn dates are complete to a later day, set health_score.settings.data_through to it.',
                                (data_end + 1)::timestamptz - horizon);
    END IF;

    -- The fit's own arguments too, before any data is read (churn_train checks them again).
    PERFORM health_score.check_fit_arguments(max_iter, tol, l2, ridge_fallback);

    -- The training rows, computed once: every pass of the fit reads them again.
    IF to_regclass('pg_temp.health_score_account_training') IS NOT NULL THEN
        DROP TABLE pg_temp.health_score_account_training;
    END IF;
    -- One row per account live at each snapshot date: as_of, as_of - horizon, as_of - 2 horizon, ...
    -- (label windows that do not overlap; an account that churned drops out of later dates).
    CREATE TEMP TABLE health_score_account_training (account_id text, snapshot_at timestamptz,
                                                     x float8[], churned boolean) ON COMMIT DROP;
    FOR i IN 0..snapshots - 1 LOOP
        EXECUTE format('INSERT INTO pg_temp.health_score_account_training
                        SELECT f.account_id, $1, f.x, f.churned_on IS NOT NULL AND f.churned_on <= $1 + $2
                          FROM (%s) f', health_score.account_features_sql(chosen))
            USING as_of - i * horizon, horizon;
    END LOOP;
    RETURN chosen;
END
$$;

COMMENT ON FUNCTION health_score.account_training(timestamptz, interval, text[], int, int, float8, float8, float8) IS
'Checks the arguments of an account model''s training (as train_account_churn_model documents them) and writes its rows into the temporary table health_score_account_training (account_id, snapshot_at, x: the sub-scores of the metrics in order, NULL without data, churned), dropped at commit; returns the metrics (metrics, or every enabled metric).';

CREATE FUNCTION health_score.train_account_churn_model(name text, as_of timestamptz,
                                                       horizon interval DEFAULT interval '90 days',
                                                       metrics text[] DEFAULT NULL,
                                                       max_iter int DEFAULT 25, tol float8 DEFAULT 1e-10,
                                                       l2 float8 DEFAULT 0, ridge_fallback float8 DEFAULT NULL,
                                                       snapshots int DEFAULT 1)
RETURNS health_score.churn_models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chosen text[];
    unknown text;
    trained health_score.churn_models;
    in_use text;
    imputed record;
    design record;
    miss record;
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'name must not be NULL or empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    chosen := health_score.account_training(as_of, horizon, metrics, snapshots, max_iter, tol, l2, ridge_fallback);
    -- Rows without data for a metric: imputed with an indicator term, or skipped (account_imputation).
    imputed := health_score.account_imputation('pg_temp.health_score_account_training AS s', chosen);
    design := health_score.account_design(chosen, imputed.imputation, 's.x');
    SELECT u INTO unknown FROM unnest(design.terms) u GROUP BY u HAVING count(*) > 1 LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'the indicator term "%" is also the name of one of the metrics', unknown
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Rename the metric.';
    END IF;
    trained := health_score.churn_train(
        name, 'account',
        CASE WHEN snapshots = 1 THEN format('account metric sub-scores at %s', as_of)
             ELSE format('account metric sub-scores at %s dates, every %s back from %s', snapshots, horizon, as_of) END,
        format('churned within %s after the date', horizon),
        'pg_temp.health_score_account_training AS s', design.exprs, design.terms, 's.churned',
        max_iter, tol, l2, ridge_fallback, as_of, horizon, design.term_columns);
    DROP TABLE pg_temp.health_score_account_training;
    UPDATE health_score.churn_models c SET imputation = imputed.imputation, rows_imputed = imputed.rows_imputed
     WHERE c.name = trained.name AND c.version = trained.version
    RETURNING c.* INTO trained;
    FOR miss IN SELECT e.key, e.value FROM jsonb_each(imputed.imputation) e ORDER BY e.key LOOP
        IF miss.value ->> 'indicator' IS NOT NULL THEN
            RAISE NOTICE 'churn model "%": metric "%" had no data on % of the % rows used; they took its mean sub-score (%) and the term "%" marks them',
                trained.name, miss.key, miss.value ->> 'missing', trained.rows_used,
                round((miss.value ->> 'value')::numeric, 2), miss.value ->> 'indicator';
        ELSE
            RAISE NOTICE 'churn model "%": metric "%" had no data on % rows, which all %: they are skipped, as an indicator would separate them',
                trained.name, miss.key, miss.value ->> 'missing',
                CASE WHEN miss.value ->> 'missing_churned' = '0' THEN 'stayed' ELSE 'churned' END;
        END IF;
    END LOOP;
    -- The first account model becomes the dashboards' one; a later model of another name waits
    -- until settings.churn_model names it.
    UPDATE health_score.settings s SET churn_model = trained.name WHERE s.churn_model IS NULL;
    IF FOUND THEN
        RAISE NOTICE 'the views, revenue_at_risk and history now use churn model "%" (settings.churn_model)', trained.name;
    ELSE
        in_use := (SELECT s.churn_model FROM health_score.settings s);
        IF in_use <> trained.name THEN
            RAISE NOTICE 'the views, revenue_at_risk and history still use churn model "%"', in_use
                USING HINT = format('UPDATE health_score.settings SET churn_model = %L switches them to this one.', trained.name);
        END IF;
    END IF;
    RETURN trained;
END
$$;

COMMENT ON FUNCTION health_score.train_account_churn_model(text, timestamptz, interval, text[], int, float8, float8, float8, int) IS
'Trains an account churn model from the accounts'' own history: the features are the sub-scores (0-100) of metrics (default: every enabled metric) at as_of, the label whether the account churned within horizon after as_of (churn_events: the end of its stay, after which it may come back); accounts live at as_of take part. A row without data for a metric (one whose absent_means is unknown) takes the metric''s mean sub-score over the rows with data, and the indicator term metric:missing (1 on such rows) is added, so no row is lost; when the rows without data for a metric all churned or all stayed they are skipped instead (an indicator would separate them). churn_models.imputation and rows_imputed record what was done, with a NOTICE per metric; every prediction applies the same rule. With snapshots > 1 the dates as_of - horizon, as_of - 2 x horizon, ... add one row per account live then (more churn events for a small book; rows of one account are not independent, so the standard errors are optimistic). as_of + horizon must be in the past and within the data: at most midnight at the end of data_through() (settings.data_through, by default the day of the latest observation), else an error (22023). Other arguments and errors as train_churn_model. The first account model trained becomes the one the views, revenue_at_risk and history use (settings.churn_model); training another name does not switch them.';

-- account_churn_cross_validate: k-fold cross-validation of an account model's specification.
-- The folds are groups of accounts (a hash of account_id), so the rows of one account, one
-- per snapshot date, never sit on both sides. Each fold is scored by a model fitted on the
-- others as training and prediction would do it: the imputation is learned on the training
-- folds and applied to the held-out one.
CREATE FUNCTION health_score.account_churn_cross_validate(as_of timestamptz, horizon interval DEFAULT interval '90 days',
                                                          metrics text[] DEFAULT NULL, folds int DEFAULT 5,
                                                          l2 float8 DEFAULT 0, max_iter int DEFAULT 25,
                                                          tol float8 DEFAULT 1e-10, snapshots int DEFAULT 1)
RETURNS TABLE (fold_count int, auc_mean float8, auc_sd float8, fold_auc float8[], fold_rows bigint[],
               fold_accounts bigint[], fold_unscored bigint[])
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k int := folds;
    chosen text[];
    fold_expr text;
    imputed record;
    design record;
    fit health_score.churn_fit_result;
    e health_score.churn_evaluation;
    n bigint;
    na bigint;
    aucs float8[] := '{}';
    nrows bigint[] := '{}';
    naccounts bigint[] := '{}';
    unscored bigint[] := '{}';
BEGIN
    IF k IS NULL OR k < 2 OR k > 100 THEN
        RAISE EXCEPTION 'folds must be between 2 and 100, got %', coalesce(k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    chosen := health_score.account_training(as_of, horizon, metrics, snapshots, max_iter, tol, l2, NULL);
    fold_expr := format('(abs(hashtext(s.account_id)::bigint) %% %s)', k);
    FOR i IN 0..k - 1 LOOP
        imputed := health_score.account_imputation(
            format('pg_temp.health_score_account_training AS s WHERE %s <> %s', fold_expr, i), chosen);
        design := health_score.account_design(chosen, imputed.imputation, 's.x');
        fit := health_score.churn_fit(format('pg_temp.health_score_account_training AS s WHERE %s <> %s', fold_expr, i),
                                      design.exprs, design.terms, 's.churned', max_iter, tol, l2);
        -- held-out rows lacking a metric the fold's model does not impute get no prediction
        e := health_score.churn_evaluate(format('pg_temp.health_score_account_training AS s WHERE %s = %s', fold_expr, i),
                                         design.exprs, 's.churned', fit.coefficients);
        EXECUTE format('SELECT count(*), count(DISTINCT s.account_id) FROM pg_temp.health_score_account_training AS s WHERE %s = %s',
                       fold_expr, i) INTO n, na;
        aucs := aucs || e.auc;
        nrows := nrows || e.rows_used;
        naccounts := naccounts || na;
        unscored := unscored || (n - e.rows_used);
    END LOOP;
    DROP TABLE pg_temp.health_score_account_training;
    RETURN QUERY SELECT k, avg(a), stddev_samp(a), aucs, nrows, naccounts, unscored FROM unnest(aucs) a;
END
$$;

COMMENT ON FUNCTION health_score.account_churn_cross_validate(timestamptz, interval, text[], int, float8, int, float8, int) IS
'k-fold cross-validated AUC of an account model''s specification (as_of, horizon, metrics, l2, max_iter, tol and snapshots as in train_account_churn_model): the folds are groups of accounts, an account''s fold being abs(hashtext(account_id)) % folds, so the rows of one account (one per snapshot date) are never on both sides. Each fold is scored (exact AUC) by a model fitted on the other folds, with the imputation of metrics without data learned on those folds and applied to the held-out rows, as prediction does; a held-out row lacking a metric that fold''s model does not impute is not scored (fold_unscored). Returns the mean and sample standard deviation of the fold AUCs (a fold with a single class has a NULL AUC and is left out of both), each fold''s AUC, rows scored, accounts and rows not scored. Nothing is written to the catalog.';

-- metric_rows: a table of metric rows already scored at as_of (snapshot keeps one), read
-- instead of scoring again. Reading a temporary table makes the function parallel restricted.
CREATE FUNCTION health_score.account_churn_risk(as_of timestamptz DEFAULT now(), metric_rows regclass DEFAULT NULL)
RETURNS TABLE (account_id text, churn_risk float8, model text, model_version int,
               missing_metrics text[], top_drivers text, churn_risk_low float8, churn_risk_high float8,
               imputed_metrics text[])
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
    d record;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    SELECT * INTO m FROM health_score.account_churn_model();
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The model's features from the sub-scores, as in training: g.missing are the metrics
    -- without data that the model cannot impute (no risk then), g.imputed those it did.
    d := health_score.account_model_design(m, 'f.x');
    -- The features first (on Citus, grouped on the shards): Citus plans no correlated subquery
    -- in a subquery without FROM, as g below, over a distributed table. Without the label
    -- (churned_on), whose join with churn_events the planner then drops.
    RETURN QUERY EXECUTE format($q$
        WITH f AS MATERIALIZED (SELECT f.account_id, f.x, f.missing FROM (%s) f)
        SELECT f.account_id,
               CASE WHEN g.missing IS NULL THEN 100 * health_score.logit_predict($2, g.x) END,
               $3, $4, g.missing,
               CASE WHEN g.missing IS NULL THEN
                   (SELECT string_agg(format('%%s %%s', t.metric, to_char(t.c, 'FMSG990.00')), ', ' ORDER BY t.c DESC)
                      FROM (SELECT u.metric, $2[u.i + 1] * (u.v - $5[u.i]) AS c
                              FROM unnest($6, g.x) WITH ORDINALITY AS u(metric, v, i)
                             WHERE u.i <= $9 OR u.v = 1   -- an indicator term only when it is set
                             ORDER BY 2 DESC LIMIT 3) t
                     -- as shown, to the hundredth: an imputed metric's term (its training
                     -- mean less the center, the same mean) is 0 give or take the order of
                     -- a sum, which is no driver
                     WHERE round(t.c::numeric, 2) > 0)
               END,
               100 * i.iv[2], 100 * i.iv[3], g.imputed
          FROM f
         CROSS JOIN LATERAL (
               SELECT ARRAY[%s]::float8[] AS x,
                      (SELECT array_agg(u.v ORDER BY u.o) FROM unnest(f.missing) WITH ORDINALITY AS u(v, o)
                        WHERE u.v <> ALL ($8)) AS missing,
                      (SELECT array_agg(u.v ORDER BY u.o) FROM unnest(f.missing) WITH ORDINALITY AS u(v, o)
                        WHERE u.v = ANY ($8)) AS imputed) g
         CROSS JOIN LATERAL (SELECT CASE WHEN g.missing IS NULL
                                         THEN health_score.logit_predict_interval($2, $7, g.x) END AS iv) i
         ORDER BY f.account_id$q$,
        CASE WHEN metric_rows IS NULL THEN health_score.account_features_sql(d.metrics)
             ELSE health_score.account_features_sql(d.metrics, metric_rows::text) END,
        array_to_string(d.exprs, ', '))
        USING as_of, m.coefficients, m.name, m.version, m.center, m.features, m.covariance, d.imputed,
              cardinality(d.metrics);
END
$$;

COMMENT ON FUNCTION health_score.account_churn_risk(timestamptz, regclass) IS
'Churn risk 0-100 % of every account live at as_of under the account churn model the dashboards use (account_churn_model(): the one settings.churn_model names), from the account''s metric sub-scores at as_of (read from metric_rows, a table of metric_scores(as_of) rows, when given). A metric without data that the model imputes (churn_models.imputation) takes its training mean and its indicator term metric:missing is 1, as in training (imputed_metrics names those); NULL when a metric the model needs had no data and the model does not impute it (missing_metrics names them). top_drivers lists up to three terms (an indicator term only when set) that push the risk above the average account''s, with their contribution to the log-odds (at least +0.01 rounded: a smaller one is none). churn_risk_low and churn_risk_high bound the 95 % confidence interval of churn_risk (delta method on the log-odds, as churn_probability_interval); NULL with churn_risk, and for a model trained before 0.2.0, which has no covariance matrix. An empty result when there is no such model. The model is today''s: for an as_of before the end of its training window (as_of + horizon) the risk is in-sample, which snapshot() does not record.';

CREATE FUNCTION health_score.account_churn_drivers(account_id text, as_of timestamptz DEFAULT now())
RETURNS TABLE (rank int, metric text, sub_score float8, average float8, coefficient float8,
               contribution float8, odds_multiplier float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m health_score.churn_models;
    d record;
    x float8[];
    in_use text;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    SELECT * INTO m FROM health_score.account_churn_model();
    IF NOT FOUND THEN
        in_use := (SELECT s.churn_model FROM health_score.settings s);
        IF in_use IS NOT NULL THEN
            RAISE EXCEPTION 'settings.churn_model names "%", which is no active account churn model', in_use
                USING ERRCODE = 'undefined_object',
                      HINT = 'Train it with train_account_churn_model, or name another account model in health_score.settings.churn_model.';
        END IF;
        RAISE EXCEPTION 'no account churn model has been trained' USING ERRCODE = 'undefined_object',
            HINT = 'Train one with train_account_churn_model.';
    END IF;
    d := health_score.account_model_design(m, 'f.x');
    EXECUTE format('SELECT ARRAY[%s]::float8[] FROM (%s) f WHERE f.account_id = $2',
                   array_to_string(d.exprs, ', '), health_score.account_features_sql(d.metrics))
       INTO x USING as_of, account_id;
    IF x IS NULL THEN
        RAISE EXCEPTION 'account "%" is not live at %', account_id, as_of USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY SELECT * FROM health_score.churn_drivers(m.name, x);
END
$$;

COMMENT ON FUNCTION health_score.account_churn_drivers(text, timestamptz) IS
'Why an account is at risk, under the account churn model the dashboards use (account_churn_model()): each term''s contribution to the log-odds of churn relative to the average account (coefficient x (sub-score - average sub-score)), largest push towards churn first (see churn_drivers). A metric without data that the model imputes has its training mean (contribution 0) and its indicator term metric:missing the value 1, as in account_churn_risk.';

-- PL/pgSQL, not SQL: Citus cannot plan a SQL function's query with parameters on distributed
-- tables, and PL/pgSQL passes them as values. Columns win over same-named parameters, as in SQL.
CREATE FUNCTION health_score.revenue_at_risk(as_of timestamptz DEFAULT now())
RETURNS TABLE (grouping_by text, group_value text, accounts bigint, accounts_with_risk bigint,
               mrr numeric, mrr_with_risk numeric, revenue_at_risk float8, risk_share float8,
               revenue_at_risk_low float8, revenue_at_risk_high float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN RETURN QUERY
    -- the accounts' rows first: Citus runs no GROUPING SETS over a distributed table
    WITH a AS MATERIALIZED (
        SELECT s.band, a.segment, a.owner, a.mrr, r.churn_risk, r.churn_risk_low, r.churn_risk_high
          FROM health_score.account_scores(as_of) s
          JOIN health_score.live_accounts(as_of) a ON a.account_id = s.account_id
          LEFT JOIN health_score.account_churn_risk(as_of) r ON r.account_id = s.account_id
    )
    SELECT CASE WHEN grouping(a.band, a.segment, a.owner) = 7 THEN 'all'
                WHEN grouping(a.band) = 0 THEN 'band'
                WHEN grouping(a.segment) = 0 THEN 'segment'
                ELSE 'owner' END,
           coalesce(a.band, a.segment, a.owner::text),
           count(*), count(a.churn_risk),
           sum(a.mrr), sum(a.mrr) FILTER (WHERE a.churn_risk IS NOT NULL),
           sum(a.mrr::float8 * a.churn_risk / 100),
           sum(a.mrr::float8 * a.churn_risk / 100) / nullif(sum(a.mrr::float8) FILTER (WHERE a.churn_risk IS NOT NULL), 0),
           sum(a.mrr::float8 * a.churn_risk_low / 100), sum(a.mrr::float8 * a.churn_risk_high / 100)
      FROM a
     GROUP BY GROUPING SETS ((), (a.band), (a.segment), (a.owner))
     ORDER BY 1, 7 DESC NULLS LAST, 2;
END
$$;

COMMENT ON FUNCTION health_score.revenue_at_risk(timestamptz) IS
'Revenue at risk at as_of: the sum over accounts of MRR (of the period covering as_of, live_accounts) x churn probability (account_churn_risk), in total (grouping_by all) and by band, segment and owner (group_value NULL: accounts without a band, segment or owner). Accounts without a known risk or MRR add nothing; accounts_with_risk and mrr_with_risk say how much of the book the figure covers, risk_share = revenue_at_risk / mrr_with_risk. revenue_at_risk_low and revenue_at_risk_high sum MRR x the low and high ends of each account''s 95 % interval (account_churn_risk): a conservative range, wider than a joint 95 % interval of the sum, as the accounts'' bounds are added as if all errors went the same way; NULL when the model has no covariance matrix (trained before 0.2.0).';

CREATE VIEW health_score.revenue_at_risk AS
SELECT r.grouping_by, r.group_value, r.accounts, r.accounts_with_risk,
       r.mrr::numeric(18,2) AS mrr, r.mrr_with_risk::numeric(18,2) AS mrr_with_risk,
       r.revenue_at_risk::numeric(18,2) AS revenue_at_risk, r.risk_share::numeric(18,4) AS risk_share,
       r.revenue_at_risk_low::numeric(18,2) AS revenue_at_risk_low,
       r.revenue_at_risk_high::numeric(18,2) AS revenue_at_risk_high
  FROM health_score.revenue_at_risk(
           health_score.current_as_of()) r;

COMMENT ON VIEW health_score.revenue_at_risk IS
'Revenue at risk now (or at the setting health_score.as_of): MRR x churn probability summed in total and by band, segment and owner.';
COMMENT ON COLUMN health_score.revenue_at_risk.grouping_by IS 'all, band, segment or owner.';
COMMENT ON COLUMN health_score.revenue_at_risk.group_value IS 'The band, segment or owner; NULL for accounts without one (and for the total).';
COMMENT ON COLUMN health_score.revenue_at_risk.accounts IS 'Live accounts in the group.';
COMMENT ON COLUMN health_score.revenue_at_risk.accounts_with_risk IS 'Of those, accounts with a known churn risk.';
COMMENT ON COLUMN health_score.revenue_at_risk.mrr IS 'Monthly recurring revenue of the group at as_of (each account''s period covering it).';
COMMENT ON COLUMN health_score.revenue_at_risk.mrr_with_risk IS 'MRR of the accounts with a known churn risk.';
COMMENT ON COLUMN health_score.revenue_at_risk.revenue_at_risk IS 'Sum of MRR x churn probability: the monthly revenue expected to be lost.';
COMMENT ON COLUMN health_score.revenue_at_risk.risk_share IS 'revenue_at_risk / mrr_with_risk: the MRR-weighted churn probability.';
COMMENT ON COLUMN health_score.revenue_at_risk.revenue_at_risk_low IS 'Sum of MRR x the low end of each account''s 95 % churn-risk interval: the low end of a conservative range (not a joint interval of the sum); NULL when the model has no covariance matrix.';
COMMENT ON COLUMN health_score.revenue_at_risk.revenue_at_risk_high IS 'Sum of MRR x the high end of each account''s 95 % churn-risk interval: the high end of a conservative range (not a joint interval of the sum); NULL when the model has no covariance matrix.';

CREATE VIEW health_score.account_churn AS
SELECT a.account_id, a.name, a.segment, a.owner, a.mrr::numeric(18,2) AS mrr,
       s.score::numeric(18,2) AS score, s.band, r.churn_risk::numeric(18,2) AS churn_risk,
       (a.mrr::float8 * r.churn_risk / 100)::numeric(18,2) AS revenue_at_risk, r.top_drivers,
       r.missing_metrics, array_to_string(r.missing_metrics, ', ') AS missing_metrics_text, r.model, r.model_version,
       r.churn_risk_low::numeric(18,2) AS churn_risk_low, r.churn_risk_high::numeric(18,2) AS churn_risk_high,
       (a.mrr::float8 * r.churn_risk_low / 100)::numeric(18,2) AS revenue_at_risk_low,
       (a.mrr::float8 * r.churn_risk_high / 100)::numeric(18,2) AS revenue_at_risk_high,
       r.imputed_metrics, array_to_string(r.imputed_metrics, ', ') AS imputed_metrics_text
  FROM health_score.account_churn_risk(
           health_score.current_as_of()) r
  JOIN health_score.live_accounts(
           health_score.current_as_of()) a ON a.account_id = r.account_id
  LEFT JOIN health_score.account_scores(
           health_score.current_as_of()) s
    ON s.account_id = r.account_id
 ORDER BY r.churn_risk DESC NULLS LAST, a.account_id;

COMMENT ON VIEW health_score.account_churn IS
'Every live account with its churn risk and its 95 % interval under the account churn model the dashboards use (account_churn_model(), named by settings.churn_model), highest risk first, beside its health score: MRR at risk (with its range) and the metrics that drive the risk. Empty until an account model is trained.';
COMMENT ON COLUMN health_score.account_churn.account_id IS 'The account''s key.';
COMMENT ON COLUMN health_score.account_churn.name IS 'Display name.';
COMMENT ON COLUMN health_score.account_churn.segment IS 'Segment.';
COMMENT ON COLUMN health_score.account_churn.owner IS 'Role of the account''s customer-success manager.';
COMMENT ON COLUMN health_score.account_churn.mrr IS 'Monthly recurring revenue of the period covering the scoring time.';
COMMENT ON COLUMN health_score.account_churn.score IS 'Health score 0-100.';
COMMENT ON COLUMN health_score.account_churn.band IS 'Action band.';
COMMENT ON COLUMN health_score.account_churn.churn_risk IS 'Churn risk 0-100 %; NULL when a metric the model needs had no data and the model does not impute it.';
COMMENT ON COLUMN health_score.account_churn.revenue_at_risk IS 'MRR x churn probability.';
COMMENT ON COLUMN health_score.account_churn.top_drivers IS 'Up to three metrics pushing the risk above the average account''s, with their contribution to the log-odds.';
COMMENT ON COLUMN health_score.account_churn.missing_metrics IS 'Metrics the model needs that had no data and that it does not impute (then churn_risk is NULL).';
COMMENT ON COLUMN health_score.account_churn.missing_metrics_text IS 'The same metrics as text, separated by comma and space (for BI tools, which do not read arrays).';
COMMENT ON COLUMN health_score.account_churn.model IS 'The account churn model used (settings.churn_model).';
COMMENT ON COLUMN health_score.account_churn.model_version IS 'Its version.';
COMMENT ON COLUMN health_score.account_churn.churn_risk_low IS 'Low end of the 95 % confidence interval of churn_risk (delta method on the log-odds); NULL with churn_risk, or when the model has no covariance matrix (trained before 0.2.0).';
COMMENT ON COLUMN health_score.account_churn.churn_risk_high IS 'High end of the 95 % confidence interval of churn_risk; NULL as churn_risk_low.';
COMMENT ON COLUMN health_score.account_churn.revenue_at_risk_low IS 'MRR x churn_risk_low.';
COMMENT ON COLUMN health_score.account_churn.revenue_at_risk_high IS 'MRR x churn_risk_high.';
COMMENT ON COLUMN health_score.account_churn.imputed_metrics IS 'Metrics without data that the model imputed, as in training: the training mean, with the indicator term metric:missing set (churn_models.imputation).';
COMMENT ON COLUMN health_score.account_churn.imputed_metrics_text IS 'The same metrics as text, separated by comma and space (for BI tools, which do not read arrays).';
