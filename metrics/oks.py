"""Pose similarity: COCO's Object Keypoint Similarity between two poses, after normalising them.

Functional forms only (numpy, no models), shared by the ``pose`` metric and the action ``judge``.

* :func:`object_keypoint_similarity` is COCO's OKS exactly as ``pycocotools.cocoeval.COCOeval.
  computeOks`` computes it (tested against it to 1e-6)::

      OKS = mean over joints i with v_i > 0 of  exp(-d_i^2 / (2 * s^2 * k_i^2)),   k_i = 2 * sigma_i

  with d_i the distance between the two poses' joint i, s^2 the object's area and sigma_i COCO's
  per-joint constants.

* :func:`pose_similarity` makes two poses from different photos comparable first: each is moved
  so that the middle of its hips is the origin and scaled so that its torso (middle of the
  shoulders to middle of the hips) has length 1; when either pose lacks a visible hip, both are
  anchored on the middle of the shoulders instead, with the shoulder width divided by
  :data:`SHOULDER_TO_TORSO` as the unit. OKS is then taken over the joints visible in both poses
  (visibility >= :data:`VISIBLE`) with the area fixed at :data:`AREA` torso lengths squared. With
  ``mirror=True`` the larger of the OKS against the pose and against its mirror image (x negated,
  left and right joints swapped) counts.
"""

from __future__ import annotations

import numpy as np

from actionbench.metrics.pose_backends import COCO17, Pose

# COCO's per-joint OKS constants (pycocotools' COCOeval Params.kpt_oks_sigmas), COCO-17 order.
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0
# Joint i's mirror partner: left <-> right, the nose stays.
MIRROR = tuple(COCO17.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
               for n in COCO17)
VISIBLE = 0.5  # a joint counts when the backend's visibility is at least this
# The object area s^2 in torso lengths squared. Our choice: a standing adult's silhouette covers
# about 0.15 H^2 and the torso is about 0.3 H long (H: body height), so s^2 ~ 0.15 / 0.09 ~ 1.7.
AREA = 1.7
# Shoulder width / torso length, the unit when hips are not visible (upper-body crops, mostly seen
# from the front): the median over the 45 ActionBench exemplars whose hips and shoulders mediapipe
# sees (measured here; quartiles 0.49 and 0.76).
SHOULDER_TO_TORSO = 0.64
MIN_JOINTS = 5  # fewer joints visible in both poses: the similarity is undefined (NaN)

_L_SHOULDER, _R_SHOULDER = COCO17.index("left_shoulder"), COCO17.index("right_shoulder")
_L_HIP, _R_HIP = COCO17.index("left_hip"), COCO17.index("right_hip")


def object_keypoint_similarity(predicted: np.ndarray, target: np.ndarray, visible: np.ndarray,
                               area: float, sigmas: np.ndarray = COCO_SIGMAS) -> float:
    """COCO OKS between ``predicted`` and ``target`` (K, 2) over joints where ``visible`` (K,) > 0.

    NaN when no joint is visible (pycocotools falls back to a box distance there; poses from
    photos always have a box, so that case never arises for it, and never counts for us).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mask = np.asarray(visible) > 0
    if not mask.any():
        return float("nan")
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    squared = np.sum((predicted - target) ** 2, axis=-1)
    e = squared / variances / (area + np.spacing(1)) / 2
    return float(np.sum(np.exp(-e[mask])) / mask.sum())


def normalise(keypoints: np.ndarray, anchor: str) -> np.ndarray:
    """Keypoints moved and scaled by ``anchor`` ("torso" or "shoulders"); see the module docstring."""
    mid_shoulder = (keypoints[_L_SHOULDER] + keypoints[_R_SHOULDER]) / 2
    if anchor == "torso":
        origin = (keypoints[_L_HIP] + keypoints[_R_HIP]) / 2
        unit = np.linalg.norm(mid_shoulder - origin)
    else:
        origin = mid_shoulder
        unit = np.linalg.norm(keypoints[_L_SHOULDER] - keypoints[_R_SHOULDER]) / SHOULDER_TO_TORSO
    return (keypoints - origin) / max(unit, 1e-6)


def anchor_for(visible_a: np.ndarray, visible_b: np.ndarray) -> str | None:
    """"torso" when both poses show both shoulders and both hips, "shoulders" when both show the
    shoulders, else None (the poses cannot be put in a common frame)."""
    both = visible_a & visible_b
    if both[[_L_SHOULDER, _R_SHOULDER]].all():
        return "torso" if both[[_L_HIP, _R_HIP]].all() else "shoulders"
    return None


def mirrored(keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mirror image of a normalised pose: x negated, left and right joints swapped."""
    flipped = keypoints[list(MIRROR)].copy()
    flipped[:, 0] = -flipped[:, 0]
    return flipped, visible[list(MIRROR)]


def pose_similarity(a: Pose, b: Pose, mirror: bool = False, area: float = AREA,
                    visible_threshold: float = VISIBLE, min_joints: int = MIN_JOINTS) -> float:
    """OKS between two poses after normalisation (module docstring); NaN when not comparable."""
    visible_a = a.visibility >= visible_threshold
    visible_b = b.visibility >= visible_threshold
    anchor = anchor_for(visible_a, visible_b)
    if anchor is None:
        return float("nan")
    norm_a = normalise(a.keypoints, anchor)
    norm_b = normalise(b.keypoints, anchor)
    candidates = [(norm_a, visible_a)]
    if mirror:
        candidates.append(mirrored(norm_a, visible_a))
    best = float("nan")
    for keypoints, visible in candidates:
        common = visible & visible_b
        if common.sum() < min_joints:
            continue
        value = object_keypoint_similarity(keypoints, norm_b, common, area)
        best = value if np.isnan(best) else max(best, value)
    return best


def nearest_exemplar_similarity(pose: Pose, exemplars: list[Pose | None], mirror: bool = False,
                                **options) -> tuple[float, int]:
    """The highest :func:`pose_similarity` between ``pose`` and any exemplar pose, and that
    exemplar's index; (NaN, -1) when no exemplar is comparable."""
    best, index = float("nan"), -1
    for i, exemplar in enumerate(exemplars):
        if exemplar is None:
            continue
        value = pose_similarity(pose, exemplar, mirror=mirror, **options)
        if not np.isnan(value) and (np.isnan(best) or value > best):
            best, index = value, i
    return best, index
