"""The ``actionbench`` command: one sub-command per module in this package.

Every user-facing problem surfaces as one line on stderr and exit code 2 (``ActionBenchError``);
finished results in a run directory are never touched by an error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from actionbench import __version__
from actionbench.errors import ActionBenchError
from actionbench.plugins import load_plugins  # also used by executors' workers

# Each module defines ``add_parser(subparsers)`` and sets ``func`` on its parser.
COMMANDS = ["run", "report", "list_cmd", "check", "data", "rate", "mini", "score", "validate_judge"]
COMMANDS += ["generate", "export"]  # use what a run trained (issue 19)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actionbench", description="Train and score action-customized text-to-image methods.")
    parser.add_argument("--version", action="version", version=f"actionbench {__version__}")
    parser.add_argument("--plugins", default=os.environ.get("ACTIONBENCH_PLUGINS", ""),
                        help="comma-separated modules or .py files that register extra methods or metrics "
                             "(also $ACTIONBENCH_PLUGINS)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"actionbench.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_plugins([s for s in args.plugins.split(",") if s.strip()])
        return int(args.func(args) or 0)
    except ActionBenchError as error:
        print(f"actionbench: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("actionbench: interrupted; finished results are kept, re-run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
