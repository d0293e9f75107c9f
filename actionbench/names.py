"""One rule for every name that becomes a path: actions, subjects, methods, metrics, registered names.

Names come from input a user may not have written (a downloaded benchmark folder, a plugin, a
hand-edited ``action.toml``), and each one ends up as a folder or file name in a run directory
(``units/<method>/<action>/images/<subject>-s0-0.png``). A name is therefore a plain slug, checked
when it is read, never a path: ``../../victim`` or ``a/b`` is refused before any folder is built.
Names that name folders compare case-insensitively (``cheer`` and ``CHEER`` are one folder on
macOS and Windows filesystems), so two names differing only by case are refused too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from actionbench.errors import ActionBenchError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NAME_RULE = "use letters, digits, '-' and '_' only (up to 64), starting with a letter or digit, e.g. my_wave"
RESERVED_NAMES = ("all",)  # "--actions all" / "--methods all" mean every one


def _shown(name: object) -> str:
    """The name as an error shows it: quoted, escaped, never longer than a line."""
    text = repr(str(name))[1:-1]
    return f"'{text[:60]}...'" if len(text) > 60 else f"'{text}'"


def check_name(kind: str, name: object, where: str | None = None) -> str:
    """Return ``name`` if it is a plain name; otherwise raise one line naming ``kind`` and ``where``.

    ``kind`` is what the name names ("action", "subject", "method"); ``where`` is the file or
    place it was read from, so the user knows what to edit.
    """
    origin = f" in {where}" if where else ""
    if not isinstance(name, str):
        raise ActionBenchError(f"the {kind} name {_shown(name)}{origin} is not text", f"write it in quotes: {NAME_RULE}")
    if not name.strip():
        raise ActionBenchError(f"the {kind} name{origin} is empty", f"give a name: {NAME_RULE}")
    if "/" in name or "\\" in name or ".." in name:
        raise ActionBenchError(f"the {kind} name {_shown(name)}{origin} contains a path separator or '..'",
                               NAME_RULE)
    if not NAME_PATTERN.fullmatch(name):
        raise ActionBenchError(f"the {kind} name {_shown(name)}{origin} is not a plain name", NAME_RULE)
    if name.lower() in RESERVED_NAMES:
        raise ActionBenchError(f"the {kind} name {_shown(name)}{origin} is reserved ('all' selects every {kind})",
                               "choose another name")
    return name


def check_distinct(kind: str, names: Iterable[str], where: str | None = None) -> None:
    """Refuse a name given twice, and two names that differ only by case: either way two entries
    would share one folder (on many filesystems case does not separate folders)."""
    origin = f" in {where}" if where else ""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.get(name.lower())
        if other is None:
            seen[name.lower()] = name
            continue
        if other == name:
            raise ActionBenchError(f"the {kind} {_shown(name)} is listed twice{origin}", "remove one of them")
        raise ActionBenchError(f"the {kind}s {_shown(other)} and {_shown(name)}{origin} differ only by case",
                               f"rename one of them ({kind} names compare case-insensitively)")
