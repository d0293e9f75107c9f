"""The leaderboard table: per method, per action and overall, each score's mean with a 95% CI."""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from actionbench.stats import bootstrap_ci
from actionbench.reports.load import RunData

OVERALL = "overall"
COLUMNS = ["method", "action", "score", "mean", "ci_low", "ci_high", "n", "failures", "higher_is_better", "kind"]

# The paper's judgements (Action / Subject / Total, in %) lead every table; they are recognised by
# their declared ScoreInfo (kind "binary" and role), never by a metric's name.
PAPER_JUDGEMENTS = {"action": "Action", "subject": "Subject", "total": "Total"}


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


def judgement_role(score: str, info: dict[str, Any]) -> str | None:
    """"action", "subject" or "total" for a binary judgement of the paper's kind, else None.

    A binary score with role "action" or "subject" is that judgement; "total" (both at once) is a
    binary score with role "total", or a binary score without a role whose name says "total".
    """
    if info.get("kind") != "binary":
        return None
    role = info.get("role", "")
    if role in PAPER_JUDGEMENTS:
        return role
    return "total" if not role and "total" in score.lower() else None


def _rank(score: str, info: dict[str, Any]) -> int:
    role = judgement_role(score, info)
    if role is not None:
        return list(PAPER_JUDGEMENTS).index(role)
    return len(PAPER_JUDGEMENTS) if info.get("kind") == "binary" else len(PAPER_JUDGEMENTS) + 1


def ordered_scores(scores: Iterable[str], infos: dict[str, dict[str, Any]]) -> list[str]:
    """The paper's column order: Action, Subject, Total, other judgements, then continuous scores."""
    return sorted(set(scores), key=lambda s: (_rank(s, infos.get(s, {})), s))


def column_labels(scores: list[str], infos: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each score's column title: the paper's name for a judgement that is the only one of its role."""
    roles = {s: judgement_role(s, infos.get(s, {})) for s in scores}
    labels = {}
    for score, role in roles.items():
        unique = role is not None and list(roles.values()).count(role) == 1
        labels[score] = PAPER_JUDGEMENTS[role] if unique else score
    return labels
