"""The benchmark version: a content hash that changes with any exemplar image or protocol setting."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w

from actionbench.data.folder import load_action, load_benchmark
from actionbench.errors import ActionBenchError
from fixtures import write_benchmark


@pytest.fixture()
def bench(tmp_path) -> Path:
    return write_benchmark(tmp_path / "bench")


def edit_toml(path: Path, change) -> None:
    spec = tomllib.loads(path.read_text())
    change(spec)
    path.write_text(tomli_w.dumps(spec))


def redraw_one_pixel(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
    image.putpixel((0, 0), (0, 0, 0))
    image.save(path)


def test_the_same_data_gives_the_same_version(bench, tmp_path):
    twin = shutil.copytree(bench, tmp_path / "twin")
    assert load_benchmark(bench).version == load_benchmark(twin).version  # content, not location


def test_changing_one_exemplar_image_changes_the_version(bench):
    before = load_benchmark(bench)
    image = bench / "arms_up" / "01.png"
    redraw_one_pixel(image)
    edit_toml(bench / "arms_up" / "action.toml", lambda spec: spec["exemplars"][1].pop("sha256"))
    after = load_benchmark(bench)
    assert after.actions["arms_up"].version != before.actions["arms_up"].version
    assert after.actions["arms_out"].version == before.actions["arms_out"].version
    assert after.version != before.version


def test_an_image_that_no_longer_matches_its_recorded_hash_is_refused(bench):
    image = bench / "arms_up" / "01.png"
    redraw_one_pixel(image)
    with pytest.raises(ActionBenchError) as error:
        load_action(bench / "arms_up")
    assert str(error.value) == (f"exemplar {image} of action 'arms_up' does not match the sha256 in action.toml: "
                                "restore the original photo, or add the action again (--force) to take the new one.")


@pytest.mark.parametrize("setting, value", [
    ("guidance_scale", 7.5), ("num_inference_steps", 3), ("seeds", [0, 1]), ("images_per_prompt", 2),
    ("prompt_template", "a photo of {subject} {action}"),
])
def test_changing_the_protocol_changes_the_version(bench, setting, value):
    before = load_benchmark(bench).version
    edit_toml(bench / "benchmark.toml", lambda spec: spec["protocol"].__setitem__(setting, value))
    assert load_benchmark(bench).version != before


def test_changing_a_subject_changes_the_version(bench):
    before = load_benchmark(bench).version
    edit_toml(bench / "benchmark.toml",
              lambda spec: spec["protocol"]["subjects"][1].__setitem__("text", "a tabby cat"))
    assert load_benchmark(bench).version != before


def test_changing_a_template_or_description_changes_the_version(bench):
    before = load_benchmark(bench).version
    edit_toml(bench / "arms_out" / "action.toml",
              lambda spec: spec["exemplars"][0].__setitem__("template", "a person in blue {}"))
    after_template = load_benchmark(bench).version
    edit_toml(bench / "arms_out" / "action.toml", lambda spec: spec.__setitem__("description", "arms wide"))
    assert len({before, after_template, load_benchmark(bench).version}) == 3


def test_a_scene_label_changes_what_is_scored_not_what_is_trained(bench):
    """Exemplars' and subjects' ``scene`` labels move the benchmark version (the score key) but not an
    action's version (the training key): the leakage metric reads them, no method does."""
    before = load_benchmark(bench)
    edit_toml(bench / "arms_out" / "action.toml", lambda spec: spec["exemplars"][0].__setitem__("scene", "beach"))
    labelled = load_benchmark(bench)
    assert labelled.actions["arms_out"].exemplars[0].scene == "beach"
    assert labelled.actions["arms_out"].exemplars[1].scene == ""  # unlabelled
    assert labelled.actions["arms_out"].version == before.actions["arms_out"].version
    assert labelled.version != before.version
    edit_toml(bench / "benchmark.toml", lambda spec: spec["protocol"]["subjects"][1].__setitem__("scene", "beach"))
    asking = load_benchmark(bench)
    second = asking.protocol.subjects[1]
    assert asking.protocol.subject_scenes == {second.name: "beach"}
    assert asking.protocol.scene_of(second) == "beach" and asking.protocol.scene_of(asking.protocol.subjects[0]) == ""
    assert asking.version != labelled.version
    assert asking.protocol.subjects == before.protocol.subjects  # what keys the generated images is unchanged


def test_a_scene_label_survives_the_writer_and_a_bad_one_is_refused(bench, tmp_path):
    from actionbench.data.folder import action_toml

    action = load_action(bench / "arms_out")
    labelled = [dataclasses.replace(e, scene="snow" if i == 0 else "") for i, e in enumerate(action.exemplars)]
    (bench / "arms_out" / "action.toml").write_text(action_toml("arms_out", action.description, labelled,
                                                                domain=action.domain))
    assert [e.scene for e in load_action(bench / "arms_out").exemplars] == ["snow"] + [""] * (len(labelled) - 1)
    assert "scene" not in tomllib.loads((bench / "arms_out" / "action.toml").read_text())["exemplars"][1]
    edit_toml(bench / "arms_out" / "action.toml", lambda spec: spec["exemplars"][0].__setitem__("scene", 3))
    with pytest.raises(ActionBenchError) as error:
        load_action(bench / "arms_out")
    assert str(error.value) == (f"scene = 3 in {bench / 'arms_out' / 'action.toml'} is not a text in quotes: "
                                "write scene as a text in quotes (docs/data-format.md).")
