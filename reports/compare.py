"""Paired comparison of two methods: the same prompts and seeds, so per-image differences pair up.

Two images pair when they share the action and the image id (the id is made from the subject, the
seed and the image index, so both methods were asked for the same thing with the same noise). Per
score, overall and per action, :func:`actionbench.stats.paired_difference` gives the mean of
``A - B`` with its 95% bootstrap CI and a two-sided paired permutation p-value.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_text
from actionbench.reports.leaderboard import OVERALL, ordered_scores
from actionbench.reports.load import RunData
from actionbench.stats import paired_difference

COLUMNS = ["method_a", "method_b", "action", "score", "n", "mean_a", "mean_b", "difference", "ci_low", "ci_high",
           "p_value", "higher_is_better", "kind"]
PAIR_KEY = ["action", "image_id", "score"]


def _values(data: RunData, method: str) -> pd.DataFrame:
    """One method's values indexed by (action, image_id, score); refuses ambiguous pairs."""
    rows = data.scores[data.scores["method"] == method]
    duplicated = rows.duplicated(PAIR_KEY)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        runs = sorted(rows[(rows["action"] == first["action"]) & (rows["image_id"] == first["image_id"])]["run"])
        raise ActionBenchError(
            f"method '{method}' has image '{first['image_id']}' of action '{first['action']}' in more than one run "
            f"({', '.join(runs)})", "compare within one run, or pass runs that do not repeat a method")
    return rows.set_index(PAIR_KEY)["value"]


def compare_methods(data: RunData, method_a: str, method_b: str) -> pd.DataFrame:
    """One row per (action or "overall", score): A, B, A - B with its 95% CI and p-value."""
    methods = sorted(data.scores["method"].unique())
    for method in (method_a, method_b):
        if method not in methods:
            raise ActionBenchError(f"method '{method}' is not on this board (methods: {', '.join(methods)})",
                                   "pass two of the listed methods to --compare")
    if method_a == method_b:
        raise ActionBenchError(f"--compare needs two different methods (got '{method_a}' twice)",
                               "pass two different method names")
    pairs = pd.concat({"a": _values(data, method_a), "b": _values(data, method_b)}, axis=1, join="inner")
    if pairs.empty:
        raise ActionBenchError(
            f"methods '{method_a}' and '{method_b}' share no images (same action, subject, seed and index)",
            "compare methods run on the same actions with the same protocol and seeds")
    pairs = pairs.sort_index().reset_index()  # a fixed order: the seeded bootstrap never depends on file order
    rows = []
    for score in ordered_scores(pairs["score"].unique(), data.infos):
        info = data.infos.get(score, {})
        of_score = pairs[pairs["score"] == score]
        parts = [(OVERALL, of_score)] + list(of_score.groupby("action", sort=True))
        for action, part in parts:
            result = paired_difference(part["a"].to_numpy(), part["b"].to_numpy())
            both = part[part["a"].notna() & part["b"].notna()]
            rows.append({"method_a": method_a, "method_b": method_b, "action": action, "score": score,
                         "n": result.n, "mean_a": float(both["a"].mean()) if result.n else math.nan,
                         "mean_b": float(both["b"].mean()) if result.n else math.nan,
                         "difference": result.difference, "ci_low": result.low, "ci_high": result.high,
                         "p_value": result.p_value, "higher_is_better": bool(info.get("higher_is_better", True)),
                         "kind": info.get("kind", "continuous")})
    return pd.DataFrame(rows, columns=COLUMNS)


def format_value(value: float, kind: str, signed: bool = False) -> str:
    """Judgements in % (differences in percentage points), other scores with 3 decimals."""
    if value is None or math.isnan(value):
        return "–"
    scale, digits = (100.0, 1) if kind == "binary" else (1.0, 3)
    return f"{value * scale:{'+' if signed else ''}.{digits}f}"


def format_p(p_value: float) -> str:
    if math.isnan(p_value):
        return "–"
    return f"{p_value:.3f}" if p_value >= 0.001 else f"{p_value:.1e}"


def format_table(comparison: pd.DataFrame) -> str:
    """The comparison as a fixed-width table for the terminal."""
    if comparison.empty:
        return ""
    a, b = comparison["method_a"].iloc[0], comparison["method_b"].iloc[0]
    header = ["action", "score", "pairs", a, b, f"{a} - {b}", "95% CI", "p"]
    lines = []
    for row in comparison.itertuples():
        lines.append([row.action, row.score + ("" if row.higher_is_better else " (lower is better)"), str(row.n),
                      format_value(row.mean_a, row.kind), format_value(row.mean_b, row.kind),
                      format_value(row.difference, row.kind, signed=True),
                      f"[{format_value(row.ci_low, row.kind, True)}, {format_value(row.ci_high, row.kind, True)}]",
                      format_p(row.p_value)])
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
    def render(cells):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    title = (f"Paired comparison {a} vs {b}: mean of {a} - {b} over images with the same action, subject and "
             f"seed; 95% bootstrap CI; two-sided paired permutation p. Judgements in % (differences in points).")
    return "\n".join([title, render(header), render(["-" * w for w in widths])] + [render(line) for line in lines])


def write_comparison_csv(comparison: pd.DataFrame, path: Path, raw: bool = False) -> Path:
    from actionbench.csvcells import frame_csv

    atomic_write_text(path, frame_csv(comparison, raw, float_format="%.6g"))
    return path
