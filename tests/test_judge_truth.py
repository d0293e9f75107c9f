"""The judge measured against the mini world's truth (issue 17): renders whose action is known, at
the image qualities a generator produces, judged with the threshold the boards use.

Positives are the protocol's subjects rendered doing each action (what the ``oracle`` control
draws), negatives the same renders judged against every other action (what ``wrong_action``
draws). Kept small: 4 actions, one instance per subject (40 renders per level).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from actionbench.cli import main

ACTIONS = ["cheer", "handstand", "pray", "sit"]


@pytest.fixture(scope="module")
def results():
    from actionbench.cli.score import scorers_and_settings
    from actionbench.data import get_benchmark
    from actionbench.metrics.judge_validation import judge_against_truth
    from actionbench.mini.truth import mini_truth

    mini = get_benchmark("mini", with_custom=False)
    scorers, _ = scorers_and_settings([], mini.defaults)
    levels = mini_truth(mini, ACTIONS, seeds=(0,))
    return judge_against_truth(mini, [mini.actions[a] for a in ACTIONS], levels, scorers)


def test_levels_degrade_step_by_step_and_say_how_much(results):
    names = [r.level.name for r in results]
    assert names[:2] == ["render", "autoencoder"]
    distances = [r.level.distance for r in results]
    assert distances[0] == 0.0 and all(a < b for a, b in zip(distances, distances[1:]))
    sharpness = [r.level.sharpness for r in results]
    assert all(a > b for a, b in zip(sharpness[1:], sharpness[2:]))  # each extra blur is softer
    assert all(len(r.labels) == 10 * len(ACTIONS) for r in results)


def test_the_judge_separates_truth_at_every_level_a_person_can_read(results):
    """Balanced accuracy >= 0.90 at the render, the autoencoder and blur up to 1.0 px, the levels a
    person can still read (measured over all 8 actions in docs/judge.md: 0.96-0.98 there, and 0.91
    at 1.5 px, which is no longer legible; before the 32x32 keypoint network 1.0 px gave 0.88)."""
    readable = [r for r in results if r.level.name in ("render", "autoencoder", "autoencoder + blur 0.5 px",
                                                      "autoencoder + blur 0.75 px", "autoencoder + blur 1.0 px")]
    assert len(readable) == 5
    for result in readable:
        own, other, balanced = result.rates()
        assert balanced >= 0.90, (result.level.name, own, other)
        assert other <= 0.05, result.level.name
    illegible = results[-1]
    assert illegible.rates()[0] < results[1].rates()[0]  # the judge does not accept blur as the action


def test_renders_of_other_actions_are_refused_on_every_action(results):
    autoencoded = results[1]
    for action, (own, other) in autoencoded.per_action().items():
        assert other <= 0.1, action  # the wrong_action target
        assert own >= 0.8, action  # measured 0.87 to 1.0 over all 8 actions (30 each); the target is 0.9


def test_the_curve_and_the_best_threshold_are_consistent(results):
    result = results[1]
    best_threshold, best_accuracy = result.best()
    assert result.rates(best_threshold)[2] == pytest.approx(best_accuracy)
    assert best_accuracy >= result.rates()[2]
    json_form = result.to_json()
    assert set(json_form["curve"]) == {"0.50", "0.60", "0.70", "0.75", "0.80", "0.85", "0.90", "0.95"}
    assert np.isclose(json_form["balanced_accuracy"], result.rates()[2])


def test_validate_judge_prints_the_truth_section_on_mini(capsys, tmp_path):
    assert main(["validate-judge", "--benchmark", "mini", "--actions", "cheer,sit", "--json",
                 str(tmp_path / "figures.json")]) == 0
    out = capsys.readouterr().out
    assert "against the world's truth: 30 renders of each of 2 actions" in out
    for level in ("render", "autoencoder", "autoencoder + blur 1.5 px"):
        assert any(line.startswith(level + " ") for line in out.splitlines()), level
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert [level["level"] for level in figures["world_truth"]][:2] == ["render", "autoencoder"]
    assert figures["world_truth"][0]["balanced_accuracy"] >= 0.9


def test_no_truth_section_on_a_benchmark_without_a_world(capsys, fixture_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    assert main(["validate-judge", "--benchmark", str(fixture_benchmark), "--actions", "all",
                 "--set", "scorers.clip_model=tiny-random"]) == 0
    assert "world's truth" not in capsys.readouterr().out
