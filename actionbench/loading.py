"""How each trained artifact loads outside the suite: one entry per artifact format, found by its files.

Every method writes its artifact in a format diffusers reads (``methods/base.py``); this registry
says, per format, which call loads it and what fills ``{action}`` in a prompt, and writes the
standalone script (stock diffusers, no ActionBench import) that ``actionbench export`` puts in a
model card. The tests run each script in a fresh interpreter and compare its image with the suite's.
Formats are recognised by a marker file, in the order listed (a Custom Diffusion artifact also
holds a textual-inversion token, so it is checked first).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from actionbench.errors import ActionBenchError

ARTIFACT_INFO = "actionbench.json"  # methods.training.ARTIFACT_INFO: the identifier beside the diffusers files

STOCK_PIPELINE = ("pipe = StableDiffusionPipeline.from_pretrained(BASE, safety_checker=None, "
                  "requires_safety_checker=False)")


def _info_identifier(artifact: Path) -> str:
    return json.loads((artifact / ARTIFACT_INFO).read_text())["identifier"]


def _layerwise_token(artifact: Path) -> str:
    return json.loads((artifact / "identifiers.json").read_text())["token"]


def _words(artifact: Path) -> str:
    return json.loads((artifact / "words.json").read_text())["words"]


@dataclass(frozen=True)
class ArtifactFormat:
    """One artifact format: how to recognise it, the call that loads it, what stands for the action."""

    name: str
    marker: str  # a file or folder every artifact of this format holds
    call: str  # the loading call, in words, for tables
    fill: Callable[[Path], str]  # artifact -> the text that replaces {action} in a prompt
    imports: tuple[str, ...] = ("import torch", "from diffusers import StableDiffusionPipeline")
    load: tuple[str, ...] = (STOCK_PIPELINE,)  # lines that leave the loaded pipeline in `pipe`
    note: str = ""  # what a user must know (a workaround, an upstream issue)
    # "module:function" adding what a shared copy needs beyond the trained files (called on the copy)
    complete: str | None = None

    def matches(self, artifact: Path) -> bool:
        return (Path(artifact) / self.marker).exists()

    def complete_copy(self, folder: Path) -> None:
        """Add to a copy of an artifact what loading it needs (the layer-wise loader, for runs older than it)."""
        if self.complete:
            module, _, function = self.complete.partition(":")
            getattr(importlib.import_module(module), function)(folder)


CUSTOM_DIFFUSION_ISSUE = "https://github.com/huggingface/diffusers/issues/9320"

FORMATS: list[ArtifactFormat] = [
    ArtifactFormat(
        "layer-wise identifiers (P+, ADI)", "identifiers.json",
        "`DiffusionPipeline.from_pretrained(base, custom_pipeline=ARTIFACT, trust_remote_code=True)`, then "
        "`pipe.load_layerwise_identifiers(ARTIFACT)` (the artifact's own `pipeline.py`)",
        _layerwise_token,
        imports=("import torch", "from diffusers import DiffusionPipeline"),
        load=("pipe = DiffusionPipeline.from_pretrained(BASE, custom_pipeline=ARTIFACT, trust_remote_code=True,",
              "                                         safety_checker=None, requires_safety_checker=False)",
              "pipe.load_layerwise_identifiers(ARTIFACT)"),
        note="`pipeline.py` in this folder is the loader (format: actionbench-layerwise-identifiers/1); "
             "`trust_remote_code=True` lets diffusers import it. On a pipeline you already have: "
             "`DiffusionPipeline.from_pipe(pipe, custom_pipeline=ARTIFACT, trust_remote_code=True)`.",
        complete="actionbench.methods.layerwise:write_loader"),
    ArtifactFormat(
        "Custom Diffusion", "pytorch_custom_diffusion_weights.bin",
        "`CustomDiffusionAttnProcessor` + `pipe.unet.set_attn_processor(...)` from the weights file, then "
        "`pipe.load_textual_inversion(ARTIFACT)`",
        _info_identifier,
        imports=("import torch", "from diffusers import StableDiffusionPipeline",
                 "from diffusers.models.attention_processor import CustomDiffusionAttnProcessor"),
        load=(STOCK_PIPELINE,
              "# diffusers' pipe.unet.load_attn_procs(...) installs nothing unless given its private _pipeline=pipe",
              f"# argument ({CUSTOM_DIFFUSION_ISSUE}); the same with public classes:",
              'weights = torch.load(f"{ARTIFACT}/pytorch_custom_diffusion_weights.bin", weights_only=True)',
              "processors = {}",
              "for name in pipe.unet.attn_processors:",
              '    layer = {key[len(name) + 1:]: value for key, value in weights.items() if key.startswith(name + ".")}',
              "    if layer:",
              '        k = layer["to_k_custom_diffusion.weight"]',
              "        processors[name] = CustomDiffusionAttnProcessor(",
              '            train_kv=True, train_q_out="to_q_custom_diffusion.weight" in layer,',
              "            hidden_size=k.shape[0], cross_attention_dim=k.shape[1])",
              "        processors[name].load_state_dict(layer)",
              "    else:",
              "        processors[name] = CustomDiffusionAttnProcessor(train_kv=False, train_q_out=False)",
              "pipe.unet.set_attn_processor(processors)",
              "pipe.load_textual_inversion(ARTIFACT)"),
        note="diffusers' documented `pipe.unet.load_attn_procs(ARTIFACT, weight_name=...)` silently installs "
             f"nothing in diffusers 0.42 ({CUSTOM_DIFFUSION_ISSUE}, open); passing the private argument "
             "`_pipeline=pipe` works, and the snippet does the same with public classes only."),
    ArtifactFormat(
        "LoRA (DreamBooth-LoRA)", "pytorch_lora_weights.safetensors", "`pipe.load_lora_weights(ARTIFACT)`",
        _info_identifier,
        load=(STOCK_PIPELINE, "pipe.load_lora_weights(ARTIFACT)")),
    ArtifactFormat(
        "fine-tuned UNet (DreamBooth)", "unet",
        '`UNet2DConditionModel.from_pretrained(ARTIFACT, subfolder="unet")` passed as `unet=` to the pipeline',
        _info_identifier,
        imports=("import torch", "from diffusers import StableDiffusionPipeline, UNet2DConditionModel"),
        load=('unet = UNet2DConditionModel.from_pretrained(ARTIFACT, subfolder="unet", torch_dtype=torch.float32)',
              "pipe = StableDiffusionPipeline.from_pretrained(BASE, unet=unet, safety_checker=None, "
              "requires_safety_checker=False)")),
    ArtifactFormat(
        "textual inversion (Textual Inversion, ReVersion)", "learned_embeds.safetensors",
        "`pipe.load_textual_inversion(ARTIFACT)`", _info_identifier,
        load=(STOCK_PIPELINE, "pipe.load_textual_inversion(ARTIFACT)")),
    ArtifactFormat(
        "words (no training)", "words.json", "nothing to load: the action is written in words", _words),
]


def artifact_format(artifact: Path) -> ArtifactFormat:
    """The format of a trained artifact folder, or one line saying it has none that diffusers loads."""
    artifact = Path(artifact)
    for candidate in FORMATS:
        if candidate.matches(artifact):
            return candidate
    raise ActionBenchError(f"the artifact {artifact} is in no format diffusers loads on its own",
                           f"export methods whose artifact is one of: {', '.join(f.name for f in FORMATS)}")


def fill_prompt(prompt: str, artifact: Path) -> str:
    """``prompt`` with ``{action}`` replaced as the artifact's method does (a token, or words)."""
    from actionbench.data import fill_action

    return fill_action(prompt, artifact_format(artifact).fill(Path(artifact)))


@dataclass(frozen=True)
class Snippet:
    """A standalone script that loads an artifact with stock diffusers and draws one image."""

    base: str  # what from_pretrained reads: a hub id or a folder
    artifact: str  # the artifact folder, as the script should name it
    prompt: str  # with {action} already filled
    seed: int
    steps: int
    guidance: float
    output: str = "sample.png"

    def render(self, fmt: ArtifactFormat) -> str:
        lines = [*fmt.imports, "", f"BASE = {self.base!r}", f"ARTIFACT = {self.artifact!r}", "", *fmt.load,
                 "", f"image = pipe({self.prompt!r}, num_inference_steps={self.steps}, "
                     f"guidance_scale={self.guidance!r},",
                 f"             generator=torch.Generator().manual_seed({self.seed})).images[0]",
                 f"image.save({self.output!r})"]
        return "\n".join(lines) + "\n"
