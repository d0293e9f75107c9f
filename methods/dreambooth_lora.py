"""DreamBooth with LoRA adapters through peft, and a quick one-image subject customisation for ADI.

Ruiz et al. 2023 with the low-rank adapters of Hu et al. ("LoRA", ICLR 2022), trained as diffusers'
``examples/dreambooth/train_dreambooth_lora.py`` does: a peft ``LoraConfig`` on the UNet's attention
projections (to_q, to_k, to_v, to_out.0), ``lora_alpha = rank``, Gaussian init; everything else
frozen. Defaults are the README's LoRA command (lr 1e-4, 500 steps, no prior preservation; it can be
switched on as for ``dreambooth``).

Artifact: ``pytorch_lora_weights.safetensors`` written by diffusers' ``save_lora_weights``, so
``pipe.load_lora_weights(artifact)`` loads it, and ``actionbench.json``.

:func:`quick_subject_lora` is the stable entry point ADI uses to customise a subject on one anchor
image and then draw that person doing other actions.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from actionbench.data import Action
from actionbench.data.preprocess import square_image
from actionbench.methods import METHODS
from actionbench.methods.base import MethodConfig
from actionbench.methods.dreambooth import DreamBoothConfig, DreamBoothFamily, exemplar_images, fine_tune
from actionbench.methods.training import load_once, training_prompts, training_resolution, write_artifact_info

# train_dreambooth_lora.py's targets (add_k_proj/add_v_proj exist only in UNets with added KV attention).
LORA_TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_v_proj"]
LORA_WEIGHTS_FILE = "pytorch_lora_weights.safetensors"  # the name save/load_lora_weights use


@dataclass
class DreamBoothLoraConfig(DreamBoothConfig):
    # diffusers examples/dreambooth/README.md, "Training with Low-Rank Adaptation", unless noted.
    steps: int = 500  # --max_train_steps=500
    learning_rate: float = 1e-4  # --learning_rate=1e-4
    with_prior_preservation: bool = False  # the README's LoRA command trains without it
    rank: int = 4  # train_dreambooth_lora.py's --rank default


def add_lora(unet, rank: int, adapter_name: str = "default") -> list[torch.nn.Parameter]:
    """Add a peft LoRA adapter to the UNet's attention projections; return its trainable parameters."""
    from peft import LoraConfig

    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                target_modules=LORA_TARGET_MODULES), adapter_name=adapter_name)
    return [p for p in unet.parameters() if p.requires_grad]


def save_lora(pipe, folder: Path, adapter_name: str = "default") -> Path:
    """Write the UNet's LoRA in diffusers' format (what ``load_lora_weights`` reads)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet, adapter_name=adapter_name))
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    return Path(folder) / LORA_WEIGHTS_FILE


@METHODS.register("dreambooth_lora")
class DreamBoothLora(DreamBoothFamily):
    """DreamBooth with LoRA adapters through peft (pipe.load_lora_weights loads the artifact)."""

    name = "dreambooth_lora"
    paper = ("Ruiz et al., DreamBooth, CVPR 2023; Hu et al., LoRA: Low-Rank Adaptation of Large Language Models, "
             "ICLR 2022")
    config_cls = DreamBoothLoraConfig

    def train(self, base, action: Action, config: DreamBoothLoraConfig, out_dir: Path) -> Path:
        log = fine_tune(base, exemplar_images(base, action, config), training_prompts(action, config.identifier),
                        config, self.cache_dir, lambda: add_lora(base.unet, config.rank))
        out_dir = Path(out_dir)
        save_lora(base, out_dir)
        write_artifact_info(out_dir, {"method": self.name, "rank": config.rank, **log})
        return out_dir

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        load_once(base, artifact, lambda: base.load_lora_weights(str(artifact)))
        return self._sample(base, artifact, prompts, seeds, config)


QUICK_ADAPTER = "quick_subject"


def quick_subject_lora(pipe, image: Image.Image, prompt: str, steps: int = 300, lr: float = 1e-4, rank: int = 4,
                       seed: int = 0, *, config: MethodConfig | None = None,
                       adapter_name: str = QUICK_ADAPTER):
    """Customise ``pipe`` on ONE image of a subject; return ``pipe`` with the LoRA loaded and active.

    Stable signature (ADI builds its action-different samples with it). ``image``: any PIL image,
    made square by the suite's pad policy at the training size. ``prompt``: the instance prompt
    holding a rare identifier, e.g. ``"a photo of sks person"``; afterwards prompts such as
    ``"a photo of sks person squatting"`` draw the same person doing something else. ``steps``,
    ``lr``, ``rank``: the LoRA recipe (defaults are our choice for one image: the README's lr and
    rank, fewer steps than its 500); no prior preservation. ``seed`` seeds everything.
    ``config``: memory options and resolution (a :class:`MethodConfig`; its own steps, lr and seed
    are ignored). The pipe is changed in place (its attention processors are reset per
    ``config.attention``: call it on a plain pipeline); an adapter already named ``adapter_name`` is
    replaced. Remove it with ``pipe.unet.delete_adapters(adapter_name)``. The caller's global random
    state (Python, NumPy, torch) is the same afterwards.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL image, not {type(image).__name__}")
    base_config = config or MethodConfig()
    settings = {name: getattr(base_config, name) for name in MethodConfig.__dataclass_fields__}
    settings.update(seed=seed)
    lora_config = DreamBoothLoraConfig(**settings, steps=steps, learning_rate=lr, rank=rank,
                                       with_prior_preservation=False, identifier="")
    if adapter_name in getattr(pipe.unet, "peft_config", {}):
        pipe.unet.delete_adapters(adapter_name)
    size = training_resolution(pipe, lora_config)
    with _caller_random_state_kept(pipe.device):
        fine_tune(pipe, [square_image(image.convert("RGB"), size)], [prompt], lora_config, None,
                  lambda: add_lora(pipe.unet, rank, adapter_name))
    pipe.unet.set_adapters([adapter_name])
    return pipe


@contextlib.contextmanager
def _caller_random_state_kept(device):
    """fine_tune seeds Python's, NumPy's and torch's global generators; give the caller's back after."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
