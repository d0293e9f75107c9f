"""The benchmark's content as data: actions, exemplars, subjects and the evaluation protocol.

An action is a folder of exemplar photos plus ``action.toml``; a benchmark is a folder of actions
plus ``benchmark.toml`` (the protocol). ``docs/data-format.md`` documents both files. Every object
here is immutable and carries a content hash (``version``) that goes into each run's manifest, so
scores computed from different data never mix silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actionbench.errors import ActionBenchError
from actionbench.fileio import stable_hash
from actionbench.names import check_distinct, check_name
from actionbench.seeding import check_seeds

ACTION_PLACEHOLDER = "{action}"
SUBJECT_KINDS = ("human", "animal", "other")
# What an action's exemplar images are, so that scorers made for one kind never read the other
# (a keypoint network trained on 32-px renders reads photos badly): see actionbench/data/domains.py.
PHOTO, MINI_RENDER = "photo", "mini-render"
DOMAINS = (PHOTO, MINI_RENDER)


@dataclass(frozen=True)
class Exemplar:
    """One exemplar photo of an action.

    ``template`` is the photo's caption with ``{}`` where the action goes (ReVersion's and
    ActionBench's ``text.json`` format); ``context`` is what the photo shows besides the action (the
    person and the background, in words): ADI builds its action-different samples from it.
    ``scene`` names the place the photo shows as a label ("beach"), where the data knows it: the
    leakage metric does not count a scene the prompt itself asks for as copied (``Protocol.subject_scenes``).
    """

    image_path: Path
    sha256: str
    template: str = "a photo of a person {}"
    context: str = "a person"
    scene: str = ""  # "" where unlabelled (every real photo so far)

    @property
    def image_id(self) -> str:
        return self.image_path.stem


@dataclass(frozen=True)
class Action:
    name: str
    description: str  # the action written out in words: "raising both arms overhead in celebration"
    exemplars: tuple[Exemplar, ...]
    mirror_invariant: bool = False  # True when the mirror image counts as the same action (yoga poses)
    source: str = "custom"  # the benchmark it belongs to, or "custom"
    root: Path | None = None
    domain: str = PHOTO  # what the exemplars are (one of DOMAINS); not in the version: it names, not changes, them

    def __post_init__(self) -> None:
        # The name becomes a folder of every run (units/<method>/<action>/): never a path.
        check_name("action", self.name, str(self.root / "action.toml") if self.root else None)

    @property
    def version(self) -> str:
        """Content hash of the images, the description and the templates."""
        return stable_hash({
            "name": self.name,
            "description": self.description,
            "mirror_invariant": self.mirror_invariant,
            "exemplars": [(e.sha256, e.template, e.context) for e in self.exemplars],
        })


@dataclass(frozen=True)
class Subject:
    """An evaluation subject: who or what should perform the action in a generated image."""

    name: str  # a slug used in file names: "cat", "michael_jackson"
    text: str  # as written in prompts: "a cat", "Michael Jackson"
    kind: str = "human"  # one of SUBJECT_KINDS

    def __post_init__(self) -> None:
        check_name("subject", self.name)  # it names image files: images/<subject>-s<seed>-<index>.png


@dataclass(frozen=True)
class Protocol:
    """How a method is evaluated on every action: subjects, prompts, seeds, sampler settings.

    ``prompt_template`` holds ``{subject}`` and ``{action}``; the runner fills ``{subject}`` and each
    method fills ``{action}`` its own way (a learned token, or the action's description in words).
    """

    subjects: tuple[Subject, ...]
    prompt_template: str = "{subject} {action}"
    seeds: tuple[int, ...] = (0, 1)
    images_per_prompt: int = 1
    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    notes: str = ""  # where the protocol comes from, and what is our choice
    # subject name -> the place its prompt asks for, labelled as exemplars label theirs ("beach").
    # Read by scoring only (the leakage metric), so it is kept out of the subjects, whose fields key
    # the generated images.
    subject_scenes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_distinct("subject", [subject.name for subject in self.subjects], "the protocol")
        unknown = sorted(set(self.subject_scenes) - {subject.name for subject in self.subjects})
        if unknown:
            raise ActionBenchError(f"the protocol gives a scene for {', '.join(unknown)}, not among its subjects",
                                   "name the scene on the subject's own entry")
        check_seeds(self.seeds, "the protocol")  # in range
        check_distinct("seed", [str(seed) for seed in self.seeds], "the protocol")  # a data file's duplicate is an error

    def prompt(self, subject: Subject) -> str:
        return self.prompt_template.format(subject=subject.text, action=ACTION_PLACEHOLDER)

    def scene_of(self, subject: Subject) -> str:
        """The place ``subject``'s prompt asks for ("" when it names none, or the subject is not the protocol's)."""
        return self.subject_scenes.get(subject.name, "")


@dataclass(frozen=True)
class Benchmark:
    name: str
    actions: dict[str, Action]
    protocol: Protocol
    root: Path | None = None
    # Defaults this benchmark brings: the base model and scorers of its world, per-method settings.
    defaults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, action in self.actions.items():
            if key != action.name:
                where = f" ({action.root / 'action.toml'})" if action.root else ""
                raise ActionBenchError(f"benchmark {self.name} lists action '{key}' but its action.toml{where} "
                                       f"names it '{action.name}'", "make the two names the same")
        check_distinct("action", list(self.actions), f"benchmark {self.name}")

    @property
    def version(self) -> str:
        """Content hash of every action, the exemplars' scene labels and the protocol. The labels are
        here, not in ``Action.version`` (which keys trainings): they change scores, not what is learned.
        A benchmark without labels hashes as it did before they existed, so its runs and baselines
        keep their version."""
        protocol = dataclasses.asdict(self.protocol)
        if not protocol["subject_scenes"]:
            del protocol["subject_scenes"]
        content = {"name": self.name, "protocol": protocol,
                   "actions": {name: action.version for name, action in sorted(self.actions.items())}}
        scenes = {name: [e.scene for e in action.exemplars] for name, action in sorted(self.actions.items())}
        if any(any(labels) for labels in scenes.values()):
            content["scenes"] = scenes
        return stable_hash(content)

    def with_actions(self, extra: dict[str, Action]) -> "Benchmark":
        merged = dict(self.actions)
        merged.update(extra)
        return Benchmark(self.name, merged, self.protocol, self.root, self.defaults)


def fill_action(prompt: str, words: str) -> str:
    """Put the action (a token or words) where the prompt's ``{action}`` placeholder is."""
    return " ".join(prompt.replace(ACTION_PLACEHOLDER, words).split())
