"""``leaderboard.tex``: the overall board as a booktabs table in the paper's layout, ready to \\input.

Methods are rows. The paper's judgements come first (Action, Subject, Total, in %), then every
continuous score; each cell is the mean with its 95% bootstrap CI, and the best mean per column (in
the score's own direction) is bold. Every string from the run is LaTeX-escaped.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from actionbench.fileio import atomic_write_text
from actionbench.reports.leaderboard import OVERALL, column_labels, ordered_scores

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


def latex_table(board: pd.DataFrame, infos: dict, benchmark_label: str) -> str:
    overall = board[board["action"] == OVERALL]
    scores = ordered_scores(overall["score"].unique(), infos)
    labels = column_labels(scores, infos)
    methods = sorted(overall["method"].unique())
    cells = {(r.method, r.score): r for r in overall.itertuples()}
    best = {}
    for score in scores:
        values = [cells[(m, score)].mean for m in methods
                  if (m, score) in cells and not math.isnan(cells[(m, score)].mean)]
        if values:
            best[score] = max(values) if infos.get(score, {}).get("higher_is_better", True) else min(values)

    def header(score: str) -> str:
        info = infos.get(score, {})
        unit = r" (\%)" if info.get("kind") == "binary" else ""
        arrow = r"$\uparrow$" if info.get("higher_is_better", True) else r"$\downarrow$"
        return f"{latex_escape(labels[score])}{unit} {arrow}"

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
    ]
    for method in methods:
        row = [latex_escape(method)]
        for score in scores:
            cell = cells.get((method, score))
            row.append(_cell(cell, cell is not None and score in best and cell.mean == best[score]))
        lines.append(" & ".join(row) + r" \\")
    counts = sorted({int(n) for n in overall["n"]})
    images = f"{counts[0]} images per cell" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} images per cell"
    binary = any(infos.get(s, {}).get("kind") == "binary" for s in scores)
    percent = r" Judgements in \%." if binary else ""
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{Results on {latex_escape(benchmark_label)}: mean with its 95\% bootstrap confidence interval "
        rf"({images}).{percent} Best per column in bold.}}",
        r"\label{tab:actionbench}",
        r"\end{table*}",
    ]
    return "\n".join(lines) + "\n"


def write_latex(board: pd.DataFrame, infos: dict, benchmark_label: str, path: Path) -> Path:
    atomic_write_text(path, latex_table(board, infos, benchmark_label))
    return path
