"""``actionbench report``: leaderboards (CSV, HTML, grids; LaTeX, a paired comparison) from run directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from actionbench.csvcells import RAW_CSV_HELP

DEFAULT_RUN = "runs/latest"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write leaderboard.csv, leaderboard.html and per-action image grids",
        description="Aggregate run directories into one leaderboard: leaderboard.csv, leaderboard.html, "
                    "grids/<action>.png (methods x subjects) and, when chromium and Playwright are present, "
                    "a screenshot leaderboard.png. Runs with human ratings ('actionbench rate') also get "
                    "human.csv and a human section on the board (docs/ratings.md).")
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help=f"run directories (default: {DEFAULT_RUN})")
    parser.add_argument("--out", help="output folder (default: the run directory; ./board for several runs)")
    parser.add_argument("--latex", action="store_true",
                        help="also write leaderboard.tex, a booktabs table in the paper's layout")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="paired comparison of methods A and B over the same prompts and seeds "
                             "(A - B per score with a 95%% CI and a p-value; also comparison.csv)")
    parser.add_argument("--claims", action="store_true",
                        help="check the ADI paper's claims as paired tests on this run (holds / contradicted / "
                             "not shown, with 95%% CIs; also claims.csv; docs/reproduction.md)")
    parser.add_argument("--no-screenshot", dest="screenshot", action="store_false",
                        help="do not write leaderboard.png")
    parser.add_argument("--raw-csv", dest="raw_csv", action="store_true", help=RAW_CSV_HELP)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from actionbench.errors import ActionBenchError
    from actionbench.fileio import OUT_OF_SPACE, write_error
    from actionbench.reports import make_report

    run_dirs = [Path(p) for p in (args.run_dirs or [DEFAULT_RUN])]
    if args.out is not None and not args.out.strip():  # "" is not "no --out": say it rather than pick a folder
        raise ActionBenchError("--out is empty", "give the folder to write the board into, or leave --out out")
    out = Path(args.out) if args.out else (run_dirs[0] if len(run_dirs) == 1 else Path("board"))
    try:
        paths = make_report(run_dirs, out, latex=args.latex, compare=tuple(args.compare) if args.compare else None,
                            screenshot=args.screenshot, raw_csv=args.raw_csv, claims=args.claims, timing=True)
    except OSError as error:  # a full disk while drawing a figure or a grid: one line, with the free space
        if error.errno not in OUT_OF_SPACE:
            raise
        raise write_error(Path(error.filename or out), error) from error
    if paths.comparison_table:
        print(paths.comparison_table)
        print()
    if paths.claims_table:
        print(paths.claims_table)
        print()
    if paths.human_table:
        print(paths.human_table)
        print()
    print(f"leaderboard: {paths.html}")
    print(f"leaderboard (CSV): {paths.csv}")
    if paths.grids:
        print(f"image grids: {len(paths.grids)} in {next(iter(paths.grids.values())).parent}")
    for label, path in (("human ratings (CSV)", paths.human_csv), ("LaTeX table", paths.tex),
                        ("comparison (CSV)", paths.comparison_csv), ("claims (CSV)", paths.claims_csv),
                        ("screenshot", paths.screenshot), ("timing (CSV)", paths.timing_csv)):
        if path is not None:
            print(f"{label}: {path}")
    for table in paths.timing_tables:
        print(table)
    for note in paths.notes:
        print(f"actionbench: note: {note}", file=sys.stderr)
    return 0
