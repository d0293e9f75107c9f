"""The ``actionbench`` command: one sub-command per module in this package.

Every user-facing problem surfaces as one line on stderr and exit code 2 (``ActionBenchError``);
finished results in a run directory are never touched by an error.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from actionbench import __version__
from actionbench.errors import ActionBenchError

# Each module defines ``add_parser(subparsers)`` and sets ``func`` on its parser.
COMMANDS = ["run", "report", "list_cmd", "check", "data"]


def load_plugins(specs: list[str]) -> None:
    """Import plugin modules (a dotted name or a ``.py`` file) so their registrations take effect."""
    for spec in specs:
        try:
            if spec.endswith(".py"):
                path = Path(spec).resolve()
                name = f"actionbench_plugin_{path.stem}_{abs(hash(str(path)))}"
                if name in sys.modules:
                    continue  # already loaded in this process
                module_spec = importlib.util.spec_from_file_location(name, path)
                if module_spec is None or not path.is_file():
                    raise ActionBenchError(f"plugin file {spec} not found", "check the path given to --plugins")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[module_spec.name] = module
                module_spec.loader.exec_module(module)
            else:
                importlib.import_module(spec)
        except ImportError as error:
            raise ActionBenchError(f"plugin '{spec}' cannot be imported ({error})",
                                   "check the module name given to --plugins") from error


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
    except KeyboardInterrupt:
        print("actionbench: interrupted; finished results are kept, re-run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
