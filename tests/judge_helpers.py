"""The judge's test helpers: benchmarks over the shared photo sets, and synthetic people.

The yoga photos stay where they are: each ``action.toml`` names them by absolute path (the folder
format joins ``file`` to the action's folder, and an absolute path wins), so nothing is copied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tomli_w

from actionbench.perception.pose_backends import COCO17, Pose

# /work/shared/actions/README.md's "what the body does", shortened to one clause each.
YOGA_DESCRIPTIONS = {
    "chair_pose": "standing with the knees deeply bent and the hips pushed back as if sitting on an invisible "
                  "chair, both arms raised overhead",
    "cobra_pose": "lying face down with the legs stretched back, hands under the shoulders pushing the chest "
                  "and head up so the back arches",
    "bridge_pose": "lying on the back with the knees bent and the feet flat on the floor, hips lifted high",
    "boat_pose": "sitting balanced on the buttocks with the torso leaning back and both legs raised so the "
                 "body makes a V, arms stretched forward",
    "camel_pose": "kneeling with the thighs upright, the back arched strongly backwards and the hands reaching "
                  "back to the heels",
    "bound_angle_pose": "sitting upright on the floor with the knees dropped out to the sides and the soles of "
                        "the feet pressed together, hands holding the feet",
}


def write_photo_benchmark(folder: Path, source: Path, descriptions: dict[str, str], mirror_invariant: bool,
                          name: str = "photos") -> Path:
    """A benchmark folder whose actions point at ``source/<action>/*.jpg`` in place."""
    folder.mkdir(parents=True, exist_ok=True)
    for action, description in descriptions.items():
        (folder / action).mkdir(exist_ok=True)
        spec = {"name": action, "description": description, "mirror_invariant": mirror_invariant,
                "exemplars": [{"file": str(p)} for p in sorted((source / action).glob("*.jpg"))]}
        (folder / action / "action.toml").write_text(tomli_w.dumps(spec))
    protocol = {"name": name, "protocol": {"subjects": [
        {"name": "woman", "text": "a woman", "kind": "human"}, {"name": "man", "text": "a man", "kind": "human"},
        {"name": "cat", "text": "a cat", "kind": "animal"}, {"name": "dog", "text": "a dog", "kind": "animal"}]}}
    (folder / "benchmark.toml").write_text(tomli_w.dumps(protocol))
    return folder


# -- synthetic people: COCO-17 keypoints of a figure 400 px tall facing the camera ----------------

# The person's left side appears on the image's right (they face the camera).
STANDING = {
    "nose": (100, 60), "left_eye": (105, 55), "right_eye": (95, 55), "left_ear": (110, 60), "right_ear": (90, 60),
    "left_shoulder": (130, 100), "right_shoulder": (70, 100), "left_elbow": (135, 150), "right_elbow": (65, 150),
    "left_wrist": (138, 195), "right_wrist": (62, 195), "left_hip": (120, 200), "right_hip": (80, 200),
    "left_knee": (120, 280), "right_knee": (80, 280), "left_ankle": (120, 360), "right_ankle": (80, 360),
}
# Actions as changes to the standing figure.
SYNTHETIC_ACTIONS = {
    "arms_down": {},
    "arms_up": {"left_elbow": (140, 55), "right_elbow": (60, 55), "left_wrist": (145, 10), "right_wrist": (55, 10)},
    "arms_out": {"left_elbow": (165, 100), "right_elbow": (35, 100), "left_wrist": (195, 100), "right_wrist": (5, 100)},
    "right_arm_up": {"right_elbow": (60, 55), "right_wrist": (55, 10)},
    "squat": {"left_hip": (125, 260), "right_hip": (75, 260), "left_knee": (160, 290), "right_knee": (40, 290),
              "left_elbow": (150, 110), "right_elbow": (50, 110), "left_wrist": (170, 120), "right_wrist": (30, 120)},
}


def synthetic_pose(action: str, jitter: float = 0.0, seed: int = 0, hidden: tuple[str, ...] = ()) -> Pose:
    """The figure doing ``action``, each joint moved by Gaussian noise of ``jitter`` px; ``hidden``
    joints get visibility 0."""
    joints = {**STANDING, **SYNTHETIC_ACTIONS[action]}
    keypoints = np.array([joints[name] for name in COCO17], dtype=np.float64)
    keypoints += np.random.default_rng(seed).normal(0.0, jitter, keypoints.shape)
    visibility = np.array([0.0 if name in hidden else 0.99 for name in COCO17])
    return Pose(keypoints=keypoints, visibility=visibility, image_size=(200, 400))
