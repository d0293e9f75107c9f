"""The text-to-image model's training continues from an exported pipeline (``--init``) on a chosen
device: what a GPU session needs to train the shipped model longer (issue 18)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from actionbench.errors import ActionBenchError
from actionbench.mini.models import PIPELINE_DIR
from actionbench.mini.train import diffusion
from actionbench.mini.train.loop import CHECKPOINT


def test_unet_training_from_the_shipped_pipeline_starts_at_its_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(diffusion, "PRETRAIN_COUNT", 48)  # a small pretraining set (its own cache file)
    settings = dataclasses.replace(diffusion.DEFAULTS, steps=2, batch_size=4, lr=1e-9, warmup=1, ema_decay=None,
                                   init=str(PIPELINE_DIR), device="cpu")
    workdir = diffusion.train(settings, tmp_path / "unet", vae_dir=PIPELINE_DIR / "vae")

    state = torch.load(workdir / CHECKPOINT, map_location="cpu", weights_only=False)
    assert state["step"] == 2
    for module, file in (("unet", "unet/diffusion_pytorch_model.safetensors"),
                         ("text_encoder", "text_encoder/model.safetensors")):
        shipped, trained = load_file(str(PIPELINE_DIR / file)), state["modules"][module]
        assert shipped.keys() == trained.keys()
        for name, value in shipped.items():  # two updates at lr 1e-9 move nothing visible
            torch.testing.assert_close(trained[name], value.float(), rtol=0, atol=1e-6, msg=f"{module}.{name}")


def test_unet_training_from_a_pipeline_takes_its_autoencoder_where_export_reads_it(tmp_path, monkeypatch):
    monkeypatch.setattr(diffusion, "PRETRAIN_COUNT", 48)
    settings = dataclasses.replace(diffusion.DEFAULTS, steps=1, batch_size=2, ema_decay=None, init=str(PIPELINE_DIR))
    diffusion.train(settings, tmp_path / "unet", vae_dir=tmp_path / "vae" / "export")
    for name in ("config.json", "diffusion_pytorch_model.safetensors"):
        assert (tmp_path / "vae" / "export" / name).read_bytes() == (PIPELINE_DIR / "vae" / name).read_bytes()


def test_unet_training_without_an_autoencoder_says_how_to_get_one(tmp_path):
    with pytest.raises(ActionBenchError) as error:
        diffusion.train(diffusion.DEFAULTS, tmp_path / "unet", vae_dir=tmp_path / "vae")
    assert str(error.value) == (
        f"the unet's training needs a trained autoencoder; {tmp_path / 'vae'} holds none: run: actionbench mini "
        f"train --component vae (or copy the shipped actionbench/mini/weights/pipeline/vae into {tmp_path / 'vae'}).")


def test_unet_training_from_a_pipeline_without_an_autoencoder_says_how_to_get_one(tmp_path):
    pipeline = tmp_path / "pipeline"  # an exported pipeline whose vae folder was lost
    pipeline.mkdir()
    with pytest.raises(ActionBenchError) as error:
        diffusion.train(dataclasses.replace(diffusion.DEFAULTS, init=str(pipeline)), tmp_path / "unet",
                        vae_dir=tmp_path / "vae")
    assert str(error.value).startswith(f"the unet's training needs a trained autoencoder; {tmp_path / 'vae'} holds none")
