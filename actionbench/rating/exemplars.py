"""The exemplar photos of each action of a run, for the rating page to show beside every image.

Runs record them in their manifest (``action_exemplars``). A run written before that field existed
falls back to loading its benchmark (``config.benchmark``), as long as each action's data still has
the version the run recorded: the rater must see the exemplars the methods learned from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actionbench.errors import ActionBenchError


def exemplar_paths(manifest: dict[str, Any], actions: list[str]) -> dict[str, list[Path]]:
    recorded = manifest.get("action_exemplars") or {}
    found: dict[str, list[Path]] = {a: [Path(p) for p in recorded[a]] for a in actions if a in recorded}
    missing = [a for a in actions if a not in found]
    if missing:
        found.update(_from_benchmark(manifest, missing))
    for action, paths in found.items():
        absent = [p for p in paths if not p.is_file()]
        if absent:
            raise ActionBenchError(f"exemplar {absent[0]} of action '{action}' is missing",
                                   "restore the benchmark's data where the run read it")
    return found


def _from_benchmark(manifest: dict[str, Any], actions: list[str]) -> dict[str, list[Path]]:
    from actionbench.data import get_benchmark

    name = manifest.get("config", {}).get("benchmark") or manifest["benchmark"]["name"]
    benchmark = get_benchmark(name)
    versions = manifest["benchmark"]["actions"]
    paths = {}
    for action in actions:
        current = benchmark.actions.get(action)
        if current is None or current.version != versions.get(action):
            raise ActionBenchError(
                f"the exemplars of action '{action}' are no longer those the run used "
                f"(benchmark {name} has changed)", "re-run 'actionbench run' on the current data, then rate")
        paths[action] = [Path(e.image_path) for e in current.exemplars]
    return paths
