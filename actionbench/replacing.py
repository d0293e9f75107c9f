"""What a run would discard: finished trainings and images that the new settings make stale.

A stage whose marker holds another key is redone, and its outputs (and every later stage's) are
removed first. For scores that is seconds; for a trained artifact or a unit's images it can be hours
of a GPU, and a re-run with one setting changed into the same ``--out`` (``--set adi.steps=300``
into the board's run) would remove them without a word. So ``run`` refuses, in one line that names
what would be lost and what changed, unless told ``--replace``; a new ``--out`` keeps both.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from actionbench.errors import ActionBenchError
from actionbench.fileio import canonical_json
from actionbench.plan import Plan
from actionbench.store import RunStore, Unit, recorded_key

GUARDED = ("train", "generate")  # scoring again costs seconds; these can cost hours
WHAT = {"train": "the trained artifacts", "generate": "the images"}


def discarded(plan: Plan, store: RunStore, previous: dict[str, Any] | None) -> dict[Unit, str]:
    """Each unit whose finished training or generation the plan would redo -> the first such stage.

    A unit the previous invocation already asked to redo under these settings (the generate key it
    recorded is the plan's) is not counted: that invocation was told ``--replace`` and stopped before
    it reached the unit, and the same command resumes it."""
    lost = {}
    for unit in plan.all_units():
        if recorded_key(previous or {}, unit, "generate") == plan.key(unit, "generate"):
            continue
        for stage in GUARDED:
            marker = store.marker(unit, stage)
            if marker is not None and marker.get("key") != plan.key(unit, stage):
                lost[unit] = stage
                break  # a retraining discards the unit's images too: named once, at its first stage
    return lost


def what_changed(plan: Plan, previous: dict[str, Any]) -> list[str]:
    """The settings that differ from the run's previous invocation, as ``method.key old -> new``."""
    changes = []
    for method, config in plan.method_configs.items():
        before = previous.get("method_configs", {}).get(method)
        if before is None:
            continue
        now = json.loads(canonical_json(config))  # as the manifest holds it (tuples as lists, paths as text)
        changes += [f"{method}.{key} {before.get(key)!r} -> {now.get(key)!r}"
                    for key in sorted(set(now) | set(before)) if before.get(key) != now.get(key)]
    if previous.get("seeds") is not None and previous.get("seeds") != plan.seeds:
        changes.append(f"seeds {previous['seeds']} -> {plan.seeds}")
    if previous.get("base_model") not in (None, plan.base.identity):
        changes.append("the base model")
    before_actions = previous.get("benchmark", {}).get("actions", {})
    changes += [f"action {name}'s data" for name, action in plan.actions.items()
                if before_actions.get(name) not in (None, action.version)]
    return changes


def refuse_discarding(plan: Plan, store: RunStore, previous: dict[str, Any] | None) -> None:
    """Raise when the plan would remove finished trainings or images of ``store`` (see the module)."""
    lost = discarded(plan, store, previous)
    if not lost:
        return
    counts = Counter((unit.method, stage) for unit, stage in lost.items())
    shown = ", ".join(f"{WHAT[stage]} of {method} ({count} unit{'s' if count > 1 else ''})"
                      for (method, stage), count in sorted(counts.items()))
    changes = what_changed(plan, previous or {})
    reasons = ["changed since the last run: " + "; ".join(changes[:4]) + ("; ..." if len(changes) > 4 else "")
               ] if changes else []
    recorded = (previous or {}).get("stage_keys")
    orphans = sum(1 for unit in lost if recorded is not None and unit.label not in recorded)
    if orphans:  # left off the board by an earlier change (actionbench/carry.py), still on disk
        reasons.append(f"{orphans} of them made under settings the run no longer holds")
    why = "; ".join(reasons) or "the suite's keys for them changed"
    raise ActionBenchError(f"{store.root} holds finished results that these settings would discard: {shown}; {why}",
                           "pass --out with a new folder to keep them, or --replace to discard and redo them")
