"""``actionbench data``: fetch and verify the official ActionBench, add your own actions."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionbench.errors import ActionBenchError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="fetch or verify the official ActionBench; add your own action",
                                   description="Manage benchmark data (docs/data-format.md).")
    commands = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    fetch = commands.add_parser("fetch", help="download the official ActionBench and check every file",
                                description="Download the authors' archive, verify each file against the "
                                            "published SHA-256 and unpack it atomically.")
    fetch.add_argument("--dest", help="where to put it (default: $ACTIONBENCH_HOME/data/actionbench)")
    fetch.set_defaults(func=fetch_main)

    verify = commands.add_parser("verify", help="check a copy of the official ActionBench against its checksums",
                                 description="Report every missing, extra or altered file; exit 1 if any.")
    verify.add_argument("path", metavar="PATH", help="the folder that holds cheer/, gesture/, ...")
    verify.set_defaults(func=verify_main)

    add = commands.add_parser("add-action", help="add your own action from a folder of photos",
                              description="Copy the photos unchanged into $ACTIONBENCH_HOME/actions/NAME with an "
                                          "action.toml; optional caption templates come from DIR/text.json.")
    add.add_argument("name", metavar="NAME", help="the action's name: letters, digits, '-' and '_'")
    add.add_argument("--images", required=True, metavar="DIR", help="folder of exemplar photos")
    add.add_argument("--description", help="the action in plain words, e.g. \"raising both arms overhead\"")
    add.add_argument("--mirror-invariant", action="store_true",
                     help="the mirror image counts as the same action (e.g. a symmetric yoga pose)")
    add.add_argument("--force", action="store_true", help="replace an existing custom action of that name")
    add.set_defaults(func=add_action_main)


def fetch_main(args: argparse.Namespace) -> int:
    from actionbench.data.fetch import fetch_official
    from actionbench.paths import data_dir

    print(fetch_official(Path(args.dest) if args.dest else None))
    if args.dest and Path(args.dest).expanduser().resolve() != data_dir("actionbench").resolve():
        print(f"to use it: export ACTIONBENCH_DATA={Path(args.dest).expanduser().resolve()}")  # works from any folder
    return 0


def verify_main(args: argparse.Namespace) -> int:
    import sys

    from actionbench.data.verify import verify_copy

    if not args.path.strip():  # Path("") is the working folder
        raise ActionBenchError("the folder to verify is empty", "give the folder that holds the official data")
    result = verify_copy(Path(args.path))
    for line in result.problem_lines():
        print(line)
    if result.ok:
        print(result.summary())
        return 0
    inner = official_inside(Path(args.path)) if result.checked == 0 else None
    fix = f"verify {inner}, which holds it" if inner else "restore the originals, e.g. with 'actionbench data fetch'"
    print(f"actionbench: {result.summary()}: {fix}", file=sys.stderr)
    return 1


def official_inside(folder: Path) -> Path | None:
    """A sub-folder of ``folder`` that holds the official data, when ``folder`` itself matched none of it."""
    from actionbench.data.official import looks_like_official

    if not folder.is_dir():
        return None
    return next((sub for sub in sorted(folder.iterdir()) if sub.is_dir() and looks_like_official(sub)), None)


def add_action_main(args: argparse.Namespace) -> int:
    from actionbench.data.custom import add_action

    action = add_action(args.name, args.images, args.description, mirror_invariant=args.mirror_invariant,
                        force=args.force)
    print(f"added action '{action.name}' ({len(action.exemplars)} exemplars) in {action.root}")
    return 0
