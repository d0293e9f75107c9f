"""The run store: one folder per run, the single source of truth that reports read.

Layout (``docs/run-store.md``)::

    RUN_DIR/
      manifest.json              resolved config, benchmark version, base model, seeds, versions, git commit
      scores.json                every score's name, description and direction (for reports)
      .lock                      held by the process writing this run
      units/<method>/<action>/   one unit; reference units use the action name "_shared"
        train.json               stage marker: the key of the finished training, and its timing
        artifact/                the method's trained artifact (a folder diffusers loads)
        generate.json            stage marker for generation
        images/<image_id>.png    generated images, named from subject, seed and index
        images.jsonl             one row per image: id, subject, seed, prompt
        score.json               stage marker for scoring
        scores.jsonl             one row per image x score: image_id, metric, score, value, failure
        <stage>.failed.json      the last failure of a stage, until it succeeds

A stage is done when its marker holds the key computed from everything that affects it; any other
key means stale results, which are removed and redone. Every file is written atomically.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionbench import RUN_FORMAT_VERSION
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_json, read_json, read_jsonl

STAGES = ("train", "generate", "score")
SHARED_ACTION = "_shared"


@dataclass(frozen=True)
class Unit:
    """One method on one action (``action`` is None for a reference unit shared by all actions)."""

    method: str
    action: str | None

    @property
    def label(self) -> str:
        return f"{self.method}/{self.action or SHARED_ACTION}"


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- run level -----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        if not self.exists():
            raise ActionBenchError(f"{self.root} is not a run directory (no manifest.json)",
                                   "pass a folder written by 'actionbench run'")
        try:
            manifest = read_json(self.manifest_path)
        except ValueError as error:
            raise ActionBenchError(f"{self.manifest_path} is corrupt ({error})",
                                   "restore it, or start a new run with another --out") from error
        version = manifest.get("format_version")
        if version != RUN_FORMAT_VERSION:
            raise ActionBenchError(
                f"{self.root} was written by an incompatible version of actionbench (run format {version}, "
                f"this version reads {RUN_FORMAT_VERSION})", "re-run into a new --out folder")
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.manifest_path, {**manifest, "format_version": RUN_FORMAT_VERSION})

    def score_infos(self) -> dict[str, dict[str, Any]]:
        path = self.root / "scores.json"
        return read_json(path) if path.is_file() else {}

    @property
    def cache_dir(self) -> Path:
        """What methods make for themselves and may reuse (class images, ADI's action-different
        samples), shared by every unit of the run; entries are named by a hash of their inputs."""
        return self.root / "cache"

    def write_score_infos(self, infos: dict[str, dict[str, Any]]) -> None:
        atomic_write_json(self.root / "scores.json", infos)

    def units(self) -> list[Unit]:
        """Every unit that has a folder in this run, sorted."""
        found = []
        for method_dir in sorted((self.root / "units").glob("*")):
            for action_dir in sorted(method_dir.glob("*")):
                if action_dir.is_dir():
                    action = None if action_dir.name == SHARED_ACTION else action_dir.name
                    found.append(Unit(method_dir.name, action))
        return found

    # -- unit level ----------------------------------------------------------------------------
    def unit_dir(self, unit: Unit) -> Path:
        return self.root / "units" / unit.method / (unit.action or SHARED_ACTION)

    def artifact_dir(self, unit: Unit) -> Path:
        return self.unit_dir(unit) / "artifact"

    def images_dir(self, unit: Unit) -> Path:
        return self.unit_dir(unit) / "images"

    def marker(self, unit: Unit, stage: str) -> dict[str, Any] | None:
        path = self.unit_dir(unit) / f"{stage}.json"
        try:
            return read_json(path) if path.is_file() else None
        except ValueError:
            return None  # a marker that cannot be read counts as not done

    def is_done(self, unit: Unit, stage: str, key: str) -> bool:
        marker = self.marker(unit, stage)
        return marker is not None and marker.get("key") == key

    def mark_done(self, unit: Unit, stage: str, key: str, seconds: float, **extra: Any) -> None:
        atomic_write_json(self.unit_dir(unit) / f"{stage}.json",
                          {"key": key, "seconds": round(seconds, 3), "finished": time.time(), **extra})
        (self.unit_dir(unit) / f"{stage}.failed.json").unlink(missing_ok=True)

    def mark_failed(self, unit: Unit, stage: str, error: str, attempt: int) -> None:
        atomic_write_json(self.unit_dir(unit) / f"{stage}.failed.json",
                          {"error": error, "attempt": attempt, "time": time.time()})

    def failure(self, unit: Unit, stage: str) -> dict[str, Any] | None:
        path = self.unit_dir(unit) / f"{stage}.failed.json"
        return read_json(path) if path.is_file() else None

    def invalidate(self, unit: Unit, stage: str) -> None:
        """Remove a stage's outputs and those of every later stage (they were built on it)."""
        folder = self.unit_dir(unit)
        outputs = {"train": ["artifact"], "generate": ["images", "images.jsonl"], "score": ["scores.jsonl"]}
        for later in STAGES[STAGES.index(stage):]:
            (folder / f"{later}.json").unlink(missing_ok=True)
            for name in outputs[later]:
                path = folder / name
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)

    def image_rows(self, unit: Unit) -> list[dict[str, Any]]:
        path = self.unit_dir(unit) / "images.jsonl"
        return read_jsonl(path) if path.is_file() else []

    def score_rows(self, unit: Unit) -> list[dict[str, Any]]:
        path = self.unit_dir(unit) / "scores.jsonl"
        return read_jsonl(path) if path.is_file() else []
