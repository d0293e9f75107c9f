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
    spec = read_toml(folder / ACTION_FILE)
    name = check_name("action", spec.get("name", folder.name), str(folder / ACTION_FILE))
    description = str(spec.get("description", "")).strip()
    if not description:
        raise ActionBenchError(f"action '{name}' has no description",
                               f"add description = \"...\" (the action in words) to {folder / ACTION_FILE}")
    exemplars = []
    for item in spec.get("exemplars", []):
        path = folder / exemplar_file(item, folder / ACTION_FILE)
        if not path.is_file():
            raise ActionBenchError(f"exemplar {path} of action '{name}' is missing",
                                   "restore the file or remove it from action.toml")
        actual = file_sha256(path)
        if item.get("sha256") and item["sha256"].lower() != actual:
            raise ActionBenchError(f"exemplar {path} of action '{name}' does not match the sha256 in {ACTION_FILE}",
                                   "restore the original photo, or add the action again (--force) to take the new one")
        exemplars.append(Exemplar(
            image_path=path,
            sha256=actual,
            template=item.get("template", "a photo of a person {}"),
            context=item.get("context", "a person"),
        ))
    if not exemplars:
        raise ActionBenchError(f"action '{name}' in {folder} has no exemplar images",
                               "list them under [[exemplars]] in action.toml")
    domain = spec.get("domain", PHOTO)
    if domain not in DOMAINS:
        raise ActionBenchError(f"action '{name}' has domain '{domain}'",
                               f"set domain in {folder / ACTION_FILE} to one of {', '.join(DOMAINS)}")
    return Action(name=name, description=description, exemplars=tuple(exemplars),
                  mirror_invariant=bool(spec.get("mirror_invariant", False)), source=source, root=folder,
                  domain=domain)


def action_toml(name: str, description: str, exemplars: Sequence[Exemplar], *, domain: str,
                mirror_invariant: bool = False) -> str:
    """The text of an ``action.toml`` that :func:`load_action` reads back: every writer of an action
    folder (``data add-action``, the mini benchmark, the held-in actions) spells it here. Exemplar
    files are named relative to the action's folder."""
    return tomli_w.dumps({
        "name": name, "description": description, "mirror_invariant": mirror_invariant, "domain": domain,
        "exemplars": [{"file": e.image_path.name, "sha256": e.sha256, "template": e.template, "context": e.context}
                      for e in exemplars]})


def exemplar_file(item: dict[str, Any], where: Path) -> str:
    """An exemplar's file: relative to the action's folder, or a path to photos kept elsewhere (a
    licensed dataset read in place). It is only read, never written, so it need not be a plain name."""
    name = item.get("file")
    if not isinstance(name, str) or not name.strip():
        raise ActionBenchError(f"an exemplar in {where} has no file", "give each [[exemplars]] a file = \"NAME.jpg\"")
    return name


def protocol_from_dict(spec: dict[str, Any], where: str = "the protocol") -> Protocol:
    subjects = []
    for item in spec.get("subjects", []):
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
    if not subjects:
        raise ActionBenchError("the protocol lists no subjects", "add [[protocol.subjects]] entries")
    check_distinct("subject", [subject.name for subject in subjects], where)
    known = {"subjects", "prompt_template", "seeds", "images_per_prompt", "num_inference_steps",
             "guidance_scale", "notes"}
    unknown = set(spec) - known
    if unknown:
        raise ActionBenchError(f"unknown protocol setting(s) {', '.join(sorted(unknown))}",
                               f"valid settings are {', '.join(sorted(known))}")
    return Protocol(
        subjects=tuple(subjects),
        prompt_template=spec.get("prompt_template", "{subject} {action}"),
        seeds=tuple(int(s) for s in spec.get("seeds", (0, 1))),
        images_per_prompt=int(spec.get("images_per_prompt", 1)),
        num_inference_steps=int(spec.get("num_inference_steps", 50)),
        guidance_scale=float(spec.get("guidance_scale", 7.5)),
        notes=spec.get("notes", ""),
    )


def load_benchmark(folder: Path) -> Benchmark:
    """A benchmark folder: ``benchmark.toml`` plus one sub-folder per action."""
    folder = Path(folder)
    spec = read_toml(folder / BENCHMARK_FILE)
    name = spec.get("name", folder.name)
    where = str(folder / BENCHMARK_FILE)
    action_names = spec.get("actions") or sorted(
        p.name for p in folder.iterdir() if (p / ACTION_FILE).is_file())
    action_names = [check_name("action", a, where) for a in action_names]
    check_distinct("action", action_names, where)
    actions = {a: load_action(folder / a, source=name) for a in action_names}
    return Benchmark(name=name, actions=actions, protocol=protocol_from_dict(spec.get("protocol", {}), where),
                     root=folder, defaults=spec.get("defaults", {}))
