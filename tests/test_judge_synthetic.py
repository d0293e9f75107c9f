"""Known answers: poses fed directly (a stand-in pose backend) give accuracy 1.0, permuted labels give chance.

Every image is a colour that names its pose (rows of it, lighter and darker, so it is not flat); the
stand-in backend returns that pose, so the judge's maths is tested without a pose model (as
pytorch-fid's tests mock Inception).
"""

from __future__ import annotations

import numpy as np
import pytest

from actionbench.data import Action, Exemplar
from actionbench.metrics import METRICS
from actionbench.metrics.base import ScoringContext
from actionbench.metrics.judge import JudgeSettings
from actionbench.metrics.judge_validation import validate_judge
from actionbench.perception.settings import ScorerConfig
from judge_helpers import synthetic_pose
from metric_helpers import FakeClipModel, benchmark_of, fake_clip_context, records_for, save, textured

ACTIONS = ("arms_up", "arms_out", "squat", "right_arm_up")
PER_ACTION = 8
OBJECTS = (200, 0, 0)  # the colour of photos without a person


class ColourPoses:
    """A pose backend that reads the pose off the image's colour."""

    name = "synthetic"
    cache_tag = None  # memory only: nothing of this stand-in is cached on disk

    def __init__(self):
        self.poses = {}

    def colour_for(self, pose) -> tuple[int, int, int]:
        k = len(self.poses)
        colour = (k % 200, k // 200, 100)
        self.poses[colour] = pose
        return colour

    def estimate(self, images):
        return [self.poses.get(tuple(int(v) for v in np.asarray(i)[0, 0])) for i in images]


@pytest.fixture()
def world(tmp_path, monkeypatch):
    """4 actions x 8 jittered exemplars, a folder of files, and the shared state naming the stand-ins."""
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    backend = ColourPoses()
    files = {}
    for k, action in enumerate(ACTIONS):
        files[action] = [save(textured(backend.colour_for(synthetic_pose(action, jitter=4.0, seed=100 * k + i)), (16, 16)),
                              tmp_path / f"{action}_{i}.png") for i in range(PER_ACTION)]
    files["objects"] = [save(textured(OBJECTS, (16, 16)), tmp_path / f"objects_{i}.png") for i in range(3)]
    scorers = ScorerConfig(clip_model="fake", pose_backend="synthetic")
    return backend, files, scorers


def action_of(name: str, paths: list, description: str = "") -> Action:
    """An action whose version depends on which files it holds (the file name stands in for the sha256)."""
    return Action(name=name, description=description or f"doing {name}",
                  exemplars=tuple(Exemplar(image_path=p, sha256=p.name) for p in paths), source="test")


def shared_state(backend, benchmark, scorers) -> dict:
    """Caches that point the metrics at the stand-in backend and a fake CLIP (objects vs people)."""
    shared = {("pose_backend", "synthetic"): backend}
    clip = FakeClipModel({OBJECTS: [1.0, 0.0, 0.0]}, {"objects": [1.0, 0.0, 0.0], "cat": [0.0, 1.0, 0.0],
                                                       "person": [0.0, 0.0, 1.0], "man": [0.0, 0.0, 1.0]})
    fake_clip_context(ScoringContext(benchmark, next(iter(benchmark.actions.values())), scorers, shared=shared), clip)
    return shared


def test_known_poses_give_perfect_accuracy(world):
    backend, files, scorers = world
    actions = [action_of(a, files[a]) for a in ACTIONS]
    benchmark = benchmark_of(actions)
    result = validate_judge(benchmark, actions, scorers, shared=shared_state(backend, benchmark, scorers))
    assert result.accuracy == 1.0 and result.detection_rate == 1.0
    assert result.auc > 0.99 and result.per_action == {a: 1.0 for a in ACTIONS}
    assert result.binary.balanced_accuracy == 1.0
    assert np.array_equal(result.confusion()[:, :-1], np.eye(len(ACTIONS), dtype=int) * PER_ACTION)
    assert {j.judged_by for j in result.judgements} == {"pose"}


def test_permuted_labels_give_chance(world):
    backend, files, scorers = world
    images = [p for a in ACTIONS for p in files[a]]
    rng = np.random.default_rng(0)
    accuracies, aucs = [], []
    shared = None
    for _ in range(20):
        order = rng.permutation(len(images))
        actions = [action_of(a, [images[i] for i in order[k * PER_ACTION:(k + 1) * PER_ACTION]])
                   for k, a in enumerate(ACTIONS)]
        benchmark = benchmark_of(actions)
        shared = shared or shared_state(backend, benchmark, scorers)
        result = validate_judge(benchmark, actions, scorers, shared=shared)
        accuracies.append(result.accuracy)
        aucs.append(result.auc)
    # The nearest other image carries a random label: 7 of the 31 others share the image's own.
    assert abs(np.mean(accuracies) - 7 / 31) < 0.08, accuracies
    assert abs(np.mean(aucs) - 0.5) < 0.08, aucs


def test_an_action_without_poses_is_judged_by_clip_only_and_named(world):
    backend, files, scorers = world
    actions = [action_of(a, files[a]) for a in ACTIONS[:2]]
    actions.append(action_of("objects", files["objects"], description="showing objects"))
    benchmark = benchmark_of(actions)
    result = validate_judge(benchmark, actions, scorers, shared=shared_state(backend, benchmark, scorers))
    assert result.clip_only == ["objects"]
    assert result.notes == ["action objects: only 0 of its 3 exemplars show a detectable person (at least 2 "
                            "needed); it is judged by CLIP only"]
    objects = [j for j in result.judgements if j.action == "objects"]
    assert [(j.judged_by, j.predicted, j.detected) for j in objects] == [("clip", "objects", False)] * 3
    assert result.detection_rate == pytest.approx(16 / 19) and result.accuracy == 1.0


def test_the_metric_judges_with_the_calibrated_threshold(world, tmp_path, capsys):
    backend, files, scorers = world
    actions = {a: action_of(a, files[a]) for a in ACTIONS}
    actions["objects"] = action_of("objects", files["objects"], description="showing objects")
    benchmark = benchmark_of(list(actions.values()))
    shared = shared_state(backend, benchmark, scorers)
    candidates = [save(textured(backend.colour_for(synthetic_pose(a, jitter=4.0, seed=999))), tmp_path / f"new_{a}.png")
                  for a in ("arms_up", "squat")] + [files["objects"][0]]
    judge = METRICS.get("judge")()

    def judged(action: str) -> list[dict]:
        context = ScoringContext(benchmark, actions[action], scorers, shared=shared)
        return [r.values for r in judge.score(records_for(candidates, actions[action]), context)]

    up = judged("arms_up")
    threshold = up[0]["judge_threshold"]
    assert 0.3 < threshold < 1.0 and all(v["judge_threshold"] == threshold for v in up)
    assert [(v["action_correct"], v["judged_by_pose"]) for v in up] == [(1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    assert [v["action_correct"] for v in judged("squat")][:2] == [0.0, 1.0]
    objects = judged("objects")  # CLIP only, for every image: the fake CLIP sees nothing in the people's colours
    assert np.isnan(objects[0]["action_correct"]) and objects[2]["action_correct"] == 1.0
    assert objects[2]["judged_by_pose"] == 0.0
    assert "action objects: only 0 of its 3 exemplars show a detectable person" in capsys.readouterr().err
    # A threshold given in the settings replaces the calibrated one.
    context = ScoringContext(benchmark, actions["arms_up"], scorers, settings=JudgeSettings(pose_threshold=0.0),
                             shared=shared)
    values = [r.values for r in judge.score(records_for(candidates, actions["arms_up"]), context)]
    assert [v["action_correct"] for v in values[:2]] == [1.0, 1.0] and values[0]["judge_threshold"] == 0.0
    assert JudgeSettings().pose_threshold is None


def test_an_unreadable_exemplar_is_one_line_and_counted(world, tmp_path):
    backend, files, scorers = world
    broken = tmp_path / "broken.png"
    broken.write_bytes(files["arms_up"][0].read_bytes()[:40])
    actions = [action_of("arms_up", files["arms_up"] + [broken]), action_of("squat", files["squat"])]
    benchmark = benchmark_of(actions)
    result = validate_judge(benchmark, actions, scorers, shared=shared_state(backend, benchmark, scorers))
    assert [n for n in result.notes if n.startswith("unreadable")] == [
        f"unreadable: {broken} is not an image file: remove it or convert it to JPEG or PNG."]
    last = result.judgements[PER_ACTION]
    assert (last.path, last.predicted, last.judged_by, last.detected) == (broken, None, "none", False)
    assert result.accuracy == pytest.approx(2 * PER_ACTION / (2 * PER_ACTION + 1))
