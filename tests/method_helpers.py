"""Helpers shared by the methods' tests (tests/test_method_*.py): the fixture action, a fresh tiny
pipeline, the held-fixed evaluation loss, image comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fixtures import POSES

from actionbench.perception import POSE_BACKENDS
from actionbench.perception.pose_backends import Pose, PoseBackend

PROMPTS = ["a cat {action}", "a man {action}"]
SEEDS = [0, 1]
SAMPLING = {"num_inference_steps": 2, "guidance_scale": 2.0}  # the fixture protocol's
EVAL_SEEDS = range(8)  # noise draws averaged by eval_loss


def fixture_action(benchmark_folder: Path, name: str = "arms_up"):
    from actionbench.data import load_benchmark

    return load_benchmark(benchmark_folder).actions[name]


def fresh_pipe():
    from actionbench.base_models import resolve_base_model

    return resolve_base_model("tiny").load("cpu")


def eval_loss(pipe, action, identifier: str) -> float:
    """Denoising loss on the exemplars (posterior means) with held-fixed noise and timesteps,
    averaged over a few noise draws: comparable before and after training."""
    from actionbench.methods.training import (
        encode_exemplars, encode_prompts, fixed_evaluation_loss, native_resolution, training_prompts)

    latents = encode_exemplars(pipe, action, native_resolution(pipe)).mean
    hidden = encode_prompts(pipe, training_prompts(action, identifier))
    return float(np.mean([fixed_evaluation_loss(pipe, latents, hidden, seed=s) for s in EVAL_SEEDS]))


def pixels(images) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.float64) for image in images])


def train(method, action, config, folder: Path, pipe=None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return method.train(pipe or fresh_pipe(), action, config, folder)


# --- controlnet_pose: a pose backend that reads the fixture's stick figures, a tiny ControlNet ----------

def stick_pose(name: str) -> Pose:
    """The fixture figure's joints in COCO-17 order (the fixture draws them; no estimator needed)."""
    pose = POSES[name]
    (hx, hy), hands, feet = pose["head"], pose["hands"], pose["feet"]
    shoulders, hips = [(36, 22), (28, 22)], [(34, 40), (30, 40)]  # the figure's left is the image's right
    hands, feet = sorted(hands, reverse=True), sorted(feet, reverse=True)
    elbows = [((s[0] + h[0]) / 2, (s[1] + h[1]) / 2) for s, h in zip(shoulders, hands)]
    knees = [((h[0] + f[0]) / 2, (h[1] + f[1]) / 2) for h, f in zip(hips, feet)]
    points = [(hx, hy), (hx + 2, hy - 2), (hx - 2, hy - 2), (hx + 4, hy), (hx - 4, hy), *shoulders, *elbows, *hands,
              *hips, *knees, *feet]
    return Pose(keypoints=np.array(points, dtype=float), visibility=np.ones(17), image_size=(64, 64))


@POSE_BACKENDS.register("fixture-stick")
class StickFigurePose(PoseBackend):
    """Reads the fixture's stick figures: arms up when the top rows hold the figure's colour."""

    name = "fixture-stick"

    def estimate(self, images):
        poses = []
        for image in images:
            top = np.asarray(image)[2:8].astype(int)
            arms_up = (np.abs(top - top[0, 0]).sum(axis=2) > 60).any()
            poses.append(stick_pose("arms_up" if arms_up else "arms_out"))
        return poses


@POSE_BACKENDS.register("fixture-nobody")
class NobodyPose(PoseBackend):
    name = "fixture-nobody"

    def estimate(self, images):
        return [None for _ in images]


def build_tiny_controlnet(folder: Path) -> Path:
    """A random ControlNetModel matching the tiny pipeline, built from config as diffusers' tests do
    (its zero-initialised convolutions re-drawn, else the pose could not steer anything)."""
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(0)
    controlnet = ControlNetModel(block_out_channels=(32, 64), layers_per_block=2, in_channels=4,
                                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), cross_attention_dim=32,
                                 conditioning_embedding_out_channels=(16, 32), norm_num_groups=32)

    def init_weights(module):
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight)
            module.bias.data.fill_(1.0)

    for zero_initialised in (controlnet.controlnet_cond_embedding.conv_out, controlnet.controlnet_down_blocks,
                             controlnet.controlnet_mid_block):
        zero_initialised.apply(init_weights)
    controlnet.save_pretrained(folder)
    return folder
