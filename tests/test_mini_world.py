"""ActionBench-Mini's world: deterministic renders, exact ground truth, held-out words never in captions."""

from __future__ import annotations

import numpy as np
import pytest

from actionbench.mini.datasets import POSE_NAMES, facts_of, render_dataset, spec_for
from actionbench.mini.scenes import NO_FIGURE, RenderSpec, action_pose, random_spec, render, spec_facts
from actionbench.mini.skeleton import COCO17, JOINT_INDEX, PoseAngles, forward_kinematics
from actionbench.mini.world import (COLOURS, HELD_IN_ACTIONS, HELD_OUT_ACTIONS, SCENE_PHRASES, SPECIES,
                                    CaptionFacts, caption, caption_vocabulary, held_out_words, words_of)
from actionbench.perception.pose_backends import COCO17 as PERCEPTION_COCO17

ACTIONBENCH_ACTIONS = ["cheer", "gesture", "handstand", "meditate", "pray", "salute", "sit", "squat"]
LIMB_JOINTS = [n for n in COCO17 if n.split("_")[-1] in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


def test_the_held_out_actions_are_actionbenchs_eight():
    assert sorted(HELD_OUT_ACTIONS) == ACTIONBENCH_ACTIONS
    assert not set(HELD_OUT_ACTIONS) & set(HELD_IN_ACTIONS)


def test_joint_order_is_the_metrics_coco17():
    assert COCO17 == PERCEPTION_COCO17


def test_a_spec_always_renders_the_same_pixels_and_joints():
    for seed in (0, 1, 12345):
        a, b = render(random_spec(seed)), render(random_spec(seed))
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.joints, b.joints)
    assert not np.array_equal(render(random_spec(0)).image, render(random_spec(1)).image)


def test_renders_are_32px_rgb_with_every_joint_inside():
    for seed in range(60):
        result = render(random_spec(seed, random_fraction=0.7))
        assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8
        assert result.joints.shape == (17, 2)
        assert (result.joints >= 0).all() and (result.joints <= 32).all()


@pytest.mark.parametrize("species", list(SPECIES))
def test_limb_joints_land_on_the_drawn_figure(species):
    """Each limb joint's pixel is covered by the figure (the renderer's own coverage mask)."""
    names = list(HELD_IN_ACTIONS) + list(HELD_OUT_ACTIONS) + ["random"] * 4
    for i, name in enumerate(names):
        result = render(random_spec(500 + i, pose_name=name, species=species))
        for joint in LIMB_JOINTS:
            x, y = result.joints[JOINT_INDEX[joint]]
            # The pixels whose centres surround the joint (a joint may sit on a limb's square end).
            rows = sorted({int(np.clip(np.floor(y - 0.5), 0, 31)), int(np.clip(np.ceil(y - 0.5), 0, 31))})
            cols = sorted({int(np.clip(np.floor(x - 0.5), 0, 31)), int(np.clip(np.ceil(x - 0.5), 0, 31))})
            coverage = result.mask[np.ix_(rows, cols)].max()
            assert coverage > 0.3, f"{species} {name}: {joint} at ({x:.1f}, {y:.1f}) is not on the figure"


def test_the_figure_is_drawn_in_its_named_colour():
    for colour, rgb in COLOURS.items():
        result = render(random_spec(7, colour=colour, species="person", pose_name="standing"))
        torso = (result.joints[JOINT_INDEX["left_shoulder"]] + result.joints[JOINT_INDEX["right_hip"]]) / 2
        pixel = result.image[int(torso[1]), int(torso[0])].astype(float)
        nearest = min(COLOURS, key=lambda c: np.linalg.norm(np.array(COLOURS[c], float) - pixel))
        assert nearest == colour


def test_figure_is_facing_the_viewer_its_left_on_the_image_right():
    joints = forward_kinematics(PoseAngles()).joints
    for part in ("shoulder", "hip", "eye", "wrist"):
        assert joints[JOINT_INDEX[f"left_{part}"], 0] > joints[JOINT_INDEX[f"right_{part}"], 0]


def test_salute_raises_the_right_hand_to_the_head():
    pose = forward_kinematics(HELD_OUT_ACTIONS["salute"].pose).joints
    right_wrist, left_wrist = pose[JOINT_INDEX["right_wrist"]], pose[JOINT_INDEX["left_wrist"]]
    assert right_wrist[1] < pose[JOINT_INDEX["right_shoulder"]][1]  # above the shoulder (y is down)
    assert left_wrist[1] > pose[JOINT_INDEX["left_shoulder"]][1]


def test_an_empty_scene_has_no_figure():
    result = render(random_spec(3, pose_name=NO_FIGURE))
    assert not result.has_figure and np.isnan(result.joints).all() and result.mask.max() == 0


def test_held_out_words_are_not_in_the_caption_vocabulary():
    leaked = caption_vocabulary() & held_out_words()
    assert not leaked, f"caption words that belong to held-out actions: {sorted(leaked)}"
    assert {"cheer", "salute", "squat", "sitting", "praying", "handstand", "meditating"} <= held_out_words()


def test_captions_of_any_render_use_only_the_vocabulary_and_never_name_a_held_out_action():
    rng = np.random.default_rng(0)
    vocabulary = caption_vocabulary()
    forbidden = held_out_words()
    for seed in range(600):
        pose_name = ACTIONBENCH_ACTIONS[seed % 8] if seed % 3 == 0 else None
        facts = spec_facts(random_spec(seed, pose_name=pose_name))
        assert facts.action is None or facts.action in HELD_IN_ACTIONS
        for _ in range(10):
            text = caption(facts, rng, empty=0.0)
            words = words_of(text)
            assert words <= vocabulary, text
            assert not words & forbidden, text


def test_captions_name_the_factors():
    facts = CaptionFacts("cat", "red", "beach", "waving", ("down", "up"), "upright")
    rng = np.random.default_rng(1)
    texts = [caption(facts, rng, drop_colour=0, drop_species=0, drop_scene=0, drop_action=0, prefix=0)
             for _ in range(20)]
    assert set(texts) == {"a red cat waving on a beach", "a red cat on a beach waving"}
    assert caption(facts, rng, empty=1.0) == ""
    unnamed = CaptionFacts("robot", "orange", "snow", None, ("up", "up"), "upright")
    text = caption(unnamed, rng, drop_colour=0, drop_species=0, drop_scene=0, describe_random_pose=1, prefix=0)
    assert text.startswith("an orange robot") and "with both arms up" in text and "in the snow" in text


def test_pretraining_data_never_contains_a_held_out_action():
    for i in range(3000):
        assert spec_for("pretrain", i).pose_name not in HELD_OUT_ACTIONS
    assert any(spec_for("scorer", i).pose_name in HELD_OUT_ACTIONS for i in range(200))


def test_a_rendered_dataset_keeps_the_exact_labels():
    data = render_dataset("pretrain", 40, start=100)
    for i in range(len(data)):
        spec = spec_for("pretrain", 100 + i)
        assert np.array_equal(data.images[i], render(spec).image)
        assert list(SPECIES)[data.species[i]] == spec.species
        assert POSE_NAMES[data.pose[i]] == spec.pose_name
        assert facts_of(data, i).scene == spec.scene and spec.scene in SCENE_PHRASES


def test_rendering_in_several_processes_gives_the_same_arrays_as_one():
    alone = render_dataset("scorer", 45, start=7)
    split = render_dataset("scorer", 45, start=7, workers=2, slice_rows=10)  # 5 slices, the last short
    for name in alone.__dataclass_fields__:
        assert np.array_equal(getattr(alone, name), getattr(split, name), equal_nan=True), name


def test_action_poses_are_jittered_but_stay_close():
    rng = np.random.default_rng(0)
    base = forward_kinematics(HELD_OUT_ACTIONS["cheer"].pose).joints
    moved = forward_kinematics(action_pose("cheer", rng, jitter=6)).joints
    assert 0 < np.abs(moved - base).max() < 0.1
    spec = RenderSpec(seed=0, species="person", colour="red", scene="room", pose_name="cheer",
                      pose=HELD_OUT_ACTIONS["cheer"].pose)
    result = render(spec)
    wrists_y = result.joints[[JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]], 1]
    assert (wrists_y < result.joints[JOINT_INDEX["nose"], 1]).all()  # cheering: both hands above the head
