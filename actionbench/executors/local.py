"""The default executor, on this machine: in this process, or ``--workers N`` worker processes.

With one worker every job runs in this process, stage after stage, one progress bar per stage.
With N workers, N processes (``spawn``ed: CUDA cannot survive a fork) run jobs as soon as their
inputs are done; where the node has GPUs each worker sees one through ``CUDA_VISIBLE_DEVICES``,
handed out round-robin (worker i gets GPU i mod the number of GPUs), and uses it as ``cuda``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from actionbench.config import RunConfig
from actionbench.errors import ActionBenchError
from actionbench.executors import EXECUTORS
from actionbench.executors.base import (DataflowExecutor, Job, StagewiseExecutor, StageTask, run_with_retries,
                                        visible_gpus)
from actionbench.store import Unit


class InProcessExecutor(StagewiseExecutor):
    """In this process, one unit after another."""

    def run_stage(self, stage: str, units: list[Unit], task: StageTask) -> dict[Unit, str | None]:
        results: dict[Unit, str | None] = {}
        with tqdm(units, desc=f"{stage:>8}", unit="unit", file=sys.stderr, leave=True,
                  disable=None) as progress:
            for unit in progress:
                progress.set_postfix_str(unit.label)
                results[unit] = run_with_retries(task, stage, unit, self.config.retries)
        return results


class WorkerPoolExecutor(DataflowExecutor):
    """``workers`` processes on this node, each pinned to one GPU when the node has GPUs."""

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.workers = config.workers
        # An explicit device (cpu, cuda:1) is the user's choice; only "auto" and "cuda" are spread.
        self.gpus = visible_gpus() if config.device in ("auto", "cuda") else []
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future] = []

    def gpu_of_worker(self, index: int) -> str | None:
        return self.gpus[index % len(self.gpus)] if self.gpus else None

    def _start_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        slots = context.SimpleQueue()
        for index in range(self.workers):
            slots.put(self.gpu_of_worker(index))
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_start_worker,
                                   initargs=(slots, threads, os.getpid()))

    def submit(self, job: Job, task: StageTask) -> Future:
        if self._pool is None:
            self._pool = self._start_pool()
        try:
            future = self._pool.submit(run_with_retries, task, job.stage, job.unit, self.config.retries)
        except BrokenProcessPool:  # a worker died (its jobs are retried): start a fresh pool
            self._shutdown()
            self._pool = self._start_pool()
            future = self._pool.submit(run_with_retries, task, job.stage, job.unit, self.config.retries)
        self._futures.append(future)
        return future

    def close(self) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        """Stop the workers: at once when jobs are still running (an error or Ctrl-C in the driver)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        busy = any(not future.done() for future in self._futures)
        if busy:
            for process in list((pool._processes or {}).values()):  # noqa: SLF001  no public way in 3.11
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        self._futures.clear()


def _start_worker(slots, threads: int, driver_pid: int) -> None:
    """Runs first in every worker: take a GPU (or none), size CPU threads, die with the driver."""
    gpu = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before anything initialises CUDA in this process
    elif "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    threading.Thread(target=_exit_with_driver, args=(driver_pid,), daemon=True).start()


def _exit_with_driver(driver_pid: int) -> None:
    # A driver killed with SIGKILL cannot stop its workers; they notice that they were orphaned and
    # exit, so a resumed run never races a stale worker for a unit.
    while os.getppid() == driver_pid:
        time.sleep(0.2)
    os._exit(1)


def max_workers() -> int:
    """The most worker processes a run may start here: 4 per core, so a GPU node's one-per-GPU fits."""
    return 4 * (os.cpu_count() or 1)


@EXECUTORS.register("local")
def local_executor(config: RunConfig):
    """In this process, or --workers N processes on this node (one GPU each where there are GPUs)."""
    if config.workers < 1:
        raise ActionBenchError(f"--workers is {config.workers}", "give 1 or more")
    most = max_workers()
    if config.workers > most:  # each is a process; thousands also deadlocked the pool's start-up queue
        raise ActionBenchError(f"--workers is {config.workers}, more than this machine can run",
                               f"give at most {most} (4 per core)")
    return InProcessExecutor(config) if config.workers == 1 else WorkerPoolExecutor(config)
