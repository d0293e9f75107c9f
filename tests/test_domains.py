"""The right eyes for every image (issue 17): an action's exemplars carry their domain, and a
benchmark refuses, with one line naming the right ``--benchmark``, actions its scorers were not
made for. Before this, ``validate-judge --actions <photo actions>`` on the default (mini) benchmark
read photos with the 32-px world's keypoint network and printed 0.22 with no warning."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from actionbench.cli import main
from actionbench.errors import ActionBenchError
from fixtures import COLOURS, POSES, draw_figure

REFUSAL = ("action 'my_up' holds photos, but benchmark mini's scorers were made for mini-world renders: pass "
           "--benchmark actionbench (or a benchmark folder whose defaults say domain = \"photo\").")


@pytest.fixture()
def home_with_photo_actions(tmp_path, monkeypatch) -> Path:
    """A home holding two custom actions added from photos (drawn figures, as a user's photos would be)."""
    home = tmp_path / "home"
    monkeypatch.setenv("ACTIONBENCH_HOME", str(home))
    for name, pose in (("my_up", "arms_up"), ("my_out", "arms_out")):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(3):
            draw_figure(POSES[pose], COLOURS[i], 230 - 20 * i).save(folder / f"{i:02d}.png")
        assert main(["data", "add-action", name, "--images", str(folder), "--description", f"{pose} pose"]) == 0
    return home


def test_add_action_marks_photos(home_with_photo_actions):
    spec = tomllib.loads((home_with_photo_actions / "actions" / "my_up" / "action.toml").read_text())
    assert spec["domain"] == "photo"


def test_an_unknown_domain_is_refused(tmp_path):
    from actionbench.data import load_action

    folder = tmp_path / "odd"
    folder.mkdir()
    draw_figure(POSES["arms_up"], COLOURS[0], 200).save(folder / "00.png")
    (folder / "action.toml").write_text('name = "odd"\ndescription = "arms up"\ndomain = "painting"\n'
                                        '[[exemplars]]\nfile = "00.png"\n')
    with pytest.raises(ActionBenchError) as error:
        load_action(folder)
    assert str(error.value) == (f"action 'odd' has domain 'painting': set domain in {folder / 'action.toml'} to one "
                                "of photo, mini-render.")


def test_validate_judge_on_mini_refuses_photo_actions_with_one_line(home_with_photo_actions, capsys):
    assert main(["validate-judge", "--actions", "my_up,my_out"]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {REFUSAL}\n"


def test_score_and_run_refuse_them_too(home_with_photo_actions, tmp_path, capsys):
    image = home_with_photo_actions / "actions" / "my_up" / "00.png"
    assert main(["score", str(image), "--action", "my_up"]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {REFUSAL}\n"
    assert main(["score", str(image), "--action", str(home_with_photo_actions / "actions" / "my_up")]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {REFUSAL}\n"
    assert main(["run", "--methods", "blank", "--actions", "cheer,my_up", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {REFUSAL}\n"
    assert not (tmp_path / "run").exists()


def test_all_leaves_them_out_of_mini_with_a_notice_and_out_of_its_calibration(home_with_photo_actions):
    from actionbench.config import RunConfig
    from actionbench.data import get_benchmark, resolve_actions
    from actionbench.metrics.judge import calibration_actions
    from actionbench.plan import build_plan

    mini = get_benchmark("mini")
    assert {"my_up", "my_out"} <= set(mini.actions)  # custom actions join every benchmark ...
    assert [a.name for a in resolve_actions(mini, "all")] == [
        "cheer", "gesture", "handstand", "meditate", "pray", "salute", "sit", "squat"]  # ... but not mini's "all"
    assert sorted(calibration_actions(mini)) == sorted(a.name for a in resolve_actions(mini, "all"))
    plan = build_plan(RunConfig(methods=["blank"], actions=["all"], metrics=["pose"], out="unused"))
    assert "my_up" not in plan.actions
    assert f"action my_up left out: {REFUSAL[:-1].replace(': pass', '; pass')}" in plan.notices


def test_photo_actions_are_welcome_on_a_photo_benchmark(home_with_photo_actions, fixture_benchmark):
    from actionbench.data import get_benchmark, resolve_actions
    from actionbench.data.domains import benchmark_domain

    bench = get_benchmark(str(fixture_benchmark))
    assert benchmark_domain(bench) == "photo"
    assert [a.name for a in resolve_actions(bench, "my_up,arms_up")] == ["my_up", "arms_up"]
    assert {"my_up", "my_out", "arms_up", "arms_out"} == {a.name for a in resolve_actions(bench, "all")}


def test_mini_renders_are_refused_by_a_photo_benchmark(fixture_benchmark, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    from actionbench.data import get_benchmark

    cheer = get_benchmark("mini", with_custom=False).actions["cheer"]
    assert main(["score", str(cheer.exemplars[0].image_path), "--action", str(cheer.root),
                 "--benchmark", str(fixture_benchmark)]) == 2
    assert capsys.readouterr().err == (
        "actionbench: error: action 'cheer' holds mini-world renders, but benchmark fixture's scorers were made for "
        "photos: pass --benchmark mini (or a benchmark folder whose defaults say domain = \"mini-render\").\n")
