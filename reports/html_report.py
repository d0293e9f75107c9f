"""The board people read: ``leaderboard.html``, one self-contained file (no network, nothing to load).

Jinja2 with autoescaping renders every string from the run (prompts, action descriptions, method
names) as text. Images are embedded as data URIs: thumbnails per method x action, and the trade-off
plot of action fidelity against subject fidelity drawn with matplotlib (every string from the run
drawn as plain text, never as mathtext). The only things not embedded are links to files written
beside the board (the per-action image grids, the CSV and LaTeX tables).

The headline table is what a reader takes in at a glance on a laptop: the paper's Action, Subject,
Total, then the scores that rank methods, one line per cell (the 95% CI beneath in small type);
diagnostics and scores that repeat another image for image are folded into a section below, and
control methods (the manifest's ``controls``) are greyed and never marked best. Which columns go
where is read from the scores' declared infos (``scores.json``), never from their names.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
from PIL import Image

from actionbench.fileio import atomic_write_text
from actionbench.reports.compare import format_p, format_value
from actionbench.reports.leaderboard import (OVERALL, column_labels, control_methods, duplicate_scores,
                                             headline_scores)
from actionbench.reports.load import RunData, coverage

TITLE = "ActionBench leaderboard"  # also how a folder holding a board is known (reports.check_board_folder)
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


@dataclass
class TradeoffAxes:
    subject: str
    action: str
    note: str  # why these axes, for the caption


def _varies(board: pd.DataFrame, score: str, methods: list[str]) -> bool:
    """Whether the overall means of ``score`` differ between ``methods`` (an axis that can separate them)."""
    part = board[(board["action"] == OVERALL) & (board["score"] == score) & board["method"].isin(methods)]
    means = [m for m in part["mean"] if not math.isnan(m)]
    return len(means) >= 2 and max(means) - min(means) > 1e-9


def tradeoff_axes(data: RunData, board: pd.DataFrame, folded: set[str] = frozenset(),
                  controls: set[str] = frozenset()) -> TradeoffAxes | None:
    """The (subject, action) scores to plot: per role, the judgement when it varies across the methods
    (controls aside), else the first declared score of that role that does; with none varying, the first."""
    present = set(board["score"])
    methods = sorted(set(board["method"]) - set(controls))
    if len(methods) < 2:
        methods = sorted(set(board["method"]))
    order = list(data.infos)
    notes = []

    def pick(role: str) -> str | None:
        names = [n for n, i in data.infos.items() if i.get("role") == role and n in present and n not in folded]
        names.sort(key=lambda n: (data.infos[n].get("kind") != "binary", order.index(n)))
        if not names:
            return None
        varying = [n for n in names if _varies(board, n, methods)]
        chosen = varying[0] if varying else names[0]
        skipped = names[:names.index(chosen)]
        if skipped:
            notes.append(f"{', '.join(skipped)} {'is' if len(skipped) == 1 else 'are'} the same for every method, "
                         f"so {role} fidelity is read from {chosen}")
        return chosen

    subject, action = pick("subject"), pick("action")
    if not (subject and action):
        return None
    return TradeoffAxes(subject, action, "; ".join(notes))


def _percent(cell: pd.Series) -> pd.Series:
    """A judgement's mean and CI in %, as the tables show them; other scores as they are."""
    return cell[["mean", "ci_low", "ci_high"]] * (100.0 if cell["kind"] == "binary" else 1.0)


def _axis_label(score: str, label: str, info: dict) -> str:
    """An axis title: the column's label, its name, unit and description, wrapped (plain text)."""
    title = label if label == score else f"{label} ({score})"
    unit = "%" if info.get("kind") == "binary" else info.get("scale", "")
    title += f", {unit}" if unit else ""
    description = re.sub(r"\s*\([^()]*\)", "", str(info.get("description", "")))  # asides stay in the legend
    return "\n".join(textwrap.wrap(f"{title}: {description}".rstrip(": "), 80, max_lines=3, placeholder=" …"))


def tradeoff_plot(board: pd.DataFrame, axes: TradeoffAxes | None, infos: dict | None = None,
                  labels: dict | None = None, controls: set[str] = frozenset()) -> str | None:
    """Action fidelity against subject fidelity per method, with 95% CIs, as a PNG data URI.

    Every string from the run (method names, labels, descriptions) is drawn with ``parse_math=False``:
    matplotlib would read ``$...$`` in a method name as mathtext, and fail on what it cannot parse."""
    if axes is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    infos, labels = infos or {}, labels or {}
    subject, action = axes.subject, axes.action
    overall = board[board["action"] == OVERALL].set_index(["method", "score"])
    figure, axis = plt.subplots(figsize=(6.4, 5.0), dpi=110)
    for method in sorted({m for m, _ in overall.index}):
        if (method, subject) not in overall.index or (method, action) not in overall.index:
            continue
        x, y = (_percent(overall.loc[(method, score)]) for score in (subject, action))
        if any(math.isnan(v) for v in (x["mean"], y["mean"])):
            continue
        style = {"color": "#9a9a9a", "fmt": "s"} if method in controls else {"fmt": "o"}
        axis.errorbar(x["mean"], y["mean"], xerr=[[x["mean"] - x["ci_low"]], [x["ci_high"] - x["mean"]]],
                      yerr=[[y["mean"] - y["ci_low"]], [y["ci_high"] - y["mean"]]], capsize=3, **style)
        axis.annotate(method + (" (control)" if method in controls else ""), (x["mean"], y["mean"]),
                      textcoords="offset points", xytext=(5, 5), fontsize=8, parse_math=False,
                      color="#777777" if method in controls else "black")
    axis.set_xlabel(_axis_label(subject, labels.get(subject, subject), infos.get(subject, {})), fontsize=7,
                    parse_math=False)
    axis.set_ylabel(_axis_label(action, labels.get(action, action), infos.get(action, {})), fontsize=7,
                    parse_math=False)
    axis.set_title("Action vs subject per method, 95% CI", fontsize=10, parse_math=False)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return _data_uri(buffer.getvalue())


def _format(value: float, kind: str) -> str:
    if math.isnan(value):
        return "–"
    scale, digits = (100.0, 1) if kind == "binary" else (1.0, 3)
    return f"{value * scale:.{digits}f}"


def csp_hash(script: str) -> str:
    """A Content-Security-Policy source that admits exactly this inline script."""
    return "sha256-" + base64.b64encode(hashlib.sha256(str(script).encode("utf-8")).digest()).decode("ascii")


def table(board: pd.DataFrame, action: str, scores: list[str], infos: dict,
          controls: set[str] = frozenset(), mark_best: bool = True,
          incomplete: dict[str, tuple[int, int]] | None = None) -> dict:
    """Rows for one table: each cell has its mean, its CI, a sort value and whether it is the column's
    best (among the methods that are not controls; with ``mark_best``). ``incomplete``: methods whose
    row covers fewer actions than the others (method -> (scored, all)), tagged and never marked best."""
    part = board[board["action"] == action]
    methods = sorted(part["method"].unique())
    cells = {(r.method, r.score): r for r in part.itertuples()}
    incomplete = incomplete or {}
    best = {}
    for score in scores:
        values = [cells[(m, score)].mean for m in methods
                  if m not in controls and m not in incomplete and (m, score) in cells
                  and not math.isnan(cells[(m, score)].mean)]
        if mark_best and len(set(values)) > 1:  # a column where every method ties has no best
            best[score] = max(values) if infos.get(score, {}).get("higher_is_better", True) else min(values)
    rows = []
    for method in methods:
        covered = incomplete.get(method)
        row = {"method": method, "control": method in controls, "cells": [],
               "covers": coverage(covered) if covered else ""}
        for score in scores:
            cell = cells.get((method, score))
            if cell is None:
                row["cells"].append({"text": "–", "ci": "", "value": "", "best": False, "title": "no images"})
                continue
            missing = math.isnan(cell.mean)
            ci = "" if missing else f"[{_format(cell.ci_low, cell.kind)}, {_format(cell.ci_high, cell.kind)}]"
            failures = f", {cell.failures} with a failure reason" if getattr(cell, "failures", 0) else ""
            row["cells"].append({"text": _format(cell.mean, cell.kind), "ci": ci,
                                 "value": "" if missing else repr(float(cell.mean)),  # exact sort key
                                 "best": (not row["control"] and not covered and score in best and not missing
                                          and cell.mean == best[score]),
                                 "title": f"95% CI {ci}, n = {cell.n}{failures}" if ci else f"n = {cell.n}{failures}"})
        rows.append(row)
    return {"action": action, "rows": rows}


def columns(scores: list[str], infos: dict, labels: dict) -> list[dict]:
    """Header cells: title, scale (range or unit; % for judgements), direction and the full description."""
    out = []
    for score in scores:
        info = infos.get(score, {})
        scale = info.get("scale") or ("%" if info.get("kind") == "binary" else "")
        out.append({"score": score, "label": labels[score], "scale": scale,
                    "arrow": "↑" if info.get("higher_is_better", True) else "↓",
                    "description": info.get("description", "")})
    return out


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
    duplicates = duplicate_scores(data)
    headline, folded = headline_scores(board, data.infos, duplicates)
    incomplete = data.incomplete_methods()
    labels = {s: data.infos.get(s, {}).get("label") or s for s in folded}  # never a paper name: not the headline's
    labels.update(column_labels(headline, data.infos))
    controls = control_methods(data) & set(board["method"])
    actions = sorted(a for a in board["action"].unique() if a != OVERALL)
    grid = []
    for (method, action), group in data.images.groupby(["method", "action"], sort=True):
        grid.append({"method": method, "action": action, "control": method in controls, "images": [
            {"src": thumbnail(row.path), "caption": f"{row.subject_text} (seed {row.seed})", "prompt": row.prompt}
            for row in group.head(THUMBNAILS_PER_CELL).itertuples()]})
    prompts = {a: list(dict.fromkeys(data.images.loc[data.images["action"] == a, "prompt"])) for a in actions}
    pair = None if comparison is None or comparison.empty else (comparison["method_a"].iloc[0],
                                                               comparison["method_b"].iloc[0])
    axes = tradeoff_axes(data, board, set(duplicates), controls)
    html = template.render(
        title=TITLE, benchmark=data.benchmark_label, generated=time.strftime("%Y-%m-%d %H:%M"),
        runs=sorted(data.manifests), labels=labels, infos=data.infos,
        headline=columns(headline, data.infos, labels), folded=columns(folded, data.infos, labels),
        duplicates={s: labels.get(d, d) for s, d in duplicates.items()}, controls=sorted(controls),
        overall=table(board, OVERALL, headline, data.infos, controls, incomplete=incomplete),
        overall_folded=table(board, OVERALL, folded, data.infos, controls, mark_best=False,  # explain, not rank
                             incomplete=incomplete),
        unfinished=data.unfinished_note(), not_run=data.not_run_note(), seeds=data.seeds_note(),
        per_action=[table(board, a, headline, data.infos, controls) for a in actions],
        descriptions={a: data.descriptions.get(a, "") for a in actions}, prompts=prompts,
        base_models=sorted({str(m["base_model"]["name"]) for m in data.manifests.values()}),
        plot=tradeoff_plot(board, axes, data.infos, labels, controls), axes=axes, grid=grid,
        pair=pair, comparison=comparison_rows(comparison), grid_links=grid_links or {}, files=files or [],
        human=human or {})
    atomic_write_text(path, html)
    return path
