"""Executors run a stage over many units: in this process, or on engines users already run.

An executor receives a picklable :class:`~actionbench.executors.base.StageTask` and the units of one
stage; it returns each unit's error (None on success). The run store stays the single source of
truth, so any executor can be killed and the run resumed by any other.
"""

from actionbench.registry import Registry

EXECUTORS = Registry("executor")
EXECUTORS.lazy("local", "actionbench.executors.local", "in this process, one unit after another")
