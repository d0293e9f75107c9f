"""Several runs on one board: pooled only where their numbers mean the same thing.

A board row per method pools that method's images over every run given. Runs split by action or by
method pool as one; a method run with other settings, other scorer weights or other metric settings,
or a unit present in two runs (its images counted twice) is refused with one line, and no board is
written.
"""

from __future__ import annotations

import pytest
from report_helpers import SUBJECTS, write_run

from actionbench.cli import main
from actionbench.errors import ActionBenchError
from actionbench.reports.leaderboard import OVERALL, leaderboard
from actionbench.reports.load import load_runs

ADI = {"steps": 150, "beta": 0.5}
AGREED = {"method_configs": {"adi": ADI, "text": {}, "plain": {}},
          "scorer_versions": {"pose": "mini-1", "clip": "mini-2"},
          "metric_configs": {"pose": {"scale": "torso"}, "subject": {}}}


def values(method, action, subject, seed):
    return {"pose_oks": 0.3 + 0.1 * seed + (0.2 if method == "adi" else 0.0)}


def run(tmp_path, name, methods=("adi",), actions=("cheer",), **changes):
    manifest = {key: {**value, **changes.get(key, {})} for key, value in AGREED.items()}
    return write_run(tmp_path / name, values, methods=methods, actions=actions, manifest=manifest)


def overall_n(data, method) -> int:
    board = leaderboard(data)
    return int(board[(board["method"] == method) & (board["action"] == OVERALL) & (board["score"] == "pose_oks")]["n"].iloc[0])


def test_runs_split_by_action_or_by_method_pool_into_one_board(tmp_path):
    by_action = load_runs([run(tmp_path, "a", actions=("cheer",)), run(tmp_path, "b", actions=("salute",))])
    assert overall_n(by_action, "adi") == 2 * len(SUBJECTS) * 3  # 2 actions x subjects x 3 seeds
    by_method = load_runs([run(tmp_path, "c", methods=("adi",)), run(tmp_path, "d", methods=("text",))])
    assert set(leaderboard(by_method)["method"]) == {"adi", "text"}


def test_a_method_run_with_other_settings_is_refused_in_one_line(tmp_path, capsys):
    board = run(tmp_path, "board", actions=("cheer",))
    longer = run(tmp_path, "longer", actions=("salute",), method_configs={"adi": {**ADI, "steps": 300}})
    out = tmp_path / "out"
    assert main(["report", str(longer), str(board), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: method 'adi' was run with different settings in {longer} and {board}: "
        "report these runs separately; their scores are not comparable.\n")
    assert not out.exists()


def test_a_unit_in_two_runs_is_refused_rather_than_counted_twice(tmp_path):
    first, again = run(tmp_path, "first"), run(tmp_path, "again")
    with pytest.raises(ActionBenchError) as error:
        load_runs([first, again])
    assert str(error.value) == (f"adi on cheer is in both {first} and {again}: its images would count twice: "
                                "report one of them, or these runs separately.")


def test_one_run_given_twice_is_read_once(tmp_path, monkeypatch):
    """``report r3 r3`` (or ``r3 ./r3``, or a link to it) counted every image twice: n doubled, the
    interval narrowed, nothing said."""
    once = run(tmp_path, "once")
    (tmp_path / "link").symlink_to(once)
    monkeypatch.chdir(tmp_path)
    data = load_runs([once, once, "./once", tmp_path / "link"])
    assert overall_n(data, "adi") == overall_n(load_runs([once]), "adi") == len(SUBJECTS) * 3
    assert list(data.manifests) == [str(once)]


@pytest.mark.parametrize("changes, problem", [
    ({"scorer_versions": {"pose": "mini-retrained"}}, "the pose scorer has different weights in"),
    ({"metric_configs": {"pose": {"scale": "coco_area"}}}, "metric 'pose' was scored with different settings in"),
])
def test_runs_scored_differently_are_refused(tmp_path, changes, problem):
    with pytest.raises(ActionBenchError, match=problem):
        load_runs([run(tmp_path, "a", actions=("cheer",)), run(tmp_path, "b", actions=("salute",), **changes)])


def test_runs_scored_by_different_versions_of_a_metric_are_refused(tmp_path):
    """A run written before the manifest recorded metric versions was scored at version 1 of every
    metric (versions began at 1); pooled with a run whose judge is at 2, the judge's scores differ in
    meaning, so the pool is refused; two runs at the same versions pool."""
    def versioned(name, action, versions):
        manifest = {**AGREED, "metrics": ["judge", "pose"], **({"metric_versions": versions} if versions else {})}
        return write_run(tmp_path / name, values, actions=(action,), manifest=manifest)

    old = versioned("old", "cheer", None)
    new = versioned("new", "salute", {"judge": 2, "pose": 1})
    with pytest.raises(ActionBenchError) as error:
        load_runs([old, new])
    assert str(error.value) == (f"metric 'judge' was scored by different versions of its code in {old} and {new}: "
                                "re-run the older run with 'actionbench run' (it re-scores only), or report them "
                                "separately.")
    also_new = versioned("also_new", "cheer", {"judge": 2, "pose": 1})
    assert overall_n(load_runs([also_new, new]), "adi") == 2 * len(SUBJECTS) * 3
    assert overall_n(load_runs([old, versioned("also_old", "salute", {"judge": 1, "pose": 1})]), "adi") == 24
