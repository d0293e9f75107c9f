"""The official ActionBench: the shipped protocol, and the authors' data read in place."""

from __future__ import annotations

import shutil
from fractions import Fraction
from importlib import resources
from pathlib import Path

import pytest

from actionbench.cli import main
from actionbench.data import get_benchmark, resolve_actions
from actionbench.data.captions import context_from_template, read_text_json
from actionbench.data.official import (archive_url, image_checksums, load_official_benchmark, metadata_checksums,
                                       official_spec, parse_checksums)
from actionbench.errors import ActionBenchError
from actionbench.fileio import file_sha256
from conftest import shared_path

ACTIONS = ["cheer", "gesture", "handstand", "meditate", "pray", "salute", "sit", "squat"]
# Main table of the authors' poster (Action / Subject / Total, %), SD 2.1.
POSTER_PERCENTAGES = [30.71, 84.51, 27.17, 41.30, 42.66, 19.29, 2.45, 95.65, 2.45, 2.17, 86.14, 1.90,
                      1.63, 84.51, 1.63, 29.62, 53.53, 7.07, 26.90, 80.16, 20.92, 60.33, 85.87, 51.09]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ACTIONBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ACTIONBENCH_DATA", raising=False)
    monkeypatch.delenv("ACTIONBENCH_DATA_URL", raising=False)
    return tmp_path / "home"


def test_the_protocol_ships_inside_the_package():
    folder = resources.files("actionbench.data")
    assert folder.joinpath("actionbench_protocol.toml").is_file()
    assert len(parse_checksums(folder.joinpath("actionbench_images.sha256").read_text())) == 80
    assert len(parse_checksums(folder.joinpath("actionbench_metadata.sha256").read_text())) == 88


def test_shipped_protocol_matches_what_the_authors_published():
    spec = official_spec()
    assert list(spec["actions"]) == ACTIONS
    assert spec["source"]["commit"] == "42344c8cf4794465ebf15a0f482ea1447a198453"
    assert archive_url() == ("https://github.com/bighuang624/ActionBench/archive/"
                             "42344c8cf4794465ebf15a0f482ea1447a198453.zip")
    assert all(spec["actions"][a]["description"].strip() for a in ACTIONS)
    assert not any(spec["actions"][a]["mirror_invariant"] for a in ACTIONS)
    assert spec["defaults"] == {"base_model": "stabilityai/stable-diffusion-2-1",
                                "scorers": {"clip_model": "ViT-L-14", "clip_pretrained": "openai",
                                            "pose_backend": "mediapipe"}}
    protocol = spec["protocol"]
    subjects = protocol["subjects"]
    assert len(subjects) == 23
    assert len({s["name"] for s in subjects}) == 23
    texts = {s["text"] for s in subjects}
    assert {"Michael Jackson", "David Beckham", "A monkey", "A cat", "A gorilla", "A tiger"} <= texts  # the poster's
    kinds = [s["kind"] for s in subjects]
    assert kinds.count("human") == 15 and kinds.count("animal") == 8
    assert "ours" in protocol["notes"].lower()
    # 23 subjects x 8 actions x len(seeds) images per method: every poster percentage is a whole count of them.
    images = 23 * len(ACTIONS) * len(protocol["seeds"]) * protocol["images_per_prompt"]
    assert images == 368
    for percentage in POSTER_PERCENTAGES:
        count = round(percentage / 100 * images)
        assert abs(Fraction(count, images) * 100 - Fraction(str(percentage))) < Fraction(1, 200)
    assert (protocol["num_inference_steps"], protocol["guidance_scale"]) == (50, 7.5)


@pytest.mark.parametrize("template, context", [
    ("Woman {} on an isolated background.", "Woman on an isolated background."),
    ("{} soldier on dark background", "soldier on dark background"),
    ("Young happy man gets good idea, {}, being glad", "Young happy man gets good idea, being glad"),
    ("Studio shot of young happy businessman smiling and {}", "Studio shot of young happy businessman smiling"),
    ("Young caucasian woman {}, feels confident.", "Young caucasian woman, feels confident."),
    ("  Man   {}  ", "Man"),
])
def test_context_is_the_template_without_the_action(template, context):
    assert context_from_template(template) == context


def test_absent_data_says_how_to_get_it(home, capsys):
    folder = home / "data" / "actionbench"
    expected = (f"the official ActionBench data is not in {folder}: run 'actionbench data fetch' to download it, or "
                f"download {archive_url()} by hand, unzip it, check it with 'actionbench data verify FOLDER' and move "
                f"that folder to {folder} (or set ACTIONBENCH_DATA=FOLDER).")
    with pytest.raises(ActionBenchError) as error:
        load_official_benchmark()
    assert str(error.value) == expected
    assert main(["list", "actions", "--benchmark", "actionbench"]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {expected}\n"


def test_a_wrong_data_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONBENCH_DATA", str(tmp_path))
    with pytest.raises(ActionBenchError) as error:
        load_official_benchmark()
    assert str(error.value) == (
        f"ACTIONBENCH_DATA={tmp_path} does not hold the official ActionBench (no cheer/text.json, ...): point "
        f"ACTIONBENCH_DATA at the folder that holds {', '.join(ACTIONS)}, or unset it.")


# -- with the real data, read in place from ../shared/actionbench -------------------------------------------

def test_shipped_checksums_are_the_published_ones():
    data = shared_path("actionbench")
    assert image_checksums() == parse_checksums((data / "checksums.sha256").read_text())
    assert metadata_checksums() == parse_checksums((data / "metadata.sha256").read_text())


def test_official_benchmark_reads_the_data_in_place(monkeypatch):
    data = shared_path("actionbench")
    monkeypatch.setenv("ACTIONBENCH_DATA", str(data))
    benchmark = get_benchmark("actionbench")
    assert benchmark.name == "actionbench" and benchmark.root == data
    assert list(benchmark.actions) == ACTIONS
    assert [a.name for a in resolve_actions(benchmark, "all")] == ACTIONS
    for name, action in benchmark.actions.items():
        assert len(action.exemplars) == 10
        assert action.source == "actionbench"
        templates = read_text_json(data / name / "text.json")
        for exemplar in action.exemplars:
            assert exemplar.image_path.parent == data / name  # in place, never copied
            assert exemplar.sha256 == image_checksums()[f"{name}/{exemplar.image_path.name}"]
            assert exemplar.template == templates[exemplar.image_path.name]
            assert exemplar.context == context_from_template(exemplar.template)
    assert benchmark.actions["handstand"].exemplars[3].template == "happy boy in denim jeans {} on blue"
    assert len(benchmark.protocol.subjects) == 23 and benchmark.protocol.seeds == (0, 1)
    assert benchmark.defaults["base_model"] == "stabilityai/stable-diffusion-2-1"


def test_list_actions_shows_the_official_actions(monkeypatch, capsys):
    monkeypatch.setenv("ACTIONBENCH_DATA", str(shared_path("actionbench")))
    assert main(["list", "actions", "--benchmark", "actionbench"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("benchmark actionbench (version ")
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == ACTIONS
    assert all(row[1:4] == ["10", "exemplars", "actionbench"] for row in rows)


def test_an_altered_copy_is_refused_at_load(tmp_path, monkeypatch):
    copy = tmp_path / "actionbench"
    shutil.copytree(shared_path("actionbench"), copy)
    (copy / "salute" / "03.jpg").chmod(0o644)
    with open(copy / "salute" / "03.jpg", "ab") as handle:
        handle.write(b"\0")
    monkeypatch.setenv("ACTIONBENCH_DATA", str(copy))
    with pytest.raises(ActionBenchError) as error:
        load_official_benchmark()
    assert str(error.value) == (f"salute/03.jpg in {copy} differs from the published ActionBench: run 'actionbench "
                                f"data verify {copy}' for the full list, and restore the originals (actionbench data fetch).")
    assert file_sha256(copy / "salute" / "03.jpg") != image_checksums()["salute/03.jpg"]


def test_fetched_data_is_found_without_settings(home):
    data = shared_path("actionbench")
    shutil.copytree(data, home / "data" / "actionbench")  # where 'data fetch' puts it
    benchmark = load_official_benchmark()
    assert benchmark.root == home / "data" / "actionbench" and len(benchmark.actions) == 8


def test_the_official_folder_given_as_a_benchmark_names_the_way_to_read_it(tmp_path):
    """``--benchmark /path/to/actionbench`` (the data's folder, which has no benchmark.toml) said only
    "unknown benchmark": the official data is read in place through $ACTIONBENCH_DATA."""
    from actionbench.errors import ActionBenchError

    data = shared_path("actionbench")
    with pytest.raises(ActionBenchError) as error:
        get_benchmark(str(data))
    assert str(error.value) == (f"--benchmark {data} is a folder without benchmark.toml: it holds the official "
                                f"ActionBench: set ACTIONBENCH_DATA={data.resolve()} and pass --benchmark actionbench.")
    with pytest.raises(ActionBenchError) as error:
        get_benchmark(str(tmp_path))
    assert str(error.value).startswith(f"--benchmark {tmp_path} is a folder without benchmark.toml: give a folder "
                                       "holding benchmark.toml (docs/data-format.md), or one of ")


def test_the_official_version_is_stable_across_suite_updates(monkeypatch):
    """The version runs and baselines of the official data recorded before scene labels existed: a suite
    change that re-hashes unchanged data would make every stored baseline "another version" (``check``
    refuses those) and re-score every run for nothing."""
    monkeypatch.setenv("ACTIONBENCH_DATA", str(shared_path("actionbench")))
    assert get_benchmark("actionbench", with_custom=False).version == "574ed23293648371"
