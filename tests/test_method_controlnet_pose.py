"""controlnet_pose: refused without weights; mechanics on a tiny random ControlNet built from config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from method_helpers import (PROMPTS, SAMPLING, build_tiny_controlnet, fixture_action, fresh_pipe, pixels, stick_pose,
                            train)

from actionbench.errors import ActionBenchError
from actionbench.methods import METHODS

METHOD = METHODS.get("controlnet_pose")
PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")


@pytest.fixture(scope="module")
def tiny_controlnet(tmp_path_factory) -> Path:
    return build_tiny_controlnet(tmp_path_factory.mktemp("controlnet") / "tiny-openpose")


MISSING = ("controlnet_pose needs ControlNet-OpenPose weights and controlnet_pose.controlnet_model is not set: "
           "pass --set controlnet_pose.controlnet_model=PATH_OR_HUB_ID (a diffusers ControlNetModel for your base, "
           "e.g. lllyasviel/sd-controlnet-openpose for SD 1.5), or leave controlnet_pose out of --methods.")


def config(**overrides):
    settings = dict(SAMPLING, pose_backend="fixture-stick")
    settings.update(overrides)
    return METHOD.config_cls(**settings)


def test_absent_weights_refused_at_planning_with_one_line(capsys, fixture_benchmark, tmp_path):
    from actionbench.cli import main

    with pytest.raises(ActionBenchError) as error:
        METHOD().check(fixture_action(fixture_benchmark), config())
    assert str(error.value) == MISSING
    code = main(["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text,controlnet_pose",
                 "--actions", "all", "--metrics", "brightness", "--out", str(tmp_path / "run")])
    assert code == 2 and capsys.readouterr().err == f"actionbench: error: {MISSING}\n"
    assert not (tmp_path / "run" / "units").exists()  # nothing was trained


def test_weights_folder_without_config_and_uncached_hub_id(fixture_benchmark, tmp_path, monkeypatch):
    action = fixture_action(fixture_benchmark)
    with pytest.raises(ActionBenchError) as error:
        METHOD().check(action, config(controlnet_model=str(tmp_path)))
    assert str(error.value) == (f"ControlNet weights folder {tmp_path} has no config.json: point "
                                "controlnet_pose.controlnet_model at a folder written by ControlNetModel.save_pretrained, "
                                "or at a hub id.")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ActionBenchError) as error:
        METHOD().check(action, config(controlnet_model="someone/no-such-controlnet"))
    assert str(error.value) == ("ControlNet weights 'someone/no-such-controlnet' are not in the local cache and "
                                "HF_HUB_OFFLINE=1: download them on a machine with network access, or pass a local folder.")


def test_skeletons_are_drawn_in_openpose_colours(fixture_benchmark, tiny_controlnet, tmp_path):
    from actionbench.imageio import open_rgb
    from actionbench.methods.controlnet_pose import OPENPOSE_COLOURS

    action = fixture_action(fixture_benchmark)
    cfg = config(controlnet_model=str(tiny_controlnet))
    METHOD().check(action, cfg)
    artifact = train(METHOD(), action, cfg, tmp_path / "a")
    skeleton = np.asarray(open_rgb(next((artifact / "poses").glob("*.png"))))
    assert skeleton.shape == (64, 64, 3)
    joints = stick_pose("arms_up").keypoints
    # OpenPose joint 4 is the right wrist (COCO 10), joint 7 the left wrist (COCO 9), joint 0 the nose.
    for openpose, coco in ((0, 0), (4, 10), (7, 9)):
        x, y = joints[coco].round().astype(int)
        assert tuple(skeleton[y, x]) == OPENPOSE_COLOURS[openpose]
    assert skeleton[60, 2].sum() == 0  # black background


def test_skeletons_are_drawn_over_every_exemplar_with_the_protocols_seeds():
    from actionbench.methods.controlnet_pose import skeleton_index
    from actionbench.mini.benchmark import PROTOCOL, SUBJECTS, subject_entry

    # The mini protocol: 10 subjects x seeds 0, 1, 2. `seed mod 10` would use skeletons 0-2 only.
    prompts = [PROTOCOL["prompt_template"].format(subject=subject_entry(*s)["text"], action="{action}")
               for s in SUBJECTS]
    chosen = [skeleton_index(prompt, seed, 10) for prompt in prompts for seed in PROTOCOL["seeds"]]
    assert set(chosen) == set(range(10))
    assert max(chosen.count(k) for k in range(10)) <= 7  # spread, not piled on a few (30 images, 10 skeletons)
    assert chosen == [skeleton_index(prompt, seed, 10) for prompt in prompts for seed in PROTOCOL["seeds"]]


def test_generation_is_seeded_and_conditioned_on_the_exemplar_pose(fixture_benchmark, tiny_controlnet, tmp_path,
                                                                   monkeypatch):
    from PIL import Image

    import actionbench.methods.controlnet_pose as module

    cfg = config(controlnet_model=str(tiny_controlnet))
    artifact = train(METHOD(), fixture_action(fixture_benchmark, "arms_up"), cfg, tmp_path / "up")
    skeletons = sorted((artifact / "poses").glob("*.png"))
    assert len(skeletons) == 3  # one per exemplar
    conditions = []
    original = module._Conditioned.__call__
    monkeypatch.setattr(module._Conditioned, "__call__",
                        lambda self, **kw: conditions.append([np.asarray(i) for i in self._images]) or original(self, **kw))
    pipe = fresh_pipe()
    images = pixels(METHOD().generate(pipe, artifact, PROMPTS, [0, 4], cfg))
    chosen = [module.skeleton_for(artifact, prompt, seed) for prompt, seed in zip(PROMPTS, (0, 4))]
    expected = [np.asarray(Image.open(artifact / name).convert("RGB")) for name in chosen]
    assert len(conditions[0]) == 2 and all(np.array_equal(a, b) for a, b in zip(conditions[0], expected))
    assert np.array_equal(images, pixels(METHOD().generate(pipe, artifact, PROMPTS, [0, 4], cfg)))
    assert np.array_equal(images, pixels(METHOD().generate(fresh_pipe(), artifact, PROMPTS, [0, 4], cfg)))
    assert np.abs(images - pixels(METHOD().generate(pipe, artifact, PROMPTS, [3, 7], cfg))).mean() > 5
    for skeleton in skeletons:  # the same requests on blank conditions: other images
        Image.new("RGB", (64, 64), (0, 0, 0)).save(skeleton)
    blank = pixels(METHOD().generate(fresh_pipe(), artifact, PROMPTS, [0, 4], cfg))
    assert np.abs(images - blank).mean() > 0.1  # measured 0.58: a random ControlNet, a thin skeleton


def test_no_person_found_is_one_line(fixture_benchmark, tiny_controlnet, tmp_path):
    cfg = config(controlnet_model=str(tiny_controlnet), pose_backend="fixture-nobody")
    with pytest.raises(ActionBenchError) as error:
        train(METHOD(), fixture_action(fixture_benchmark), cfg, tmp_path / "a")
    assert str(error.value) == ("pose backend 'fixture-nobody' found no person in any exemplar of action 'arms_up': "
                                "check the photos show a whole person, or choose another pose_backend.")


def test_controlnet_for_another_base_is_refused(fixture_benchmark, tmp_path):
    from diffusers import ControlNetModel

    folder = tmp_path / "wide"
    ControlNetModel(block_out_channels=(32, 64), layers_per_block=1, in_channels=4,
                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), cross_attention_dim=48,
                    conditioning_embedding_out_channels=(16, 32), norm_num_groups=32).save_pretrained(folder)
    with pytest.raises(ActionBenchError) as error:
        train(METHOD(), fixture_action(fixture_benchmark), config(controlnet_model=str(folder)), tmp_path / "a")
    assert str(error.value) == (f"ControlNet '{folder}' was made for text features of width 48, the base model has 32: "
                                "use the ControlNet-OpenPose trained for your base (SD 1.x or SD 2.x).")


def test_a_real_cheering_photo_gives_a_skeleton_with_raised_wrists():
    """mediapipe on an ActionBench 'cheer' photo (both arms up), drawn as OpenPose joints."""
    from conftest import shared_path

    from actionbench.data.preprocess import square_image
    from actionbench.imageio import open_rgb
    from actionbench.methods.controlnet_pose import draw_openpose, openpose_joints
    from actionbench.perception import POSE_BACKENDS

    photo = square_image(open_rgb(shared_path("actionbench", "cheer", "01.jpg")), 256)
    backend = POSE_BACKENDS.get("mediapipe")()
    pose = backend.estimate([photo])[0]
    assert pose is not None
    joints = openpose_joints(pose, 0.5)
    neck, right_shoulder, right_wrist, left_shoulder, left_wrist = (joints[i] for i in (1, 2, 4, 5, 7))
    assert None not in (neck, right_shoulder, right_wrist, left_shoulder, left_wrist)
    assert right_wrist[1] < right_shoulder[1] and left_wrist[1] < left_shoulder[1]  # both hands above shoulders
    assert neck == pytest.approx(((right_shoulder[0] + left_shoulder[0]) / 2, (right_shoulder[1] + left_shoulder[1]) / 2))
    skeleton = np.asarray(draw_openpose(joints, 256))
    assert (skeleton.sum(axis=2) > 0).mean() < 0.2  # thin limbs on black
