"""textual_inversion on the tiny pipeline: diffusers loads its artifact, it learns, it is reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from method_helpers import PROMPTS, SAMPLING, SEEDS, eval_loss, fixture_action, fresh_pipe, pixels, train
from safetensors.torch import load_file

from actionbench.data import fill_action
from actionbench.methods import METHODS
from actionbench.methods.generation import sample_images
from actionbench.methods.training import add_placeholder_tokens

METHOD = METHODS.get("textual_inversion")


def config(**overrides):
    settings = dict(SAMPLING, steps=2, gradient_accumulation_steps=1)
    settings.update(overrides)
    return METHOD.config_cls(**settings)


@pytest.fixture(scope="module")
def trained(fixture_benchmark, tiny_pipeline_path, tmp_path_factory):
    action = fixture_action(fixture_benchmark)
    cfg = config(steps=10, train_batch_size=3, learning_rate=5e-3, scale_lr=False)
    return action, cfg, train(METHOD(), action, cfg, tmp_path_factory.mktemp("ti"))


def test_defaults_are_the_papers():
    cfg = METHOD.config_cls()
    assert (cfg.steps, cfg.learning_rate, cfg.scale_lr, cfg.train_batch_size, cfg.gradient_accumulation_steps) == (
        3000, 5e-4, True, 1, 4)
    assert cfg.placeholder_token == "<A>"


def test_artifact_loads_with_load_textual_inversion_and_reproduces_generate(trained):
    action, cfg, artifact = trained
    embeds = load_file(str(artifact / "learned_embeds.safetensors"))
    assert list(embeds) == ["<A>"] and embeds["<A>"].shape == (32,)
    from_method = METHOD().generate(fresh_pipe(), artifact, PROMPTS, SEEDS, cfg)
    pipe = fresh_pipe()
    pipe.load_textual_inversion(str(artifact))  # diffusers' own loader
    from_diffusers = sample_images(pipe, [fill_action(p, "<A>") for p in PROMPTS], SEEDS, cfg)
    assert np.array_equal(pixels(from_method), pixels(from_diffusers))
    plain = sample_images(fresh_pipe(), [fill_action(p, "") for p in PROMPTS], SEEDS, cfg)
    assert not np.array_equal(pixels(from_method), pixels(plain))  # the token changes the images


def test_learning_lowers_the_held_fixed_loss_and_a_random_step_does_not(trained):
    action, cfg, artifact = trained
    start = fresh_pipe()  # step 0: the token initialised from the initializer word
    token_id = add_placeholder_tokens(start, ["<A>"], cfg.initializer_token)[0]
    before = eval_loss(start, action, "<A>")
    learned = fresh_pipe()
    learned.load_textual_inversion(str(artifact))
    after = eval_loss(learned, action, "<A>")
    assert after < before
    # Control: moving the embedding as far in a random direction does not lower the loss.
    weight = start.text_encoder.get_input_embeddings().weight
    learned_vector = load_file(str(artifact / "learned_embeds.safetensors"))["<A>"]
    distance = float((learned_vector - weight[token_id].detach()).norm())
    direction = torch.randn(weight.shape[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        weight[token_id] += direction / direction.norm() * distance
    assert eval_loss(start, action, "<A>") > after


def test_same_seed_same_artifact_and_images_other_seeds_differ(fixture_benchmark, tmp_path):
    action = fixture_action(fixture_benchmark)
    cfg = config()
    first = train(METHOD(), action, cfg, tmp_path / "a")
    second = train(METHOD(), action, cfg, tmp_path / "b")
    other = train(METHOD(), action, config(seed=1), tmp_path / "c")
    embeds = [load_file(str(f / "learned_embeds.safetensors"))["<A>"] for f in (first, second, other)]
    assert torch.equal(embeds[0], embeds[1]) and not torch.equal(embeds[0], embeds[2])
    pipe = fresh_pipe()
    images = pixels(METHOD().generate(pipe, first, PROMPTS, SEEDS, cfg))
    assert np.array_equal(images, pixels(METHOD().generate(pipe, first, PROMPTS, SEEDS, cfg)))  # loaded once
    assert np.array_equal(images, pixels(METHOD().generate(fresh_pipe(), second, PROMPTS, SEEDS, cfg)))
    shifted = pixels(METHOD().generate(fresh_pipe(), first, PROMPTS, [5, 6], cfg))
    assert np.abs(images - shifted).mean() > 5


def test_exemplars_of_different_sizes_are_padded_to_square(tmp_path):
    import tomli_w
    from PIL import Image, ImageDraw

    from actionbench.data.folder import load_action
    from actionbench.data.preprocess import exemplar_image

    folder = tmp_path / "mixed"
    folder.mkdir()
    sizes = [(64, 64), (40, 96), (150, 60)]
    for i, (width, height) in enumerate(sizes):
        image = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, width, 7), fill=(255, 0, 0))  # a red band at the top
        draw.rectangle((0, height - 8, width, height), fill=(0, 0, 255))  # a blue band at the bottom
        image.save(folder / f"{i}.png")
    (folder / "action.toml").write_text(tomli_w.dumps({"name": "mixed", "description": "standing", "exemplars": [
        {"file": f"{i}.png", "template": "a person {}"} for i in range(len(sizes))]}))
    action = load_action(folder)
    squares = [np.asarray(exemplar_image(e, 64)) for e in action.exemplars]
    assert {s.shape for s in squares} == {(64, 64, 3)}
    tall = squares[1]  # padded left and right, never cropped: both bands survive
    assert tall[1, 32, 0] > 200 and tall[1, 32, 2] < 60 and tall[62, 32, 2] > 200 and tall[62, 32, 0] < 60
    artifact = train(METHOD(), action, config(steps=1), tmp_path / "artifact")
    assert (artifact / "learned_embeds.safetensors").is_file()
