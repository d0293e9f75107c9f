"""The leaderboard table: per method, per action and overall, each score's mean with a 95% CI."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
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


def is_diagnostic(info: dict[str, Any]) -> bool:
    """A number that explains the others (declared ``role="diagnostic"``): folded away on the board."""
    return info.get("role") == "diagnostic"


def _rank(score: str, info: dict[str, Any]) -> int:
    """Judgements first (Action, Subject, Total), other judgements, then the continuous scores of the
    action, of the subject and the rest; diagnostics last."""
    role = judgement_role(score, info)
    if role is not None:
        return list(PAPER_JUDGEMENTS).index(role)
    if is_diagnostic(info):
        return len(PAPER_JUDGEMENTS) + 4
    if info.get("kind") == "binary":
        return len(PAPER_JUDGEMENTS)
    return len(PAPER_JUDGEMENTS) + {"action": 1, "subject": 2}.get(info.get("role", ""), 3)


def ordered_scores(scores: Iterable[str], infos: dict[str, dict[str, Any]]) -> list[str]:
    """The paper's column order: Action, Subject, Total, other judgements, continuous scores, diagnostics."""
    return sorted(set(scores), key=lambda s: (_rank(s, infos.get(s, {})), s))


def column_labels(scores: list[str], infos: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each score's column title: the paper's name for a judgement that is the only one of its role,
    else the label its metric declares, else its name."""
    roles = {s: judgement_role(s, infos.get(s, {})) for s in scores}
    labels = {}
    for score, role in roles.items():
        unique = role is not None and list(roles.values()).count(role) == 1
        labels[score] = (PAPER_JUDGEMENTS[role] if unique and role is not None
                         else (infos.get(score, {}).get("label") or score))
    return labels


def duplicate_scores(data: RunData) -> dict[str, str]:
    """Scores that repeat an earlier one image for image: {duplicate: the score it repeats}.

    Two metrics may report the same decision (the judge's Subject is the ``subject`` metric's top-1
    zero-shot pick, so that Total can be its product with Action): the board shows it once and says
    so. Only binary judgements of the same role are compared (continuous scores that agree on a run,
    such as the pose OKS over all images and over detected ones when every image shows a person,
    stay side by side: they are defined apart), and only values identical on every image of the run
    (NaN where NaN) count; the CSV keeps both.
    """
    scores = data.scores
    if scores.empty:
        return {}
    keyed = scores.drop_duplicates(["run", "method", "action", "image_id", "score"])
    table = keyed.pivot(index=["run", "method", "action", "image_id"], columns="score", values="value")
    order = ordered_scores(table.columns, data.infos)
    duplicates: dict[str, str] = {}
    for i, score in enumerate(order):
        info = data.infos.get(score, {})
        if not info.get("role") or is_diagnostic(info) or info.get("kind") != "binary":
            continue
        for earlier in order[:i]:
            other = data.infos.get(earlier, {})
            if earlier in duplicates or (other.get("role"), other.get("kind")) != (info.get("role"), info.get("kind")):
                continue
            if np.array_equal(table[score].to_numpy(dtype=float), table[earlier].to_numpy(dtype=float), equal_nan=True):
                duplicates[score] = earlier
                break
    return duplicates


def headline_scores(board: pd.DataFrame, infos: dict[str, dict[str, Any]],
                    duplicates: dict[str, str]) -> tuple[list[str], list[str]]:
    """(headline, folded): the scores that rank methods, in the paper's order, and the diagnostics and
    repeats of a headline column (``duplicate_scores``) that the board folds away (the CSV keeps all)."""
    scores = ordered_scores(board["score"].unique(), infos)
    headline = [s for s in scores if s not in duplicates and not is_diagnostic(infos.get(s, {}))]
    return headline, [s for s in scores if s not in headline]


def control_methods(data: RunData) -> set[str]:
    """Methods the run manifests name as controls (known right answers: floors and ceilings)."""
    return {str(m) for manifest in data.manifests.values() for m in manifest.get("controls", []) or []}
