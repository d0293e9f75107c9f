"""The mini world's exemplar figures drawn in other actions: exact same-subject, action-different images.

ADI's action-different sample x(a', c) is "the same person doing something else"; the paper gets it
from a subject-driven model quickly trained on the anchor. The mini world can do better than any
such model: its renderer draws the anchor's figure itself (same species, colour, scene, size,
position and scene details) in another named action. ADI's ``action_different_source = "renderer"``
uses :data:`SAME_FIGURE_SOURCE` (declared lazily in ADI's registry of sources; this module imports
no method).

An exemplar's render spec is recovered from the benchmark's own recipe
(:func:`actionbench.mini.benchmark.exemplar_spec`) and
checked pixel for pixel against the exemplar's file, so a figure is never guessed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from actionbench.data import Action, Exemplar
from actionbench.errors import ActionBenchError, Unavailable
from actionbench.imageio import open_rgb
from actionbench.mini.benchmark import INSTANCE_LIMB_SPREAD, NAME, exemplar_spec
from actionbench.mini.scenes import RenderSpec, action_pose, render
from actionbench.mini.world import HELD_IN_ACTIONS, HELD_OUT_ACTIONS

SOURCE_NAME = "renderer"


def held_in_action(phrase: str) -> str | None:
    """The held-in action a phrase names ("lying down" -> "lying"), or None."""
    for name, (words, _) in HELD_IN_ACTIONS.items():
        if phrase.strip().lower() in (name, words):
            return name
    return None


def recover_spec(action_name: str, exemplar: Exemplar) -> RenderSpec:
    """The exemplar's render spec, verified against its pixels."""
    stem = exemplar.image_id
    if action_name not in HELD_OUT_ACTIONS or not stem.isdigit():
        raise ActionBenchError(f"exemplar '{exemplar.image_path.name}' of action '{action_name}' is not one of "
                               f"ActionBench-Mini's rendered exemplars",
                               "use action_different_source=subject_lora (the paper's) for other benchmarks")
    spec = exemplar_spec(list(HELD_OUT_ACTIONS).index(action_name), int(stem) - 1)
    if not np.array_equal(render(spec).image, np.asarray(open_rgb(exemplar.image_path))):
        raise ActionBenchError(f"exemplar '{exemplar.image_path}' differs from the mini world's render of it",
                               "re-render the benchmark (delete the mini benchmark cache) or use "
                               "action_different_source=subject_lora")
    return spec


class SameFigureSource:
    """ADI's action-different source on the mini world: the renderer, same figure, other actions."""

    def check(self, action: Action, config) -> None:
        if action.source != NAME:  # Unavailable: `--methods all` elsewhere leaves the variant out with a notice
            raise Unavailable(
                f"action_different_source '{SOURCE_NAME}' draws only ActionBench-Mini's figures; action "
                f"'{action.name}' is from '{action.source}'", "use action_different_source=subject_lora (the paper's)")
        unknown = [o for o in config.other_actions if held_in_action(o) is None]
        if unknown:
            raise ActionBenchError(
                f"the mini renderer cannot draw other_actions {', '.join(unknown)}",
                f"name the world's actions: {', '.join(words for words, _ in HELD_IN_ACTIONS.values())}")

    def draw(self, pipe, exemplar: Exemplar, index: int, others: list[str], seeds: list[int],
             config) -> tuple[list[str], list[Image.Image]]:
        """One render per other action: the anchor's spec with that action's pose (jittered as
        exemplars are, from ``seed``); the descriptions say what was drawn."""
        action_name = exemplar.image_path.parent.name
        spec = recover_spec(action_name, exemplar)
        images, descriptions = [], []
        for other, seed in zip(others, seeds):
            name = held_in_action(other)
            assert name is not None  # check() turned away every phrase that names no held-in action
            pose = action_pose(name, np.random.default_rng([seed, 17]), INSTANCE_LIMB_SPREAD)
            images.append(Image.fromarray(render(dataclasses.replace(spec, pose_name=name, pose=pose)).image))
            descriptions.append(f"rendered: the exemplar's figure {HELD_IN_ACTIONS[name][0]}")
        return descriptions, images


SAME_FIGURE_SOURCE = SameFigureSource()
