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

from actionbench.reports.claims import expectation_label
from actionbench.reports.compare import format_value

# (score, header)
COLUMNS = [("action_correct", "judge Action"), ("subject_correct", "judge Subject"), ("total_correct", "judge Total"),
           ("pose_oks", "pose_oks"), ("subject_top1", "subject_top1"), ("leakage", "leakage (lower is better)")]


def cell(mean: float, low: float, high: float, kind: str, signed: bool = False) -> str:
    """A value and its CI as the board shows them (judgements in points)."""
    if math.isnan(mean):
        return "–"
    return (f"{format_value(mean, kind, signed)} [{format_value(low, kind, signed)}, "
            f"{format_value(high, kind, signed)}]")


def methods_table(board: pd.DataFrame) -> str:
    overall = board[board["action"] == "overall"].set_index(["method", "score"])
    methods = list(dict.fromkeys(board["method"]))
    lines = ["| method | " + " | ".join(header for _, header in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for method in methods:
        cells = []
        for score, _ in COLUMNS:
            if (method, score) in overall.index:
                row = overall.loc[(method, score)]
                cells.append(cell(row["mean"], row["ci_low"], row["ci_high"], row["kind"]))
            else:
                cells.append("–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claims_table(claims: pd.DataFrame, board: pd.DataFrame) -> str:
    kinds = dict(zip(board["score"], board["kind"]))
    lines = ["| # | claim | A - B | score | expected | A - B [95% CI] | p | outcome |", "|---" * 8 + "|"]
    for row in claims.itertuples():
        kind = kinds.get(row.score, "continuous")
        shown = cell(row.difference, row.ci_low, row.ci_high, kind, signed=True)
        p = "–" if math.isnan(row.p_value) else (f"{row.p_value:.3f}" if row.p_value >= 0.001 else "< 0.001")
        lines.append(f"| {row.claim} | {row.statement} | {row.method_a} - {row.method_b} | {row.score} | "
                     f"{expectation_label(row.expected, row.margin, kind)} | {shown} | {p} | {row.outcome} |")
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
