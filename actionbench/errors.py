"""User-facing errors: one line that names the problem and the fix, never a traceback."""

from __future__ import annotations


class ActionBenchError(Exception):
    """A problem the user can fix. The CLI prints ``str(error)`` on one line and exits non-zero."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".") if fix else None
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.problem + "." if not self.fix else f"{self.problem}: {self.fix}."
        return " ".join(text.split())  # always one line


class Unavailable(ActionBenchError):
    """Something that cannot run on this machine as configured (weights not supplied): named explicitly
    it stops the run; requested through ``all`` it is left out with a notice."""


def first_few(items: list, limit: int, sep: str = ", ") -> str:
    """The first ``limit`` items joined by ``sep``, then how many more (messages stay one short line)."""
    more = len(items) - limit
    joiner = " and" if sep == ", " else f"{sep}and"
    return sep.join(str(item) for item in items[:limit]) + (f"{joiner} {more} more" if more > 0 else "")


def unknown_name(kind: str, name: str, valid: list[str]) -> ActionBenchError:
    """The error for a name that is not registered, listing the names that are."""
    choices = ", ".join(sorted(valid)) or "(none registered)"
    return ActionBenchError(f"unknown {kind} '{name}'", f"choose one of {choices}")
