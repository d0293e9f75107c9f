"""Make ActionBench-Mini's CI baseline: ``tests/data/mini-ci-baseline.csv``.

    python benchmarks/mini_ci_baseline.py [--seeds 0,1,2,3,4] [--out runs/mini-ci-baseline]

Runs the CI configuration (``tests/data/mini-ci.toml``) once per training seed (every method's
``seed`` setting; the protocol's sampling seeds stay those of the config), prints each run's wall
time, and writes one baseline row per (method, action, score) of the board: the mean over the
seeds and a tolerance of ``max(3 x standard deviation over the seeds, floor)``, so that CI fails on a
regression larger than seed noise and not on the noise itself. Rows whose score is undefined (NaN)
in any run are left out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from actionbench.csvcells import frame_csv
from actionbench.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "mini-ci.toml"
BASELINE = ROOT / "tests" / "data" / "mini-ci-baseline.csv"
TOLERANCE_FLOOR = 0.02


def run_seed(seed: int, out: Path) -> pd.DataFrame:
    from actionbench.config import RunConfig, from_dict, read_config_file
    from actionbench.reports.leaderboard import leaderboard
    from actionbench.reports.load import load_runs
    from actionbench.runner import run

    settings = read_config_file(CONFIG)
    settings["out"] = str(out)
    for method in settings["methods"]:
        settings.setdefault("method_settings", {}).setdefault(method, {})["seed"] = seed
    summary = run(from_dict(RunConfig, settings, "the CI configuration"))
    if summary.failures:
        raise SystemExit(f"seed {seed}: units failed: {summary.failures}")
    return leaderboard(load_runs([out]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", default="runs/mini-ci-baseline")
    parser.add_argument("--baseline", default=str(BASELINE))
    args = parser.parse_args(argv)
    boards = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        started = time.perf_counter()
        board = run_seed(seed, Path(args.out) / f"seed-{seed}")
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s")
        boards.append(board.assign(seed=seed))
    every = pd.concat(boards)
    keys = ["method", "action", "score"]
    grouped = every.groupby(keys)
    table = grouped.agg(mean=("mean", "mean"), std=("mean", "std"), runs=("mean", "count"),
                        higher_is_better=("higher_is_better", "first")).reset_index()
    table = table[(table["runs"] == len(boards)) & np.isfinite(table["mean"]) & grouped["mean"].apply(
        lambda v: bool(np.isfinite(v).all())).to_numpy()]
    table["tolerance"] = np.maximum(3 * table["std"].fillna(0.0), TOLERANCE_FLOOR)
    table = table[keys + ["mean", "tolerance", "std", "runs", "higher_is_better"]]
    atomic_write_text(Path(args.baseline), frame_csv(table, float_format="%.4f"))  # check reads it back
    print(f"baseline: {args.baseline} ({len(table)} rows)")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
