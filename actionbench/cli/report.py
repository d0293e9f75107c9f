"""``actionbench report``: leaderboards (CSV + HTML) from one or more run directories."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_RUN = "runs/latest"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("report", help="write leaderboard.csv and leaderboard.html",
                                   description="Aggregate run directories into one leaderboard.")
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help=f"run directories (default: {DEFAULT_RUN})")
    parser.add_argument("--out", help="output folder (default: the run directory; ./board for several runs)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from actionbench.reports import make_report

    run_dirs = [Path(p) for p in (args.run_dirs or [DEFAULT_RUN])]
    out = Path(args.out) if args.out else (run_dirs[0] if len(run_dirs) == 1 else Path("board"))
    paths = make_report(run_dirs, out)
    print(f"leaderboard: {paths.html}")
    print(f"leaderboard (CSV): {paths.csv}")
    return 0
