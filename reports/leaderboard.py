"""The leaderboard table: per method, per action and overall, each score's mean with a 95% CI."""

from __future__ import annotations

import pandas as pd

from actionbench.stats import bootstrap_ci
from actionbench.reports.load import RunData

OVERALL = "overall"
COLUMNS = ["method", "action", "score", "mean", "ci_low", "ci_high", "n", "failures", "higher_is_better", "kind"]


def leaderboard(data: RunData) -> pd.DataFrame:
    """One row per (method, action or "overall", score); CIs bootstrap the images (seeded)."""
    rows = []
    scores = data.scores
    if scores.empty:
        return pd.DataFrame(columns=COLUMNS)
    for (method, score), group in scores.groupby(["method", "score"], sort=True):
        info = data.infos.get(score, {})
        parts = [(action, part) for action, part in group.groupby("action", sort=True)] + [(OVERALL, group)]
        for action, part in parts:
            estimate = bootstrap_ci(part["value"].to_numpy())
            rows.append({"method": method, "action": action, "score": score, "mean": estimate.mean,
                         "ci_low": estimate.low, "ci_high": estimate.high, "n": estimate.n,
                         "failures": int(part["failure"].notna().sum()),
                         "higher_is_better": bool(info.get("higher_is_better", True)),
                         "kind": info.get("kind", "continuous")})
    return pd.DataFrame(rows, columns=COLUMNS)


def wide(board: pd.DataFrame, action: str = OVERALL) -> pd.DataFrame:
    """Methods as rows, scores as columns (means), for one action or overall."""
    part = board[board["action"] == action]
    return part.pivot(index="method", columns="score", values="mean")
