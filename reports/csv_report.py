"""The machine-readable board: ``leaderboard.csv`` (text cells spreadsheet-safe unless ``raw``: actionbench.csvcells)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from actionbench.csvcells import frame_csv
from actionbench.fileio import atomic_write_text
from actionbench.reports.leaderboard import OVERALL


def write_csv(board: pd.DataFrame, path: Path, benchmark_label: str, raw: bool = False,
              incomplete: Mapping[str, tuple[int, int]] | None = None) -> Path:
    """``incomplete`` (method -> (actions scored, actions of the board)) marks overall rows pooled over
    fewer actions than the others': ``complete`` is False there, so a table made from the CSV alone
    cannot compare them unawares (the HTML board tags them "k of n actions")."""
    table = board.copy()
    table.insert(0, "benchmark", benchmark_label)
    partial = table["method"].isin(list(incomplete or {})) & (table["action"] == OVERALL)
    table["complete"] = ~partial
    atomic_write_text(path, frame_csv(table, raw))  # full precision: a copied baseline round-trips
    return path
