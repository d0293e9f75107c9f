"""Pose agreement on real photos: the backend's joints, own pose versus other people's, same versus other action."""

from __future__ import annotations

import itertools
from typing import get_args, get_type_hints

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from actionbench.errors import ActionBenchError
from actionbench.imageio import open_rgb
from actionbench.metrics import METRICS
from actionbench.metrics.features import exemplar_poses, pose_backend
from actionbench.metrics.oks import MIRROR, SCALES, VISIBLE, pose_similarity
from actionbench.metrics.pose import PoseSettings
from actionbench.perception import POSE_BACKENDS
from actionbench.perception.pose_backends import COCO17, Pose
from actionbench.plan import metric_config
from conftest import shared_path
from metric_helpers import action_from_files, benchmark_of, context_for, records_for, save

ACTIONBENCH_ACTIONS = ("cheer", "gesture", "handstand", "meditate", "pray", "salute", "sit", "squat")


def astronaut_variants() -> dict[str, Image.Image]:
    """The astronaut photo flipped, cropped and rescaled: the same pose, other pixels."""
    photo = Image.fromarray(data.astronaut())
    return {"flipped": ImageOps.mirror(photo), "cropped": photo.crop((40, 20, 480, 500)),
            "half size": photo.resize((256, 256)), "enlarged": photo.resize((900, 900)),
            "flipped, cropped, shrunk": ImageOps.mirror(photo).crop((0, 0, 452, 512)).resize((200, 226))}


def test_mediapipe_backend_returns_coco17_joints_of_the_astronaut():
    backend = POSE_BACKENDS.get("mediapipe")()
    pose = backend.estimate([Image.fromarray(data.astronaut())])[0]
    assert pose is not None and pose.keypoints.shape == (17, 2) and pose.image_size == (512, 512)
    joint = {name: pose.keypoints[i] for i, name in enumerate(COCO17)}
    visible = pose.visibility >= 0.5
    assert visible[[0, 1, 2, 5, 6]].all() and not visible[13:].any()  # an upper-body photo: no legs
    assert joint["left_eye"][1] < joint["nose"][1] < joint["left_shoulder"][1] < joint["left_wrist"][1]
    assert joint["left_shoulder"][0] > joint["right_shoulder"][0]  # she faces us: her left is on our right
    assert ((pose.keypoints >= 0) & (pose.keypoints <= 512)).all(axis=1)[visible].all()


def test_pose_metric_ranks_the_photos_own_pose_above_other_peoples(tmp_path):
    exemplar = save(data.astronaut(), tmp_path / "astronaut.png")
    action = action_from_files("astronaut_pose", [exemplar])
    variants = [save(image, tmp_path / f"variant{i}.png") for i, image in enumerate(astronaut_variants().values())]
    others = sorted(shared_path("photos").glob("*.jpg")) + [
        shared_path("actionbench", name, "01.jpg") for name in ACTIONBENCH_ACTIONS]
    metric = METRICS.get("pose")()
    context = context_for(benchmark_of([action]), action, settings=PoseSettings(mirror=True))
    own = [r.values["pose_oks"] for r in metric.score(records_for(variants, action), context)]
    results = metric.score(records_for(others, action), context)
    other = np.array([r.values["pose_oks"] for r in results])
    detected = [r.values["pose_detected"] for r in results]
    print(f"own pose (flipped/cropped/rescaled): {np.round(own, 3)}; other people's: best "
          f"{np.nanmax(other):.3f}, mean {np.nanmean(other):.3f} over {int(np.sum(np.isfinite(other)))} people; "
          f"margin {min(own[:4]) - np.nanmax(other):.3f}")
    # The variants in which the backend sees every joint the exemplar shows rank above everyone else.
    assert min(own[:4]) > np.nanmax(other)
    # The last one (flipped, cropped to the elbow, shrunk) shows 7 of the exemplar's 8 joints: the one it
    # lacks (visibility under 0.5) counts 0, as COCO counts a joint the exemplar shows and the image lacks.
    backend = pose_backend(context)
    reference = backend.estimate([open_rgb(exemplar)])[0]
    figure = backend.estimate([open_rgb(variants[-1])])[0]
    shown = reference.visibility >= VISIBLE
    lacking = shown & ~(figure.visibility[list(MIRROR)] >= VISIBLE)  # in its mirror image, which matches best
    assert shown.sum() == 8 and lacking.sum() == 1
    without = Pose(reference.keypoints, np.where(lacking, 0.0, reference.visibility), reference.image_size)
    assert own[-1] == pytest.approx(7 / 8 * pose_similarity(figure, without, mirror=True), abs=1e-9)
    assert sum(detected) >= 8  # people are found in most of these photos (mediapipe: 5 of the 10 COCO ones)
    # No person: the headline score is 0 (a failure to draw the pose), the detected-only score is NaN.
    missing = [r for r in results if r.values["pose_detected"] == 0]
    assert missing and all(r.failure == "no person found" for r in missing)
    assert all(r.values["pose_oks"] == 0.0 and np.isnan(r.values["pose_oks_detected"]) for r in missing)
    found = [r for r in results if r.values["pose_detected"] == 1]
    assert all(r.values["pose_oks"] == r.values["pose_oks_detected"] or np.isnan(r.values["pose_oks"]) for r in found)


def test_pose_mirroring_follows_the_action(tmp_path):
    exemplar = save(data.astronaut(), tmp_path / "astronaut.png")
    flipped = save(ImageOps.mirror(Image.fromarray(data.astronaut())), tmp_path / "flipped.png")
    values = {}
    for mirror in (False, True):
        action = action_from_files("astronaut_pose", [exemplar], mirror=mirror)
        context = context_for(benchmark_of([action]), action)
        result = METRICS.get("pose")().score(records_for([flipped], action), context)
        values[mirror] = result[0].values["pose_oks"]
    assert values[True] > 0.9 and values[True] > values[False] + 0.05


def test_actionbench_same_action_pairs_score_higher_than_different_action_pairs():
    root = shared_path("actionbench")
    backend = POSE_BACKENDS.get("mediapipe")()
    poses = [(name, backend.estimate([open_rgb(path)])[0])
             for name in ACTIONBENCH_ACTIONS for path in sorted((root / name).glob("*.jpg"))]
    found = [(name, pose) for name, pose in poses if pose is not None]
    same, different = [], []
    for (name_a, a), (name_b, b) in itertools.combinations(found, 2):
        value = pose_similarity(a, b)
        if not np.isnan(value):
            (same if name_a == name_b else different).append(value)
    margin = np.mean(same) - np.mean(different)
    print(f"ActionBench ({len(found)}/{len(poses)} people found): same-action pairs {np.mean(same):.3f} "
          f"(n={len(same)}), different-action pairs {np.mean(different):.3f} (n={len(different)}), "
          f"margin {margin:.3f}")
    assert len(found) >= 75
    assert margin > 0.1


def test_exemplar_poses_are_cached_on_disk_per_action_version(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    paths = [save(data.astronaut(), tmp_path / "a.png"), save(data.chelsea(), tmp_path / "cat.png")]
    action = action_from_files("cached", paths)
    first = exemplar_poses(context_for(benchmark_of([action]), action), action)
    assert first[0] is not None and first[1] is None
    files = list((tmp_path / "home" / "cache" / "poses").rglob(f"cached-{action.version}.json"))
    assert len(files) == 1

    class Refuses:
        name = cache_tag = pose_backend(context_for(benchmark_of([action]), action)).cache_tag

        def estimate(self, images):
            raise AssertionError("the cached poses should have been used")

    context = context_for(benchmark_of([action]), action)
    context.shared[("pose_backend", "mediapipe")] = Refuses()
    again = exemplar_poses(context, action)
    assert np.array_equal(again[0].keypoints, first[0].keypoints) and again[1] is None


def test_pose_scale_setting_is_checked_and_coco_area_is_another_number(tmp_path):
    exemplar = save(data.astronaut(), tmp_path / "astronaut.png")
    variant = save(astronaut_variants()["flipped, cropped, shrunk"], tmp_path / "variant.png")
    action = action_from_files("astronaut_pose", [exemplar], mirror=True)
    values = {}
    for scale in ("torso", "coco_area"):
        context = context_for(benchmark_of([action]), action, settings=metric_config("pose", benchmark_of([action]),
                                                                                     {"scale": scale}))
        values[scale] = METRICS.get("pose")().score(records_for([variant], action), context)[0].values["pose_oks"]
    assert 0 < values["torso"] < 1 and 0 < values["coco_area"] < 1 and values["torso"] != values["coco_area"]
    assert get_args(get_type_hints(PoseSettings)["scale"]) == SCALES  # the setting offers what OKS computes
    with pytest.raises(ActionBenchError) as error:
        metric_config("pose", benchmark_of([action]), {"scale": "box"})
    assert str(error.value) == "settings for metric pose.scale is 'box': it must be one of torso, coco_area."
