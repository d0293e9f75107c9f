"""The run store: one folder per run, the single source of truth that reports read.

Layout (``docs/run-store.md``)::

    RUN_DIR/
      manifest.json              resolved config, benchmark version, base model, seeds, versions, git commit
      scores.json                every score's name, description and direction (for reports)
      .lock                      held by the process writing this run
      units/<method>/<action>/   one unit; reference units use the action name "_shared"
        train.json               stage marker: the key of the finished training, its timing, and
                                 the files it vouches for (size and sha256 of each)
        artifact/                the method's trained artifact (a folder diffusers loads)
        generate.json            stage marker for generation
        images/<image_id>.png    generated images, named from subject, seed and index
        images.jsonl             one row per image: id, subject, seed, prompt
        score.json               stage marker for scoring
        scores.jsonl             one row per image x score: image_id, metric, score, value, failure
        <stage>.failed.json      the last failure of a stage, until it succeeds

A stage is done when its marker holds the key computed from everything that affects it and the
files it records are still there, unchanged; any other key means stale results, which are removed
and redone. Every file is written atomically, and every path the store builds is checked to stay
inside the run directory before anything is written or removed there.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionbench import RUN_FORMAT_VERSION
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_json, file_sha256, read_json, read_jsonl, resolve_under, write_problem

STAGES = ("train", "generate", "score")
SHARED_ACTION = "_shared"
# What each stage writes in its unit's folder; invalidating a stage removes these.
STAGE_OUTPUTS = {"train": ("artifact",), "generate": ("images", "images.jsonl"), "score": ("scores.jsonl",)}
# Files up to this size are verified by their sha256 on resume; larger ones (model weights) by their
# size only, so that resuming a run of real models does not re-read gigabytes of weights each time.
HASH_VERIFY_LIMIT = 64 * 1024 * 1024
# What a run directory holds before its manifest is written (a run killed at its very start).
RUN_ENTRIES = frozenset({".lock", "manifest.json", "scores.json", "units", "cache"})


@dataclass(frozen=True)
class Damage:
    """A file a stage marker vouches for that is missing or not what was written."""

    file: str  # relative to the unit's folder
    problem: str  # "is missing", "has 120 bytes, 400 were written", ...

    def __str__(self) -> str:
        return f"{self.file} {self.problem}"


@dataclass(frozen=True)
class Unit:
    """One method on one action (``action`` is None for a reference unit shared by all actions)."""

    method: str
    action: str | None

    @property
    def label(self) -> str:
        return f"{self.method}/{self.action or SHARED_ACTION}"


def recorded_key(manifest: dict[str, Any], unit: Unit, stage: str) -> str | None:
    """The key of ``unit``'s ``stage`` as the run's manifest records it (None: a run written before
    manifests recorded them, or a unit or stage the manifest does not hold)."""
    return manifest.get("stage_keys", {}).get(unit.label, {}).get(stage)


def is_current(manifest: dict[str, Any], unit: Unit, stage: str, marker: dict[str, Any] | None) -> bool:
    """Whether ``marker`` is ``stage``'s result under the settings the manifest holds: its key is the
    one recorded for the unit (a run written before manifests recorded keys: every marker is)."""
    if "stage_keys" not in manifest:
        return marker is not None
    return marker is not None and recorded_key(manifest, unit, stage) == marker.get("key")


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def inside(self, path: Path) -> Path:
        """``path`` if it stays inside the run directory once links are followed; else one line.

        Every folder the store hands out goes through here, so neither a hostile name nor a link
        planted in the run can make a stage write or remove anything outside it.
        """
        resolved, stays = resolve_under(path, self.root)
        if not stays:
            raise ActionBenchError(f"{path} leads outside the run directory {self.root.resolve()} (to {resolved})",
                                   "remove the link or name that leads there; nothing was written or removed")
        return path

    def check_contained(self, units: list[Unit]) -> None:
        """Every folder a run of ``units`` will write stays inside the run (no planted link leads out)."""
        self.inside(self.root / "cache")
        for unit in units:
            for folder in (self.unit_dir(unit), self.artifact_dir(unit), self.images_dir(unit)):
                self.inside(folder)

    def foreign_entries(self) -> list[str]:
        """What a folder holds besides a run: empty for a run directory, an empty folder or none."""
        if not self.root.is_dir() or self.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name not in RUN_ENTRIES)

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
        try:
            return read_json(path) if path.is_file() else {}
        except ValueError as error:
            raise ActionBenchError(f"{path} is corrupt ({error})",
                                   "delete it; the next 'actionbench run' with this --out writes it again") from error

    @property
    def cache_dir(self) -> Path:
        """What methods make for themselves and may reuse (class images, ADI's action-different
        samples), shared by every unit of the run; entries are named by a hash of their inputs."""
        return self.inside(self.root / "cache")

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
        return self.inside(self.root / "units" / unit.method / (unit.action or SHARED_ACTION))

    def unit_file(self, unit: Unit, relative: str) -> Path:
        """A file a row of the unit names (``images/x.png``), refused if it would leave the unit."""
        folder = self.unit_dir(unit)
        path = folder / relative
        if Path(relative).is_absolute() or not path.resolve().is_relative_to(folder.resolve()):
            raise ActionBenchError(f"{folder} names the file '{relative}', which is outside the unit",
                                   "the run directory was edited by hand: re-run into a new --out folder")
        return path

    def artifact_dir(self, unit: Unit) -> Path:
        return self.inside(self.unit_dir(unit) / "artifact")

    def images_dir(self, unit: Unit) -> Path:
        return self.inside(self.unit_dir(unit) / "images")

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
        """Record the stage as done, with every file it vouches for (size, sha256, JSONL lines)."""
        atomic_write_json(self.unit_dir(unit) / f"{stage}.json",
                          {"key": key, "seconds": round(seconds, 3), "finished": time.time(),
                           "outputs": self.record_outputs(unit, stage), **extra})
        (self.unit_dir(unit) / f"{stage}.failed.json").unlink(missing_ok=True)

    def mark_failed(self, unit: Unit, stage: str, error: str, attempt: int) -> str | None:
        """Record a stage's failure; never raises, so the failure itself is always reported.

        Returns None, or one line saying why the record could not be written (a full disk).
        """
        path = self.root / "units" / unit.method / (unit.action or SHARED_ACTION) / f"{stage}.failed.json"
        try:
            path = self.unit_dir(unit) / f"{stage}.failed.json"
            atomic_write_json(path, {"error": error, "attempt": attempt, "time": time.time()})
        except ActionBenchError as problem:
            return f"the failure could not be recorded: {problem.problem}"
        except OSError as problem:
            return f"the failure could not be recorded: {write_problem(path, problem)}"
        return None

    # -- what a marker vouches for ---------------------------------------------------------------
    def output_files(self, unit: Unit, stage: str) -> list[Path]:
        """Every file a stage wrote, sorted; hidden files (a killed write's temporaries) excluded."""
        folder = self.unit_dir(unit)
        files = []
        for name in STAGE_OUTPUTS[stage]:
            path = self.inside(folder / name)
            if path.is_dir():
                files += [f for f in sorted(path.rglob("*"))
                          if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts)]
            elif path.is_file():
                files.append(path)
        return files

    def record_outputs(self, unit: Unit, stage: str) -> dict[str, dict[str, Any]]:
        folder = self.unit_dir(unit)
        record = {}
        for path in self.output_files(unit, stage):
            entry: dict[str, Any] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
            if path.suffix == ".jsonl":
                entry["lines"] = _count_lines(path)
            record[path.relative_to(folder).as_posix()] = entry
        return record

    def verify(self, unit: Unit, stage: str) -> list[Damage]:
        """What is wrong with the files a finished stage's marker vouches for (empty: all is well).

        A marker written before markers recorded their files is checked by presence: the stage's
        files exist and its JSONL files parse.
        """
        marker = self.marker(unit, stage) or {}
        recorded = marker.get("outputs")
        if recorded is None:
            return self._verify_presence(unit, stage)
        folder = self.unit_dir(unit)
        damage = []
        for name, entry in sorted(recorded.items()):
            path = self.unit_file(unit, name)
            if not path.is_file():
                damage.append(Damage(name, "is missing"))
                continue
            size = path.stat().st_size
            if size != entry.get("size"):
                lines = _count_lines(path) if "lines" in entry else None
                if lines is not None and lines != entry["lines"]:
                    damage.append(Damage(name, f"has {lines} lines, {entry['lines']} were written"))
                else:
                    damage.append(Damage(name, f"has {size} bytes, {entry.get('size')} were written"))
            elif size <= HASH_VERIFY_LIMIT and file_sha256(path) != entry.get("sha256"):
                damage.append(Damage(name, "has changed since it was written (its sha256 differs)"))
        if stage == "train" and not (folder / "artifact").is_dir():
            damage.append(Damage("artifact", "is missing"))
        return damage

    def unvouched_output(self, unit: Unit, stage: str) -> str | None:
        """The stage's last output when it is there but the stage's marker is not (deleted, or the
        process was killed between the two); None otherwise."""
        name = STAGE_OUTPUTS[stage][-1]  # written last, just before the marker
        if self.marker(unit, stage) is None and (self.unit_dir(unit) / name).exists():
            return name
        return None

    def _verify_presence(self, unit: Unit, stage: str) -> list[Damage]:
        folder = self.unit_dir(unit)
        if stage == "train":
            artifact = folder / "artifact"
            return [] if artifact.is_dir() else [Damage("artifact", "is missing")]
        name = "images.jsonl" if stage == "generate" else "scores.jsonl"
        if not (folder / name).is_file():
            return [Damage(name, "is missing")]
        try:
            rows = read_jsonl(folder / name)
        except ActionBenchError as problem:
            return [Damage(name, problem.problem.removeprefix(str(folder / name)).strip())]
        if stage == "generate":
            files = [str(row.get("file") or "") for row in rows]
            if not all(files):
                return [Damage(name, "lists an image without its file")]
            return [Damage(file, "is missing") for file in files if not self.unit_file(unit, file).is_file()]
        return []

    def failure(self, unit: Unit, stage: str) -> dict[str, Any] | None:
        path = self.unit_dir(unit) / f"{stage}.failed.json"
        try:
            return read_json(path) if path.is_file() else None
        except ValueError:
            return {"error": f"{path.name} is unreadable (cut short by a full disk or a kill)"}

    def invalidate(self, unit: Unit, stage: str) -> None:
        """Remove a stage's outputs and those of every later stage (they were built on it)."""
        folder = self.unit_dir(unit)
        for later in STAGES[STAGES.index(stage):]:
            (folder / f"{later}.json").unlink(missing_ok=True)
            for name in STAGE_OUTPUTS[later]:
                path = folder / name
                if path.is_symlink():  # a link is removed itself, never what it points to
                    path.unlink()
                elif path.is_dir():
                    shutil.rmtree(self.inside(path))
                else:
                    path.unlink(missing_ok=True)

    def image_rows(self, unit: Unit) -> list[dict[str, Any]]:
        path = self.unit_dir(unit) / "images.jsonl"
        return read_jsonl(path) if path.is_file() else []

    def score_rows(self, unit: Unit) -> list[dict[str, Any]]:
        path = self.unit_dir(unit) / "scores.jsonl"
        return read_jsonl(path) if path.is_file() else []


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)
