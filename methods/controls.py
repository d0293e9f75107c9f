"""Controls: methods whose right answer is known, so every metric can be read against them.

A metric or a judge that ranks these wrongly is broken, whatever it says about real methods; the
tests (``tests/test_controls.py``) pin where each lands, and the board shows them as the floor and
ceiling of every column (``control = True``: the run manifest lists them under ``controls``).

* ``copy_exemplar`` returns one of the action's exemplars, preprocessed to the generation size as
  every method sees them: the action perfect, the prompted subject absent (unless it is the
  exemplars' kind), appearance leakage maximal.
* ``blank`` returns a flat grey image: nothing shown, every score at its floor.

Neither trains (the artifact is a few files); neither needs the base model beyond its image size.
The mini world's ``oracle`` and ``wrong_action`` are in :mod:`.controls_mini`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from actionbench.data import Action
from actionbench.data.preprocess import POLICY, exemplar_image
from actionbench.fileio import atomic_path, atomic_write_json, stable_hash
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig
from actionbench.methods.training import native_resolution

CONTROL_FILE = "control.json"


def generation_size(base, config: MethodConfig) -> int:
    """The size the method's images must have: the protocol's (the base model's native size)."""
    return config.resolution or native_resolution(base)


def exemplar_choice(seed: int, count: int) -> int:
    """Which of ``count`` exemplars the image of generator seed ``seed`` copies: a hash of the seed,
    so every exemplar is drawn over a run's seeds and the choice never depends on batching."""
    return int(stable_hash(["copy_exemplar", int(seed)], 8), 16) % count


@METHODS.register("copy_exemplar")
class CopyExemplar(Method):
    """Control: returns an exemplar photo (action perfect, subject wrong, leakage maximal)."""

    name = "copy_exemplar"
    paper = "control (ours): the exemplars themselves, the ceiling of pose agreement and of leakage"
    control = True

    def train(self, base, action: Action, config: MethodConfig, out_dir: Path) -> Path:
        size = generation_size(base, config)
        files = []
        for index, exemplar in enumerate(action.exemplars):
            name = f"exemplar-{index:03d}.png"
            with atomic_path(Path(out_dir) / name) as temp:
                exemplar_image(exemplar, size).save(temp, format="PNG")
            files.append({"file": name, "source": exemplar.image_path.name, "sha256": exemplar.sha256})
        atomic_write_json(Path(out_dir) / CONTROL_FILE, {
            "method": self.name, "action": action.name, "size": size, "preprocessing": POLICY,
            "rule": "image of generator seed s copies exemplars[int(stable_hash(['copy_exemplar', s], 8), 16) % n]",
            "exemplars": files})
        return Path(out_dir)

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        files = self.chosen_files(artifact, seeds)
        out = []
        for path in files:
            with Image.open(path) as image:
                out.append(image.convert("RGB"))
        return out

    @staticmethod
    def chosen_files(artifact: Path, seeds: list[int]) -> list[Path]:
        """The exemplar file each seed's image copies (the record of which exemplar was drawn)."""
        entries = json.loads((Path(artifact) / CONTROL_FILE).read_text())["exemplars"]
        return [Path(artifact) / entries[exemplar_choice(seed, len(entries))]["file"] for seed in seeds]


@dataclass
class BlankConfig(MethodConfig):
    grey: int = 128  # the flat image's grey level, 0..255 (our choice: mid-grey, no edges, no colour)


@METHODS.register("blank")
class Blank(Method):
    """Control: a flat grey image (nothing shown; every score at its floor)."""

    name = "blank"
    paper = "control (ours): an image that shows nothing, the floor of every score"
    config_cls = BlankConfig
    control = True

    def train(self, base, action: Action, config: BlankConfig, out_dir: Path) -> Path:
        atomic_write_json(Path(out_dir) / CONTROL_FILE, {"method": self.name, "action": action.name,
                                                         "size": generation_size(base, config), "grey": config.grey})
        return Path(out_dir)

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: BlankConfig) -> list[Image.Image]:
        size = json.loads((Path(artifact) / CONTROL_FILE).read_text())["size"]
        return [Image.new("RGB", (size, size), (config.grey,) * 3) for _ in prompts]
