"""`actionbench check`: undefined scores, and baselines that cannot stand for the run, each in one line.

A score undefined (NaN) in both the run and the baseline passes (a run checked against its own board
passes); undefined on one side only fails, saying which. A baseline of another benchmark, one with no
rows, an infinite mean and a tolerance that is not a finite number >= 0 are refused before any check.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from report_helpers import write_run

from actionbench.cli import main
from actionbench.reports.check import check, read_baseline

HEADER = "benchmark,method,action,score,mean,tolerance"


def values(method, action, subject, seed):
    """text's clip is undefined on every image (as the pose OKS of detected poses where none is)."""
    return {"clip": math.nan if method == "text" else 0.5, "judge_action": 1.0 if method == "adi" else 0.0}


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run", values, actions=("cheer",))


def lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_run_passes_against_its_own_board_undefined_scores_included(run, capsys):
    assert main(["report", str(run), "--no-screenshot"]) == 0
    capsys.readouterr()
    assert main(["check", str(run), "--baseline", str(run / "leaderboard.csv")]) == 0
    out = lines(capsys)
    assert ("ok   text                 cheer        clip                   now nan  baseline nan  tolerance 0.0000  "
            "(undefined in both)") in out
    assert out[-1] == "8 passed, 0 failed"


def test_undefined_on_one_side_only_fails_and_says_which(run, tmp_path, capsys):
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(f"{HEADER}\nconstructed v1,text,cheer,clip,0.4,\nconstructed v1,adi,cheer,clip,nan,\n"
                        "constructed v1,adi,overall,clip,,\n")
    assert main(["check", str(run), "--baseline", str(baseline)]) == 1
    assert lines(capsys) == [
        "FAIL text                 cheer        clip                   now nan  baseline 0.4000  tolerance 0.0000  "
        "(undefined now, a number in the baseline)",
        "FAIL adi                  cheer        clip                   now 0.5000  baseline nan  tolerance 0.0000  "
        "(a number now, undefined in the baseline)",
        "FAIL adi                  overall      clip                   now 0.5000  baseline nan  tolerance 0.0000  "
        "(a number now, undefined in the baseline)",
        "0 passed, 3 failed"]


def test_check_rows_of_undefined_means():
    """The rule itself, row by row."""
    board = pd.DataFrame([{"method": "m", "action": "a", "score": s, "mean": v, "higher_is_better": True}
                          for s, v in (("both", math.nan), ("now", math.nan), ("then", 0.2))])
    baseline = pd.DataFrame({"method": ["m"] * 4, "action": ["a"] * 4, "score": ["both", "now", "then", "gone"],
                             "mean": [math.nan, 0.1, math.nan, 0.1]})
    assert [(r.score, r.passed, r.note) for r in check(board, baseline, 0.0)] == [
        ("both", True, "undefined in both"), ("now", False, "undefined now, a number in the baseline"),
        ("then", False, "a number now, undefined in the baseline"), ("gone", False, "not on the run's board")]


def test_a_baseline_of_another_benchmark_is_refused(run, tmp_path, capsys):
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(f"{HEADER}\nactionbench 0123,adi,cheer,clip,0.5,\n")
    assert main(["check", str(run), "--baseline", str(baseline)]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: baseline {baseline} is a board of benchmark actionbench 0123, but {run} is a run of "
        "constructed v1: pass a baseline written from a run of the same benchmark and version.\n")


def test_a_baseline_without_rows_is_refused(run, tmp_path, capsys):
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(f"{HEADER}\n")
    assert main(["check", str(run), "--baseline", str(baseline)]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: baseline {baseline} has no rows: nothing to check: "
                                       "pass a leaderboard.csv with the rows the run must meet.\n")


@pytest.mark.parametrize("cell, problem, fix", [
    ("inf", "tolerance inf of adi on cheer (clip) is not a finite number >= 0", "write a finite number >= 0 there"),
    ("nan", "tolerance nan of adi on cheer (clip) is not a finite number >= 0", "write a finite number >= 0 there"),
])
def test_a_tolerance_that_is_not_finite_is_refused(run, tmp_path, capsys, cell, problem, fix):
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(f"{HEADER}\nconstructed v1,adi,cheer,clip,0.9,{cell}\n")
    assert main(["check", str(run), "--baseline", str(baseline)]) == 2
    assert capsys.readouterr().err == f"actionbench: error: baseline {baseline}: {problem}: {fix}.\n"


def test_an_empty_tolerance_takes_the_command_lines(run, tmp_path):
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(f"{HEADER}\nconstructed v1,adi,cheer,clip,0.55,\n")
    assert math.isnan(read_baseline(baseline)["tolerance"].iloc[0])
    assert main(["check", str(run), "--baseline", str(baseline)]) == 1
    assert main(["check", str(run), "--baseline", str(baseline), "--tolerance", "0.1"]) == 0


@pytest.mark.parametrize("cell", ["inf", "-inf"])
def test_an_infinite_mean_is_refused(run, tmp_path, capsys, cell):
    """-inf for a higher-is-better score would pass any run."""
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(f"{HEADER}\nconstructed v1,adi,cheer,clip,{cell},\n")
    assert main(["check", str(run), "--baseline", str(baseline)]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: baseline {baseline}: mean {cell} of adi on cheer (clip) "
                                       "is not a finite number: write a finite number there.\n")


@pytest.mark.parametrize("given", ["inf", "nan"])
def test_a_command_line_tolerance_that_is_not_finite_is_refused(run, tmp_path, capsys, given):
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(f"{HEADER}\nconstructed v1,adi,cheer,clip,0.5,\n")
    assert main(["check", str(run), "--baseline", str(baseline), "--tolerance", given]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: --tolerance is {given}: give a finite shortfall >= 0, "
                                       "e.g. --tolerance 0.02.\n")


def test_a_method_named_like_a_number_is_matched_as_text(tmp_path, capsys):
    """Cells are read as text: a method "007" read as the number 7 would fail as missing."""
    run = write_run(tmp_path / "run", lambda *a: {"clip": 0.5}, methods=("007",), actions=("cheer",))
    assert main(["report", str(run), "--no-screenshot"]) == 0
    assert main(["check", str(run), "--baseline", str(run / "leaderboard.csv")]) == 0
