"""The ratings store: one append-only JSON-lines file per rater in ``RUN_DIR/ratings/``.

Each judgement is one line, written as it is given: the whole line in one ``write`` to a file opened
with ``O_APPEND``, under an exclusive ``flock``, then ``fsync`` before the page is told it is saved.
So two raters (or two servers) never interleave or lose a line, and a server killed at any moment
keeps every answer it acknowledged. A last line without its newline is kept when it is a whole
judgement (the newline is added before the next append); one that is not (cut short by a kill
mid-write, never acknowledged) is ignored when reading and, at the next append, moved to
``<file>.torn`` beside the file, never deleted. A write that fails (a full disk, a folder where the
file should be) is undone in every file it touched: all of it is saved, or none.

A rater's judgement of an image with the latest ``time`` replaces the others (file order breaks ties).

Line format::

    {"image": "<blind id>", "rater": "<name>", "answers": {"action": "yes", "subject": "no"},
     "time": "2025-01-31T12:00:00.000Z", "source": "page"}

Answers are "yes", "no" or "skip"; ``source`` is "page" or "import:<file name>".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from actionbench.errors import ActionBenchError
from actionbench.names import NAME_PATTERN
from actionbench.fileio import stable_hash, write_problem
from actionbench.rating.locking import file_lock
from actionbench.rating.study import ratings_dir

QUESTIONS = ("action", "subject")
ANSWERS = ("yes", "no", "skip")
MAX_RATER_LENGTH = 100
TORN_SUFFIX = ".torn"
# A time that is not ISO 8601 (only in files written before times were checked) counts as the earliest.
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
# A rater's name is shown as text; it becomes a file name only when it is a plain name (the suite's
# one rule); any other name gets a slug and a hash. Raters differing only by case may share a file on
# a case-insensitive filesystem, which is safe: every line names its rater and reads filter by it.
_PLAIN_NAME = NAME_PATTERN


@dataclass(frozen=True)
class Judgement:
    image: str  # the blind id
    rater: str
    action: str  # "yes", "no" or "skip"
    subject: str
    time: str
    source: str = "page"

    def answer(self, question: str) -> str:
        return getattr(self, question)

    def to_json(self) -> dict:
        return {"image": self.image, "rater": self.rater, "answers": {q: self.answer(q) for q in QUESTIONS},
                "time": self.time, "source": self.source}

    @property
    def key(self) -> tuple[str, str]:
        return (self.rater, self.image)

    @property
    def instant(self) -> datetime:
        """When it was given, for "latest wins" (a time that cannot be read counts as the earliest)."""
        return parse_time(self.time) or EARLIEST

    def identity(self) -> tuple:
        """What makes two judgements one and the same (an import of it again is "already there")."""
        return (self.rater, self.image, self.action, self.subject, parse_time(self.time) or self.time)


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time in UTC (one without a zone is taken as UTC); None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def format_time(moment: datetime) -> str:
    """The store's one spelling of a time: UTC, millisecond resolution, ISO 8601 (``...T12:00:00.000Z``)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    return format_time(datetime.now(timezone.utc))


def latest_judgements(judgements: Iterable[Judgement]) -> dict[tuple[str, str], Judgement]:
    """(rater, image) -> the judgement with the latest time; of equal times, the later one in file order.

    By time, not by position: an import of an older export appends old judgements after newer ones.
    """
    found: dict[tuple[str, str], Judgement] = {}
    for judgement in judgements:
        held = found.get(judgement.key)
        if held is None or judgement.instant >= held.instant:
            found[judgement.key] = judgement
    return found


def check_rater(name: str) -> str:
    """A rater's name, stripped; any printable text (it is shown as text), but never empty or huge."""
    name = (name or "").strip()
    if not name:
        raise ActionBenchError("no rater name given", "pass --rater NAME (or add ?rater=NAME to the page's address)")
    if len(name) > MAX_RATER_LENGTH:
        raise ActionBenchError(f"the rater name is {len(name)} characters long",
                               f"use at most {MAX_RATER_LENGTH}")
    if any(unicodedata.category(c) == "Cs" for c in name):  # bytes that were not UTF-8 (surrogate-escaped)
        raise ActionBenchError("the rater name is not valid text (it holds bytes that are not UTF-8)",
                               "type the name again as UTF-8 text")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise ActionBenchError("the rater name holds control characters", "use printable text only")
    return name


def check_answer(question: str, value: object) -> str:
    if value not in ANSWERS:
        raise ActionBenchError(f"the {question} answer {str(value)[:40]!r} is not yes, no or skip",
                               "answer yes, no or skip")
    return str(value)


def rater_file_name(rater: str) -> str:
    """A safe file name for a rater: the name itself when it is plain, else a slug plus a hash."""
    if _PLAIN_NAME.fullmatch(rater):
        return f"{rater}.jsonl"
    slug = re.sub(r"[^A-Za-z0-9]+", "_", unicodedata.normalize("NFKD", rater)).strip("_")[:40] or "rater"
    return f"{slug}-{stable_hash(rater, 8)}.jsonl"


NOT_A_JUDGEMENT = (ValueError, KeyError, TypeError, ActionBenchError)  # what _parse raises for a bad line


def _parse(line: str) -> Judgement:
    row = json.loads(line)
    answers = row["answers"]
    return Judgement(image=str(row["image"]), rater=str(row["rater"]),
                     action=check_answer("action", answers["action"]),
                     subject=check_answer("subject", answers["subject"]),
                     time=str(row.get("time", "")), source=str(row.get("source", "")))


def _whole(line: str) -> Judgement | None:
    """``line`` as a judgement, or None: for a last line without its newline, whole or cut short."""
    try:
        return _parse(line) if line.strip() else None
    except NOT_A_JUDGEMENT:
        return None


class NotSaved(ActionBenchError):
    """Judgements that could not be written (a full disk, a folder where the file should be); none was kept."""

    def __init__(self, path: Path, error: OSError):
        self.path = Path(path)
        self.reason = error.strerror or str(error)
        super().__init__(write_problem(path, error),
                         "nothing was saved: free space or make it a writable file, then try again")


@dataclass
class _Target:
    """One rater file held open and locked for an append."""

    path: Path
    handle: int
    created: bool
    data: bytes
    size: int | None = None  # before this append (once its last line is finished): what a failure cuts back to


class RatingsStore:
    """Append and read judgements under ``RUN_DIR/ratings/``."""

    _thread_locks: dict[Path, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, run_dir: str | Path):
        self.folder = ratings_dir(run_dir)

    def path(self, rater: str) -> Path:
        return self.folder / rater_file_name(rater)

    def _thread_lock(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._thread_locks.setdefault(path.resolve(), threading.Lock())

    def append(self, judgements: list[Judgement]) -> None:
        """Write whole lines, durably, before returning; all of them or, raising ``NotSaved``, none."""
        data: dict[Path, bytes] = {}
        for judgement in judgements:
            line = json.dumps(judgement.to_json(), ensure_ascii=False, sort_keys=True) + "\n"
            path = self.path(judgement.rater)
            data[path] = data.get(path, b"") + line.encode("utf-8")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise NotSaved(self.folder, error) from None
        with contextlib.ExitStack() as stack:
            # every file opened (and locked, in one order) before any is written: a folder where a file
            # should be, or a file that cannot be written, stops the append before anything is added
            targets = [self._open(stack, path, data[path]) for path in sorted(data, key=Path.resolve)]
            try:
                self._write(targets)
            except NotSaved:
                _undo(targets)
                raise

    def _open(self, stack: contextlib.ExitStack, path: Path, data: bytes) -> _Target:
        stack.enter_context(self._thread_lock(path))
        try:
            stack.enter_context(file_lock(path.with_name(f".{path.name}.lock")))
            created = not path.exists()
            handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise NotSaved(path, error) from None
        stack.callback(os.close, handle)
        target = _Target(path, handle, created, data)
        if created:
            stack.callback(_remove_if_empty, target)  # a failed append leaves no empty file behind
        return target

    def _write(self, targets: list[_Target]) -> None:
        for target in targets:
            try:
                target.data = _finish_last_line(target.handle, target.path) + target.data
                target.size = os.fstat(target.handle).st_size
            except OSError as error:
                raise NotSaved(target.path, error) from None
        for target in targets:
            try:
                payload = target.data
                while payload:
                    payload = payload[os.write(target.handle, payload):]
                os.fsync(target.handle)
            except OSError as error:
                raise NotSaved(target.path, error) from None
        if any(target.created for target in targets):
            try:
                _fsync_dir(self.folder)
            except OSError as error:
                raise NotSaved(self.folder, error) from None

    def judgements(self, rater: str | None = None) -> list[Judgement]:
        """Every judgement in file order (one rater's, or everyone's); a cut-off last line is ignored."""
        if not self.folder.is_dir():
            return []
        paths = [self.path(rater)] if rater is not None else sorted(self.folder.glob("*.jsonl"))
        found: list[Judgement] = []
        for path in paths:
            if path.is_file():
                found.extend(j for j in _read(path) if rater is None or j.rater == rater)
        return found

    def latest(self, rater: str | None = None) -> dict[tuple[str, str], Judgement]:
        """(rater, image) -> that rater's latest judgement of that image (``latest_judgements``)."""
        return latest_judgements(self.judgements(rater))


def _read(path: Path) -> list[Judgement]:
    """The judgements of one file; a damaged line is an error, save a last one cut short by a kill."""
    text = path.read_text(encoding="utf-8", errors="replace")
    *complete, last = text.split("\n")  # last: "" or a line without its newline
    found: list[Judgement] = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            found.append(_parse(line))
        except NOT_A_JUDGEMENT as error:
            raise ActionBenchError(f"{path} line {number} is not a judgement ({error})",
                                   "repair or remove that line") from None
    whole = _whole(last)
    if whole is not None:  # written whole, only its newline missing: a judgement like any other
        found.append(whole)
    return found


def _finish_last_line(handle: int, path: Path) -> bytes:
    """Make the file end with a newline before new lines go in; returns what must precede them.

    A last line without its newline is kept when it is a whole judgement (b"\n" goes first); one cut
    short by a kill mid-write (never acknowledged) is moved to ``<file>.torn``, then cut off.
    """
    size = os.fstat(handle).st_size
    if size == 0 or os.pread(handle, 1, size - 1) == b"\n":
        return b""
    start = _last_line_start(handle, size)
    tail = os.pread(handle, size - start, start)
    if _whole(tail.decode("utf-8", errors="replace")) is not None:
        return b"\n"
    _keep_torn(path, tail)
    os.ftruncate(handle, start)
    return b""


def _last_line_start(handle: int, size: int) -> int:
    position = size
    while position > 0:
        start = max(0, position - 4096)
        cut = os.pread(handle, position - start, start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        position = start
    return 0


def _keep_torn(path: Path, tail: bytes) -> None:
    """Append a torn last line to ``<file>.torn`` (fsynced before the line leaves the ratings file)."""
    handle = os.open(path.with_name(path.name + TORN_SUFFIX), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        payload = tail + b"\n"
        while payload:
            payload = payload[os.write(handle, payload):]
        os.fsync(handle)
    finally:
        os.close(handle)


def _undo(targets: list[_Target]) -> None:
    """Cut every file back to its size before a failed append (its locks are still held)."""
    for target in targets:
        if target.size is None:
            continue  # not reached: nothing of this append is in it
        with contextlib.suppress(OSError):
            os.ftruncate(target.handle, target.size)
            os.fsync(target.handle)


def _remove_if_empty(target: _Target) -> None:
    with contextlib.suppress(OSError):
        if target.path.stat().st_size == 0:
            target.path.unlink()


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
