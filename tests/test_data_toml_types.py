"""Hand-edited action.toml and benchmark.toml files: a value of the wrong TOML type is refused in
one line naming the key and the file, never read as something else (``mirror_invariant = "false"``
was true) and never a traceback deep inside a command."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w

from actionbench.data.folder import load_action, load_benchmark
from actionbench.errors import ActionBenchError


@pytest.fixture()
def bench(fixture_benchmark, tmp_path) -> Path:
    return shutil.copytree(fixture_benchmark, tmp_path / "bench")


def edited(path: Path, change) -> Path:
    spec = tomllib.loads(path.read_text())
    change(spec)
    path.write_text(tomli_w.dumps(spec))
    return path


def refusal(load, folder: Path) -> str:
    with pytest.raises(ActionBenchError) as error:
        load(folder)
    return str(error.value)


@pytest.mark.parametrize("key, value, wanted", [
    ("mirror_invariant", "false", "true or false"),
    ("description", 3, "a text in quotes"),
    ("domain", ["photo"], "a text in quotes"),
    ("exemplars", "abc", "a list [...]"),
])
def test_an_action_field_of_the_wrong_type_is_named(bench, key, value, wanted):
    toml = edited(bench / "arms_up" / "action.toml", lambda spec: spec.__setitem__(key, value))
    assert refusal(load_action, bench / "arms_up") == (
        f"{key} = {value!r} in {toml} is not {wanted}: write {key} as {wanted} (docs/data-format.md).")


def test_exemplar_entries_and_their_fields_are_checked(bench):
    toml = bench / "arms_up" / "action.toml"
    edited(toml, lambda spec: spec["exemplars"][0].__setitem__("sha256", 5))
    assert refusal(load_action, bench / "arms_up") == (
        f"sha256 = 5 in {toml} is not a text in quotes: write sha256 as a text in quotes (docs/data-format.md).")
    edited(toml, lambda spec: spec.__setitem__("exemplars", [1, 2]))
    assert refusal(load_action, bench / "arms_up") == (
        f"exemplars in {toml} holds entries that are not tables: write each entry as [[exemplars]] with its "
        "fields beneath (docs/data-format.md).")


def test_a_real_boolean_still_reads(bench):
    edited(bench / "arms_up" / "action.toml", lambda spec: spec.__setitem__("mirror_invariant", True))
    assert load_action(bench / "arms_up").mirror_invariant is True


@pytest.mark.parametrize("key, value, message", [
    ("seeds", 5, "seeds = 5 in {where} is not a list [...]: write seeds as a list [...] (docs/data-format.md)."),
    ("seeds", ["x"], "seeds = ['x'] in {where} holds values that are not whole numbers: write seeds = [0, 1, 2]."),
    ("images_per_prompt", "two", "images_per_prompt = 'two' in {where} is not a whole number: write "
                                 "images_per_prompt as a whole number (docs/data-format.md)."),
    ("guidance_scale", "x", "guidance_scale = 'x' in {where} is not a number: write guidance_scale as a number "
                            "(docs/data-format.md)."),
    ("subjects", ["man"], "subjects in {where} holds entries that are not tables: write each entry as "
                          "[[subjects]] with its fields beneath (docs/data-format.md)."),
])
def test_a_protocol_setting_of_the_wrong_type_is_named(bench, key, value, message):
    toml = edited(bench / "benchmark.toml", lambda spec: spec["protocol"].__setitem__(key, value))
    assert refusal(load_benchmark, bench) == message.format(where=toml)


def test_a_whole_number_guidance_reads_as_a_number(bench):
    edited(bench / "benchmark.toml", lambda spec: spec["protocol"].__setitem__("guidance_scale", 5))
    assert load_benchmark(bench).protocol.guidance_scale == 5.0


@pytest.mark.parametrize("key, value, wanted", [
    ("actions", "arms_up", "a list [...]"),  # was read one letter at a time: "the action name 'a' ..."
    ("name", 5, "a text in quotes"),
    ("defaults", [1], "a table"),
])
def test_a_benchmark_field_of_the_wrong_type_is_named(bench, key, value, wanted):
    toml = edited(bench / "benchmark.toml", lambda spec: spec.__setitem__(key, value))
    assert refusal(load_benchmark, bench) == (
        f"{key} = {value!r} in {toml} is not {wanted}: write {key} as {wanted} (docs/data-format.md).")


def test_a_protocol_that_is_not_a_table_is_named(bench):
    toml = edited(bench / "benchmark.toml", lambda spec: spec.__setitem__("protocol", [1]))
    assert refusal(load_benchmark, bench) == (
        f"protocol in {toml} is not a table: write it as [protocol] (docs/data-format.md).")
