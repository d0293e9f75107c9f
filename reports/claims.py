"""The ADI paper's claims as paired tests on a run: which hold, which are contradicted, which the run
cannot tell.

Each claim compares two methods on one score over the same prompts and seeds
(:func:`actionbench.reports.compare.compare_methods`: mean of A - B, 95% bootstrap CI, paired
permutation p). Three outcomes, so an inconclusive run is never read as a failed claim or a confirmed
one:

- ``holds``: the CI lies on the claimed side of 0 (``greater``/``less``, with p < 0.05), or inside
  +-margin (``within``);
- ``contradicted``: the CI lies wholly on the other side with p < 0.05 (or wholly outside +-margin);
- ``not shown``: neither (the CI straddles the line): more seeds or actions are needed;
- ``not run``: a method is not on the board (one that ran only as a metric's reference is named as
  such); ``no pairs``: the score has no paired values.

The claims follow the paper's table (CVPR 2024, Stable Diffusion 2.1, human judgement; see
docs/reproduction.md) as stated in the project's reproduction targets. Differences are in the score's
own units (judgements as fractions: a margin of 0.05 is 5 points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_text
from actionbench.reports.compare import compare_methods, format_p, format_value
from actionbench.reports.leaderboard import OVERALL
from actionbench.reports.load import RunData

Expectation = Literal["greater", "less", "within"]
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Claim:
    """``method_a``'s ``score`` minus ``method_b``'s is expected ``greater``/``less`` than 0, or
    ``within`` +-``margin``; ``number`` groups the rows of one statement."""

    number: int
    statement: str
    method_a: str
    method_b: str
    score: str
    expect: Expectation
    margin: float = 0.0

    @property
    def expected(self) -> str:
        return {"greater": "A > B", "less": "A < B"}.get(self.expect, f"|A - B| <= {self.margin:g}")


TRAINED_RIVALS = ("p_plus", "custom_diffusion", "textual_inversion", "dreambooth", "dreambooth_lora", "reversion")

PAPER_CLAIMS: tuple[Claim, ...] = (
    Claim(1, "ADI keeps the subject better than P+", "adi", "p_plus", "subject_correct", "greater"),
    Claim(1, "ADI keeps the subject better than P+", "adi", "p_plus", "subject_top1", "greater"),
    Claim(1, "ADI's action is within 5 points of P+'s", "adi", "p_plus", "action_correct", "within", 0.05),
    Claim(1, "ADI's pose agreement is within 0.05 of P+'s", "adi", "p_plus", "pose_oks", "within", 0.05),
    Claim(2, "ADI learns the action, textual inversion does not", "adi", "textual_inversion", "action_correct",
          "greater"),
    Claim(2, "ADI learns the action, textual inversion does not", "adi", "textual_inversion", "pose_oks", "greater"),
    Claim(3, "ADI learns the action, DreamBooth does not", "adi", "dreambooth", "action_correct", "greater"),
    Claim(3, "ADI learns the action, DreamBooth does not", "adi", "dreambooth", "pose_oks", "greater"),
    Claim(4, "ADI's subject is within 5 points of textual inversion's", "adi", "textual_inversion",
          "subject_correct", "within", 0.05),
    Claim(4, "ADI's subject is within 5 points of textual inversion's", "adi", "textual_inversion",
          "subject_top1", "within", 0.05),
    *(Claim(5, "ADI's total is above every trained method's", "adi", rival, "total_correct", "greater")
      for rival in TRAINED_RIVALS),
    Claim(6, "Custom Diffusion leaks the exemplars' appearance", "custom_diffusion", "plain", "leakage", "greater"),
    Claim(6, "Custom Diffusion loses the subject", "custom_diffusion", "plain", "subject_top1", "less"),
    Claim(6, "P+ leaks the exemplars' appearance", "p_plus", "plain", "leakage", "greater"),
    Claim(7, "DreamBooth copies the exemplars' appearance", "dreambooth", "plain", "leakage", "greater"),
    Claim(7, "Textual inversion copies the exemplars' appearance", "textual_inversion", "plain", "leakage",
          "greater"),
)

COLUMNS = ["claim", "statement", "method_a", "method_b", "score", "expected", "margin", "n", "mean_a", "mean_b",
           "difference", "ci_low", "ci_high", "p_value", "outcome"]


def outcome(claim: Claim, low: float, high: float, p_value: float) -> str:
    """``holds``, ``contradicted`` or ``not shown`` for a difference's 95% CI (see the module docstring)."""
    if math.isnan(low) or math.isnan(high):
        return "no pairs"
    if claim.expect == "within":
        if -claim.margin <= low and high <= claim.margin:
            return "holds"
        return "contradicted" if low > claim.margin or high < -claim.margin else "not shown"
    sign = 1.0 if claim.expect == "greater" else -1.0
    low, high = sorted((sign * low, sign * high))  # now "holds" means the CI is above 0
    if low > 0 and p_value < SIGNIFICANCE:
        return "holds"
    return "contradicted" if high < 0 and p_value < SIGNIFICANCE else "not shown"


def missing_label(method: str, data: RunData) -> str:
    """A method off the board, in words: a metric's reference (``plain`` for leakage) did run, but
    only to be compared against, so it has no scores of its own to test a claim with."""
    metrics = sorted({str(metric) for manifest in data.manifests.values()
                      for metric, reference in (manifest.get("references") or {}).items() if reference == method})
    return f"{method} ran only as the reference of {' and '.join(metrics)}" if metrics else method


def check_claims(data: RunData, claims: tuple[Claim, ...] = PAPER_CLAIMS) -> pd.DataFrame:
    """One row per claim: the overall paired difference and its outcome."""
    methods = set(data.scores["method"].unique())
    comparisons: dict[tuple[str, str], pd.DataFrame] = {}
    rows = []
    for claim in claims:
        row = {"claim": claim.number, "statement": claim.statement, "method_a": claim.method_a,
               "method_b": claim.method_b, "score": claim.score, "expected": claim.expected,
               "margin": claim.margin, "n": 0,
               "mean_a": math.nan, "mean_b": math.nan, "difference": math.nan, "ci_low": math.nan,
               "ci_high": math.nan, "p_value": math.nan}
        missing = [m for m in (claim.method_a, claim.method_b) if m not in methods]
        if missing:
            rows.append({**row, "outcome": f"not run ({', '.join(missing_label(m, data) for m in missing)})"})
            continue
        pair = (claim.method_a, claim.method_b)
        if pair not in comparisons:
            try:
                comparisons[pair] = compare_methods(data, *pair).set_index(["action", "score"])
            except ActionBenchError as error:  # e.g. the two methods share no images
                rows.append({**row, "outcome": f"not comparable ({error.problem})"})
                continue
        table = comparisons[pair]
        if (OVERALL, claim.score) not in table.index:
            rows.append({**row, "outcome": "no pairs"})
            continue
        found = table.loc[(OVERALL, claim.score)]
        row.update({key: found[key] for key in ("n", "mean_a", "mean_b", "difference", "ci_low", "ci_high",
                                                "p_value")})
        rows.append({**row, "outcome": outcome(claim, found["ci_low"], found["ci_high"], found["p_value"])})
    return pd.DataFrame(rows, columns=COLUMNS)


def expectation_label(expected: str, margin: float, kind: str) -> str:
    """A claim's expectation in the units its values are shown in: a margin on a judgement in points."""
    if not margin:
        return expected
    return f"within ±{100 * margin:g} points" if kind == "binary" else f"within ±{margin:g}"


def format_claims(table: pd.DataFrame, infos: dict) -> str:
    """The claims for the terminal: one line each, the difference and CI in the score's display units."""
    header = ["#", "claim", "A - B", "score", "expected", "A - B (95% CI)", "p", "outcome"]
    lines = []
    for row in table.itertuples():
        kind = infos.get(row.score, {}).get("kind", "continuous")
        shown = (f"{format_value(row.difference, kind, True)} [{format_value(row.ci_low, kind, True)}, "
                 f"{format_value(row.ci_high, kind, True)}]")
        lines.append([str(row.claim), row.statement, f"{row.method_a} - {row.method_b}", row.score,
                      expectation_label(row.expected, row.margin, kind),
                      shown, format_p(row.p_value), row.outcome])
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]

    def render(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    title = ("The paper's claims as paired tests (overall over actions; judgements in points): holds = 95% CI on "
             "the claimed side (p < 0.05) or inside the margin; not shown = the CI straddles it.")
    return "\n".join([title, render(header), render(["-" * w for w in widths])] + [render(line) for line in lines])


def write_claims_csv(table: pd.DataFrame, path: Path, raw: bool = False) -> Path:
    from actionbench.csvcells import frame_csv

    atomic_write_text(path, frame_csv(table, raw, float_format="%.6g"))
    return path
