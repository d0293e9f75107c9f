"""Render specs: everything about one image, drawn at random from a seed, and its exact ground truth.

A :class:`RenderSpec` names the species, colour, scene, pose and layout; :func:`render` turns it into
pixels plus the truth (joints in pixels, the figure's mask, the factors). Pretraining data mixes named
held-in actions with random unnamed poses; held-out actions are rendered only for the benchmark's
exemplars and for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from actionbench.mini.render import DARK_SCENES, GROUND_LINE, SUPERSAMPLE, Canvas, draw_figure, draw_scene
from actionbench.mini.skeleton import JOINT_INDEX, PoseAngles, Skeleton, forward_kinematics, place
from actionbench.mini.world import (COLOURS, HELD_IN_ACTIONS, HELD_OUT_ACTIONS, SCENE_PHRASES, SPECIES,
                                    CaptionFacts)

IMAGE_SIZE = 32
NO_FIGURE = "none"
RANDOM_POSE = "random"


@dataclass(frozen=True)
class RenderSpec:
    seed: int  # drives the scene's details (trees, windows) and nothing else
    species: str
    colour: str
    scene: str
    pose_name: str  # a held-in action, a held-out action, "random", or "none" (an empty scene)
    pose: PoseAngles = field(default_factory=PoseAngles)
    height_px: float = 23.0  # pixels per body unit (a standing figure's height)
    center_x: float = 16.0
    ground_jitter: float = 0.0  # pixels added to the scene's ground line


@dataclass
class Render:
    spec: RenderSpec
    image: np.ndarray  # (H, W, 3) uint8
    joints: np.ndarray  # (17, 2) float32, pixels, COCO-17 order; NaN when there is no figure
    mask: np.ndarray  # (H, W) float32, the figure's coverage of each pixel

    @property
    def has_figure(self) -> bool:
        return self.spec.pose_name != NO_FIGURE

    def facts(self) -> CaptionFacts:
        return spec_facts(self.spec)


def spec_facts(spec: RenderSpec) -> CaptionFacts:
    """What a caption may say about a render (held-out actions count as unnamed poses); no drawing."""
    action = spec.pose_name if spec.pose_name in HELD_IN_ACTIONS else None
    return CaptionFacts(species=spec.species, colour=spec.colour, scene=spec.scene, action=action,
                        arms=arm_states(placed_skeleton(spec).joints, spec.pose), orientation=orientation(spec.pose))


def orientation(pose: PoseAngles) -> str:
    root = pose.root % 360
    if 135 <= root <= 225:
        return "upside down"
    if 45 <= root < 135 or 225 < root <= 315:
        return "lying"
    return "upright"


def arm_states(joints: np.ndarray, pose: PoseAngles) -> tuple[str, str]:
    """("up" | "out" | "down") for the (left, right) arm: the wrist against the shoulder, in the torso's frame."""
    angle = np.radians(pose.root + pose.spine)
    up = np.array([np.sin(angle), -np.cos(angle)])  # the torso's "up" in image coordinates (y down)
    states = []
    for name in ("left", "right"):
        rise = float((joints[JOINT_INDEX[f"{name}_wrist"]] - joints[JOINT_INDEX[f"{name}_shoulder"]]) @ up)
        scale = float(np.linalg.norm(joints[JOINT_INDEX["left_shoulder"]] - joints[JOINT_INDEX["left_hip"]])) or 1.0
        rise /= scale  # in torso lengths, so the size of the figure does not matter
        states.append("up" if rise > 0.25 else "down" if rise < -0.4 else "out")
    return states[0], states[1]


def render(spec: RenderSpec, size: int = IMAGE_SIZE) -> Render:
    """Draw ``spec``: the same spec always gives the same pixels and joints."""
    rng = np.random.default_rng(spec.seed)
    canvas = Canvas(size * SUPERSAMPLE)
    draw_scene(canvas, spec.scene, rng)
    joints = np.full((17, 2), np.nan, np.float32)
    if spec.pose_name != NO_FIGURE:
        skeleton = placed_skeleton(spec, size)
        scaled = skeleton.transformed(SUPERSAMPLE, np.zeros(2))
        unit = _unit_px(skeleton) * SUPERSAMPLE
        draw_figure(canvas, spec.species, spec.colour, scaled, unit, spec.scene in DARK_SCENES)
        joints = skeleton.joints.astype(np.float32)
    image, mask = canvas.downsampled(SUPERSAMPLE)
    return Render(spec, image, joints, mask.astype(np.float32))


def placed_skeleton(spec: RenderSpec, size: int = IMAGE_SIZE) -> Skeleton:
    """The spec's skeleton in image pixels."""
    ground = GROUND_LINE[spec.scene] * size + spec.ground_jitter * size / IMAGE_SIZE
    return place(forward_kinematics(spec.pose), size, spec.height_px * size / IMAGE_SIZE, ground,
                 spec.center_x * size / IMAGE_SIZE, spec.pose.lift, margin=1.2 * size / IMAGE_SIZE)


def _unit_px(skeleton: Skeleton) -> float:
    """Pixels per body unit of a placed skeleton (from its torso, which every pose keeps)."""
    from actionbench.mini.skeleton import TORSO

    return float(np.linalg.norm(skeleton.neck - skeleton.pelvis)) / TORSO


# --- drawing specs at random -------------------------------------------------------------------------

def random_pose(rng: np.random.Generator) -> PoseAngles:
    """Any pose: mostly upright, some upside down or lying, limbs anywhere within loose joint limits."""
    u = rng.random()
    root = 0.0 if u < 0.8 else 180.0 if u < 0.9 else float(rng.choice([90.0, -90.0]))
    root += float(rng.normal(0, 6))
    spine = float(rng.normal(0, 8)) if rng.random() < 0.85 else float(rng.uniform(-100, 100))

    def arm():
        upper = float(rng.uniform(-45, 200))
        return upper, upper + float(rng.uniform(-150, 150))

    def leg():
        thigh = float(rng.normal(0, 15)) if rng.random() < 0.5 else float(rng.uniform(-95, 95))
        return thigh, thigh + float(np.clip(rng.normal(0, 45), -130, 130))

    ru, rf = arm()
    lu, lf = arm()
    rt, rs = leg()
    lt, ls = leg()
    lift = float(rng.uniform(0, 0.15)) if rng.random() < 0.1 else 0.0
    return PoseAngles(root=root, spine=spine, head=float(rng.normal(0, 8)), right_upper_arm=ru,
                      right_forearm=rf, left_upper_arm=lu, left_forearm=lf, right_thigh=rt, right_shin=rs,
                      left_thigh=lt, left_shin=ls, lift=lift)


def action_pose(name: str, rng: np.random.Generator, jitter: float = 8.0) -> PoseAngles:
    """A named action's pose (held-in or held-out), with every angle jittered by up to ``jitter`` degrees."""
    pose = HELD_IN_ACTIONS[name][1] if name in HELD_IN_ACTIONS else HELD_OUT_ACTIONS[name].pose
    return pose.jittered(rng, jitter)


def random_spec(seed: int, *, pose_name: str | None = None, species: str | None = None,
                colour: str | None = None, scene: str | None = None, random_fraction: float = 0.5,
                empty_fraction: float = 0.0, jitter: float = 8.0) -> RenderSpec:
    """A spec drawn from ``seed``; any factor given is fixed, the rest are drawn.

    Without ``pose_name``: an empty scene with probability ``empty_fraction``, else a random pose
    with probability ``random_fraction``, else a held-in action (never a held-out one).
    """
    rng = np.random.default_rng([seed, 7919])
    species = species or str(rng.choice(list(SPECIES)))
    colour = colour or str(rng.choice(list(COLOURS)))
    scene = scene or str(rng.choice(list(SCENE_PHRASES)))
    if pose_name is None:
        u = rng.random()
        if u < empty_fraction:
            pose_name = NO_FIGURE
        elif u < empty_fraction + (1 - empty_fraction) * random_fraction:
            pose_name = RANDOM_POSE
        else:
            pose_name = str(rng.choice(list(HELD_IN_ACTIONS)))
    if pose_name in (RANDOM_POSE, NO_FIGURE):
        pose = random_pose(rng)
    else:
        pose = action_pose(pose_name, rng, jitter)
    return RenderSpec(seed=seed, species=species, colour=colour, scene=scene, pose_name=pose_name, pose=pose,
                      height_px=float(rng.uniform(21.0, 25.0)), center_x=float(rng.uniform(12.0, 20.0)),
                      ground_jitter=float(rng.uniform(-1.0, 1.0)))
