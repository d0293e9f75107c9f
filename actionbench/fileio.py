"""Atomic writes, stable hashes and a run-directory lock.

Every file the suite writes goes through ``atomic_write_*``: a temporary file in the same folder,
fsync, then ``os.replace``, so a killed process leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import typing
from pathlib import Path
from typing import Any, Iterator

from actionbench.errors import ActionBenchError


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(_to_jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=True)


def stable_hash(value: Any, length: int = 16) -> str:
    """A content hash of any JSON-able value (dataclasses included), stable across runs."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def human_size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"


def free_space(path: Path) -> str:
    """The free space on ``path``'s filesystem, in words ("12.0 MiB free"), or why it is unknown."""
    try:
        return f"{human_size(shutil.disk_usage(nearest_existing(Path(path))).free)} free"
    except OSError:
        return "free space unknown"


OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_problem(path: Path | str, error: OSError, needed: int | None = None) -> str:
    """One line for an ``OSError`` met while writing ``path``: what, where, and the free space."""
    if error.errno in OUT_OF_SPACE:
        need = f", {human_size(needed)} needed" if needed else ""
        return f"out of space writing {path} ({error.strerror}; {free_space(Path(path).parent)}{need})"
    return f"cannot write {path} ({error.strerror or error}; {free_space(Path(path).parent)})"


def write_error(path: Path, error: OSError, needed: int | None = None) -> ActionBenchError:
    fix = ("free space on that filesystem or choose another --out, then re-run the same command to resume"
           if error.errno in OUT_OF_SPACE else "choose a writable output folder")
    return ActionBenchError(write_problem(path, error, needed), fix)


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: what a write to ``path`` would create its folders in,
    so a file standing where a folder must be is found before any work starts."""
    return next(folder for folder in (path, *path.absolute().parents) if folder.exists())


def resolve_under(path: Path, folder: Path) -> tuple[Path, bool]:
    """``path`` with every link followed, and whether it stays under ``folder`` (itself resolved, so a
    folder reached through a link, such as ``runs/latest``, still counts as itself)."""
    real = Path(path).resolve()
    return real, real.is_relative_to(Path(folder).resolve())


def _process_umask() -> int:
    """The process's umask, read without changing it where the platform says it (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (at import, before any worker thread starts)
    os.umask(mask)
    return mask


# mkstemp creates private files (0600); a run on a shared cluster filesystem should be as readable
# as any file its user writes, so temporary files get the umask's mode before they are renamed.
_UMASK = _process_umask()
FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(target: Path, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it replaces ``target`` only if the block succeeds.

    A failed write (a full disk) removes the temporary file and becomes one line naming ``target``
    and the free space; ``needed`` is the size being written, when known.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.fchmod(handle, FILE_MODE)
    except OSError as error:
        raise write_error(target, error, needed) from error
    os.close(handle)
    temp = Path(temp_name)
    try:
        try:
            yield temp
            with open(temp, "rb+") as synced:
                os.fsync(synced.fileno())
            os.replace(temp, target)
        except OSError as error:
            if error.errno is None:  # not a filesystem error (PIL's "cannot write mode P as JPEG")
                raise
            raise write_error(target, error, needed) from error
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; if the block succeeds it becomes ``target``.

    For caches built once (pipelines, rendered benchmarks): when another process publishes the
    same folder first, theirs is kept and ours discarded.
    """
    import shutil

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield build / "folder"
        try:
            os.replace(build / "folder", target)
        except OSError:  # another process finished first: keep theirs
            pass
    finally:
        shutil.rmtree(build, ignore_errors=True)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target, needed=len(data)) as temp:
        temp.write_bytes(data)


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: Path, value: Any) -> None:
    atomic_write_text(target, json.dumps(_to_jsonable(value), indent=2, sort_keys=True) + "\n")


def atomic_write_jsonl(target: Path, rows: list[dict]) -> None:
    atomic_write_text(target, "".join(json.dumps(_to_jsonable(r), sort_keys=True) + "\n" for r in rows))


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl(path: Path) -> list[dict]:
    """Every row of a JSON-lines file; a damaged line is one error naming the file and the line."""
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ActionBenchError(f"{path} line {number} is not valid JSON ({error.msg})",
                                           "the file is damaged: restore it, or redo what wrote it") from error
                if not isinstance(row, dict):
                    raise ActionBenchError(f"{path} line {number} is not a JSON object",
                                           "the file is damaged: restore it, or redo what wrote it")
                rows.append(row)
    except UnicodeDecodeError as error:
        raise ActionBenchError(f"{path} is not UTF-8 text ({error.reason})",
                               "the file is damaged: restore it, or redo what wrote it") from error
    return rows


class DirectoryLock:
    """An exclusive lock on a folder, held by one process; the OS drops it when the process dies.

    ``flock`` rather than a pid file, so a run killed with SIGKILL never leaves a stale lock.
    """

    def __init__(self, folder: Path, name: str = ".lock"):
        self.path = Path(folder) / name
        self._handle: typing.TextIO | None = None

    def acquire(self) -> "DirectoryLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")
        except OSError as error:
            raise ActionBenchError(f"cannot write to {self.path.parent} ({error.strerror})",
                                   "choose a writable output folder with --out") from error
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ActionBenchError(f"{self.path.parent} is in use by {holder}",
                                   "wait for it to finish, or choose another --out folder")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
