"""Read actions and benchmarks stored in the suite's folder format (``docs/data-format.md``)."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomli_w

from actionbench.data.model import DOMAINS, PHOTO, SUBJECT_KINDS, Action, Benchmark, Exemplar, Protocol, Subject
from actionbench.errors import ActionBenchError
from actionbench.fileio import file_sha256
from actionbench.names import check_distinct, check_name

ACTION_FILE = "action.toml"
BENCHMARK_FILE = "benchmark.toml"


# What each TOML type is called in an error, and how to write it.
TYPE_WORDS: dict[Any, str] = {str: "a text in quotes", bool: "true or false", list: "a list [...]",
                              dict: "a table", int: "a whole number", float: "a number"}


def typed(spec: dict[str, Any], key: str, kind: type, default: Any, where: Path | str) -> Any:
    """``spec[key]`` (``default`` when absent) if it is of TOML type ``kind``; otherwise one line naming
    the key, its value and the type wanted. A hand-edited file's ``mirror_invariant = "false"`` would
    otherwise read as true, and a table where a list belongs would crash deep inside a command."""
    value = spec.get(key, default)
    wanted = (int, float) if kind is float else kind
    if not isinstance(value, wanted) or (kind is not bool and isinstance(value, bool)):
        raise ActionBenchError(f"{key} = {value!r} in {where} is not {TYPE_WORDS[kind]}",
                               f"write {key} as {TYPE_WORDS[kind]} (docs/data-format.md)")
    return value


def tables(spec: dict[str, Any], key: str, where: Path | str) -> list[dict[str, Any]]:
    """``spec[key]`` as a list of tables (``[[key]]`` entries); one line naming the key otherwise."""
    items = typed(spec, key, list, [], where)
    if not all(isinstance(item, dict) for item in items):
        raise ActionBenchError(f"{key} in {where} holds entries that are not tables",
                               f"write each entry as [[{key}]] with its fields beneath (docs/data-format.md)")
    return items


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise ActionBenchError(f"{path} is missing", "see docs/data-format.md for the folder format") from error
    except tomllib.TOMLDecodeError as error:
        raise ActionBenchError(f"{path} is not valid TOML ({error})", "fix the file") from error


def load_action(folder: Path, source: str = "custom") -> Action:
    folder = Path(folder)
    where = folder / ACTION_FILE
    spec = read_toml(where)
    name = check_name("action", spec.get("name", folder.name), str(where))
    description = typed(spec, "description", str, "", where).strip()
    if not description:
        raise ActionBenchError(f"action '{name}' has no description",
                               f"add description = \"...\" (the action in words) to {folder / ACTION_FILE}")
    exemplars = []
    for item in tables(spec, "exemplars", where):
        path = folder / exemplar_file(item, where)
        if not path.is_file():
            raise ActionBenchError(f"exemplar {path} of action '{name}' is missing",
                                   "restore the file or remove it from action.toml")
        actual = file_sha256(path)
        recorded = typed(item, "sha256", str, "", where)
        if recorded and recorded.lower() != actual:
            raise ActionBenchError(f"exemplar {path} of action '{name}' does not match the sha256 in {ACTION_FILE}",
                                   "restore the original photo, or add the action again (--force) to take the new one")
        exemplars.append(Exemplar(
            image_path=path,
            sha256=actual,
            template=typed(item, "template", str, "a photo of a person {}", where),
            context=typed(item, "context", str, "a person", where),
            scene=scene_label(item, where),
        ))
    if not exemplars:
        raise ActionBenchError(f"action '{name}' in {folder} has no exemplar images",
                               "list them under [[exemplars]] in action.toml")
    domain = typed(spec, "domain", str, PHOTO, where)
    if domain not in DOMAINS:
        raise ActionBenchError(f"action '{name}' has domain '{domain}'",
                               f"set domain in {folder / ACTION_FILE} to one of {', '.join(DOMAINS)}")
    return Action(name=name, description=description, exemplars=tuple(exemplars),
                  mirror_invariant=typed(spec, "mirror_invariant", bool, False, where), source=source, root=folder,
                  domain=domain)


def action_toml(name: str, description: str, exemplars: Sequence[Exemplar], *, domain: str,
                mirror_invariant: bool = False) -> str:
    """The text of an ``action.toml`` that :func:`load_action` reads back: every writer of an action
    folder (``data add-action``, the mini benchmark, the held-in actions) spells it here. Exemplar
    files are named relative to the action's folder."""
    return tomli_w.dumps({
        "name": name, "description": description, "mirror_invariant": mirror_invariant, "domain": domain,
        "exemplars": [{"file": e.image_path.name, "sha256": e.sha256, "template": e.template, "context": e.context,
                       **({"scene": e.scene} if e.scene else {})} for e in exemplars]})


def scene_label(item: dict[str, Any], where: Path | str) -> str:
    """An exemplar's or a subject's optional ``scene``: a label compared for equality, never a path."""
    return " ".join(typed(item, "scene", str, "", where).split())


def exemplar_file(item: dict[str, Any], where: Path) -> str:
    """An exemplar's file: relative to the action's folder, or a path to photos kept elsewhere (a
    licensed dataset read in place). It is only read, never written, so it need not be a plain name."""
    name = item.get("file")
    if not isinstance(name, str) or not name.strip():
        raise ActionBenchError(f"an exemplar in {where} has no file", "give each [[exemplars]] a file = \"NAME.jpg\"")
    return name


def protocol_from_dict(spec: dict[str, Any], where: str = "the protocol") -> Protocol:
    if not isinstance(spec, dict):
        raise ActionBenchError(f"protocol in {where} is not a table", "write it as [protocol] (docs/data-format.md)")
    subjects, scenes = [], {}
    for item in tables(spec, "subjects", where):
        name = check_name("subject", item.get("name"), where)
        kind = item.get("kind", "human")
        if kind not in SUBJECT_KINDS:
            raise ActionBenchError(f"subject '{name}' has kind '{kind}'",
                                   f"use one of {', '.join(SUBJECT_KINDS)}")
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ActionBenchError(f"subject '{name}' in {where} has no text",
                                   "add text = \"...\" (the subject as written in prompts, e.g. \"a cat\")")
        subjects.append(Subject(name=name, text=text, kind=kind))
        scenes[name] = scene_label(item, where)
    if not subjects:
        raise ActionBenchError("the protocol lists no subjects", "add [[protocol.subjects]] entries")
    check_distinct("subject", [subject.name for subject in subjects], where)
    known = {"subjects", "prompt_template", "seeds", "images_per_prompt", "num_inference_steps",
             "guidance_scale", "notes"}
    unknown = set(spec) - known
    if unknown:
        raise ActionBenchError(f"unknown protocol setting(s) {', '.join(sorted(unknown))}",
                               f"valid settings are {', '.join(sorted(known))}")
    seeds = typed(spec, "seeds", list, [0, 1], where)
    if not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds):
        raise ActionBenchError(f"seeds = {seeds!r} in {where} holds values that are not whole numbers",
                               "write seeds = [0, 1, 2]")
    return Protocol(
        subjects=tuple(subjects),
        prompt_template=typed(spec, "prompt_template", str, "{subject} {action}", where),
        seeds=tuple(seeds),
        images_per_prompt=typed(spec, "images_per_prompt", int, 1, where),
        num_inference_steps=typed(spec, "num_inference_steps", int, 50, where),
        guidance_scale=float(typed(spec, "guidance_scale", float, 7.5, where)),
        notes=typed(spec, "notes", str, "", where),
        subject_scenes={name: scene for name, scene in scenes.items() if scene},
    )


def load_benchmark(folder: Path) -> Benchmark:
    """A benchmark folder: ``benchmark.toml`` plus one sub-folder per action."""
    folder = Path(folder)
    spec = read_toml(folder / BENCHMARK_FILE)
    where = str(folder / BENCHMARK_FILE)
    name = typed(spec, "name", str, folder.name, where)
    action_names = typed(spec, "actions", list, [], where) or sorted(
        p.name for p in folder.iterdir() if (p / ACTION_FILE).is_file())
    action_names = [check_name("action", a, where) for a in action_names]
    check_distinct("action", action_names, where)
    actions = {a: load_action(folder / a, source=name) for a in action_names}
    return Benchmark(name=name, actions=actions, protocol=protocol_from_dict(spec.get("protocol", {}), where),
                     root=folder, defaults=typed(spec, "defaults", dict, {}, where))
