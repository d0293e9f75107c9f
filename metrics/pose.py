"""``pose``: does the generated body take the exemplars' pose? COCO OKS to the nearest exemplar pose.

For a generated image x with pose p(x) (the run's pose backend, mediapipe by default) and the
action's exemplar poses e_1..e_n::

    pose_oks(x)      = max_j  S(p(x), e_j)                  (NaN when no person is found)
    pose_detected(x) = 1 if the backend finds a person in x, else 0

where S is :func:`actionbench.metrics.oks.pose_similarity`: both poses translated to the middle of
the hips and scaled to unit torso length (shoulders as the anchor when a hip is hidden), then
COCO's OKS with COCO's sigmas over the joints visible in both, at area s^2 = 1.7 torso lengths
squared; with mirroring, the better of the pose and its mirror image. Mirroring follows the action
(``mirror_invariant``: a yoga pose is the same seen from either side, a salute is not), unless the
``mirror`` setting says otherwise. An image with no person (animals often) is a recorded outcome:
``pose_detected`` = 0, ``pose_oks`` = NaN with the failure "no person found".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.features import exemplar_poses, image_poses, metric_settings, open_images
from actionbench.metrics.oks import AREA, VISIBLE, nearest_exemplar_similarity
from actionbench.metrics.pose_backends import Pose

NO_PERSON = "no person found"


@dataclass
class PoseSettings:
    mirror: bool | None = None  # None: the action's mirror_invariant
    area: float = AREA  # OKS object area in torso lengths squared (see actionbench.metrics.oks)
    visible: float = VISIBLE  # minimum backend visibility for a joint to count


def pose_agreement(pose: Pose | None, exemplars: list[Pose | None], mirror: bool = False,
                   area: float = AREA, visible: float = VISIBLE) -> float:
    """Functional form: OKS between ``pose`` and its nearest exemplar pose; NaN without a pose or
    without an exemplar it can be compared with."""
    if pose is None:
        return float("nan")
    return nearest_exemplar_similarity(pose, exemplars, mirror=mirror, area=area, visible_threshold=visible)[0]


@METRICS.register("pose")
class PoseAgreement(Metric):
    """Pose agreement: COCO OKS to the nearest exemplar pose (torso-normalised), and detection rate."""

    name = "pose"
    scores = (
        ScoreInfo("pose_oks", "COCO OKS between the image's pose and the nearest exemplar pose, torso-normalised "
                  "(0-1; NaN when no person is found)", True, role="action"),
        ScoreInfo("pose_detected", "1 when the pose model finds a person in the image", True, kind="binary"),
    )

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        settings = metric_settings(PoseSettings, context, self.name)
        mirror = context.action.mirror_invariant if settings.mirror is None else settings.mirror
        exemplars = exemplar_poses(context, context.action)
        no_exemplar = (None if any(p is not None for p in exemplars)
                       else f"no exemplar of action {context.action.name} shows a detectable person")
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        poses = image_poses(context, paths, images)
        results = []
        for image, failure, pose in zip(images, failures, poses):
            if image is None:
                results.append(self.failed(failure))
            elif pose is None:
                results.append(MetricResult({"pose_oks": float("nan"), "pose_detected": 0.0}, failure=NO_PERSON))
            else:
                value = pose_agreement(pose, exemplars, mirror, settings.area, settings.visible)
                reason = None
                if np.isnan(value):
                    reason = no_exemplar or "the pose shares too few visible joints with every exemplar pose"
                results.append(MetricResult({"pose_oks": value, "pose_detected": 1.0}, failure=reason))
        return results
