"""Run configuration: dataclasses with defaults, overridable from a TOML/YAML file and the CLI.

Precedence, lowest first: a dataclass's own defaults (the papers' values) < the benchmark's
defaults (its world's base model, scorers and method settings) < ``--config FILE`` < CLI flags.
The fully resolved configuration is written into every run's manifest.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from actionbench.errors import ActionBenchError
from actionbench.perception.settings import ScorerConfig  # RunConfig.scorers; defined with the models it chooses

if typing.TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")  # from_dict and merge take dataclasses


@dataclass
class RunConfig:
    methods: list[str] = field(default_factory=lambda: ["adi", "dreambooth"])
    actions: list[str] = field(default_factory=lambda: ["all"])
    benchmark: str = "mini"
    base_model: str | None = None  # None: the benchmark's default base model
    seeds: list[int] | None = None  # None: the protocol's seeds
    metrics: list[str] = field(default_factory=lambda: ["all"])
    out: str = "runs/latest"
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1"
    executor: str = "local"
    workers: int = 1
    retries: int = 0  # extra attempts for a unit that fails
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # per method name
    metric_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # per metric name
    scorers: ScorerConfig = field(default_factory=ScorerConfig)
    executor_settings: dict[str, Any] = field(default_factory=dict)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML (``.toml``) or YAML (``.yaml``/``.yml``) file as a dict."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ActionBenchError(f"cannot read config file {path} ({error.strerror})", "check the path") from error
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(raw) or {}
        else:
            raise ActionBenchError(f"config file {path} has an unknown extension", "use .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise ActionBenchError(f"config file {path} cannot be parsed ({reason})", "fix its syntax") from error
    if not isinstance(data, dict):
        raise ActionBenchError(f"config file {path} does not hold a table of settings", "write key = value pairs")
    return data


def from_dict(cls: type[T], data: dict[str, Any], where: str) -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and values of the wrong type."""
    if not isinstance(data, dict):
        raise ActionBenchError(f"{where} must be a table of settings, not {type(data).__name__}",
                               "write key = value pairs")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ActionBenchError(f"unknown setting '{unknown[0]}' in {where}",
                               f"valid settings are {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = from_dict(hint, value, f"{where}.{name}")
        else:
            values[name] = coerce(value, hint, f"{where}.{name}")
    return cls(**values)


def merge(base: T, overrides: dict[str, Any], where: str) -> T:
    """A copy of dataclass instance ``base`` with ``overrides`` applied (nested dataclasses merge too)."""
    current = dataclasses.asdict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = {**current[key], **value}
        else:
            current[key] = value
    return from_dict(type(base), current, where)


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check (and gently convert) one value against a type hint; a clear error when it does not fit."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, where)
            except ActionBenchError as error:
                errors.append(error)
        raise errors[0]
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, value, "a list")
        item = args[0] if args else Any
        return [coerce(v, item, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(where, value, "a table")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise _type_error(where, value, "true or false")
    if hint in (int, float):
        if isinstance(value, bool):
            raise _type_error(where, value, f"a number ({hint.__name__})")
        try:
            converted = hint(value)
        except (TypeError, ValueError):
            raise _type_error(where, value, f"a number ({hint.__name__})") from None
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise _type_error(where, value, "a whole number")
        return converted
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _type_error(where, value, "a string")
        return str(value)
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    if typing.get_origin(hint) is typing.Literal:
        if value not in args:
            raise _type_error(where, value, f"one of {', '.join(map(str, args))}")
        return value
    return value


def _type_error(where: str, value: Any, expected: str) -> ActionBenchError:
    return ActionBenchError(f"{where} is {value!r}", f"it must be {expected}")


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"adi.steps=100"`` -> (["adi", "steps"], 100); the value is parsed as TOML when it can be."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ActionBenchError(f"--set '{text}' is not KEY=VALUE", "write for example --set adi.steps=100")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip().split("."), value


def deep_update(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ActionBenchError(f"cannot set {'.'.join(path)}", f"{part} is not a table")
    target[path[-1]] = value
