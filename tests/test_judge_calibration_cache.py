"""The judge's calibration cache: a threshold calibrated with a folder action beside the benchmark's
own (``actionbench score --action FOLDER``) is kept apart from the benchmark's, which every later
board of the benchmark reads from the same cache."""

from __future__ import annotations


def test_a_folder_action_calibrated_beside_the_benchmark_never_becomes_the_benchmarks_threshold(tmp_path, monkeypatch):
    from actionbench.cli.score import scorers_and_settings
    from actionbench.data import get_benchmark
    from actionbench.metrics.base import ScoringContext
    from actionbench.metrics.judge import JudgeSettings, benchmark_calibration
    from actionbench.mini.quality import held_in_action

    mini = get_benchmark("mini", with_custom=False)
    scorers, _ = scorers_and_settings([], mini.defaults)
    own_action = next(iter(mini.actions.values()))
    standing = held_in_action("standing", tmp_path / "standing")  # a folder action of the mini world's domain

    def threshold(action) -> float:
        """As a new process reads it: nothing shared in memory, only the cache on disk."""
        return benchmark_calibration(ScoringContext(mini, action, scorers, shared={}), JudgeSettings()).threshold

    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "clean-home"))
    clean = threshold(own_action)
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    beside = threshold(standing)  # `score --action FOLDER` first: its calibration is written to the cache
    assert beside != clean  # the folder action moves the calibration it joins (so this test can tell)
    assert threshold(own_action) == clean  # a later board of the benchmark still reads the benchmark's own
