"""How ``actionbench score`` shows a metric: only through the metric's own hooks, never by its name.

A stand-in metric with known answers (dark or light images) declares its labels, its summary and
what it leaves blank without ``--subject``; the command must show exactly those.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from actionbench.cli import main
from actionbench.metrics import METRICS
from actionbench.metrics.base import Metric, MetricResult, ScoreInfo


class Darkness(Metric):
    """1 when an image's mean pixel is below half; says "dark" or "light" beside it."""

    name = "darkness"
    scores = (ScoreInfo("is_dark", "1 when the mean pixel value is below 0.5", True, kind="binary"),)
    without_subject = "subject verdicts"

    def score(self, records, context):
        return [MetricResult({"is_dark": float(np.asarray(Image.open(r.path)).mean() < 127.5)}) for r in records]

    def labels(self, values):
        return {"shade": "dark" if values["is_dark"] == 1.0 else "light"}

    def summary(self, results, context):
        return [f"darkness: {sum(r.values['is_dark'] for r in results):.0f} of {len(results)} image(s) dark"]


@pytest.fixture()
def darkness(monkeypatch):
    """``darkness`` registered for this test only (the registry's other entries are untouched)."""
    monkeypatch.setattr(METRICS, "entries", dict(METRICS.entries))
    METRICS.register("darkness")(Darkness)


def test_score_shows_a_metric_through_its_labels_and_summary(darkness, fixture_benchmark, tmp_path, capsys):
    for name, value in (("black.png", 0), ("white.png", 255), ("grey.png", 40)):
        Image.new("RGB", (64, 64), (value,) * 3).save(tmp_path / name)
    paths = [str(tmp_path / n) for n in ("black.png", "white.png", "grey.png")]
    out_csv = tmp_path / "rows.csv"
    assert main(["score", *paths, "--action", "arms_up", "--benchmark", str(fixture_benchmark),
                 "--metrics", "darkness", "--out", str(out_csv)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["image_id", "is_dark", "shade"]
    assert [line.split() for line in lines[1:4]] == [["black.png", "1.000", "dark"], ["white.png", "0.000", "light"],
                                                     ["grey.png", "1.000", "dark"]]
    assert lines[4:6] == ["3 image(s) scored against action arms_up of fixture; 0 unreadable",
                          "darkness: 2 of 3 image(s) dark"]
    assert err.strip() == "actionbench: note: the darkness's subject verdicts are left blank: no --subject given"
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["image", "image_id", "is_dark", "shade", "failures"]
    assert [r["shade"] for r in rows] == ["dark", "light", "dark"]


def test_without_subject_the_subject_metric_is_skipped_and_the_judge_says_what_it_leaves_blank(capsys):
    from actionbench.cli.score import _without_subject

    assert _without_subject(["pose", "subject", "judge"]) == ["pose", "judge"]
    assert capsys.readouterr().err.strip() == ("actionbench: note: metric subject is skipped and the judge's subject "
                                               "and total are left blank: no --subject given")
    assert _without_subject(["pose", "clip"]) == ["pose", "clip"]
    assert capsys.readouterr().err == ""


def test_the_judge_labels_and_summarises_itself():
    from actionbench.metrics.base import ScoringContext
    from actionbench.metrics.calibration import Calibration
    from actionbench.metrics.judge import CALIBRATION_KEY, ActionJudge

    judge = ActionJudge()
    assert [judge.labels({"judged_by_pose": v})["judged_by"] for v in (1.0, 0.0, float("nan"))] == ["pose", "clip", ""]
    nan = float("nan")
    results = [MetricResult({"action_correct": 1.0, "subject_correct": nan, "total_correct": nan,
                             "judged_by_pose": 1.0, "judge_threshold": 0.8}),
               MetricResult({"action_correct": 0.0, "subject_correct": nan, "total_correct": nan,
                             "judged_by_pose": 0.0, "judge_threshold": 0.8}),
               judge.failed("unreadable")]
    calibration = Calibration(id="abc", threshold=0.8, method="leave-one-out", reason="", benchmark="b",
                              benchmark_version="v")
    context = ScoringContext(benchmark=None, action=None, scorers=None, shared={(CALIBRATION_KEY, "abc"): calibration})
    assert judge.summary(results, context) == ["action_correct: 0.500 over 2 image(s)",
                                               "judged_by_pose: 0.500 over 2 image(s)",
                                               f"judge: {calibration.summary()}"]
    assert judge.summary(results, ScoringContext(benchmark=None, action=None, scorers=None))[-1].startswith("judged_by")
