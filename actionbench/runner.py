"""Orchestration: plan, lock the run directory, then hand every job to the chosen executor.

A job is one stage (train, generate, score) of one unit (a method on an action); the job graph
says which jobs each one needs. The executor (``--executor local|ray|slurm``) decides where and in
what order they run. A unit whose stage fails is reported by name and its later stages are not
run; the other units finish. Re-running the same command resumes: finished stages are skipped by
their keys, whichever executor ran them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from actionbench.config import RunConfig
from actionbench.errors import ActionBenchError
from actionbench.executors import EXECUTORS
from actionbench.executors.base import Job, JobGraph, StageTask
from actionbench.fileio import DirectoryLock
from actionbench.manifest import build_manifest
from actionbench.metrics import METRICS
from actionbench.plan import Plan, build_plan
from actionbench.plugins import loaded_plugins
from actionbench.replacing import refuse_discarding
from actionbench.store import STAGES, RunStore, Unit


@dataclass
class RunSummary:
    run_dir: Path
    units: list[Unit]
    failures: dict[Unit, tuple[str, str]] = field(default_factory=dict)  # unit -> (stage, error)
    notices: list[str] = field(default_factory=list)  # methods left out of "all", and why

    @property
    def ok(self) -> bool:
        return not self.failures


def run(config: RunConfig, replace: bool = False) -> RunSummary:
    """Run ``config`` into its ``out`` folder; finished trainings or images that its settings would
    discard are refused unless ``replace`` (``actionbench/replacing.py``)."""
    plan = build_plan(config)
    store = RunStore(config.out)
    executor = EXECUTORS.get(config.executor)(config)  # checks its settings, connects to its cluster
    try:
        with DirectoryLock(store.root):
            previous = store.manifest() if store.exists() else None
            if previous and previous["benchmark"]["name"] != plan.benchmark.name:
                raise ActionBenchError(
                    f"{store.root} holds a run on benchmark {previous['benchmark']['name']}, not {plan.benchmark.name}",
                    "choose another --out folder")
            store.check_contained(plan.all_units())  # before anything is written
            if not replace:
                refuse_discarding(plan, store, previous)
            store.write_manifest(build_manifest(plan, previous))
            store.write_score_infos(_score_infos(plan, store))
            graph = JobGraph.from_plan(plan)
            # Workers plan the same methods as the driver did (not "all" again on another machine).
            task = StageTask(str(store.root), dataclasses.replace(config, methods=list(plan.methods)),
                             plugins=loaded_plugins(), workdir=os.getcwd())
            task.use_plan(plan)
            results = executor.run(graph, task)
    finally:
        executor.close()
    return RunSummary(store.root, plan.units, _failures(plan, graph, results), plan.notices)


def _failures(plan: Plan, graph: JobGraph, results: dict[Job, str | None]) -> dict[Unit, tuple[str, str]]:
    """Each unit's first failed stage; a unit left unscored because a reference unit failed says so."""
    failures: dict[Unit, tuple[str, str]] = {}
    for unit in plan.all_units():
        for stage in STAGES:
            error = results.get(Job(stage, unit))
            if error is not None:
                failures[unit] = (stage, error)
                break
    for unit in plan.units:
        if unit not in failures and Job("score", unit) not in results:
            broken = [need.unit.label for need in graph.needs[Job("score", unit)] if need.unit in failures]
            failures[unit] = ("score", f"not scored: reference unit {', '.join(broken)} failed"
                              if broken else "not scored: an earlier stage did not run")
    return failures


def _score_infos(plan: Plan, store: RunStore) -> dict[str, dict]:
    """Every score's meaning and direction, merged with what earlier invocations recorded."""
    infos = dict(store.score_infos())
    for name in plan.metrics:
        for info in METRICS.get(name).scores:
            declared = dataclasses.asdict(info)
            del declared["name"]
            infos[info.name] = {"metric": name, **declared}
    return infos
