"""Atomic writes, stable hashes and a run-directory lock.

Every file the suite writes goes through ``atomic_write_*``: a temporary file in the same folder,
fsync, then ``os.replace``, so a killed process leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import tempfile
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


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it replaces ``target`` only if the block succeeds."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise ActionBenchError(f"cannot write to {target.parent} ({error.strerror})",
                               "choose a writable output folder") from error
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb+") as synced:
            os.fsync(synced.fileno())
        os.replace(temp, target)
    finally:
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
    with atomic_path(target) as temp:
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
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class DirectoryLock:
    """An exclusive lock on a folder, held by one process; the OS drops it when the process dies.

    ``flock`` rather than a pid file, so a run killed with SIGKILL never leaves a stale lock.
    """

    def __init__(self, folder: Path, name: str = ".lock"):
        self.path = Path(folder) / name
        self._handle = None

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
