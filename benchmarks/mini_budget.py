"""Time the mini world's jobs from a cold cache: seconds of each stage per method, and the total.

    OMP_NUM_THREADS=1 python benchmarks/mini_budget.py                  # the README's main job
    OMP_NUM_THREADS=1 python benchmarks/mini_budget.py --jobs main,all  # and every method, every action
    python benchmarks/mini_budget.py --quick                            # 1 action, 1 seed, 2 steps, no board
    python benchmarks/mini_budget.py --workers 2                        # the main job with 2 worker processes

Each job is the real ``actionbench run`` command in a fresh process with a fresh ``ACTIONBENCH_HOME``
and a fresh ``--out`` (cold cache: the mini exemplars are rendered, class images and ADI's
action-different samples made anew), so the wall time is what a user waits, start-up and the
leaderboard included. With ``--workers N`` the run gets ``--workers N``; stage seconds are then summed
over units that ran at the same time, so they add up to more than the wall time. The per-stage seconds come from the run's stage markers
(:mod:`actionbench.reports.timing`, the table ``run`` itself prints). Issue 21's targets on an idle
2-core machine: main job <= 5 minutes, ``all`` <= 20.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name -> the run's flags; the README's main command, and every method on every action
JOBS = {
    "main": ["--methods", "adi,dreambooth", "--actions", "all"],
    "all": ["--methods", "all", "--actions", "all"],
}
QUICK_FLAGS = ["--actions", "cheer", "--seeds", "0", "--no-report"]
QUICK_VALUES = {"steps": 2, "subject_lora_steps": 2, "num_class_images": 2, "action_different_per_exemplar": 1,
                "num_inference_steps": 2}
STAGE_COLUMNS = ("train", "generate", "score")


def quick_settings() -> list[str]:
    """``--set`` flags that shrink every registered method's budget (each only where its config has the field)."""
    from actionbench.methods import METHODS

    flags = []
    for name in METHODS.names():
        fields = {f.name for f in dataclasses.fields(METHODS.get(name).config_cls)}
        flags += [arg for field, value in QUICK_VALUES.items() if field in fields
                  for arg in ("--set", f"{name}.{field}={value}")]
    return flags


@dataclasses.dataclass(frozen=True)
class MethodTime:
    method: str
    seconds: dict[str, float]  # stage -> summed seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def method_times(run_dir: Path) -> list[MethodTime]:
    """Per method, the summed seconds of each stage (from the run's markers), in method order."""
    from actionbench.reports.timing import stage_times, timing_table

    table: dict[str, dict[str, float]] = {}
    for row in timing_table(stage_times(run_dir)):
        table.setdefault(row.method, dict.fromkeys(STAGE_COLUMNS, 0.0))[row.stage] = row.seconds
    return [MethodTime(method, seconds) for method, seconds in sorted(table.items())]


def format_budget(job: str, rows: list[MethodTime], wall: float) -> str:
    """One line per method: seconds per stage, the method's total and its share; then the totals."""
    stage_total = sum(r.total for r in rows)
    lines = [f"job {job}: seconds per stage and method (cold cache)",
             f"{'method':<24}" + "".join(f" {s:>9}" for s in STAGE_COLUMNS) + f" {'total':>9} {'share':>6}"]
    for r in rows:
        lines.append(f"{r.method:<24}" + "".join(f" {r.seconds[s]:>9.1f}" for s in STAGE_COLUMNS)
                     + f" {r.total:>9.1f} {100 * r.total / stage_total if stage_total else 0:>5.1f}%")
    lines.append(f"{'total':<24}" + "".join(f" {sum(r.seconds[s] for r in rows):>9.1f}" for s in STAGE_COLUMNS)
                 + f" {stage_total:>9.1f} {100.0:>5.1f}%")
    if wall >= stage_total:
        lines.append(f"wall time {wall:.1f} s ({wall / 60:.1f} min); outside the stages (start-up, planning, "
                     f"exemplar rendering, leaderboard): {wall - stage_total:.1f} s")
    else:  # worker processes ran stages side by side: their seconds add up past the wall time
        lines.append(f"wall time {wall:.1f} s ({wall / 60:.1f} min); the stage seconds add up over worker "
                     f"processes running side by side ({stage_total / wall:.2f} stage-seconds per second)")
    return "\n".join(lines)


def run_job(job: str, scratch: Path, quick: bool, workers: int = 1) -> tuple[list[MethodTime], float]:
    home, out = scratch / job / "home", scratch / job / "run"
    args = [sys.executable, "-m", "actionbench", "run", *JOBS[job], "--out", str(out), "--workers", str(workers)]
    if quick:
        args += QUICK_FLAGS + quick_settings()
    env = {**os.environ, "ACTIONBENCH_HOME": str(home)}
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"job {job} failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return method_times(out), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="main", help=f"comma-separated: {', '.join(JOBS)} (default: main)")
    parser.add_argument("--quick", action="store_true",
                        help="1 action, 1 seed, 2 training and sampling steps, no leaderboard: checks the table, not the budget")
    parser.add_argument("--workers", type=int, default=1, help="the run's --workers (default: 1, in process)")
    parser.add_argument("--keep", metavar="DIR", help="keep the runs in DIR (default: a temporary folder, removed)")
    args = parser.parse_args()
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = [j for j in jobs if j not in JOBS]
    if unknown or not jobs:
        parser.error(f"unknown job(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(JOBS)}")
    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mini-budget-"))
    print(f"mini budget{' (--quick)' if args.quick else ''}: {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {args.workers} worker(s), "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    try:
        for job in jobs:
            for existing in (scratch / job).glob("*"):  # a kept folder from before: start cold again
                shutil.rmtree(existing)
            rows, wall = run_job(job, scratch, args.quick, args.workers)
            print()
            print(format_budget(job, rows, wall))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
