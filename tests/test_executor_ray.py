"""The Ray executor on a local cluster started by the test (one per module): same board, retries, kill."""

from __future__ import annotations

import pytest

from actionbench.cli import main
from executor_cases import (assert_resumed_without_redoing, board, flaky, flaky_board, kill_mid_run,  # noqa: F401
                            local_board, markers, run_args)

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")


@pytest.fixture(scope="module")
def cluster():
    """A two-CPU local Ray cluster shared by this module's tests; its address lets other drivers join it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_ray_gives_the_local_board(cluster, fixture_benchmark, tmp_path, local_board):
    run = tmp_path / "run"
    assert main(run_args(fixture_benchmark, run, "--executor", "ray")) == 0
    assert len(markers(run)) == 12
    assert board(run).equals(local_board)
    assert ray.is_initialized()  # a cluster the executor did not start is left running


def test_a_unit_failing_once_on_ray_is_retried(cluster, fixture_benchmark, tmp_path):
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, "--executor", "ray", "--retries", "1",
                    *flaky(state, fail_action="arms_out", failures=1), methods="text,flaky")
    assert main(args) == 0
    assert (state / "arms_out.attempts").read_text() == "2"  # counted across worker processes
    assert len(markers(run)) == 12


def test_a_unit_failing_always_on_ray_is_reported(cluster, fixture_benchmark, tmp_path, capsys):
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, "--executor", "ray", "--retries", "1",
                    *flaky(state, fail_action="arms_out", failures=99), methods="text,flaky")
    assert main(args + ["--no-report"]) == 1
    err = capsys.readouterr().err
    assert "actionbench: unit flaky/arms_out failed in train: RuntimeError: flaky failure on attempt 2" in err
    assert len(markers(run)) == 9  # the three other units finished every stage


@pytest.mark.slow
def test_killed_ray_driver_resumes_without_redoing_finished_units(cluster, fixture_benchmark, tmp_path,
                                                                  flaky_board):
    state, run = tmp_path / "state", tmp_path / "run"
    args = run_args(fixture_benchmark, run, *flaky(state, hold_action="arms_up"), methods="text,flaky")
    # A second driver joins the test's cluster; one task waits on flaky/arms_up while the other CPU
    # finishes the three other units; then that driver is killed and this process resumes the run.
    before = kill_mid_run(args + ["--ray-address", cluster], run, state, finished_before_kill=9, orphans_stop=True)
    assert main(args + ["--executor", "ray"]) == 0
    assert_resumed_without_redoing(run, before, flaky_board)


def test_ray_settings_are_the_executors_own_table(capsys):
    from actionbench.config import RunConfig
    from actionbench.executors.base import executor_settings
    from actionbench.executors.ray import RaySettings

    own = executor_settings(RunConfig(executor="ray", executor_settings={"ray": {"address": "auto", "num_cpus": 2}}))[1]
    assert own == RaySettings(address="auto", num_cpus=2) and capsys.readouterr().err == ""
    flat = executor_settings(RunConfig(executor="ray", executor_settings={"ray_address": "auto", "ray_num_cpus": 2}))[1]
    assert flat == own
    assert capsys.readouterr().err.splitlines() == [
        "actionbench: note: executor_settings.ray_address is deprecated: write executor_settings.ray.address "
        "(a [executor_settings.ray] table in a config file)",
        "actionbench: note: executor_settings.ray_num_cpus is deprecated: write executor_settings.ray.num_cpus "
        "(a [executor_settings.ray] table in a config file)"]


def test_ray_address_flag_fills_the_ray_table(fixture_benchmark, tmp_path):
    from actionbench.cli import build_parser
    from actionbench.cli.run import config_from_args

    args = build_parser().parse_args(run_args(fixture_benchmark, tmp_path / "run", "--ray-address", "auto"))
    config = config_from_args(args)
    assert config.executor == "ray" and config.executor_settings == {"ray": {"address": "auto"}}


def test_an_unreachable_ray_address_is_one_clear_line():
    from actionbench.errors import ActionBenchError
    from actionbench.executors.ray import _check_reachable

    with pytest.raises(ActionBenchError) as error:
        _check_reachable("127.0.0.1:1")  # nothing listens on port 1: refused at once, not retried for minutes
    assert str(error.value) == ("no Ray cluster answers at 127.0.0.1:1 (Connection refused): "
                                "start it with 'ray start --head', or check --ray-address.")
