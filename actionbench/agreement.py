"""Agreement between raters: Cohen's kappa (two raters) and Krippendorff's alpha (any number, nominal).

Both are "agreement beyond chance": 1 is perfect, 0 is what chance gives, below 0 is systematic
disagreement. Where chance agreement is total (every answer is one and the same class) neither
statistic is defined and both return NaN, never a misleading 0 or 1; so does a table with nothing
to compare (no pair, or one rater only).

References: J. Cohen, "A coefficient of agreement for nominal scales", 1960; K. Krippendorff,
"Computing Krippendorff's Alpha-Reliability", 2011 (the coincidence-matrix form used here, and the
worked example that the tests reproduce).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Hashable, Iterable, Sequence


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters who labelled the same items (``first[i]`` and ``second[i]``).

    kappa = (p_o - p_e) / (1 - p_e): p_o the observed agreement, p_e the agreement expected from each
    rater's own label frequencies. Items where either label is missing (None or NaN) are left out.
    NaN when no item is left or when p_e = 1 (both raters gave one and the same label throughout).
    """
    if len(first) != len(second):
        raise ValueError(f"the two raters labelled different numbers of items: {len(first)} vs {len(second)}")
    pairs = [(a, b) for a, b in zip(first, second) if not (_missing(a) or _missing(b))]
    n = len(pairs)
    if n == 0:
        return math.nan
    observed = sum(a == b for a, b in pairs) / n
    counts_first = Counter(a for a, _ in pairs)
    counts_second = Counter(b for _, b in pairs)
    expected = sum(counts_first[label] * counts_second[label] for label in counts_first) / (n * n)
    if expected >= 1.0:
        return math.nan
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha_nominal(units: Iterable[Iterable[Hashable]]) -> float:
    """Krippendorff's alpha for nominal labels.

    ``units`` holds, for each rated item, the labels its raters gave (any number of raters per item;
    missing labels, None or NaN, are left out). Items with fewer than two labels carry no pairs and
    are left out, as in Krippendorff's definition.

    alpha = 1 - D_o / D_e, from the coincidence matrix o_ck (each item adds every ordered pair of
    labels from two different raters, weighted 1 / (m - 1) for m labels on the item):
    D_o = sum_{c != k} o_ck / n, D_e = sum_{c != k} n_c n_k / (n (n - 1)).
    NaN when no item has two labels (one rater) or when only one label occurs (D_e = 0).
    """
    coincidences: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for unit in units:
        labels = [label for label in unit if not _missing(label)]
        m = len(labels)
        if m < 2:
            continue
        counts = Counter(labels)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    coincidences[(c, k)] += pairs / (m - 1)
    totals: defaultdict[Hashable, float] = defaultdict(float)
    for (c, _), weight in coincidences.items():
        totals[c] += weight
    n = sum(totals.values())
    if n <= 1:
        return math.nan
    disagreement_observed = sum(w for (c, k), w in coincidences.items() if c != k) / n
    disagreement_expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k) / (n * (n - 1))
    if disagreement_expected == 0:
        return math.nan
    return 1.0 - disagreement_observed / disagreement_expected
