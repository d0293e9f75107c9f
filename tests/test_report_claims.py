"""The paper's claims as paired tests (reports/claims.py): each outcome on a run whose differences are known."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actionbench.cli import main
from actionbench.reports.claims import PAPER_CLAIMS, Claim, check_claims, outcome
from actionbench.reports.load import load_runs
from report_helpers import write_run

INFOS = {
    "subject_correct": {"metric": "judge", "description": "subject shown", "higher_is_better": True,
                        "kind": "binary", "role": "subject"},
    "action_correct": {"metric": "judge", "description": "action shown", "higher_is_better": True,
                       "kind": "binary", "role": "action"},
    "pose_oks": {"metric": "pose", "description": "torso-scaled OKS", "higher_is_better": True,
                 "kind": "continuous", "role": ""},
}
METHODS = ("adi", "p_plus", "textual_inversion")


def known_values(method, action, subject, seed):
    """ADI keeps every subject, P+ half; the action judgements are equal; ADI's pose is P+'s + 0.3 (so "within
    0.05" is contradicted); textual inversion's pose is ADI's plus zero-mean noise (so "ADI > TI" is not shown)."""
    rng = np.random.default_rng(zlib.crc32(f"{action}/{subject}/{seed}".encode()))
    base, noise = rng.normal(0.5, 0.2), rng.normal(0.0, 0.3)
    pose = {"adi": base + 0.3, "p_plus": base, "textual_inversion": base + 0.3 + noise}[method]
    subject_kept = 1.0 if method != "p_plus" else float(seed % 2 == 0)
    return {"subject_correct": subject_kept, "action_correct": float(seed < 5), "pose_oks": pose}


@pytest.fixture(scope="module")
def claims_run(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("claims") / "run", known_values, methods=METHODS, seeds=range(10),
                     infos=INFOS)


def outcome_of(table: pd.DataFrame, a: str, b: str, score: str) -> str:
    rows = table[(table["method_a"] == a) & (table["method_b"] == b) & (table["score"] == score)]
    assert len(rows) == 1, (a, b, score)
    return rows["outcome"].iloc[0]


def test_each_outcome_on_known_differences(claims_run):
    table = check_claims(load_runs([claims_run]))
    assert outcome_of(table, "adi", "p_plus", "subject_correct") == "holds"  # +50 points, every pair >= 0
    assert outcome_of(table, "adi", "p_plus", "action_correct") == "holds"  # equal: the CI is [0, 0]
    assert outcome_of(table, "adi", "p_plus", "pose_oks") == "contradicted"  # +0.3, far outside +-0.05
    assert outcome_of(table, "adi", "textual_inversion", "pose_oks") == "not shown"  # zero-mean noise
    assert outcome_of(table, "adi", "textual_inversion", "subject_correct") == "holds"  # equal, within 5 points
    assert outcome_of(table, "adi", "dreambooth", "pose_oks") == "not run (dreambooth)"
    assert outcome_of(table, "adi", "p_plus", "subject_top1") == "no pairs"  # no such score on this board
    row = table[(table["method_b"] == "p_plus") & (table["score"] == "subject_correct")].iloc[0]
    assert row["difference"] == pytest.approx(0.5) and row["n"] == 80 and row["p_value"] < 0.001
    assert len(table) == len(PAPER_CLAIMS)


@pytest.mark.parametrize(("expect", "margin", "low", "high", "p_value", "expected"), [
    ("greater", 0.0, 0.01, 0.2, 0.01, "holds"),
    ("greater", 0.0, 0.01, 0.2, 0.06, "not shown"),  # a CI above 0 but p >= 0.05 (bootstrap vs permutation)
    ("greater", 0.0, -0.1, 0.2, 0.4, "not shown"),
    ("greater", 0.0, -0.3, -0.1, 0.001, "contradicted"),
    ("greater", 0.0, -0.3, -0.01, 0.07, "not shown"),  # the same rule on the wrong side: p >= 0.05 decides nothing
    ("less", 0.0, -0.3, -0.1, 0.001, "holds"),
    ("less", 0.0, 0.1, 0.3, 0.001, "contradicted"),
    ("within", 0.05, -0.05, 0.05, 1.0, "holds"),
    ("within", 0.05, -0.06, 0.01, 0.5, "not shown"),
    ("within", 0.05, 0.06, 0.2, 0.001, "contradicted"),
    ("within", 0.05, -0.2, -0.051, 0.001, "contradicted"),
    ("greater", 0.0, float("nan"), float("nan"), float("nan"), "no pairs"),
])
def test_outcome_rules(expect, margin, low, high, p_value, expected):
    claim = Claim(0, "test", "a", "b", "s", expect, margin)
    assert outcome(claim, low, high, p_value) == expected


def test_report_claims_prints_and_writes_the_table(claims_run, tmp_path, capsys):
    out = tmp_path / "board"
    assert main(["report", str(claims_run), "--out", str(out), "--claims", "--no-screenshot"]) == 0
    printed = capsys.readouterr().out
    assert "The paper's claims as paired tests" in printed
    assert "ADI keeps the subject better than P+" in printed and "not run (dreambooth)" in printed
    assert f"claims (CSV): {out / 'claims.csv'}" in printed
    written = pd.read_csv(out / "claims.csv")
    assert list(written["outcome"]) == list(check_claims(load_runs([claims_run]))["outcome"])
    assert 'href="claims.csv"' in (out / "leaderboard.html").read_text()
