"""The one rule for names that become paths, and where it is applied: registries, protocol, JSONL reads."""

import pytest

from actionbench.errors import ActionBenchError
from actionbench.fileio import read_jsonl
from actionbench.names import NAME_RULE, check_distinct, check_name
from actionbench.registry import Registry

RULE = NAME_RULE + "."


@pytest.mark.parametrize("name", ["cheer", "my_wave", "adi-no-mask", "p_plus", "A1", "x" * 64])
def test_plain_names_pass(name):
    assert check_name("action", name) == name


@pytest.mark.parametrize("name, message", [
    ("../x", "the action name '../x' in f.toml contains a path separator or '..': " + RULE),
    ("a..b", "the action name 'a..b' in f.toml contains a path separator or '..': " + RULE),
    ("_shared", "the action name '_shared' in f.toml is not a plain name: " + RULE),
    ("a\nb", "the action name 'a\\nb' in f.toml is not a plain name: " + RULE),
    ("ALL", "the action name 'ALL' in f.toml is reserved ('all' selects every action): choose another name."),
    (" ", "the action name in f.toml is empty: give a name: " + RULE),
    (7, "the action name '7' in f.toml is not text: write it in quotes: " + RULE),
])
def test_other_names_are_one_line_errors(name, message):
    with pytest.raises(ActionBenchError) as caught:
        check_name("action", name, "f.toml")
    assert str(caught.value) == message


def test_names_compare_case_insensitively():
    check_distinct("subject", ["cat", "dog"])
    with pytest.raises(ActionBenchError, match="^the subjects 'cat' and 'CAT' in b.toml differ only by case: "
                                               r"rename one of them \(subject names compare case-insensitively\)\.$"):
        check_distinct("subject", ["cat", "dog", "CAT"], "b.toml")
    with pytest.raises(ActionBenchError, match="^the subject 'dog' is listed twice: remove one of them.$"):
        check_distinct("subject", ["dog", "dog"])


def test_registries_apply_the_rule_to_every_way_of_registering():
    registry = Registry("method")
    registry.register("adi", "")(int)
    with pytest.raises(ActionBenchError) as caught:
        registry.lazy("../../evil", "evil_module:Evil", "")
    assert str(caught.value) == (f"the method name '../../evil' in the declaration of evil_module:Evil contains a "
                                 f"path separator or '..': {RULE}")
    with pytest.raises(ActionBenchError) as caught:
        registry.register("ADI", "")(float)
    assert str(caught.value) == ("the methods 'adi' and 'ADI' differ only by case: rename one of them "
                                 "(method names compare case-insensitively).")
    assert registry.names() == ["adi"]


def test_a_corrupt_jsonl_line_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "scores.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ActionBenchError) as caught:
        read_jsonl(path)
    assert str(caught.value) == (f"{path} line 2 is not valid JSON (Expecting value): the file is damaged: "
                                 "restore it, or redo what wrote it.")
    path.write_text('{"a": 1}\n[1]\n')
    with pytest.raises(ActionBenchError, match=r"line 2 is not a JSON object"):
        read_jsonl(path)


def test_entry_point_names_from_installed_packages_follow_the_rule(monkeypatch):
    from importlib.metadata import EntryPoint

    points = [EntryPoint("good", "pkg:Good", "actionbench.methods"), EntryPoint("../x", "pkg:Bad", "actionbench.methods")]
    monkeypatch.setattr("actionbench.registry.metadata.entry_points", lambda group: points)
    registry = Registry("method")
    with pytest.raises(ActionBenchError) as caught:
        registry.names()
    assert str(caught.value) == ("the method name '../x' in entry point group actionbench.methods (pkg:Bad) contains a "
                                 f"path separator or '..': {RULE}")
