"""What every baseline shares: registration, bad input refused before training, memory options."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from method_helpers import SAMPLING, fixture_action, fresh_pipe, train

from actionbench.errors import ActionBenchError
from actionbench.methods import METHODS

TRAINABLE = ["textual_inversion", "dreambooth", "dreambooth_lora", "custom_diffusion", "reversion"]
BASELINES = TRAINABLE + ["controlnet_pose"]
PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")


def test_list_methods_shows_each_baseline_with_one_line_and_its_paper(capsys):
    from actionbench.cli import main

    assert main(["list", "methods"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in BASELINES:
        assert name in lines and "(" in lines[name] and "20" in lines[name]  # description (authors, year)
        method = METHODS.get(name)
        assert method.name == name and method.paper
        assert dataclasses.is_dataclass(method.config_cls)


@pytest.mark.parametrize("name", TRAINABLE)
def test_too_few_exemplars_names_the_minimum(name, fixture_benchmark):
    action = fixture_action(fixture_benchmark)
    short = dataclasses.replace(action, exemplars=action.exemplars[:2])
    method = METHODS.get(name)
    with pytest.raises(ActionBenchError) as error:
        method().check(short, method.config_cls())
    assert str(error.value) == (f"action 'arms_up' has 2 exemplar image(s); {name} needs at least 3: "
                                "add more photos of the action.")


def test_bad_input_stops_the_run_before_any_training(capsys, tmp_path):
    import tomli_w
    from fixtures import write_action, write_benchmark

    from actionbench.cli import main

    benchmark = write_benchmark(tmp_path / "bench")
    write_action(benchmark / "arms_up", "arms_up", "raising both arms overhead", n=2)
    code = main(["--plugins", PLUGIN, "run", "--benchmark", str(benchmark), "--methods", "textual_inversion",
                 "--actions", "all", "--metrics", "brightness", "--out", str(tmp_path / "run")])
    assert code == 2
    assert capsys.readouterr().err == ("actionbench: error: action 'arms_up' has 2 exemplar image(s); "
                                       "textual_inversion needs at least 3: add more photos of the action.\n")
    assert not (tmp_path / "run" / "units").exists()
    empty = benchmark / "arms_out"  # an action folder with no images
    (empty / "action.toml").write_text(tomli_w.dumps({"name": "arms_out", "description": "arms out"}))
    code = main(["--plugins", PLUGIN, "run", "--benchmark", str(benchmark), "--methods", "dreambooth",
                 "--actions", "arms_out", "--metrics", "brightness", "--out", str(tmp_path / "run")])
    assert code == 2
    assert capsys.readouterr().err == (f"actionbench: error: action 'arms_out' in {empty} has no exemplar images: "
                                       "list them under [[exemplars]] in action.toml.\n")


def test_a_template_without_a_slot_is_refused(fixture_benchmark):
    action = fixture_action(fixture_benchmark)
    broken = dataclasses.replace(action, exemplars=(dataclasses.replace(action.exemplars[0], template="a man waving"),)
                                 + action.exemplars[1:])
    with pytest.raises(ActionBenchError) as error:
        METHODS.get("reversion")().check(broken, METHODS.get("reversion").config_cls())
    assert str(error.value) == ("the caption template of exemplar 00.png of action 'arms_up' ('a man waving') has no "
                                "{} slot for reversion's identifier: write {} where the action goes, e.g. "
                                "'a man {} on a beach'.")


@pytest.mark.parametrize("setting, message", [
    ({"mixed_precision": "fp8"}, "mixed_precision is 'fp8': use no, fp16 or bf16."),
    ({"attention": "xformers"}, "attention is 'xformers': use sdpa or default."),
    ({"steps": 0}, "steps is 0: set steps to 1 or more."),
    ({"num_class_images": 0}, "num_class_images is 0 with prior preservation on: set num_class_images to 1 or more, "
                              "or with_prior_preservation=false."),
])
def test_bad_settings_are_refused_at_planning(fixture_benchmark, setting, message):
    method = METHODS.get("dreambooth")
    with pytest.raises(ActionBenchError) as error:
        method().check(fixture_action(fixture_benchmark), method.config_cls(**setting))
    assert str(error.value) == message


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_8bit_adam_without_bitsandbytes_is_one_clear_line(fixture_benchmark):
    method = METHODS.get("textual_inversion")
    with pytest.raises(ActionBenchError) as error:
        method().check(fixture_action(fixture_benchmark), method.config_cls(use_8bit_adam=True))
    assert str(error.value) == "use_8bit_adam needs bitsandbytes: pip install bitsandbytes, or turn it off."


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available(),
                    reason="needs bitsandbytes and a CUDA device")
def test_8bit_adam_runs_a_step(fixture_benchmark, tmp_path):
    method = METHODS.get("textual_inversion")
    cfg = method.config_cls(**SAMPLING, steps=2, gradient_accumulation_steps=1, use_8bit_adam=True)
    pipe = fresh_pipe().to("cuda")
    artifact = train(method(), fixture_action(fixture_benchmark), cfg, tmp_path / "a", pipe=pipe)
    assert (artifact / "learned_embeds.safetensors").is_file()


def test_a_base_that_is_not_stable_diffusion_like_is_refused_before_training(fixture_benchmark, tmp_path):
    from diffusers import UNet2DModel

    pipe = fresh_pipe()
    pipe.register_modules(unet=UNet2DModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32,),
                                           down_block_types=("DownBlock2D",), up_block_types=("UpBlock2D",)))
    for name in TRAINABLE:
        with pytest.raises(ActionBenchError) as error:
            train(METHODS.get(name)(), fixture_action(fixture_benchmark), METHODS.get(name).config_cls(), tmp_path,
                  pipe=pipe)
        assert str(error.value) == ("the base model is not Stable Diffusion-like (its denoiser is UNet2DModel, not a "
                                    "text-conditioned UNet2DConditionModel): use an SD 1.x/2.x checkpoint.")


def _train_token(fixture_benchmark, tmp_path, name, method="textual_inversion", **options):
    from safetensors.torch import load_file

    import json

    cls = METHODS.get(method)
    cfg = cls.config_cls(**SAMPLING, steps=3, gradient_accumulation_steps=1, learning_rate=1e-2, scale_lr=False,
                         **options)
    artifact = train(cls(), fixture_action(fixture_benchmark), cfg, tmp_path / name)
    vector = load_file(str(artifact / "learned_embeds.safetensors"))[cfg.placeholder_token]
    return np.array(json.loads((artifact / "actionbench.json").read_text())["loss_history"]), vector


@pytest.fixture(scope="module")
def default_run(fixture_benchmark, tiny_pipeline_path, tmp_path_factory):
    return _train_token(fixture_benchmark, tmp_path_factory.mktemp("default"), "default")


@pytest.mark.parametrize("options, tolerance", [
    ({"gradient_checkpointing": True}, 1e-5),
    ({"attention": "default"}, 1e-4),
    ({"mixed_precision": "bf16"}, 3e-2),
    ({"mixed_precision": "fp16"}, 1e-2),
])
def test_memory_options_run_and_stay_close_to_the_default(default_run, fixture_benchmark, tmp_path, options,
                                                          tolerance):
    losses, vector = _train_token(fixture_benchmark, tmp_path, "option", **options)
    default_losses, default_vector = default_run
    assert np.allclose(losses, default_losses, rtol=tolerance)
    initial = fresh_pipe().text_encoder.get_input_embeddings().weight[
        fresh_pipe().tokenizer.encode("action", add_special_tokens=False)[0]].detach()
    moved, default_moved = vector - initial, default_vector - initial
    assert float(torch.nn.functional.cosine_similarity(moved, default_moved, dim=0)) > 0.9


def test_gradient_checkpointing_is_really_on_for_a_trained_unet(fixture_benchmark, tmp_path):
    from actionbench.methods.training import apply_memory_options

    pipe = fresh_pipe()
    cfg = METHODS.get("dreambooth_lora").config_cls(gradient_checkpointing=True)
    apply_memory_options(pipe, cfg)
    assert pipe.unet.is_gradient_checkpointing and getattr(pipe.text_encoder, "is_activation_checkpointing", None) is True


def test_exemplar_sampler_draws_each_exemplar_once_per_epoch():
    from actionbench.methods.training import ExemplarSampler

    sampler = ExemplarSampler(5, torch.Generator().manual_seed(0))
    drawn = torch.cat([sampler.draw(2) for _ in range(5)]).tolist()
    assert sorted(drawn) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert sorted(drawn[:5]) == [0, 1, 2, 3, 4]


def artifact_contents(folder: Path) -> dict[str, object]:
    """Every file of an artifact, JSON without the seconds it took (the one thing two runs may differ in)."""
    import json

    def timeless(value):
        if isinstance(value, dict):
            return {k: timeless(v) for k, v in value.items() if k != "seconds"}
        return [timeless(v) for v in value] if isinstance(value, list) else value

    return {str(p.relative_to(folder)): timeless(json.loads(p.read_text())) if p.suffix == ".json" else p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


GENERATION_CHANGE = {"num_inference_steps": 3, "guidance_scale": 5.0, "generation_batch_size": 1}
SMALL_TRAINING = {"textual_inversion": {}, "reversion": {}, "p_plus": {}, "dreambooth_lora": {},
                  "dreambooth": {"num_class_images": 2}, "custom_diffusion": {"num_class_images": 2},
                  "adi": {"action_different_source": "base", "action_different_per_exemplar": 1}}


@pytest.mark.parametrize("name", SMALL_TRAINING)
def test_training_reads_exactly_the_generation_settings_its_method_declares(name, fixture_benchmark, tmp_path):
    """What keeps a generation-only change from retraining (plan.compute_keys) is only sound if an
    undeclared generation setting cannot change the artifact, and a declared one does."""
    cls = METHODS.get(name)
    method = cls(cache_dir=tmp_path / "cache")  # as the runner: class images and samples are cached
    config = cls.config_cls(**SAMPLING, steps=2, gradient_accumulation_steps=1, **SMALL_TRAINING[name])
    action = fixture_action(fixture_benchmark)
    first = artifact_contents(train(method, action, config, tmp_path / "first"))
    declared = method.training_reads(config)
    undeclared = {k: v for k, v in GENERATION_CHANGE.items() if k not in declared}
    assert artifact_contents(train(method, action, dataclasses.replace(config, **undeclared), tmp_path / "same")) == first
    assert bool(declared) == (name in ("dreambooth", "custom_diffusion", "adi"))
    if declared:
        changed = dataclasses.replace(config, **{k: GENERATION_CHANGE[k] for k in declared})
        assert artifact_contents(train(method, action, changed, tmp_path / "changed")) != first
