"""Ray: every job is a Ray task, submitted as soon as the jobs it needs are done.

``executor_settings.ray.address`` (or ``--ray-address``) joins a running cluster (``auto``,
``HOST:PORT``, ``ray://HOST:PORT``); without it a local cluster is started for the run and shut
down after it (``executor_settings.ray.num_cpus``, else ``--workers`` when above 1, else every core).
Both are :class:`RaySettings`, this executor's own table (``[executor_settings.ray]``); the flat
``ray_address`` / ``ray_num_cpus`` of earlier versions still work, with a note giving the new
spelling. A driver that already called ``ray.init`` is reused as it is. Where the cluster has GPUs, every job asks for
``gpus_per_task`` (default 1; ``score_gpus`` for scoring) and Ray sets its ``CUDA_VISIBLE_DEVICES``.

Workers run ``run_with_retries`` from this package: every node needs actionbench (and the
``--plugins`` files, at the same paths) installed, and the run directory on a shared filesystem.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from actionbench.config import RunConfig
from actionbench.errors import ActionBenchError
from actionbench.executors import EXECUTORS
from actionbench.executors.base import DataflowExecutor, Job, StageTask, run_with_retries


@dataclass
class RaySettings:
    """``executor_settings.ray``: which Ray cluster runs the jobs."""

    address: str | None = None  # "auto", "HOST:PORT" or "ray://HOST:PORT"; None: start a local cluster
    num_cpus: int | None = None  # size of a local cluster; None: --workers when > 1, else every core


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise ActionBenchError("the ray executor needs the 'ray' package, which is not installed",
                               "pip install 'actionbench[ray]'") from error
    return ray


def _check_reachable(address: str) -> None:
    """Ray retries an unreachable HOST:PORT for minutes; one quick connection says it at once."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms: ray.init reports them itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise ActionBenchError(f"no Ray cluster answers at {address} ({error.strerror or error})",
                               "start it with 'ray start --head', or check --ray-address") from error


@EXECUTORS.register("ray")
class RayExecutor(DataflowExecutor):
    """Ray tasks on a running cluster (--ray-address) or a local one; one GPU per unit where GPUs exist."""

    settings_cls = RaySettings
    legacy_keys = {"ray_address": "address", "ray_num_cpus": "num_cpus"}  # flat keys of before the table

    def __init__(self, config: RunConfig):
        super().__init__(config)
        ray = self.ray = _import_ray()
        self._started_cluster = False
        own: RaySettings = self.own_settings
        if not ray.is_initialized():
            address = own.address
            if address:
                _check_reachable(address)
            try:
                if address:
                    ray.init(address=address, include_dashboard=False, log_to_driver=False)
                else:
                    num_cpus = own.num_cpus or (config.workers if config.workers > 1 else None)
                    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ActionBenchError(f"cannot connect to the Ray cluster at {address or 'a new local cluster'} "
                                       f"({' '.join(str(error).split())[:200]})",
                                       "start it with 'ray start --head', or check --ray-address") from error
            self._started_cluster = True
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        self.gpus = self.settings.gpus_per_task if self.settings.gpus_per_task is not None else float(has_gpus)
        self.score_gpus = self.settings.score_gpus if self.settings.score_gpus is not None else self.gpus
        self._remote = ray.remote(run_with_retries)
        self._task_ref: tuple[StageTask, Any] | None = None  # (task, its object reference)

    def submit(self, job: Job, task: StageTask) -> Future:
        if self._task_ref is None or self._task_ref[0] is not task:
            self._task_ref = (task, self.ray.put(task))  # shipped once, shared by every job
        options = {"num_cpus": self.settings.cpus_per_task, "max_retries": 0,  # DataflowExecutor retries lost workers
                   "num_gpus": self.score_gpus if job.stage == "score" else self.gpus,
                   "name": f"actionbench {job.label}"}
        return self._remote.options(**options).remote(self._task_ref[1], job.stage, job.unit,
                                                      self.config.retries).future()

    def close(self) -> None:
        if self._started_cluster and self.ray.is_initialized():
            self.ray.shutdown()
