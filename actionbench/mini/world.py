"""What exists in the mini world, and how it is described in words.

Species, colours and scenes are named factors; poses are named held-in actions (in pretraining
captions), the 8 held-out benchmark actions (ActionBench's names; their names and descriptions never
appear in any caption), or random unnamed poses (so the model can draw any pose). Captions are
built from a closed vocabulary (:func:`caption_vocabulary`), which the tests check against the
held-out actions' words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from actionbench.mini.skeleton import PoseAngles

# --- factors --------------------------------------------------------------------------------------

# Species differ in shape (head, ears, tail, beak, limb thickness); see render.py. kind: Subject.kind
SPECIES = {"person": "human", "cat": "animal", "bear": "animal", "robot": "other", "bird": "animal"}

COLOURS = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 215, 30),
    "green": (45, 185, 70),
    "blue": (40, 90, 235),
    "purple": (150, 70, 215),
}

SCENE_PHRASES = {
    "beach": "on a beach",
    "forest": "in a forest",
    "snow": "in the snow",
    "city": "in a city at night",
    "room": "in a room",
}

GENERIC_NOUN = "figure"  # stands in for the species when a caption leaves it out

# --- actions ----------------------------------------------------------------------------------------

# Named actions of pretraining: the phrase used in captions and the pose.
HELD_IN_ACTIONS: dict[str, tuple[str, PoseAngles]] = {
    "standing": ("standing", PoseAngles()),
    "waving": ("waving", PoseAngles(right_upper_arm=125, right_forearm=165)),
    "stretching": ("stretching out", PoseAngles(right_upper_arm=90, right_forearm=90, left_upper_arm=90,
                                                left_forearm=90, right_thigh=12, right_shin=10, left_thigh=12,
                                                left_shin=10)),
    "jumping": ("jumping", PoseAngles(right_upper_arm=60, right_forearm=40, left_upper_arm=60, left_forearm=40,
                                      right_thigh=50, right_shin=-40, left_thigh=50, left_shin=-40, lift=0.12)),
    "kicking": ("kicking", PoseAngles(right_upper_arm=45, right_forearm=60, left_upper_arm=45, left_forearm=60,
                                      left_thigh=80, left_shin=90)),
    "running": ("running", PoseAngles(right_upper_arm=-40, right_forearm=-110, left_upper_arm=-30,
                                      left_forearm=20, right_thigh=-35, right_shin=5, left_thigh=-30,
                                      left_shin=-75)),
    "lying": ("lying down", PoseAngles(root=90, right_upper_arm=10, right_forearm=5, left_upper_arm=10,
                                       left_forearm=5)),
    "bending": ("bending over", PoseAngles(spine=90, right_upper_arm=-90, right_forearm=-90, left_upper_arm=90,
                                           left_forearm=90, right_thigh=3, right_shin=3, left_thigh=3,
                                           left_shin=3)),
    "kneeling": ("kneeling", PoseAngles(right_thigh=0, right_shin=90, left_thigh=0, left_shin=-90)),
    "punching": ("punching", PoseAngles(right_upper_arm=90, right_forearm=90, left_upper_arm=20,
                                        left_forearm=215, right_thigh=12, right_shin=10, left_thigh=12,
                                        left_shin=10)),
}


@dataclass(frozen=True)
class HeldOutAction:
    name: str  # ActionBench's action name
    description: str  # in words; used by the `text` baseline, never in any pretraining caption
    pose: PoseAngles


# The 8 actions of ActionBench, as poses that look like them. Their words are kept out of captions.
HELD_OUT_ACTIONS: dict[str, HeldOutAction] = {a.name: a for a in (
    HeldOutAction("cheer", "cheering with the hands raised high overhead in celebration",
                  PoseAngles(right_upper_arm=150, right_forearm=160, left_upper_arm=150, left_forearm=160,
                             right_thigh=6, right_shin=3, left_thigh=6, left_shin=3)),
    HeldOutAction("gesture", "gesturing with one index finger pointing skyward beside the face",
                  PoseAngles(right_upper_arm=35, right_forearm=175)),
    HeldOutAction("handstand", "doing a handstand, balanced on the hands with the feet toward the sky",
                  PoseAngles(root=180, right_upper_arm=172, right_forearm=176, left_upper_arm=172,
                             left_forearm=176, right_thigh=3, right_shin=2, left_thigh=3, left_shin=2)),
    HeldOutAction("meditate", "meditating cross-legged in the lotus position, palms resting on the knees",
                  PoseAngles(right_upper_arm=25, right_forearm=32, left_upper_arm=25, left_forearm=32,
                             right_thigh=76, right_shin=-82, left_thigh=76, left_shin=-82)),
    HeldOutAction("pray", "praying with the palms pressed together in front of the chest",
                  PoseAngles(right_upper_arm=22, right_forearm=245, left_upper_arm=22, left_forearm=245)),
    HeldOutAction("salute", "giving a military salute, fingertips touching the forehead",
                  PoseAngles(right_upper_arm=110, right_forearm=250)),
    HeldOutAction("sit", "sitting on a chair, thighs level and shins vertical",
                  PoseAngles(right_upper_arm=12, right_forearm=-70, left_upper_arm=12, left_forearm=70,
                             right_thigh=-90, right_shin=0, left_thigh=90, left_shin=0)),
    HeldOutAction("squat", "squatting low on bent knees, hips near the heels",
                  PoseAngles(right_upper_arm=70, right_forearm=75, left_upper_arm=70, left_forearm=75,
                             right_thigh=78, right_shin=-5, left_thigh=78, left_shin=-5)),
)}

# Words of the held-out actions that a caption may not use (beyond their descriptions' own words).
HELD_OUT_EXTRA_WORDS = ("cheer", "cheers", "gesture", "gestures", "handstands", "meditate", "meditation",
                        "pray", "prayer", "salute", "saluting", "sit", "sits", "seated", "squat", "squats")

# Function words that may appear both in captions and in held-out descriptions.
STOPWORDS = frozenset("a an the in on of with at to and one".split())


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# --- captions ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaptionFacts:
    """What a caption may say about one render."""

    species: str
    colour: str
    scene: str
    action: str | None  # a held-in action name, or None for a random (or held-out) pose
    arms: tuple[str, str] | None  # ("up" | "out" | "down") for the (left, right) arm, for random poses
    orientation: str  # "upright", "upside down" or "lying"


PREFIXES = ("a photo of ", "an image of ", "a picture of ")


def arm_phrase(left: str, right: str) -> str:
    if left == right:
        return f"with both arms {left}"
    return f"with the left arm {left} and the right arm {right}"


def caption(facts: CaptionFacts, rng: np.random.Generator, *, drop_colour: float = 0.1,
            drop_species: float = 0.05, drop_scene: float = 0.15, drop_action: float = 0.15,
            describe_random_pose: float = 0.5, prefix: float = 0.1, empty: float = 0.0) -> str:
    """A caption in words for a render, with factors left out at the given rates.

    Held-out actions are never named: a render of one is described like a random pose.
    """
    if rng.random() < empty:
        return ""
    noun = facts.species if rng.random() >= drop_species else GENERIC_NOUN
    colour = facts.colour if rng.random() >= drop_colour else None
    first = colour or noun
    subject = f"{article(first)} {colour + ' ' if colour else ''}{noun}"
    action = None
    if facts.action is not None:
        if rng.random() >= drop_action:
            action = HELD_IN_ACTIONS[facts.action][0]
    elif rng.random() < describe_random_pose:
        parts = []
        if facts.orientation != "upright":
            parts.append(facts.orientation)
        if facts.arms is not None and (facts.orientation == "upright" or rng.random() < 0.5):
            parts.append(arm_phrase(*facts.arms))
        action = " ".join(parts) or None
    scene = SCENE_PHRASES[facts.scene] if rng.random() >= drop_scene else None
    words: list[str | None]
    if action and scene and rng.random() < 0.5:  # both orders: "a cat waving on a beach", "a cat on a beach waving"
        words = [subject, scene, action]
    else:
        words = [subject, action, scene]
    text = " ".join(w for w in words if w)
    if rng.random() < prefix:
        text = PREFIXES[int(rng.integers(len(PREFIXES)))] + text
    return text


def caption_vocabulary() -> set[str]:
    """Every word :func:`caption` can write (a closed set, by construction)."""
    words = set(SPECIES) | set(COLOURS) | {GENERIC_NOUN, "a", "an", "upside", "down", "lying"}
    for phrase in SCENE_PHRASES.values():
        words |= set(phrase.split())
    for phrase, _ in HELD_IN_ACTIONS.values():
        words |= set(phrase.split())
    for state in ("up", "out", "down"):
        words |= set(arm_phrase(state, state).split()) | set(arm_phrase(state, "x").split()) - {"x"}
    for prefix in PREFIXES:
        words |= set(prefix.split())
    return words


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+(?:-[a-z]+)?", text.lower()))


def held_out_words() -> set[str]:
    """Content words of the held-out actions (names, descriptions, extra forms) minus function words."""
    words = set(HELD_OUT_EXTRA_WORDS)
    for action in HELD_OUT_ACTIONS.values():
        words |= words_of(action.name) | words_of(action.description)
        words |= {part for word in words_of(action.description) for part in word.split("-")}
    return words - STOPWORDS
