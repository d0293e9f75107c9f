"""``actionbench list``: what can be run, with one line each."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("list", help="list methods, actions, metrics, benchmarks or base models")
    parser.add_argument("what", choices=["methods", "actions", "metrics", "benchmarks", "base-models", "executors"])
    parser.add_argument("--benchmark", default="mini", help="for 'actions': the benchmark (default: mini)")
    parser.set_defaults(func=main)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] if rows else []
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


def main(args: argparse.Namespace) -> int:
    if args.what == "actions":
        from actionbench.data import get_benchmark

        benchmark = get_benchmark(args.benchmark)
        print(f"benchmark {benchmark.name} (version {benchmark.version})")
        _print_table([(a.name, f"{len(a.exemplars)} exemplars", a.source, a.description)
                      for a in benchmark.actions.values()])
        return 0
    registry = _registry(args.what)
    _print_table([(name, description) for name, description in registry.describe()])
    return 0


def _registry(what: str):
    if what == "methods":
        from actionbench.methods import METHODS as registry
    elif what == "metrics":
        from actionbench.metrics import METRICS as registry
    elif what == "benchmarks":
        from actionbench.data import BENCHMARKS as registry
    elif what == "executors":
        from actionbench.executors import EXECUTORS as registry
    else:
        from actionbench.base_models import BASE_MODELS as registry
    return registry
