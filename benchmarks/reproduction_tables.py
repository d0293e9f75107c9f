"""Print docs/reproduction.md's result tables (Markdown) from a reported run.

    actionbench run --methods ... --actions all --out runs/repro-mini
    actionbench report runs/repro-mini --claims
    python benchmarks/reproduction_tables.py runs/repro-mini

Reads only what ``report`` wrote (``leaderboard.csv`` and ``claims.csv`` in the run directory): the
overall mean and 95% CI of the paper's columns and the mini world's own scores per method, then each
claim's paired difference and outcome.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

# (score, header, shown in points)
COLUMNS = [("action_correct", "judge Action", True), ("subject_correct", "judge Subject", True),
           ("total_correct", "judge Total", True), ("pose_oks", "pose_oks", False),
           ("subject_top1", "subject_top1", True), ("leakage", "leakage (lower is better)", False)]


def cell(mean: float, low: float, high: float, points: bool) -> str:
    if math.isnan(mean):
        return "–"
    if points:
        return f"{100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def methods_table(board: pd.DataFrame) -> str:
    overall = board[board["action"] == "overall"].set_index(["method", "score"])
    methods = list(dict.fromkeys(board["method"]))
    lines = ["| method | " + " | ".join(header for _, header, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for method in methods:
        cells = []
        for score, _, points in COLUMNS:
            if (method, score) in overall.index:
                row = overall.loc[(method, score)]
                cells.append(cell(row["mean"], row["ci_low"], row["ci_high"], points))
            else:
                cells.append("–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claims_table(claims: pd.DataFrame, board: pd.DataFrame) -> str:
    kinds = dict(zip(board["score"], board["kind"]))
    lines = ["| # | claim | A - B | score | expected | A - B [95% CI] | p | outcome |", "|---" * 8 + "|"]
    for row in claims.itertuples():
        points = kinds.get(row.score) == "binary"
        scale, digits = (100.0, 1) if points else (1.0, 3)
        if math.isnan(row.difference):
            shown = "–"
        else:
            shown = (f"{scale * row.difference:+.{digits}f} [{scale * row.ci_low:+.{digits}f}, "
                     f"{scale * row.ci_high:+.{digits}f}]")
        expected = row.expected
        if expected.startswith("|"):  # "|A - B| <= m": a Markdown cell cannot hold the bars
            margin = float(expected.split("<= ")[1])
            expected = f"within ±{100 * margin:g} points" if points else f"within ±{margin:g}"
        p = "–" if math.isnan(row.p_value) else (f"{row.p_value:.3f}" if row.p_value >= 0.001 else "< 0.001")
        lines.append(f"| {row.claim} | {row.statement} | {row.method_a} - {row.method_b} | {row.score} | "
                     f"{expected} | {shown} | {p} | {row.outcome} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run directory that 'actionbench report --claims' has reported")
    args = parser.parse_args(argv)
    folder = Path(args.run_dir)
    missing = [name for name in ("leaderboard.csv", "claims.csv") if not (folder / name).is_file()]
    if missing:
        parser.error(f"{folder} has no {', '.join(missing)}: run 'actionbench report {folder} --claims' first")
    board = pd.read_csv(folder / "leaderboard.csv")
    print(methods_table(board))
    print()
    print(claims_table(pd.read_csv(folder / "claims.csv"), board))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
