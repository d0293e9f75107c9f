"""``actionbench check``: fail (exit 1) when a run falls below a committed baseline board."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("check", help="compare a run with a baseline leaderboard.csv (for CI)")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--baseline", required=True, help="a leaderboard.csv, optionally with a tolerance column")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="allowed shortfall where the baseline gives none (default: 0)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from actionbench.reports.check import check, check_benchmark, read_baseline
    from actionbench.reports.leaderboard import leaderboard
    from actionbench.reports.load import load_runs

    check_tolerance(args.tolerance)
    baseline = read_baseline(Path(args.baseline))
    data = load_runs([Path(args.run_dir)])
    check_benchmark(baseline, Path(args.baseline), Path(args.run_dir), data.benchmark_label)
    rows = check(leaderboard(data), baseline, args.tolerance)
    failed = [r for r in rows if not r.passed]
    for row in rows:
        status = "ok  " if row.passed else "FAIL"
        print(f"{status} {row.method:<20} {row.action:<12} {row.score:<22} now {row.current:.4f}  "
              f"baseline {row.baseline:.4f}  tolerance {row.tolerance:.4f}" + (f"  ({row.note})" if row.note else ""))
    if data.unfinished:  # overall rows over fewer actions than the baseline's cannot pass for them
        print(f"FAIL the run is not finished: {data.unfinished_note()}")
    print(f"{len(rows) - len(failed)} passed, {len(failed) + bool(data.unfinished)} failed")
    return 1 if failed or data.unfinished else 0


def check_tolerance(tolerance: float) -> None:
    """--tolerance must be a finite shortfall >= 0: a NaN or infinite one would pass every score."""
    from actionbench.errors import ActionBenchError

    if tolerance < 0:
        raise ActionBenchError(f"--tolerance is {tolerance}", "give a shortfall >= 0, e.g. --tolerance 0.02")
    if not math.isfinite(tolerance):
        raise ActionBenchError(f"--tolerance is {tolerance}", "give a finite shortfall >= 0, e.g. --tolerance 0.02")
