"""References without training: the action written out in words, and the prompt without the action.

``text`` is the paper's "Stable Diffusion" row (the action in words; 30.71 / 84.51 / 27.17 Action /
Subject / Total on SD 2.1, from the authors' poster): the reference every trained method must beat
on Action. ``plain`` leaves the action out ("a cat"); the leakage metric compares against it.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from actionbench.data import Action, fill_action
from actionbench.fileio import atomic_write_json
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig
from actionbench.methods.generation import sample_images

WORDS_FILE = "words.json"


class _WordsMethod(Method):
    """Writes the words that replace ``{action}`` as the artifact; generation fills them in."""

    def words_for(self, action: Action) -> str:
        raise NotImplementedError

    def train(self, base, action: Action, config: MethodConfig, out_dir: Path) -> Path:
        atomic_write_json(Path(out_dir) / WORDS_FILE, {"action": action.name, "words": self.words_for(action)})
        return Path(out_dir)

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        words = json.loads((Path(artifact) / WORDS_FILE).read_text())["words"]
        return sample_images(base, [fill_action(p, words) for p in prompts], seeds, config)


@METHODS.register("text")
class TextMethod(_WordsMethod):
    """No training: the action written out in words (Stable Diffusion row of the paper)."""

    name = "text"
    paper = "Rombach et al., High-Resolution Image Synthesis with Latent Diffusion Models, CVPR 2022"

    def words_for(self, action: Action) -> str:
        return action.description


@METHODS.register("plain")
class PlainMethod(_WordsMethod):
    """No training and no action: the subject alone ("a cat"); the reference for appearance leakage."""

    name = "plain"
    paper = "Rombach et al., High-Resolution Image Synthesis with Latent Diffusion Models, CVPR 2022"

    def words_for(self, action: Action) -> str:
        return ""
