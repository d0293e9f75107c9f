"""A rating study over a run: which generated images people rate, under which blind ids, in which order.

Raters never see a method name, a file name or a score: every image is known by an opaque id, a
salted hash of (method, action, image, the unit's generate key). The salt is drawn once per run
and kept in ``RUN_DIR/ratings/study.json``; the generate key in the hash means an image that is
regenerated gets a new id, so old ratings of the old picture are never counted for the new one.

``study.json`` also records the sample: every image of the run, or ``per_cell`` images per
method x action x subject cell drawn with ``seed``. Within an (action, subject) cell the same
(seed, index) images are drawn for every method, so a sampled study stays paired across methods.
Each rater sees the study in an order shuffled from (seed, rater name): recorded and reproducible.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_json, read_json, stable_hash
from actionbench.rating.locking import file_lock
from actionbench.store import RunStore, is_current

RATINGS_DIR = "ratings"
STUDY_FILE = "study.json"
DEFAULT_SEED = 0
ID_LENGTH = 12


@dataclass(frozen=True)
class RatedImage:
    """One generated image of the run, as the study knows it (``id`` is all a rater ever sees)."""

    id: str
    method: str
    action: str
    image_id: str  # the run store's image id (subject-seed-index): never shown to raters
    subject: str
    subject_text: str
    seed: int
    index: int
    path: Path

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.method, self.action, self.subject)


def ratings_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / RATINGS_DIR


def opaque_id(salt: str, *parts: Any) -> str:
    return stable_hash([salt, *parts], ID_LENGTH)


def run_images(store: RunStore, salt: str) -> list[RatedImage]:
    """Every generated image of the run's methods (reference units left out), with its blind id."""
    manifest = store.manifest()
    images = []
    for unit in store.units():
        if unit.action is None or unit.method not in manifest.get("methods", []):
            continue
        marker = store.marker(unit, "generate")
        if marker is None or not is_current(manifest, unit, "generate", marker):
            continue  # not generated yet, or under settings the run no longer holds: nothing to rate
        for row in store.image_rows(unit):
            path = store.unit_dir(unit) / row["file"]
            if not path.is_file():
                continue
            images.append(RatedImage(
                id=opaque_id(salt, unit.method, unit.action, row["image_id"], marker.get("key")),
                method=unit.method, action=unit.action, image_id=row["image_id"], subject=row["subject"],
                subject_text=row.get("subject_text", row["subject"]), seed=int(row["seed"]),
                index=int(row.get("index", 0)), path=path))
    return images


def draw_sample(images: list[RatedImage], per_cell: int, seed: int) -> list[RatedImage]:
    """``per_cell`` images per method x action x subject; the same (seed, index) across methods."""
    by_cell: dict[tuple[str, str, str], list[RatedImage]] = {}
    for image in images:
        by_cell.setdefault(image.cell, []).append(image)
    sample = []
    for (method, action, subject), cell in sorted(by_cell.items()):
        cell.sort(key=lambda i: (i.seed, i.index, i.image_id))
        rng = random.Random(int(stable_hash([seed, action, subject], 16), 16))  # not the method: paired
        sample.extend(rng.sample(cell, min(per_cell, len(cell))))
    return sample


def rater_order(ids: list[str], seed: int, rater: str) -> list[str]:
    """The order one rater sees the study in: the sorted ids shuffled from (seed, rater)."""
    order = sorted(ids)
    random.Random(int(stable_hash([seed, rater], 16), 16)).shuffle(order)
    return order


class Study:
    """The study of one run: its settings (``study.json``) and the images it covers."""

    def __init__(self, run_dir: str | Path, settings: dict[str, Any]):
        self.store = RunStore(run_dir)
        self.run_dir = Path(run_dir)
        self.settings = settings
        self.salt: str = settings["salt"]
        self.seed: int = int(settings["seed"])
        self.per_cell: int | None = settings.get("per_cell")
        self.all_images = run_images(self.store, self.salt)
        self.by_id = {image.id: image for image in self.all_images}
        if self.per_cell is None:
            self.images = list(self.all_images)
        else:
            chosen = {tuple(key) for key in settings.get("sample", [])}
            self.images = [i for i in self.all_images if (i.method, i.action, i.image_id) in chosen]
        self.ids = [image.id for image in self.images]

    @property
    def description(self) -> str:
        how = "every image" if self.per_cell is None else f"{self.per_cell} per method x action x subject"
        return f"{len(self.images)} images ({how}; order seed {self.seed})"

    def order(self, rater: str) -> list[str]:
        return rater_order(self.ids, self.seed, rater)


def _study_path(run_dir: Path) -> Path:
    return ratings_dir(run_dir) / STUDY_FILE


def read_settings(run_dir: str | Path) -> dict[str, Any] | None:
    path = _study_path(Path(run_dir))
    if not path.is_file():
        return None
    try:
        settings = read_json(path)
        settings["salt"], int(settings["seed"])
    except (ValueError, KeyError, TypeError) as error:
        raise ActionBenchError(f"{path} is corrupt ({error})",
                               "restore it from a backup; without it the ratings cannot be matched to images")
    return settings


def load_study(run_dir: str | Path) -> Study | None:
    """The run's study, or None when nobody has started one (no ``study.json``)."""
    RunStore(run_dir).manifest()  # a clear error when this is no run directory
    settings = read_settings(run_dir)
    return None if settings is None else Study(run_dir, settings)


def open_study(run_dir: str | Path, per_cell: int | None = None, seed: int | None = None) -> Study:
    """The run's study, created on first use with ``per_cell`` and ``seed``; later calls must agree.

    A study's sample and seed are fixed once drawn (ratings refer to them); asking for other ones is
    an error that says how to keep or restart the study.
    """
    run_dir = Path(run_dir)
    store = RunStore(run_dir)
    store.manifest()
    if per_cell is not None and per_cell < 1:
        raise ActionBenchError(f"--per-cell must be at least 1 (got {per_cell})",
                               "pass the number of images to rate per method x action x subject")
    folder = ratings_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".study.lock"):  # two launches at once draw one study, not two
        settings = read_settings(run_dir)
        if settings is None:
            if not run_images(store, "probe"):
                raise ActionBenchError(f"{run_dir} has no generated images to rate",
                                       "run 'actionbench run' until at least one unit has generated")
            settings = {"salt": secrets.token_hex(16), "seed": DEFAULT_SEED if seed is None else seed,
                        "per_cell": per_cell, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            if per_cell is not None:
                sample = draw_sample(run_images(store, settings["salt"]), per_cell, settings["seed"])
                settings["sample"] = sorted([i.method, i.action, i.image_id] for i in sample)
            atomic_write_json(_study_path(run_dir), settings)
        else:
            recorded = {"per_cell": settings.get("per_cell"), "seed": int(settings["seed"])}
            asked = {"per_cell": per_cell, "seed": seed}
            for name, value in asked.items():
                if value is not None and value != recorded[name]:
                    flag = "--" + name.replace("_", "-")
                    shown = "every image" if recorded["per_cell"] is None else f"--per-cell {recorded['per_cell']}"
                    raise ActionBenchError(
                        f"this run's rating study was drawn with {shown} and --seed {recorded['seed']}, "
                        f"not {flag} {value}",
                        f"leave out {flag} to continue it, or move {folder} away to start a new study")
    return Study(run_dir, settings)
