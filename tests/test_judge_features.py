"""The judge's descriptor and similarity on analytic cases: segment directions, visibility, hands, mirroring."""

from __future__ import annotations

import numpy as np
import pytest

from actionbench.perception.hand_backends import Hand
from actionbench.metrics.judge_features import (HAND_SEGMENTS, N_BODY, N_SEGMENTS, SEGMENT_NAMES, SIGMA, Descriptor,
                                                assign_hands, describe, describe_mirrored, mirror_pose,
                                                nearest_exemplar, similarity, similarity_matrix)
from judge_helpers import synthetic_pose

LEGS_AND_HIPS = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


def segment(descriptor: Descriptor, name: str) -> np.ndarray:
    return descriptor.directions[SEGMENT_NAMES.index(name)]


def hand_at(wrist: tuple[float, float], pointing: tuple[float, float] = (0.0, -1.0)) -> Hand:
    """A flat hand: 21 landmarks along ``pointing`` from ``wrist``, fingers side by side."""
    direction = np.asarray(pointing, dtype=np.float64)
    across = np.array([-direction[1], direction[0]])
    points = np.zeros((21, 2))
    points[0] = wrist
    for finger in range(5):
        for joint in range(4):
            points[1 + 4 * finger + joint] = (np.asarray(wrist) + (joint + 2) * 5 * direction
                                              + (finger - 2) * 4 * across)
    return Hand(keypoints=points, score=0.9)


def test_directions_of_a_standing_figure():
    d = describe(synthetic_pose("arms_down"))
    assert d.body_segments == N_BODY and d.hand_segments == 0
    assert np.allclose(segment(d, "mid_hip->mid_shoulder"), [0.0, -1.0])  # image y points down
    assert np.allclose(segment(d, "right_shoulder->left_shoulder"), [1.0, 0.0])
    assert segment(d, "left_elbow->left_wrist")[1] > 0.99  # forearm hangs down
    assert segment(describe(synthetic_pose("arms_up")), "left_elbow->left_wrist")[1] < -0.99


def test_similarity_formula_per_segment():
    """S = (sum of exp(-(1 - cos)/sigma^2) over shared segments) / (body segments in either + hand segments in both)."""
    east = np.tile([1.0, 0.0], (N_SEGMENTS, 1))
    full = np.ones(N_SEGMENTS, dtype=bool)
    turned = east.copy()
    turned[0] = [0.0, 1.0]  # one body segment 90 degrees off
    a, b = Descriptor(east, full), Descriptor(turned, full)
    expected = (N_SEGMENTS - 1 + np.exp(-1.0 / SIGMA ** 2)) / N_SEGMENTS
    assert similarity(a, b) == pytest.approx(expected, abs=1e-12)
    assert similarity(a, a) == 1.0 and similarity(b, a) == pytest.approx(similarity(a, b))
    # A body segment seen in only one image is a disagreement; a hand segment seen in only one is no evidence.
    no_body_0, no_hand_0 = full.copy(), full.copy()
    no_body_0[0], no_hand_0[N_BODY] = False, False
    assert similarity(a, Descriptor(east, no_body_0)) == pytest.approx((N_SEGMENTS - 1) / N_SEGMENTS)
    assert similarity(a, Descriptor(east, no_hand_0)) == 1.0


def test_an_upper_body_crop_matches_the_full_figure_on_what_both_show_only():
    full = describe(synthetic_pose("arms_up"))
    crop = describe(synthetic_pose("arms_up", hidden=LEGS_AND_HIPS))
    assert crop.body_segments == N_BODY - 6  # no thighs, shins, torso or hip line
    assert similarity(crop, full) == pytest.approx(crop.body_segments / N_BODY)


def test_too_few_visible_segments_is_no_comparable_person():
    only_head = tuple(n for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist") + LEGS_AND_HIPS)
    assert describe(synthetic_pose("arms_down", hidden=only_head)) is None  # shoulder line and neck only
    assert describe(None) is None


def test_hands_go_to_the_nearest_wrist_and_add_finger_directions():
    pose = synthetic_pose("arms_down")
    left, right = hand_at((140, 205)), hand_at((60, 205), pointing=(0.0, 1.0))
    assigned = assign_hands(pose, [right, left])
    assert assigned["left"] is left and assigned["right"] is right
    assert assign_hands(pose, [hand_at((70, 200))]).keys() == {"right"}
    d = describe(pose, [left, right])
    assert d.hand_segments == 2 * len(HAND_SEGMENTS)
    assert np.allclose(segment(d, "left_hand_index"), [0.0, -1.0]) and np.allclose(segment(d, "right_hand_index"), [0.0, 1.0])
    # The same body with hands pointing the other way agrees less; without hands it agrees fully.
    flipped = describe(pose, [hand_at((140, 205), pointing=(0.0, 1.0)), hand_at((60, 205))])
    assert similarity(d, flipped) < 0.7 and similarity(d, describe(pose)) == 1.0


def test_mirroring_swaps_sides():
    right_up = synthetic_pose("right_arm_up")
    left_up = mirror_pose(right_up)
    assert np.allclose(mirror_pose(left_up).keypoints, right_up.keypoints)
    plain, mirrored = describe(left_up), describe_mirrored(left_up)
    exemplar = describe(right_up)
    assert similarity(plain, exemplar) < 0.8
    assert similarity(mirrored, exemplar) == pytest.approx(1.0)
    value, index = nearest_exemplar(plain, [None, exemplar], mirrored=mirrored)
    assert value == pytest.approx(1.0) and index == 1
    assert nearest_exemplar(plain, [None, exemplar])[0] < 0.8
    assert np.isnan(nearest_exemplar(plain, [None])[0])


def test_similarity_matrix_matches_pairwise_similarity():
    people = [describe(synthetic_pose(a, jitter=3.0, seed=s)) for s, a in enumerate(["arms_up", "squat", "arms_out"])]
    matrix = similarity_matrix(people, people)
    for i, a in enumerate(people):
        for j, b in enumerate(people):
            assert matrix[i, j] == pytest.approx(similarity(a, b))
    assert np.allclose(np.diag(matrix), 1.0) and (matrix <= 1.0).all() and (matrix >= 0.0).all()
