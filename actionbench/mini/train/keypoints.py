"""Train the mini keypoint network on scorer renders (held-out actions included, as a pose estimator
trained on the world would be) and their autoencoder reconstructions, 30% of each batch blurred
further (Gaussian, 0.5 to 1.25 px: ``augment.soften``), since generated images are decodings that can
be softer than a render's reconstruction and the judge must read them as exactly as renders.

Loss: L1 on joint positions (pixels) for figures, binary cross-entropy on visibility (a joint is
visible when a figure is there and the joint is inside the image) and on presence. The presence
head sees empty scenes (5% of the renders) and, in 15% of each batch, images that show no figure at
all (flat colours, noise, colour fields, scenes blurred or shuffled past reading: ``augment``), so a
flat grey image is not read as a figure. Evaluated by PCK@0.1 (a joint is correct within 0.1 x the
longer side of the figure's joint bounding box) on fresh renders that no training saw, presence
accuracy on them, and the share of no-figure images of each kind said to show none.

``settings.init`` (``--init FOLDER``) starts from exported weights instead of random ones: a
fine-tuning, keeping the network's own configuration (see README for how the shipped weights were made).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.mini.keypoints import KeypointNet, load_keypoint_net
from actionbench.mini.train.augment import (NO_FIGURE_FRACTION, NO_FIGURE_MAKERS, batch_images, no_figure_images,
                                            scorer_data, soften)
from actionbench.mini.train.loop import (Trainer, TrainSettings, default_workdir, export_small_net,
                                         to_unit_range)

DEFAULTS = TrainSettings(steps=5000, batch_size=64, lr=2e-3, warmup=100, save_every=500, log_every=100,
                         weight_decay=1e-4)
# Heatmaps at 32x32 (issue 17): against the world's truth the judge accepted 90% of autoencoded renders
# of their own action with this plain training, 86% with 16x16 heatmaps (instance seeds 10-17; docs/judge.md).
NET_CONFIG: dict[str, Any] = {"width": 24, "full_resolution": True}


def pck(predicted: np.ndarray, truth: np.ndarray, threshold: float = 0.1) -> float:
    """Fraction of joints within ``threshold`` x the longer side of the true joints' bounding box."""
    extent = (truth.max(axis=1) - truth.min(axis=1)).max(axis=1)  # (N,)
    distance = np.linalg.norm(predicted - truth, axis=-1)  # (N, 17)
    return float((distance <= threshold * extent[:, None]).mean())


def visible_targets(joints: np.ndarray, size: int = 32) -> np.ndarray:
    inside = (joints >= 0) & (joints <= size)
    return (inside.all(axis=-1) & ~np.isnan(joints).any(axis=-1)).astype(np.float32)


def train(settings: TrainSettings = DEFAULTS, workdir: Path | None = None) -> Path:
    workdir = Path(workdir or default_workdir("keypoints"))
    data, evaluation, recon = scorer_data()
    present = data.figure
    visible = visible_targets(data.joints)
    joints = np.nan_to_num(data.joints)
    torch.manual_seed(settings.seed)
    net = load_keypoint_net(Path(settings.init)).train() if settings.init else KeypointNet(**NET_CONFIG)
    trainer = Trainer(workdir, {"net": net}, settings)

    def step(t: Trainer) -> dict[str, float]:
        rng = t.rng()
        index = rng.integers(0, len(data), settings.batch_size)
        generator = t.torch_generator()
        x = soften(batch_images(data.images, recon, index, rng, generator), rng)
        blanked = rng.random(len(index)) < NO_FIGURE_FRACTION
        if blanked.any():
            x[torch.from_numpy(blanked)] = no_figure_images(x[torch.from_numpy(blanked)], rng, generator)
        target = torch.from_numpy(joints[index])
        has = torch.from_numpy(present[index] & ~blanked)
        vis = torch.from_numpy(visible[index] * ~blanked[:, None])
        coords, vis_logits, presence_logits = net(x)
        position = (F.l1_loss(coords[has], target[has], reduction="none").sum(-1) * vis[has]).mean()
        loss = (position + F.binary_cross_entropy_with_logits(vis_logits, vis)
                + F.binary_cross_entropy_with_logits(presence_logits, has.float()))
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t.optimizer.step()
        return {"loss": loss.item(), "px": position.item() / 2}

    def evaluate(t: Trainer) -> dict[str, float]:
        return evaluate_net(net, evaluation)

    trainer.run(step, evaluate)
    if trainer.done:
        export(net, workdir / "export")
    return workdir


@torch.no_grad()
def evaluate_net(net: KeypointNet, data) -> dict[str, float]:
    net.eval()
    images = to_unit_range(data.images)
    coords, _, presence = net(images)
    present = data.figure
    found = presence.sigmoid().numpy() >= 0.5
    scores = {"pck@0.1": pck(coords.numpy()[present], data.joints[present]),
              "presence_accuracy": float((found == present).mean())}
    for name, make in NO_FIGURE_MAKERS.items():  # the same 500 negatives at every evaluation
        negatives = make(images[:500], np.random.default_rng(len(name)), torch.Generator().manual_seed(len(name)))
        scores[f"no_figure_{name}"] = float((net(negatives)[2].sigmoid().numpy() < 0.5).mean())
    return scores


def export(net: KeypointNet, folder: Path) -> Path:
    """The network with its own configuration (a fine-tuning keeps its ``--init`` network's)."""
    return export_small_net(net, net.config, folder)
