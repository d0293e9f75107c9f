"""dreambooth_lora: a peft LoRA that pipe.load_lora_weights loads; quick_subject_lora for ADI."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from method_helpers import PROMPTS, SAMPLING, SEEDS, eval_loss, fixture_action, fresh_pipe, pixels, train

from actionbench.data import fill_action
from actionbench.methods import METHODS
from actionbench.methods.generation import sample_images

METHOD = METHODS.get("dreambooth_lora")


def config(**overrides):
    settings = dict(SAMPLING, steps=2, learning_rate=1e-3)
    settings.update(overrides)
    return METHOD.config_cls(**settings)


@pytest.fixture(scope="module")
def trained(fixture_benchmark, tiny_pipeline_path, tmp_path_factory):
    action = fixture_action(fixture_benchmark)
    cfg = config(steps=10)
    return action, cfg, train(METHOD(), action, cfg, tmp_path_factory.mktemp("lora"))


def test_defaults_are_the_readmes():
    cfg = METHOD.config_cls()
    assert (cfg.steps, cfg.learning_rate, cfg.rank, cfg.with_prior_preservation, cfg.identifier) == (
        500, 1e-4, 4, False, "sks")


def test_artifact_loads_with_load_lora_weights_and_reproduces_generate(trained):
    action, cfg, artifact = trained
    assert (artifact / "pytorch_lora_weights.safetensors").is_file()
    from_method = METHOD().generate(fresh_pipe(), artifact, PROMPTS, SEEDS, cfg)
    pipe = fresh_pipe()
    pipe.load_lora_weights(str(artifact))  # diffusers' own loader
    from_diffusers = sample_images(pipe, [fill_action(p, "sks") for p in PROMPTS], SEEDS, cfg)
    assert np.array_equal(pixels(from_method), pixels(from_diffusers))
    base = sample_images(fresh_pipe(), [fill_action(p, "sks") for p in PROMPTS], SEEDS, cfg)
    assert not np.array_equal(pixels(from_method), pixels(base))


def test_learning_lowers_the_held_fixed_loss(trained):
    action, cfg, artifact = trained
    before = eval_loss(fresh_pipe(), action, "sks")
    learned = fresh_pipe()
    learned.load_lora_weights(str(artifact))
    assert eval_loss(learned, action, "sks") < before


def test_same_seed_same_images_other_seeds_differ(fixture_benchmark, tmp_path):
    action = fixture_action(fixture_benchmark)
    cfg = config(steps=1)
    first = train(METHOD(), action, cfg, tmp_path / "a")
    second = train(METHOD(), action, cfg, tmp_path / "b")
    images = pixels(METHOD().generate(fresh_pipe(), first, PROMPTS, SEEDS, cfg))
    assert np.array_equal(images, pixels(METHOD().generate(fresh_pipe(), second, PROMPTS, SEEDS, cfg)))
    assert np.abs(images - pixels(METHOD().generate(fresh_pipe(), first, PROMPTS, [7, 8], cfg))).mean() > 5


def test_quick_subject_lora_signature_is_stable():
    from actionbench.methods.dreambooth_lora import quick_subject_lora

    parameters = list(inspect.signature(quick_subject_lora).parameters)
    assert parameters[:7] == ["pipe", "image", "prompt", "steps", "lr", "rank", "seed"]


def test_quick_subject_lora_learns_the_one_image_and_is_seeded(fixture_benchmark):
    from actionbench.data.preprocess import exemplar_image
    from actionbench.methods.dreambooth_lora import QUICK_ADAPTER, quick_subject_lora

    action = fixture_action(fixture_benchmark)
    image = exemplar_image(action.exemplars[0], 64).resize((50, 80))  # any size: padded to square
    prompt = "a photo of sks person"

    def customised(seed):
        pipe = fresh_pipe()
        assert quick_subject_lora(pipe, image, prompt, steps=6, lr=1e-2, rank=4, seed=seed) is pipe
        return pipe

    import torch

    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    pipe = customised(0)
    assert torch.equal(torch.rand(3), expected_draw)  # the caller's random stream is untouched
    assert QUICK_ADAPTER in pipe.unet.peft_config
    cfg = config()
    shown = [prompt + " squatting"]
    images = pixels(sample_images(pipe, shown, [0], cfg))
    assert np.array_equal(images, pixels(sample_images(customised(0), shown, [0], cfg)))
    assert not np.array_equal(images, pixels(sample_images(customised(1), shown, [0], cfg)))
    assert not np.array_equal(images, pixels(sample_images(fresh_pipe(), shown, [0], cfg)))
    # Learning is real: the denoising loss of the anchor image under its prompt went down.
    from actionbench.methods.training import encode_images, encode_prompts, fixed_evaluation_loss

    from actionbench.data.preprocess import square_image

    def loss(p):
        latents = encode_images(p, [square_image(image, 64)]).mean.repeat(4, 1, 1, 1)
        return fixed_evaluation_loss(p, latents, encode_prompts(p, [prompt] * 4))

    assert loss(pipe) < loss(fresh_pipe())
    pipe.unet.delete_adapters(QUICK_ADAPTER)  # documented removal
    assert np.array_equal(pixels(sample_images(pipe, shown, [0], cfg)),
                          pixels(sample_images(fresh_pipe(), shown, [0], cfg)))
