"""The board people read: ``leaderboard.html``, one self-contained file (no network, no side files).

Jinja2 with autoescaping renders every string from the run (prompts, action descriptions, method
names) as text. Images are embedded as data URIs: thumbnails per method x action, and the trade-off
plot of action fidelity against subject fidelity drawn with matplotlib.
"""

from __future__ import annotations

import base64
import io
import math
import time
from pathlib import Path

import jinja2
import pandas as pd
from PIL import Image

from actionbench.fileio import atomic_write_text
from actionbench.reports.leaderboard import OVERALL
from actionbench.reports.load import RunData

THUMBNAIL_PX = 96
THUMBNAILS_PER_CELL = 6


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail(path: str) -> str | None:
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except OSError:
        return None
    return _data_uri(buffer.getvalue())


def tradeoff_axes(data: RunData) -> tuple[str, str] | None:
    """The (subject score, action score) pair to plot; binary judgements preferred."""
    def pick(role: str) -> str | None:
        names = [n for n, i in data.infos.items() if i.get("role") == role and n in set(data.scores["score"])]
        names.sort(key=lambda n: (data.infos[n].get("kind") != "binary", n))
        return names[0] if names else None

    subject, action = pick("subject"), pick("action")
    return (subject, action) if subject and action else None


def tradeoff_plot(board: pd.DataFrame, axes: tuple[str, str] | None) -> str | None:
    """Action fidelity against subject fidelity per method, with 95% CIs, as a PNG data URI."""
    if axes is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subject, action = axes
    overall = board[board["action"] == OVERALL].set_index(["method", "score"])
    figure, axis = plt.subplots(figsize=(5.2, 4.2), dpi=110)
    for method in sorted({m for m, _ in overall.index}):
        if (method, subject) not in overall.index or (method, action) not in overall.index:
            continue
        x, y = overall.loc[(method, subject)], overall.loc[(method, action)]
        if any(math.isnan(v) for v in (x["mean"], y["mean"])):
            continue
        axis.errorbar(x["mean"], y["mean"], xerr=[[x["mean"] - x["ci_low"]], [x["ci_high"] - x["mean"]]],
                      yerr=[[y["mean"] - y["ci_low"]], [y["ci_high"] - y["mean"]]], fmt="o", capsize=3)
        axis.annotate(method, (x["mean"], y["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    axis.set_xlabel(f"subject fidelity ({subject})")
    axis.set_ylabel(f"action fidelity ({action})")
    axis.set_title("Action vs subject, 95% CI")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return _data_uri(buffer.getvalue())


def _format(mean: float, low: float, high: float, kind: str) -> str:
    if math.isnan(mean):
        return "–"
    scale, digits = (100.0, 1) if kind == "binary" else (1.0, 3)
    return f"{mean * scale:.{digits}f} [{low * scale:.{digits}f}, {high * scale:.{digits}f}]"


def table(board: pd.DataFrame, action: str, scores: list[str], infos: dict) -> dict:
    """Rows for one table: each cell has its text, its sort value and whether it is the column's best."""
    part = board[board["action"] == action]
    methods = sorted(part["method"].unique())
    cells = {(r.method, r.score): r for r in part.itertuples()}
    best = {}
    for score in scores:
        values = [cells[(m, score)].mean for m in methods if (m, score) in cells and not math.isnan(cells[(m, score)].mean)]
        if values:
            best[score] = max(values) if infos.get(score, {}).get("higher_is_better", True) else min(values)
    rows = []
    for method in methods:
        row = {"method": method, "cells": []}
        for score in scores:
            cell = cells.get((method, score))
            if cell is None:
                row["cells"].append({"text": "–", "value": "", "best": False, "n": 0})
                continue
            row["cells"].append({"text": _format(cell.mean, cell.ci_low, cell.ci_high, cell.kind),
                                 "value": "" if math.isnan(cell.mean) else f"{cell.mean:.6g}",
                                 "best": score in best and not math.isnan(cell.mean) and cell.mean == best[score],
                                 "n": cell.n})
        rows.append(row)
    return {"action": action, "rows": rows}


def write_html(board: pd.DataFrame, data: RunData, path: Path) -> Path:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("actionbench.reports", "."),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.get_template("leaderboard.html.j2")
    scores = sorted(board["score"].unique(), key=lambda s: (data.infos.get(s, {}).get("kind") != "binary", s))
    actions = sorted(a for a in board["action"].unique() if a != OVERALL)
    grid = []
    for (method, action), group in data.images.groupby(["method", "action"], sort=True):
        grid.append({"method": method, "action": action, "images": [
            {"src": thumbnail(row.path), "caption": f"{row.subject_text} (seed {row.seed})", "prompt": row.prompt}
            for row in group.head(THUMBNAILS_PER_CELL).itertuples()]})
    html = template.render(
        title="ActionBench leaderboard", benchmark=data.benchmark_label, generated=time.strftime("%Y-%m-%d %H:%M"),
        runs=sorted(data.manifests), scores=scores, infos=data.infos,
        overall=table(board, OVERALL, scores, data.infos),
        per_action=[table(board, a, scores, data.infos) for a in actions],
        descriptions={a: data.descriptions.get(a, "") for a in actions},
        base_models=sorted({str(m["base_model"]["name"]) for m in data.manifests.values()}),
        plot=tradeoff_plot(board, tradeoff_axes(data)), grid=grid)
    atomic_write_text(path, html)
    return path
