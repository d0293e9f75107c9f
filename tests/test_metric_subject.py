"""Subject fidelity: zero-shot maths with a mocked encoder, the tiny CLIP path, real weights when given."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from actionbench.data import Subject
from actionbench.metrics import METRICS
from actionbench.metrics.subject import LOGIT_SCALE, zero_shot_probabilities
from metric_helpers import (CAT, MAN, FakeClipModel, action_from_files, benchmark_of, context_for, fake_clip_context,
                            real_clip_scorers, records_for, save, solid)

RED, BLUE = (200, 0, 0), (0, 0, 200)


def test_zero_shot_probabilities_are_the_softmax_of_scaled_cosines():
    images = np.array([[1.0, 0.0], [1.0, 1.0]])
    classes = np.array([[2.0, 0.0], [0.0, 1.0]])
    probabilities = zero_shot_probabilities(images, classes)
    cos = np.sqrt(0.5)
    expected_second = np.exp(LOGIT_SCALE * np.array([cos, cos]))
    assert probabilities[0] == pytest.approx([1 / (1 + np.exp(-LOGIT_SCALE)), 1 / (1 + np.exp(LOGIT_SCALE))])
    assert probabilities[1] == pytest.approx(expected_second / expected_second.sum())
    assert np.isnan(zero_shot_probabilities(np.array([[np.nan, 0.0]]), classes)).all()


def test_subject_top1_when_the_prompted_subject_wins(tmp_path):
    paths = [save(solid(RED), tmp_path / "red.png"), save(solid(BLUE), tmp_path / "blue.png")]
    action = action_from_files("wave", paths)
    model = FakeClipModel({RED: [1.0, 0.1], BLUE: [0.1, 1.0]}, {"cat": [1.0, 0.0], "man": [0.0, 1.0]})
    context = fake_clip_context(context_for(benchmark_of([action]), action), model)
    records = records_for(paths * 2, action, subjects=[CAT, MAN, MAN, CAT])
    results = METRICS.get("subject")().score(records, context)
    assert [r.values["subject_top1"] for r in results] == [1.0, 1.0, 0.0, 0.0]
    probability = results[0].values["subject_prob"]
    assert probability == pytest.approx(results[1].values["subject_prob"]) and probability > 0.99
    assert results[2].values["subject_prob"] == pytest.approx(1 - probability)


def test_a_prompted_subject_outside_the_protocol_joins_the_candidates(tmp_path):
    path = save(solid(RED), tmp_path / "red.png")
    action = action_from_files("wave", [path])
    model = FakeClipModel({RED: [0.0, 0.0, 1.0]}, {"cat": [1.0, 0.0, 0.0], "man": [0.0, 1.0, 0.0],
                                                   "robot": [0.0, 0.0, 1.0]})
    context = fake_clip_context(context_for(benchmark_of([action]), action), model)
    robot = Subject("robot", "a robot", "other")
    result = METRICS.get("subject")().score(records_for([path], action, subjects=[robot]), context)[0]
    assert result.values["subject_top1"] == 1.0


def test_subject_metric_runs_on_the_tiny_random_clip(tmp_path):
    paths = [save(data.astronaut(), tmp_path / "a.png"), save(data.chelsea(), tmp_path / "c.png")]
    action = action_from_files("wave", paths)
    context = context_for(benchmark_of([action]), action)
    first = METRICS.get("subject")().score(records_for(paths, action, subjects=[MAN, CAT]), context)
    again = METRICS.get("subject")().score(records_for(paths, action, subjects=[MAN, CAT]),
                                           context_for(benchmark_of([action]), action))
    for a, b in zip(first, again):
        assert a.failure is None and a.values["subject_top1"] in (0.0, 1.0)
        assert 0.0 <= a.values["subject_prob"] <= 1.0 and a.values == b.values


def test_real_weights_subject_zero_shot_on_real_photos(tmp_path):
    scorers = real_clip_scorers()
    subjects = [Subject("astronaut", "an astronaut"), Subject("cat", "a cat", "animal"),
                Subject("coffee", "a cup of coffee", "other"), Subject("rocket", "a rocket", "other")]
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    paths = [save(p, tmp_path / f"{s.name}.png") for p, s in zip(photos, subjects)]
    action = action_from_files("wave", paths[:1])
    context = context_for(benchmark_of([action], subjects=subjects), action, clip_model=scorers.clip_model,
                          clip_pretrained=scorers.clip_pretrained)
    right = METRICS.get("subject")().score(records_for(paths, action, subjects=subjects), context)
    wrong = METRICS.get("subject")().score(records_for(paths, action, subjects=subjects[1:] + subjects[:1]), context)
    print("subject_prob right", [round(r.values["subject_prob"], 3) for r in right],
          "wrong", [round(r.values["subject_prob"], 3) for r in wrong])
    assert [r.values["subject_top1"] for r in right] == [1.0] * 4
    assert [r.values["subject_top1"] for r in wrong] == [0.0] * 4
