"""Resume trusts files, not markers: after each kind of damage to a finished run, re-running the same
command redoes exactly the damaged units (saying so, one line per unit), and the board equals the
undamaged run's byte for byte; until then ``report`` refuses the run with one line."""

import json
import shutil
from pathlib import Path

import pytest

from actionbench.cli import main

pytestmark = pytest.mark.slow
PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")
STAGES = ("train", "generate", "score")


def run_args(benchmark: Path, out: Path) -> list[str]:
    return ["--plugins", PLUGIN, "run", "--benchmark", str(benchmark), "--methods", "text,plain",
            "--actions", "all", "--metrics", "brightness", "--out", str(out)]


def markers(run: Path) -> dict[str, float]:
    """Every finished stage marker and when it finished: a redone stage gets a new time."""
    return {str(p.relative_to(run)): json.loads(p.read_text())["finished"]
            for p in run.glob("units/*/*/*.json") if p.stem in STAGES}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, fixture_benchmark) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(run_args(fixture_benchmark, run)) == 0
    return run


@pytest.fixture()
def damaged(finished_run, tmp_path) -> Path:
    """A copy of the finished run, for one test to damage and repair."""
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def redone(before: dict[str, float], after: dict[str, float]) -> set[str]:
    assert set(after) == set(before), "every stage is finished again after the resume"
    return {name for name in before if after[name] != before[name]}


def truncate(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]))


def corrupt_line(path: Path) -> None:
    """Garble one line in place, keeping the file's size: only its hash can tell."""
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "{" + "#" * (len(lines[1]) - 2) + "\n"
    path.write_text("".join(lines))


DAMAGE = {
    # name: (what to do to the run, the unit's stages that must be redone, what resume says)
    "image deleted": (lambda u: (u / "images" / "man-s0-0.png").unlink(), ("generate", "score"),
                      "images/man-s0-0.png is missing; redoing generate and score"),
    "images.jsonl deleted": (lambda u: (u / "images.jsonl").unlink(), ("generate", "score"),
                             "images.jsonl is missing; redoing generate and score"),
    "scores.jsonl deleted": (lambda u: (u / "scores.jsonl").unlink(), ("score",),
                             "scores.jsonl is missing; redoing score"),
    "scores.jsonl truncated": (lambda u: truncate(u / "scores.jsonl"), ("score",),
                               "scores.jsonl has 2 lines, 4 were written; redoing score"),
    "corrupt JSON line": (lambda u: corrupt_line(u / "scores.jsonl"), ("score",),
                          "scores.jsonl has changed since it was written (its sha256 differs); redoing score"),
    "artifact file deleted": (lambda u: (u / "artifact" / "words.json").unlink(), ("train", "generate", "score"),
                              "artifact/words.json is missing; redoing train and generate and score"),
    "score marker deleted": (lambda u: (u / "score.json").unlink(), ("score",),
                             ("scores.jsonl is not vouched for (score.json, its marker, is missing or unreadable); "
                              "redoing score")),
    "generate marker deleted": (lambda u: (u / "generate.json").unlink(), ("generate", "score"),
                                ("images.jsonl is not vouched for (generate.json, its marker, is missing or "
                                 "unreadable); redoing generate and score")),
    "train marker deleted": (lambda u: (u / "train.json").unlink(), ("train", "generate", "score"),
                             ("artifact is not vouched for (train.json, its marker, is missing or unreadable); "
                              "redoing train and generate and score")),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_resume_redoes_exactly_the_damaged_unit(kind, damaged, fixture_benchmark, finished_run, capsys):
    do_damage, stages, said = DAMAGE[kind]
    unit = damaged / "units" / "text" / "arms_up"
    before = markers(damaged)
    do_damage(unit)
    capsys.readouterr()

    assert main(run_args(fixture_benchmark, damaged)) == 0
    err = capsys.readouterr().err
    assert redone(before, markers(damaged)) == {f"units/text/arms_up/{stage}.json" for stage in stages}
    said_lines = [line for line in err.splitlines() if line.startswith("actionbench: unit ")]
    assert said_lines == [f"actionbench: unit text/arms_up: {said}"]  # one line, for this unit only
    assert (damaged / "leaderboard.csv").read_bytes() == (finished_run / "leaderboard.csv").read_bytes()
    for image in finished_run.glob("units/*/*/images/*.png"):
        assert image.read_bytes() == (damaged / image.relative_to(finished_run)).read_bytes()


def test_a_corrupt_line_is_named_not_a_json_traceback(damaged, fixture_benchmark, capsys):
    scores = damaged / "units" / "plain" / "arms_out" / "scores.jsonl"
    corrupt_line(scores)
    capsys.readouterr()
    assert main(["report", str(damaged), "--no-screenshot"]) == 2
    err = capsys.readouterr().err
    assert err == (f"actionbench: error: {scores} has changed since it was written (its sha256 differs): "
                   f"repair it by re-running 'actionbench run' with the same settings and --out {damaged}, "
                   "which redoes only the damaged units.\n")
    assert main(run_args(fixture_benchmark, damaged)) == 0
    assert "actionbench: unit plain/arms_out: scores.jsonl has changed since it was written (its sha256 differs); " \
           "redoing score\n" in capsys.readouterr().err
    assert main(["report", str(damaged), "--no-screenshot"]) == 0


@pytest.mark.parametrize("damage, problem", [
    ("deleted", "is missing"),
    ("truncated", "has 2 lines, 4 were written"),
])
def test_report_refuses_a_damaged_run_naming_the_file_and_the_repair(damage, problem, damaged, capsys):
    scores = damaged / "units" / "text" / "arms_out" / "scores.jsonl"
    scores.unlink() if damage == "deleted" else truncate(scores)
    assert main(["report", str(damaged), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {scores} {problem}: repair it by re-running 'actionbench run' with the same "
        f"settings and --out {damaged}, which redoes only the damaged units.\n")


def test_report_names_the_run_command_when_the_manifest_remembers_it(damaged, capsys):
    """The command as typed, but with --out where the run is now: typed elsewhere ('my run'), or since
    moved or copied, it would resume the directory it came from and leave this one damaged."""
    manifest = json.loads((damaged / "manifest.json").read_text())
    manifest["invocations"].append({"time": 0, "argv": ["/venv/bin/actionbench", "run", "--methods", "text",
                                                        "--out", "my run"]})
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    (damaged / "units" / "text" / "arms_up" / "images" / "cat-s0-0.png").unlink()
    assert main(["report", str(damaged), "--no-screenshot"]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {damaged}/units/text/arms_up/images/cat-s0-0.png is missing: repair it by "
        f"re-running the run, which redoes only the damaged units: actionbench run --methods text --out {damaged}.\n")


def test_the_run_command_names_where_the_run_is_now():
    from actionbench.reports.load import with_out

    assert with_out(["run", "--out", "a", "--seeds", "0"], "b c") == ["run", "--out", "b c", "--seeds", "0"]
    assert with_out(["run", "--out=a", "--seeds", "0"], "b") == ["run", "--out=b", "--seeds", "0"]
    assert with_out(["run", "--methods", "text"], "b") == ["run", "--methods", "text", "--out", "b"]  # runs/latest


def test_report_refuses_scores_whose_marker_is_gone(damaged, capsys):
    (damaged / "units" / "plain" / "arms_up" / "score.json").unlink()
    assert main(["report", str(damaged), "--no-screenshot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"actionbench: error: {damaged}/units/plain/arms_up/scores.jsonl is not vouched for: "
                          "its marker score.json is missing or unreadable: repair it by re-running")
    assert err.count("\n") == 1


def test_markers_without_a_record_are_verified_by_presence(damaged, fixture_benchmark, finished_run, capsys):
    """Runs written before markers recorded their files still resume: intact units are kept, a unit
    whose files are gone is redone."""
    for marker in damaged.glob("units/*/*/*.json"):
        if marker.stem in STAGES:
            spec = json.loads(marker.read_text())
            del spec["outputs"]
            marker.write_text(json.dumps(spec))
    (damaged / "units" / "plain" / "arms_out" / "images" / "cat-s0-0.png").unlink()
    before = markers(damaged)
    assert main(run_args(fixture_benchmark, damaged)) == 0
    assert redone(before, markers(damaged)) == {"units/plain/arms_out/generate.json", "units/plain/arms_out/score.json"}
    assert "actionbench: unit plain/arms_out: images/cat-s0-0.png is missing; redoing generate and score\n" \
           in capsys.readouterr().err
    assert (damaged / "leaderboard.csv").read_bytes() == (finished_run / "leaderboard.csv").read_bytes()


def test_a_marker_records_what_it_vouches_for(finished_run):
    unit = finished_run / "units" / "text" / "arms_up"
    generate = json.loads((unit / "generate.json").read_text())["outputs"]
    assert sorted(generate) == ["images.jsonl", "images/cat-s0-0.png", "images/man-s0-0.png"]
    assert generate["images.jsonl"]["lines"] == 2
    from actionbench.fileio import file_sha256

    for name, entry in generate.items():
        assert entry["size"] == (unit / name).stat().st_size and entry["sha256"] == file_sha256(unit / name)
    assert list(json.loads((unit / "score.json").read_text())["outputs"]) == ["scores.jsonl"]
    assert list(json.loads((unit / "train.json").read_text())["outputs"]) == ["artifact/words.json"]


def test_new_scorer_weights_rescore_a_resumed_run_without_retraining(damaged, fixture_benchmark, monkeypatch):
    """A scorer's model under the same name with other weights (an upgraded package, retrained mini
    keypoints) must not leave old scores beside new ones: its version is in every score key, so the
    resumed run re-scores every unit and trains and generates nothing again."""
    from actionbench.perception import POSE_BACKENDS
    from actionbench.perception.pose_backends import DEFAULT_POSE_BACKEND

    before = markers(damaged)
    manifest = json.loads((damaged / "manifest.json").read_text())
    assert manifest["scorer_versions"]["pose"] == POSE_BACKENDS.get(DEFAULT_POSE_BACKEND).model_version()
    monkeypatch.setattr(POSE_BACKENDS.get(DEFAULT_POSE_BACKEND), "model_version", classmethod(lambda cls: "upgraded"))

    assert main(run_args(fixture_benchmark, damaged)) == 0
    assert redone(before, markers(damaged)) == {name for name in before if name.endswith("/score.json")}
    assert json.loads((damaged / "manifest.json").read_text())["scorer_versions"]["pose"] == "upgraded"
