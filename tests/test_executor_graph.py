"""The job graph and the two scheduling strategies, with threads and a recording task (no models)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from actionbench.config import RunConfig
from actionbench.executors.base import DataflowExecutor, Job, JobGraph, StagewiseExecutor
from actionbench.store import Unit

TEXT_UP, TEXT_OUT, REF = Unit("text", "up"), Unit("text", "out"), Unit("plain", None)


@dataclass
class FakePlan:
    units: list[Unit]
    reference_units: list[Unit]

    def all_units(self) -> list[Unit]:
        return self.reference_units + self.units


class Recorder:
    """Stands in for StageTask: records when each job starts and ends; fails the jobs it is told to."""

    def __init__(self, fail=(), slow=()):
        self.fail, self.slow = set(fail), set(slow)
        self.events: list[tuple[str, Job]] = []
        self.lock = threading.Lock()

    def __call__(self, job: Job) -> str | None:
        with self.lock:
            self.events.append(("start", job))
        time.sleep(0.2 if job in self.slow else 0.01)
        with self.lock:
            self.events.append(("end", job))
        return "boom" if job in self.fail else None

    def index(self, kind: str, job: Job) -> int:
        return self.events.index((kind, job))


class ThreadDataflow(DataflowExecutor):
    def __init__(self):
        super().__init__(RunConfig())
        self.pool = ThreadPoolExecutor(4)

    def submit(self, job: Job, task) -> Future:
        return self.pool.submit(task, job)


class SequentialStages(StagewiseExecutor):
    def run_stage(self, stage, units, task):
        return {unit: task(Job(stage, unit)) for unit in units}


def graph() -> JobGraph:
    return JobGraph.from_plan(FakePlan([TEXT_UP, TEXT_OUT], [REF]))


def test_scoring_needs_the_unit_and_every_reference_unit_generated():
    needs = graph().needs
    assert needs[Job("score", TEXT_UP)] == (Job("generate", TEXT_UP), Job("generate", REF))
    assert needs[Job("generate", TEXT_UP)] == (Job("train", TEXT_UP),)
    assert Job("score", REF) not in needs  # a reference unit is never scored itself


def test_dataflow_runs_a_job_only_after_what_it_needs_and_does_not_wait_for_a_whole_stage():
    task = Recorder(slow={Job("train", TEXT_OUT)})
    results = ThreadDataflow().run(graph(), task)
    assert set(results) == set(graph().needs) and not any(results.values())
    for job, needs in graph().needs.items():
        for need in needs:
            assert task.index("end", need) < task.index("start", job)
    # text/up generates while text/out is still training: a chain per unit, no barrier per stage.
    assert task.index("start", Job("generate", TEXT_UP)) < task.index("end", Job("train", TEXT_OUT))


def test_a_failed_job_stops_what_needs_it_and_nothing_else():
    for executor in (ThreadDataflow(), SequentialStages(RunConfig())):
        task = Recorder(fail={Job("generate", REF)})
        results = executor.run(graph(), task)
        assert results[Job("generate", REF)] == "boom"
        assert results[Job("generate", TEXT_UP)] is None and results[Job("generate", TEXT_OUT)] is None
        assert Job("score", TEXT_UP) not in results and Job("score", TEXT_OUT) not in results


def test_a_lost_worker_is_retried_then_reported(tmp_path):
    class LosingDataflow(ThreadDataflow):
        def __init__(self, losses: int):
            DataflowExecutor.__init__(self, RunConfig(retries=1))
            self.pool, self.losses = ThreadPoolExecutor(2), losses

        def submit(self, job, task):
            if job == Job("train", TEXT_UP) and self.losses:
                self.losses -= 1
                future = Future()
                future.set_exception(OSError("worker died"))
                return future
            return super().submit(job, task)

    def task() -> Recorder:
        recorder = Recorder()
        recorder.run_dir = str(tmp_path)  # where the lost job's failure is recorded
        return recorder

    assert not any(LosingDataflow(losses=1).run(graph(), task()).values())  # lost once, retried once
    results = LosingDataflow(losses=2).run(graph(), task())
    assert results[Job("train", TEXT_UP)].startswith("worker lost: OSError: worker died")
    assert (tmp_path / "units/text/up/train.failed.json").is_file()
    assert Job("generate", TEXT_UP) not in results and results[Job("score", TEXT_OUT)] is None


def test_a_unit_held_by_another_process_is_waited_for(tmp_path, capsys):
    from actionbench.executors.base import unit_lock

    events = []
    held = threading.Event()

    def old_job():  # a second open file description conflicts like another process would
        with unit_lock(tmp_path, TEXT_UP):
            held.set()
            time.sleep(0.3)
            events.append("old job done")

    thread = threading.Thread(target=old_job)
    thread.start()
    held.wait()
    with unit_lock(tmp_path, TEXT_UP):
        events.append("new job runs")
    thread.join()
    assert events == ["old job done", "new job runs"]
    assert "actionbench: unit text/up is in use by another process; waiting for it" in capsys.readouterr().err
