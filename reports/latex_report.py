"""``leaderboard.tex``: the overall board as a booktabs table in the paper's layout, ready to \\input.

Methods are rows. The columns are the HTML board's headline: the paper's judgements first (Action,
Subject, Total, in %), then the scores that rank methods (diagnostics and columns that repeat another
image for image are in the CSV); each cell is the mean with its 95% bootstrap CI, and the best mean
per column (in the score's own direction) is bold. Controls sit below a rule, in italics, never bold;
a method whose row covers fewer actions than the others' (an unfinished run, or a method not run on
every action of the runs pooled) carries a dagger that the caption explains, never bold; methods
scored on different seeds are named in the caption. Every string from the run is LaTeX-escaped.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from actionbench.fileio import atomic_write_text
from actionbench.reports.leaderboard import (OVERALL, column_labels, control_methods, duplicate_scores,
                                             headline_scores)
from actionbench.reports.load import RunData, coverage

# Characters with a meaning in LaTeX, and what prints them as text (as pandas' and pylatex's escapers do).
_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%",
    "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}",
}  # '"' stays as it is: \textquotedbl does not exist in LaTeX's default OT1 encoding


def latex_escape(text: object) -> str:
    """Text as LaTeX that prints it verbatim (newlines become spaces)."""
    return "".join(_ESCAPES.get(char, char) for char in " ".join(str(text).split()))


def _number(value: float, kind: str) -> str:
    scale, digits = (100.0, 1) if kind == "binary" else (1.0, 3)
    return f"{value * scale:.{digits}f}"


def _cell(row, best: bool) -> str:
    if row is None or math.isnan(row.mean):
        return "--"
    mean = _number(row.mean, row.kind)
    mean = rf"\textbf{{{mean}}}" if best else mean
    return rf"{mean}\,{{\scriptsize[{_number(row.ci_low, row.kind)}, {_number(row.ci_high, row.kind)}]}}"


def latex_table(board: pd.DataFrame, data: RunData) -> str:
    """The overall table: the board's headline columns (diagnostics and repeated columns are in the
    CSV), methods in rows, controls below a rule in italics and never bold, a method whose row covers
    fewer actions than the others' marked with a dagger and explained in the caption."""
    infos, benchmark_label = data.infos, data.benchmark_label
    overall = board[board["action"] == OVERALL]
    scores, _ = headline_scores(overall, infos, duplicate_scores(data))
    labels = column_labels(scores, infos)
    controls = control_methods(data) & set(overall["method"])
    incomplete = data.incomplete_methods()
    ranked = sorted(set(overall["method"]) - controls)
    cells = {(r.method, r.score): r for r in overall.itertuples()}
    best = {}
    for score in scores:
        values = [cells[(m, score)].mean for m in ranked
                  if m not in incomplete and (m, score) in cells and not math.isnan(cells[(m, score)].mean)]
        if values:
            best[score] = max(values) if infos.get(score, {}).get("higher_is_better", True) else min(values)

    def header(score: str) -> str:
        info = infos.get(score, {})
        unit = r" (\%)" if info.get("kind") == "binary" else ""
        arrow = r"$\uparrow$" if info.get("higher_is_better", True) else r"$\downarrow$"
        return f"{latex_escape(labels[score])}{unit} {arrow}"

    def row(method: str) -> str:
        control = method in controls
        name = latex_escape(method) + (r"$^\dagger$" if method in incomplete else "")
        texts = [rf"\textit{{{name}}}" if control else name]
        for score in scores:
            cell = cells.get((method, score))
            is_best = (not control and method not in incomplete and cell is not None and score in best
                       and cell.mean == best[score])
            text = _cell(cell, is_best)
            texts.append(rf"\textit{{{text}}}" if control and text != "--" else text)
        return " & ".join(texts) + r" \\"

    lines = [
        f"% ActionBench leaderboard ({latex_escape(benchmark_label)}), written by 'actionbench report --latex'.",
        r"% Needs \usepackage{booktabs} in the preamble.",
        r"\begin{table*}[t]",  # full width: every cell carries its interval
        r"\centering",
        r"\small",
        r"\setlength{\tabcolsep}{4pt}",
        r"\begin{tabular}{l" + "r" * len(scores) + "}",
        r"\toprule",
        " & ".join(["Method"] + [header(s) for s in scores]) + r" \\",
        r"\midrule",
        *[row(method) for method in ranked],
        *([r"\midrule"] if ranked and controls else []),  # the controls apart: floors and ceilings
        *[row(method) for method in sorted(controls)],
    ]
    counts = sorted({int(r.n) for r in overall.itertuples() if r.score in scores and r.n > 0})
    images = f"{counts[0]} images per cell" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} images per cell"
    binary = any(infos.get(s, {}).get("kind") == "binary" for s in scores)
    notes = r" Judgements in \%." if binary else ""
    notes += " Best per column in bold."
    if controls:
        notes += (" Below the rule, in italics: controls, methods whose right answer is known (the floor and "
                  "ceiling to read the others by), never marked best.")
    if incomplete:
        notes += rf" $^\dagger${incomplete_caption(data)}; not comparable with the other rows, never marked best."
    if data.mixed_seeds():
        notes += f" Methods on different seeds: {latex_escape(data.seed_groups())}."
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{Results on {latex_escape(benchmark_label)}: mean with its 95\% bootstrap confidence interval "
        rf"({images}).{notes}}}",
        r"\label{tab:actionbench}",
        r"\end{table*}",
    ]
    return "\n".join(lines) + "\n"


def incomplete_caption(data: RunData) -> str:
    """Why daggered rows cover fewer actions: not finished (units left off) or not run on every action."""
    incomplete, missing = data.incomplete_methods(), data.not_run()
    unfinished = {u.method for u in data.unfinished}

    def covers(methods: list[str], why: bool = False) -> str:
        return "; ".join(f"{latex_escape(m)} over {coverage(incomplete[m])}"
                         + (f" (not run on {latex_escape(', '.join(missing[m]))})" if why else "") for m in methods)

    parts = []
    if unfinished:
        parts.append(f"Not finished: {covers(sorted(unfinished & set(incomplete)))}")
    if missing:
        parts.append(f"Not run on every action: {covers(sorted(missing), why=True)}")
    return "; ".join(parts)


def write_latex(board: pd.DataFrame, data: RunData, path: Path) -> Path:
    atomic_write_text(path, latex_table(board, data))
    return path
