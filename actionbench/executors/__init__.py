"""Executors run the jobs of a run (one stage of one unit each): here, or on engines users already run.

An executor receives the job graph and a picklable :class:`~actionbench.executors.base.StageTask`;
it returns each job's error (None on success). The run store stays the single source of truth, so
any executor can be killed and the run resumed by any other. Entries are lazy: Ray and submitit are
imported only when their executor is chosen (``pip install 'actionbench[ray]'`` / ``'[slurm]'``).
"""

from typing import Any

from actionbench.registry import Registry

EXECUTORS: Registry[Any] = Registry("executor")
EXECUTORS.lazy("local", "actionbench.executors.local",
               "this machine: in this process, or --workers N processes (one GPU each where there are GPUs)")
EXECUTORS.lazy("ray", "actionbench.executors.ray",
               "Ray tasks on a running cluster (--ray-address) or a local one; a unit's stages run as soon as "
               "their inputs are done")
EXECUTORS.lazy("slurm", "actionbench.executors.slurm",
               "Slurm job arrays through submitit, one per stage (partition, GPUs, time from executor_settings)")
