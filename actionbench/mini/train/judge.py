"""Train the exact-label judge (species, colour, scene) on scorer renders and their reconstructions."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from actionbench.mini.judge import HEADS, Judge, judge_images
from actionbench.mini.train.augment import batch_images, scorer_data
from actionbench.mini.train.loop import (Trainer, TrainSettings, default_workdir, export_small_net,
                                         to_unit_range)

DEFAULTS = TrainSettings(steps=3000, batch_size=64, lr=2e-3, warmup=100, save_every=500, log_every=100,
                         weight_decay=1e-4)
NET_CONFIG = {"width": 24}  # 0.04 GFLOP an image (width 16, 1500 steps: species 0.925 on renders)


def train(settings: TrainSettings = DEFAULTS, workdir: Path | None = None) -> Path:
    workdir = Path(workdir or default_workdir("judge"))
    data, evaluation, recon = scorer_data()
    figure = data.figure
    labels = {"species": data.species, "colour": data.colour, "scene": data.scene}
    torch.manual_seed(settings.seed)
    judge = Judge(**NET_CONFIG)
    trainer = Trainer(workdir, {"judge": judge}, settings)

    def step(t: Trainer) -> dict[str, float]:
        rng = t.rng()
        index = rng.integers(0, len(data), settings.batch_size)
        outputs = judge(batch_images(data.images, recon, index, rng, t.torch_generator()))
        has = torch.from_numpy(figure[index])
        loss = F.cross_entropy(outputs["scene"], torch.from_numpy(labels["scene"][index]))
        for name in ("species", "colour"):  # an empty scene has no species or colour
            loss = loss + F.cross_entropy(outputs[name][has], torch.from_numpy(labels[name][index][has]))
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t.optimizer.step()
        return {"loss": loss.item()}

    def evaluate(t: Trainer) -> dict[str, float]:
        return evaluate_judge(judge, evaluation)

    trainer.run(step, evaluate)
    if trainer.done:
        export(judge, workdir / "export")
    return workdir


def evaluate_judge(judge: Judge, data) -> dict[str, float]:
    judge.eval()
    predicted = judge_images(judge, to_unit_range(data.images))
    figure = data.figure
    truth = {"species": data.species, "colour": data.colour, "scene": data.scene}
    return {name: float((predicted[name][figure] == truth[name][figure]).mean()) for name in HEADS}


def export(judge: Judge, folder: Path) -> Path:
    return export_small_net(judge, NET_CONFIG, folder)
