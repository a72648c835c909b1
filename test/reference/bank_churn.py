#!/usr/bin/python3
"""Reference fit for the churn model tests.

Fits statsmodels' Logit (Newton's method, intercept added) on test/data/bank_churn.csv and
writes the coefficients, standard errors, log-likelihoods and scikit-learn's roc_auc_score of
the fitted probabilities to test/data/bank_churn_expected.csv. The tests read only that file.

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
