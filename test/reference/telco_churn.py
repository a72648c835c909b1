#!/usr/bin/python3
"""Synthetic Telco-style churn data and its reference fits, for the categorical churn tests.

Writes two files:
  test/data/telco_churn.csv           2,000 synthetic customers in the layout of IBM's Telco
                                      customer churn table (the same 21 columns, header and
                                      value spellings, TotalCharges a single space when tenure
                                      is 0), generated from a fixed seed: the same file on
                                      every run.
  test/data/telco_churn_expected.csv  statsmodels' Logit fits on it and scikit-learn's
                                      roc_auc_score of their fitted probabilities.

The fits encode each text column the way train_churn_model does, written out here on its own:
one 0/1 indicator per level other than the reference level, levels in byte order, the
reference the most frequent level over the rows used (fit "default") or the one named (fit
"named"); terms are named column=level. Label: Churn = 'Yes'. Rows whose TotalCharges is blank
are left out (the extension skips rows with a NULL feature and counts them).

Run from the project root: /usr/bin/python3 test/reference/telco_churn.py
"""
import csv
import math
import os
import random

import numpy as np
import sklearn
import statsmodels
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "telco_churn.csv")
OUT = os.path.join(HERE, "..", "data", "telco_churn_expected.csv")

HEADER = ["customerID", "gender", "SeniorCitizen", "Partner", "Dependents", "tenure",
          "PhoneService", "MultipleLines", "InternetService", "OnlineSecurity", "OnlineBackup",
          "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies", "Contract",
          "PaperlessBilling", "PaymentMethod", "MonthlyCharges", "TotalCharges", "Churn"]


def pick(rng, choices):
    """One of (value, weight) pairs, from a single uniform draw."""
    u = rng.random() * sum(w for _, w in choices)
    for value, w in choices:
        u -= w
        if u < 0:
            return value
    return choices[-1][0]


def generate(n=2000, seed=20240614):
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        tenure = 0 if rng.random() < 0.01 else 1 + int(rng.random() * 72)
        contract = pick(rng, [("Month-to-month", 1.6 - tenure / 60), ("One year", 0.4 + tenure / 150),
                              ("Two year", 0.2 + tenure / 70)])
        internet = pick(rng, [("DSL", 0.34), ("Fiber optic", 0.44), ("No", 0.22)])
        payment = pick(rng, [("Electronic check", 0.34), ("Mailed check", 0.23),
                             ("Bank transfer (automatic)", 0.22), ("Credit card (automatic)", 0.21)])
        paperless = "Yes" if rng.random() < 0.59 else "No"
        senior = 1 if rng.random() < 0.16 else 0
        gender = "Male" if rng.random() < 0.505 else "Female"
        partner = "Yes" if rng.random() < 0.48 else "No"
        dependents = "Yes" if rng.random() < 0.30 else "No"
        phone = "Yes" if rng.random() < 0.9 else "No"
        lines = ("Yes" if rng.random() < 0.47 else "No") if phone == "Yes" else "No phone service"
        extras = [("Yes" if rng.random() < 0.4 else "No") if internet != "No" else "No internet service"
                  for _ in range(6)]
        base = {"No": 20.0, "DSL": 45.0, "Fiber optic": 70.0}[internet]
        spread = {"No": 6.0, "DSL": 35.0, "Fiber optic": 45.0}[internet]
        monthly = round((base + spread * rng.random()) * 20) / 20
        noise = 0.95 + 0.1 * rng.random()
        total = " " if tenure == 0 else "%.2f" % (tenure * monthly * noise)
        logit = (-1.0 - 0.035 * tenure + 0.012 * monthly + 0.4 * senior + 0.3 * (paperless == "Yes")
                 + {"Month-to-month": 0.0, "One year": -0.9, "Two year": -1.8}[contract]
                 + (0.5 if payment == "Electronic check" else 0.0)
                 + {"Fiber optic": 0.6, "DSL": 0.0, "No": -0.5}[internet])
        churn = "Yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "No"
        rows.append(["%04d-SYNTH" % i, gender, senior, partner, dependents, tenure, phone, lines,
                     internet] + extras + [contract, paperless, payment, "%.2f" % monthly, total, churn])
    return rows


# The model: numeric columns as they are, text columns one indicator per level but the reference.
NUMERIC = ["tenure", "monthly_charges", "total_charges", "senior_citizen"]
CATEGORICAL = ["gender", "paperless_billing", "contract", "payment_method", "internet_service"]
SOURCE = {"tenure": "tenure", "monthly_charges": "MonthlyCharges", "total_charges": "TotalCharges",
          "senior_citizen": "SeniorCitizen", "gender": "gender", "paperless_billing": "PaperlessBilling",
          "contract": "Contract", "payment_method": "PaymentMethod", "internet_service": "InternetService"}
FEATURES = ["tenure", "monthly_charges", "total_charges", "senior_citizen", "gender",
            "paperless_billing", "contract", "payment_method", "internet_service"]
NAMED = {"contract": "Two year", "payment_method": "Mailed check", "internet_service": "No"}


def design(records, references):
    """The terms, their columns of X, and the reference level of each text column."""
    terms, columns, chosen = [], [], {}
    for f in FEATURES:
        values = [r[SOURCE[f]] for r in records]
        if f in NUMERIC:
            terms.append(f)
            columns.append([float(v) for v in values])
            continue
        counts = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        levels = sorted(counts, key=lambda v: v.encode())
        ref = references.get(f) or max(levels, key=lambda v: (counts[v], -levels.index(v)))
        chosen[f] = ref
        for level in levels:
            if level != ref:
                terms.append(f + "=" + level)
                columns.append([1.0 if v == level else 0.0 for v in values])
    return terms, np.array(columns).T, chosen


rows = generate()
with open(DATA, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(rows)

with open(DATA, newline="") as f:
    records = list(csv.DictReader(f))
used = [r for r in records if r["TotalCharges"].strip() != ""]
y = np.array([1.0 if r["Churn"] == "Yes" else 0.0 for r in used])

with open(OUT, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["fit", "key", "term", "value"])
    for name, references in (("default", {}), ("named", NAMED)):
        terms, X, chosen = design(used, references)
        fit = sm.Logit(y, sm.add_constant(X)).fit(method="newton", maxiter=100, tol=1e-12, disp=False)
        prob = fit.predict(sm.add_constant(X))
        for term, b, se, z, p in zip(["(intercept)"] + terms, fit.params, fit.bse, fit.tvalues, fit.pvalues):
            w.writerow([name, "coefficient", term, repr(float(b))])
            w.writerow([name, "std_error", term, repr(float(se))])
            w.writerow([name, "z", term, repr(float(z))])
            w.writerow([name, "p_value", term, repr(float(p))])
        for position, term in enumerate(terms, start=1):
            w.writerow([name, "position", term, position])
        for column, ref in sorted(chosen.items()):
            w.writerow([name, "reference", column, ref])
        w.writerow([name, "loglik", "", repr(float(fit.llf))])
        w.writerow([name, "null_loglik", "", repr(float(fit.llnull))])
        w.writerow([name, "rows", "", len(y)])
        w.writerow([name, "rows_skipped", "", len(records) - len(used)])
        w.writerow([name, "positives", "", int(y.sum())])
        w.writerow([name, "auc", "", repr(float(roc_auc_score(y, prob)))])
    w.writerow(["", "versions", "statsmodels " + statsmodels.__version__ + ", scikit-learn "
                + sklearn.__version__, ""])
