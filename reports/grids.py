"""The paper's qualitative figure, per action: a PNG grid with methods as rows and subjects as columns.

Each cell is one generated image for that (method, subject): the lowest seed's first image, so every
row shows the same seeds. The grids are written beside ``leaderboard.html`` (``grids/<action>.png``)
and linked from it; they are figures to paste into a paper, not part of the self-contained board.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_bytes, stable_hash
from actionbench.imageio import open_rgb
from actionbench.reports.load import RunData

GRID_FOLDER = "grids"
CELL_MIN_PX = 128  # small generations (the tiny and mini pipelines) are enlarged to stay readable
CELL_MAX_PX = 256  # Stable Diffusion's 512-768 px images are shrunk to keep the figure light
GAP_PX = 4
FONT_PX = 14
LINE_PX = FONT_PX + 4
MAX_LABEL_LINES = 3
MAX_ROW_LABEL_PX = 220
BACKGROUND = (255, 255, 255)
MISSING = (200, 200, 200)


@dataclass
class Grid:
    image: Image.Image
    methods: list[str]  # rows, top to bottom
    subjects: list[str]  # columns, left to right (protocol order)
    boxes: dict[tuple[str, str], tuple[int, int, int, int]]  # (method, subject) -> (left, top, right, bottom)
    cell_px: int


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=FONT_PX)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fit_text(text: str, font, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, font, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels; the last line ends in an ellipsis when text is left."""
    lines: list[str] = []
    for word in " ".join(text.split()).split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " …"
    return [_fit_text(line, font, width) for line in lines]


def to_box(image: Image.Image, box_px: int) -> Image.Image:
    """``image`` sized to show in a ``box_px`` square, aspect kept. A smaller image is enlarged by the
    largest whole factor that fits, nearest-neighbour: each pixel becomes a crisp k x k block, never a
    smoothed blur (a 32 px mini image smoothed to 128 px looks like a blob a person cannot read). A
    larger image is shrunk with Lanczos (downscaling a photo without aliasing)."""
    longest = max(image.size)
    if longest <= box_px:
        factor = box_px // longest
        return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    scale = box_px / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def fit(image: Image.Image, cell_px: int) -> Image.Image:
    """The image in a ``cell_px`` square (:func:`to_box`), centred on white."""
    resized = to_box(image, cell_px)
    size = resized.size
    cell = Image.new("RGB", (cell_px, cell_px), BACKGROUND)
    cell.paste(resized, ((cell_px - size[0]) // 2, (cell_px - size[1]) // 2))
    return cell


def _open(path: str) -> Image.Image | None:
    try:
        return open_rgb(path)
    except ActionBenchError:
        return None  # a missing or corrupt image shows as a grey cell; the board says the rest


def chosen_images(images: pd.DataFrame) -> pd.DataFrame:
    """One image per (method, subject): the lowest seed's first image."""
    ordered = images.assign(_order=range(len(images))).sort_values(["seed", "image_id", "_order"], kind="stable")
    return ordered.drop_duplicates(["method", "subject"]).drop(columns="_order")


def action_grid(images: pd.DataFrame, title: str) -> Grid:
    """Methods as rows and subjects as columns for one action's images (rows of ``RunData.images``)."""
    chosen = chosen_images(images)
    methods = sorted(chosen["method"].unique())
    subjects = list(dict.fromkeys(images["subject"]))  # first appearance: the protocol's order
    subject_text = dict(zip(images["subject"], images["subject_text"]))
    pictures = {(r.method, r.subject): _open(r.path) for r in chosen.itertuples()}
    native = max((max(p.size) for p in pictures.values() if p is not None), default=CELL_MIN_PX)
    cell = min(CELL_MAX_PX, max(CELL_MIN_PX, native))

    font = _font()
    left = min(MAX_ROW_LABEL_PX, max(int(font.getlength(m)) for m in methods)) + 3 * GAP_PX
    labels = {s: _wrap(str(subject_text.get(s, s)), font, cell, MAX_LABEL_LINES) for s in subjects}
    top = LINE_PX + GAP_PX + max(len(lines) for lines in labels.values()) * LINE_PX + GAP_PX
    width = left + len(subjects) * (cell + GAP_PX) + GAP_PX
    height = top + len(methods) * (cell + GAP_PX) + GAP_PX
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((GAP_PX, GAP_PX), _fit_text(title, font, width - 2 * GAP_PX), fill=(0, 0, 0), font=font)

    boxes = {}
    for column, subject in enumerate(subjects):
        x = left + column * (cell + GAP_PX)
        for line_number, line in enumerate(labels[subject]):
            draw.text((x, LINE_PX + GAP_PX + line_number * LINE_PX), line, fill=(40, 40, 40), font=font)
        for row, method in enumerate(methods):
            y = top + row * (cell + GAP_PX)
            picture = pictures.get((method, subject))
            if picture is None:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=MISSING)
            else:
                canvas.paste(fit(picture, cell), (x, y))
            boxes[(method, subject)] = (x, y, x + cell, y + cell)
    for row, method in enumerate(methods):
        y = top + row * (cell + GAP_PX) + cell // 2 - FONT_PX // 2
        draw.text((GAP_PX, y), _fit_text(method, font, left - 3 * GAP_PX), fill=(0, 0, 0), font=font)
    return Grid(canvas, methods, subjects, boxes, cell)


def grid_file_name(action: str) -> str:
    """A portable file name for an action (names with other characters get a hash suffix)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", action)
    return f"{safe}.png" if safe == action else f"{safe}-{stable_hash(action, 8)}.png"


def write_grids(data: RunData, out_dir: Path) -> dict[str, Path]:
    """``out_dir/grids/<action>.png`` for every action with images; action -> path."""
    written = {}
    for action, images in data.images.groupby("action", sort=True):
        description = data.descriptions.get(action, "")
        grid = action_grid(images, f"{action}: {description}" if description else str(action))
        buffer = io.BytesIO()
        grid.image.save(buffer, format="PNG")
        path = Path(out_dir) / GRID_FOLDER / grid_file_name(str(action))
        atomic_write_bytes(path, buffer.getvalue())
        written[str(action)] = path
    for stale in (Path(out_dir) / GRID_FOLDER).glob("*.png"):
        if stale not in written.values():
            stale.unlink()  # an action no longer on the board
    return written
