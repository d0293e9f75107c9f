"""What every executor shares: the job graph, the picklable stage task, the retry loop, settings.

A *job* is one stage (train, generate, score) of one unit (a method on an action). Jobs depend on
each other: a unit generates after it trained and scores after it generated, and scoring also
needs the shared reference units' images. Executors run the jobs of a :class:`JobGraph` in two
ways: :class:`StagewiseExecutor` runs every ready job of a stage, then the next stage (a barrier per
stage: one progress bar, one job array per stage on Slurm); :class:`DataflowExecutor` submits each
job as soon as the jobs it needs have succeeded (a chain per unit: worker processes, Ray).

Each job runs as :class:`StageTask` — plain data (the run directory, the configuration, the
plugins to load), so it can travel to another process or machine. The run store stays the single
source of truth: a stage skips itself when its marker holds its key, so any executor can be killed
and the run resumed by any other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import sys
import traceback
from abc import ABC, abstractmethod
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

from tqdm import tqdm

from actionbench.config import RunConfig, from_dict
from actionbench.errors import ActionBenchError
from actionbench.store import STAGES, RunStore, Unit

_PLANS: dict[str, object] = {}  # one plan per process and configuration


# -- settings --------------------------------------------------------------------------------------


@dataclass
class ExecutorSettings:
    """The ``executor_settings`` every scale-out executor reads (``--set executor_settings.KEY=VALUE``).

    What only one executor reads lives in its own table, ``executor_settings.NAME`` (``[executor_settings.slurm]``
    in a config file), typed by that executor's ``settings_cls``. Every table given is checked, so a
    misspelt key is refused even while another executor runs; the tables are kept for when the user
    switches executors.
    """

    gpus_per_task: float | None = None  # GPUs a train or generate unit asks for (ray, slurm); None: 1 where GPUs exist
    score_gpus: float | None = None  # GPUs a score unit asks for (its metrics' models); None: as gpus_per_task
    cpus_per_task: int = 1  # CPU cores a unit asks for (ray, slurm)


@dataclass(frozen=True)
class NoSettings:
    """The own settings of an executor that has none."""


def executor_settings(config: RunConfig, name: str | None = None) -> tuple[ExecutorSettings, Any]:
    """The shared settings and executor ``name``'s own (its ``settings_cls``; ``config.executor`` by
    default). The flat spellings of before the tables (``slurm_partition``, ``ray_address``,
    ``poll_seconds``) still work, with a note giving the new one."""
    from actionbench.executors import EXECUTORS

    raw = dict(config.executor_settings)
    executors = {n: EXECUTORS.get(n) for n in EXECUTORS.names()}  # a class, or a factory (local)
    classes = {n: getattr(e, "settings_cls", NoSettings) for n, e in executors.items()}
    legacy = {key: (n, new) for n, e in executors.items() for key, new in getattr(e, "legacy_keys", {}).items()}
    tables: dict[str, dict[str, Any]] = {}
    for executor in classes:
        table = raw.pop(executor, {})
        if not isinstance(table, dict):
            raise ActionBenchError(f"executor_settings.{executor} is {table!r}, not a table",
                                   f"write executor_settings.{executor}.KEY = VALUE")
        tables[executor] = dict(table)
    for key in list(raw):
        if key not in legacy:
            continue
        owner, new_key = legacy[key]
        if new_key in tables[owner]:
            raise ActionBenchError(f"executor_settings.{key} and executor_settings.{owner}.{new_key} are both given",
                                   f"keep executor_settings.{owner}.{new_key}")
        tables[owner][new_key] = raw.pop(key)
        print(f"actionbench: note: executor_settings.{key} is deprecated: write executor_settings.{owner}.{new_key} "
              f"(a [executor_settings.{owner}] table in a config file)", file=sys.stderr)
    shared_names = sorted(f.name for f in dataclasses.fields(ExecutorSettings))
    unknown = sorted(set(raw) - set(shared_names))
    if unknown:
        raise ActionBenchError(f"unknown setting '{unknown[0]}' in executor_settings",
                               f"valid settings are {', '.join(shared_names)}, or a table of one executor's own: "
                               f"{', '.join(f'{n}.KEY' for n in classes)}")
    settings = from_dict(ExecutorSettings, raw, "executor_settings")
    for field_name in ("gpus_per_task", "score_gpus"):
        value = getattr(settings, field_name)
        if value is not None and value < 0:
            raise ActionBenchError(f"executor_settings.{field_name} is {value}", "it must be 0 or more")
    own = {n: from_dict(cls, tables[n], f"executor_settings.{n}") for n, cls in classes.items()}
    return settings, own.get(name or config.executor, NoSettings())  # an unknown executor is named by its registry


# -- the job graph ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One stage of one unit."""

    stage: str
    unit: Unit

    @property
    def label(self) -> str:
        return f"{self.stage} {self.unit.label}"


@dataclass
class JobGraph:
    """Every job of a run and the jobs it needs first; ``needs`` is in a valid running order."""

    needs: dict[Job, tuple[Job, ...]]

    @classmethod
    def from_plan(cls, plan) -> "JobGraph":
        needs: dict[Job, tuple[Job, ...]] = {}
        for unit in plan.all_units():
            needs[Job("train", unit)] = ()
            needs[Job("generate", unit)] = (Job("train", unit),)
        references = tuple(Job("generate", ref) for ref in plan.reference_units)
        for unit in plan.units:  # stages.run_score reads the reference units' images
            needs[Job("score", unit)] = (Job("generate", unit),) + references
        return cls(needs)

    def jobs(self, stage: str | None = None) -> list[Job]:
        return [job for job in self.needs if stage is None or job.stage == stage]

    def blocked(self, job: Job, results: dict[Job, str | None], skipped: set[Job]) -> bool:
        """A job it needs failed or will never run."""
        return any(results.get(need) is not None or need in skipped for need in self.needs[job])

    def ready(self, job: Job, results: dict[Job, str | None]) -> bool:
        """Every job it needs has succeeded."""
        return all(need in results and results[need] is None for need in self.needs[job])


# -- one job, anywhere ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageTask:
    """Runs one stage of one unit; holds only plain data, so it can travel to another process.

    ``plugins`` are loaded before the plan is built, so a worker knows the methods and metrics the
    driver registered from ``--plugins``. ``workdir`` is the driver's working directory: relative
    paths in the configuration (``--out``, ``--benchmark``, ``--base-model``) mean the same there.
    """

    run_dir: str
    config: RunConfig
    plugins: tuple[str, ...] = ()
    workdir: str | None = None

    def plan(self):
        """The run's plan, built once per process (a worker loads the plugins first)."""
        from actionbench.plan import build_plan
        from actionbench.plugins import load_plugins

        self._enter_workdir()
        load_plugins(self.plugins)
        if self._key() not in _PLANS:
            _PLANS[self._key()] = build_plan(self.config)
        return _PLANS[self._key()]

    def use_plan(self, plan) -> None:
        """In this process, use the plan the driver has just built (never a stale one from before)."""
        _PLANS[self._key()] = plan

    def _key(self) -> str:
        from actionbench.fileio import stable_hash

        return stable_hash([self.config, self.plugins])

    def _enter_workdir(self) -> None:
        if not self.workdir or os.getcwd() == self.workdir:
            return
        try:
            os.chdir(self.workdir)
        except OSError as error:
            raise ActionBenchError(f"the driver's working directory {self.workdir} is not visible here "
                                   f"({error.strerror})", "start the run from a folder on the shared filesystem"
                                   ) from error

    def __call__(self, stage: str, unit: Unit) -> bool:
        from actionbench.stages import STAGE_FUNCTIONS

        plan = self.plan()
        store = RunStore(self.run_dir)
        with unit_lock(store.unit_dir(unit), unit):
            return STAGE_FUNCTIONS[stage](plan, store, unit)


@contextlib.contextmanager
def unit_lock(folder: Path, unit: Unit) -> Iterator[None]:
    """Hold the unit's lock while one of its stages runs.

    Two processes may reach the same unit: a job of a killed driver that still runs on a cluster and
    the resumed run's job. The second waits, then finds the stage done and skips it. The lock is
    ``flock`` (the OS drops it when its holder dies); where a filesystem has no locks, stages run
    unlocked.
    """
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"actionbench: unit {unit.label} is in use by another process; waiting for it",
                  file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # no locks on this filesystem (e.g. Lustre without -o flock)
            pass
        yield
    finally:
        handle.close()  # closing the file drops the lock


def run_with_retries(task: StageTask, stage: str, unit: Unit, retries: int) -> str | None:
    """Run ``task(stage, unit)`` up to ``retries + 1`` times; return the last error, or None.

    Each failed attempt is recorded in the unit's ``<stage>.failed.json``; a success removes it.
    """
    store = RunStore(task.run_dir)
    error = None
    for attempt in range(1, retries + 2):
        try:
            task(stage, unit)
            return None
        except ActionBenchError as problem:
            error = str(problem)
        except OSError as problem:  # a full disk or a lost mount: the path and the free space, on one line
            error = describe_os_error(problem, store.root)
        except Exception as problem:  # noqa: BLE001  a unit's crash must not stop the others
            error = describe_exception(problem)
        unrecorded = store.mark_failed(unit, stage, error, attempt)
        if unrecorded:  # the failure is still what is reported; the disk's state is added to it
            error = f"{error.rstrip('.')} (and {unrecorded})"
    return error


def describe_os_error(problem: OSError, run_dir: Path) -> str:
    """A full disk met outside ``atomic_*`` (a method saving its weights): the file it names (or the
    run directory when it names none) and the free space there, on one line."""
    from actionbench.fileio import OUT_OF_SPACE, write_problem

    if problem.errno in OUT_OF_SPACE:
        path = problem.filename if problem.filename is not None else f"{run_dir}/..."
        return f"{type(problem).__name__}: {write_problem(path, problem)}"
    return describe_exception(problem)


def describe_exception(problem: BaseException) -> str:
    """One line: the exception's type, message and where it was raised."""
    message = " ".join(str(problem).split())[:300]
    frames = traceback.extract_tb(problem.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(problem).__name__}: {message}{where}"


# -- executors -------------------------------------------------------------------------------------


class Executor(ABC):
    """Runs the jobs of a graph; returns each run job's error (None on success).

    A job whose prerequisite failed is not run and is absent from the result. An executor with
    settings of its own declares their dataclass as ``settings_cls`` (read from
    ``executor_settings.NAME``; ``legacy_keys``: old flat spellings -> field) and finds them resolved
    in ``self.own_settings``; ``self.settings`` holds the shared ones.
    """

    settings_cls: ClassVar[type] = NoSettings
    legacy_keys: ClassVar[dict[str, str]] = {}

    def __init__(self, config: RunConfig):
        self.config = config
        self.settings, self.own_settings = executor_settings(config)
        if config.retries < 0:
            raise ActionBenchError(f"--retries is {config.retries}", "give 0 or more")

    @abstractmethod
    def run(self, graph: JobGraph, task: StageTask) -> dict[Job, str | None]:
        """Run every job after the jobs it needs."""

    def close(self) -> None:
        """Release workers or clusters the executor started."""


class StagewiseExecutor(Executor):
    """Runs every ready job of a stage, then the next stage."""

    def run(self, graph: JobGraph, task: StageTask) -> dict[Job, str | None]:
        results: dict[Job, str | None] = {}
        skipped: set[Job] = set()
        for stage in STAGES:
            jobs = graph.jobs(stage)
            skipped.update(job for job in jobs if graph.blocked(job, results, skipped))
            units = [job.unit for job in jobs if job not in skipped]
            for unit, error in self.run_stage(stage, units, task).items():
                results[Job(stage, unit)] = error
        return results

    @abstractmethod
    def run_stage(self, stage: str, units: list[Unit], task: StageTask) -> dict[Unit, str | None]:
        """Run ``task(stage, unit)`` for every unit; return each unit's error (None when it succeeded)."""


class DataflowExecutor(Executor):
    """Submits each job as soon as the jobs it needs have succeeded; many run at once.

    Subclasses say how to start one job (:meth:`submit`, a ``concurrent.futures.Future`` of
    :func:`run_with_retries`' result). A future that raises means the worker itself was lost (a
    crash, a node gone), not that the stage failed: the job is submitted again, up to ``--retries``
    times.
    """

    @abstractmethod
    def submit(self, job: Job, task: StageTask) -> Future:
        """Start ``run_with_retries(task, job.stage, job.unit, retries)`` somewhere."""

    def run(self, graph: JobGraph, task: StageTask) -> dict[Job, str | None]:
        results: dict[Job, str | None] = {}
        skipped: set[Job] = set()
        lost: Counter[Job] = Counter()
        pending = graph.jobs()
        running: dict[Future, Job] = {}
        progress = StageProgress(graph)
        try:
            while pending or running:
                for job in list(pending):
                    if graph.blocked(job, results, skipped):
                        pending.remove(job)
                        skipped.add(job)
                        progress.update(job)
                    elif graph.ready(job, results):
                        pending.remove(job)
                        running[self.submit(job, task)] = job
                if not running:
                    break  # nothing can run any more
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        results[job] = future.result()
                    except Exception as problem:  # noqa: BLE001  the worker was lost, not the stage
                        lost[job] += 1
                        if lost[job] <= self.config.retries:
                            pending.insert(0, job)
                            continue
                        message = f"worker lost: {describe_exception(problem)}"
                        unrecorded = RunStore(task.run_dir).mark_failed(job.unit, job.stage, message, lost[job])
                        results[job] = f"{message} (and {unrecorded})" if unrecorded else message
                    progress.update(job, results[job])
        finally:
            for future in running:
                future.cancel()
            progress.close()
        return results


class StageProgress:
    """One progress bar per stage, counting finished and skipped jobs."""

    def __init__(self, graph: JobGraph):
        self.bars = {stage: tqdm(total=len(graph.jobs(stage)), desc=f"{stage:>8}", unit="unit", position=i,
                                 file=sys.stderr, leave=True, disable=None)
                     for i, stage in enumerate(STAGES)}

    def update(self, job: Job, error: str | None = None) -> None:
        bar = self.bars[job.stage]
        bar.set_postfix_str(f"{job.unit.label}{' FAILED' if error else ''}")
        bar.update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def visible_gpus() -> list[str]:
    """The GPUs of this node, found without initialising CUDA in this process.

    ``$CUDA_VISIBLE_DEVICES`` when it is set (the ids it lists), else what ``nvidia-smi`` lists,
    else none.
    """
    import subprocess

    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = []
        for gpu in (g.strip() for g in listed.split(",")):
            if not gpu or gpu.startswith("-"):
                break  # CUDA stops at the first invalid id
            ids.append(gpu)
        return ids
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]
