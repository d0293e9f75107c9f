"""Units an earlier invocation finished stay part of the run when the settings they share still hold.

A run directory accumulates: `run --methods p_plus` into a run of ADI and DreamBooth, or one action at
a time, should give one board of everything. Every unit of a run shares the run-level settings below
(seeds, metrics and their settings, scorers, base model, benchmark); a unit's own settings are its
method's config and its action's data. So the manifest an invocation writes keeps the stage keys,
method configs and action records of earlier units (``carry_over``) exactly when the run-level
settings are unchanged and the unit's own have not been replaced; the board then shows them, and
reports leave off (and name) any unit whose keys the manifest no longer records.
"""

from __future__ import annotations

import copy
from typing import Any

from actionbench.store import SHARED_ACTION

RUN_LEVEL = ("seeds", "metrics", "metric_configs", "metric_versions", "scorers", "scorer_versions", "base_model",
             "references")


def shares_run_settings(current: dict[str, Any], previous: dict[str, Any]) -> bool:
    return (all(previous.get(key) == current.get(key) for key in RUN_LEVEL)
            and previous.get("benchmark", {}).get("version") == current["benchmark"]["version"])


def still_holds(label: str, current: dict[str, Any], previous: dict[str, Any]) -> bool:
    """Whether an earlier unit's own settings (its method's config, its action's data) still hold."""
    method, action = label.split("/", 1)
    if action == SHARED_ACTION or label in current["stage_keys"]:
        return False  # reference units are planned again whenever they are used; planned units are current
    if method in current["method_configs"] and current["method_configs"][method] != previous["method_configs"].get(method):
        return False
    now = current["benchmark"]["actions"].get(action)
    return now is None or now == previous["benchmark"]["actions"].get(action)


def carry_over(current: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``current`` (this invocation's manifest, in JSON form) with the earlier units that still hold."""
    if not previous or "stage_keys" not in previous or not shares_run_settings(current, previous):
        return current
    merged = copy.deepcopy(current)
    for label, keys in previous["stage_keys"].items():
        if not still_holds(label, current, previous):
            continue
        method, action = label.split("/", 1)
        merged["stage_keys"][label] = keys
        if method not in merged["methods"]:
            merged["methods"].append(method)
            merged["method_configs"][method] = previous["method_configs"][method]
            if method in previous.get("controls", []):
                merged["controls"].append(method)
        if action not in merged["benchmark"]["actions"]:
            merged["benchmark"]["actions"][action] = previous["benchmark"]["actions"][action]
            for record in ("action_descriptions", "action_exemplars"):
                if action in previous.get(record, {}):
                    merged[record][action] = previous[record][action]
    return merged
