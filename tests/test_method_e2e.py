"""Every baseline end to end through `actionbench run` on the tiny pipeline (a few steps each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from method_helpers import build_tiny_controlnet

from actionbench.cli import main

PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")
METHODS = ["textual_inversion", "dreambooth", "dreambooth_lora", "custom_diffusion", "reversion", "controlnet_pose"]


@pytest.mark.slow
def test_every_baseline_runs_end_to_end_and_resumes(capsys, fixture_benchmark, tmp_path):
    controlnet = build_tiny_controlnet(tmp_path / "controlnet")
    settings = [
        "textual_inversion.steps=2", "textual_inversion.gradient_accumulation_steps=1",
        "dreambooth.steps=2", "dreambooth.num_class_images=1",
        "dreambooth_lora.steps=2",
        "custom_diffusion.steps=2", "custom_diffusion.num_class_images=1", "custom_diffusion.train_batch_size=1",
        "reversion.steps=2", "reversion.gradient_accumulation_steps=1", "reversion.train_batch_size=1",
        f"controlnet_pose.controlnet_model={controlnet}", "controlnet_pose.pose_backend=fixture-stick",
    ]
    args = ["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", ",".join(METHODS),
            "--actions", "all", "--metrics", "brightness", "--out", str(tmp_path / "run"), "--no-report"]
    for setting in settings:
        args += ["--set", setting]
    assert main(args) == 0, capsys.readouterr().err
    units = tmp_path / "run" / "units"
    for method in METHODS:
        for action in ("arms_up", "arms_out"):
            unit = units / method / action
            assert json.loads((unit / "artifact" / "actionbench.json").read_text())["method"] == method
            assert sorted(p.name for p in (unit / "images").glob("*.png")) == ["cat-s0-0.png", "man-s0-0.png"]
            rows = [json.loads(line) for line in (unit / "scores.jsonl").read_text().splitlines()]
            assert len(rows) == 4 and all(r["value"] is not None for r in rows)  # 2 images x 2 scores
    # One class image, made once for the whole run and shared by DreamBooth, its LoRA variant and
    # Custom Diffusion on both actions (the run-level cache).
    class_images = sorted((tmp_path / "run" / "cache" / "class-images").rglob("*.png"))
    assert len(class_images) == 1
    assert not list(units.glob("*/*/cache"))
    stamps = {p: p.stat().st_mtime_ns for p in units.rglob("*") if p.is_file()}
    assert main(args) == 0  # resumes: everything is done, nothing is rewritten
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items() if "artifact" in p.parts)
