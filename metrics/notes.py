"""What a metric could not use as given, said on stderr once per process instead of dropped in silence.

A prompt longer than the text encoder reads is cut, an exemplar that cannot be opened is left out of
an average: the score is still defined, so it is no image's failure, but the person reading the
board must be able to know. Each note is one line, printed the first time it arises in a process.
"""

from __future__ import annotations

import sys

from actionbench.data import Action
from actionbench.metrics.base import ScoringContext


def note_once(context: ScoringContext, text: str) -> None:
    """One line on stderr (``actionbench: note: ...``), once per process and text."""
    seen = context.shared.setdefault("metric_notes", set())
    if text not in seen:
        seen.add(text)
        print(f"actionbench: note: {text}", file=sys.stderr)


def unreadable_exemplars(context: ScoringContext, action: Action) -> list[str]:
    """Why each of ``action``'s exemplars that cannot be opened cannot (the message names the file);
    checked once per action version."""
    from actionbench.metrics.features import open_images

    key = ("unreadable_exemplars", action.name, action.version)
    if key not in context.shared:
        failures = open_images([e.image_path for e in action.exemplars])[1]
        context.shared[key] = [reason.rstrip(".") for reason in failures if reason is not None]
    return context.shared[key]


def note_unreadable_exemplars(context: ScoringContext, action: Action, metric: str, consequence: str) -> None:
    """A note naming the exemplars of ``action`` that cannot be opened and what ``metric`` does without them."""
    unreadable = unreadable_exemplars(context, action)
    if unreadable:
        note_once(context, f"{metric}: {len(unreadable)} of action {action.name}'s {len(action.exemplars)} "
                           f"exemplars cannot be read and are left out ({consequence}): {'; '.join(unreadable)}")
