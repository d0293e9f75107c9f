"""What a run records about itself: enough to reproduce it and to refuse mixing it with others."""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from actionbench import __version__
from actionbench.carry import carry_over
from actionbench.fileio import canonical_json
from actionbench.methods import METHODS
from actionbench.metrics import METRICS
from actionbench.plan import Plan, resolve_device
from actionbench.store import STAGES

PACKAGES = ("torch", "diffusers", "transformers", "open_clip_torch", "mediapipe", "numpy", "scikit-image",
            "pandas", "peft", "accelerate", "safetensors", "pillow")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the actionbench checkout in use (with '+dirty' for local changes), if any."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def build_manifest(plan: Plan, previous: dict[str, Any] | None) -> dict[str, Any]:
    """This invocation's record, in JSON form, with the units of earlier invocations that still hold
    (``actionbench/carry.py``)."""
    return carry_over(json.loads(canonical_json(this_invocation(plan, previous))), previous)


def this_invocation(plan: Plan, previous: dict[str, Any] | None) -> dict[str, Any]:
    import torch

    device = resolve_device(plan.config.device)
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    invocations = (previous or {}).get("invocations", []) + [{"time": now, "argv": sys.argv}]
    return {
        "actionbench_version": __version__,
        "created": (previous or {}).get("created", now),
        "updated": now,
        "invocations": invocations[-50:],
        "config": dataclasses.asdict(plan.config),
        "method_configs": {name: dataclasses.asdict(c) for name, c in plan.method_configs.items()},
        "metric_configs": {name: dataclasses.asdict(c) for name, c in plan.metric_configs.items()},
        "metric_versions": {name: METRICS.get(name).version for name in plan.metrics},
        "scorers": dataclasses.asdict(plan.scorers),
        "scorer_versions": plan.scorer_versions,
        "benchmark": {
            "name": plan.benchmark.name,
            "version": plan.benchmark.version,
            "actions": {name: action.version for name, action in plan.actions.items()},
            "protocol": dataclasses.asdict(plan.benchmark.protocol),
        },
        "action_descriptions": {name: action.description for name, action in plan.actions.items()},
        # where each action's exemplar photos were read: the rating page shows them beside the images
        "action_exemplars": {name: [str(Path(e.image_path).resolve()) for e in action.exemplars]
                             for name, action in plan.actions.items()},
        "base_model": plan.base.identity,
        "seeds": plan.seeds,
        "methods": plan.methods,
        # methods whose right answer is known (Method.control): boards grey their rows
        "controls": [name for name in plan.methods if getattr(METHODS.get(name), "control", False)],
        "metrics": plan.metrics,
        # each unit's stage keys as this invocation computed them (store.recorded_key): reports leave
        # off stale scores, generate and export refuse a stale artifact, and the next invocation knows
        # which redone units this one already asked for
        "stage_keys": {unit.label: {stage: plan.keys[(unit, stage)] for stage in STAGES if (unit, stage) in plan.keys}
                       for unit in plan.all_units()},
        "references": plan.references,
        # where each calibrated metric's decision threshold comes from (the judge's), for the board to say
        "calibration": {name: METRICS.get(name).calibration_source(plan.benchmark, plan.metric_configs[name])
                        for name in plan.metrics if hasattr(METRICS.get(name), "calibration_source")},
        "notices": plan.notices,
        "packages": package_versions(),
        "git_commit": git_commit(),
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
