"""The official ActionBench of the ADI paper, read in place from the authors' own layout.

The authors publish 8 actions x 10 photos (github.com/bighuang624/ActionBench, commit 42344c8c,
CC BY-NC-ND 4.0) as ``<action>/NN.jpg``, ``NN.txt`` (the original caption) and ``text.json`` (one
caption template per photo, with ``{}`` where the action goes). The licence forbids modified
copies, so the suite never converts or copies the images: it reads them where they are and
preprocesses at load time (into a local cache, :mod:`actionbench.data.preprocess`).

What the authors did not publish (the action descriptions, the 23 subjects, seeds, sampler
settings) comes from the versioned file ``actionbench_protocol.toml`` shipped in this package.
The published SHA-256 of every file ships too (``actionbench_*.sha256``), so a copy is checked on load.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from actionbench.data.captions import TEXT_JSON, context_from_template, read_text_json
from actionbench.data.folder import protocol_from_dict
from actionbench.data.model import Action, Benchmark, Exemplar
from actionbench.errors import ActionBenchError
from actionbench.fileio import file_sha256
from actionbench.paths import data_dir

NAME = "actionbench"
DATA_ENV = "ACTIONBENCH_DATA"  # a folder holding the official data, read in place
PROTOCOL_FILE = "actionbench_protocol.toml"
IMAGE_CHECKSUMS = "actionbench_images.sha256"  # the source's checksums.sha256
METADATA_CHECKSUMS = "actionbench_metadata.sha256"  # the source's metadata.sha256
# Files beside the data that a copy may hold at its top level (the source's README and licence,
# under their own or our names, and the two checksum lists).
DOCUMENT_FILES = ("README.md", "SOURCE_README.md", "LICENSE", "LICENSE-CC-BY-NC-ND-4.0.md",
                  "checksums.sha256", "metadata.sha256")


def package_text(relative: str) -> str:
    return resources.files("actionbench.data").joinpath(relative).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def official_spec() -> dict[str, Any]:
    """The shipped protocol file: source, action descriptions, defaults and protocol."""
    return tomllib.loads(package_text(PROTOCOL_FILE))


def parse_checksums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``HEX  path`` per line) as ``{path: hex}``."""
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, _, path = line.strip().partition(" ")
            sums[path.strip().lstrip("*")] = digest.lower()
    return sums


@lru_cache(maxsize=1)
def image_checksums() -> dict[str, str]:
    return parse_checksums(package_text(IMAGE_CHECKSUMS))


@lru_cache(maxsize=1)
def metadata_checksums() -> dict[str, str]:
    return parse_checksums(package_text(METADATA_CHECKSUMS))


def official_checksums() -> dict[str, str]:
    """Every published file of the official data (80 images, 80 captions, 8 ``text.json``)."""
    return {**image_checksums(), **metadata_checksums()}


def official_action_names() -> list[str]:
    return list(official_spec()["actions"])


def archive_url() -> str:
    """Where ``actionbench data fetch`` downloads from ($ACTIONBENCH_DATA_URL overrides, for mirrors)."""
    return os.environ.get("ACTIONBENCH_DATA_URL") or official_spec()["source"]["archive_url"]


def looks_like_official(folder: Path) -> bool:
    return all((folder / name / TEXT_JSON).is_file() for name in official_action_names())


def official_data_root() -> Path:
    """The first of ``$ACTIONBENCH_DATA`` and the fetch destination that holds the data."""
    given = os.environ.get(DATA_ENV)
    if given:
        folder = Path(given).expanduser()
        if not looks_like_official(folder):
            raise ActionBenchError(
                f"{DATA_ENV}={given} does not hold the official ActionBench (no cheer/text.json, ...)",
                f"point {DATA_ENV} at the folder that holds {', '.join(official_action_names())}, or unset it")
        return folder
    folder = data_dir(NAME)
    if looks_like_official(folder):
        return folder
    raise ActionBenchError(
        f"the official ActionBench data is not in {folder}",
        f"run 'actionbench data fetch' to download it, or download {archive_url()} by hand, unzip it, "
        f"check it with 'actionbench data verify FOLDER' and move that folder to {folder} "
        f"(or set {DATA_ENV}=FOLDER)")


def _checked(path: Path, relative: str, root: Path) -> str:
    """The file's SHA-256, refusing a copy that differs from the published one."""
    expected = official_checksums()[relative]
    if not path.is_file():
        raise ActionBenchError(f"the official ActionBench in {root} lacks {relative}",
                               f"run 'actionbench data verify {root}' for the full list, and restore the "
                               f"originals (actionbench data fetch)")
    actual = file_sha256(path)
    if actual != expected:
        raise ActionBenchError(f"{relative} in {root} differs from the published ActionBench",
                               f"run 'actionbench data verify {root}' for the full list, and restore the "
                               f"originals (actionbench data fetch)")
    return actual


def load_action_in_place(root: Path, name: str, spec: dict[str, Any]) -> Action:
    """One action from ``<root>/<name>/text.json`` and its photos, checked against the checksums."""
    folder = root / name
    _checked(folder / TEXT_JSON, f"{name}/{TEXT_JSON}", root)
    templates = read_text_json(folder / TEXT_JSON)
    exemplars = []
    for image in sorted(templates):
        path = folder / image
        exemplars.append(Exemplar(image_path=path, sha256=_checked(path, f"{name}/{image}", root),
                                  template=templates[image], context=context_from_template(templates[image])))
    return Action(name=name, description=spec["description"], exemplars=tuple(exemplars),
                  mirror_invariant=bool(spec.get("mirror_invariant", False)), source=NAME, root=folder)


def load_official_benchmark() -> Benchmark:
    """The official ActionBench: the authors' data in place plus the shipped protocol."""
    spec = official_spec()
    root = official_data_root()
    actions = {name: load_action_in_place(root, name, action_spec)
               for name, action_spec in spec["actions"].items()}
    return Benchmark(name=NAME, actions=actions, protocol=protocol_from_dict(spec["protocol"]),
                     root=root, defaults=spec.get("defaults", {}))
