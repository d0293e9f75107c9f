"""The Slurm executor through submitit's local executor (no Slurm here): same board, report, kill and resume.

Each array task is a fresh Python process that imports torch, so the runs group units
(``slurm_units_per_task``) to keep the processes few: the arrays, retries and resumption are the same.
"""

from __future__ import annotations

import pytest

from actionbench.cli import main
from executor_cases import (assert_resumed_without_redoing, board, flaky, flaky_board, kill_mid_run,  # noqa: F401
                            local_board, markers, run_args)

pytest.importorskip("submitit", reason="the slurm extra is not installed (pip install -e '.[slurm]')")


def slurm(units_per_task: int) -> list[str]:
    return ["--executor", "slurm", "--set", "executor_settings.slurm_cluster=local",
            "--set", f"executor_settings.slurm_units_per_task={units_per_task}",
            "--set", "executor_settings.poll_seconds=0.1"]


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
        "login node, or set executor_settings.slurm_cluster=local to run the job arrays on this machine.")
    assert not (tmp_path / "run").exists()
