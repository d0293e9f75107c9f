"""The mini world's figures: a 2D skeleton on the COCO-17 body joints, posed by joint angles.

Every figure, whatever its species, shares one skeleton (the same bone lengths), so a pose means
the same joint positions for a person and for a cat, and pose agreement compares like with like.
Figures face the viewer: the figure's left side is on the image's right, as in COCO.

Angles are in degrees. A limb's angle is measured from "hanging straight down" and grows outward,
away from the body's midline, mirrored for the two sides: 0 hangs down, 90 points out sideways,
180 points straight up, and negative angles cross in front of the body. Arms are measured in the
torso's frame, legs in the pelvis' frame (``root``), so a bent-over torso carries its arms with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")
JOINT_INDEX = {name: i for i, name in enumerate(COCO17)}

# Bone lengths in body units (a standing figure is about 1.0 unit tall from heel to crown).
TORSO = 0.30
NECK = 0.06
HEAD_RADIUS = 0.095
SHOULDER_HALF = 0.10
HIP_HALF = 0.06
UPPER_ARM = 0.16
FOREARM = 0.15
THIGH = 0.22
SHIN = 0.22

LEFT, RIGHT = 1.0, -1.0  # the figure's left is +x in the image (it faces the viewer)


@dataclass(frozen=True)
class PoseAngles:
    """A pose as joint angles (degrees); see the module docstring for the convention."""

    root: float = 0.0  # rotation of the whole body: 0 upright, 180 upside down, 90 lying (head to the right)
    spine: float = 0.0  # torso lean relative to the pelvis (positive leans towards the image's right)
    head: float = 0.0  # head tilt relative to the torso
    right_upper_arm: float = 8.0
    right_forearm: float = 5.0
    left_upper_arm: float = 8.0
    left_forearm: float = 5.0
    right_thigh: float = 4.0
    right_shin: float = 2.0
    left_thigh: float = 4.0
    left_shin: float = 2.0
    lift: float = 0.0  # height of the lowest point above the ground, in body units (jumps)

    def jittered(self, rng: np.random.Generator, degrees: float) -> "PoseAngles":
        """The same pose with every angle moved by up to ``degrees`` (uniform), root and lift kept."""
        changes = {name: getattr(self, name) + float(rng.uniform(-degrees, degrees))
                   for name in ANGLE_FIELDS if name != "root"}
        return replace(self, **changes)


ANGLE_FIELDS = ("root", "spine", "head", "right_upper_arm", "right_forearm", "left_upper_arm", "left_forearm",
                "right_thigh", "right_shin", "left_thigh", "left_shin")


def _rotate(vector: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (x, y) with y pointing down; positive angles turn clockwise on screen."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]])


def _limb_direction(angle: float, side: float, frame: float) -> np.ndarray:
    """Unit vector of a limb at ``angle`` (0 down, 90 outward, 180 up) on ``side``, in a rotated frame."""
    t = math.radians(angle)
    return _rotate(np.array([side * math.sin(t), math.cos(t)]), frame)


@dataclass(frozen=True)
class Skeleton:
    """Joint positions of one posed figure, in body units (y down), before placement in an image."""

    joints: np.ndarray  # (17, 2) in COCO-17 order
    pelvis: np.ndarray
    neck: np.ndarray
    head_center: np.ndarray
    torso_angle: float  # the torso's rotation (root + spine): "up" for the head is rotate((0, -1), this)
    root_angle: float

    def points(self) -> np.ndarray:
        """Every point a drawing reaches, for bounding boxes: joints plus the head's extent."""
        up = _rotate(np.array([0.0, -1.0]), self.torso_angle)
        side = _rotate(np.array([1.0, 0.0]), self.torso_angle)
        head = [self.head_center + HEAD_RADIUS * 1.6 * d for d in (up, side, -side, -up)]
        return np.vstack([self.joints, self.pelvis, self.neck, *head])

    def transformed(self, scale: float, offset: np.ndarray) -> "Skeleton":
        def move(p):
            return p * scale + offset
        return Skeleton(move(self.joints), move(self.pelvis), move(self.neck), move(self.head_center),
                        self.torso_angle, self.root_angle)


def forward_kinematics(pose: PoseAngles) -> Skeleton:
    """Joint positions of ``pose`` with the pelvis at the origin (body units, y down)."""
    torso_angle = pose.root + pose.spine
    up = _rotate(np.array([0.0, -1.0]), torso_angle)
    across_torso = _rotate(np.array([1.0, 0.0]), torso_angle)
    across_hips = _rotate(np.array([1.0, 0.0]), pose.root)
    pelvis = np.zeros(2)
    neck = pelvis + TORSO * up
    head_up = _rotate(np.array([0.0, -1.0]), torso_angle + pose.head)
    head_side = _rotate(np.array([1.0, 0.0]), torso_angle + pose.head)
    head_center = neck + (NECK + HEAD_RADIUS) * head_up
    joints = np.zeros((17, 2))
    r = HEAD_RADIUS
    joints[JOINT_INDEX["nose"]] = head_center - 0.15 * r * head_up
    joints[JOINT_INDEX["left_eye"]] = head_center + 0.4 * r * head_side + 0.2 * r * head_up
    joints[JOINT_INDEX["right_eye"]] = head_center - 0.4 * r * head_side + 0.2 * r * head_up
    joints[JOINT_INDEX["left_ear"]] = head_center + 0.9 * r * head_side
    joints[JOINT_INDEX["right_ear"]] = head_center - 0.9 * r * head_side
    for side, name in ((LEFT, "left"), (RIGHT, "right")):
        shoulder = neck + side * SHOULDER_HALF * across_torso
        elbow = shoulder + UPPER_ARM * _limb_direction(getattr(pose, f"{name}_upper_arm"), side, torso_angle)
        wrist = elbow + FOREARM * _limb_direction(getattr(pose, f"{name}_forearm"), side, torso_angle)
        hip = pelvis + side * HIP_HALF * across_hips
        knee = hip + THIGH * _limb_direction(getattr(pose, f"{name}_thigh"), side, pose.root)
        ankle = knee + SHIN * _limb_direction(getattr(pose, f"{name}_shin"), side, pose.root)
        for joint, point in (("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist), ("hip", hip),
                             ("knee", knee), ("ankle", ankle)):
            joints[JOINT_INDEX[f"{name}_{joint}"]] = point
    return Skeleton(joints, pelvis, neck, head_center, torso_angle, pose.root)


def place(skeleton: Skeleton, image_size: float, height_px: float, ground_y: float, center_x: float,
          lift: float, margin: float) -> Skeleton:
    """Scale a skeleton to ``height_px`` per body unit and stand its lowest point on ``ground_y``.

    The figure shrinks when it would leave the image (wide or tall poses), so every joint is inside.
    """
    points = skeleton.points()
    low, high = points.min(axis=0), points.max(axis=0)
    extent = np.maximum(high - low, 1e-6)
    room = np.array([image_size - 2 * margin, ground_y - margin])
    scale = min(height_px, *(room / (extent + np.array([0.0, lift]))))
    width = extent[0] * scale
    x0 = float(np.clip(center_x - width / 2, margin, image_size - margin - width))
    bottom = ground_y - lift * scale
    offset = np.array([x0 - low[0] * scale, bottom - high[1] * scale])
    return skeleton.transformed(scale, offset)
