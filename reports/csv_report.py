"""The machine-readable board: ``leaderboard.csv`` (text cells spreadsheet-safe unless ``raw``: actionbench.csvcells)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actionbench.csvcells import frame_csv
from actionbench.fileio import atomic_write_text


def write_csv(board: pd.DataFrame, path: Path, benchmark_label: str, raw: bool = False) -> Path:
    table = board.copy()
    table.insert(0, "benchmark", benchmark_label)
    atomic_write_text(path, frame_csv(table, raw))  # full precision: a copied baseline round-trips
    return path
