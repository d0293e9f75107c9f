"""``judge``: the paper's human protocol, automated. Per image: Action, Subject, Total (both), as 0/1.

The paper's raters judged each generated image for whether the action is shown (Action), whether
the prompted subject is shown (Subject) and both at once (Total), reported as accuracies. Here::

    action_correct  = s_a(x) >= t                    when a person is found in x and action a has
                                                     at least 2 exemplars with a person (pose path)
                    = 0                              when x is flat (shows nothing: :mod:`.flat`),
                                                     or no figure is found in x by a pose model that
                                                     reads every subject (the mini world's)
                    = [argmax_b cos(E_I(x), E_T(prompt with action b in words)) = a]
                                                     otherwise (animals, stylised images: CLIP path),
                      b among all the benchmark's actions
    s_a(x)          = max_j S(d(x), d(e_j))          nearest exemplar of action a (mirrored too when
                                                     the action is mirror_invariant)
    subject_correct = CLIP zero-shot among the protocol's subjects picks the prompted one (``subject``)
                    = 0                              when x is flat or no figure is found (as above)
    total_correct   = action_correct * subject_correct
    judged_by_pose  = 1 when the image's pose decided action_correct (a figure compared, or none
                      there), 0 when CLIP did
    judge_threshold = t, the same for every image of a benchmark: it names the calibration used

A record whose subject text is empty (``actionbench score`` without ``--subject``) gets no subject
judgement: subject_correct and total_correct are NaN, and CLIP is loaded only if some image has no
comparable person.

d(x) is the descriptor of :mod:`.judge_features` (directions of 14 body segments from the pose
backend and 12 hand segments from mediapipe's hand model), S its similarity. The threshold t is
calibrated per benchmark from its own exemplars (:mod:`.calibration`: leave-one-out, the threshold
of best balanced accuracy between an exemplar's own action and the others), cached under
``$ACTIONBENCH_HOME/cache/judge/calibration-<id>.json`` with the benchmark's version hash; the
setting ``pose_threshold`` overrides it. ``actionbench validate-judge`` measures this judge on the
exemplars themselves. docs/judge.md has the measured figures and the choices.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import numpy as np

from actionbench.data import Action, fill_action
from actionbench.fileio import atomic_write_json, read_json, stable_hash
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.calibration import DEFAULT_THRESHOLD, MIN_POSES, ActionExemplars, Calibration, calibrate
from actionbench.metrics.features import (DEFAULT_POSE_BACKEND, NOT_FINITE, backend_tag, exemplar_hands,
                                          exemplar_poses, hand_detector, image_features, image_hands, image_poses,
                                          open_images, pose_backend, text_features)
from actionbench.metrics.flat import FLAT_SPREAD, shows_nothing
from actionbench.metrics.judge_features import SIGMA, Descriptor, describe, describe_mirrored, nearest_exemplar
from actionbench.metrics.oks import VISIBLE
from actionbench.metrics.subject import subject_judgements, zero_shot_probabilities
from actionbench.paths import cache_dir
from actionbench.ranges import FRACTION, NOT_NEGATIVE, POSITIVE

JUDGE_VERSION = "segments-1"  # change whenever the descriptor or the similarity changes: new calibrations
POSE_THRESHOLD = DEFAULT_THRESHOLD  # the threshold when a benchmark cannot be calibrated
CALIBRATION_KEY = "judge_calibration"  # context.shared[(CALIBRATION_KEY, calibration id)]: once per process


@dataclass
class JudgeSettings:
    pose_threshold: float | None = None  # None: calibrated from the benchmark's exemplars
    mirror: bool | None = None  # None: the action's mirror_invariant
    sigma: float = SIGMA  # angular tolerance of one segment (see judge_features)
    visible: float = VISIBLE  # minimum backend visibility for a joint to count
    hands: bool | None = None  # hand landmarks as evidence; None: with the mediapipe pose backend (photos)
    flat_spread: float = FLAT_SPREAD  # luminance spread (grey levels) below which an image shows nothing; 0: off


def action_by_pose(similarity: float, threshold: float = POSE_THRESHOLD) -> float:
    """Functional form of the pose path: 1.0 when ``similarity`` reaches the threshold, NaN when undefined."""
    return float("nan") if np.isnan(similarity) else float(similarity >= threshold)


def action_by_clip(image_features: np.ndarray, action_text_features: np.ndarray, target: int) -> np.ndarray:
    """Functional form of the CLIP path: 1.0 where zero-shot classification of the images (N, D)
    among the actions' texts (A, D) picks action ``target``; NaN for non-finite images."""
    probabilities = zero_shot_probabilities(image_features, action_text_features)
    picked = np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1)
    return np.where(np.isfinite(probabilities).all(axis=1), (picked == target).astype(float), np.nan)


# -- descriptors --------------------------------------------------------------------------------

def uses_hands(context: ScoringContext, settings: JudgeSettings) -> bool:
    """Hand evidence is on for photos (the mediapipe pose backend) unless the settings say otherwise."""
    if settings.hands is not None:
        return settings.hands
    return (context.scorers.pose_backend or DEFAULT_POSE_BACKEND) == DEFAULT_POSE_BACKEND


def action_exemplars(context: ScoringContext, action: Action, settings: JudgeSettings) -> ActionExemplars:
    """``action``'s exemplar descriptors (poses and hands from the shared caches)."""
    poses = exemplar_poses(context, action)
    hands = exemplar_hands(context, action) if uses_hands(context, settings) else [[]] * len(poses)
    mirror = action.mirror_invariant if settings.mirror is None else settings.mirror
    return ActionExemplars(
        name=action.name,
        descriptors=[describe(p, h, settings.visible) for p, h in zip(poses, hands)],
        mirrored=[describe_mirrored(p, h, settings.visible) if mirror else None for p, h in zip(poses, hands)],
        mirror_invariant=mirror)


def image_descriptors(context: ScoringContext, paths: list, images: list, settings: JudgeSettings,
                      mirror: bool) -> tuple[list[Descriptor | None], list[Descriptor | None]]:
    """Plain and (when ``mirror``) mirrored descriptors of the images; hands are looked for only
    in images where a person was found."""
    return descriptors_of(context, paths, images, image_poses(context, paths, images), settings, mirror)


def descriptors_of(context: ScoringContext, paths: list, images: list, poses: list, settings: JudgeSettings,
                   mirror: bool) -> tuple[list[Descriptor | None], list[Descriptor | None]]:
    """:func:`image_descriptors` for poses already estimated."""
    hands: list = [[] for _ in poses]
    with_person = [i for i, p in enumerate(poses) if p is not None]
    if with_person and uses_hands(context, settings):
        found = image_hands(context, [paths[i] for i in with_person], [images[i] for i in with_person])
        for i, value in zip(with_person, found):
            hands[i] = value or []
    plain = [describe(p, h, settings.visible) for p, h in zip(poses, hands)]
    mirrored = [describe_mirrored(p, h, settings.visible) if mirror else None for p, h in zip(poses, hands)]
    return plain, mirrored


# -- calibration --------------------------------------------------------------------------------

def calibrated_actions(context: ScoringContext) -> dict[str, Action]:
    """The actions the threshold is calibrated on: the benchmark's (:func:`calibration_actions`), and
    the scored action when it is not one of them (an action folder given to ``score``)."""
    actions = calibration_actions(context.benchmark)
    actions.setdefault(context.action.name, context.action)
    return actions


def calibration_id(context: ScoringContext, settings: JudgeSettings) -> str:
    """What the calibration depends on: the benchmark's content, an action calibrated beside it, the
    judge and its models. Without the extra action in the id, scoring one folder action wrote its
    threshold into the benchmark's own cache file, and every later board of that benchmark read it."""
    identity = {
        "judge": JUDGE_VERSION, "benchmark": context.benchmark.version,
        "pose_backend": backend_tag(pose_backend(context)),
        "hands": hand_detector(context).cache_tag if uses_hands(context, settings) else None,
        "sigma": settings.sigma, "visible": settings.visible, "mirror": settings.mirror,
    }
    if context.action.name not in calibration_actions(context.benchmark):
        # named only when present, so the benchmark's own id (and its cache) stays as it was
        identity["extra_actions"] = [(context.action.name, context.action.version)]
    return stable_hash(identity, length=12)


def benchmark_calibration(context: ScoringContext, settings: JudgeSettings) -> Calibration:
    """The benchmark's judge threshold: the setting when given, else calibrated from every action's
    exemplars; once per process and cached on disk per :func:`calibration_id`."""
    if settings.pose_threshold is not None:
        return Calibration(id="setting", threshold=float(settings.pose_threshold), method="setting",
                           reason="judge.pose_threshold", benchmark=context.benchmark.name,
                           benchmark_version=context.benchmark.version)
    identity = calibration_id(context, settings)
    key = (CALIBRATION_KEY, identity)
    if key in context.shared:
        return context.shared[key]
    # Like exemplar poses, a calibration persists only when the pose model names its version.
    on_disk = getattr(pose_backend(context), "cache_tag", None) is not None
    path = cache_dir("judge") / f"calibration-{identity}.json" if on_disk else None
    calibration = _read_calibration(path) if on_disk else None
    if calibration is None:
        actions = calibrated_actions(context)
        calibration = calibrate([action_exemplars(context, a, settings) for a in actions.values()], settings.sigma,
                                id=identity, benchmark=context.benchmark.name,
                                benchmark_version=context.benchmark.version)
        if on_disk:
            atomic_write_json(path, {"judge": JUDGE_VERSION, **dataclasses.asdict(calibration)})
    context.shared[key] = calibration
    return calibration


def calibration_actions(benchmark) -> dict[str, Action]:
    """The actions a benchmark's threshold is calibrated on: those of the domain its scorers were
    made for (custom photo actions joined to the mini benchmark never move its threshold)."""
    from actionbench.data.domains import fits

    return {name: a for name, a in benchmark.actions.items() if fits(benchmark, a)}


def calibration_source(benchmark, settings: JudgeSettings) -> str:
    """Where a board's judge threshold comes from, in words (recorded in the run manifest)."""
    if settings.pose_threshold is not None:
        return f"setting judge.pose_threshold = {float(settings.pose_threshold):g}"
    from actionbench.data.domains import benchmark_domain

    names = sorted(calibration_actions(benchmark))
    return (f"leave-one-out over the exemplars of benchmark {benchmark.name} (version {benchmark.version}, "
            f"domain {benchmark_domain(benchmark)}): {len(names)} actions ({', '.join(names)}); "
            f"the default {POSE_THRESHOLD} if fewer than 2 of them have {MIN_POSES} exemplar poses")


def _read_calibration(path) -> Calibration | None:
    if not path.is_file():
        return None
    try:
        data = read_json(path)
        data.pop("judge", None)
        data["actions"] = tuple(data.get("actions", ()))
        return Calibration(**{k: (float("nan") if v is None else v) for k, v in data.items()})
    except (OSError, ValueError, TypeError):
        return None  # a damaged cache file is recomputed


def note_once(context: ScoringContext, text: str) -> None:
    """A one-line note on stderr, once per process (e.g. an action judged by CLIP only)."""
    seen = context.shared.setdefault("judge_notes", set())
    if text not in seen:
        seen.add(text)
        print(f"actionbench: note: {text}", file=sys.stderr)


def clip_only_reason(exemplars: ActionExemplars) -> str | None:
    """Why an action is judged by CLIP only (fewer than :data:`MIN_POSES` exemplar poses), or None."""
    if exemplars.poses >= MIN_POSES:
        return None
    return (f"action {exemplars.name}: only {exemplars.poses} of its {len(exemplars.descriptors)} exemplars "
            f"show a detectable person (at least {MIN_POSES} needed); it is judged by CLIP only")


# -- the metric ---------------------------------------------------------------------------------

@METRICS.register("judge")
class ActionJudge(Metric):
    """The paper's Action / Subject / Total judgement per image, automated (pose and hands, else CLIP; CLIP zero-shot)."""

    name = "judge"
    settings_cls = JudgeSettings
    scores = (
        ScoreInfo("action_correct", "1 when the action is shown: the nearest exemplar's body and hand segment "
                  "directions agree at or above the benchmark's calibrated threshold (judge_threshold); 0 when the "
                  "image is flat (shows nothing) or a pose model that reads every subject (the mini world's) finds "
                  "no figure; otherwise, without a person, CLIP picks this action's description among all actions'",
                  True, kind="binary", role="action"),
        ScoreInfo("subject_correct", "1 when CLIP zero-shot classification picks the prompted subject; 0 when the "
                  "image is flat or a pose model that reads every subject (the mini world's) finds no figure", True,
                  kind="binary", role="subject", label="Subject"),
        ScoreInfo("total_correct", "1 when both the action and the subject are right", True, kind="binary"),
        ScoreInfo("judged_by_pose", "1 when the image's pose decided the action judgement (a figure compared with "
                  "the exemplars, or none there), 0 when CLIP did",
                  True, kind="binary", role="diagnostic", label="Judged by pose"),
        ScoreInfo("judge_threshold", "the judge's decision threshold on pose similarity, calibrated from the "
                  "benchmark's exemplars (leave-one-out); it names the calibration the judgements used", True,
                  role="diagnostic", label="Judge threshold"),
    )

    without_subject = "subject and total"
    setting_ranges = {"pose_threshold": FRACTION, "sigma": POSITIVE, "visible": FRACTION, "flat_spread": NOT_NEGATIVE}
    # 2: no figure found by a pose model that reads every subject is no subject shown either;
    # 3: a flat image shows no action and no subject on every benchmark (metrics/flat.py)
    version = 3

    @staticmethod
    def calibration_source(benchmark, settings: JudgeSettings) -> str:
        return calibration_source(benchmark, settings)

    def labels(self, values: dict[str, float]) -> dict[str, str]:
        return {"judged_by": {1.0: "pose", 0.0: "clip"}.get(values.get("judged_by_pose", float("nan")), "")}

    def summary(self, results: list[MetricResult], context: ScoringContext) -> list[str]:
        """The share of images judged right (and judged by pose), and the calibration the threshold came from."""
        lines = []
        for info in self.scores:
            values = [r.values[info.name] for r in results if not np.isnan(r.values.get(info.name, np.nan))]
            if info.kind == "binary" and values:
                lines.append(f"{info.name}: {sum(values) / len(values):.3f} over {len(values)} image(s)")
        calibrations = [v for k, v in context.shared.items() if isinstance(k, tuple) and k[0] == CALIBRATION_KEY]
        if calibrations:
            lines.append(f"judge: {calibrations[0].summary()}")
        return lines

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        settings: JudgeSettings = self.settings_in(context)
        action = context.action
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        if all(image is None for image in images):
            return [self.failed(failure) for failure in failures]
        exemplars = action_exemplars(context, action, settings)
        reason = clip_only_reason(exemplars)
        # Shows nothing: flat, or found empty by a pose model that reads every subject. CLIP's argmax
        # always names an action and a subject, so such an image must not reach it.
        no_figure = [image is not None and shows_nothing(image, settings.flat_spread) for image in images]
        if reason:
            note_once(context, reason)
            candidates: list[Descriptor | None] = [None] * len(records)
            mirrored: list[Descriptor | None] = [None] * len(records)
        else:
            poses = image_poses(context, paths, images)
            candidates, mirrored = descriptors_of(context, paths, images, poses, settings, exemplars.mirror_invariant)
            if getattr(pose_backend(context), "reads_every_subject", False):  # a backend may predate it
                no_figure = [empty or (pose is None and image is not None)
                             for empty, pose, image in zip(no_figure, poses, images)]
        threshold = benchmark_calibration(context, settings).threshold
        # CLIP is loaded only when needed: for the subject, and for images without a comparable person.
        has_subject = np.array([bool(r.subject.text.strip()) for r in records])
        by_clip_needed = [d is None and image is not None and not empty
                          for d, image, empty in zip(candidates, images, no_figure)]
        features = (image_features(context, paths, images) if has_subject.any() or any(by_clip_needed)
                    else np.zeros((len(records), 0)))
        subject_correct = np.full(len(records), np.nan)
        if has_subject.any():
            chosen = np.flatnonzero(has_subject)
            subject_correct[chosen] = subject_judgements(context, [records[i] for i in chosen], features[chosen])[0]
        by_clip = self._actions_by_clip(records, context, features, by_clip_needed)
        results = []
        for i, (image, failure) in enumerate(zip(images, failures)):
            if image is None:
                results.append(self.failed(failure))
                continue
            if no_figure[i]:
                action_correct, judged_by_pose = 0.0, 1.0  # nothing shown, so no action shown
            elif candidates[i] is not None:
                similarity, _ = nearest_exemplar(candidates[i], exemplars.descriptors, settings.sigma, mirrored[i])
                action_correct, judged_by_pose = action_by_pose(similarity, threshold), 1.0
            elif not np.isfinite(features[i]).all():
                results.append(self.failed(NOT_FINITE))
                continue
            else:
                action_correct, judged_by_pose = by_clip[i], 0.0
            # Nothing shown, no subject: CLIP's argmax over the subjects would give a blank image one in ten.
            subject = 0.0 if no_figure[i] and has_subject[i] else subject_correct[i]
            broken = has_subject[i] and not np.isfinite(subject)
            results.append(MetricResult({
                "action_correct": float(action_correct), "subject_correct": float(subject),
                "total_correct": float(action_correct * subject), "judged_by_pose": judged_by_pose,
                "judge_threshold": float(threshold),
            }, failure=NOT_FINITE if broken else None))
        return results

    @staticmethod
    def _actions_by_clip(records: list[ImageRecord], context: ScoringContext, features: np.ndarray,
                         needed: list[bool]) -> np.ndarray:
        """The CLIP path's decision for the records that need it (NaN elsewhere)."""
        actions = dict(context.benchmark.actions)
        actions.setdefault(context.action.name, context.action)
        names = list(actions)
        target = names.index(context.action.name)
        out = np.full(len(records), np.nan)
        for i, record in enumerate(records):
            if needed[i]:
                texts = text_features(context, [fill_action(record.prompt, a.description) for a in actions.values()])
                out[i] = action_by_clip(features[i:i + 1], texts, target)[0]
        return out
