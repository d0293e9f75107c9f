"""Drawing the mini world with scikit-image's primitives: scenes, then one figure, supersampled.

A render is drawn at ``SUPERSAMPLE`` times the output size and averaged down, which anti-aliases
edges and keeps joints at sub-pixel precision. Everything random comes from the spec's seed, so a
spec always gives the same pixels. Each species' cue (ears, tail, beak, antenna, hair, bulk) is at
least 3 to 4 pixels at 32 px, where a smaller cue does not survive the autoencoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from skimage.draw import disk, polygon

from actionbench.mini.skeleton import JOINT_INDEX, Skeleton, _rotate
from actionbench.mini.world import COLOURS

SUPERSAMPLE = 4

# --- primitives (canvas coordinates: continuous, x right, y down; pixel i covers [i, i+1)) ---------


class Canvas:
    """An RGB float canvas plus a mask of the figure's pixels."""

    def __init__(self, size: int):
        self.size = size
        self.rgb = np.zeros((size, size, 3), np.float32)
        self.mask = np.zeros((size, size), np.float32)

    def fill_polygon(self, points: np.ndarray, colour, figure: bool = True) -> None:
        points = np.asarray(points, np.float64)
        rr, cc = polygon(points[:, 1] - 0.5, points[:, 0] - 0.5, shape=(self.size, self.size))
        self._paint(rr, cc, colour, figure)

    def fill_disk(self, center, radius: float, colour, figure: bool = True) -> None:
        rr, cc = disk((center[1] - 0.5, center[0] - 0.5), max(radius, 0.5), shape=(self.size, self.size))
        self._paint(rr, cc, colour, figure)

    def capsule(self, p0, p1, width: float, colour, figure: bool = True, round_ends: bool = True) -> None:
        """A thick segment: a quad, with disks at both ends when ``round_ends``."""
        p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
        direction = p1 - p0
        length = float(np.hypot(*direction))
        normal = np.array([-direction[1], direction[0]]) / length if length > 1e-9 else np.array([1.0, 0.0])
        half = normal * width / 2
        self.fill_polygon(np.array([p0 + half, p1 + half, p1 - half, p0 - half]), colour, figure)
        if round_ends:
            self.fill_disk(p0, width / 2, colour, figure)
            self.fill_disk(p1, width / 2, colour, figure)

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, colour, figure: bool = False) -> None:
        """An axis-aligned box: the pixels whose centres lie inside (as ``fill_polygon`` would pick)."""
        c0, c1 = max(0, math.ceil(x0 - 0.5)), min(self.size - 1, math.floor(x1 - 0.5))
        r0, r1 = max(0, math.ceil(y0 - 0.5)), min(self.size - 1, math.floor(y1 - 0.5))
        if c1 < c0 or r1 < r0:
            return
        self.rgb[r0:r1 + 1, c0:c1 + 1] = colour
        if figure:
            self.mask[r0:r1 + 1, c0:c1 + 1] = 1.0

    def _paint(self, rr, cc, colour, figure: bool) -> None:
        self.rgb[rr, cc] = colour
        if figure:
            self.mask[rr, cc] = 1.0

    def downsampled(self, factor: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.size // factor
        rgb = self.rgb.reshape(n, factor, n, factor, 3).mean(axis=(1, 3))
        mask = self.mask.reshape(n, factor, n, factor).mean(axis=(1, 3))
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mask


def shade(colour, factor: float) -> tuple[float, float, float]:
    """Darker (factor < 1) or lighter (factor > 1, towards white) version of a colour."""
    c = np.asarray(colour, np.float32)
    if factor <= 1:
        return tuple(c * factor)
    return tuple(c + (255 - c) * (factor - 1))


# --- scenes ----------------------------------------------------------------------------------------

# Where figures stand in each scene (fraction of the image height), and whether the scene is dark.
GROUND_LINE = {"beach": 0.93, "forest": 0.93, "snow": 0.93, "city": 0.95, "room": 0.93}
DARK_SCENES = {"forest", "city"}


def draw_scene(canvas: Canvas, scene: str, rng: np.random.Generator) -> None:
    s = canvas.size
    if scene == "beach":
        horizon = s * rng.uniform(0.52, 0.6)
        canvas.rectangle(0, 0, s, horizon, (135, 200, 245))
        canvas.rectangle(0, horizon, s, horizon + s * 0.1, (30, 100, 190))
        canvas.rectangle(0, horizon + s * 0.1, s, s, (230, 210, 150))
        sun = rng.uniform(0.1, 0.9) * s
        canvas.fill_disk((sun, s * 0.15), s * 0.06, (250, 240, 170), figure=False)
    elif scene == "forest":
        canvas.rectangle(0, 0, s, s, (20, 70, 35))
        for _ in range(int(rng.integers(3, 6))):
            x = rng.uniform(0, s)
            width = s * rng.uniform(0.05, 0.09)
            canvas.rectangle(x, 0, x + width, s, (95, 60, 30))
        canvas.rectangle(0, s * 0.78, s, s, (55, 120, 45))
    elif scene == "snow":
        canvas.rectangle(0, 0, s, s * 0.65, (185, 200, 220))
        canvas.rectangle(0, s * 0.65, s, s, (250, 250, 252))
        for _ in range(int(rng.integers(6, 12))):
            canvas.fill_disk((rng.uniform(0, s), rng.uniform(0, s * 0.6)), s * 0.012, (255, 255, 255), figure=False)
    elif scene == "city":
        canvas.rectangle(0, 0, s, s, (15, 20, 50))
        x = -rng.uniform(0, s * 0.1)
        while x < s:
            width = s * rng.uniform(0.15, 0.3)
            top = s * rng.uniform(0.2, 0.55)
            canvas.rectangle(x, top, x + width - s * 0.02, s, (50, 50, 72))
            for wy in np.arange(top + s * 0.05, s * 0.9, s * 0.1):
                for wx in np.arange(x + s * 0.03, x + width - s * 0.06, s * 0.08):
                    if rng.random() < 0.5:
                        canvas.rectangle(wx, wy, wx + s * 0.035, wy + s * 0.04, (235, 205, 90))
            x += width
    elif scene == "room":
        canvas.rectangle(0, 0, s, s, (205, 175, 145))
        wx, wy = rng.uniform(0.05, 0.65) * s, rng.uniform(0.1, 0.3) * s
        canvas.rectangle(wx, wy, wx + s * 0.28, wy + s * 0.25, (170, 215, 245))
        canvas.rectangle(0, s * 0.75, s, s, (130, 85, 50))
    else:
        raise ValueError(f"unknown scene {scene!r}")


# --- figures ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Build:
    """A species' body plan in body units (1 unit is the figure's standing height)."""

    limb: float  # arm and leg width
    torso: float  # torso width
    head: float  # head radius


BUILDS = {
    "person": Build(limb=0.07, torso=0.13, head=0.105),
    "cat": Build(limb=0.065, torso=0.12, head=0.1),
    "bear": Build(limb=0.13, torso=0.25, head=0.125),
    "robot": Build(limb=0.085, torso=0.22, head=0.12),
    "bird": Build(limb=0.04, torso=0.17, head=0.1),
}


def draw_figure(canvas: Canvas, species: str, colour_name: str, skeleton: Skeleton, unit: float,
                dark_scene: bool) -> None:
    """Draw one figure on ``skeleton`` (canvas coordinates); ``unit`` is canvas pixels per body unit."""
    build = BUILDS[species]
    body = COLOURS[colour_name]
    limbs = shade(body, 0.72)
    accent = shade(body, 1.75) if dark_scene else shade(body, 0.4)  # cues that must stand out
    j = {name: skeleton.joints[i] for name, i in JOINT_INDEX.items()}
    up = _rotate(np.array([0.0, -1.0]), skeleton.torso_angle)
    side = _rotate(np.array([1.0, 0.0]), skeleton.torso_angle)
    root_side = _rotate(np.array([1.0, 0.0]), skeleton.root_angle)
    root_down = _rotate(np.array([0.0, 1.0]), skeleton.root_angle)
    head_r = build.head * unit
    hc = skeleton.head_center

    # Behind the body: tails.
    if species == "cat":
        points = [skeleton.pelvis, skeleton.pelvis + unit * (0.14 * root_side + 0.06 * root_down),
                  skeleton.pelvis + unit * (0.27 * root_side - 0.02 * root_down),
                  skeleton.pelvis + unit * (0.32 * root_side - 0.2 * root_down)]
        for a, b in zip(points, points[1:]):
            canvas.capsule(a, b, 0.065 * unit, limbs)
    if species == "bird":
        base = skeleton.pelvis + unit * 0.03 * root_down
        canvas.fill_polygon(np.array([base, base + unit * (-0.34 * root_side + 0.12 * root_down),
                                      base + unit * (-0.3 * root_side + 0.3 * root_down)]), limbs)

    # Legs.
    for name in ("left", "right"):
        width = build.limb * unit
        canvas.capsule(j[f"{name}_hip"], j[f"{name}_knee"], width, limbs, round_ends=species != "robot")
        canvas.capsule(j[f"{name}_knee"], j[f"{name}_ankle"], width, limbs, round_ends=species != "robot")
        if species == "robot":
            canvas.fill_disk(j[f"{name}_knee"], width * 0.6, limbs)

    # Torso and neck.
    hips_mid = (j["left_hip"] + j["right_hip"]) / 2
    if species == "robot":
        half = side * build.torso * unit / 2
        canvas.fill_polygon(np.array([skeleton.neck + half, skeleton.neck - half, hips_mid - half,
                                      hips_mid + half]), body)
    else:
        canvas.capsule(hips_mid, skeleton.neck, build.torso * unit, body)
    canvas.capsule(skeleton.neck, hc, max(build.limb, 0.05) * unit, body)

    # Arms (birds: wings, wide at the shoulder).
    for name in ("left", "right"):
        s, e, w = j[f"{name}_shoulder"], j[f"{name}_elbow"], j[f"{name}_wrist"]
        if species == "bird":
            direction = e - s
            normal = np.array([-direction[1], direction[0]]) / max(np.hypot(*direction), 1e-9)
            wide = normal * 0.07 * unit
            canvas.fill_polygon(np.array([s + wide, e + wide * 0.6, e - wide * 0.6, s - wide]), limbs)
            canvas.capsule(e, w, 0.06 * unit, limbs)
        else:
            width = build.limb * unit * (0.9 if species != "bear" else 0.85)
            canvas.capsule(s, e, width, limbs, round_ends=species != "robot")
            canvas.capsule(e, w, width, limbs, round_ends=species != "robot")
            if species == "robot":
                canvas.fill_disk(e, width * 0.6, limbs)
                canvas.fill_disk(w, width * 0.7, accent)

    # Head and its cues.
    if species == "robot":
        half_up, half_side = up * head_r, side * head_r
        corners = [hc + half_up + half_side, hc + half_up - half_side, hc - half_up - half_side,
                   hc - half_up + half_side]
        canvas.fill_polygon(np.array(corners), body)
        tip = hc + up * (head_r + 0.12 * unit)
        canvas.capsule(hc + up * head_r, tip, 0.035 * unit, accent)
        canvas.fill_disk(tip, 0.045 * unit, accent)
        canvas.capsule(hc - side * head_r * 0.7 + up * head_r * 0.15, hc + side * head_r * 0.7 + up * head_r * 0.15,
                       0.045 * unit, accent, round_ends=False)
        return
    if species == "cat":
        for sign in (1, -1):
            base_a = hc + head_r * (math.cos(math.radians(60)) * sign * side + math.sin(math.radians(60)) * up)
            base_b = hc + head_r * (math.cos(math.radians(20)) * sign * side + math.sin(math.radians(20)) * up)
            apex = hc + head_r * (1.0 * sign * side + 1.75 * up)
            canvas.fill_polygon(np.array([base_a, apex, base_b, hc]), body)
    if species == "bear":
        for sign in (1, -1):
            canvas.fill_disk(hc + head_r * (0.78 * sign * side + 0.78 * up), 0.06 * unit, limbs)
    canvas.fill_disk(hc, head_r, body)
    if species == "person":
        rr, cc = disk((hc[1] - 0.5, hc[0] - 0.5), head_r * 1.06, shape=(canvas.size, canvas.size))
        offsets = np.stack([cc + 0.5 - hc[0], rr + 0.5 - hc[1]], axis=1)
        top = offsets @ up > head_r * 0.15
        canvas.rgb[rr[top], cc[top]] = (70, 45, 25) if not dark_scene else (150, 110, 70)
        canvas.mask[rr[top], cc[top]] = 1.0
    if species == "bird":
        root = hc + side * head_r * 0.6
        apex = hc + side * (head_r + 0.16 * unit) - up * 0.02 * unit
        canvas.fill_polygon(np.array([root + up * 0.055 * unit, apex, root - up * 0.055 * unit]), accent)
