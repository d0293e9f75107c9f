"""Regression check: does a run still meet a committed baseline board?

The baseline is a ``leaderboard.csv`` (or any CSV with method, action, score, mean), optionally with a
``tolerance`` column. A score fails when it is worse than the baseline's mean by more than its
tolerance, in the score's own direction; a baseline row the run does not have fails too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actionbench.csvcells import restored_frame
from actionbench.errors import ActionBenchError


EPSILON = 1e-9  # float noise, far below any meaningful score difference


@dataclass(frozen=True)
class CheckRow:
    method: str
    action: str
    score: str
    baseline: float
    tolerance: float
    current: float
    passed: bool


def read_baseline(path: Path) -> pd.DataFrame:
    try:
        baseline = restored_frame(pd.read_csv(path))  # names as they were before the CSV guarded them
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ActionBenchError(f"baseline {path} cannot be read ({' '.join(str(error).split())[:120]})",
                               "pass a leaderboard.csv written by 'actionbench report'") from error
    missing = {"method", "action", "score", "mean"} - set(baseline.columns)
    if missing:
        raise ActionBenchError(f"baseline {path} lacks column(s) {', '.join(sorted(missing))}",
                               "pass a leaderboard.csv written by 'actionbench report'")
    for column in ("mean", "tolerance"):  # a text cell would otherwise fail as a traceback mid-check
        if column not in baseline.columns:
            continue
        numbers = pd.to_numeric(baseline[column], errors="coerce")
        bad = baseline[numbers.isna() & baseline[column].notna()]
        if column == "tolerance":
            bad = pd.concat([bad, baseline[numbers < 0]])
        if not bad.empty:
            row = bad.iloc[0]
            raise ActionBenchError(f"baseline {path}: {column} {row[column]!r} of {row['method']} on {row['action']} "
                                   f"({row['score']}) is not a number{' >= 0' if column == 'tolerance' else ''}",
                                   f"write a number{' >= 0' if column == 'tolerance' else ''} there")
        baseline[column] = numbers
    return baseline


def check(board: pd.DataFrame, baseline: pd.DataFrame, default_tolerance: float) -> list[CheckRow]:
    current = {(r.method, r.action, r.score): r for r in board.itertuples()}
    rows = []
    for expected in baseline.itertuples():
        tolerance = getattr(expected, "tolerance", default_tolerance)
        tolerance = default_tolerance if tolerance is None or math.isnan(tolerance) else float(tolerance)
        found = current.get((expected.method, expected.action, expected.score))
        value = float(found.mean) if found is not None else math.nan
        higher = bool(found.higher_is_better) if found is not None else True
        if math.isnan(value):
            passed = False
        elif higher:
            passed = value >= expected.mean - tolerance - EPSILON
        else:
            passed = value <= expected.mean + tolerance + EPSILON
        rows.append(CheckRow(expected.method, expected.action, expected.score, float(expected.mean),
                             tolerance, value, passed))
    return rows
