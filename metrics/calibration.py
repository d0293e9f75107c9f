"""The judge's decision threshold, calibrated from a benchmark's own exemplars by leave-one-out.

Each exemplar x of action a is treated as if it were generated: its nearest-exemplar similarity
to every action b is computed with x itself removed from a's exemplars::

    s_b(x) = max_{e in E_b, e != x} S(x, e)          (S: :func:`.judge_features.similarity_matrix`)

Scores s_a(x) against the exemplar's own action are the positives, s_b(x) for b != a the
negatives. The threshold is the one that maximises balanced accuracy,
(TPR + TNR) / 2, the mean of the rate at which an image of the action is accepted and the rate at
which an image of another action is refused (so 8 actions' worth of negatives do not outweigh the
positives); among equally good thresholds, the middle one. Only actions with at least
:data:`MIN_POSES` exemplars in which a person was found take part (the others are judged by CLIP).

Functional forms only (numpy); :mod:`.judge` caches a benchmark's calibration on disk, keyed by
the benchmark's version hash and the judge's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from actionbench.metrics.judge_features import SIGMA, Descriptor, similarity_matrix

MIN_POSES = 2  # an action needs this many exemplars with a usable pose to be judged by pose
# Used when a benchmark cannot calibrate (fewer than 2 actions with poses): between the thresholds
# calibrated on ActionBench (0.65) and on the yoga set (0.59), measured with mediapipe (docs/judge.md).
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True)
class ActionExemplars:
    """One action's exemplar descriptors, plain and mirrored (None: no usable pose)."""

    name: str
    descriptors: list[Descriptor | None]
    mirrored: list[Descriptor | None]
    mirror_invariant: bool = False

    @property
    def poses(self) -> int:
        return sum(d is not None for d in self.descriptors)


@dataclass
class LeaveOneOut:
    """Nearest-exemplar similarities of every usable exemplar to every action, itself left out."""

    actions: list[str]  # the columns: actions with at least MIN_POSES usable exemplars
    rows: list[tuple[str, int]]  # (action, exemplar index) of each row
    labels: np.ndarray  # (N,) column index of each row's own action
    scores: np.ndarray  # (N, A)
    pairs: np.ndarray  # (N, N) S(row i, row j) (mirrored per row j's action; NaN on the diagonal)

    def own_and_other(self) -> tuple[np.ndarray, np.ndarray]:
        """Positives s_a(x) and negatives s_b(x), b != a (finite values only)."""
        own = self.scores[np.arange(len(self.labels)), self.labels]
        mask = np.ones_like(self.scores, dtype=bool)
        mask[np.arange(len(self.labels)), self.labels] = False
        other = self.scores[mask]
        return own[np.isfinite(own)], other[np.isfinite(other)]

    def same_and_different_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairwise similarities of exemplars of the same action and of different actions."""
        same = self.labels[:, None] == self.labels[None, :]
        off_diagonal = ~np.eye(len(self.labels), dtype=bool)
        return self.pairs[same & off_diagonal], self.pairs[~same]


def leave_one_out(actions: list[ActionExemplars], sigma: float = SIGMA) -> LeaveOneOut:
    """The leave-one-out similarities over the actions with at least :data:`MIN_POSES` poses."""
    usable = [a for a in actions if a.poses >= MIN_POSES]
    rows = [(a.name, i) for a in usable for i, d in enumerate(a.descriptors) if d is not None]
    labels = np.array([k for k, a in enumerate(usable) for d in a.descriptors if d is not None], dtype=int)
    plain = [d for a in usable for d in a.descriptors if d is not None]
    mirrored = [m if m is not None else d for a in usable for d, m in zip(a.descriptors, a.mirrored) if d is not None]
    pairs = similarity_matrix(plain, plain, sigma)
    mirror_columns = np.array([usable[k].mirror_invariant for k in labels], dtype=bool)
    if mirror_columns.any():
        flipped = similarity_matrix(mirrored, plain, sigma)
        pairs = np.where(mirror_columns[None, :], np.maximum(pairs, flipped), pairs)
    np.fill_diagonal(pairs, np.nan)
    scores = np.full((len(rows), len(usable)), np.nan)
    for k in range(len(usable)):
        columns = pairs[:, labels == k]
        finite = np.isfinite(columns).any(axis=1)
        scores[finite, k] = np.nanmax(columns[finite], axis=1)
    return LeaveOneOut([a.name for a in usable], rows, labels, scores, pairs)


def best_threshold(own: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(threshold, balanced accuracy): the threshold t maximising (mean(own >= t) + mean(other < t)) / 2
    over midpoints between the observed values; the middle of the best ones. Both must be non-empty."""
    own, other = np.asarray(own, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if len(own) == 0 or len(other) == 0:
        raise ValueError("a threshold needs scores of both the own action and other actions")
    values = np.unique(np.concatenate([own, other]))
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    accepted = (own[None, :] >= candidates[:, None]).mean(axis=1)
    refused = (other[None, :] < candidates[:, None]).mean(axis=1)
    balanced = (accepted + refused) / 2
    best = np.flatnonzero(balanced >= balanced.max() - 1e-12)
    choice = best[len(best) // 2]
    return float(candidates[choice]), float(balanced[choice])


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of scores that should rank ``positive`` above ``negative``:
    P(p > n) + P(p = n) / 2 (the Mann-Whitney U statistic over n_p n_n); NaN when either is empty."""
    positive = np.sort(np.asarray(positive, dtype=np.float64))
    negative = np.sort(np.asarray(negative, dtype=np.float64))
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    below = np.searchsorted(negative, positive, side="left")
    equal = np.searchsorted(negative, positive, side="right") - below
    return float((below + equal / 2).sum() / (len(positive) * len(negative)))


@dataclass(frozen=True)
class Calibration:
    """A benchmark's judge threshold and how it was obtained (stored as JSON in the cache)."""

    threshold: float
    method: str  # "leave-one-out" (calibrated), "default" or "setting"
    id: str = ""  # stable hash of the benchmark version, the judge version and its settings
    reason: str = ""  # why the default was used
    balanced_accuracy: float = float("nan")
    true_positive_rate: float = float("nan")
    false_positive_rate: float = float("nan")
    positives: int = 0
    negatives: int = 0
    actions: tuple[str, ...] = field(default_factory=tuple)
    benchmark: str = ""
    benchmark_version: str = ""

    def summary(self) -> str:
        if self.method != "leave-one-out":
            return f"threshold {self.threshold:.3f} ({self.method}{': ' + self.reason if self.reason else ''})"
        source = f"version {self.benchmark_version}" + (f"; calibration {self.id}" if self.id else "; these actions only")
        return (f"threshold {self.threshold:.3f} calibrated on {len(self.actions)} actions of {self.benchmark} "
                f"({source}): leave-one-out balanced accuracy "
                f"{self.balanced_accuracy:.3f}, own action accepted {self.true_positive_rate:.3f}, "
                f"other actions accepted {self.false_positive_rate:.3f}")


def calibrate(actions: list[ActionExemplars], sigma: float = SIGMA, **identity) -> Calibration:
    """The calibrated threshold over ``actions``; the default when fewer than 2 actions have
    :data:`MIN_POSES` poses. ``identity`` (id, benchmark, benchmark_version) is copied into the result."""
    usable = [a.name for a in actions if a.poses >= MIN_POSES]
    if len(usable) < 2:
        reason = (f"fewer than 2 actions have {MIN_POSES} exemplars with a detectable person "
                  f"({', '.join(usable) or 'none'})")
        return Calibration(threshold=DEFAULT_THRESHOLD, method="default", reason=reason,
                           actions=tuple(usable), **identity)
    own, other = leave_one_out(actions, sigma).own_and_other()
    threshold, balanced = best_threshold(own, other)
    return Calibration(threshold=threshold, method="leave-one-out", balanced_accuracy=balanced,
                       true_positive_rate=float((own >= threshold).mean()),
                       false_positive_rate=float((other >= threshold).mean()),
                       positives=len(own), negatives=len(other), actions=tuple(usable), **identity)
