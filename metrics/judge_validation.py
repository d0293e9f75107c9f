"""How often the judge is right on photos whose action is known: leave-one-out over exemplars.

Each exemplar in turn is judged as if it were generated, against every chosen action, with itself
removed from its own action's exemplars (``actionbench validate-judge`` prints the result):

* **top-1 action**: the action of highest nearest-exemplar similarity s_b(x) (pose path), or, when
  no person is found in x or its action has fewer than 2 exemplar poses, the action whose
  description CLIP prefers in x's caption (CLIP path), as the ``judge`` metric does;
* **detection rate**: the share of exemplars in which a comparable person is found;
* **ROC AUC**: how well the similarity S separates pairs of exemplars of the same action from
  pairs of different actions (all ordered pairs of exemplars with a pose);
* **binary judgement**: the judge's own decision s_b(x) >= t for every (exemplar, action) pair,
  with t calibrated as for the leaderboard but re-fitted without the exemplar being judged, so the
  rates are not measured on the threshold's own training data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from actionbench.data import Action, Benchmark, fill_action
from actionbench.errors import ActionBenchError
from actionbench.imageio import open_rgb
from actionbench.metrics.base import ScoringContext
from actionbench.metrics.calibration import (DEFAULT_THRESHOLD, Calibration, LeaveOneOut, best_threshold, calibrate,
                                             leave_one_out, roc_auc)
from actionbench.metrics.features import image_features, text_features
from actionbench.metrics.judge import JudgeSettings, action_exemplars, calibration_id, clip_only_reason
from actionbench.metrics.subject import zero_shot_probabilities
from actionbench.perception.settings import ScorerConfig
from actionbench.registry import Registry

POSE, CLIP, NONE = "pose", "clip", "none"


@dataclass
class ExemplarJudgement:
    action: str  # the exemplar's own action
    path: Path
    predicted: str | None  # the top-1 action (None: no judgement possible)
    judged_by: str  # "pose", "clip" or "none"
    detected: bool  # a comparable person was found


@dataclass
class BinaryRates:
    """The judge's yes/no decision over (exemplar, action) pairs."""

    accepted_own: float  # true positive rate: an exemplar is judged to show its own action
    accepted_other: float  # false positive rate: ... to show another action
    pairs_own: int
    pairs_other: int

    @property
    def balanced_accuracy(self) -> float:
        return (self.accepted_own + 1.0 - self.accepted_other) / 2


@dataclass
class Validation:
    benchmark: str
    benchmark_version: str
    actions: list[str]
    judgements: list[ExemplarJudgement]
    auc: float
    auc_pairs: tuple[int, int]  # (same-action pairs, different-action pairs)
    calibration: Calibration  # on the chosen actions, all exemplars
    binary: BinaryRates
    clip_only: list[str] = field(default_factory=list)  # actions judged by CLIP only (too few poses)
    notes: list[str] = field(default_factory=list)  # one line each: unreadable images, CLIP unavailable

    @property
    def accuracy(self) -> float:
        return float(np.mean([j.predicted == j.action for j in self.judgements])) if self.judgements else float("nan")

    @property
    def detection_rate(self) -> float:
        return float(np.mean([j.detected for j in self.judgements])) if self.judgements else float("nan")

    def recall(self, action: str) -> float:
        mine = [j for j in self.judgements if j.action == action]
        return float(np.mean([j.predicted == action for j in mine])) if mine else float("nan")

    @property
    def per_action(self) -> dict[str, float]:
        return {a: self.recall(a) for a in self.actions}

    def confusion(self) -> np.ndarray:
        """(A, A + 1) counts: rows the true action, columns the predicted one, last column none."""
        index = {a: k for k, a in enumerate(self.actions)}
        matrix = np.zeros((len(self.actions), len(self.actions) + 1), dtype=int)
        for j in self.judgements:
            matrix[index[j.action], index.get(j.predicted, len(self.actions))] += 1
        return matrix

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "detection_rate": self.detection_rate, "auc": self.auc,
                "per_action": self.per_action, "benchmark": self.benchmark,
                "benchmark_version": self.benchmark_version, "images": len(self.judgements),
                "judged_by_pose": sum(j.judged_by == POSE for j in self.judgements),
                "clip_only_actions": self.clip_only, "threshold": self.calibration.threshold,
                "calibration": self.calibration.id,
                "binary": {"accepted_own": self.binary.accepted_own, "accepted_other": self.binary.accepted_other,
                           "balanced_accuracy": self.binary.balanced_accuracy},
                "confusion": {"actions": self.actions, "counts": self.confusion().tolist()}}


def judge_settings_from(settings: dict[str, Any]) -> JudgeSettings:
    """The judge's settings (``--set judge.KEY=VALUE``) as its dataclass: the validation's callers
    (``actionbench validate-judge``) need not know the judge's modules; an unknown key is one line."""
    from actionbench.config import from_dict

    return from_dict(JudgeSettings, dict(settings), "settings for metric judge")


def validate_judge(benchmark: Benchmark, actions: list[Action], scorers: ScorerConfig,
                   settings: JudgeSettings | None = None, device: str = "cpu",
                   shared: dict | None = None) -> Validation:
    """Leave-one-out over the exemplars of ``actions`` (module docstring). Needs at least 2 actions."""
    if len(actions) < 2:
        raise ActionBenchError(f"validate-judge needs at least 2 actions, got {len(actions)}",
                               "name two or more actions, or 'all'")
    settings = settings or JudgeSettings()
    context = ScoringContext(benchmark=benchmark, action=actions[0], scorers=scorers, device=device,
                             shared={} if shared is None else shared)
    sets = [action_exemplars(context, action, settings) for action in actions]
    clip_only = [s.name for s in sets if clip_only_reason(s)]
    notes = [clip_only_reason(s) for s in sets if clip_only_reason(s)]
    loo = leave_one_out(sets, settings.sigma)

    judgements: dict[tuple[str, int], ExemplarJudgement] = {}
    for row, (name, index) in enumerate(loo.rows):
        best = int(np.nanargmax(loo.scores[row])) if np.isfinite(loo.scores[row]).any() else None
        judgements[(name, index)] = ExemplarJudgement(
            name, _exemplar(actions, name, index).image_path, loo.actions[best] if best is not None else None, POSE, True)
    by_clip = [(a, i, e) for a, s in zip(actions, sets) for i, e in enumerate(a.exemplars) if (a.name, i) not in judgements]
    readable = []
    for action, index, exemplar in by_clip:
        detected = next(s for s in sets if s.name == action.name).descriptors[index] is not None
        judgements[(action.name, index)] = ExemplarJudgement(action.name, exemplar.image_path, None, NONE, detected)
        try:
            open_rgb(exemplar.image_path)
            readable.append((action, index, exemplar))
        except ActionBenchError as error:
            notes.append(f"unreadable: {error}")
    if readable:
        notes += _judge_by_clip(context, actions, readable, judgements)

    ordered = [judgements[(a.name, i)] for a in actions for i in range(len(a.exemplars))]
    same, different = loo.same_and_different_pairs()
    # The leaderboard's calibration when every action of the benchmark is chosen (same id), else a subset's.
    every = {a.name for a in actions} == set(benchmark.actions)
    identity = {"id": calibration_id(context, settings) if every else "", "benchmark": benchmark.name,
                "benchmark_version": benchmark.version}
    return Validation(benchmark=benchmark.name, benchmark_version=benchmark.version, actions=[a.name for a in actions],
                      judgements=ordered, auc=roc_auc(same, different), auc_pairs=(len(same), len(different)),
                      calibration=calibrate(sets, settings.sigma, **identity),
                      binary=_binary_rates(loo, [a.name for a in actions], ordered), clip_only=clip_only, notes=notes)


def _exemplar(actions: list[Action], name: str, index: int):
    return next(a for a in actions if a.name == name).exemplars[index]


def _judge_by_clip(context: ScoringContext, actions: list[Action], todo: list,
                   judgements: dict[tuple[str, int], ExemplarJudgement]) -> list[str]:
    """Top-1 by CLIP among the actions' descriptions, written into each exemplar's caption."""
    try:
        features = image_features(context, [e.image_path for _, _, e in todo])
    except ActionBenchError as error:
        return [f"the CLIP fallback is unavailable ({error}); {len(todo)} exemplar(s) without a usable pose "
                "count as wrong"]
    for row, (action, index, exemplar) in enumerate(todo):
        prompt = exemplar.template.replace("{}", "{action}")
        texts = text_features(context, [fill_action(prompt, a.description) for a in actions])
        probabilities = zero_shot_probabilities(features[row:row + 1], texts)[0]
        if np.isfinite(probabilities).all():
            judgement = judgements[(action.name, index)]
            judgement.predicted, judgement.judged_by = actions[int(np.argmax(probabilities))].name, CLIP
    return []


def _binary_rates(loo: LeaveOneOut, names: list[str], judgements: list[ExemplarJudgement]) -> BinaryRates:
    """Pose path: s_b(x) >= t, t re-fitted without x's scores; CLIP path: CLIP picks b."""
    own_hits, other_hits, own_n, other_n = 0, 0, 0, 0
    for row in range(len(loo.rows)):
        keep = np.ones(len(loo.rows), dtype=bool)
        keep[row] = False
        own, other = LeaveOneOut(loo.actions, [], loo.labels[keep], loo.scores[keep], loo.pairs).own_and_other()
        threshold = best_threshold(own, other)[0] if len(own) and len(other) else DEFAULT_THRESHOLD
        for column, value in enumerate(loo.scores[row]):
            if not np.isfinite(value):
                continue
            if column == loo.labels[row]:
                own_hits, own_n = own_hits + (value >= threshold), own_n + 1
            else:
                other_hits, other_n = other_hits + (value >= threshold), other_n + 1
    for judgement in judgements:
        if judgement.judged_by == CLIP:
            own_hits, own_n = own_hits + (judgement.predicted == judgement.action), own_n + 1
            other_hits, other_n = other_hits + (judgement.predicted != judgement.action), other_n + len(names) - 1
    return BinaryRates(own_hits / max(own_n, 1), other_hits / max(other_n, 1), own_n, other_n)


# -- against a world's truth ----------------------------------------------------------------------
#
# Exemplars judged leave-one-out say how well the judge tells one exemplar from another. A world
# that can draw any subject doing any action says more: images whose action is known by
# construction, at the image qualities a generator produces. A benchmark registers its truth
# (``WORLD_TRUTHS``, by benchmark name): a function returning, per degradation level, images of each
# action. Each image is judged against every action, as the ``judge`` metric judges a generated
# image: positives are images judged against their own action, negatives against any other.

WORLD_TRUTHS: Registry = Registry("world truth")
WORLD_TRUTHS.lazy("mini", "actionbench.mini.truth:mini_truth",
                  "ActionBench-Mini: the prompted subjects rendered doing each action, through the autoencoder")
CURVE_THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass
class TruthLevel:
    """The images of one degradation level and how far they are from the renders."""

    name: str
    distance: float  # mean absolute pixel difference from the renders (0..255)
    sharpness: float  # mean gradient magnitude of the images
    images: dict[str, list]  # action -> PIL images of that action


@dataclass
class TruthResult:
    """The judge's decisions on one level's images (pose path; an image without a person is refused)."""

    level: TruthLevel
    actions: list[str]
    scores: np.ndarray  # (N, A) s_b(x): nearest-exemplar similarity of image x to action b (NaN: no person)
    labels: np.ndarray  # (N,) the column of each image's own action
    threshold: float

    def _own_other(self, threshold: float, action: int | None = None) -> tuple[float, float]:
        accepted = np.nan_to_num(self.scores, nan=-np.inf) >= threshold
        rows = np.arange(len(self.labels)) if action is None else np.flatnonzero(self.labels == action)
        own = accepted[rows, self.labels[rows]]
        if action is None:
            other_mask = np.ones_like(accepted, dtype=bool)
            other_mask[np.arange(len(self.labels)), self.labels] = False
            other = accepted[other_mask]
        else:  # images of other actions judged against this one
            other = accepted[self.labels != action, action]
        return float(own.mean()), float(other.mean())

    def rates(self, threshold: float | None = None) -> tuple[float, float, float]:
        """(own accepted, other accepted, balanced accuracy) at ``threshold`` (default: the judge's)."""
        own, other = self._own_other(self.threshold if threshold is None else threshold)
        return own, other, (own + 1.0 - other) / 2

    def per_action(self) -> dict[str, tuple[float, float]]:
        """action -> (its images accepted as it, other actions' images accepted as it)."""
        return {name: self._own_other(self.threshold, k) for k, name in enumerate(self.actions)}

    @property
    def detection_rate(self) -> float:
        return float(np.isfinite(self.scores).any(axis=1).mean())

    def best(self) -> tuple[float, float]:
        """(threshold, balanced accuracy) best for this level's images: what a threshold fitted on
        them would reach (for reading, not for scoring)."""
        own = self.scores[np.arange(len(self.labels)), self.labels]
        mask = np.ones_like(self.scores, dtype=bool)
        mask[np.arange(len(self.labels)), self.labels] = False
        return best_threshold(np.nan_to_num(own, nan=-1.0), np.nan_to_num(self.scores[mask], nan=-1.0))

    def to_json(self) -> dict:
        own, other, balanced = self.rates()
        return {"level": self.level.name, "distance": self.level.distance, "sharpness": self.level.sharpness,
                "images": len(self.labels), "detection_rate": self.detection_rate, "threshold": self.threshold,
                "accepted_own": own, "accepted_other": other, "balanced_accuracy": balanced,
                "per_action": {a: {"accepted_own": o, "accepted_other": w} for a, (o, w) in self.per_action().items()},
                "curve": {f"{t:.2f}": self.rates(t)[2] for t in CURVE_THRESHOLDS}}


def judge_against_truth(benchmark: Benchmark, actions: list[Action], levels: list[TruthLevel],
                        scorers: ScorerConfig, settings: JudgeSettings | None = None, device: str = "cpu",
                        shared: dict | None = None) -> list[TruthResult]:
    """Every image of every level judged against every action, with the benchmark's calibrated
    threshold (the one its boards use, also when ``actions`` are not the benchmark's: the mini
    world's held-in actions, say)."""
    from actionbench.metrics.judge import benchmark_calibration, calibration_actions, image_descriptors
    from actionbench.metrics.judge_features import nearest_exemplar

    settings = settings or JudgeSettings()
    context = ScoringContext(benchmark=benchmark, action=actions[0], scorers=scorers, device=device,
                             shared={} if shared is None else shared)
    board_action = next(iter(calibration_actions(benchmark).values()), actions[0])
    threshold = benchmark_calibration(replace(context, action=board_action), settings).threshold
    sets = [action_exemplars(context, action, settings) for action in actions]
    names = [a.name for a in actions]
    results = []
    for level in levels:
        images = [image for name in names for image in level.images.get(name, [])]
        labels = np.array([k for k, name in enumerate(names) for _ in level.images.get(name, [])], dtype=int)
        plain, _ = image_descriptors(context, [None] * len(images), images, settings, mirror=False)
        scores = np.full((len(images), len(names)), np.nan)
        for row, descriptor in enumerate(plain):
            if descriptor is None:
                continue
            for column, exemplars in enumerate(sets):
                mirrored = None
                if exemplars.mirror_invariant:
                    mirrored = image_descriptors(context, [None], [images[row]], settings, mirror=True)[1][0]
                scores[row, column] = nearest_exemplar(descriptor, exemplars.descriptors, settings.sigma, mirrored)[0]
        results.append(TruthResult(level, names, scores, labels, threshold))
    return results
