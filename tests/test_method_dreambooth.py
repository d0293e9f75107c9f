"""dreambooth on the tiny pipeline: an fp16 diffusers UNet folder, cached class images, real learning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from method_helpers import PROMPTS, SAMPLING, SEEDS, eval_loss, fixture_action, fresh_pipe, pixels, train

from actionbench.data import fill_action
from actionbench.methods import METHODS
from actionbench.methods.generation import sample_images

METHOD = METHODS.get("dreambooth")


def config(**overrides):
    settings = dict(SAMPLING, steps=2, num_class_images=2, learning_rate=1e-4)
    settings.update(overrides)
    return METHOD.config_cls(**settings)


@pytest.fixture(scope="module")
def trained(fixture_benchmark, tiny_pipeline_path, tmp_path_factory):
    action = fixture_action(fixture_benchmark)
    cfg = config(steps=4)
    cache = tmp_path_factory.mktemp("db-cache")
    return action, cfg, train(METHOD(cache_dir=cache), action, cfg, tmp_path_factory.mktemp("db")), cache


def test_defaults_are_the_papers():
    cfg = METHOD.config_cls()
    assert (cfg.steps, cfg.learning_rate, cfg.with_prior_preservation, cfg.prior_loss_weight,
            cfg.num_class_images, cfg.identifier, cfg.class_prompt) == (
        800, 5e-6, True, 1.0, 200, "sks", "a photo of a person")


def test_artifact_is_an_fp16_unet_folder_that_diffusers_loads(trained):
    from diffusers import UNet2DConditionModel
    from safetensors import safe_open

    action, cfg, artifact, _ = trained
    with safe_open(str(artifact / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float16}
    unet = UNet2DConditionModel.from_pretrained(artifact / "unet", torch_dtype=torch.float32)
    base = fresh_pipe().unet
    changed = [not torch.equal(a.half(), b.half()) for a, b in zip(unet.parameters(), base.parameters())]
    assert sum(changed) > len(changed) // 2  # the whole UNet was fine-tuned
    from_method = METHOD().generate(fresh_pipe(), artifact, PROMPTS, SEEDS, cfg)
    pipe = fresh_pipe()
    pipe.register_modules(unet=unet)
    from_diffusers = sample_images(pipe, [fill_action(p, "sks") for p in PROMPTS], SEEDS, cfg)
    assert np.array_equal(pixels(from_method), pixels(from_diffusers))


def test_class_images_are_cached_and_reused(trained, fixture_benchmark, tmp_path, monkeypatch):
    action, cfg, artifact, cache = trained
    files = sorted((cache / "class-images").glob("*/*.png"))
    assert [f.name for f in files] == ["0000.png", "0001.png"]
    assert json.loads((artifact / "actionbench.json").read_text())["class_images"] == 2
    import actionbench.methods.prior_preservation as prior

    calls = []
    original = prior.sample_images
    monkeypatch.setattr(prior, "sample_images", lambda pipe, prompts, *a, **k: calls.append(len(prompts)) or
                        original(pipe, prompts, *a, **k))
    train(METHOD(cache_dir=cache), action, cfg, tmp_path / "again")
    assert calls == []  # all reused
    train(METHOD(cache_dir=cache), action, config(steps=1, num_class_images=3), tmp_path / "more")
    assert calls == [1]  # only the missing third image is generated


def test_learning_lowers_the_held_fixed_loss(trained):
    action, cfg, artifact, _ = trained
    before = eval_loss(fresh_pipe(), action, "sks")
    learned = fresh_pipe()
    from actionbench.methods.dreambooth import load_unet

    load_unet(learned, artifact)
    assert eval_loss(learned, action, "sks") < before


def test_same_seed_same_unet_other_seed_differs(fixture_benchmark, tmp_path):
    from safetensors.torch import load_file

    action = fixture_action(fixture_benchmark)
    cache = tmp_path / "cache"
    weights = [load_file(str(train(METHOD(cache_dir=cache), action, config(steps=1, seed=seed), tmp_path / name)
                             / "unet" / "diffusion_pytorch_model.safetensors"))
               for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_prior_preservation_off_needs_no_class_images(fixture_benchmark, tmp_path):
    action = fixture_action(fixture_benchmark)
    artifact = train(METHOD(cache_dir=tmp_path / "cache"), action, config(steps=1, with_prior_preservation=False),
                     tmp_path / "a")
    assert json.loads((artifact / "actionbench.json").read_text())["class_images"] == 0
    assert not (tmp_path / "cache").exists()
