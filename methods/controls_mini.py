"""Controls on the mini world, where the truth can be drawn: ``oracle`` and ``wrong_action``.

* ``oracle``: the world's renderer draws the prompted subject (species, colour and scene, read from
  the prompt) doing the action, one instance per generator seed from the distribution the exemplars
  come from (:func:`actionbench.mini.benchmark.action_instance`, seeds of its own), then encodes and
  decodes it with the base model's autoencoder: the best image a generator of this world could draw.
  Every score it misses is the metric's (or the autoencoder's) shortfall, not a method's.
* ``wrong_action``: the same, doing another held-out action (drawn from the seed among the 7 others,
  :func:`actionbench.mini.truth.wrong_action_for`): the subject perfect, the action wrong.

Off the mini world (an action whose exemplars are not mini renders) both are ``Unavailable``: named,
they stop the run with one line; in ``--methods all`` they are left out with a notice.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from actionbench.data import Action
from actionbench.data.model import MINI_RENDER
from actionbench.errors import ActionBenchError, Unavailable
from actionbench.fileio import atomic_write_json
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig
from actionbench.methods.controls import CONTROL_FILE, generation_size


class _WorldControl(Method):
    """Draws the prompted subject doing :meth:`drawn_action` with the world's renderer."""

    control = True
    paper = "control (ours): the mini world's renderer through the generator's autoencoder"
    salt = "oracle"

    def check(self, action: Action, config: MethodConfig) -> None:
        from actionbench.mini.world import HELD_OUT_ACTIONS

        if action.domain != MINI_RENDER or action.name not in HELD_OUT_ACTIONS:
            raise Unavailable(f"{self.name} draws with the mini world's renderer and action '{action.name}' is not "
                              "one of its held-out actions", "run it with --benchmark mini, or leave it out of --methods")
        super().check(action, config)

    def drawn_action(self, action: str, seed: int) -> str:
        raise NotImplementedError

    def train(self, base, action: Action, config: MethodConfig, out_dir: Path) -> Path:
        atomic_write_json(Path(out_dir) / CONTROL_FILE, {"method": self.name, "action": action.name,
                                                         "size": generation_size(base, config)})
        return Path(out_dir)

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        from actionbench.mini.benchmark import subject_factors
        from actionbench.mini.truth import autoencode, render_instance

        info = json.loads((Path(artifact) / CONTROL_FILE).read_text())
        rendered = []
        for prompt, seed in zip(prompts, seeds):
            factors = subject_factors(prompt)
            if factors is None:
                raise ActionBenchError(f"{self.name} cannot find a subject of the mini world in the prompt '{prompt}'",
                                       "use the mini benchmark's protocol subjects")
            rendered.append(render_instance(self.drawn_action(info["action"], seed), factors, seed, self.salt))
        decoded = autoencode(base.vae, rendered)
        return [image.resize((info["size"],) * 2, Image.Resampling.BICUBIC) if image.width != info["size"] else image
                for image in decoded]


@METHODS.register("oracle")
class Oracle(_WorldControl):
    """Control (mini world): the prompted subject rendered doing the action, through the autoencoder."""

    name = "oracle"

    def drawn_action(self, action: str, seed: int) -> str:
        return action


@METHODS.register("wrong_action")
class WrongAction(_WorldControl):
    """Control (mini world): the prompted subject rendered doing another held-out action."""

    name = "wrong_action"
    salt = "wrong"

    def drawn_action(self, action: str, seed: int) -> str:
        from actionbench.mini.truth import wrong_action_for

        return wrong_action_for(action, seed)
