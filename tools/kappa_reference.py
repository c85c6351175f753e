"""Reference numbers for Cohen's kappa and its 95 % interval (tests/reference/kappa.json).

SYNTHETIC: seeded random AI-vs-reader grade pairs (RSNA grades 1-4), some agreeing often, some
rarely, one with a category never used; and SYNTHETIC grade mixes for the drift monitor's
chi-square test of homogeneity (scipy.stats.chi2_contingency, no continuity correction). kappa comes from scikit-learn (cohen_kappa_score on
the label lists, unweighted and weights="linear"); the asymptotic standard error and interval
from statsmodels (inter_rater.cohens_kappa on the confusion table, Fleiss, Cohen & Everitt
1969). Neither shares code with LungDesk's domain::agreement.

    pip install scikit-learn statsmodels && python3 tools/kappa_reference.py
"""

import json
import os

import numpy as np
from scipy.stats import chi2_contingency, norm
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
    # The drift monitor's grade-mix test: Pearson's chi-square of homogeneity (no continuity
    # correction) of a recent mix (grades 1-4 and "cannot grade") against its history.
    mixes = []
    for name, n_recent, n_history, p_recent, p_history in [
            ("same mix", 80, 400, [0.3, 0.2, 0.1, 0.3, 0.1], [0.3, 0.2, 0.1, 0.3, 0.1]),
            ("new scanner", 60, 300, [0.05, 0.05, 0.05, 0.15, 0.7], [0.3, 0.2, 0.1, 0.35, 0.05]),
            ("wave", 200, 500, [0.5, 0.2, 0.05, 0.2, 0.05], [0.15, 0.15, 0.1, 0.55, 0.05]),
            ("one class empty", 50, 150, [0.4, 0.3, 0.0, 0.3, 0.0], [0.3, 0.3, 0.0, 0.2, 0.2])]:
        recent = rng.multinomial(n_recent, p_recent)
        history = rng.multinomial(n_history, p_history)
        keep = (recent + history) > 0
        table = np.array([recent[keep], history[keep]])
        stat, p, dof, _ = chi2_contingency(table, correction=False)
        mixes.append({"name": name, "recent": recent.tolist(), "history": history.tolist(), "chi2": float(stat),
                      "dof": int(dof), "p_value": float(p)})
    with open(OUT, "w") as f:
        json.dump({"made_by": "tools/kappa_reference.py (scikit-learn, statsmodels, scipy)", "synthetic": True,
                   "cases": cases, "grade_mix": mixes}, f, indent=1)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
