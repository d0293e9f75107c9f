"""``actionbench rate``: a blinded rating page for a run's images; ratings as CSV in and out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from actionbench.csvcells import RAW_CSV_HELP

if TYPE_CHECKING:
    from actionbench.rating.csvio import Imported

DEFAULT_RUN = "runs/latest"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "rate", help="rate a run's images by hand in a local, blinded page (or import/export ratings as CSV)",
        description="Serve a page on 127.0.0.1 that shows the run's images one at a time, blinded (no method, "
                    "file name or score), beside the action's exemplars and the subject asked for; the rater "
                    "answers: is the action shown? is the subject shown? Answers are saved as they are given in "
                    "RUN_DIR/ratings/ and 'actionbench report' shows them beside the judge's numbers. "
                    "See docs/ratings.md.")
    parser.add_argument("run_dir", nargs="?", default=DEFAULT_RUN, metavar="RUN_DIR",
                        help=f"the run directory (default: {DEFAULT_RUN})")
    parser.add_argument("--rater", help="who rates (put in the page's address; without it the page asks); "
                                        "with --import: the rater of a file without a rater column")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, a free one)")
    parser.add_argument("--per-cell", dest="per_cell", type=int, metavar="K",
                        help="rate K images per method x action x subject (default: every image); "
                             "fixed when the study is first drawn")
    parser.add_argument("--seed", type=int, help="seed of the sample and of each rater's order (default: 0); "
                                                 "fixed when the study is first drawn")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--export", metavar="CSV", help="write every rater's latest judgements to CSV and exit")
    mode.add_argument("--import", dest="import_csv", metavar="CSV",
                      help="add ratings from a CSV (image_id, rater, action_shown, subject_shown) and exit")
    mode.add_argument("--export-study", dest="export_study", metavar="FOLDER",
                      help="write the blinded study (items.csv, images, exemplars, a ratings.csv template) "
                           "for a spreadsheet or a crowd platform, and exit")
    parser.add_argument("--raw-csv", dest="raw_csv", action="store_true", help=RAW_CSV_HELP)
    parser.set_defaults(func=main)


def _existing_study(run_dir: Path):
    from actionbench.errors import ActionBenchError
    from actionbench.rating.study import load_study, ratings_dir

    study = load_study(run_dir)
    if study is None:
        raise ActionBenchError(f"{run_dir} has no rating study yet (no {ratings_dir(run_dir) / 'study.json'})",
                               f"rate with 'actionbench rate {run_dir}' or export one with --export-study FOLDER")
    return study


def main(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if args.export:
        from actionbench.rating.csvio import export_ratings

        written, stale = export_ratings(_existing_study(run_dir), Path(args.export), args.raw_csv)
        print(f"ratings (CSV): {args.export} ({written} judgements)")
        if stale:
            print(f"actionbench: note: {stale} judgement(s) of images no longer in the run were left out",
                  file=sys.stderr)
        return 0
    if args.import_csv:
        from actionbench.rating.csvio import ImportProblems, import_ratings

        try:
            imported = import_ratings(_existing_study(run_dir), Path(args.import_csv), args.rater)
        except ImportProblems as problems:
            for line in problems.lines:
                print(f"actionbench: {line}", file=sys.stderr)
            raise
        _print_import(imported, run_dir)
        return 0
    if args.export_study:
        from actionbench.rating.csvio import check_study_folder, export_study
        from actionbench.rating.study import open_study

        check_study_folder(Path(args.export_study))  # before the study is drawn
        study = open_study(run_dir, per_cell=args.per_cell, seed=args.seed)
        items = export_study(study, Path(args.export_study), args.raw_csv)
        print(f"study: {study.description}")
        print(f"items: {items}; fill in {items.with_name('ratings.csv')} and import it with --import")
        return 0
    return serve(run_dir, args)


def _print_import(imported: Imported, run_dir: Path) -> None:
    """How many rows were added and how many were there already (a file imported twice adds nothing)."""
    raters = len({j.rater for j in imported.added})
    print(f"imported {len(imported.added)} judgements by {raters} rater(s) into {run_dir / 'ratings'}; "
          f"{imported.already} already there")
    if imported.older:
        print(f"actionbench: note: {imported.older} imported judgement(s) are older than the rater's latest "
              f"judgement of that image, which still counts (the latest time wins)", file=sys.stderr)


def serve(run_dir: Path, args: argparse.Namespace) -> int:
    from actionbench.rating.server import RatingServer
    from actionbench.rating.store import check_rater

    rater = check_rater(args.rater) if args.rater else None
    server = RatingServer(run_dir, port=args.port, per_cell=args.per_cell, seed=args.seed)
    print(f"rating study: {server.study.description}; answers go to {run_dir / 'ratings'}")
    if rater:
        state = server.app.state(rater)
        print(f"rater {rater}: {state['done']} of {state['total']} rated")
    print(f"open: {server.url(rater)}" + ("" if rater else "  (the page asks for the rater's name)"))
    print("answers are saved as they are given; stop with Ctrl-C", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url(rater))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped; every answer given is saved", file=sys.stderr)
    finally:
        server.httpd.server_close()
    return 0
