"""Print docs/reproduction.md's result tables (Markdown) from a reported run.

    actionbench run --methods ... --actions all --out runs/repro-mini
    actionbench report runs/repro-mini --claims
    python benchmarks/reproduction_tables.py runs/repro-mini

Reads what ``report`` wrote (``leaderboard.csv`` and ``claims.csv`` in the run directory): the
overall mean and 95% CI of the paper's columns and the mini world's own scores per method, then each
claim's paired difference and outcome. When ADI's ablations are on the board, a third table pairs ADI
with each of them (ADI - variant over the same prompts and seeds, from the run store, as
``report --compare adi VARIANT`` does).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from actionbench.reports.claims import expectation_label
from actionbench.reports.compare import compare_methods, format_value
from actionbench.reports.load import load_runs

# (score, header)
COLUMNS = [("action_correct", "judge Action"), ("subject_correct", "judge Subject"), ("total_correct", "judge Total"),
           ("pose_oks", "pose_oks"), ("subject_top1", "subject_top1"), ("leakage", "leakage (lower is better)")]


def cell(mean: float, low: float, high: float, kind: str, signed: bool = False) -> str:
    """A value and its CI as the board shows them (judgements in points)."""
    if math.isnan(mean):
        return "–"
    return (f"{format_value(mean, kind, signed)} [{format_value(low, kind, signed)}, "
            f"{format_value(high, kind, signed)}]")


def p_text(p_value: float) -> str:
    return "–" if math.isnan(p_value) else (f"{p_value:.3f}" if p_value >= 0.001 else "< 0.001")


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
        p = p_text(row.p_value)
        lines.append(f"| {row.claim} | {row.statement} | {row.method_a} - {row.method_b} | {row.score} | "
                     f"{expectation_label(row.expected, row.margin, kind)} | {shown} | {p} | {row.outcome} |")
    return "\n".join(lines)


ABLATION_SCORES = ["subject_top1", "subject_correct", "pose_oks", "action_correct", "leakage"]


def adi_variants(methods: list[str]) -> list[str]:
    """The board's methods that are registered variants of ADI (its ablations), in board order."""
    from actionbench.methods import METHODS
    from actionbench.methods.adi import ADIMethod

    known = set(METHODS.names())
    return [m for m in methods if m != "adi" and m in known and issubclass(METHODS.get(m), ADIMethod)]


def ablations_table(folder: Path, methods: list[str]) -> str:
    """ADI - variant, overall, per score: the paired difference, its 95% CI and p."""
    variants = adi_variants(methods)
    if "adi" not in methods or not variants:
        return ""
    data = load_runs([folder])
    comparisons = {v: compare_methods(data, "adi", v) for v in variants}
    present = set.union(*(set(c["score"]) for c in comparisons.values()))
    scores = [s for s in ABLATION_SCORES if s in present]
    lines = ["| ablation | " + " | ".join(f"ADI - ablation: {s}" for s in scores) + " |", "|---" * (len(scores) + 1) + "|"]
    for variant, comparison in comparisons.items():
        overall = comparison[comparison["action"] == "overall"].set_index("score")
        cells = []
        for score in scores:
            if score not in overall.index:
                cells.append("–")
                continue
            row = overall.loc[score]
            shown = cell(row["difference"], row["ci_low"], row["ci_high"], row["kind"], signed=True)
            cells.append(f"{shown}, p {p_text(row['p_value'])}")
        lines.append(f"| `{variant}` | " + " | ".join(cells) + " |")
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
    ablations = ablations_table(folder, list(dict.fromkeys(board["method"])))
    if ablations:
        print()
        print(ablations)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
