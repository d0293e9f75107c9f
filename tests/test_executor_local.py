"""The local executor: in process, or --workers N processes; retries, failure reports, kill and resume."""

from __future__ import annotations

import json
import os
from concurrent.futures import wait
from pathlib import Path

import pytest

from actionbench.cli import main
from actionbench.config import RunConfig
from executor_cases import (ACTIONS, assert_resumed_without_redoing, board, flaky, flaky_board,  # noqa: F401
                            kill_mid_run, markers, run_args)


def test_a_unit_failing_once_is_retried_and_the_run_completes(fixture_benchmark, tmp_path):
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, "--retries", "1",
                    *flaky(state, fail_action="arms_up", failures=1), methods="flaky")
    assert main(args) == 0
    assert (state / "arms_up.attempts").read_text() == "2"
    assert not (run / "units/flaky/arms_up/train.failed.json").exists()  # the success cleared the failure
    assert len(markers(run)) == 6
    assert set(board(run)["action"]) >= set(ACTIONS)


def test_a_unit_failing_always_is_reported_and_every_other_unit_finishes(fixture_benchmark, tmp_path, capsys):
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, "--retries", "2",
                    *flaky(state, fail_action="arms_up", failures=99), methods="text,flaky")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert ("actionbench: unit flaky/arms_up failed in train: "
            "RuntimeError: flaky failure on attempt 3 (at flaky.py:") in err
    assert "actionbench: 1 unit(s) failed; their finished stages are kept." in err
    assert (state / "arms_up.attempts").read_text() == "3"
    failure = json.loads((run / "units/flaky/arms_up/train.failed.json").read_text())
    assert failure["attempt"] == 3 and failure["error"].startswith("RuntimeError: flaky failure on attempt 3")
    done = markers(run)
    for method, action in [("text", "arms_up"), ("text", "arms_out"), ("flaky", "arms_out")]:
        assert f"units/{method}/{action}/score.json" in done
    assert not any(key.startswith("units/flaky/arms_up/") for key in done)
    rows = board(run)
    assert set(zip(rows["method"], rows["action"])) >= {("text", "arms_up"), ("text", "arms_out"),
                                                        ("flaky", "arms_out")}
    assert ("flaky", "arms_up") not in set(zip(rows["method"], rows["action"]))


def test_a_failed_reference_unit_is_named_for_every_unit_it_leaves_unscored(fixture_benchmark, tmp_path, capsys):
    # gap_to_flaky compares every image with flaky's: flaky/_shared is a reference unit that all scores need.
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, *flaky(state, fail_action="arms_up", failures=99), methods="text")
    args[args.index("brightness")] = "brightness,gap_to_flaky"
    assert main(args + ["--no-report"]) == 1
    err = capsys.readouterr().err
    assert "unit flaky/_shared failed in train: RuntimeError: flaky failure on attempt 1" in err
    for action in ACTIONS:
        assert f"unit text/{action} failed in score: not scored: reference unit flaky/_shared failed" in err
        assert f"units/text/{action}/generate.json" in markers(run)  # its own stages finished


@pytest.mark.slow
def test_killed_worker_run_resumes_without_redoing_finished_units(fixture_benchmark, tmp_path, flaky_board):
    # Also the workers' board check: the resumed run's board equals the in-process executor's.
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, "--workers", "2", *flaky(state, hold_action="arms_up"),
                    methods="text,flaky")
    # One worker waits on flaky/arms_up; the other finishes the three other units, then the driver dies.
    before = kill_mid_run(args, run, state, finished_before_kill=9, orphans_stop=True)
    assert main(args) == 0
    assert_resumed_without_redoing(run, before, flaky_board)


def test_gpus_are_read_from_cuda_visible_devices(monkeypatch):
    from actionbench.executors.base import visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,-1,3")  # CUDA ignores everything after an invalid id
    assert visible_gpus() == ["1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_each_worker_process_sees_its_own_gpu_round_robin(monkeypatch, tmp_path):
    from actionbench.executors.local import WorkerPoolExecutor

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    executor = WorkerPoolExecutor(RunConfig(workers=3, out=str(tmp_path)))
    assert [executor.gpu_of_worker(i) for i in range(3)] == ["5", "7", "5"]
    assert WorkerPoolExecutor(RunConfig(workers=2, device="cpu", out=str(tmp_path))).gpus == []

    executor = WorkerPoolExecutor(RunConfig(workers=2, out=str(tmp_path)))
    pool = executor._start_pool()
    try:
        # Each call waits until both have started, so the two run in two different workers.
        futures = [pool.submit(report_gpu_when_both_started, str(tmp_path), 2) for _ in range(2)]
        wait(futures, timeout=120)
        assert sorted(f.result() for f in futures) == ["5", "7"]
    finally:
        pool.shutdown()


def report_gpu_when_both_started(folder: str, count: int) -> str:
    import time

    Path(folder, f"started-{os.getpid()}").touch()
    deadline = time.time() + 60
    while len(list(Path(folder).glob("started-*"))) < count and time.time() < deadline:
        time.sleep(0.02)
    return os.environ["CUDA_VISIBLE_DEVICES"]


def test_bad_worker_count_and_unknown_settings_are_refused(fixture_benchmark, tmp_path, capsys):
    assert main(run_args(fixture_benchmark, tmp_path / "a", "--workers", "0")) == 2
    assert capsys.readouterr().err.strip() == "actionbench: error: --workers is 0: give 1 or more."
    many = 4 * (os.cpu_count() or 1) + 1  # 100000 hung for good: the pool's start-up queue filled before any worker ran
    assert main(run_args(fixture_benchmark, tmp_path / "c", "--workers", str(many))) == 2
    assert capsys.readouterr().err.strip() == (f"actionbench: error: --workers is {many}, more than this machine can "
                                               f"run: give at most {many - 1} (4 per core).")
    assert not (tmp_path / "c").exists()
    assert main(run_args(fixture_benchmark, tmp_path / "b", "--set", "executor_settings.ray_adress=auto")) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("actionbench: error: unknown setting 'ray_adress' in executor_settings: valid settings are "
                   "cpus_per_task, gpus_per_task, score_gpus, or a table of one executor's own: local.KEY, ray.KEY, "
                   "slurm.KEY.")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before touching the run
