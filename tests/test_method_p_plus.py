"""p_plus: layer-wise textual inversion on the tiny random pipeline."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from actionbench.base_models import resolve_base_model
from actionbench.data.folder import load_action
from actionbench.methods import METHODS
from actionbench.methods.layerwise import (
    IDENTIFIER_TOKEN, cross_attention_layers, encode_with_identifiers, load_identifiers, token_embedding)
from actionbench.methods.p_plus import PPlusConfig, PPlusMethod
from actionbench.methods.training import fixed_evaluation_loss
from test_layerwise import sd_layout_unet

PROMPTS = ["a cat {action}", "a man {action}", "a cat {action}"]
SEEDS = [0, 0, 1]


def fast_config(**overrides) -> PPlusConfig:
    settings = dict(steps=3, learning_rate=0.05, scale_lr=False, gradient_accumulation_steps=1,
                    num_inference_steps=2, guidance_scale=2.0)
    return PPlusConfig(**{**settings, **overrides})


@pytest.fixture()
def action(fixture_benchmark):
    return load_action(fixture_benchmark / "arms_up")


def evaluation_loss(pipe, state, vectors) -> float:
    """The denoising loss on every exemplar, each at 8 fixed (noise, timestep) draws."""
    with torch.no_grad():
        states = encode_with_identifiers(pipe, state.prompts * 8, vectors, state.token_id)
        return fixed_evaluation_loss(pipe, state.latents.mean.repeat(8, 1, 1, 1), states)


def test_is_registered_with_its_paper():
    method = METHODS.get("p_plus")
    assert method is PPlusMethod and "Voynov" in method.paper
    assert PPlusConfig().steps == 500 and PPlusConfig().layerwise


def test_learning_is_real(tiny_pipe, action):
    method = PPlusMethod()
    state = method.prepare(tiny_pipe, action, fast_config(learning_rate=0.1))
    start = state.identifiers.detach().clone()
    before = evaluation_loss(tiny_pipe, state, start)
    for _ in range(20):
        method.optimization_step(state)
    after = evaluation_loss(tiny_pipe, state, state.identifiers.detach())
    # The tiny random UNet barely listens to its text: moving the identifiers at random by their own
    # norm changes this loss by ~5e-6; 20 steps lower it by ~2.4e-4.
    assert after < before - 3e-5, (before, after)
    assert not torch.equal(state.identifiers.detach(), start)


def test_every_layer_token_gets_gradient_on_the_sd_layout(tiny_pipe, action):
    tiny_pipe.unet = sd_layout_unet()  # 16 cross-attention layers, as SD 1.x/2.x
    method = PPlusMethod()
    state = method.prepare(tiny_pipe, action, fast_config())
    assert state.identifiers.shape == (16, 32) and len(state.layer_names) == 16
    step = method.optimization_step(state)
    assert bool((step.gradient.abs().sum(dim=1) > 0).all()), "a layer's identifier got no gradient"


def test_single_token_mode_learns_one_shared_identifier(tiny_pipe, action, tmp_path):
    artifact = PPlusMethod().train(tiny_pipe, action, fast_config(layerwise=False), tmp_path / "art")
    identifiers = load_identifiers(artifact)
    assert identifiers.vectors.shape == (1, 32) and not identifiers.layerwise


def test_identifiers_start_from_the_initializer_word(tiny_pipe, action):
    state = PPlusMethod().prepare(tiny_pipe, action, fast_config(initializer_token="dance"))
    expected = token_embedding(tiny_pipe, "dance")
    assert all(torch.equal(row, expected) for row in state.identifiers.detach())


def test_artifact_loads_on_a_fresh_pipeline_and_reproduces_images(tiny_pipe, action, tmp_path):
    config = fast_config()
    method = PPlusMethod()
    artifact = method.train(tiny_pipe, action, config, tmp_path / "art")

    vectors = load_file(str(artifact / "identifiers.safetensors"))["identifiers"]
    manifest = json.loads((artifact / "identifiers.json").read_text())
    assert vectors.shape == (6, 32)
    assert manifest["token"] == IDENTIFIER_TOKEN and manifest["method"] == "p_plus"
    assert manifest["layer_names"] == cross_attention_layers(tiny_pipe.unet)
    assert manifest["settings"]["steps"] == 3 and manifest["base"]["fingerprint"]
    log = json.loads((artifact / "training_log.json").read_text())
    assert len(log["loss"]) == 3 and set(log["fixed_evaluation_loss"]) == {"start", "end"}

    images = method.generate(tiny_pipe, artifact, PROMPTS, SEEDS, config)
    fresh = resolve_base_model("tiny").load("cpu")
    again = method.generate(fresh, artifact, PROMPTS, SEEDS, config)
    arrays = [np.asarray(image) for image in images]
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(arrays, again))  # same seed, same image
    assert not np.array_equal(arrays[0], arrays[2])  # another seed, another image
    assert not np.array_equal(arrays[0], arrays[1])  # another subject, another image


def test_training_is_reproducible(tiny_pipe, action, tmp_path):
    first = PPlusMethod().train(tiny_pipe, action, fast_config(), tmp_path / "a")
    second = PPlusMethod().train(resolve_base_model("tiny").load("cpu"), action, fast_config(), tmp_path / "b")
    assert torch.equal(load_identifiers(first).vectors, load_identifiers(second).vectors)


def test_memory_options_give_the_same_gradient(tiny_pipe, action):
    plain = PPlusMethod().prepare(tiny_pipe, action, fast_config())
    reference = PPlusMethod().optimization_step(plain).gradient
    fresh = resolve_base_model("tiny").load("cpu")
    options = PPlusMethod().prepare(fresh, action, fast_config(gradient_checkpointing=True, attention="default"))
    assert torch.allclose(PPlusMethod().optimization_step(options).gradient, reference, rtol=1e-4, atol=1e-7)
    bf16 = PPlusMethod().prepare(resolve_base_model("tiny").load("cpu"), action, fast_config(mixed_precision="bf16"))
    assert torch.isfinite(PPlusMethod().optimization_step(bf16).gradient).all()


def test_a_non_finite_gradient_skips_the_update(tiny_pipe, action):
    """fp16 overflow's path without a GPU: the loop leaves the identifiers and AdamW's state alone."""
    method = PPlusMethod()
    state = method.prepare(tiny_pipe, action, fast_config())
    assert not state.optimisation.scaler.is_enabled()  # the loss scale is for fp16 on CUDA only
    start = state.identifiers.detach().clone()
    real = method.micro_losses
    method.micro_losses = lambda state, draws: real(state, draws) * float("inf")
    step = method.optimization_step(state)
    assert not step.applied and step.kept_fraction == 0.0
    assert torch.equal(state.identifiers.detach(), start) and not state.optimizer.state
    method.micro_losses = real
    assert method.optimization_step(state).applied
    assert not torch.equal(state.identifiers.detach(), start)
