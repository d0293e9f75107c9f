"""End to end through the real CLI: kill a run with SIGKILL, resume it, compare with an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from actionbench.cli import main

PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")
METHODS = "text,plain"


def run_args(benchmark: Path, out: Path) -> list[str]:
    return ["--plugins", PLUGIN, "run", "--benchmark", str(benchmark), "--methods", METHODS, "--actions", "all",
            "--metrics", "brightness", "--seeds", "0,1", "--set", "text.num_inference_steps=12",
            "--set", "plain.num_inference_steps=12", "--set", "text.generation_batch_size=3",
            "--set", "plain.generation_batch_size=3", "--out", str(out)]


def markers(run: Path) -> dict[str, float]:
    """Every finished stage marker in the run and when it finished."""
    return {str(p.relative_to(run)): json.loads(p.read_text())["finished"]
            for p in run.glob("units/*/*/*.json") if not p.name.endswith((".failed.json", ".partial.json"))}


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_finished_units(fixture_benchmark, tmp_path, tiny_pipeline_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "uninterrupted"
    assert main(run_args(fixture_benchmark, reference)) == 0

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen([sys.executable, "-m", "actionbench", *run_args(fixture_benchmark, interrupted)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(interrupted.glob("units/*/*/generate.json")):  # at least one unit has generated
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = markers(interrupted)
    all_stages = 3 * 4  # train, generate, score x (2 methods x 2 actions)
    assert 0 < len(before) < all_stages, "the kill must land mid-run"

    assert main(run_args(fixture_benchmark, interrupted)) == 0  # the same command resumes
    after = markers(interrupted)
    assert len(after) == all_stages
    assert {k: after[k] for k in before} == before  # finished stages were not redone

    board = pd.read_csv(interrupted / "leaderboard.csv")
    expected = pd.read_csv(reference / "leaderboard.csv")
    pd.testing.assert_frame_equal(board, expected)
    for image in reference.glob("units/*/*/images/*.png"):
        assert image.read_bytes() == (interrupted / image.relative_to(reference)).read_bytes()


def test_rerun_skips_done_units_and_a_changed_setting_redoes_only_what_it_affects(fixture_benchmark, tmp_path):
    run = tmp_path / "run"
    args = ["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", METHODS,
            "--actions", "arms_up", "--metrics", "brightness", "--out", str(run)]
    assert main(args) == 0
    first = markers(run)
    assert main(args) == 0
    assert markers(run) == first  # nothing redone
    for setting in ["text.guidance_scale=3.0", "text.generation_batch_size=1"]:  # generation settings
        before = markers(run)
        assert main(args + ["--set", setting, "--replace"]) == 0  # finished images discarded: asked for
        changed = markers(run)
        assert changed["units/plain/arms_up/generate.json"] == first["units/plain/arms_up/generate.json"]
        assert changed["units/text/arms_up/train.json"] == first["units/text/arms_up/train.json"]  # not retrained
        assert changed["units/text/arms_up/generate.json"] != before["units/text/arms_up/generate.json"]
        assert changed["units/text/arms_up/score.json"] != before["units/text/arms_up/score.json"]
    assert main(args + ["--set", "text.seed=3", "--replace"]) == 0  # a training setting retrains
    assert markers(run)["units/text/arms_up/train.json"] != first["units/text/arms_up/train.json"]


def test_check_passes_a_met_baseline_and_fails_an_unmet_one(fixture_benchmark, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text",
                 "--actions", "all", "--metrics", "brightness", "--out", str(run)]) == 0
    board = pd.read_csv(run / "leaderboard.csv")
    met = tmp_path / "met.csv"
    board.to_csv(met, index=False)
    assert main(["check", str(run), "--baseline", str(met)]) == 0
    assert "0 failed" in capsys.readouterr().out

    unmet = board.copy()
    row = (unmet["action"] == "overall") & (unmet["score"] == "brightness")
    unmet.loc[row, "mean"] += 0.05
    unmet_path = tmp_path / "unmet.csv"
    unmet.to_csv(unmet_path, index=False)
    assert main(["check", str(run), "--baseline", str(unmet_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL text" in out and "1 failed" in out
    assert main(["check", str(run), "--baseline", str(unmet_path), "--tolerance", "0.06"]) == 0
    unmet["tolerance"] = 0.01  # a per-row tolerance wins over the command line's
    unmet.to_csv(unmet_path, index=False)
    assert main(["check", str(run), "--baseline", str(unmet_path), "--tolerance", "0.06"]) == 1


def test_html_board_escapes_hostile_strings(tmp_path):
    from fixtures import write_benchmark
    import tomllib
    import tomli_w

    bench = write_benchmark(tmp_path / "bench")
    spec = tomllib.loads((bench / "benchmark.toml").read_text())
    spec["protocol"]["subjects"][0]["text"] = "<script>alert(1)</script> a man"
    (bench / "benchmark.toml").write_text(tomli_w.dumps(spec))
    action = tomllib.loads((bench / "arms_up" / "action.toml").read_text())
    action["description"] = "raising <img src=x onerror=alert(2)> arms"
    (bench / "arms_up" / "action.toml").write_text(tomli_w.dumps(action))
    run = tmp_path / "run"
    assert main(["--plugins", PLUGIN, "run", "--benchmark", str(bench), "--methods", "text", "--actions", "arms_up",
                 "--metrics", "brightness", "--out", str(run)]) == 0
    html = (run / "leaderboard.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert html.count("<script>") == 1  # only the board's own sorting script


def test_a_killed_trainings_partial_artifact_is_swept_on_resume(fixture_benchmark, tmp_path):
    run = tmp_path / "run"
    args = ["--plugins", PLUGIN, "run", "--benchmark", str(fixture_benchmark), "--methods", "text",
            "--actions", "arms_up", "--metrics", "brightness", "--out", str(run), "--no-report"]
    leftover = run / "units" / "text" / "arms_up" / "artifact.partial-999999"
    leftover.mkdir(parents=True)
    (leftover / "half.bin").write_bytes(b"x")
    assert main(args) == 0
    assert not leftover.exists()
    assert (run / "units" / "text" / "arms_up" / "artifact" / "words.json").is_file()
