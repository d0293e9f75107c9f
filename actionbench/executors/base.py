"""What every executor shares: the picklable stage task and the retry loop."""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass

from actionbench.config import RunConfig
from actionbench.errors import ActionBenchError
from actionbench.store import RunStore, Unit

_PLANS: dict[str, object] = {}  # one plan per process and configuration


@dataclass(frozen=True)
class StageTask:
    """Runs one stage of one unit; holds only plain data, so it can travel to another process."""

    run_dir: str
    config: RunConfig

    def plan(self):
        from actionbench.fileio import stable_hash
        from actionbench.plan import build_plan

        key = stable_hash(self.config)
        if key not in _PLANS:
            _PLANS[key] = build_plan(self.config)
        return _PLANS[key]

    def __call__(self, stage: str, unit: Unit) -> bool:
        from actionbench.stages import STAGE_FUNCTIONS

        return STAGE_FUNCTIONS[stage](self.plan(), RunStore(self.run_dir), unit)


def run_with_retries(task: StageTask, stage: str, unit: Unit, retries: int) -> str | None:
    """Run ``task(stage, unit)`` up to ``retries + 1`` times; return the last error, or None."""
    store = RunStore(task.run_dir)
    error = None
    for attempt in range(1, retries + 2):
        try:
            task(stage, unit)
            return None
        except ActionBenchError as problem:
            error = str(problem)
        except Exception as problem:  # noqa: BLE001  a unit's crash must not stop the others
            last = traceback.extract_tb(problem.__traceback__)[-1]
            error = f"{type(problem).__name__}: {' '.join(str(problem).split())[:300]} " \
                    f"(at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
        store.mark_failed(unit, stage, error, attempt)
    return error


class Executor(ABC):
    def __init__(self, config: RunConfig):
        self.config = config

    @abstractmethod
    def run_stage(self, stage: str, units: list[Unit], task: StageTask) -> dict[Unit, str | None]:
        """Run ``task(stage, unit)`` for every unit; return each unit's error (None when it succeeded)."""

    def close(self) -> None:
        """Release workers or clusters the executor started."""
