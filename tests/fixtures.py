"""Small, fast fixtures: a two-action benchmark of drawn stick figures, written as data."""

from __future__ import annotations

from pathlib import Path

import tomli_w
from PIL import Image, ImageDraw

from actionbench.fileio import file_sha256

# Joint positions (x, y in a 64 px square) of two poses: arms up and arms out.
POSES = {
    "arms_up": {"head": (32, 12), "hands": [(20, 4), (44, 4)], "feet": [(24, 60), (40, 60)]},
    "arms_out": {"head": (32, 12), "hands": [(6, 26), (58, 26)], "feet": [(24, 60), (40, 60)]},
}
COLOURS = [(200, 40, 40), (40, 120, 200), (30, 160, 60)]


def draw_figure(pose: dict, colour: tuple[int, int, int], background: int) -> Image.Image:
    image = Image.new("RGB", (64, 64), (background,) * 3)
    draw = ImageDraw.Draw(image)
    hx, hy = pose["head"]
    draw.ellipse((hx - 5, hy - 5, hx + 5, hy + 5), fill=colour)
    draw.line((32, 17, 32, 40), fill=colour, width=3)
    for hand in pose["hands"]:
        draw.line((32, 22, *hand), fill=colour, width=3)
    for foot in pose["feet"]:
        draw.line((32, 40, *foot), fill=colour, width=3)
    return image


def write_action(folder: Path, name: str, description: str, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exemplars = []
    for i in range(n):
        path = folder / f"{i:02d}.png"
        draw_figure(POSES[name], COLOURS[i % len(COLOURS)], 230 - 20 * i).save(path)
        exemplars.append({"file": path.name, "sha256": file_sha256(path),
                          "template": f"a person in colour {i} {{}}", "context": f"a person in colour {i}"})
    (folder / "action.toml").write_text(tomli_w.dumps(
        {"name": name, "description": description, "exemplars": exemplars}))
    return folder


def write_benchmark(folder: Path, seeds=(0,), steps: int = 2) -> Path:
    write_action(folder / "arms_up", "arms_up", "raising both arms overhead")
    write_action(folder / "arms_out", "arms_out", "stretching both arms out to the sides")
    (folder / "benchmark.toml").write_text(tomli_w.dumps({
        "name": "fixture",
        "actions": ["arms_up", "arms_out"],
        "defaults": {"base_model": "tiny", "scorers": {"clip_model": "tiny-random", "pose_backend": "mediapipe"}},
        "protocol": {"prompt_template": "{subject} {action}", "seeds": list(seeds), "images_per_prompt": 1,
                     "num_inference_steps": steps, "guidance_scale": 2.0,
                     "subjects": [{"name": "man", "text": "a man", "kind": "human"},
                                  {"name": "cat", "text": "a cat", "kind": "animal"}]},
    }))
    return folder
