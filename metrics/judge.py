"""``judge``: the paper's human protocol, automated. Per image: Action, Subject, Total (both), as 0/1.

The paper's raters judged each generated image for whether the action is shown (Action), whether
the prompted subject is shown (Subject) and both at once (Total), reported as accuracies. Here::

    action_correct = pose_oks(x) >= threshold                 when the pose model finds a person
                                                              comparable with the exemplars,
                   = [argmax_a cos(E_I(x), E_T(prompt with action a in words)) = the action]
                                                              otherwise (animals, stylised images),
                     a among all the benchmark's actions
    subject_correct = CLIP zero-shot among the protocol's subjects picks the prompted one (``subject``)
    total_correct   = action_correct * subject_correct
    judged_by_pose  = 1 when the pose path decided action_correct, 0 when CLIP did

pose_oks is the ``pose`` metric's nearest-exemplar OKS (mirroring per the action). The threshold
0.45 is our choice, measured on real photos (mediapipe, leave-one-out over the exemplars, nearest
exemplar, area 1.7): the threshold with the best balanced accuracy between an exemplar's own action
and the other actions is 0.43 on ActionBench (8 actions) and 0.47 on the yoga set (6 poses, with
mirroring); balanced accuracy there is about 0.72 and 0.90. The calibrated judge of issue 10
replaces this first version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionbench.data import fill_action
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.features import (exemplar_poses, image_features, image_poses, metric_settings, open_images,
                                          text_features)
from actionbench.metrics.oks import AREA, VISIBLE
from actionbench.metrics.pose import pose_agreement
from actionbench.metrics.subject import subject_judgements, zero_shot_probabilities

POSE_THRESHOLD = 0.45
NOT_FINITE = "the CLIP image embedding is not finite (NaN or infinite)"


@dataclass
class JudgeSettings:
    pose_threshold: float = POSE_THRESHOLD  # nearest-exemplar OKS at or above which the action is shown
    mirror: bool | None = None  # None: the action's mirror_invariant
    area: float = AREA
    visible: float = VISIBLE


def action_by_pose(pose_oks: float, threshold: float = POSE_THRESHOLD) -> float:
    """Functional form of the pose path: 1.0 when ``pose_oks`` reaches the threshold, NaN when undefined."""
    return float("nan") if np.isnan(pose_oks) else float(pose_oks >= threshold)


def action_by_clip(image_features: np.ndarray, action_text_features: np.ndarray, target: int) -> np.ndarray:
    """Functional form of the CLIP path: 1.0 where zero-shot classification of the images (N, D)
    among the actions' texts (A, D) picks action ``target``; NaN for non-finite images."""
    probabilities = zero_shot_probabilities(image_features, action_text_features)
    picked = np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1)
    return np.where(np.isfinite(probabilities).all(axis=1), (picked == target).astype(float), np.nan)


@METRICS.register("judge")
class ActionJudge(Metric):
    """The paper's Action / Subject / Total judgement per image, automated (pose, else CLIP; CLIP zero-shot)."""

    name = "judge"
    scores = (
        ScoreInfo("action_correct", "1 when the action is shown: nearest-exemplar pose OKS >= 0.45, or, without "
                  "a person, CLIP picks this action's description among all actions'", True, kind="binary",
                  role="action"),
        ScoreInfo("subject_correct", "1 when CLIP zero-shot classification picks the prompted subject",
                  True, kind="binary", role="subject"),
        ScoreInfo("total_correct", "1 when both the action and the subject are right", True, kind="binary"),
        ScoreInfo("judged_by_pose", "1 when the pose path decided the action judgement, 0 when CLIP did",
                  True, kind="binary"),
    )

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        settings = metric_settings(JudgeSettings, context, self.name)
        action = context.action
        mirror = action.mirror_invariant if settings.mirror is None else settings.mirror
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        if all(image is None for image in images):
            return [self.failed(failure) for failure in failures]
        exemplars = exemplar_poses(context, action)
        poses = image_poses(context, paths, images)
        features = image_features(context, paths, images)
        subject_correct, _ = subject_judgements(context, records, features)
        by_clip = self._actions_by_clip(records, context, features)
        results = []
        for i, (image, failure, pose) in enumerate(zip(images, failures, poses)):
            if image is None:
                results.append(self.failed(failure))
                continue
            oks = pose_agreement(pose, exemplars, mirror, settings.area, settings.visible)
            judged_by_pose = not np.isnan(oks)
            action_correct = action_by_pose(oks, settings.pose_threshold) if judged_by_pose else by_clip[i]
            if not judged_by_pose and not np.isfinite(features[i]).all():
                results.append(self.failed(NOT_FINITE))
                continue
            subject = subject_correct[i]
            results.append(MetricResult({
                "action_correct": float(action_correct), "subject_correct": float(subject),
                "total_correct": float(action_correct * subject), "judged_by_pose": float(judged_by_pose),
            }, failure=None if np.isfinite(subject) else NOT_FINITE))
        return results

    @staticmethod
    def _actions_by_clip(records: list[ImageRecord], context: ScoringContext, features: np.ndarray) -> np.ndarray:
        actions = dict(context.benchmark.actions)
        actions.setdefault(context.action.name, context.action)
        names = list(actions)
        target = names.index(context.action.name)
        out = np.full(len(records), np.nan)
        for i, record in enumerate(records):
            texts = text_features(context, [fill_action(record.prompt, a.description) for a in actions.values()])
            out[i] = action_by_clip(features[i:i + 1], texts, target)[0]
        return out
