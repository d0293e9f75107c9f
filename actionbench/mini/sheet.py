"""A contact sheet of the world: one row per action (held-in, then held-out), species cycling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from actionbench.fileio import atomic_path
from actionbench.mini.scenes import RANDOM_POSE, random_spec, render
from actionbench.mini.world import HELD_IN_ACTIONS, HELD_OUT_ACTIONS, SPECIES


def contact_sheet(path: Path, per_row: int = 10, seed: int = 0, zoom: int = 3) -> Path:
    species = list(SPECIES)
    rows = []
    for r, name in enumerate([*HELD_IN_ACTIONS, *HELD_OUT_ACTIONS, RANDOM_POSE]):
        images = [render(random_spec(seed * 100_000 + r * 1000 + i, pose_name=name,
                                     species=species[i % len(species)])).image for i in range(per_row)]
        rows.append(np.concatenate(images, axis=1))
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    sheet = sheet.resize((sheet.width * zoom, sheet.height * zoom), Image.Resampling.NEAREST)
    with atomic_path(Path(path)) as temp:
        sheet.save(temp, format="PNG")
    return Path(path)
