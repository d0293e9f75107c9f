"""``actionbench list``: what can be run, with one line each."""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any

from actionbench.errors import ActionBenchError

if TYPE_CHECKING:
    from actionbench.registry import Registry


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("list", help="list methods, actions, metrics, benchmarks or base models")
    parser.add_argument("what", choices=["methods", "actions", "metrics", "benchmarks", "base-models", "executors"])
    parser.add_argument("--benchmark", help="for 'actions': the benchmark (default: mini)")
    parser.set_defaults(func=main)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] if rows else []
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


def main(args: argparse.Namespace) -> int:
    if args.what == "actions":
        from actionbench.data import get_benchmark

        benchmark = get_benchmark(args.benchmark or "mini")
        print(f"benchmark {benchmark.name} (version {benchmark.version})")
        _print_table([(a.name, f"{len(a.exemplars)} exemplars", a.source, a.description)
                      for a in benchmark.actions.values()])
        return 0
    if args.benchmark is not None:  # every benchmark has the same methods, metrics, ...: said, not ignored
        raise ActionBenchError(f"--benchmark applies to 'list actions', not to 'list {args.what}'",
                               "leave --benchmark out")
    registry = _registry(args.what)
    _print_table([(name, description) for name, description in registry.describe()])
    return 0


# Each listable registry by the word that names it: imported only when asked for.
REGISTRIES = {
    "methods": "actionbench.methods:METHODS",
    "metrics": "actionbench.metrics:METRICS",
    "benchmarks": "actionbench.data:BENCHMARKS",
    "executors": "actionbench.executors:EXECUTORS",
    "base-models": "actionbench.base_models:BASE_MODELS",
}


def _registry(what: str) -> Registry[Any]:
    module, _, name = REGISTRIES[what].partition(":")
    return getattr(importlib.import_module(module), name)
