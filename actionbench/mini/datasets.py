"""Pre-rendered datasets of the mini world: images plus exact labels, as arrays, cached on disk.

Rendering is cheap but not free (about 5 ms an image), so training renders a dataset once and reads
it from an ``.npz`` file. ``pretrain`` data (the text-to-image model's) holds held-in actions and
random poses only; ``scorer`` data (the keypoint network's, mini-CLIP's and the judge's) also holds
the held-out actions and empty scenes, as a pose estimator or CLIP trained on the world would.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionbench.fileio import atomic_write_bytes
from actionbench.mini.scenes import NO_FIGURE, RANDOM_POSE, random_spec, render
from actionbench.mini.world import COLOURS, HELD_IN_ACTIONS, HELD_OUT_ACTIONS, SCENE_PHRASES, SPECIES
from actionbench.paths import cache_dir

SPECIES_NAMES = list(SPECIES)
COLOUR_NAMES = list(COLOURS)
SCENE_NAMES = list(SCENE_PHRASES)
POSE_NAMES = list(HELD_IN_ACTIONS) + list(HELD_OUT_ACTIONS) + [RANDOM_POSE, NO_FIGURE]
ARM_STATES = ("up", "out", "down")
ORIENTATIONS = ("upright", "upside down", "lying")

# Mixtures of pose kinds: (random pose, held-out action, empty scene) fractions; the rest held-in.
MIXES = {
    "pretrain": (0.5, 0.0, 0.0),
    "scorer": (0.35, 0.25, 0.05),
}
# Seeds of different datasets never overlap: kind offsets, times 10 million.
SEED_BASE = {"pretrain": 1, "scorer": 2, "eval": 3}
PARALLEL_SLICE = 2000  # rows per task when rendering in several processes (about 10 CPU-seconds)


@dataclass
class Dataset:
    """Columns of a rendered dataset (row i is one image)."""

    images: np.ndarray  # (N, 32, 32, 3) uint8
    joints: np.ndarray  # (N, 17, 2) float32 pixels; NaN rows for empty scenes
    masks: np.ndarray  # (N, 32, 32) uint8, figure coverage x 255
    species: np.ndarray  # (N,) int, index into SPECIES_NAMES
    colour: np.ndarray
    scene: np.ndarray
    pose: np.ndarray  # index into POSE_NAMES
    arms: np.ndarray  # (N, 2) int, index into ARM_STATES for (left, right)
    orientation: np.ndarray  # index into ORIENTATIONS
    seeds: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def figure(self) -> np.ndarray:
        """(N,) bool: rows with a figure (empty scenes have NaN joints)."""
        return ~np.isnan(self.joints).any(axis=(1, 2))

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **self.__dict__)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> "Dataset":
        with np.load(path) as data:
            return cls(**{key: data[key] for key in data.files})


def spec_for(kind: str, index: int):
    """The ``index``-th spec of a dataset kind (deterministic)."""
    random_fraction, held_out_fraction, empty_fraction = MIXES["scorer" if kind == "eval" else kind]
    seed = SEED_BASE[kind] * 10_000_000 + index
    rng = np.random.default_rng([seed, 17])
    u = rng.random()
    if u < empty_fraction:
        return random_spec(seed, pose_name=NO_FIGURE)
    if u < empty_fraction + held_out_fraction:
        return random_spec(seed, pose_name=str(rng.choice(list(HELD_OUT_ACTIONS))))
    rest = 1 - empty_fraction - held_out_fraction
    return random_spec(seed, random_fraction=random_fraction / rest)


def render_dataset(kind: str, count: int, start: int = 0, progress: bool = False, workers: int = 1,
                   slice_rows: int = PARALLEL_SLICE) -> Dataset:
    """Rows ``start`` to ``start + count`` of a dataset kind. Every row depends on its index alone
    (:func:`spec_for`), so with ``workers`` > 1 processes render slices of ``slice_rows`` rows and the
    result is the same arrays, byte for byte, as one process's (no progress bar then)."""
    if workers > 1 and count > slice_rows:
        return _render_in_processes(kind, count, start, workers, slice_rows)
    return _render_rows(kind, count, start, progress)


def _render_in_processes(kind: str, count: int, start: int, workers: int, slice_rows: int) -> Dataset:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    slices = [(first, min(slice_rows, count - first)) for first in range(0, count, slice_rows)]
    # spawn, not fork: the parent may hold torch's thread pools, which a forked child must not inherit
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_render_rows, [kind] * len(slices), [n for _, n in slices],
                              [start + first for first, _ in slices]))
    return Dataset(**{name: np.concatenate([getattr(part, name) for part in parts])
                      for name in Dataset.__dataclass_fields__})


def _render_rows(kind: str, count: int, start: int = 0, progress: bool = False) -> Dataset:
    from actionbench.mini.scenes import arm_states, orientation

    n = count
    columns: dict[str, np.ndarray]
    columns = dict(images=np.zeros((n, 32, 32, 3), np.uint8), joints=np.zeros((n, 17, 2), np.float32),
                   masks=np.zeros((n, 32, 32), np.uint8), species=np.zeros(n, np.int64),
                   colour=np.zeros(n, np.int64), scene=np.zeros(n, np.int64), pose=np.zeros(n, np.int64),
                   arms=np.zeros((n, 2), np.int64), orientation=np.zeros(n, np.int64), seeds=np.zeros(n, np.int64))
    iterator = range(n)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"rendering {kind}", mininterval=5)
    for i in iterator:
        spec = spec_for(kind, start + i)
        result = render(spec)
        columns["images"][i] = result.image
        columns["joints"][i] = result.joints
        columns["masks"][i] = np.rint(result.mask * 255).astype(np.uint8)
        columns["species"][i] = SPECIES_NAMES.index(spec.species)
        columns["colour"][i] = COLOUR_NAMES.index(spec.colour)
        columns["scene"][i] = SCENE_NAMES.index(spec.scene)
        columns["pose"][i] = POSE_NAMES.index(spec.pose_name)
        if result.has_figure:
            columns["arms"][i] = [ARM_STATES.index(s) for s in arm_states(result.joints, spec.pose)]
        columns["orientation"][i] = ORIENTATIONS.index(orientation(spec.pose))
        columns["seeds"][i] = spec.seed
    return Dataset(**columns)


def dataset_path(kind: str, count: int, start: int = 0) -> Path:
    return cache_dir("mini", "data") / f"{kind}-{start}-{count}.npz"


def load_or_render(kind: str, count: int, start: int = 0, progress: bool = True) -> Dataset:
    """The dataset from the cache, rendered first when absent (on every core: the pretraining set's
    80,000 rows take about 6 minutes in one process)."""
    path = dataset_path(kind, count, start)
    if path.is_file():
        return Dataset.load(path)
    dataset = render_dataset(kind, count, start, progress=progress, workers=os.cpu_count() or 1)
    dataset.save(path)
    return dataset


def facts_of(data: Dataset, i: int):
    """The caption facts of row ``i`` (held-out actions and random poses are unnamed)."""
    from actionbench.mini.world import CaptionFacts

    pose = POSE_NAMES[int(data.pose[i])]
    return CaptionFacts(species=SPECIES_NAMES[int(data.species[i])], colour=COLOUR_NAMES[int(data.colour[i])],
                        scene=SCENE_NAMES[int(data.scene[i])], action=pose if pose in HELD_IN_ACTIONS else None,
                        arms=(ARM_STATES[int(data.arms[i, 0])], ARM_STATES[int(data.arms[i, 1])]),
                        orientation=ORIENTATIONS[int(data.orientation[i])])
