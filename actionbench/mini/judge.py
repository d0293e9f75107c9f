"""An exact-label judge for the mini world: which species, colour and scene an image shows.

A small CNN trained on renders (and their autoencoder reconstructions) with the renderer's exact
labels. It is not a metric of the suite: ``actionbench mini quality`` uses it to check that the base
model draws what its captions ask for, and it gives the metrics' CLIP-based judgements an independent
cross-check on this world.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from actionbench.errors import ActionBenchError
from actionbench.mini.datasets import COLOUR_NAMES, SCENE_NAMES, SPECIES_NAMES

WEIGHTS = Path(__file__).resolve().parent / "weights" / "judge"
HEADS = {"species": SPECIES_NAMES, "colour": COLOUR_NAMES, "scene": SCENE_NAMES}


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Judge(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(_block(3, width), _block(width, width), _block(width, 2 * width, 2),
                                      _block(2 * width, 2 * width), _block(2 * width, 4 * width, 2),
                                      _block(4 * width, 4 * width))
        self.heads = nn.ModuleDict({name: nn.Linear(4 * width, len(labels)) for name, labels in HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.features(x).mean(dim=(2, 3))
        return {name: head(pooled) for name, head in self.heads.items()}


def load_judge(folder: Path = WEIGHTS) -> Judge:
    from safetensors.torch import load_file

    if not (folder / "model.safetensors").is_file():
        raise ActionBenchError(f"the mini judge's weights are missing ({folder})",
                               "train them: actionbench mini train --component judge")
    judge = Judge(**json.loads((folder / "config.json").read_text()))
    judge.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
    return judge.eval()


@torch.no_grad()
def judge_images(judge: Judge, pixels: torch.Tensor) -> dict[str, np.ndarray]:
    """Label indices per head for images in [-1, 1], shape (N, 3, 32, 32)."""
    outputs = [judge(chunk) for chunk in pixels.split(256)]
    return {name: torch.cat([o[name] for o in outputs]).argmax(-1).numpy() for name in HEADS}
