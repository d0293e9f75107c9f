"""Round trip: add a custom action from a folder of photos, run a method on it through the CLI, report.

Also: the benchmark version reaches the run manifest, and ``actionbench report`` refuses to merge
runs whose shared actions were computed from different data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from actionbench.base_models import TINY_VERSION
from actionbench.cli import main
from actionbench.data import get_benchmark
from fixtures import COLOURS, POSES, draw_figure

TESTS = Path(__file__).resolve().parent
PLUGIN = str(TESTS / "plugins" / "dummy_metric.py")


@pytest.fixture()
def home(tmp_path, monkeypatch, tiny_pipeline_path) -> Path:
    """A private ACTIONBENCH_HOME that shares the session's tiny pipeline instead of building another."""
    home = tmp_path / "home"
    (home / "cache" / "base-models").mkdir(parents=True)
    (home / "cache" / "base-models" / TINY_VERSION).symlink_to(tiny_pipeline_path, target_is_directory=True)
    monkeypatch.setenv("ACTIONBENCH_HOME", str(home))
    return home


def wave_photos(folder: Path, background: int = 230) -> Path:
    folder.mkdir(parents=True)
    for i in range(3):
        draw_figure(POSES["arms_out"], COLOURS[i], background - 20 * i).save(folder / f"wave_{i}.png")
    return folder


def run(fixture_benchmark: Path, out: Path) -> int:
    return main(["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text",
                 "--actions", "my_wave", "--metrics", "brightness", "--base-model", "tiny", "--out", str(out)])


@pytest.mark.slow
def test_add_a_custom_action_then_run_a_method_on_it(tmp_path, home, fixture_benchmark, capsys):
    images = wave_photos(tmp_path / "photos")
    assert main(["data", "add-action", "my_wave", "--images", str(images),
                 "--description", "stretching both arms out to the sides"]) == 0
    out = tmp_path / "run"
    assert run(fixture_benchmark, out) == 0

    unit = out / "units" / "text" / "my_wave"
    rows = [json.loads(line) for line in (unit / "images.jsonl").read_text().splitlines()]
    assert {row["subject"] for row in rows} == {"man", "cat"}  # the fixture protocol: 2 subjects x 1 seed
    for row in rows:
        assert (unit / row["file"]).is_file()  # "images/<image_id>.png"
        assert row["prompt"] == f"{row['subject_text']} {{action}}"
    words = json.loads((unit / "artifact" / "words.json").read_text())
    assert words == {"action": "my_wave", "words": "stretching both arms out to the sides"}  # the description
    scores = [json.loads(line) for line in (unit / "scores.jsonl").read_text().splitlines()]
    assert {(s["image_id"], s["score"]) for s in scores} == {(r["image_id"], n) for r in rows
                                                             for n in ("brightness", "is_dark")}
    assert all(0.0 <= s["value"] <= 1.0 for s in scores)

    manifest = json.loads((out / "manifest.json").read_text())
    benchmark = get_benchmark(str(fixture_benchmark))
    assert manifest["benchmark"]["version"] == benchmark.version
    assert manifest["benchmark"]["actions"] == {"my_wave": benchmark.actions["my_wave"].version}
    assert manifest["action_descriptions"]["my_wave"] == "stretching both arms out to the sides"
    with open(out / "leaderboard.csv", newline="") as handle:
        board = list(csv.DictReader(handle))
    assert board and all(benchmark.version in row.get("benchmark", "") for row in board)

    # The same action name from other photos is other data: the two runs must not be merged.
    assert main(["data", "add-action", "my_wave", "--images", str(wave_photos(tmp_path / "other", 150)),
                 "--description", "stretching both arms out to the sides", "--force"]) == 0
    assert get_benchmark(str(fixture_benchmark)).actions["my_wave"].version != benchmark.actions["my_wave"].version
    other = tmp_path / "run2"
    assert run(fixture_benchmark, other) == 0
    capsys.readouterr()
    assert main(["report", str(out), str(other), "--out", str(tmp_path / "board")]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: action 'my_wave' has different data in {out} and "
                                       f"{other}: report these runs separately; their scores are not comparable.\n")
    assert not (tmp_path / "board").exists()
