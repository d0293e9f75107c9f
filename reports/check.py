"""Regression check: does a run still meet a committed baseline board?

The baseline is a ``leaderboard.csv`` (or any CSV with method, action, score, mean), optionally with a
``tolerance`` column. A score fails when it is worse than the baseline's mean by more than its
tolerance, in the score's own direction; a baseline row the run does not have fails too. A score
undefined (NaN: e.g. the pose OKS of detected poses when none was detected) in both the run and the
baseline passes; undefined on one side only fails, saying which.
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
    note: str = ""  # why, where a mean is missing or undefined (NaN) on one side


def read_baseline(path: Path) -> pd.DataFrame:
    """The baseline's rows, ``mean`` and ``tolerance`` as floats. Cells are read as text first, so
    an empty tolerance (the default applies) is told apart from one that says ``nan``; an empty or
    ``nan`` mean is a score undefined in the baseline (a board writes NaN means as empty cells)."""
    try:  # names as they were before the CSV guarded them
        baseline = restored_frame(pd.read_csv(path, dtype=str, keep_default_na=False))
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ActionBenchError(f"baseline {path} cannot be read ({' '.join(str(error).split())[:120]})",
                               "pass a leaderboard.csv written by 'actionbench report'") from error
    missing = {"method", "action", "score", "mean"} - set(baseline.columns)
    if missing:
        raise ActionBenchError(f"baseline {path} lacks column(s) {', '.join(sorted(missing))}",
                               "pass a leaderboard.csv written by 'actionbench report'")
    if baseline.empty:
        raise ActionBenchError(f"baseline {path} has no rows: nothing to check",
                               "pass a leaderboard.csv with the rows the run must meet")
    for column in ("mean", "tolerance"):  # a text cell would otherwise fail as a traceback mid-check
        if column in baseline.columns:
            baseline[column] = numeric_column(baseline, column, path)
    return baseline


def numeric_column(baseline: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """``column`` as floats, or one line naming its first cell that is not a finite number (a
    tolerance also >= 0). An empty cell is NaN: an undefined mean, or the default tolerance; a mean
    may also say ``nan``."""
    text = baseline[column].str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    undefined = (text == "") | ((text.str.lower() == "nan") if column == "mean" else False)
    bad = ~undefined & ~(numbers.abs() < math.inf)  # text, a NaN tolerance, or an infinity
    if column == "tolerance":
        bad |= numbers < 0
    if bad.any():
        raise bad_cell(baseline[bad].iloc[0], column, path)
    return numbers


def bad_cell(row: pd.Series, column: str, path: Path) -> ActionBenchError:
    """The error for a baseline cell that is not what ``column`` needs."""
    value = str(row[column]).strip()
    try:
        number = float(value)
    except ValueError:
        number = None  # text: shown quoted
    finite = " finite" if number is not None and not math.isfinite(number) else ""
    need = f"a{finite} number" + (" >= 0" if column == "tolerance" else "")
    shown = value if number is not None else repr(value)
    return ActionBenchError(f"baseline {path}: {column} {shown} of {row['method']} on {row['action']} "
                            f"({row['score']}) is not {need}", f"write {need} there")


def check_benchmark(baseline: pd.DataFrame, path: Path, run: Path, benchmark_label: str) -> None:
    """Refuse a baseline whose rows name another benchmark (or version) than the run's: its numbers
    were measured on other data, so passing or failing against them would mean nothing."""
    if "benchmark" not in baseline.columns:
        return  # a hand-written baseline need not say
    other = [b for b in dict.fromkeys(baseline["benchmark"].str.strip()) if b and b != benchmark_label]
    if other:
        raise ActionBenchError(f"baseline {path} is a board of benchmark {other[0]}, but {run} is a run of "
                               f"{benchmark_label}", "pass a baseline written from a run of the same benchmark "
                                                     "and version")


def check(board: pd.DataFrame, baseline: pd.DataFrame, default_tolerance: float) -> list[CheckRow]:
    """One row per baseline row. A mean undefined (NaN) in both passes; undefined on one side only
    fails, as does a row the run's board lacks."""
    current = {(r.method, r.action, r.score): r for r in board.itertuples()}
    rows = []
    for expected in baseline.itertuples():
        tolerance = getattr(expected, "tolerance", default_tolerance)
        tolerance = default_tolerance if tolerance is None or math.isnan(tolerance) else float(tolerance)
        found = current.get((expected.method, expected.action, expected.score))
        value = float(found.mean) if found is not None else math.nan
        higher = bool(found.higher_is_better) if found is not None else True
        passed, note = verdict(float(expected.mean), value, tolerance, higher, found is not None)
        rows.append(CheckRow(expected.method, expected.action, expected.score, float(expected.mean),
                             tolerance, value, passed, note))
    return rows


def verdict(baseline: float, value: float, tolerance: float, higher: bool, found: bool) -> tuple[bool, str]:
    """(passed, why where a side is missing or undefined) for one score, in the score's direction."""
    if not found:
        return False, "not on the run's board"
    if math.isnan(value) and math.isnan(baseline):
        return True, "undefined in both"
    if math.isnan(value):
        return False, "undefined now, a number in the baseline"
    if math.isnan(baseline):
        return False, "a number now, undefined in the baseline"
    if higher:
        return value >= baseline - tolerance - EPSILON, ""
    return value <= baseline + tolerance + EPSILON, ""
