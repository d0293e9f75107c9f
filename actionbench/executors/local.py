"""The default executor: every unit in this process, one after another, with a progress bar."""

from __future__ import annotations

import sys

from tqdm import tqdm

from actionbench.executors import EXECUTORS
from actionbench.executors.base import Executor, StageTask, run_with_retries
from actionbench.store import Unit


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """In this process, one unit after another."""

    def run_stage(self, stage: str, units: list[Unit], task: StageTask) -> dict[Unit, str | None]:
        results: dict[Unit, str | None] = {}
        with tqdm(units, desc=f"{stage:>8}", unit="unit", file=sys.stderr, leave=True,
                  disable=None) as progress:
            for unit in progress:
                progress.set_postfix_str(unit.label)
                results[unit] = run_with_retries(task, stage, unit, self.config.retries)
        return results
