"""Calibration maths: leave-one-out scores, the balanced-accuracy threshold, ROC AUC against torchmetrics."""

from __future__ import annotations

import numpy as np
import pytest

from actionbench.metrics.calibration import (DEFAULT_THRESHOLD, ActionExemplars, best_threshold, calibrate,
                                             leave_one_out, roc_auc)
from actionbench.metrics.judge_features import describe, similarity
from judge_helpers import synthetic_pose


def exemplars(name: str, action: str, count: int = 4, jitter: float = 3.0, seed: int = 0) -> ActionExemplars:
    descriptors = [describe(synthetic_pose(action, jitter, seed + i)) for i in range(count)]
    return ActionExemplars(name, descriptors, [None] * count)


def test_best_threshold_separable_and_overlapping():
    threshold, balanced = best_threshold(np.array([0.8, 0.9, 0.7]), np.array([0.1, 0.2, 0.3]))
    assert balanced == 1.0 and threshold == pytest.approx(0.5)  # the only midpoint in the gap
    own, other = np.array([0.5, 0.6, 0.9]), np.array([0.55, 0.1, 0.2, 0.3])
    threshold, balanced = best_threshold(own, other)
    grid = np.linspace(0, 1, 10001)
    brute = max(((own >= t).mean() + (other < t).mean()) / 2 for t in grid)
    assert balanced == pytest.approx(brute)
    assert ((own >= threshold).mean() + (other < threshold).mean()) / 2 == pytest.approx(balanced)


def test_roc_auc_equals_torchmetrics_with_ties():
    import torch
    from torchmetrics.functional.classification import binary_auroc

    rng = np.random.default_rng(0)
    positive = np.round(rng.normal(0.6, 0.2, 300), 2)  # rounded: many ties
    negative = np.round(rng.normal(0.4, 0.2, 500), 2)
    reference = binary_auroc(torch.tensor(np.concatenate([positive, negative])),
                             torch.tensor([1] * len(positive) + [0] * len(negative))).item()
    assert roc_auc(positive, negative) == pytest.approx(reference, abs=1e-6)
    assert roc_auc([2.0, 3.0], [0.0, 1.0]) == 1.0 and roc_auc([0.0], [1.0]) == 0.0
    assert roc_auc([0.5, 0.5], [0.5]) == 0.5 and np.isnan(roc_auc([], [1.0]))


def test_leave_one_out_leaves_the_exemplar_itself_out():
    up, squat = exemplars("up", "arms_up"), exemplars("squat", "squat", seed=10)
    loo = leave_one_out([up, squat])
    assert loo.actions == ["up", "squat"] and loo.scores.shape == (8, 2)
    first = up.descriptors[0]
    expected_own = max(similarity(first, d) for d in up.descriptors[1:])
    assert loo.scores[0, 0] == pytest.approx(expected_own) and loo.scores[0, 0] < 1.0  # not itself (1.0)
    assert loo.scores[0, 1] == pytest.approx(max(similarity(first, d) for d in squat.descriptors))
    own, other = loo.own_and_other()
    assert len(own) == 8 and len(other) == 8 and own.min() > other.max()
    same, different = loo.same_and_different_pairs()
    assert len(same) == 2 * 4 * 3 and len(different) == 2 * 4 * 4


def test_calibration_separates_synthetic_actions_and_falls_back_with_too_few_poses():
    actions = [exemplars(n, n, seed=10 * k) for k, n in enumerate(["arms_up", "squat", "arms_out"])]
    calibration = calibrate(actions, id="x", benchmark="synthetic", benchmark_version="v")
    assert calibration.method == "leave-one-out" and calibration.balanced_accuracy == 1.0
    assert calibration.actions == ("arms_up", "squat", "arms_out") and calibration.positives == 12
    lonely = ActionExemplars("lonely", [actions[0].descriptors[0], None], [None, None])
    fallback = calibrate([actions[0], lonely], id="y")
    assert fallback.threshold == DEFAULT_THRESHOLD and fallback.method == "default"
    assert fallback.reason == "fewer than 2 actions have 2 exemplars with a detectable person (arms_up)"
    assert "default" in fallback.summary()
