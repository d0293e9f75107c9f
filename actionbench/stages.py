"""The three stages of a unit: train the method, generate the protocol's images, score them.

Each stage is a function of (plan, store, unit) that an executor may run anywhere the run directory
is visible; it skips itself when its marker holds the current key and the files the marker vouches
for are intact, writes its outputs atomically, and marks itself done last, so a kill at any moment
loses at most the stage in progress. A finished stage whose files were deleted or damaged since is
redone, with one line saying what was found.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from typing import Any

from actionbench.errors import first_few
from actionbench.fileio import atomic_path, atomic_write_json, atomic_write_jsonl, read_json
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, ScoringContext, score_safely
from actionbench.methods import METHODS
from actionbench.plan import Plan, resolve_device
from actionbench.seeding import seed_all
from actionbench.store import STAGES, Damage, RunStore, Unit

# Loaded once per process and shared by all metrics: scorer models, cached features.
_SHARED_SCORING_STATE: dict[str, Any] = {}


def _action_for(plan: Plan, unit: Unit):
    # A reference unit ignores the action; it gets the first one so that methods see a valid object.
    return plan.actions[unit.action] if unit.action else next(iter(plan.actions.values()))


def damage_to_redo(store: RunStore, unit: Unit, stage: str, key: str) -> list[Damage] | None:
    """None when the stage is done for ``key`` and its files are intact (skip it); otherwise what
    was damaged (empty when the stage simply is not done), said on one line per unit."""
    if store.is_done(unit, stage, key):
        damage = store.verify(unit, stage)
        if not damage:
            return None
        shown = first_few(damage, 3, "; ")
    else:
        orphan = store.unvouched_output(unit, stage)
        if orphan is None:
            return []  # not run yet, interrupted, or stale (another key): nothing to say
        damage = []
        shown = f"{orphan} is not vouched for ({stage}.json, its marker, is missing or unreadable)"
    redo = " and ".join(STAGES[STAGES.index(stage):])
    print(f"actionbench: unit {unit.label}: {shown}; redoing {redo}", file=sys.stderr, flush=True)
    return damage


def run_train(plan: Plan, store: RunStore, unit: Unit) -> bool:
    """Train ``unit``'s method on its action; returns False when already done."""
    key = plan.key(unit, "train")
    if damage_to_redo(store, unit, "train", key) is None:
        return False
    store.invalidate(unit, "train")
    config = plan.method_configs[unit.method]
    method = METHODS.get(unit.method)(cache_dir=store.cache_dir)
    started = time.perf_counter()
    seed_all(config.seed)
    base = plan.base.load(device=resolve_device(plan.config.device))
    # Stages run under the unit's lock: any partial artifact here is a killed process's leftover.
    for leftover in store.unit_dir(unit).glob("artifact.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = store.unit_dir(unit) / f"artifact.partial-{os.getpid()}"
    staging.mkdir(parents=True)
    try:
        method.train(base, _action_for(plan, unit), config, staging)
        os.replace(staging, store.artifact_dir(unit))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    store.mark_done(unit, "train", key, time.perf_counter() - started)
    return True


def run_generate(plan: Plan, store: RunStore, unit: Unit) -> bool:
    """Generate every protocol image for ``unit``; batches already written for this key are kept.

    Batches are fixed slices of the protocol's request list, and a batch with any image missing is
    generated whole: batched sampling rounds differently from single sampling on some devices (by up
    to 1/255), so a resumed run must batch exactly as an uninterrupted one to give the same pixels.
    """
    key = plan.key(unit, "generate")
    damage = damage_to_redo(store, unit, "generate", key)
    if damage is None:
        return False
    folder = store.unit_dir(unit)
    partial = folder / "generate.partial.json"
    if damage:  # keep the intact images of this key; regenerate the batches that lost one
        atomic_write_json(partial, {"key": key})
        for item in damage:
            if item.file.startswith("images/"):
                store.unit_file(unit, item.file).unlink(missing_ok=True)
        store.invalidate(unit, "score")
        (folder / "generate.json").unlink(missing_ok=True)
    if not (partial.is_file() and _partial_key(partial) == key):
        store.invalidate(unit, "generate")
        atomic_write_json(partial, {"key": key})
    config = plan.method_configs[unit.method]
    images_dir = store.images_dir(unit)
    size = max(1, config.generation_batch_size)
    batches = [plan.requests[start:start + size] for start in range(0, len(plan.requests), size)]
    todo = [b for b in batches if not all((images_dir / f"{r.image_id}.png").is_file() for r in b)]
    started = time.perf_counter()
    if todo:
        method = METHODS.get(unit.method)(cache_dir=store.cache_dir)
        base = plan.base.load(device=resolve_device(plan.config.device))
        for chunk in todo:
            images = method.generate(base, store.artifact_dir(unit), [r.prompt for r in chunk],
                                     [r.generator_seed for r in chunk], config)
            for request, image in zip(chunk, images):
                with atomic_path(images_dir / f"{request.image_id}.png") as temp:
                    image.save(temp, format="PNG")
    atomic_write_jsonl(folder / "images.jsonl", [
        {"image_id": r.image_id, "file": f"images/{r.image_id}.png", "subject": r.subject.name,
         "subject_text": r.subject.text, "subject_kind": r.subject.kind, "seed": r.seed, "index": r.index,
         "generator_seed": r.generator_seed, "prompt": r.prompt} for r in plan.requests])
    store.mark_done(unit, "generate", key, time.perf_counter() - started)
    partial.unlink(missing_ok=True)
    return True


def _partial_key(path) -> str | None:
    try:
        return read_json(path).get("key")
    except (ValueError, AttributeError):
        return None  # unreadable: the images under it are not trusted


def run_score(plan: Plan, store: RunStore, unit: Unit) -> bool:
    """Score every image of ``unit`` with every metric; one row per image and score."""
    key = plan.key(unit, "score")
    if damage_to_redo(store, unit, "score", key) is None:
        return False
    store.invalidate(unit, "score")
    started = time.perf_counter()
    assert unit.action is not None  # only plan.units (a method on an action) have a score key
    action = plan.actions[unit.action]
    subjects = {s.name: s for s in plan.benchmark.protocol.subjects}
    rows: list[dict[str, Any]] = []
    for metric_name in plan.metrics:
        metric = METRICS.get(metric_name)()
        reference = plan.references.get(metric_name)
        records = [ImageRecord(
            image_id=row["image_id"], path=store.unit_file(unit, row["file"]), method=unit.method,
            action=action.name, subject=subjects[row["subject"]], seed=row["seed"], prompt=row["prompt"],
            reference_path=(store.images_dir(Unit(reference, None)) / f"{row['image_id']}.png") if reference else None,
        ) for row in store.image_rows(unit)]
        context = ScoringContext(benchmark=plan.benchmark, action=action, scorers=plan.scorers,
                                 device=resolve_device(plan.scorers.device),
                                 settings=plan.metric_configs[metric_name],
                                 shared=_SHARED_SCORING_STATE)
        results = score_safely(metric, records, context)
        for record, result in zip(records, results):
            for info in metric.scores:
                value = result.values.get(info.name, math.nan)
                rows.append({"image_id": record.image_id, "metric": metric_name, "score": info.name,
                             "value": None if value is None or math.isnan(value) else float(value),
                             "failure": result.failure})
    atomic_write_jsonl(store.unit_dir(unit) / "scores.jsonl", rows)
    store.mark_done(unit, "score", key, time.perf_counter() - started)
    return True


STAGE_FUNCTIONS = {"train": run_train, "generate": run_generate, "score": run_score}
