"""The mini world's pose estimator: a small CNN that finds the 17 COCO body joints of one figure.

Heatmaps at the input's 32x32 (``full_resolution``; the first shipped network read 16x16) are read out
with a soft-argmax (integral regression, Sun et al., ECCV 2018), which gives sub-pixel joints from a
small network; a presence head says whether there is a figure at all,
so "no figure" is a possible answer, as with mediapipe on photos. Registered as the ``mini`` pose
backend (declared in this package's ``__init__``); metrics use it through
:class:`~actionbench.perception.pose_backends.PoseBackend` only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from actionbench.errors import ActionBenchError
from actionbench.perception import POSE_BACKENDS
from actionbench.perception.pose_backends import Pose, PoseBackend

INPUT_SIZE = 32
WEIGHTS = Path(__file__).resolve().parent / "weights" / "keypoints"
PRESENCE_THRESHOLD = 0.5


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class KeypointNet(nn.Module):
    """32x32 RGB -> 17 joints (x, y in input pixels), per-joint visibility logits, a presence logit."""

    def __init__(self, width: int = 16, joints: int = 17, full_resolution: bool = False):
        super().__init__()
        self.config = {"width": width, "joints": joints, "full_resolution": full_resolution}  # what export writes
        self.joints = joints
        self.stem = nn.Sequential(_block(3, width), _block(width, width))  # 32x32
        self.down1 = nn.Sequential(_block(width, 2 * width, 2), _block(2 * width, 2 * width))  # 16x16
        self.down2 = nn.Sequential(_block(2 * width, 4 * width, 2), _block(4 * width, 4 * width))  # 8x8
        self.up = nn.Sequential(_block(6 * width, 2 * width), _block(2 * width, 2 * width))  # 16x16
        # Heatmaps at the input's 32x32 (one more decoder stage over the stem's features) or at 16x16.
        self.up_full = (nn.Sequential(_block(3 * width, width), _block(width, width)) if full_resolution
                        else None)
        self.heatmaps = nn.Conv2d(width if full_resolution else 2 * width, joints, 1)
        self.visibility = nn.Linear(4 * width, joints + 1)  # per joint, then presence

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f0 = self.stem(x)
        f1 = self.down1(f0)
        f2 = self.down2(f1)
        up = nn.functional.interpolate(f2, scale_factor=2, mode="nearest")
        features = self.up(torch.cat([f1, up], dim=1))  # 16x16
        if self.up_full is not None:
            up = nn.functional.interpolate(features, scale_factor=2, mode="nearest")
            features = self.up_full(torch.cat([f0, up], dim=1))  # 32x32
        logits = self.heatmaps(features)  # (N, 17, h, w)
        n, j, h, w = logits.shape
        probs = logits.flatten(2).softmax(-1).view(n, j, h, w)
        scale = x.shape[-1] / w
        xs = (torch.arange(w, dtype=x.dtype, device=x.device) + 0.5) * scale
        ys = (torch.arange(h, dtype=x.dtype, device=x.device) + 0.5) * scale
        coords = torch.stack([(probs.sum(2) * xs).sum(-1), (probs.sum(3) * ys).sum(-1)], dim=-1)
        vis = self.visibility(f2.mean(dim=(2, 3)))
        return coords, vis[:, :j], vis[:, j]


def images_to_tensor(images: list[Image.Image], size: int = INPUT_SIZE) -> torch.Tensor:
    """PIL images -> (N, 3, size, size) in [-1, 1]; other sizes are resized (antialiased)."""
    arrays = []
    for image in images:
        image = image.convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BOX if image.width > size else Image.Resampling.BICUBIC)
        arrays.append(np.asarray(image, np.float32))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).div(127.5).sub(1.0)


def load_keypoint_net(folder: Path = WEIGHTS) -> KeypointNet:
    from safetensors.torch import load_file

    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    if not weights_path.is_file():
        raise ActionBenchError(f"the mini keypoint network's weights are missing ({weights_path})",
                               "reinstall the package, or train them: actionbench mini train --component keypoints")
    net = KeypointNet(**json.loads(config_path.read_text()))
    state = {k: v.float() for k, v in load_file(str(weights_path)).items()}
    net.load_state_dict(state)
    return net.eval()


@POSE_BACKENDS.register("mini")
class MiniKeypointBackend(PoseBackend):
    """ActionBench-Mini's keypoint network (trained on the rendered world)."""

    name = "mini"
    reads_every_subject = True  # trained on every species of the world, and on images with no figure

    @classmethod
    def model_version(cls) -> str:
        from actionbench.mini.models import weights_version

        return weights_version(WEIGHTS / "model.safetensors")

    def __init__(self, device: str = "cpu", batch_size: int = 64):
        self.device = device
        self.batch_size = batch_size
        self.net = load_keypoint_net().to(device)
        # Names the weights, so cached exemplar poses are recomputed when the network changes.
        self.cache_tag = self.model_version()

    @torch.no_grad()
    def estimate(self, images: list[Image.Image]) -> list[Pose | None]:
        poses: list[Pose | None] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            coords, visibility, presence = self.net(images_to_tensor(chunk).to(self.device))
            for image, xy, vis, present in zip(chunk, coords.cpu().numpy(), visibility.sigmoid().cpu().numpy(),
                                               presence.sigmoid().cpu().numpy()):
                if present < PRESENCE_THRESHOLD:
                    poses.append(None)
                    continue
                scale = np.array([image.width / INPUT_SIZE, image.height / INPUT_SIZE], np.float32)
                poses.append(Pose(keypoints=xy.astype(np.float64) * scale, visibility=vis.astype(np.float64),
                                  image_size=(image.width, image.height)))
        return poses
