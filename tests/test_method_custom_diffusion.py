"""custom_diffusion: K/V processors + a token, loaded by diffusers' loaders; augmentation; learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from method_helpers import PROMPTS, SAMPLING, SEEDS, eval_loss, fixture_action, fresh_pipe, pixels, train

from actionbench.data import fill_action
from actionbench.methods import METHODS
from actionbench.methods.generation import sample_images

METHOD = METHODS.get("custom_diffusion")


def config(**overrides):
    settings = dict(SAMPLING, steps=2, num_class_images=1, learning_rate=1e-3, train_batch_size=1)
    settings.update(overrides)
    return METHOD.config_cls(**settings)


@pytest.fixture(scope="module")
def trained(fixture_benchmark, tiny_pipeline_path, tmp_path_factory):
    action = fixture_action(fixture_benchmark)
    cfg = config(steps=8, augment=False)
    return action, cfg, train(METHOD(cache_dir=tmp_path_factory.mktemp("cd-cache")), action, cfg,
                              tmp_path_factory.mktemp("cd"))


def test_defaults_are_the_examples():
    cfg = METHOD.config_cls()
    assert (cfg.steps, cfg.learning_rate, cfg.scale_lr, cfg.train_batch_size, cfg.with_prior_preservation,
            cfg.prior_loss_weight, cfg.num_class_images, cfg.modifier_token, cfg.initializer_token, cfg.augment) == (
        250, 1e-5, True, 2, True, 1.0, 200, "<new1>", "ktn", True)


def test_effective_learning_rate_is_scaled_and_doubled_with_prior(trained):
    import json

    _, cfg, artifact = trained
    assert json.loads((artifact / "actionbench.json").read_text())["learning_rate"] == pytest.approx(1e-3 * 1 * 2)


def test_artifact_loads_through_diffusers_loaders_and_reproduces_generate(trained):
    from diffusers.models.attention_processor import CustomDiffusionAttnProcessor, CustomDiffusionAttnProcessor2_0

    action, cfg, artifact = trained
    weights = torch.load(artifact / "pytorch_custom_diffusion_weights.bin", weights_only=True)
    kv = [k for k in weights if k.endswith("custom_diffusion.weight")]
    assert kv and all("attn2" in k for k in kv) and any(w == {} for w in weights.values())  # self-attn kept empty
    from_method = METHOD().generate(fresh_pipe(), artifact, PROMPTS, SEEDS, cfg)
    pipe = fresh_pipe()
    pipe.unet.load_attn_procs(str(artifact), weight_name="pytorch_custom_diffusion_weights.bin", _pipeline=pipe)
    pipe.load_textual_inversion(str(artifact))
    assert sum(isinstance(p, CustomDiffusionAttnProcessor) for p in pipe.unet.attn_processors.values()) == len(
        pipe.unet.attn_processors)
    from_diffusers = sample_images(pipe, [fill_action(p, "<new1>") for p in PROMPTS], SEEDS, cfg)
    exact = METHOD().generate(fresh_pipe(), artifact, PROMPTS, SEEDS, dataclasses.replace(cfg, attention="default"))
    assert np.array_equal(pixels(exact), pixels(from_diffusers))  # diffusers' own processors
    assert np.abs(pixels(from_method) - pixels(from_diffusers)).max() <= 1  # the SDPA variant: rounding only
    assert any(isinstance(p, CustomDiffusionAttnProcessor2_0) for p in generated_with_sdpa(artifact, cfg))


def generated_with_sdpa(artifact, cfg):
    pipe = fresh_pipe()
    METHOD().generate(pipe, artifact, PROMPTS[:1], SEEDS[:1], cfg)
    return pipe.unet.attn_processors.values()


def test_learning_lowers_the_held_fixed_loss(trained):
    from actionbench.methods.custom_diffusion import load_custom_diffusion
    from actionbench.methods.training import add_placeholder_tokens

    action, cfg, artifact = trained
    start = fresh_pipe()
    add_placeholder_tokens(start, ["<new1>"], "ktn")
    learned = fresh_pipe()
    load_custom_diffusion(learned, artifact)
    assert eval_loss(learned, action, "<new1>") < eval_loss(start, action, "<new1>")


def test_random_scale_augmentation_matches_the_example():
    from PIL import Image

    from actionbench.methods.custom_diffusion import random_scale

    image = Image.new("RGB", (64, 64), (255, 255, 255))
    rng = np.random.default_rng(0)
    prefixes = set()
    for _ in range(40):
        pixels_, mask, prefix = random_scale(image, 64, 32, rng)
        assert pixels_.shape == (3, 64, 64) and mask.shape == (32, 32)
        inside = float(mask.mean())
        if prefix in ("zoomed in ", "close up "):
            assert inside == 1.0 and float(pixels_.min()) == 1.0  # enlarged and cropped: all image
        else:  # shrunk onto a zero canvas: the loss mask covers image pixels only
            seen = pixels_[:, mask.repeat_interleave(2, 0).repeat_interleave(2, 1).bool()]
            assert 0 < inside < 1.0 and float(seen.min()) == 1.0
        if prefix in ("a far away ", "very small "):
            assert float((pixels_ == 0).all(dim=0).float().mean()) > 0.6  # below 0.6x: mostly empty canvas
        prefixes.add(prefix)
    assert {"a far away ", "very small ", "zoomed in ", "close up "} <= prefixes


def test_trains_with_augmentation_and_is_seeded(fixture_benchmark, tmp_path):
    action = fixture_action(fixture_benchmark)
    cfg = config(with_prior_preservation=False)
    first = train(METHOD(), action, cfg, tmp_path / "a")
    second = train(METHOD(), action, cfg, tmp_path / "b")
    images = pixels(METHOD().generate(fresh_pipe(), first, PROMPTS, SEEDS, cfg))
    assert np.array_equal(images, pixels(METHOD().generate(fresh_pipe(), second, PROMPTS, SEEDS, cfg)))
    assert np.abs(images - pixels(METHOD().generate(fresh_pipe(), first, PROMPTS, [3, 4], cfg))).mean() > 5


def test_the_gradient_clip_reads_the_modifier_row_and_the_kv_weights_only(fixture_benchmark, tmp_path, monkeypatch):
    """The script zeroes every other token row's gradient before clipping (train_custom_diffusion.py);
    clipping the whole table's gradient would also count the caption's other words."""
    from actionbench.methods import training_loop

    clipped, clip = [], torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters, max_norm):
        parameters = list(parameters)
        clipped.append([tuple(p.shape) for p in parameters])
        return clip(parameters, max_norm)

    monkeypatch.setattr(training_loop.torch.nn.utils, "clip_grad_norm_", recording_clip)
    pipe = fresh_pipe()
    width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
    train(METHOD(cache_dir=tmp_path / "cache"), fixture_action(fixture_benchmark), config(steps=2, augment=False),
          tmp_path / "cd", pipe=pipe)
    assert len(clipped) == 2
    assert clipped[0][0] == (1, width)  # the modifier's row, not the table's 49409 rows
    assert all(len(shape) == 2 and shape[0] != 1 for shape in clipped[0][1:])  # then the K/V projections
