"""Reference numbers for Cohen's kappa and its 95 % interval (tests/reference/kappa.json).

SYNTHETIC: seeded random AI-vs-reader grade pairs (RSNA grades 1-4), some agreeing often, some
rarely, one with a category never used. kappa comes from scikit-learn (cohen_kappa_score on
the label lists, unweighted and weights="linear"); the asymptotic standard error and interval
from statsmodels (inter_rater.cohens_kappa on the confusion table, Fleiss, Cohen & Everitt
1969). Neither shares code with LungDesk's domain::agreement.

    pip install scikit-learn statsmodels && python3 tools/kappa_reference.py
"""

import json
import os

import numpy as np
from scipy.stats import norm
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "reference", "kappa.json")


def case(rng, n, agree, unused=None):
    a = rng.integers(1, 5, n)
    if unused is not None:
        a[a == unused] = 1
    b = np.where(rng.random(n) < agree, a, rng.integers(1, 5, n))
    if unused is not None:
        b[b == unused] = 2
    return a, b


def main():
    rng = np.random.default_rng(2026)
    cases = []
    for name, n, agree, unused in [("high", 400, 0.85, None), ("moderate", 250, 0.55, None), ("low", 120, 0.2, None),
                                   ("small", 25, 0.6, None), ("one grade unused", 300, 0.7, 3)]:
        ai, reader = case(rng, n, agree, unused)
        table = np.zeros((4, 4), int)
        for x, y in zip(ai, reader):
            table[x - 1, y - 1] += 1
        out = {"name": name, "table": table.tolist()}
        for kind, weights, wt in [("unweighted", None, None), ("linear", "linear", "linear")]:
            k = cohen_kappa_score(ai, reader, weights=weights, labels=[1, 2, 3, 4])
            res = cohens_kappa(table, wt=wt) if wt else cohens_kappa(table)
            assert abs(res.kappa - k) < 1e-9, (name, kind, res.kappa, k)
            se = float(np.sqrt(res.var_kappa))
            z = norm.ppf(0.975)
            out[kind] = {"kappa": float(k), "se": se, "low": float(k - z * se), "high": float(k + z * se)}
        cases.append(out)
    with open(OUT, "w") as f:
        json.dump({"made_by": "tools/kappa_reference.py (scikit-learn, statsmodels)", "synthetic": True, "cases": cases}, f, indent=1)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
