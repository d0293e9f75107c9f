"""``pose``: does the generated body take the exemplars' pose? Torso-scaled OKS to the nearest exemplar pose.

For a generated image x with pose p(x) (the run's pose backend, mediapipe by default) and the
action's exemplar poses e_1..e_n::

    pose_oks_detected(x) = max_j  S(p(x), e_j)             (NaN when no person is found)
    pose_oks(x)          = pose_oks_detected(x), and 0 when no person is found
    pose_detected(x)     = 1 if the backend finds a person in x, else 0

where S is :func:`actionbench.metrics.oks.compare_poses`: both poses translated to the middle of
the hips and scaled to unit torso length (shoulders as the anchor when a hip is hidden or the torso
is degenerate), then COCO's OKS with COCO's sigmas over the joints the exemplar shows, a joint the
figure lacks counting 0, at area s^2 = 1.7 torso lengths squared (torso-scaled OKS; the setting
``scale = "coco_area"`` takes COCO's own scale, the exemplar's keypoint box area); with mirroring,
the better of the pose and its mirror image. Mirroring follows the action (``mirror_invariant``: a
yoga pose is the same seen from either side, a salute is not), unless the ``mirror`` setting says
otherwise.

An image with no person (animals often) is a recorded outcome, and a failure of the method to draw
the pose: ``pose_oks`` = 0 (the board's headline mean is over all images), ``pose_oks_detected`` =
NaN (its mean is over the images with a person), ``pose_detected`` = 0, failure "no person found".
Where S is undefined (no exemplar with a person, a degenerate scale, the figure's shoulders hidden)
both are NaN with the reason as the failure: a number there would be made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.features import exemplar_poses, image_poses, open_images
from actionbench.metrics.notes import note_unreadable_exemplars
from actionbench.metrics.oks import AREA, VISIBLE, PoseMatch, nearest_exemplar
from actionbench.perception.pose_backends import Pose
from actionbench.ranges import FRACTION, POSITIVE

NO_PERSON = "no person found"


@dataclass
class PoseSettings:
    mirror: bool | None = None  # None: the action's mirror_invariant
    # OKS scale (one of oks.SCALES): "torso" (area AREA torso lengths squared) or "coco_area" (COCO's)
    scale: Literal["torso", "coco_area"] = "torso"
    area: float = AREA  # OKS object area in torso lengths squared, for scale "torso" (see actionbench.metrics.oks)
    visible: float = VISIBLE  # minimum backend visibility for a joint to count


def pose_match(pose: Pose | None, exemplars: list[Pose | None], mirror: bool = False, area: float = AREA,
               visible: float = VISIBLE, scale: str = "torso") -> PoseMatch:
    """Functional form with the reason: OKS between ``pose`` and its nearest exemplar pose."""
    if pose is None:
        return PoseMatch(float("nan"), NO_PERSON)
    return nearest_exemplar(pose, exemplars, mirror=mirror, area=area, visible_threshold=visible, scale=scale)


def pose_agreement(pose: Pose | None, exemplars: list[Pose | None], mirror: bool = False,
                   area: float = AREA, visible: float = VISIBLE, scale: str = "torso") -> float:
    """Functional form: OKS between ``pose`` and its nearest exemplar pose; NaN without a pose or
    without an exemplar it can be compared with."""
    return pose_match(pose, exemplars, mirror, area, visible, scale).value


@METRICS.register("pose")
class PoseAgreement(Metric):
    """Pose agreement: torso-scaled OKS to the nearest exemplar pose (no person = 0), and detection rate."""

    name = "pose"
    settings_cls = PoseSettings
    setting_ranges = {"area": POSITIVE, "visible": FRACTION}
    scores = (
        ScoreInfo("pose_oks", "torso-scaled OKS between the image's pose and the nearest exemplar pose, over every "
                  "image: 0 when no person is found (COCO's OKS with the object area fixed at 1.7 torso lengths "
                  "squared; joints the exemplar shows and the image lacks count 0)", True, role="action",
                  label="Pose OKS", scale="0–1, all images, no person = 0"),
        ScoreInfo("pose_oks_detected", "torso-scaled OKS between the image's pose and the nearest exemplar pose, "
                  "over the images in which a person is found only (read beside pose_detected)", True,
                  role="action", label="Pose OKS, detected", scale="0–1, images with a person"),
        ScoreInfo("pose_detected", "1 when the pose model finds a person in the image", True, kind="binary",
                  role="diagnostic", label="Person found"),
    )

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        settings: PoseSettings = self.settings_in(context)
        mirror = context.action.mirror_invariant if settings.mirror is None else settings.mirror
        exemplars = exemplar_poses(context, context.action)
        note_unreadable_exemplars(context, context.action, self.name, "the nearest of the others counts")
        no_exemplar = (None if any(p is not None for p in exemplars)
                       else f"no exemplar of action {context.action.name} shows a detectable person")
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        poses = image_poses(context, paths, images)
        results = []
        for image, failure, pose in zip(images, failures, poses):
            if image is None:
                results.append(self.failed(failure))
            elif no_exemplar:  # nothing to compare with: undefined for every image, not 0
                results.append(MetricResult({"pose_oks": float("nan"), "pose_oks_detected": float("nan"),
                                             "pose_detected": float(pose is not None)}, failure=no_exemplar))
            elif pose is None:
                results.append(MetricResult({"pose_oks": 0.0, "pose_oks_detected": float("nan"),
                                             "pose_detected": 0.0}, failure=NO_PERSON))
            else:
                match = pose_match(pose, exemplars, mirror, settings.area, settings.visible, settings.scale)
                results.append(MetricResult({"pose_oks": match.value, "pose_oks_detected": match.value,
                                             "pose_detected": 1.0}, failure=match.reason))
        return results
