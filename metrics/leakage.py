"""``leakage``: does the image copy the exemplars' scene? Context similarity outside the person.

A method that learns appearance instead of the action reproduces the exemplars' backgrounds,
clothes' colours and lighting. Measured on colours, outside the person (our choice, so that the
number does not need CLIP weights and reads the same on every machine):

    w(x)      = 1 - person probability per pixel (mediapipe selfie segmentation, used only where
                the pose model finds a person; else 1 everywhere: animals are not masked)
    h(x)      = the w-weighted, normalised 8x8x8 colour histogram of x in CIELAB
                (L in [0, 100], a and b in [-100, 100]; x downscaled to 256 px on its long side)
    sim(x, y) = sum_b min(h_x(b), h_y(b))            histogram intersection, in [0, 1]

    context_similarity(x) = max_j sim(x, e_j)          nearest exemplar e_j of the action whose
                                                       scene the prompt does not ask for
    leakage(x)            = context_similarity(x) - context_similarity(x_plain)

x_plain is the image the ``plain`` method (the subject alone, no action) made for the same subject
and seed: whatever similarity the subject and the base model bring anyway cancels, and what is
left is what the method took from the exemplars. Lower is better; about 0 is no leakage. The
nearest exemplar (not the mean) is used because a method that overfits reproduces particular
exemplars' scenes.

An exemplar whose labelled ``scene`` is the one the subject's prompt asks for ("a blue cat on a
beach" against an exemplar on a beach) is left out: drawing the asked-for scene is fidelity, not
copying. Without it the rule rewarded drawing the prompt well: on ActionBench-Mini, whose prompts
name scenes the exemplars also show, the ``oracle`` and ``wrong_action`` controls (renders of the
prompted subject and scene, which copy nothing) read +0.12, more than any trained method (issue 17).
Unlabelled exemplars (every real photo so far) always count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from actionbench.data import Action
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.features import cached_per_file, file_key, image_poses, open_images, per_file_cache
from actionbench.metrics.notes import note_unreadable_exemplars
from actionbench.metrics.segmentation import person_weight

BINS = 8
MAX_SIDE = 256
MIN_BACKGROUND = 0.02  # less background than this fraction of the pixels: nothing to compare
NO_BACKGROUND = "the person covers the whole image: no background to compare"
NO_REFERENCE = "no plain-prompt reference image for this subject and seed"
ONLY_ASKED_FOR = "every exemplar shows the scene the prompt asks for ({scene}): none left to have copied"


def background_histogram(image: Image.Image, person: np.ndarray | None = None, bins: int = BINS) -> np.ndarray | None:
    """Functional form: h(x), the normalised CIELAB histogram (bins**3,) of ``image`` weighted by
    1 - ``person`` (same height and width as the image); None when almost no background is left."""
    from skimage.color import rgb2lab

    pixels = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    lab = rgb2lab(pixels).reshape(-1, 3)
    weight = np.ones(len(lab)) if person is None else 1.0 - np.clip(np.asarray(person, np.float64).reshape(-1), 0, 1)
    low, high = np.array([0.0, -100.0, -100.0]), np.array([100.0, 100.0, 100.0])
    cells = np.clip(((lab - low) / (high - low) * bins).astype(int), 0, bins - 1)
    index = (cells[:, 0] * bins + cells[:, 1]) * bins + cells[:, 2]
    histogram = np.bincount(index, weights=weight, minlength=bins ** 3)
    total = histogram.sum()
    if not np.isfinite(total) or total < MIN_BACKGROUND * len(lab):
        return None
    return histogram / total


def histogram_intersection(a: np.ndarray, b: np.ndarray) -> float:
    """sim(x, y): the overlap of two normalised histograms, 1 for identical ones, 0 for disjoint."""
    return float(np.minimum(a, b).sum())


def context_similarity(histogram: np.ndarray | None, exemplar_histograms: list[np.ndarray | None]) -> float:
    """max over exemplars of :func:`histogram_intersection`; NaN when either side is missing."""
    if histogram is None:
        return float("nan")
    values = [histogram_intersection(histogram, e) for e in exemplar_histograms if e is not None]
    return max(values) if values else float("nan")


def comparable_exemplars(action: Action, asked_for: str) -> list[bool]:
    """Per exemplar of ``action``: may an image whose prompt asks for the scene ``asked_for`` ("" for
    none) have copied the exemplar's scene? Not when the exemplar's labelled scene is that one."""
    return [not (asked_for and exemplar.scene == asked_for) for exemplar in action.exemplars]


def appearance_leakage(similarity: float, reference_similarity: float) -> float:
    """leakage(x) = context_similarity(x) - context_similarity(x_plain)."""
    return similarity - reference_similarity


def _downscaled(image: Image.Image) -> Image.Image:
    scale = MAX_SIDE / max(image.size)
    if scale >= 1.0:
        return image
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def image_histograms(context: ScoringContext, paths: list[Path | None],
                     images: list[Image.Image | None] | None = None) -> list[np.ndarray | None]:
    """h(x) per image (None: unreadable or no background), cached per file. ``images`` may be left
    out: then files are opened only when some histogram is not cached yet."""
    cache = per_file_cache(context, "background_histograms")
    keys = [file_key(p) for p in paths]
    if images is None:
        if all(key is not None and key in cache for key in keys):
            return [cache[key] for key in keys]
        images = open_images(paths)[0]
    poses = image_poses(context, paths, images)  # the person gate; cached and shared with ``pose``
    pose_of = {id(image): pose for image, pose in zip(images, poses)}

    def compute(batch: list[Image.Image]) -> list[np.ndarray | None]:
        out = []
        for image in batch:
            small = _downscaled(image)
            out.append(background_histogram(small, person_weight(context, small, pose_of[id(image)])))
        return out

    return cached_per_file(cache, paths, images, compute)


def exemplar_histograms(context: ScoringContext) -> list[np.ndarray | None]:
    action = context.action
    key = ("exemplar_histograms", action.version)
    if key not in context.shared:
        context.shared[key] = image_histograms(context, [e.image_path for e in action.exemplars])
    return context.shared[key]


@METRICS.register("leakage")
class AppearanceLeakage(Metric):
    """Appearance leakage: colour similarity to the exemplars outside the person, minus the plain prompt's."""

    name = "leakage"
    reference_method = "plain"
    version = 2  # 2: exemplars in the scene the prompt asks for are not compared (issue 17)
    scores = (
        ScoreInfo("leakage", "context similarity to the nearest exemplar outside the person (exemplars in the "
                  "scene the prompt asks for left out), minus the same for the plain-prompt image of the same "
                  "subject and seed (0: no leakage)", False, label="Leakage",
                  scale="−1–1, 0 = none"),
        ScoreInfo("context_similarity", "colour-histogram intersection with the nearest exemplar whose scene "
                  "the prompt does not ask for, outside the person (0-1); leakage is this minus the plain "
                  "prompt's", False, role="diagnostic",
                  label="Context similarity", scale="0–1"),
    )

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        exemplars = exemplar_histograms(context)
        if all(e is None for e in exemplars):
            reason = f"no exemplar of action {context.action.name} could be read or shows any background"
            return [self.failed(reason) for _ in records]
        note_unreadable_exemplars(context, context.action, self.name, "the nearest of the others counts")
        scenes = [context.benchmark.protocol.scene_of(r.subject) for r in records]
        compared = [[h for h, keep in zip(exemplars, comparable_exemplars(context.action, scene)) if keep]
                    for scene in scenes]
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        histograms = image_histograms(context, paths, images)
        references = self._reference_similarities(records, context, compared)
        results = []
        for scene, image, failure, histogram, candidates, (reference, reference_failure) in zip(
                scenes, images, failures, histograms, compared, references):
            if image is None:
                results.append(self.failed(failure))
            elif not candidates:
                results.append(self.failed(ONLY_ASKED_FOR.format(scene=scene)))
            elif all(e is None for e in candidates):
                results.append(self.failed(f"no exemplar outside the scene the prompt asks for "
                                           f"({scene}) could be read or shows any background"))
            elif histogram is None:
                results.append(self.failed(NO_BACKGROUND))
            else:
                similarity = context_similarity(histogram, candidates)
                results.append(MetricResult({"leakage": appearance_leakage(similarity, reference),
                                             "context_similarity": similarity}, failure=reference_failure))
        return results

    def _reference_similarities(self, records, context, compared) -> list[tuple[float, str | None]]:
        paths = [r.reference_path for r in records]
        present = [p is not None and Path(p).is_file() for p in paths]
        images, failures = open_images([p for p, ok in zip(paths, present) if ok])
        histograms = iter(image_histograms(context, [p for p, ok in zip(paths, present) if ok], images))
        failures = iter(failures)
        out = []
        for ok, candidates in zip(present, compared):
            if not ok:
                out.append((float("nan"), NO_REFERENCE))
                continue
            histogram, failure = next(histograms), next(failures)
            if histogram is None:
                out.append((float("nan"), f"reference image: {failure or NO_BACKGROUND}"))
            else:
                out.append((context_similarity(histogram, candidates), None))
        return out
