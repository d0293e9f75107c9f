from dataclasses import dataclass, field

import pytest

from actionbench.config import (RunConfig, ScorerConfig, coerce, deep_update, from_dict, merge, parse_assignment,
                                read_config_file)
from actionbench.errors import ActionBenchError


@dataclass
class Example:
    steps: int = 10
    lr: float = 1e-4
    name: str | None = None
    flags: list[str] = field(default_factory=list)
    on: bool = False


def test_from_dict_converts_and_checks():
    example = from_dict(Example, {"steps": 5, "lr": "0.01", "flags": "a,b", "on": "true"}, "settings")
    assert example == Example(steps=5, lr=0.01, flags=["a", "b"], on=True)


@pytest.mark.parametrize("data, message", [
    ({"stepz": 1}, "unknown setting 'stepz' in settings: valid settings are flags, lr, name, on, steps."),
    ({"steps": "many"}, "settings.steps is 'many': it must be a number (int)."),
    ({"steps": 2.5}, "settings.steps is 2.5: it must be a whole number."),
    ({"on": "perhaps"}, "settings.on is 'perhaps': it must be true or false."),
    ({"lr": True}, "settings.lr is True: it must be a number (float)."),
])
def test_from_dict_errors_are_one_line_and_exact(data, message):
    with pytest.raises(ActionBenchError) as error:
        from_dict(Example, data, "settings")
    assert str(error.value) == message


def test_merge_keeps_unset_values_and_nested_dataclasses():
    config = RunConfig()
    merged = merge(config, {"seeds": [3], "scorers": {"clip_model": "ViT-B-32"}}, "test")
    assert merged.seeds == [3]
    assert merged.scorers == ScorerConfig(clip_model="ViT-B-32")
    assert merged.methods == config.methods


def test_config_files_toml_and_yaml(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('methods = ["text"]\n[method_settings.text]\nseed = 3\n')
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("methods: [text]\nmethod_settings:\n  text: {seed: 3}\n")
    assert read_config_file(toml) == read_config_file(yaml_file)
    broken = tmp_path / "broken.toml"
    broken.write_text("methods = [")
    with pytest.raises(ActionBenchError, match=r"^config file .*broken.toml cannot be parsed \(.*\): fix its syntax\.$"):
        read_config_file(broken)
    ini = tmp_path / "run.ini"
    ini.write_text("[x]")
    with pytest.raises(ActionBenchError, match="has an unknown extension: use .toml, .yaml or .yml"):
        read_config_file(ini)
    with pytest.raises(ActionBenchError, match=r"cannot read config file .*missing.toml \(No such file or directory\)"):
        read_config_file(tmp_path / "missing.toml")


def test_set_assignments_parse_values_as_toml():
    assert parse_assignment("adi.steps=100") == (["adi", "steps"], 100)
    assert parse_assignment("scorers.clip_model=ViT-B-32") == (["scorers", "clip_model"], "ViT-B-32")
    assert parse_assignment("seeds=[1, 2]") == (["seeds"], [1, 2])
    with pytest.raises(ActionBenchError, match="--set 'steps' is not KEY=VALUE"):
        parse_assignment("steps")
    target = {}
    deep_update(target, ["method_settings", "adi", "steps"], 5)
    assert target == {"method_settings": {"adi": {"steps": 5}}}


def test_optional_union_accepts_none_and_values():
    assert coerce(None, int | None, "x") is None
    assert coerce("3", int | None, "x") == 3
