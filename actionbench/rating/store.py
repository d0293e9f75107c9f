"""The ratings store: one append-only JSON-lines file per rater in ``RUN_DIR/ratings/``.

Each judgement is one line, written as it is given: the whole line in one ``write`` to a file opened
with ``O_APPEND``, under an exclusive ``flock``, then ``fsync`` before the page is told it is saved.
So two raters (or two servers) never interleave or lose a line, and a server killed at any moment
keeps every answer it acknowledged. A line cut short by a kill mid-write (never acknowledged) is
ignored when reading and trimmed before the next append. A rater's later judgement of the same image
replaces the earlier one.

Line format::

    {"image": "<blind id>", "rater": "<name>", "answers": {"action": "yes", "subject": "no"},
     "time": "2025-01-31T12:00:00.000Z", "source": "page"}

Answers are "yes", "no" or "skip"; ``source`` is "page" or "import:<file name>".
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.names import NAME_PATTERN
from actionbench.fileio import stable_hash
from actionbench.rating.locking import file_lock
from actionbench.rating.study import ratings_dir

QUESTIONS = ("action", "subject")
ANSWERS = ("yes", "no", "skip")
MAX_RATER_LENGTH = 100
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


def now() -> str:
    """UTC, millisecond resolution, ISO 8601."""
    seconds = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


def check_rater(name: str) -> str:
    """A rater's name, stripped; any printable text (it is shown as text), but never empty or huge."""
    name = (name or "").strip()
    if not name:
        raise ActionBenchError("no rater name given", "pass --rater NAME (or add ?rater=NAME to the page's address)")
    if len(name) > MAX_RATER_LENGTH:
        raise ActionBenchError(f"the rater name is {len(name)} characters long",
                               f"use at most {MAX_RATER_LENGTH}")
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


def _parse(line: str) -> Judgement:
    row = json.loads(line)
    answers = row["answers"]
    return Judgement(image=str(row["image"]), rater=str(row["rater"]),
                     action=check_answer("action", answers["action"]),
                     subject=check_answer("subject", answers["subject"]),
                     time=str(row.get("time", "")), source=str(row.get("source", "")))


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
        """Write whole lines, durably, before returning (see the module docstring)."""
        by_rater: dict[str, list[Judgement]] = {}
        for judgement in judgements:
            by_rater.setdefault(judgement.rater, []).append(judgement)
        self.folder.mkdir(parents=True, exist_ok=True)
        for rater, rows in by_rater.items():
            path = self.path(rater)
            data = "".join(json.dumps(j.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for j in rows)
            with self._thread_lock(path), file_lock(path.with_name(f".{path.name}.lock")):
                created = not path.exists()
                handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    _trim_partial_line(handle)
                    payload = data.encode("utf-8")
                    while payload:
                        payload = payload[os.write(handle, payload):]
                    os.fsync(handle)
                finally:
                    os.close(handle)
                if created:
                    _fsync_dir(self.folder)

    def judgements(self, rater: str | None = None) -> list[Judgement]:
        """Every judgement in file order (one rater's, or everyone's); a cut-off last line is ignored."""
        if not self.folder.is_dir():
            return []
        paths = [self.path(rater)] if rater is not None else sorted(self.folder.glob("*.jsonl"))
        found = []
        for path in paths:
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            complete = text.split("\n")[:-1]  # the last piece is "" or a line cut short by a kill
            for number, line in enumerate(complete, 1):
                if not line.strip():
                    continue
                try:
                    judgement = _parse(line)
                except (ValueError, KeyError, TypeError, ActionBenchError) as error:
                    raise ActionBenchError(f"{path} line {number} is not a judgement ({error})",
                                           "repair or remove that line") from None
                if rater is None or judgement.rater == rater:
                    found.append(judgement)
        return found

    def latest(self, rater: str | None = None) -> dict[tuple[str, str], Judgement]:
        """(rater, image) -> that rater's last judgement of that image."""
        return {(j.rater, j.image): j for j in self.judgements(rater)}


def _trim_partial_line(handle: int) -> None:
    """Cut a last line left without its newline by a kill mid-write (it was never acknowledged)."""
    size = os.fstat(handle).st_size
    if size == 0 or os.pread(handle, 1, size - 1) == b"\n":
        return
    position = size
    while position > 0:
        start = max(0, position - 4096)
        block = os.pread(handle, position - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(handle, start + cut + 1)
            return
        position = start
    os.ftruncate(handle, 0)


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
