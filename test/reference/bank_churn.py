#!/usr/bin/python3
"""Reference fit for the churn model tests.

Fits statsmodels' Logit (Newton's method, intercept added) on test/data/bank_churn.csv and
writes the coefficients, standard errors, log-likelihoods and scikit-learn's roc_auc_score of
the fitted probabilities to test/data/bank_churn_expected.csv, the covariance matrix of the
coefficients to test/data/bank_churn_covariance.csv, and the 95 % intervals of the churn
probability of selected rows to test/data/bank_churn_intervals.csv. The tests read only those
files.

The intervals are statsmodels' get_prediction().conf_int() of the same model fitted as a
binomial GLM (the Logit results of statsmodels 0.13 have no get_prediction; the GLM's maximum
likelihood fit is the same model, and the script checks that its coefficients and covariance
agree with Logit's): the interval of the log-odds x'b +- 1.959964 sqrt(x'Vx), mapped through
the logistic function. Two fits: "all" on every row, "first_2500" on the rows with RowNumber up
to 2500 (wider intervals, from less data). The rows: every 25th RowNumber, and the rows with the
lowest and highest probability and the narrowest and widest interval under each fit.

Label: Exited (1 = the customer left the bank).
Features, in this order:
  credit_score, age, tenure, balance, num_of_products, has_cr_card, is_active_member,
  estimated_salary, is_germany (Geography = 'Germany'), is_spain (Geography = 'Spain'),
  is_female (Gender = 'Female').

Run from the project root: /usr/bin/python3 test/reference/bank_churn.py
"""
import csv
import os

import numpy as np
import statsmodels
import sklearn
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "bank_churn.csv")
OUT = os.path.join(HERE, "..", "data", "bank_churn_expected.csv")
COVARIANCE = os.path.join(HERE, "..", "data", "bank_churn_covariance.csv")
INTERVALS = os.path.join(HERE, "..", "data", "bank_churn_intervals.csv")

FEATURES = ["credit_score", "age", "tenure", "balance", "num_of_products", "has_cr_card",
            "is_active_member", "estimated_salary", "is_germany", "is_spain", "is_female"]


def row_features(r):
    return [float(r["CreditScore"]), float(r["Age"]), float(r["Tenure"]), float(r["Balance"]),
            float(r["NumOfProducts"]), float(r["HasCrCard"]), float(r["IsActiveMember"]),
            float(r["EstimatedSalary"]), float(r["Geography"] == "Germany"),
            float(r["Geography"] == "Spain"), float(r["Gender"] == "Female")]


with open(DATA, newline="") as f:
    rows = list(csv.DictReader(f))
X = np.array([row_features(r) for r in rows])
y = np.array([float(r["Exited"]) for r in rows])

fit = sm.Logit(y, sm.add_constant(X)).fit(method="newton", maxiter=100, tol=1e-12, disp=False)
prob = fit.predict(sm.add_constant(X))
auc = roc_auc_score(y, prob)

with open(OUT, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["key", "term", "value"])
    for term, b, se, z, p in zip(["(intercept)"] + FEATURES, fit.params, fit.bse,
                                 fit.tvalues, fit.pvalues):
        w.writerow(["coefficient", term, repr(float(b))])
        w.writerow(["std_error", term, repr(float(se))])
        w.writerow(["z", term, repr(float(z))])
        w.writerow(["p_value", term, repr(float(p))])
    w.writerow(["loglik", "", repr(float(fit.llf))])
    w.writerow(["null_loglik", "", repr(float(fit.llnull))])
    w.writerow(["pseudo_r2", "", repr(float(fit.prsquared))])
    w.writerow(["rows", "", len(y)])
    w.writerow(["positives", "", int(y.sum())])
    w.writerow(["brier", "", repr(float(np.mean((prob - y) ** 2)))])
    w.writerow(["auc", "", repr(float(auc))])
    # Scores already on the 0-100 grid, for the auc aggregate: Age (whole years) and
    # CreditScore / 10 (one decimal).
    age = np.array([float(r["Age"]) for r in rows])
    credit = np.array([float(r["CreditScore"]) / 10 for r in rows])
    w.writerow(["auc_age", "", repr(float(roc_auc_score(y, age)))])
    w.writerow(["auc_credit_score_tenth", "", repr(float(roc_auc_score(y, credit)))])
    # Condition number of the information matrix of the fit on standardised features
    # (population standard deviation), intercept included: what the catalog reports.
    Z = sm.add_constant((X - X.mean(axis=0)) / X.std(axis=0))
    pz = sm.Logit(y, Z).fit(method="newton", maxiter=100, tol=1e-12, disp=False).predict(Z)
    eig = np.linalg.eigvalsh((Z * (pz * (1 - pz))[:, None]).T @ Z)
    w.writerow(["condition_number", "", repr(float(eig.max() / eig.min()))])
    w.writerow(["iterations", "", int(fit.mle_retvals["iterations"])])
    w.writerow(["versions", "statsmodels " + statsmodels.__version__ + ", scikit-learn "
                + sklearn.__version__, ""])

# The covariance matrix of the coefficients (inverse information matrix), intercept first.
terms = ["(intercept)"] + FEATURES
cov = fit.cov_params()
with open(COVARIANCE, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["row_term", "column_term", "value"])
    for i, a in enumerate(terms):
        for j, b in enumerate(terms):
            w.writerow([a, b, repr(float(cov[i, j]))])

# 95 % intervals of the churn probability per row, from get_prediction() of the same model
# fitted as a binomial GLM.
row_number = np.array([int(r["RowNumber"]) for r in rows])
with open(INTERVALS, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["fit", "row_number", "probability", "ci_low", "ci_high"])
    for name, subset in (("all", row_number > 0), ("first_2500", row_number <= 2500)):
        Xs = sm.add_constant(X[subset])
        logit = sm.Logit(y[subset], Xs).fit(method="newton", maxiter=100, tol=1e-12, disp=False)
        glm = sm.GLM(y[subset], Xs, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=100)
        assert np.allclose(glm.params, logit.params, rtol=1e-9, atol=0)
        assert np.allclose(glm.cov_params(), logit.cov_params(), rtol=1e-7, atol=0)
        pred = glm.get_prediction(sm.add_constant(X))
        mean = pred.predicted_mean
        ci = pred.conf_int(alpha=0.05)
        width = ci[:, 1] - ci[:, 0]
        pick = set(np.flatnonzero(row_number % 25 == 0))
        pick |= {int(np.argmin(mean)), int(np.argmax(mean)), int(np.argmin(width)), int(np.argmax(width))}
        for i in sorted(pick):
            w.writerow([name, row_number[i], repr(float(mean[i])), repr(float(ci[i, 0])),
                        repr(float(ci[i, 1]))])
