"""What several metrics compute from the same inputs, computed once per process: images, poses, CLIP.

Every cache lives in ``context.shared``, the dict the runner keeps for the whole process, so models
load once and a generated image scored by ``pose``, ``leakage`` and ``judge`` is looked at once.
Exemplar features are cached per ``action.version`` (a content hash): in memory, and for poses and
hands also on disk under ``cache_dir("poses" or "hands", <model tag>)``, so later processes skip those
models entirely.
An image that cannot be read is ``None`` here, with its reason beside it: callers record the
reason as the image's failure, never raise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from actionbench.data import Action
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_json, read_json
from actionbench.imageio import open_rgb
from actionbench.metrics.base import Metric, MetricResult, ScoringContext
from actionbench.paths import cache_dir
from actionbench.perception import HAND_BACKENDS, POSE_BACKENDS
from actionbench.perception.clip_models import WEIGHTS_ENV, ClipBundle, load_clip
from actionbench.perception.hand_backends import DEFAULT_HAND_BACKEND, Hand, HandBackend, hands_from_json, hands_to_json
from actionbench.perception.pose_backends import DEFAULT_POSE_BACKEND, Pose, PoseBackend, pose_from_json, pose_to_json

PER_IMAGE_CACHE_LIMIT = 50_000  # per-image entries kept per cache before it is emptied (memory bound)
NOT_FINITE = "the CLIP image embedding is not finite (NaN or infinite)"


# -- images -------------------------------------------------------------------------------------

def open_images(paths: list[Path]) -> tuple[list[Image.Image | None], list[str | None]]:
    """Each path as an RGB image, or None with the reason (``open_rgb``'s one-line message)."""
    images, failures = [], []
    for path in paths:
        try:
            images.append(open_rgb(path))
            failures.append(None)
        except ActionBenchError as error:
            images.append(None)
            failures.append(str(error))
    return images, failures


def file_key(path: Path | None) -> tuple | None:
    """What identifies a file's content cheaply: its resolved path, mtime and size (None: absent)."""
    if path is None:
        return None
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def per_file_cache(context: ScoringContext, name: str) -> dict:
    """A dict in ``context.shared`` for per-file results, emptied when it grows past the limit."""
    cache = context.shared.setdefault(name, {})
    if len(cache) > PER_IMAGE_CACHE_LIMIT:
        cache.clear()
    return cache


def cached_per_file(cache: dict, paths: list[Path | None], images: list[Image.Image | None] | None,
                    compute: Callable[[list[Image.Image]], list[Any]]) -> list[Any]:
    """``compute`` over the images whose file has no entry in ``cache`` yet (one batch), the cached
    entries for the rest; None for images that cannot be read. With ``images=None`` only the files
    missing from the cache are opened."""
    keys = [file_key(p) for p in paths]
    out: list[Any] = [None] * len(paths)
    todo = [i for i, key in enumerate(keys) if key is None or key not in cache]
    for i, key in enumerate(keys):
        if key is not None and key in cache:
            out[i] = cache[key]
    if todo:
        loaded = open_images([paths[i] for i in todo])[0] if images is None else [images[i] for i in todo]
        present = [(i, image) for i, image in zip(todo, loaded) if image is not None]
        for (i, _), value in zip(present, compute([image for _, image in present]) if present else []):
            out[i] = value
            if keys[i] is not None:
                cache[keys[i]] = value
    return out


# -- poses --------------------------------------------------------------------------------------

def pose_backend(context: ScoringContext) -> PoseBackend:
    """The run's pose backend (``scorers.pose_backend``, default mediapipe), loaded once per process."""
    name = context.scorers.pose_backend or DEFAULT_POSE_BACKEND
    key = ("pose_backend", name)
    if key not in context.shared:
        context.shared[key] = POSE_BACKENDS.get(name)()
    return context.shared[key]


def backend_tag(backend: PoseBackend) -> str:
    """Names the backend's model in cache keys; a backend changes ``cache_tag`` when its model does."""
    return getattr(backend, "cache_tag", None) or backend.name


def image_poses(context: ScoringContext, paths: list[Path | None],
                images: list[Image.Image | None] | None = None) -> list[Pose | None]:
    """The pose in each image (None: unreadable or no person), cached per file. ``images`` may be
    left out: then only the files not seen before are opened."""
    backend = pose_backend(context)
    cache = per_file_cache(context, f"poses:{backend_tag(backend)}")
    return cached_per_file(cache, paths, images, backend.estimate)


def exemplar_poses(context: ScoringContext, action: Action) -> list[Pose | None]:
    """The pose of each of ``action``'s exemplars, in order (None: unreadable or no person found).

    Cached in memory per (backend, ``action.version``), and on disk when the backend names its
    model's version (``cache_tag``)."""
    backend = pose_backend(context)
    return _exemplar_features(context, action, "poses", backend, lambda paths: image_poses(context, paths),
                              pose_to_json, pose_from_json)


def _exemplar_features(context: ScoringContext, action: Action, kind: str, model: Any,
                       compute: Callable[[list[Path]], list[Any]], to_json: Callable[[Any], Any],
                       from_json: Callable[[Any], Any]) -> list[Any]:
    """Per-exemplar features of ``kind`` ("poses", "hands") from ``model``: in memory per (model,
    ``action.version``), on disk under ``cache_dir(kind, model.cache_tag)`` when the model names its
    version (``cache_tag``)."""
    tag = backend_tag(model)
    key = (f"exemplar_{kind}", tag, action.version)
    if key in context.shared:
        return context.shared[key]
    on_disk = getattr(model, "cache_tag", None) is not None  # only a versioned model's features persist
    path = cache_dir(kind, tag) / f"{action.name}-{action.version}.json" if on_disk else None
    values = _read_feature_file(path, kind, len(action.exemplars), from_json) if on_disk else None
    if values is None:
        values = compute([e.image_path for e in action.exemplars])
        if on_disk:
            atomic_write_json(path, {"action": action.name, "version": action.version, "backend": tag,
                                     kind: [to_json(v) for v in values]})
    context.shared[key] = values
    return values


def _read_feature_file(path: Path, kind: str, count: int, from_json: Callable[[Any], Any]) -> list[Any] | None:
    if not path.is_file():
        return None
    try:
        values = [from_json(v) for v in read_json(path)[kind]]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged cache file is recomputed
    return values if len(values) == count else None


# -- hands --------------------------------------------------------------------------------------

def hand_detector(context: ScoringContext) -> HandBackend:
    """The hand landmark model (mediapipe's), loaded once per process."""
    backend = HAND_BACKENDS.get(DEFAULT_HAND_BACKEND)
    key = ("hand_detector", backend.name)
    if key not in context.shared:
        context.shared[key] = backend()
    return context.shared[key]


def image_hands(context: ScoringContext, paths: list[Path | None],
                images: list[Image.Image | None] | None = None) -> list[list[Hand] | None]:
    """The hands in each image (an empty list: none found; None: unreadable), cached per file."""
    detector = hand_detector(context)
    cache = per_file_cache(context, f"hands:{detector.cache_tag}")
    return cached_per_file(cache, paths, images, detector.estimate)


def exemplar_hands(context: ScoringContext, action: Action) -> list[list[Hand] | None]:
    """The hands in each of ``action``'s exemplars, in order; cached in memory and on disk like poses."""
    detector = hand_detector(context)
    return _exemplar_features(context, action, "hands", detector, lambda paths: image_hands(context, paths),
                              hands_to_json, hands_from_json)


# -- CLIP ---------------------------------------------------------------------------------------

def clip_bundle(context: ScoringContext) -> ClipBundle:
    """The run's CLIP model (``scorers.clip_model`` / ``clip_pretrained``), loaded once per process."""
    scorers = context.scorers
    key = ("clip", scorers.clip_model, scorers.clip_pretrained, os.environ.get(WEIGHTS_ENV), context.device)
    if key not in context.shared:
        context.shared[key] = load_clip(scorers, context.device)
    return context.shared[key]


def normalise_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; a row that is not finite or has no length becomes all NaN."""
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    bad = ~np.isfinite(features).all(axis=-1, keepdims=True) | ~np.isfinite(norms) | (norms <= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = features / norms
    return np.where(bad, np.nan, normalised)


def encode_images(bundle: ClipBundle, images: list[Image.Image], batch_size: int = 16,
                  device: str = "cpu") -> np.ndarray:
    """Unit-length CLIP image embeddings (N, D), in batches; NaN rows where the model gave NaN."""
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(images), max(1, batch_size)):
            batch = torch.stack([bundle.preprocess(image) for image in images[start:start + batch_size]])
            rows.append(bundle.model.encode_image(batch.to(device)).float().cpu().numpy())
    return normalise_rows(np.concatenate(rows)) if rows else np.zeros((0, 0))


def encode_texts(bundle: ClipBundle, texts: list[str], device: str = "cpu") -> np.ndarray:
    """Unit-length CLIP text embeddings (N, D)."""
    import torch

    with torch.inference_mode():
        tokens = bundle.tokenizer(list(texts))
        features = bundle.model.encode_text(tokens.to(device))
    return normalise_rows(features.float().cpu().numpy())


def image_features(context: ScoringContext, paths: list[Path | None],
                   images: list[Image.Image | None] | None = None) -> np.ndarray:
    """CLIP embeddings of the images (N, D), NaN rows for unreadable ones, cached per file and CLIP
    model. ``images`` may be left out: then only the files not seen before are opened."""
    bundle = clip_bundle(context)
    cache = per_file_cache(context, f"clip_images:{bundle.name}")
    rows = cached_per_file(cache, paths, images, lambda batch: list(
        encode_images(bundle, batch, context.scorers.batch_size, context.device)))
    return _stack_with_nan(rows)


def clip_results(metric: Metric, images: list[Image.Image | None], failures: list[str | None],
                 features: np.ndarray, values: Callable[[int], dict[str, float]]) -> list[MetricResult]:
    """One result per image of a CLIP metric: why it could not be opened, a non-finite embedding,
    or ``values(i)``."""
    results = []
    for i, (image, failure) in enumerate(zip(images, failures)):
        if image is None:
            results.append(metric.failed(failure))
        elif not np.isfinite(features[i]).all():
            results.append(metric.failed(NOT_FINITE))
        else:
            results.append(MetricResult(values(i)))
    return results


def text_features(context: ScoringContext, texts: list[str]) -> np.ndarray:
    """CLIP embeddings of ``texts``, cached per text and CLIP model."""
    bundle = clip_bundle(context)
    cache = per_file_cache(context, f"clip_texts:{bundle.name}")
    todo = list(dict.fromkeys(t for t in texts if t not in cache))
    if todo:
        for text, row in zip(todo, encode_texts(bundle, todo, context.device)):
            cache[text] = row
    return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 0))


def exemplar_image_features(context: ScoringContext, action: Action) -> np.ndarray:
    """CLIP embeddings of ``action``'s exemplars (E, D), NaN rows for unreadable ones; once per
    (CLIP model, ``action.version``)."""
    bundle = clip_bundle(context)
    key = ("exemplar_clip", bundle.name, action.version)
    if key not in context.shared:
        context.shared[key] = image_features(context, [e.image_path for e in action.exemplars])
    return context.shared[key]


def _stack_with_nan(rows: list[np.ndarray | None]) -> np.ndarray:
    width = next((len(r) for r in rows if r is not None), 0)
    return np.stack([r if r is not None else np.full(width, np.nan) for r in rows]) if rows else np.zeros((0, width))
