"""The Slurm executor through submitit's local executor (no Slurm here): same board, report, kill and resume.

Each array task is a fresh Python process that imports torch, so the runs group units
(``executor_settings.slurm.units_per_task``) to keep the processes few: the arrays, retries and resumption are the same.
"""

from __future__ import annotations

import pytest

from actionbench.cli import main
from executor_cases import (assert_resumed_without_redoing, board, flaky, flaky_board, kill_mid_run,  # noqa: F401
                            local_board, markers, run_args)

pytest.importorskip("submitit", reason="the slurm extra is not installed (pip install -e '.[slurm]')")


def slurm(units_per_task: int) -> list[str]:
    return ["--executor", "slurm", "--set", "executor_settings.slurm.cluster=local",
            "--set", f"executor_settings.slurm.units_per_task={units_per_task}",
            "--set", "executor_settings.slurm.poll_seconds=0.1"]


@pytest.mark.slow
def test_slurm_job_arrays_give_the_local_board(fixture_benchmark, tmp_path, local_board):
    run = tmp_path / "run"
    assert main(run_args(fixture_benchmark, run, *slurm(units_per_task=2))) == 0
    assert len(markers(run)) == 12
    assert board(run).equals(local_board)
    logs = run / "slurm-logs"
    assert len(list(logs.glob("*_submitted.pkl"))) == 3 * 2  # one array of two tasks per stage
    assert len(list(logs.glob("*_result.pkl"))) == 3 * 2


@pytest.mark.slow
def test_killed_slurm_driver_resumes_without_redoing_finished_units(fixture_benchmark, tmp_path, flaky_board):
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, *slurm(units_per_task=4), *flaky(state, hold_action="arms_up"),
                    methods="text,flaky")
    # The train array's one task trains text/arms_up, text/arms_out, then waits on flaky/arms_up. The
    # driver is killed there; its job keeps running (as on Slurm) and finishes once the hold is gone,
    # while the resumed run's task waits for that unit's lock, then skips what is done.
    before = kill_mid_run(args, run, state, finished_before_kill=2, orphans_stop=False)
    assert main(args) == 0
    assert_resumed_without_redoing(run, before, flaky_board)


def test_without_slurm_the_executor_says_how_to_run_locally(fixture_benchmark, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    assert main(run_args(fixture_benchmark, tmp_path / "run", "--executor", "slurm")) == 2
    assert capsys.readouterr().err.strip() == (
        "actionbench: error: the slurm executor found no Slurm here ('sbatch' is not on PATH): run on a Slurm "
        "login node, or set executor_settings.slurm.cluster=local to run the job arrays on this machine.")
    assert not (tmp_path / "run").exists()


def test_slurm_settings_are_the_executors_own_table(tmp_path, capsys):
    from actionbench.config import RunConfig
    from actionbench.errors import ActionBenchError
    from actionbench.executors.base import ExecutorSettings, executor_settings
    from actionbench.executors.slurm import SlurmSettings

    table = {"cpus_per_task": 4, "slurm": {"partition": "gpu", "time_min": 60, "additional": {"account": "x"}}}
    shared, own = executor_settings(RunConfig(executor="slurm", executor_settings=table))
    assert shared == ExecutorSettings(cpus_per_task=4)
    assert own == SlurmSettings(partition="gpu", time_min=60, additional={"account": "x"})
    assert capsys.readouterr().err == ""
    # the flat keys of earlier versions give the same settings, with a note naming the new spelling
    flat = {"cpus_per_task": 4, "slurm_partition": "gpu", "slurm_time_min": 60, "slurm_additional": {"account": "x"}}
    assert executor_settings(RunConfig(executor="slurm", executor_settings=flat)) == (shared, own)
    assert capsys.readouterr().err.splitlines()[0] == (
        "actionbench: note: executor_settings.slurm_partition is deprecated: write executor_settings.slurm.partition "
        "(a [executor_settings.slurm] table in a config file)")
    for settings, message in [
        ({"slurm": {"partiton": "gpu"}}, "unknown setting 'partiton' in executor_settings.slurm: valid settings are "
         "additional, array_parallelism, cluster, folder, mem_gb, partition, poll_seconds, setup, time_min, "
         "units_per_task."),
        ({"slurm": {"cluster": "pbs"}}, "executor_settings.slurm.cluster is 'pbs': it must be one of slurm, local."),
        ({"slurm_partition": "a", "slurm": {"partition": "b"}}, "executor_settings.slurm_partition and "
         "executor_settings.slurm.partition are both given: keep executor_settings.slurm.partition."),
        ({"slurm": "gpu"}, "executor_settings.slurm is 'gpu', not a table: write executor_settings.slurm.KEY = VALUE."),
    ]:
        with pytest.raises(ActionBenchError) as error:
            executor_settings(RunConfig(executor="local", executor_settings=settings))  # checked whichever runs
        assert str(error.value) == message
