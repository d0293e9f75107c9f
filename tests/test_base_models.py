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
