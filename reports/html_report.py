"""The board people read: ``leaderboard.html``, one self-contained file (no network, nothing to load).

Jinja2 with autoescaping renders every string from the run (prompts, action descriptions, method
names) as text. Images are embedded as data URIs: thumbnails per method x action, and the trade-off
plot of action fidelity against subject fidelity drawn with matplotlib. The only things not embedded
are links to files written beside the board (the per-action image grids, the CSV and LaTeX tables).
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import time
from pathlib import Path

import jinja2
import pandas as pd
from PIL import Image

from actionbench.fileio import atomic_write_text
from actionbench.reports.compare import format_p, format_value
from actionbench.reports.leaderboard import OVERALL, column_labels, ordered_scores
from actionbench.reports.load import RunData

THUMBNAIL_PX = 96
THUMBNAILS_PER_CELL = 6


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail(path: str) -> str | None:
    try:
        with Image.open(path) as image:
            from actionbench.reports.grids import to_box

            image = to_box(image.convert("RGB"), THUMBNAIL_PX)  # small images: whole-pixel blocks, never smoothed
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


def csp_hash(script: str) -> str:
    """A Content-Security-Policy source that admits exactly this inline script."""
    return "sha256-" + base64.b64encode(hashlib.sha256(str(script).encode("utf-8")).digest()).decode("ascii")


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
                                 "value": "" if math.isnan(cell.mean) else repr(float(cell.mean)),  # exact sort key
                                 "best": score in best and not math.isnan(cell.mean) and cell.mean == best[score],
                                 "n": cell.n})
        rows.append(row)
    return {"action": action, "rows": rows}


def comparison_rows(comparison: pd.DataFrame | None) -> list[dict]:
    """The paired comparison as display rows (judgements in %, differences in points)."""
    if comparison is None:
        return []
    return [{"action": r.action, "score": r.score, "n": r.n, "higher_is_better": r.higher_is_better,
             "a": format_value(r.mean_a, r.kind), "b": format_value(r.mean_b, r.kind),
             "difference": format_value(r.difference, r.kind, signed=True),
             "ci": f"[{format_value(r.ci_low, r.kind, True)}, {format_value(r.ci_high, r.kind, True)}]",
             "p": format_p(r.p_value)} for r in comparison.itertuples()]


def write_html(board: pd.DataFrame, data: RunData, path: Path, comparison: pd.DataFrame | None = None,
               grid_links: dict[str, str] | None = None, files: list[tuple[str, str]] | None = None,
               human: dict | None = None) -> Path:
    """Render the board. ``grid_links`` (action -> relative path) and ``files`` ((label, relative path))
    are links to files written beside the board; everything else is embedded. ``human``: the human
    ratings section (``reports.human.display``), when the run has ratings."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("actionbench.reports", "."),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["csp_hash"] = csp_hash
    template = environment.get_template("leaderboard.html.j2")
    scores = ordered_scores(board["score"].unique(), data.infos)
    actions = sorted(a for a in board["action"].unique() if a != OVERALL)
    grid = []
    for (method, action), group in data.images.groupby(["method", "action"], sort=True):
        grid.append({"method": method, "action": action, "images": [
            {"src": thumbnail(row.path), "caption": f"{row.subject_text} (seed {row.seed})", "prompt": row.prompt}
            for row in group.head(THUMBNAILS_PER_CELL).itertuples()]})
    prompts = {a: list(dict.fromkeys(data.images.loc[data.images["action"] == a, "prompt"])) for a in actions}
    pair = None if comparison is None or comparison.empty else (comparison["method_a"].iloc[0],
                                                               comparison["method_b"].iloc[0])
    html = template.render(
        title="ActionBench leaderboard", benchmark=data.benchmark_label, generated=time.strftime("%Y-%m-%d %H:%M"),
        runs=sorted(data.manifests), scores=scores, labels=column_labels(scores, data.infos), infos=data.infos,
        overall=table(board, OVERALL, scores, data.infos),
        per_action=[table(board, a, scores, data.infos) for a in actions],
        descriptions={a: data.descriptions.get(a, "") for a in actions}, prompts=prompts,
        base_models=sorted({str(m["base_model"]["name"]) for m in data.manifests.values()}),
        plot=tradeoff_plot(board, tradeoff_axes(data)), grid=grid,
        pair=pair, comparison=comparison_rows(comparison), grid_links=grid_links or {}, files=files or [],
        human=human or {})
    atomic_write_text(path, html)
    return path
