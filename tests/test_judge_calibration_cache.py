"""The judge's calibration cache: a threshold calibrated with a folder action beside the benchmark's
own (``actionbench score --action FOLDER``) is kept apart from the benchmark's, which every later
board of the benchmark reads from the same cache."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from actionbench.data.model import MINI_RENDER, Action, Exemplar


def folder_action(folder: Path) -> Action:
    """10 renders of the mini world's held-in action "standing", people in every colour and scene,
    as a folder action of the mini world's domain would hold them (not one of the benchmark's)."""
    from actionbench.fileio import file_sha256
    from actionbench.mini.benchmark import action_instance, exemplar_factors
    from actionbench.mini.scenes import render

    folder.mkdir(parents=True)
    exemplars = []
    for index, (colour, scene) in enumerate(exemplar_factors(0)):
        path = folder / f"standing-{index}.png"
        Image.fromarray(render(action_instance("standing", 8_000_000 + index, "person", colour, scene)).image).save(path)
        exemplars.append(Exemplar(path, file_sha256(path), "a figure {}", "a figure"))
    return Action("standing", "standing upright", tuple(exemplars), domain=MINI_RENDER)


def test_a_folder_action_calibrated_beside_the_benchmark_never_becomes_the_benchmarks_threshold(tmp_path, monkeypatch):
    from actionbench.cli.score import scorers_and_settings
    from actionbench.data import get_benchmark
    from actionbench.metrics.base import ScoringContext
    from actionbench.metrics.judge import JudgeSettings, benchmark_calibration

    mini = get_benchmark("mini", with_custom=False)
    scorers, _ = scorers_and_settings([], mini.defaults)
    own_action = next(iter(mini.actions.values()))
    standing = folder_action(tmp_path / "standing")

    def threshold(action: Action) -> float:
        """As a new process reads it: nothing shared in memory, only the cache on disk."""
        return benchmark_calibration(ScoringContext(mini, action, scorers, shared={}), JudgeSettings()).threshold

    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "clean-home"))
    clean = threshold(own_action)
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    beside = threshold(standing)  # `score --action FOLDER` first: its calibration is written to the cache
    assert beside != clean  # the folder action moves the calibration it joins (so this test can tell)
    assert threshold(own_action) == clean  # a later board of the benchmark still reads the benchmark's own
