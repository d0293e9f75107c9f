"""Check a copy of the official ActionBench against the published SHA-256 of every file.

A copy is clean when it holds every published file (80 images, 80 captions, 8 ``text.json``)
byte for byte, and nothing else besides the source's README, its licence and the two checksum
lists at the top. Hidden files (``.DS_Store``, ``.git``) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actionbench.data.official import DOCUMENT_FILES, official_checksums
from actionbench.errors import ActionBenchError
from actionbench.fileio import file_sha256


@dataclass
class VerifyResult:
    root: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.altered)

    def problem_lines(self) -> list[str]:
        """One line per problem file, sorted by path."""
        rows = [(p, "missing") for p in self.missing] + [(p, "extra") for p in self.extra] + \
               [(p, "altered") for p in self.altered]
        return [f"{kind}: {path}" for path, kind in sorted(rows)]

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.root} matches the official ActionBench ({self.checked} files checked)"
        return (f"{self.root} differs from the official ActionBench: {len(self.missing)} missing, "
                f"{len(self.extra)} extra, {len(self.altered)} altered")


def _present_files(root: Path) -> set[str]:
    files = set()
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.is_dir():
            continue
        files.add(relative.as_posix())
    return files


def _digest(path: Path) -> str | None:
    """The file's SHA-256, or None when it cannot be read (a link to nowhere, no permission): missing."""
    try:
        return file_sha256(path)
    except OSError:
        return None


def verify_copy(root: str | Path, expected: dict[str, str] | None = None) -> VerifyResult:
    """Compare ``root`` with ``expected`` (``{relative path: sha256}``, default: the official data)."""
    root = Path(root)
    if not root.is_dir():
        raise ActionBenchError(f"{root} is not a folder", "pass the folder that holds the action folders (cheer/, gesture/, ...)")
    expected = official_checksums() if expected is None else expected
    present = _present_files(root)
    result = VerifyResult(root=root)
    for relative, digest in sorted(expected.items()):
        actual = _digest(root / relative) if relative in present else None
        if actual is None:
            result.missing.append(relative)
            continue
        result.checked += 1
        if actual != digest:
            result.altered.append(relative)
    result.extra = sorted(p for p in present - set(expected) if p not in DOCUMENT_FILES)
    return result
