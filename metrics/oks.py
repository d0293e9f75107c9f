"""Pose similarity: COCO's Object Keypoint Similarity of a figure's pose to an exemplar's, after normalising both.

Functional forms only (numpy, no models), used by the ``pose`` metric.

* :func:`object_keypoint_similarity` is COCO's OKS exactly as ``pycocotools.cocoeval.COCOeval.
  computeOks`` computes it (tested against it to 1e-6)::

      OKS = mean over joints i the reference shows (v_i > 0) of  exp(-d_i^2 / (2 * s^2 * k_i^2)),   k_i = 2 sigma_i

  with d_i the distance between the prediction's and the reference's joint i, s^2 the object's
  area and sigma_i COCO's per-joint constants. Only the *reference's* visibility masks: a COCO
  prediction places every joint, so a joint it gets nowhere near scores exp(-large) = 0 and still
  counts in the mean. A prediction joint marked absent (``predicted_visible`` False) is scored the
  same way: 0, counted.

* :func:`compare_poses` (and :func:`pose_similarity`, its value) scores a generated figure's pose
  against one exemplar pose (the reference) from another photo. Both are first moved and scaled
  into a common frame, the *anchor*:

  - ``torso``: the middle of the hips is the origin and the torso (middle of the shoulders to the
    middle of the hips) has length 1; when both poses show both shoulders and both hips;
  - ``shoulders``: the middle of the shoulders is the origin and the shoulder width divided by
    :data:`SHOULDER_TO_TORSO` is the unit; when a hip is hidden in either pose, or the torso of
    either is degenerate.

  A unit shorter than :data:`MIN_UNIT` of the pose's own extent (the longer side of the box around
  its visible joints) is degenerate: a collapsed torso (hips drawn on the shoulders) or a side view
  whose shoulders are 2 px apart would turn pixel noise into a confident score. When no anchor is
  sound in both poses the similarity is NaN with the reason, never a number. OKS is then taken over
  the joints the exemplar shows (visibility >= :data:`VISIBLE`), a joint the figure lacks counting
  0, as COCO masks by the ground truth's visibility: hiding the limbs is no way to agree with an
  exemplar. The scale s^2 is :data:`AREA` torso lengths squared ("torso-scaled OKS", the default)
  or, with ``scale="coco_area"``, COCO's own: the exemplar's keypoint box area, as pycocotools'
  ``loadRes`` sets a keypoint object's area. With ``mirror=True`` the larger of the OKS of the
  figure and of its mirror image (x negated, left and right joints swapped) counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionbench.perception.pose_backends import COCO17, Pose

# COCO's per-joint OKS constants (pycocotools' COCOeval Params.kpt_oks_sigmas), COCO-17 order.
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0
# Joint i's mirror partner: left <-> right, the nose stays.
MIRROR = tuple(COCO17.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
               for n in COCO17)
VISIBLE = 0.5  # a joint counts when the backend's visibility is at least this
# The object area s^2 in torso lengths squared. Our choice: a standing adult's silhouette covers
# about 0.15 H^2 and the torso is about 0.3 H long (H: body height), so s^2 ~ 0.15 / 0.09 ~ 1.7.
# Measured against COCO's own scale on the 105 real photos where mediapipe sees shoulders and hips
# (ActionBench and the yoga set): 1.7 torso^2 is 0.56x the keypoint box area on average (0.17 to 1.16).
AREA = 1.7
# Shoulder width / torso length, the unit when hips are not visible (upper-body crops, mostly seen
# from the front): the median over the 45 ActionBench exemplars whose hips and shoulders mediapipe
# sees (measured here; quartiles 0.49 and 0.76).
SHOULDER_TO_TORSO = 0.64
# A unit (torso length, or shoulder width / SHOULDER_TO_TORSO) shorter than this fraction of the
# pose's extent is degenerate. Measured on the same real photos: the torso is 0.27 to 0.70 of the
# extent (median 0.45), so 0.1 never rejects a real torso; side views' shoulder units go down to 0.01.
MIN_UNIT = 0.1
MIN_JOINTS = 5  # an exemplar showing fewer joints is no reference (the similarity is NaN)
SCALES = ("torso", "coco_area")  # s^2: AREA torso lengths squared, or the exemplar's keypoint box area

_L_SHOULDER, _R_SHOULDER = COCO17.index("left_shoulder"), COCO17.index("right_shoulder")
_L_HIP, _R_HIP = COCO17.index("left_hip"), COCO17.index("right_hip")
_SHOULDERS, _HIPS = [_L_SHOULDER, _R_SHOULDER], [_L_HIP, _R_HIP]


@dataclass(frozen=True)
class PoseMatch:
    """A similarity with why it is undefined (``reason``, when ``value`` is NaN) and, from
    :func:`nearest_exemplar`, which exemplar it came from (-1: none)."""

    value: float
    reason: str | None = None
    index: int = -1


def object_keypoint_similarity(predicted: np.ndarray, target: np.ndarray, visible: np.ndarray,
                               area: float, sigmas: np.ndarray = COCO_SIGMAS,
                               predicted_visible: np.ndarray | None = None) -> float:
    """COCO OKS between ``predicted`` and ``target`` (K, 2) over the joints ``target`` shows
    (``visible`` (K,) > 0). A joint ``predicted_visible`` marks absent scores 0 and still counts.

    NaN when the target shows no joint (pycocotools falls back to a box distance there; poses from
    photos always have a box, so that case never arises for it, and never counts for us).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mask = np.asarray(visible) > 0
    if not mask.any():
        return float("nan")
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    with np.errstate(invalid="ignore", over="ignore"):
        squared = np.sum((predicted - target) ** 2, axis=-1)
        per_joint = np.exp(-(squared / variances / (area + np.spacing(1)) / 2))
    if predicted_visible is not None:
        per_joint = np.where(np.asarray(predicted_visible) > 0, per_joint, 0.0)
    return float(np.sum(per_joint[mask]) / mask.sum())


def anchor_unit(keypoints: np.ndarray, anchor: str) -> float:
    """The length that becomes 1: the torso, or the shoulder width / :data:`SHOULDER_TO_TORSO`."""
    if anchor == "torso":
        return float(np.linalg.norm(keypoints[_SHOULDERS].mean(axis=0) - keypoints[_HIPS].mean(axis=0)))
    return float(np.linalg.norm(keypoints[_L_SHOULDER] - keypoints[_R_SHOULDER]) / SHOULDER_TO_TORSO)


def extent(keypoints: np.ndarray, visible: np.ndarray) -> float:
    """The longer side of the box around the visible joints."""
    shown = keypoints[visible]
    return float((shown.max(axis=0) - shown.min(axis=0)).max()) if len(shown) else 0.0


def normalise(keypoints: np.ndarray, anchor: str) -> np.ndarray:
    """Keypoints moved and scaled by ``anchor`` ("torso" or "shoulders"); the anchor must be sound
    (:func:`choose_anchor`)."""
    origin = keypoints[_HIPS if anchor == "torso" else _SHOULDERS].mean(axis=0)
    return (keypoints - origin) / anchor_unit(keypoints, anchor)


def _unsound(keypoints: np.ndarray, visible: np.ndarray, anchor: str, who: str) -> str | None:
    """Why ``anchor`` is degenerate in this pose, or None when its unit is sound."""
    unit, size = anchor_unit(keypoints, anchor), extent(keypoints, visible)
    if np.isfinite(unit) and unit > 0 and unit >= MIN_UNIT * size:
        return None
    what = ("torso is" if anchor == "torso"
            else f"shoulders are {unit * SHOULDER_TO_TORSO:.1f} px apart, a unit of")
    return f"the {who}'s {what} {unit:.1f} px in a figure {size:.0f} px across"


def choose_anchor(figure: np.ndarray, figure_visible: np.ndarray, exemplar: np.ndarray,
                  exemplar_visible: np.ndarray) -> tuple[str | None, str | None]:
    """(anchor, None), or (None, why the two poses cannot be put in a common frame)."""
    if not exemplar_visible[_SHOULDERS].all():
        return None, "the exemplar's shoulders are not both visible"
    if not figure_visible[_SHOULDERS].all():
        return None, "the figure's shoulders are not both visible, so it cannot be put in the exemplar's frame"
    anchors = (["torso"] if figure_visible[_HIPS].all() and exemplar_visible[_HIPS].all() else []) + ["shoulders"]
    problems = []
    for anchor in anchors:
        found = [p for p in (_unsound(figure, figure_visible, anchor, "figure"),
                             _unsound(exemplar, exemplar_visible, anchor, "exemplar")) if p]
        if not found:
            return anchor, None
        problems += found
    return None, "degenerate scale: " + "; ".join(problems)


def mirrored(keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mirror image of a normalised pose: x negated, left and right joints swapped."""
    flipped = keypoints[list(MIRROR)].copy()
    flipped[:, 0] = -flipped[:, 0]
    return flipped, visible[list(MIRROR)]


def compare_poses(figure: Pose, exemplar: Pose, mirror: bool = False, area: float = AREA,
                  visible_threshold: float = VISIBLE, min_joints: int = MIN_JOINTS,
                  scale: str = "torso") -> PoseMatch:
    """OKS of ``figure`` to the reference ``exemplar`` after normalisation (module docstring)."""
    if scale not in SCALES:
        raise ValueError(f"unknown OKS scale {scale!r} (choose one of {', '.join(SCALES)})")
    visible_f = figure.visibility >= visible_threshold
    visible_e = exemplar.visibility >= visible_threshold
    if visible_e.sum() < min_joints:
        return PoseMatch(float("nan"), f"the exemplar shows {int(visible_e.sum())} joints (at least {min_joints} "
                                       "needed)")
    anchor, reason = choose_anchor(figure.keypoints, visible_f, exemplar.keypoints, visible_e)
    if anchor is None:
        return PoseMatch(float("nan"), reason)
    norm_f = normalise(figure.keypoints, anchor)
    norm_e = normalise(exemplar.keypoints, anchor)
    if scale == "coco_area":
        shown = norm_e[visible_e]
        area = float(np.prod(shown.max(axis=0) - shown.min(axis=0)))
        if not area > 0:
            return PoseMatch(float("nan"), "the exemplar's joints span no area (coco_area scale)")
    candidates = [(norm_f, visible_f)] + ([mirrored(norm_f, visible_f)] if mirror else [])
    value = max(object_keypoint_similarity(keypoints, norm_e, visible_e, area, predicted_visible=visible)
                for keypoints, visible in candidates)
    return PoseMatch(value)


def pose_similarity(figure: Pose, exemplar: Pose, mirror: bool = False, area: float = AREA,
                    visible_threshold: float = VISIBLE, min_joints: int = MIN_JOINTS,
                    scale: str = "torso") -> float:
    """:func:`compare_poses`' value: NaN when the two poses are not comparable."""
    return compare_poses(figure, exemplar, mirror, area, visible_threshold, min_joints, scale).value


def nearest_exemplar(pose: Pose, exemplars: list[Pose | None], mirror: bool = False, **options) -> PoseMatch:
    """The highest :func:`compare_poses` value between ``pose`` and any exemplar pose, with that
    exemplar's index; NaN with the reasons (each named once) when no exemplar is comparable."""
    best = PoseMatch(float("nan"))
    reasons: list[str] = []
    for i, exemplar in enumerate(exemplars):
        if exemplar is None:
            continue
        match = compare_poses(pose, exemplar, mirror=mirror, **options)
        if np.isnan(match.value):
            if match.reason not in reasons:
                reasons.append(match.reason or "not comparable")
        elif np.isnan(best.value) or match.value > best.value:
            best = PoseMatch(match.value, None, i)
    if not np.isnan(best.value):
        return best
    if not reasons:
        return PoseMatch(float("nan"), "no exemplar shows a detectable person")
    return PoseMatch(float("nan"), "no exemplar pose is comparable: " + "; ".join(reasons)[:400])


def nearest_exemplar_similarity(pose: Pose, exemplars: list[Pose | None], mirror: bool = False,
                                **options) -> tuple[float, int]:
    """:func:`nearest_exemplar` as (value, index); (NaN, -1) when no exemplar is comparable."""
    match = nearest_exemplar(pose, exemplars, mirror=mirror, **options)
    return match.value, match.index
