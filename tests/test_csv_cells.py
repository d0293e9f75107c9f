"""Every CSV the suite writes keeps formulas inert (a leading ') and numbers numeric; --raw-csv writes cells as
they are; the suite's own readers (check's baseline, the ratings import) read back exactly what was meant."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import pandas as pd
import pytest

from actionbench.cli import main
from actionbench.csvcells import neutralise, restore
from actionbench.rating.study import open_study
from rating_helpers import copy_run

LINK = '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize("value, written", [
    (LINK, "'" + LINK), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-", "'-"), ("'=1", "''=1"), ("''@x", "'''@x"),
    ("-0.123", "-0.123"), ("+1e-3", "+1e-3"), ("-.5", "-.5"), ("12", "12"), ("a = b", "a = b"), ("'quoted", "'quoted"),
    ("", ""), (-0.123, -0.123), (None, None),
])
def test_formula_cells_get_one_apostrophe_and_read_back_exactly(value, written):
    assert neutralise(value) == written
    assert restore(written) == value


def cells(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def hostile_board() -> pd.DataFrame:
    return pd.DataFrame([
        {"method": LINK, "action": "cheer", "score": "judge_action", "mean": -0.123, "ci_low": -0.5, "ci_high": 0.25,
         "n": 4, "failures": 0, "higher_is_better": True, "kind": "continuous"},
        {"method": "-plain", "action": "@cheer", "score": "judge_action", "mean": 0.5, "ci_low": 0.25, "ci_high": 0.75,
         "n": 4, "failures": 0, "higher_is_better": True, "kind": "continuous"}])


def test_leaderboard_csv_neutralises_names_keeps_numbers_and_check_reads_it_back(tmp_path):
    from actionbench.reports.check import check, read_baseline
    from actionbench.reports.csv_report import write_csv

    board = hostile_board()
    safe = write_csv(board, tmp_path / "leaderboard.csv", "=cmd 1")
    rows = cells(safe)
    assert [(r["benchmark"], r["method"], r["action"]) for r in rows] == [
        ("'=cmd 1", "'" + LINK, "cheer"), ("'=cmd 1", "'-plain", "'@cheer")]
    assert rows[0]["mean"] == "-0.123" and rows[0]["ci_low"] == "-0.5"  # numbers stay numbers
    assert ",-0.123,-0.5,0.25," in safe.read_text()  # unquoted: a spreadsheet reads a number
    baseline = read_baseline(safe)  # `actionbench check --baseline leaderboard.csv`
    assert list(baseline["method"]) == [LINK, "-plain"] and list(baseline["action"]) == ["cheer", "@cheer"]
    assert all(row.passed for row in check(board, baseline, 0.0))
    raw = write_csv(board, tmp_path / "raw.csv", "=cmd 1", raw=True)
    assert [(r["benchmark"], r["method"], r["action"]) for r in cells(raw)] == [
        ("=cmd 1", LINK, "cheer"), ("=cmd 1", "-plain", "@cheer")]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_pipeline_path):
    return copy_run(tmp_path_factory, "csv-cells")


@pytest.fixture()
def fresh(run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("ratings"))
    return target


def test_ratings_export_neutralises_a_rater_name_raw_csv_does_not_and_the_import_round_trips(fresh, tmp_path, capsys):
    study = open_study(fresh)
    filled = tmp_path / "filled.csv"
    with open(filled, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "rater", "action_shown", "subject_shown"])
        writer.writerows([[image_id, LINK, "yes", "no"] for image_id in study.ids[:3]])
    assert main(["rate", str(fresh), "--import", str(filled)]) == 0
    assert main(["rate", str(fresh), "--export", str(tmp_path / "safe.csv")]) == 0
    assert {row["rater"] for row in cells(tmp_path / "safe.csv")} == {"'" + LINK}
    assert main(["rate", str(fresh), "--export", str(tmp_path / "raw.csv"), "--raw-csv"]) == 0
    assert {row["rater"] for row in cells(tmp_path / "raw.csv")} == {LINK}
    again = copy_run_without_ratings(fresh, tmp_path / "again")
    assert main(["rate", str(again), "--import", str(tmp_path / "safe.csv")]) == 0  # the export imports back
    capsys.readouterr()
    assert main(["rate", str(again), "--export", str(tmp_path / "back.csv")]) == 0
    assert (tmp_path / "back.csv").read_text() == (tmp_path / "safe.csv").read_text().replace("import:filled.csv",
                                                                                              "import:safe.csv")


def copy_run_without_ratings(run, target):
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("ratings"))
    shutil.copytree(run / "ratings", target / "ratings", ignore=shutil.ignore_patterns("*.jsonl"))
    return target


@pytest.mark.parametrize("raw", [False, True])
def test_items_csv_neutralises_a_subject_and_a_description(fresh, tmp_path, raw):
    from actionbench.rating.csvio import export_study

    study = open_study(fresh)
    first = study.images[0]
    study.by_id[first.id] = dataclasses.replace(first, subject_text=LINK)  # a subject written as a formula
    manifest = json.loads((fresh / "manifest.json").read_text())
    manifest["action_descriptions"][first.action] = "@SUM(1+1)"
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    items = cells(export_study(study, tmp_path / "task", raw=raw))
    row = next(r for r in items if r["image_id"] == first.id)
    assert (row["subject"], row["action_description"]) == ((LINK, "@SUM(1+1)") if raw else ("'" + LINK, "'@SUM(1+1)"))
    assert all(not r["subject"].startswith(("=", "+", "-", "@")) for r in items if not raw)


def test_report_writes_safe_csv_and_raw_csv_on_request(fresh, tmp_path, capsys):
    manifest = json.loads((fresh / "manifest.json").read_text())
    manifest["benchmark"]["name"] = LINK  # the benchmark column carries the name as the run recorded it
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(fresh), "--out", str(tmp_path / "safe"), "--no-screenshot"]) == 0
    rows = cells(tmp_path / "safe" / "leaderboard.csv")
    assert {row["benchmark"].split(" ")[0] for row in rows} == {"'=HYPERLINK(\"http://x\",\"y\")"}
    assert all(float(row["mean"]) == float(row["mean"]) for row in rows if row["mean"])  # still numbers
    assert main(["report", str(fresh), "--out", str(tmp_path / "raw"), "--no-screenshot", "--raw-csv"]) == 0
    assert {row["benchmark"].split(" ")[0] for row in cells(tmp_path / "raw" / "leaderboard.csv")} == {
        '=HYPERLINK("http://x","y")'}
    assert main(["check", str(fresh), "--baseline", str(tmp_path / "safe" / "leaderboard.csv")]) == 0


@pytest.mark.parametrize("raw", [False, True])
def test_score_out_neutralises_a_file_name_and_keeps_numbers(raw):
    from actionbench.cli.score import _csv

    rows = [{"image": "/x/=cmd.png", "image_id": "+cmd.png", "clip": -0.25, "judge": float("nan"), "failures": ""}]
    text = _csv(rows, ["image", "image_id", "clip", "judge", "failures"], raw)
    assert text.splitlines()[1] == ("/x/=cmd.png,+cmd.png,-0.25,," if raw else "/x/=cmd.png,'+cmd.png,-0.25,,")
