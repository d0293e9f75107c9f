"""A re-run never discards finished trainings or images without being told to.

A changed setting makes a stage's results stale, and the stage is redone after its old outputs are
removed. For a trained artifact or a unit's images that can be hours of a GPU, so `run` into a run
directory whose finished trainings or images the new settings would discard is refused in one line
naming them and what changed; `--replace` discards and redoes them; a new `--out` keeps both.
Re-scoring (seconds) is never refused, and a `--replace` run that was killed resumes without it.
"""

from __future__ import annotations

import shutil

import pytest
from test_cli_e2e import PLUGIN

from actionbench.cli import main
from actionbench.reports.load import load_runs
from actionbench.store import RunStore, Unit


def args(benchmark, out, *extra):
    return ["--plugins", PLUGIN, "run", "--benchmark", str(benchmark), "--methods", "text", "--actions", "all",
            "--metrics", "brightness", "--seeds", "0", "--set", "text.num_inference_steps=4", "--no-report",
            "--out", str(out), *extra]


def snapshot(run):
    """Every file of the run's units and its manifest, byte for byte."""
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture()
def finished(fixture_benchmark, tmp_path):
    run = tmp_path / "run"
    assert main(args(fixture_benchmark, run)) == 0
    return run


def test_a_changed_setting_that_would_discard_finished_work_is_refused(fixture_benchmark, finished, capsys):
    before = snapshot(finished)
    capsys.readouterr()
    assert main(args(fixture_benchmark, finished, "--set", "text.guidance_scale=3.0")) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {finished} holds finished results that these settings would discard: the images of "
        "text (2 units); changed since the last run: text.guidance_scale 2.0 -> 3.0: pass --out with a new folder to keep them, or --replace "
        "to discard and redo them.\n")
    assert snapshot(finished) == before  # nothing written, nothing removed, the manifest included
    assert main(args(fixture_benchmark, finished, "--set", "text.seed=5", "--seeds", "0,1")) == 2
    error = capsys.readouterr().err
    assert "the trained artifacts of text (2 units)" in error and "text.seed 0 -> 5; seeds [0] -> [0, 1]" in error


def test_replace_discards_and_redoes_them(fixture_benchmark, finished):
    train = {u: RunStore(finished).marker(u, "train")["key"] for u in RunStore(finished).units()}
    assert main(args(fixture_benchmark, finished, "--set", "text.seed=5", "--replace")) == 0
    store = RunStore(finished)
    assert all(store.marker(u, "train")["key"] != key for u, key in train.items())
    assert load_runs([finished]).unfinished == []


def test_a_killed_replace_resumes_without_replace(fixture_benchmark, finished, tmp_path):
    """A --replace run killed before it reached a unit leaves that unit as it was; the same settings
    then resume without --replace (the manifest records what the last invocation asked for)."""
    unit = RunStore(finished).unit_dir(Unit("text", "arms_out"))
    shutil.copytree(unit, tmp_path / "before")
    assert main(args(fixture_benchmark, finished, "--set", "text.guidance_scale=3.0", "--replace")) == 0
    shutil.rmtree(unit)
    shutil.copytree(tmp_path / "before", unit)  # as a kill before the run reached it leaves it
    assert main(args(fixture_benchmark, finished, "--set", "text.guidance_scale=3.0")) == 0
    assert load_runs([finished]).unfinished == []
    assert main(args(fixture_benchmark, finished, "--set", "text.guidance_scale=4.0")) == 2  # a new change again


def test_rescoring_is_never_refused(fixture_benchmark, finished, monkeypatch):
    from actionbench.metrics import METRICS

    metric = METRICS.get("brightness")
    monkeypatch.setattr(metric, "version", metric.version + 1)  # a new version of the metric's code
    store = RunStore(finished)
    scored = {u: store.marker(u, "score")["key"] for u in store.units() if u.action}
    assert main(args(fixture_benchmark, finished)) == 0
    assert all(store.marker(u, "score")["key"] != key for u, key in scored.items())  # re-scored, not refused


def test_a_new_out_keeps_both(fixture_benchmark, finished, tmp_path):
    before = snapshot(finished)
    assert main(args(fixture_benchmark, tmp_path / "other", "--set", "text.guidance_scale=3.0")) == 0
    assert snapshot(finished) == before


def test_what_changed_reads_the_manifest_as_written(tmp_path):
    """Settings read back from a written manifest compare equal to the plan's (both in JSON form): no
    change is invented for an unchanged method; a changed one is named with both values."""
    import json

    from actionbench.config import RunConfig
    from actionbench.fileio import atomic_write_json
    from actionbench.manifest import build_manifest
    from actionbench.plan import build_plan
    from actionbench.replacing import what_changed

    plan = build_plan(RunConfig(methods=["adi", "dreambooth"], actions=["cheer"]))
    atomic_write_json(tmp_path / "manifest.json", build_manifest(plan, None))
    previous = json.loads((tmp_path / "manifest.json").read_text())
    assert what_changed(plan, previous) == []
    previous["method_configs"]["adi"]["steps"] = 300
    assert what_changed(plan, previous) == [f"adi.steps 300 -> {plan.method_configs['adi'].steps}"]


def test_a_run_from_a_suite_with_other_keys_is_refused_as_such(fixture_benchmark, finished, capsys):
    """A run written by a suite version that hashed training differently (its markers hold other keys,
    its manifest no stage keys) and no setting changed: refused, saying the keys changed."""
    import json

    store = RunStore(finished)
    for unit in store.units():
        marker = store.marker(unit, "train")
        (store.unit_dir(unit) / "train.json").write_text(json.dumps({**marker, "key": "an older suite's key"}))
    manifest = store.manifest()
    del manifest["stage_keys"]
    (finished / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(args(fixture_benchmark, finished)) == 2
    assert capsys.readouterr().err.endswith(
        "would discard: the trained artifacts of text (2 units); the suite's keys for them changed: pass --out with "
        "a new folder to keep them, or --replace to discard and redo them.\n")
