"""Slurm through submitit: one job array per stage; the driver waits for each array, then the next.

Settings: the shared ``gpus_per_task`` (default 1 on Slurm), ``score_gpus`` and ``cpus_per_task``,
and this executor's own :class:`SlurmSettings`, the table ``executor_settings.slurm``
(``[executor_settings.slurm]`` in a config file). ``cluster = "local"`` runs the same job arrays as
processes on this machine (submitit's local executor), which is how the tests run it. The flat
``slurm_*`` keys of earlier versions still work, with a note giving the new spelling.

Array tasks write into the run directory, which must be on a filesystem every node mounts at the
same path. A killed driver leaves its jobs running; re-running the same command resumes: finished
stages are skipped, and a new task that reaches a unit still held by an old one waits for it.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from actionbench.config import RunConfig
from actionbench.errors import ActionBenchError
from actionbench.executors import EXECUTORS
from actionbench.executors.base import StagewiseExecutor, StageTask, describe_exception, run_with_retries, visible_gpus
from actionbench.store import RunStore, Unit

@dataclass
class SlurmSettings:
    """``executor_settings.slurm``: what the Slurm executor asks of the cluster."""

    partition: str | None = None  # None: the cluster's default partition
    time_min: int = 720  # time limit of one array task, in minutes
    mem_gb: float | None = None  # memory per array task; None: the partition's default
    array_parallelism: int = 256  # array tasks running at once (submitit's default)
    additional: dict[str, Any] = field(default_factory=dict)  # more sbatch options, e.g. {account = "x"}
    setup: list[str] = field(default_factory=list)  # shell lines run before each task (activate a venv)
    units_per_task: int = 1  # units one array task runs in turn (amortises start-up of short units)
    cluster: Literal["slurm", "local"] = "slurm"  # "local": submitit runs the jobs on this machine (tests, debugging)
    folder: str | None = None  # job scripts and logs; None: RUN_DIR/slurm-logs
    poll_seconds: float = 2.0  # how often the driver checks its jobs


# the flat executor_settings keys of before the [executor_settings.slurm] table -> their field
LEGACY_KEYS = {**{f"slurm_{name}": name for name in SlurmSettings.__dataclass_fields__ if name != "poll_seconds"},
               "poll_seconds": "poll_seconds"}


def _import_submitit():
    try:
        import submitit
    except ImportError as error:
        raise ActionBenchError("the slurm executor needs the 'submitit' package, which is not installed",
                               "pip install 'actionbench[slurm]'") from error
    return submitit


@EXECUTORS.register("slurm")
class SlurmExecutor(StagewiseExecutor):
    """Slurm job arrays through submitit, one array per stage (partition, GPUs, time from executor_settings)."""

    settings_cls = SlurmSettings
    legacy_keys = LEGACY_KEYS

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.submitit = _import_submitit()
        slurm: SlurmSettings = self.own_settings
        cluster = slurm.cluster
        if slurm.units_per_task < 1:
            raise ActionBenchError(f"executor_settings.slurm.units_per_task is {slurm.units_per_task}",
                                   "give 1 or more")
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise ActionBenchError("the slurm executor found no Slurm here ('sbatch' is not on PATH)",
                                   "run on a Slurm login node, or set executor_settings.slurm.cluster=local "
                                   "to run the job arrays on this machine")
        self.folder = Path(slurm.folder or Path(config.out) / "slurm-logs").resolve()
        default_gpus = 1.0 if cluster == "slurm" else float(bool(visible_gpus()))
        self.gpus = self.settings.gpus_per_task if self.settings.gpus_per_task is not None else default_gpus
        self.score_gpus = self.settings.score_gpus if self.settings.score_gpus is not None else self.gpus
        self.executor = self.submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        parameters = {"timeout_min": slurm.time_min, "cpus_per_task": self.settings.cpus_per_task,
                      "slurm_array_parallelism": slurm.array_parallelism,
                      "slurm_additional_parameters": dict(slurm.additional),
                      "slurm_setup": list(slurm.setup)}
        if slurm.partition:
            parameters["slurm_partition"] = slurm.partition
        if slurm.mem_gb:
            parameters["mem_gb"] = slurm.mem_gb
        try:
            self.executor.update_parameters(**parameters)
        except (ValueError, NameError, AssertionError) as error:
            raise ActionBenchError(f"submitit refused the Slurm settings ({' '.join(str(error).split())[:200]})",
                                   "fix executor_settings.slurm") from error

    def run_stage(self, stage: str, units: list[Unit], task: StageTask) -> dict[Unit, str | None]:
        """Submit one array for the stage's units; resubmit units whose job was lost, up to --retries times."""
        results: dict[Unit, str | None] = {}
        lost: Counter[Unit] = Counter()
        todo = list(units)
        gpus = self.score_gpus if stage == "score" else self.gpus
        size = self.own_settings.units_per_task
        with tqdm(total=len(units), desc=f"{stage:>8}", unit="unit", file=sys.stderr, leave=True,
                  disable=None) as progress:
            while todo:
                chunks = [todo[start:start + size] for start in range(0, len(todo), size)]
                todo = []
                self.executor.update_parameters(name=f"actionbench-{stage}", gpus_per_node=math.ceil(gpus))
                count = len(chunks)
                jobs = self.executor.map_array(run_units, [task] * count, [stage] * count, chunks,
                                               [self.config.retries] * count)
                waiting = list(zip(jobs, chunks))
                try:
                    while waiting:
                        for job, chunk in [pair for pair in waiting if pair[0].done()]:
                            waiting.remove((job, chunk))
                            try:
                                outcome = dict(zip(chunk, job.result()))
                            except Exception as problem:  # noqa: BLE001  the job died: timeout, OOM, node lost
                                outcome = {}
                                for unit in chunk:
                                    lost[unit] += 1
                                    if lost[unit] <= self.config.retries:
                                        todo.append(unit)
                                        continue
                                    outcome[unit] = f"Slurm job {job.job_id} failed: {describe_exception(problem)}"
                                    RunStore(task.run_dir).mark_failed(unit, stage, outcome[unit], lost[unit])
                            for unit, error in outcome.items():
                                results[unit] = error
                                progress.set_postfix_str(f"{unit.label}{' FAILED' if error else ''}")
                                progress.update(1)
                        if waiting:
                            time.sleep(self.own_settings.poll_seconds)
                except KeyboardInterrupt:  # stopped by the user: stop the jobs too (a kill leaves them running)
                    for job, _ in waiting:
                        job.cancel(check=False)
                    raise
        return results


def run_units(task: StageTask, stage: str, units: list[Unit], retries: int) -> list[str | None]:
    """One array task: the stage for each of its units, in turn (each unit's error, or None)."""
    return [run_with_retries(task, stage, unit, retries) for unit in units]
