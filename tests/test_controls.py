"""Control methods: where each must land on every metric and on the judge (issue 17).

One small run on the mini world (3 actions, 1 seed, 10 subjects: 30 images per control) trains
and generates the four controls in seconds; the assertions are the orderings a working metric
must give. ``oracle``'s Action is asserted near the level measured (docs/judge.md: with the 32x32
keypoint network the judge accepts 0.87 to 1.0 of autoencoded truth per action, 30 renders each;
the issue's target is 0.9); a metric change that breaks an ordering fails here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from actionbench.cli import main
from actionbench.errors import Unavailable

CONTROLS = ("copy_exemplar", "blank", "oracle", "wrong_action")
pytestmark = pytest.mark.slow  # one end-to-end run of the CLI (about a minute)


@pytest.fixture(scope="module")
def control_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("controls") / "run"
    assert main(["run", "--methods", ",".join(CONTROLS), "--actions", "cheer,pray,squat", "--seeds", "0",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def board(control_run) -> dict[str, dict[str, float]]:
    """method -> score -> mean over both actions (the board's "overall" row)."""
    means: dict[str, dict[str, float]] = {}
    with (control_run / "leaderboard.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["action"] == "overall" and row["mean"] not in ("", "nan"):
                means.setdefault(row["method"], {})[row["score"]] = float(row["mean"])
    return means


def test_the_manifest_names_the_controls_and_the_judge_calibration(control_run):
    manifest = json.loads((control_run / "manifest.json").read_text())
    assert manifest["controls"] == list(CONTROLS)
    assert manifest["calibration"]["judge"].startswith(
        "leave-one-out over the exemplars of benchmark mini (version ")
    assert "domain mini-render): 8 actions (cheer, gesture, handstand, meditate, pray, salute, sit, squat)" in \
        manifest["calibration"]["judge"]


def test_copy_exemplar_is_the_ceiling_of_pose_and_leakage_and_misses_the_subject(board):
    copy = board["copy_exemplar"]
    others = [board[m] for m in CONTROLS if m != "copy_exemplar"]
    assert copy["pose_oks"] == pytest.approx(1.0)  # its nearest exemplar is itself
    assert copy["action_correct"] == 1.0
    assert copy["subject_correct"] <= 0.2  # people in the exemplars' colours: 2 of the 10 subjects are people
    assert copy["total_correct"] <= 0.2
    for score in ("leakage", "context_similarity", "clip_i"):
        assert all(copy[score] > other[score] for other in others), score


def test_blank_is_the_floor(board):
    blank = board["blank"]
    others = [board[m] for m in CONTROLS if m != "blank"]
    assert blank["action_correct"] == 0.0 and blank["total_correct"] == 0.0
    # No figure, no subject: CLIP's argmax over the 10 subjects gave a grey image the prompted one 1 time
    # in 10. The subject metric's classifier (subject_top1) still reads chance, as a classifier does.
    assert blank["subject_correct"] == 0.0
    assert blank["subject_top1"] <= 0.2
    for score in ("clip_i", "clip_t", "leakage", "context_similarity"):
        assert all(blank[score] < other[score] for other in others), score
    # An image that ignores the prompted subject (blank, copy_exemplar: the same image for all 10
    # subjects) has subject_prob exactly 1/10 on average, the probabilities over the subjects summing to 1.
    assert blank["subject_prob"] == pytest.approx(0.1) and board["copy_exemplar"]["subject_prob"] == pytest.approx(0.1)
    assert all(blank["subject_prob"] < board[m]["subject_prob"] for m in ("oracle", "wrong_action"))
    assert blank["pose_oks"] < 0.1 and all(blank["pose_oks"] < board[m]["pose_oks"] for m in CONTROLS if m != "blank")


def test_blank_shows_no_action_and_no_subject_on_any_action(control_run):
    # The judge's CLIP path takes the argmax over the benchmark's actions, so a flat image was
    # "doing" one of them (squat: 30 of 30 in the reproduction run). The mini keypoint network reads
    # every species, so no figure found means no action shown.
    with (control_run / "leaderboard.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle)
                if row["method"] == "blank" and row["score"] in ("action_correct", "subject_correct")]
    assert {row["action"] for row in rows} == {"cheer", "pray", "squat", "overall"}
    assert all(float(row["mean"]) == 0.0 for row in rows), rows


def test_blank_shows_no_figure(board):
    """A flat grey image shows no one: no pose is found, and with no person counted as 0 its pose
    agreement is 0 (the keypoint network once read a figure into it: issue 17)."""
    assert board["blank"]["pose_detected"] == 0.0
    assert board["blank"]["pose_oks"] == 0.0


def test_oracle_shows_subject_and_action_and_wrong_action_only_the_subject(board):
    oracle, wrong = board["oracle"], board["wrong_action"]
    assert oracle["subject_correct"] >= 0.9
    # CLIP's subject judgement misses some subjects upside down or folded (measured 0.7)
    assert wrong["subject_correct"] >= 0.6 and wrong["subject_correct"] > board["blank"]["subject_correct"]
    assert oracle["action_correct"] >= 0.85  # measured 0.933 here (0.85 with the 16x16 keypoints); target 0.9
    assert wrong["action_correct"] <= 0.1
    assert oracle["total_correct"] >= 0.85 and wrong["total_correct"] <= 0.1
    assert oracle["pose_oks"] > wrong["pose_oks"]
    assert oracle["clip_t"] > wrong["clip_t"]  # the prompt with the action in words
    assert oracle["leakage"] < board["copy_exemplar"]["leakage"]


def test_renders_of_the_prompted_subject_and_scene_copy_nothing(board):
    """``oracle`` and ``wrong_action`` draw the prompted subject in the prompted scene: they copy no
    exemplar, so their leakage is about 0 (-0.007 and -0.008 over the reproduction run's 240 images).
    Before exemplars in the scene the prompt asks for were left out, they read +0.12, more than any
    trained method, because they draw the prompted scene better than ``plain`` does (issue 17)."""
    for method in ("oracle", "wrong_action"):
        assert abs(board[method]["leakage"]) <= 0.03, (method, board[method]["leakage"])
    assert board["copy_exemplar"]["leakage"] >= 0.5


def test_controls_train_in_no_time(control_run):
    for method in CONTROLS:
        for action in ("cheer", "pray"):
            marker = json.loads((control_run / "units" / method / action / "train.json").read_text())
            assert marker["seconds"] < 5, (method, action, marker["seconds"])  # base model loading aside


def test_copy_exemplar_records_which_exemplar_each_image_copies(control_run):
    from actionbench.methods.controls import CopyExemplar

    artifact = control_run / "units" / "copy_exemplar" / "cheer" / "artifact"
    record = json.loads((artifact / "control.json").read_text())
    assert len(record["exemplars"]) == 10 and record["size"] == 32
    chosen = CopyExemplar.chosen_files(artifact, list(range(30)))
    assert len({p.name for p in chosen}) >= 8  # drawn over all exemplars, not always the first
    assert chosen == CopyExemplar.chosen_files(artifact, list(range(30)))


def test_world_controls_are_unavailable_off_the_mini_world(fixture_benchmark):
    from actionbench.config import RunConfig
    from actionbench.data import get_benchmark
    from actionbench.methods import METHODS
    from actionbench.plan import build_plan

    action = next(iter(get_benchmark(str(fixture_benchmark)).actions.values()))
    with pytest.raises(Unavailable) as error:
        METHODS.get("oracle")().check(action, METHODS.get("oracle").config_cls())
    assert str(error.value) == (f"oracle draws with the mini world's renderer and action '{action.name}' is not one of "
                                "its held-out actions: run it with --benchmark mini, or leave it out of --methods.")
    plan = build_plan(RunConfig(benchmark=str(fixture_benchmark), methods="all", actions="all"))
    assert "oracle" not in plan.methods and "wrong_action" not in plan.methods
    assert {"copy_exemplar", "blank"} <= set(plan.methods)
    assert any(n.startswith("method oracle left out: oracle draws with the mini world's renderer") for n in plan.notices)


def test_every_builtin_control_says_so_and_no_other_method_does():
    from actionbench.methods import METHODS

    flagged = [name for name in METHODS.names() if getattr(METHODS.get(name), "control", False)]
    assert flagged == list(CONTROLS)
