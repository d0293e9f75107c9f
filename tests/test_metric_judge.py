"""The automated Action / Subject / Total judge: both decision paths, and on real photos (leave-one-out)."""

from __future__ import annotations

import dataclasses

import numpy as np
from skimage import data

from actionbench.metrics import METRICS
from actionbench.metrics.judge import POSE_THRESHOLD, JudgeSettings, action_by_clip, action_by_pose
from conftest import shared_path
from metric_helpers import (CAT, MAN, FakeClipModel, action_from_files, benchmark_of, context_for, fake_clip_context,
                            records_for, save, solid, textured)
from test_metric_pose import ACTIONBENCH_ACTIONS

RED, BLUE, GREEN = (200, 0, 0), (0, 0, 200), (0, 200, 0)


def test_functional_paths():
    assert action_by_pose(POSE_THRESHOLD) == 1.0 and action_by_pose(POSE_THRESHOLD - 1e-9) == 0.0
    assert np.isnan(action_by_pose(float("nan")))
    texts = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert action_by_clip(np.array([[0.9, 0.1], [0.2, 0.8], [np.nan, 0.0]]), texts, target=1)[:2].tolist() == [0.0, 1.0]
    assert np.isnan(action_by_clip(np.array([[np.nan, 0.0]]), texts, target=1)[0])


def test_without_a_person_clip_decides_among_all_actions_and_subjects(tmp_path):
    # 4-d embeddings: [cat, man, cheering, saluting]; red = a cat cheering, blue = a man saluting.
    model = FakeClipModel({RED: [1.0, 0.0, 1.0, 0.0], BLUE: [0.0, 1.0, 0.0, 1.0]},
                          {"cat": [1.0, 0.0, 0.0, 0.0], "man": [0.0, 1.0, 0.0, 0.0],
                           "cheering": [0.0, 0.0, 1.0, 0.0], "saluting": [0.0, 0.0, 0.0, 1.0]})
    red, blue = save(textured(RED), tmp_path / "red.png"), save(textured(BLUE), tmp_path / "blue.png")
    cheer = action_from_files("cheer", [red], description="cheering")
    salute = action_from_files("salute", [blue], description="saluting")
    benchmark = benchmark_of([cheer, salute])
    context = fake_clip_context(context_for(benchmark, cheer), model)
    results = METRICS.get("judge")().score(records_for([red, blue, red], cheer, subjects=[CAT, MAN, MAN]), context)
    values = [r.values for r in results]
    assert values[0] == {"action_correct": 1.0, "subject_correct": 1.0, "total_correct": 1.0, "judged_by_pose": 0.0,
                         "judge_threshold": POSE_THRESHOLD}
    assert values[1] == {"action_correct": 0.0, "subject_correct": 1.0, "total_correct": 0.0, "judged_by_pose": 0.0,
                         "judge_threshold": POSE_THRESHOLD}
    assert values[2] == {"action_correct": 1.0, "subject_correct": 0.0, "total_correct": 0.0, "judged_by_pose": 0.0,
                         "judge_threshold": POSE_THRESHOLD}


def test_a_flat_image_shows_no_action_and_no_subject_whatever_clip_says(tmp_path):
    """The cheapest way to fool the CLIP path: an image that shows nothing, where CLIP's argmax still
    names an action and a subject. A fake CLIP that reads a grey image as the prompted cat cheering:
    the flat grey image is judged 0 and 0; the same mean colour, not flat, is judged by CLIP as before;
    and with the flatness rule off (flat_spread 0) CLIP decides the flat image too."""
    grey = (128, 128, 128)
    model = FakeClipModel({grey: [1.0, 0.0, 1.0, 0.0]},
                          {"cat": [1.0, 0.0, 0.0, 0.0], "man": [0.0, 1.0, 0.0, 0.0],
                           "cheering": [0.0, 0.0, 1.0, 0.0], "saluting": [0.0, 0.0, 0.0, 1.0]})
    flat, patterned = save(solid(grey), tmp_path / "flat.png"), save(textured(grey), tmp_path / "patterned.png")
    cheer = action_from_files("cheer", [patterned], description="cheering")
    benchmark = benchmark_of([cheer, action_from_files("salute", [patterned], description="saluting")])
    judge = METRICS.get("judge")()

    def judged(settings=None) -> list[dict]:
        context = fake_clip_context(context_for(benchmark, cheer, settings=settings), model)
        return [r.values for r in judge.score(records_for([flat, patterned], cheer, subjects=[CAT, CAT]), context)]

    nothing, something = judged()
    assert nothing == {"action_correct": 0.0, "subject_correct": 0.0, "total_correct": 0.0, "judged_by_pose": 1.0,
                       "judge_threshold": POSE_THRESHOLD}
    assert something == {"action_correct": 1.0, "subject_correct": 1.0, "total_correct": 1.0, "judged_by_pose": 0.0,
                         "judge_threshold": POSE_THRESHOLD}
    assert judged(JudgeSettings(flat_spread=0.0)) == [something, something]


def test_judge_records_failures_for_unreadable_images_and_nan_embeddings(tmp_path):
    model = FakeClipModel({RED: [1.0, 0.0]}, {"cat": [1.0, 0.0], "man": [0.0, 1.0]})
    red, green = save(textured(RED), tmp_path / "red.png"), save(textured(GREEN), tmp_path / "green.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(save(data.astronaut(), tmp_path / "photo.png").read_bytes()[:5000])
    action = action_from_files("wave", [red])
    context = fake_clip_context(context_for(benchmark_of([action]), action), model)
    results = METRICS.get("judge")().score(records_for([broken, green], action), context)
    assert results[0].failure == (f"image {broken} cannot be read (image file is truncated): "
                                  "the file is truncated or corrupt; replace it.")
    assert results[1].failure == "the CLIP image embedding is not finite (NaN or infinite)"
    assert all(np.isnan(v) for r in results for v in r.values.values())


def test_on_actionbench_photos_the_judge_accepts_the_own_action_more_often(tmp_path, monkeypatch):
    """Leave-one-out: each exemplar judged against its own action (itself removed) and the next action."""
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    actions = {name: action_from_files(name, sorted(shared_path("actionbench", name).glob("*.jpg")))
               for name in ACTIONBENCH_ACTIONS}
    benchmark = benchmark_of(list(actions.values()))
    shared: dict = {}
    judge = METRICS.get("judge")()
    own, other = [], []
    for k, (name, action) in enumerate(actions.items()):
        following = actions[ACTIONBENCH_ACTIONS[(k + 1) % len(ACTIONBENCH_ACTIONS)]]
        for exemplar in action.exemplars:
            rest = dataclasses.replace(action, exemplars=tuple(e for e in action.exemplars if e is not exemplar))
            records = records_for([exemplar.image_path], rest)
            own.append(judge.score(records, context_for(benchmark, rest, shared=shared))[0])
            records = records_for([exemplar.image_path], following)
            other.append(judge.score(records, context_for(benchmark, following, shared=shared))[0])
    own_rate = np.nanmean([r.values["action_correct"] for r in own])
    other_rate = np.nanmean([r.values["action_correct"] for r in other])
    by_pose = np.mean([r.values["judged_by_pose"] for r in own])
    print(f"ActionBench leave-one-out, action_correct: own action {own_rate:.2f}, next action {other_rate:.2f}, "
          f"balanced accuracy {(own_rate + 1 - other_rate) / 2:.2f}; pose path decided {by_pose:.0%}")
    assert by_pose >= 0.9
    assert own_rate > other_rate + 0.3
