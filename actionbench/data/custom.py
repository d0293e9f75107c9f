"""``actionbench data add-action``: a user's own action from a folder of photos.

Everything is checked before anything is written: the name, the description, every image (opened
fully with :func:`actionbench.imageio.open_rgb`), duplicates, the optional caption sidecar. The
action is then written into a hidden staging folder beside its destination and renamed into place,
so ``$ACTIONBENCH_HOME/actions/`` never holds a half-written action. The photos are copied byte for
byte; conversions (EXIF orientation, CMYK, 16-bit, alpha) happen when they are loaded.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from actionbench.data.captions import DEFAULT_TEMPLATE, TEXT_JSON, context_from_template, read_text_json
from actionbench.data.folder import ACTION_FILE, action_toml, load_action
from actionbench.data.model import PHOTO, Action, Exemplar
from actionbench.data.official import official_action_names
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_text, file_sha256, nearest_existing
from actionbench.imageio import IMAGE_SUFFIXES, open_rgb
from actionbench.names import check_name as check_plain_name  # the one rule for names
from actionbench.paths import custom_actions_dir


@dataclass(frozen=True)
class CheckedImage:
    path: Path
    sha256: str
    template: str


def check_name(name: str) -> str:
    """The suite's one rule for names (``names.check_name``), and not an official action's name."""
    name = check_plain_name("action", name)
    taken = {official.lower(): official for official in official_action_names()}.get(name.lower())
    if taken is not None:  # names compare case-insensitively: CHEER would be a second cheer
        spelled = "" if taken == name else f" as '{taken}' (action names compare case-insensitively)"
        raise ActionBenchError(f"the action name '{name}' is taken by the official ActionBench{spelled}",
                               f"choose another name, e.g. my_{name}")
    return name


def same_name_by_case(name: str, root: Path) -> str | None:
    """An action folder in ``root`` whose name differs from ``name`` only by case (one folder on macOS
    and Windows filesystems, two confusable actions everywhere), or None."""
    if not root.is_dir():
        return None
    return next((p.name for p in sorted(root.iterdir())
                 if p.name != name and p.name.lower() == name.lower() and not p.name.startswith(".")), None)


def check_description(name: str, description: str | None) -> str:
    text = " ".join((description or "").split())
    if not text:
        raise ActionBenchError(f"action '{name}' has no description",
                               "pass --description \"...\": the action in plain words, e.g. \"raising both arms overhead\"")
    return text


def check_images(folder: Path) -> list[CheckedImage]:
    """Every photo in ``folder``, opened fully; the ``text.json`` sidecar gives optional templates."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise ActionBenchError(f"image folder {folder} does not exist", "pass --images FOLDER holding the exemplar photos")
    if not folder.is_dir():
        raise ActionBenchError(f"--images {folder} is not a folder", "pass the folder that holds the exemplar photos")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name != TEXT_JSON)
    for path in entries:
        if path.is_dir():
            raise ActionBenchError(f"{path} is a folder", f"put the exemplar photos directly in {folder}, without sub-folders")
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ActionBenchError(f"{path} is not an image file", f"remove it from {folder}, or convert it to JPEG or PNG")
    if not entries:
        raise ActionBenchError(f"image folder {folder} holds no images", "put the exemplar photos (JPEG or PNG) in it")
    sidecar = folder / TEXT_JSON
    if sidecar.is_dir():  # not a sidecar: its captions would be silently dropped
        raise ActionBenchError(f"{sidecar} is a folder, not a file",
                               f"remove or rename it; {TEXT_JSON} is a file mapping photos to captions (docs/data-format.md)")
    templates = read_text_json(sidecar) if sidecar.is_file() else {}
    unknown = sorted(set(templates) - {p.name for p in entries})
    if unknown:
        raise ActionBenchError(f"{folder / TEXT_JSON} names {unknown[0]}, which is not an image in {folder}",
                               "fix the file name or remove the entry")
    checked: list[CheckedImage] = []
    seen: dict[str, Path] = {}
    for path in entries:
        open_rgb(path)  # refuses empty, truncated, corrupt, non-image and oversized files
        digest = file_sha256(path)
        if digest in seen:
            raise ActionBenchError(f"{path.name} is a duplicate of {seen[digest].name} (same content)",
                                   f"remove one of them from {folder}")
        seen[digest] = path
        checked.append(CheckedImage(path, digest, templates.get(path.name, DEFAULT_TEMPLATE)))
    return checked


def action_file_text(name: str, description: str, images: list[CheckedImage], mirror_invariant: bool) -> str:
    exemplars = [Exemplar(image.path, image.sha256, image.template, context_from_template(image.template))
                 for image in images]
    return action_toml(name, description, exemplars, domain=PHOTO, mirror_invariant=mirror_invariant)


def add_action(name: str, images: str | Path, description: str | None, mirror_invariant: bool = False,
               force: bool = False, root: Path | None = None) -> Action:
    """Validate everything, then write ``root/<name>/`` (default ``$ACTIONBENCH_HOME/actions``) atomically."""
    name = check_name(name)
    description = check_description(name, description)
    root = Path(root) if root else custom_actions_dir()
    blocking = nearest_existing(root)
    if not blocking.is_dir():
        raise ActionBenchError(f"{blocking} is a file, not a folder",
                               f"move or remove it; added actions are kept in the folder {root}")
    target = root / name
    other = same_name_by_case(name, root)
    if other is not None:
        raise ActionBenchError(f"action '{name}' differs only by case from the action '{other}' in {root / other} "
                               f"(action names compare case-insensitively)",
                               f"choose another name, or replace it with --force under its own name '{other}'")
    if target.exists() and not force:
        raise ActionBenchError(f"action '{name}' already exists in {target}",
                               "pass --force to replace it, or choose another name")
    checked = check_images(Path(images))

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.staging-"))
    old = None
    try:
        for image in checked:
            copy = staging / image.path.name
            shutil.copyfile(image.path, copy)
            if file_sha256(copy) != image.sha256:
                raise ActionBenchError(f"{image.path} changed while it was being copied", "run the command again")
        atomic_write_text(staging / ACTION_FILE, action_file_text(name, description, checked, mirror_invariant))
        load_action(staging, source="custom")  # what we wrote must read back
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.old-"))
            target.rename(old / name)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not target.exists():
            (old / name).rename(target)  # put the previous action back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return load_action(target, source="custom")
