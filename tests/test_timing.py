"""Where the time went: the per-stage, per-method table built from the stage markers."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from actionbench.reports.timing import (
    format_table,
    report_timing,
    stage_times,
    timing_table,
)

from actionbench.cli import main
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_json
from actionbench.store import RunStore, Unit

PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def fake_run(root: Path, stages: dict[tuple[str, str | None, str], tuple[float, float]]) -> RunStore:
    """A run store whose markers record the given (seconds, finished) per (method, action, stage)."""
    store = RunStore(root)
    store.write_manifest({"updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    for (method, action, stage), (seconds, finished) in stages.items():
        unit = Unit(method, action)
        store.unit_dir(unit).mkdir(parents=True, exist_ok=True)
        atomic_write_json(store.unit_dir(unit) / f"{stage}.json",
                          {"key": "k", "seconds": seconds, "finished": finished})
    return store


def test_seconds_and_shares_are_summed_per_stage_and_method_in_stage_order(tmp_path):
    store = fake_run(tmp_path / "run", {
        ("adi", "cheer", "train"): (30.0, 1.0), ("adi", "squat", "train"): (10.0, 2.0),
        ("adi", "cheer", "generate"): (5.0, 3.0), ("text", "cheer", "score"): (4.0, 4.0),
        ("plain", None, "generate"): (1.0, 5.0), ("text", "cheer", "train"): (0.0, 6.0),
    })
    (store.unit_dir(Unit("text", "squat"))).mkdir(parents=True)  # a unit with no finished stage
    rows = timing_table(stage_times(store.root))
    assert [(r.stage, r.method, r.units, r.seconds) for r in rows] == [
        ("train", "adi", 2, 40.0), ("train", "text", 1, 0.0),
        ("generate", "adi", 1, 5.0), ("generate", "plain", 1, 1.0), ("score", "text", 1, 4.0)]
    assert [r.share for r in rows] == pytest.approx([0.8, 0.0, 0.1, 0.02, 0.08])
    assert all(r.resumed == 0 and r.this_invocation_seconds == r.seconds for r in rows)


def test_stages_finished_before_this_invocation_count_as_resumed_with_their_recorded_time(tmp_path):
    store = fake_run(tmp_path / "run", {
        ("adi", "cheer", "train"): (30.0, 100.0), ("adi", "squat", "train"): (10.0, 200.0),
        ("adi", "cheer", "generate"): (5.0, 150.0)})
    rows = timing_table(stage_times(store.root), since=120.0)
    train, generate = rows
    assert (train.units, train.resumed, train.seconds, train.this_invocation_seconds) == (2, 1, 40.0, 10.0)
    assert (generate.units, generate.resumed, generate.seconds, generate.this_invocation_seconds) == (1, 0, 5.0, 5.0)
    text = format_table(rows, resumed=True)
    lines = text.splitlines()
    assert lines[1].split() == ["stage", "method", "units", "resumed", "seconds", "share"]
    assert lines[2].split() == ["train", "adi", "2", "1", "40.0", "88.9%"]
    assert lines[-2].split() == ["total", "3", "1", "45.0", "100.0%"]
    assert lines[-1] == "this invocation: 15.0 s of stage time"


def test_csv_holds_one_row_per_stage_and_method(tmp_path):
    store = fake_run(tmp_path / "run", {("adi", "cheer", "train"): (3.0, 1.0), ("adi", "cheer", "score"): (1.0, 2.0)})
    text = report_timing(store.root)
    assert "resumed" not in text.splitlines()[1]  # a report looks at the run as a whole
    rows = read_csv(store.root / "timing.csv")
    assert [(r["stage"], r["method"], float(r["seconds"]), float(r["share"])) for r in rows] == [
        ("train", "adi", 3.0, 0.75), ("score", "adi", 1.0, 0.25)]


def test_an_empty_run_prints_nothing_and_a_folder_that_is_no_run_is_refused(tmp_path):
    assert report_timing(fake_run(tmp_path / "run", {}).root) == ""
    with pytest.raises(ActionBenchError, match="is not a run directory"):
        stage_times(tmp_path / "nothing")


def test_run_prints_the_table_and_a_resumed_run_shows_its_units_as_resumed(fixture_benchmark, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text,plain",
            "--actions", "all", "--metrics", "brightness", "--out", str(run), "--no-report"]
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(first) if line.startswith("stage "))
    table = first[header + 1:header + 8]
    assert [line.split()[:4] for line in table] == [  # 2 methods x 2 actions, every stage finished now
        [stage, method, "2", "0"] for stage in ("train", "generate", "score") for method in ("plain", "text")
    ] + [["total", "12", "0", table[-1].split()[3]]]
    assert sum(float(line.split()[-1].rstrip("%")) for line in table[:-1]) == pytest.approx(100, abs=0.5)
    recorded = {(r["stage"], r["method"]): float(r["seconds"]) for r in read_csv(run / "timing.csv")}
    time.sleep(1.1)  # the manifest's invocation time has a resolution of one second
    assert main(args) == 0
    again = capsys.readouterr().out.splitlines()
    assert again[header + 7].split()[:3] == ["total", "12", "12"]  # all resumed ...
    assert again[-1] == "this invocation: 0.0 s of stage time"
    rows = read_csv(run / "timing.csv")
    assert {(r["stage"], r["method"]): float(r["seconds"]) for r in rows} == recorded  # ... at their recorded time
    assert all(float(r["this_invocation_seconds"]) == 0.0 for r in rows)
    (run / "timing.csv").unlink()
    assert main(["report", str(run), "--no-screenshot"]) == 0
    report = capsys.readouterr().out
    assert f"where the time went in {run} (seconds recorded by each stage):" in report
    assert read_csv(run / "timing.csv") == [{**r, "resumed": "0", "this_invocation_seconds": r["seconds"]}
                                                               for r in rows]
