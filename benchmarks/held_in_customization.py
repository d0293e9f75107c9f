"""Held-in actions as custom actions: do the methods learn, from 10 exemplars, an action that the
mini generator already draws from its name?

    export ACTIONBENCH_HOME=/tmp/held-in
    python benchmarks/held_in_customization.py --actions waving,kicking,jumping
    actionbench run --methods text,textual_inversion,p_plus,adi --actions waving,kicking,jumping \
        --workers 2 --out /tmp/held-in/run

Writes each held-in action's folder into ``$ACTIONBENCH_HOME/actions``: 10 exemplars of people
doing it, drawn and captioned as the benchmark's exemplars are
(:func:`actionbench.mini.quality.held_in_action`), described by its caption phrase, so that `text`
draws it from its name (the ceiling) while the other methods learn it from the exemplars. Refuses
without an explicit ``ACTIONBENCH_HOME``: custom actions of the mini world's domain join the mini
benchmark's judge calibration in their home (its threshold moves), so they need a home of their own.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from actionbench.data import load_action
from actionbench.data.folder import ACTION_FILE, action_toml
from actionbench.data.model import MINI_RENDER
from actionbench.fileio import atomic_write_text
from actionbench.mini.quality import held_in_action
from actionbench.mini.world import HELD_IN_ACTIONS
from actionbench.paths import custom_actions_dir

DEFAULT_ACTIONS = "waving,kicking,jumping"


def write_action(name: str, root: Path) -> Path:
    """``root/<name>/``: the held-in action's exemplars and its ``action.toml``, read back to check."""
    folder = root / name
    action = held_in_action(name, folder)
    atomic_write_text(folder / ACTION_FILE,
                      action_toml(name, action.description, action.exemplars, domain=MINI_RENDER))
    load_action(folder, source="custom")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", default=DEFAULT_ACTIONS, help=f"held-in actions (default: {DEFAULT_ACTIONS})")
    args = parser.parse_args()
    names = [name.strip() for name in args.actions.split(",") if name.strip()]
    unknown = [name for name in names if name not in HELD_IN_ACTIONS]
    if unknown:
        print(f"held_in_customization: unknown held-in action(s) {', '.join(unknown)}; "
              f"choose among {', '.join(HELD_IN_ACTIONS)}", file=sys.stderr)
        return 2
    if not os.environ.get("ACTIONBENCH_HOME"):
        print("held_in_customization: ACTIONBENCH_HOME is not set; set it to a home of its own "
              "(these actions would move the mini judge's threshold in yours)", file=sys.stderr)
        return 2
    root = custom_actions_dir()
    for name in names:
        print(f"wrote {write_action(name, root)}")
    print(f"now: actionbench run --methods text,textual_inversion,p_plus,adi --actions {','.join(names)} --workers 2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
