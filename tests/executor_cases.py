"""What the executor tests share: the runs they make, the reference boards, and a kill mid-run.

Every executor must give the board the in-process local executor gives, so each reference board is
computed once per session (in process, a few seconds) and compared with what the executor under
test writes. The kill happens at a known point: the ``flaky`` test method's training on one action
waits while a hold file exists, the test SIGKILLs the driver there, removes the hold and re-runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from actionbench.cli import main

PLUGINS = ",".join(str(Path(__file__).parent / "plugins" / name) for name in ("dummy_metric.py", "flaky.py"))
ACTIONS = ("arms_up", "arms_out")
ALL_STAGES = 3 * 4  # train, generate, score x (2 methods x 2 actions)
_BOARDS: dict[str, pd.DataFrame] = {}


def run_args(benchmark: Path, out: Path, *extra: str, methods: str = "text,plain") -> list[str]:
    return ["--plugins", PLUGINS, "run", "--benchmark", str(benchmark), "--methods", methods, "--actions", "all",
            "--metrics", "brightness", "--out", str(out), *extra]


def flaky(state: Path, **settings) -> list[str]:
    """--set arguments for the flaky method: its state folder and switches (failures, fail_action, hold_action)."""
    state.mkdir(parents=True, exist_ok=True)
    args = ["--set", f"flaky.state_dir='{state}'"]
    for key, value in settings.items():
        args += ["--set", f"flaky.{key}={value}"]
    return args


def markers(run: Path) -> dict[str, float]:
    """Every finished stage marker in the run and when it finished."""
    return {str(p.relative_to(run)): json.loads(p.read_text())["finished"]
            for p in run.glob("units/*/*/*.json") if not p.name.endswith((".failed.json", ".partial.json"))}


def board(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "leaderboard.csv")


def reference_board(name: str, benchmark: Path, tmp_path_factory, *extra: str, methods: str) -> pd.DataFrame:
    """The in-process local executor's board for this configuration, computed once per session."""
    if name not in _BOARDS:
        out = tmp_path_factory.mktemp("reference") / name
        assert main(run_args(benchmark, out, *extra, methods=methods)) == 0
        _BOARDS[name] = board(out)
    return _BOARDS[name]


@pytest.fixture(scope="session")
def local_board(fixture_benchmark, tmp_path_factory, tiny_pipeline_path) -> pd.DataFrame:
    """text and plain on both actions, in process."""
    return reference_board("text-plain", fixture_benchmark, tmp_path_factory, methods="text,plain")


@pytest.fixture(scope="session")
def flaky_board(fixture_benchmark, tmp_path_factory, tiny_pipeline_path) -> pd.DataFrame:
    """text and flaky (holding on arms_up, which nothing holds here) on both actions, in process."""
    state = tmp_path_factory.mktemp("flaky-reference")
    return reference_board("text-flaky", fixture_benchmark, tmp_path_factory,
                           *flaky(state, hold_action="arms_up"), methods="text,flaky")


def kill_mid_run(args: list[str], run: Path, state: Path, finished_before_kill: int,
                 orphans_stop: bool) -> dict[str, float]:
    """Start ``actionbench *args`` in a subprocess; SIGKILL it once flaky/arms_up waits on the hold file
    and ``finished_before_kill`` stage markers exist; remove the hold; return the markers at the kill.

    ``orphans_stop``: the worker holding flaky/arms_up must stop with the driver (local workers, Ray);
    on Slurm it keeps running, as cluster jobs do, and finishes once the hold is removed.
    """
    hold = state / "hold"
    hold.touch()
    process = subprocess.Popen([sys.executable, "-m", "actionbench", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 150
        while not ((state / "arms_up.waiting").exists() and len(markers(run)) >= finished_before_kill):
            if process.poll() is not None:
                raise AssertionError(f"the run ended before it could be killed:\n{process.stderr.read().decode()}")
            assert time.time() < deadline, "the run did not reach the hold in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if orphans_stop:
            worker = int((state / "arms_up.waiting").read_text())
            deadline = time.time() + 15
            while running(worker):
                assert time.time() < deadline, "a worker of the killed driver is still running"
                time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
        hold.unlink(missing_ok=True)
    before = markers(run)
    assert finished_before_kill <= len(before) < ALL_STAGES, "the kill must land mid-run"
    assert "units/flaky/arms_up/train.json" not in before
    return before


def running(pid: int) -> bool:
    """Whether a process runs (an exited orphan can linger as a zombie where nothing reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def assert_resumed_without_redoing(run: Path, before: dict[str, float], expected_board: pd.DataFrame) -> None:
    after = markers(run)
    assert len(after) == ALL_STAGES
    assert {key: after[key] for key in before} == before  # finished stages were not redone
    pd.testing.assert_frame_equal(board(run), expected_board)
