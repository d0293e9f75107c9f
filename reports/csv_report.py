"""The machine-readable board: ``leaderboard.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actionbench.fileio import atomic_write_text


def write_csv(board: pd.DataFrame, path: Path, benchmark_label: str) -> Path:
    table = board.copy()
    table.insert(0, "benchmark", benchmark_label)
    atomic_write_text(path, table.to_csv(index=False))  # full precision: a copied baseline round-trips
    return path
