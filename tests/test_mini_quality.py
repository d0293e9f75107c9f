"""The mini quality checks' legibility section: its instruments give the known answers on controls."""

from __future__ import annotations

import numpy as np
from PIL import Image

from actionbench.mini.quality import autoencoded, held_in_rows, legibility_lines, legibility_scores, render_held_in


def test_legibility_scores_know_a_render_from_a_wrong_label_and_an_empty_scene():
    from actionbench.mini.judge import load_judge
    from actionbench.mini.keypoints import MiniKeypointBackend
    from actionbench.mini.scenes import random_spec, render

    judge, backend = load_judge(), MiniKeypointBackend()
    rows = held_in_rows(20, seed=3)
    renders = render_held_in(rows, seed=3)
    truth = legibility_scores(renders, rows, judge, backend)
    assert truth["species"] >= 0.9 and truth["colour"] >= 0.9 and truth["scene"] >= 0.9, truth
    assert truth["oks"] >= 0.8, truth  # the world's own drawing of the named actions
    for name in ("oks", "species"):  # each with its interval over the 20 images
        assert truth[f"{name}_low"] <= truth[name] <= truth[f"{name}_high"], truth
    assert truth["oks_low"] < truth["oks_high"]  # the images' agreements differ, so the interval has width
    other = {"person": "cat", "cat": "bear", "bear": "robot", "robot": "bird", "bird": "person"}
    relabelled = [(other[s], c, sc, a) for s, c, sc, a in rows]  # the same images, every species label wrong
    assert legibility_scores(renders, relabelled, judge, backend)["species"] <= 0.1
    empty = [Image.fromarray(render(random_spec(i, species=s, colour=c, scene=sc, pose_name="none")).image)
             for i, (s, c, sc, a) in enumerate(rows)]
    assert legibility_scores(empty, rows, judge, backend)["oks"] < truth["oks"] - 0.3  # no figure, no pose


def test_the_autoencoder_stage_reconstructs_renders():
    from actionbench.base_models import resolve_base_model

    pipe = resolve_base_model("mini").load("cpu")
    renders = render_held_in(held_in_rows(6, seed=1), seed=1)
    rebuilt = autoencoded(pipe, renders)
    assert [im.size for im in rebuilt] == [im.size for im in renders]
    error = np.mean([np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean()
                     for a, b in zip(renders, rebuilt)])
    assert 0 < error < 25, error  # lossy but close (8x8x4 latents of 32x32 images)


def test_the_legibility_table_prints_one_line_per_stage():
    table = {"renders": {"oks": 0.9, "species": 1.0, "colour": 1.0, "scene": 1.0, "action_own": 1.0, "action_other": 0.02},
             "base model": {"oks": 0.77, "species": 0.86, "colour": 0.98, "scene": 1.0, "action_own": 0.8,
                            "action_other": 0.016}}
    lines = legibility_lines(table)
    assert len(lines) == 3 and "pose OKS" in lines[0] and "judge: own action / another" in lines[0]
    assert lines[2].split()[-7:] == ["0.770", "0.860", "0.980", "1.000", "0.800", "/", "0.016"]
    table["base model"].update(oks_low=0.745, oks_high=0.792)
    with_interval = legibility_lines(table)
    assert with_interval[2].split()[-9:-3] == ["0.770", "[0.745,", "0.792]", "0.860", "0.980", "1.000"]
    assert with_interval[0].index("95% CI") == with_interval[2].index("[0.745")  # under its header


def test_a_bar_prints_its_interval_between_value_and_target():
    from actionbench.mini.quality import Bar

    line = Bar("pose", 0.747, ">= 0.80", False, (0.722, 0.771)).line()
    assert line.startswith("FAIL") and line.split()[-5:] == ["0.747", "[0.722,", "0.771]", ">=", "0.80"]
    assert Bar("pose", 0.747, ">= 0.80", False).line().split()[-3:] == ["0.747", ">=", "0.80"]


def test_the_legibility_tables_base_row_is_the_base_models_bar_measurement():
    from actionbench.base_models import resolve_base_model
    from actionbench.mini.judge import load_judge
    from actionbench.mini.keypoints import MiniKeypointBackend
    from actionbench.mini.quality import LEGIBILITY_STAGES, base_model_scores, legibility_table

    table = legibility_table(10, seed=2, steps=4, guidance=5.0)
    assert tuple(table) == LEGIBILITY_STAGES
    pipe = resolve_base_model("mini").load("cpu")
    alone = base_model_scores(pipe, 10, 2, 4, 5.0, load_judge(), MiniKeypointBackend())
    judged = {k: v for k, v in table["base model"].items() if not k.startswith("action_")}
    assert judged == alone  # run_quality reuses the row instead of generating twice
    assert 0 <= table["base model"]["action_own"] <= 1  # the action judge's column, measured on the same images


def test_a_guidance_row_draws_the_base_rows_prompts_and_seeds_at_its_own_scale():
    from actionbench.mini.quality import guidance_stage, legibility_table

    table = legibility_table(10, seed=2, steps=4, guidance=5.0, other_guidances=(5.0, 1.0))
    assert list(table)[3:] == ["base model, guidance 5", "base model, guidance 1"]
    assert table[guidance_stage(5.0)] == table["base model"]  # the same images at the same scale
    assert table[guidance_stage(1.0)] != table["base model"]  # the scale reaches the sampler


def test_the_board_judge_accepts_renders_of_held_in_actions_as_their_own_and_not_as_another():
    """The control with a known answer for the legibility table's judge column: the world's renders
    of held-in actions, judged with the mini board's threshold against held-in exemplars."""
    from actionbench.mini.quality import judge_acceptance

    rows = held_in_rows(20, seed=3)
    renders = render_held_in(rows, seed=3)
    shuffled = renders[1:] + renders[:1]  # each image now drawn for the next row's action
    rates = judge_acceptance({"renders": renders, "shifted": shuffled}, rows)
    assert rates["renders"][0] >= 0.9 and rates["renders"][1] <= 0.1, rates
    assert rates["shifted"][0] <= 0.3, rates  # another action's render is not its own


def test_held_in_exemplars_are_people_in_every_colour_and_scene(tmp_path):
    from actionbench.mini.quality import held_in_action

    action = held_in_action("waving", tmp_path / "waving")
    assert action.name == "waving" and len(action.exemplars) == 10 and action.domain == "mini-render"
    assert all(e.image_path.is_file() and e.image_path.parent == tmp_path / "waving" for e in action.exemplars)
    assert len({e.sha256 for e in action.exemplars}) == 10  # ten different renders
