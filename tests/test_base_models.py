"""Which base model a --base-model string means: registered names first, folders only when written as a path
or holding a pipeline, hub ids as owner/name; everything else one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from actionbench.base_models import BASE_MODELS, resolve_base_model
from actionbench.errors import ActionBenchError


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("holds_a_pipeline", [False, True])
def test_a_folder_named_like_a_registered_base_never_shadows_it(workdir, tiny_pipeline_path, holds_a_pipeline):
    for name in ("mini", "tiny"):
        (workdir / name).mkdir()
        if holds_a_pipeline:
            shutil.copy(tiny_pipeline_path / "model_index.json", workdir / name / "model_index.json")
        base = resolve_base_model(name)
        assert base.name == name and base.folder == BASE_MODELS.get(name)()
        assert workdir not in base.folder.parents


def test_a_folder_written_as_a_path_is_that_folder(workdir, tiny_pipeline_path, monkeypatch):
    shutil.copytree(tiny_pipeline_path, workdir / "mini")
    for written in ("./mini", "mini/", str(workdir / "mini")):
        base = resolve_base_model(written)
        assert (base.name, base.folder) == (str(Path(written)), (workdir / "mini").resolve())
    monkeypatch.setenv("HOME", str(workdir))
    assert resolve_base_model("~/mini").folder == (workdir / "mini").resolve()


def test_a_bare_name_is_a_folder_only_when_it_holds_a_pipeline(workdir, tiny_pipeline_path):
    shutil.copytree(tiny_pipeline_path, workdir / "my-sd")
    assert resolve_base_model("my-sd").folder == (workdir / "my-sd").resolve()
    (workdir / "notes").mkdir()  # a folder that is no pipeline: the name is not a path
    with pytest.raises(ActionBenchError) as error:
        resolve_base_model("notes")
    assert str(error.value) == (f"base model 'notes' not found: use {', '.join(BASE_MODELS.names())}, a local "
                                f"pipeline folder, or a Hugging Face id.")
    with pytest.raises(ActionBenchError) as error:
        resolve_base_model("./notes")  # written as a path: that folder, which lacks the index
    assert str(error.value) == ("base model folder notes has no model_index.json: point --base-model at a "
                                "diffusers pipeline saved with save_pretrained.")


def test_hub_ids_and_missing_paths(workdir):
    assert resolve_base_model("stabilityai/stable-diffusion-2-1").folder is None
    for written in ("./absent", "~/absent-model-xyz", "/no/such/model"):
        with pytest.raises(ActionBenchError) as error:
            resolve_base_model(written)
        assert str(error.value).startswith(f"base model '{written}' not found: use ")


def _state(pipe) -> dict:
    """Everything a method may change: every component's weights, the tokenizer's vocabulary."""
    import torch

    tensors = {f"{name}.{key}": value.detach().clone() for name in ("unet", "vae", "text_encoder")
               for key, value in getattr(pipe, name).state_dict().items()}
    tensors["vocabulary"] = torch.tensor(len(pipe.tokenizer))
    return tensors


def test_each_load_is_a_fresh_copy_that_training_never_leaks_into(fixture_benchmark, tiny_pipeline_path, tmp_path):
    """The pipeline is read once per process and copied per load: TI (new tokens, grown text
    encoder) then DreamBooth (trained UNet and text encoder) in one process leave the cached pipeline,
    and the next load, byte-equal to a pipeline read from disk."""
    import torch
    from method_helpers import fixture_action, train

    from actionbench.base_models import _PRISTINE, BaseModel, clear_base_model_cache
    from actionbench.methods import METHODS

    clear_base_model_cache()
    base = BaseModel("tiny", tiny_pipeline_path)
    from_disk = _state(base._read(None))
    action = fixture_action(fixture_benchmark)
    for method_name in ("textual_inversion", "dreambooth"):
        method = METHODS.get(method_name)
        settings = dict(steps=2, num_inference_steps=2, guidance_scale=2.0)
        if method_name == "dreambooth":
            settings["num_class_images"] = 2
        pipe = base.load("cpu")
        train(method(), action, method.config_cls(**settings), tmp_path / method_name, pipe=pipe)
        if method_name == "textual_inversion":
            assert len(pipe.tokenizer) == len(base.load("cpu").tokenizer) + 1  # the token went into the copy only
            assert "<A>" in pipe.tokenizer.get_vocab()
    assert len(_PRISTINE) == 1  # one read for all loads
    cached = _state(next(iter(_PRISTINE.values())))
    again = base.load("cpu")
    assert "<A>" not in again.tokenizer.get_vocab() and len(again.tokenizer.tokenize("<A>")) > 1  # nothing leaked back
    for state in (cached, _state(again)):
        assert state.keys() == from_disk.keys()
        assert all(torch.equal(state[key], from_disk[key]) for key in from_disk)
    assert not any(mine.data_ptr() == theirs.data_ptr() for mine, theirs in
                   zip(again.unet.parameters(), next(iter(_PRISTINE.values())).unet.parameters()))


def test_a_base_folder_rewritten_in_place_is_read_again(tiny_pipeline_path, tmp_path):
    import torch

    from actionbench.base_models import BaseModel, clear_base_model_cache

    clear_base_model_cache()
    folder = tmp_path / "copy"
    shutil.copytree(tiny_pipeline_path, folder)
    base = BaseModel(str(folder), folder)
    before = base.load("cpu")
    changed = base.load("cpu")
    with torch.no_grad():
        for parameter in changed.vae.parameters():
            parameter.add_(1.0)
    changed.vae.save_pretrained(folder / "vae")
    after = base.load("cpu")
    first = next(after.vae.parameters())
    assert torch.equal(first, next(changed.vae.parameters())) and not torch.equal(first, next(before.vae.parameters()))
