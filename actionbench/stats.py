"""Error bars: percentile-bootstrap confidence intervals and paired comparisons, seeded.

A board row's CI resamples its images (1,000 resamples, 95%, fixed seed), so the same run always
prints the same interval. A paired comparison resamples the (prompt, seed) pairs both methods share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int


def bootstrap_ci(values, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                 seed: int = SEED) -> Estimate:
    """Mean of the finite ``values`` with a percentile-bootstrap interval (NaNs are left out)."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    n = int(array.size)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    mean = float(array.mean())
    if n == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Estimate(mean, float(low), float(high), n)


@dataclass(frozen=True)
class PairedDifference:
    difference: float  # mean of (a - b) over shared pairs
    low: float
    high: float
    p_value: float  # two-sided, paired sign-flip permutation test
    n: int


def paired_difference(a, b, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                      seed: int = SEED) -> PairedDifference:
    """Compare two methods on the same (prompt, seed) pairs: ``a[i]`` and ``b[i]`` belong together.

    The CI bootstraps the per-pair differences; the p-value flips each difference's sign at random
    (the paired permutation test: under "no difference" each sign is equally likely).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.shape} vs {b.shape}")
    diff = a - b
    diff = diff[np.isfinite(diff)]
    n = int(diff.size)
    if n == 0:
        return PairedDifference(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    estimate = bootstrap_ci(diff, n_resamples, confidence, seed)
    rng = np.random.default_rng(seed)
    observed = abs(diff.mean())
    signs = rng.choice((-1.0, 1.0), size=(n_resamples, n))
    flipped = np.abs((signs * diff).mean(axis=1))
    p_value = float((1 + np.sum(flipped >= observed - 1e-12)) / (n_resamples + 1))
    return PairedDifference(estimate.mean, estimate.low, estimate.high, p_value, n)
