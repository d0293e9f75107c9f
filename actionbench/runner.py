"""Orchestration: plan, lock the run directory, then run each stage over every unit.

Stages run in order (train, generate, score) so each has one progress bar and models load once per
stage. A unit whose stage fails is reported by name and skipped in later stages; the other units
finish. Re-running the same command resumes: finished stages are skipped by their keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actionbench.config import RunConfig
from actionbench.errors import ActionBenchError
from actionbench.executors import EXECUTORS
from actionbench.executors.base import StageTask
from actionbench.fileio import DirectoryLock
from actionbench.manifest import build_manifest
from actionbench.metrics import METRICS
from actionbench.plan import Plan, build_plan
from actionbench.store import STAGES, RunStore, Unit


@dataclass
class RunSummary:
    run_dir: Path
    units: list[Unit]
    failures: dict[Unit, tuple[str, str]] = field(default_factory=dict)  # unit -> (stage, error)

    @property
    def ok(self) -> bool:
        return not self.failures


def run(config: RunConfig) -> RunSummary:
    plan = build_plan(config)
    store = RunStore(config.out)
    with DirectoryLock(store.root):
        previous = store.manifest() if store.exists() else None
        if previous and previous["benchmark"]["name"] != plan.benchmark.name:
            raise ActionBenchError(
                f"{store.root} holds a run on benchmark {previous['benchmark']['name']}, not {plan.benchmark.name}",
                "choose another --out folder")
        store.write_manifest(build_manifest(plan, previous))
        store.write_score_infos(_score_infos(plan, store))
        executor = EXECUTORS.get(config.executor)(config)
        task = StageTask(str(store.root), config)
        summary = RunSummary(store.root, plan.units)
        try:
            for stage in STAGES:
                units = [u for u in (plan.units if stage == "score" else plan.all_units())
                         if u not in summary.failures and not _reference_failed(plan, summary, u, stage)]
                for unit, error in executor.run_stage(stage, units, task).items():
                    if error is not None:
                        summary.failures[unit] = (stage, error)
        finally:
            executor.close()
    return summary


def _reference_failed(plan: Plan, summary: RunSummary, unit: Unit, stage: str) -> bool:
    return stage == "score" and any(ref in summary.failures for ref in plan.reference_units)


def _score_infos(plan: Plan, store: RunStore) -> dict[str, dict]:
    """Every score's meaning and direction, merged with what earlier invocations recorded."""
    infos = dict(store.score_infos())
    for name in plan.metrics:
        for info in METRICS.get(name).scores:
            infos[info.name] = {"metric": name, "description": info.description,
                                "higher_is_better": info.higher_is_better, "kind": info.kind,
                                "role": info.role}
    return infos
