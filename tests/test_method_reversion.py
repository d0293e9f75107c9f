"""reversion: the steering loss and importance sampling against their definitions; TI-format artifact."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from method_helpers import PROMPTS, SAMPLING, SEEDS, eval_loss, fixture_action, fresh_pipe, pixels, train
from safetensors.torch import load_file

from actionbench.data import fill_action
from actionbench.methods import METHODS
from actionbench.methods.generation import sample_images
from actionbench.methods.reversion import RELATION_WORDS, SteeringLoss, importance_weights
from actionbench.methods.training import add_placeholder_tokens, sample_timesteps

METHOD = METHODS.get("reversion")


def config(**overrides):
    settings = dict(SAMPLING, steps=2, gradient_accumulation_steps=1, train_batch_size=2)
    settings.update(overrides)
    return METHOD.config_cls(**settings)


def test_defaults_are_the_repositorys():
    cfg = METHOD.config_cls()
    assert (cfg.steps, cfg.learning_rate, cfg.scale_lr, cfg.train_batch_size, cfg.gradient_accumulation_steps,
            cfg.placeholder_token, cfg.initializer_token, cfg.steer_loss_weight, cfg.num_positives,
            cfg.temperature, cfg.importance_sampling, cfg.scaled_cosine_alpha) == (
        3000, 2.5e-4, True, 2, 4, "<R>", "and", 0.01, 4, 0.07, True, 0.5)
    assert len(RELATION_WORDS) == 56 == len(set(RELATION_WORDS))


def test_importance_sampling_follows_one_minus_alpha_cos():
    weights = importance_weights(1000, 0.5)
    assert float(weights[0]) == pytest.approx((1 - 0.5) / 1000)
    assert float(weights[500]) == pytest.approx((1 - 0.5 * math.cos(math.pi / 2)) / 1000)
    assert bool((weights[1:] > weights[:-1]).all())  # noisier timesteps are drawn more often
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000)
    draws = sample_timesteps(scheduler, 20000, torch.Generator().manual_seed(0), weights).double()
    # E[t] = T (1/2 + 2 alpha / pi^2) for density 1 - alpha cos(pi t / T) on [0, T]
    assert float(draws.mean()) == pytest.approx(1000 * (0.5 + 2 * 0.5 / math.pi**2), abs=6)


def test_steering_loss_is_multi_instance_infonce_with_gradient_on_the_token_only():
    pipe = fresh_pipe()
    token_id = add_placeholder_tokens(pipe, ["<R>"], "and")[0]
    steer = SteeringLoss(pipe, "<R>", num_positives=4, temperature=0.07, rng=random.Random(0))
    prompts = ["a happy man <R> on the beach"]
    negatives = steer.negative_ids(prompts)
    assert pipe.tokenizer.convert_ids_to_tokens(negatives.tolist()) == ["happy</w>", "man</w>", "beach</w>"]
    positive_ids = SteeringLoss(pipe, "<R>", 4, 0.07, random.Random(0)).positive_ids(1)
    loss = steer(prompts)
    weight = pipe.text_encoder.get_input_embeddings().weight.detach()
    relation = F.normalize(weight[token_id], dim=0)

    def similarity(ids):
        return torch.stack([relation @ F.normalize(weight[i], dim=0) for i in ids]) / 0.07

    positive, negative = similarity(positive_ids), similarity(negatives.tolist())
    expected = -torch.log(positive.exp().sum() / (positive.exp().sum() + negative.exp().sum()))
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    pipe.text_encoder.get_input_embeddings().weight.requires_grad_(True)
    steer(prompts).backward()
    grad = pipe.text_encoder.get_input_embeddings().weight.grad
    assert set(torch.nonzero(grad.abs().sum(dim=1)).flatten().tolist()) == {token_id}


def test_steering_pulls_the_token_towards_prepositions(fixture_benchmark, tmp_path):
    """With the steering loss the learned token ends up nearer the prepositions than the exemplars'
    content words (InfoNCE with all 56 as positives), more so than without it."""
    from actionbench.methods.training import training_prompts

    action = fixture_action(fixture_benchmark)
    pipe = fresh_pipe()
    add_placeholder_tokens(pipe, ["<R>"], "and")
    steer = SteeringLoss(pipe, "<R>", 4, 0.07, random.Random(0))
    preposition_ids = [i for w in RELATION_WORDS for i in pipe.tokenizer(w, add_special_tokens=False).input_ids]
    table = pipe.text_encoder.get_input_embeddings().weight.detach()
    positives = F.normalize(table[preposition_ids], dim=1)
    negatives = F.normalize(table[steer.negative_ids(training_prompts(action, "<R>"))], dim=1)

    def infonce(vector):
        logits = torch.cat([positives, negatives]) @ F.normalize(vector, dim=0) / 0.07
        return float(torch.logsumexp(logits, 0) - torch.logsumexp(logits[:len(positives)], 0))

    def learned(weight, folder):
        cfg = config(steps=8, steer_loss_weight=weight, learning_rate=1e-2)
        return load_file(str(train(METHOD(), action, cfg, folder) / "learned_embeds.safetensors"))["<R>"]

    initial = table[pipe.tokenizer("and", add_special_tokens=False).input_ids[0]]
    assert infonce(learned(1.0, tmp_path / "a")) < min(infonce(learned(0.0, tmp_path / "b")), infonce(initial))


@pytest.fixture(scope="module")
def trained(fixture_benchmark, tiny_pipeline_path, tmp_path_factory):
    action = fixture_action(fixture_benchmark)
    cfg = config(steps=8, learning_rate=5e-3, scale_lr=False, train_batch_size=3)
    return action, cfg, train(METHOD(), action, cfg, tmp_path_factory.mktemp("rv"))


def test_artifact_is_textual_inversion_format_and_reproduces_generate(trained):
    action, cfg, artifact = trained
    assert list(load_file(str(artifact / "learned_embeds.safetensors"))) == ["<R>"]
    from_method = METHOD().generate(fresh_pipe(), artifact, PROMPTS, SEEDS, cfg)
    pipe = fresh_pipe()
    pipe.load_textual_inversion(str(artifact))
    from_diffusers = sample_images(pipe, [fill_action(p, "<R>") for p in PROMPTS], SEEDS, cfg)
    assert np.array_equal(pixels(from_method), pixels(from_diffusers))
    assert np.abs(pixels(from_method) - pixels(METHOD().generate(fresh_pipe(), artifact, PROMPTS, [4, 5], cfg))
                  ).mean() > 5


def test_learning_lowers_the_held_fixed_loss(trained):
    action, cfg, artifact = trained
    start = fresh_pipe()
    add_placeholder_tokens(start, ["<R>"], "and")
    learned = fresh_pipe()
    learned.load_textual_inversion(str(artifact))
    assert eval_loss(learned, action, "<R>") < eval_loss(start, action, "<R>")


def test_same_seed_same_token(fixture_benchmark, tmp_path):
    action = fixture_action(fixture_benchmark)
    vectors = [load_file(str(train(METHOD(), action, config(seed=seed), tmp_path / name) / "learned_embeds.safetensors"))["<R>"]
               for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert torch.equal(vectors[0], vectors[1]) and not torch.equal(vectors[0], vectors[2])
