"""Units per second with 1 and 2 workers on the tiny pipeline, and the scaling ratio.

A unit is one method on one action taken through train, generate and score. Every configuration
runs the same plan into a fresh run directory; the time is the whole ``run()`` call, worker start-up
included (a user pays it too). 1 worker is the default in-process executor.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/executor_scaling.py                 # local, CPU
    python benchmarks/executor_scaling.py --executors local,ray --device cuda          # on a GPU node

With ``--device cuda`` (or auto on a GPU machine) each local worker is pinned to one GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fixture benchmark writer and the dummy metric plugin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", default="local", help="comma-separated: local, ray")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default: 1,2)")
    parser.add_argument("--methods", default="text,plain")
    parser.add_argument("--seeds", type=int, default=6, help="seeds per subject (images per unit = 2 x seeds)")
    parser.add_argument("--steps", type=int, default=10, help="sampling steps per image")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration; the best is kept")
    args = parser.parse_args()

    from fixtures import write_benchmark

    from actionbench.base_models import build_tiny_pipeline
    from actionbench.config import RunConfig
    from actionbench.plugins import load_plugins
    from actionbench.runner import run

    load_plugins([str(ROOT / "tests" / "plugins" / "dummy_metric.py")])
    build_tiny_pipeline()
    scratch = Path(tempfile.mkdtemp(prefix="executor-scaling-"))
    benchmark = write_benchmark(scratch / "benchmark", seeds=tuple(range(args.seeds)), steps=args.steps)

    def timed(executor: str, workers: int, name: str) -> tuple[int, float]:
        config = RunConfig(methods=args.methods.split(","), actions=["all"], benchmark=str(benchmark),
                           metrics=["brightness"], out=str(scratch / name), device=args.device,
                           executor=executor, workers=workers,
                           executor_settings={"ray": {"num_cpus": workers}} if executor == "ray" else {})
        started = time.perf_counter()
        summary = run(config)
        seconds = time.perf_counter() - started
        if summary.failures:
            raise SystemExit(f"{name}: {summary.failures}")
        return len(summary.units), seconds

    timed("local", 1, "warm-up")  # builds caches and imports, so the first timed run is not penalised
    rows = []
    for executor in args.executors.split(","):
        baseline = None
        for workers in (int(w) for w in args.workers.split(",")):
            best = min((timed(executor, workers, f"{executor}-{workers}-{r}") for r in range(args.repeats)),
                       key=lambda result: result[1])
            units, seconds = best
            rate = units / seconds
            baseline = baseline or rate
            rows.append((executor, workers, units, seconds, rate, rate / baseline))

    print(f"\nexecutor scaling: tiny pipeline, {args.methods} x 2 actions, {2 * args.seeds} images per unit, "
          f"{args.steps} steps, device {args.device}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} cores")
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'executor':<9} {'workers':>7} {'units':>5} {'seconds':>8} {'units/s':>8} {'scaling':>8}")
    for executor, workers, units, seconds, rate, ratio in rows:
        print(f"{executor:<9} {workers:>7} {units:>5} {seconds:>8.1f} {rate:>8.3f} {ratio:>7.2f}x")


if __name__ == "__main__":
    main()
