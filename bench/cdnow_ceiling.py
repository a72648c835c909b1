"""How well can any model rank CDNOW's churners from the purchases alone?

bench/predictive.sh runs this beside the health score's backtest: the same customers, the same
churn label (no purchase after 1997-09-30) and the same information (the purchases before the
scoring date), read straight from test/data/cdnow_transactions.txt. It prints the 5-fold
cross-validated ROC AUC of a logistic regression on log recency, frequency and spend, of one on
the log of many purchase features, and of gradient-boosted trees on the same features: the
most flexible model here, an estimate of what the data allow on these points.

    python3 bench/cdnow_ceiling.py [DATA_FILE] [DATE ...]     (needs numpy)
"""
import datetime
import sys

import numpy as np

DAY = datetime.date.toordinal


def read_purchases(path):
    customer, day, dollars = [], [], []
    for line in open(path):
        f = line.split()
        if f and f[0].isdigit():
            customer.append(f[0])
            day.append(DAY(datetime.date(int(f[1][:4]), int(f[1][4:6]), int(f[1][6:8]))))
            dollars.append(float(f[3]))
    ids = {c: i for i, c in enumerate(sorted(set(customer)))}
    return np.array([ids[c] for c in customer]), np.array(day, float), np.array(dollars), len(ids)


def features(cust, day, dollars, n, as_of):
    """Per customer, from the purchases before midnight at the start of as_of (each dated at noon,
    as examples/cdnow/load.sql does), the log of: days since the last and the first purchase,
    purchases and dollars in all and over the last 30, 90 and 180 days, decayed purchases and
    dollars at half-lives of 15, 60 and 365 days, dollars per purchase and distinct purchase days."""
    m = day < as_of
    c, age, usd = cust[m], as_of - (day[m] + 0.5), dollars[m]

    def per_customer(x):
        out = np.zeros(n)
        np.add.at(out, c, x)
        return out

    last, first = np.full(n, np.inf), np.zeros(n)
    np.minimum.at(last, c, age)
    np.maximum.at(first, c, age)
    cols = [last, first, per_customer(np.ones(len(c))), per_customer(usd)]
    for window in (30, 90, 180):
        cols += [per_customer(age <= window), per_customer(usd * (age <= window))]
    for half_life in (15, 60, 365):
        w = 0.5 ** (age / half_life)
        cols += [per_customer(w), per_customer(usd * w)]
    cols.append(cols[3] / cols[2])
    days = np.unique(np.stack([c, day[m]]), axis=1)[0].astype(int)
    cols.append(np.bincount(days, minlength=n).astype(float))
    return np.log1p(np.stack(cols, 1))


def auc(score, y):
    """ROC AUC of score (higher: churn) for labels y, ties counted half (rank-sum)."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ranks = np.empty(len(s))
    bounds = np.r_[0, np.flatnonzero(np.diff(s)) + 1, len(s)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        ranks[order[lo:hi]] = (lo + hi + 1) / 2
    pos = y.sum()
    return (ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos))


def logistic(x_train, y_train, x_test):
    mu, sd = x_train.mean(0), x_train.std(0)
    sd[sd == 0] = 1
    a = np.hstack([np.ones((len(x_train), 1)), (x_train - mu) / sd])
    b = np.hstack([np.ones((len(x_test), 1)), (x_test - mu) / sd])
    w = np.zeros(a.shape[1])
    for _ in range(50):  # Newton's method; a tiny ridge keeps it well posed
        p = 1 / (1 + np.exp(-a @ w))
        step = np.linalg.solve((a * (p * (1 - p))[:, None]).T @ a + 1e-6 * np.eye(len(w)), a.T @ (p - y_train))
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return b @ w


def boosted_trees(x_train, y_train, x_test, rounds=300, rate=0.05, depth=3, bins=32):
    """Gradient boosting of the log loss with depth-limited trees on quantile bins."""
    edges = [np.unique(np.quantile(x_train[:, j], np.linspace(0, 1, bins + 1)[1:-1])) for j in range(x_train.shape[1])]
    binned = lambda x: np.stack([np.searchsorted(e, x[:, j], side="right") for j, e in enumerate(edges)], 1)
    b_train, b_test = binned(x_train), binned(x_test)
    k = b_train.shape[1]
    offset = np.arange(k) * (bins + 1)
    prior = np.log(y_train.mean() / (1 - y_train.mean()))
    f_train, f_test = np.full(len(x_train), prior), np.full(len(x_test), prior)

    def grow(rows, g, h, level, te):
        gs, hs = g[rows].sum(), h[rows].sum()
        if level < depth and len(rows) >= 40:
            cells = (b_train[rows] + offset).ravel()
            gb = np.bincount(cells, np.repeat(g[rows], k), k * (bins + 1)).reshape(k, -1).cumsum(1)[:, :-1]
            hb = np.bincount(cells, np.repeat(h[rows], k), k * (bins + 1)).reshape(k, -1).cumsum(1)[:, :-1]
            ok = (hb >= 5) & (hs - hb >= 5)
            gain = np.where(ok, gb ** 2 / (hb + 1) + (gs - gb) ** 2 / (hs - hb + 1), -np.inf)
            j, t = np.unravel_index(np.argmax(gain), gain.shape)
            if np.isfinite(gain[j, t]):
                left = b_train[rows, j] <= t
                te_left = b_test[te, j] <= t
                grow(rows[left], g, h, level + 1, te[te_left])
                grow(rows[~left], g, h, level + 1, te[~te_left])
                return
        value = -rate * gs / (hs + 1)
        f_train[rows] += value
        f_test[te] += value

    for _ in range(rounds):
        p = 1 / (1 + np.exp(-f_train))
        grow(np.arange(len(x_train)), p - y_train, p * (1 - p), 0, np.arange(len(x_test)))
    return f_test


def cross_validated(model, x, y, folds=5):
    fold = np.random.default_rng(1).permutation(len(y)) % folds
    out = np.zeros(len(y))
    for i in range(folds):
        out[fold == i] = model(x[fold != i], y[fold != i], x[fold == i])
    return auc(out, y)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "test/data/cdnow_transactions.txt"
    dates = sys.argv[2:] or ["1997-09-01", "1997-10-01"]
    cust, day, dollars, n = read_purchases(path)
    last = np.zeros(n)
    np.maximum.at(last, cust, day)
    y = (last <= DAY(datetime.date(1997, 9, 30))).astype(float)
    print(f"{n} customers, {int(y.sum())} churned (no purchase after 1997-09-30); 5-fold cross-validated AUC")
    for d in dates:
        x = features(cust, day, dollars, n, DAY(datetime.date.fromisoformat(d)))
        rfm = x[:, [0, 2, 3]]  # recency, purchases, dollars
        print(f"purchases before {d}:")
        for label, model, x_used in (("logistic regression, log recency, frequency, spend", logistic, rfm),
                                     (f"logistic regression, log of {x.shape[1]} purchase features", logistic, x),
                                     (f"gradient-boosted trees, the same {x.shape[1]} features", boosted_trees, x)):
            print(f"  {label:<56} {cross_validated(model, x_used, y):.4f}")


if __name__ == "__main__":
    main()
