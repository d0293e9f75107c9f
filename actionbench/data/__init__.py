"""Benchmarks and actions: the data side of the suite.

``BENCHMARKS`` maps a name to a loader returning a :class:`Benchmark`; a path to a benchmark folder
works wherever a name does. Actions added with ``actionbench data add-action`` join every benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from actionbench.data.folder import BENCHMARK_FILE, load_action, load_benchmark
from actionbench.data.model import Action, Benchmark, Exemplar, Protocol, Subject, fill_action
from actionbench.errors import ActionBenchError
from actionbench.paths import custom_actions_dir
from actionbench.registry import Registry

BENCHMARKS: Registry[Callable[[], Benchmark]] = Registry("benchmark")
BENCHMARKS.lazy("mini", "actionbench.mini.benchmark:load_mini_benchmark",
                "ActionBench-Mini: a rendered world with the same 8 actions, runs on a laptop CPU (default)")
BENCHMARKS.lazy("actionbench", "actionbench.data.official:load_official_benchmark",
                "the official ActionBench of the ADI paper (8 actions x 10 photos; data fetched or placed by you)")


def custom_actions() -> dict[str, Action]:
    root = custom_actions_dir()
    if not root.is_dir():
        return {}
    # Hidden folders are add-action's staging and replaced copies, never actions.
    return {p.name: load_action(p, source="custom") for p in sorted(root.iterdir())
            if not p.name.startswith(".") and (p / "action.toml").is_file()}


def folder_fix(path: Path) -> str:
    """What to do with a folder given as a benchmark that is not one: the official data is read in
    place through its own benchmark name, not as a folder."""
    from actionbench.data.official import DATA_ENV, looks_like_official

    if looks_like_official(path):
        return f"it holds the official ActionBench: set {DATA_ENV}={path.resolve()} and pass --benchmark actionbench"
    return f"give a folder holding {BENCHMARK_FILE} (docs/data-format.md), or one of {', '.join(BENCHMARKS.names())}"


def get_benchmark(name_or_path: str, with_custom: bool = True) -> Benchmark:
    """Load a registered benchmark by name, or a benchmark folder by path; add the custom actions."""
    path = Path(name_or_path)
    if (path / BENCHMARK_FILE).is_file():
        benchmark = load_benchmark(path)
    elif name_or_path in BENCHMARKS.names():
        benchmark = BENCHMARKS.get(name_or_path)()
    elif path.is_dir():
        raise ActionBenchError(f"--benchmark {name_or_path} is a folder without {BENCHMARK_FILE}", folder_fix(path))
    else:
        raise ActionBenchError(
            f"unknown benchmark '{name_or_path}'",
            f"choose one of {', '.join(BENCHMARKS.names())}, or a folder holding {BENCHMARK_FILE}")
    if not with_custom:
        return benchmark
    extra = custom_actions()
    clash = sorted(name for name in extra if name.lower() in {a.lower() for a in benchmark.actions})
    if clash:
        raise ActionBenchError(f"custom action(s) {', '.join(clash)} clash with {benchmark.name}'s actions",
                               f"rename them under {custom_actions_dir()}")
    return benchmark.with_actions(extra)


def resolve_actions(benchmark: Benchmark, spec: str | list[str]) -> list[Action]:
    """The named actions (case-insensitively: ``CHEER`` is ``cheer``), or with ``all`` every action the
    benchmark's scorers were made for (:mod:`.domains`: an action of another domain is refused by name,
    and left out of ``all``)."""
    from actionbench.data.domains import check_domain, fits

    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if [n.lower() for n in names] == ["all"]:
        return [a for a in benchmark.actions.values() if fits(benchmark, a)]
    if not names:
        raise ActionBenchError("no action given", "name at least one action, or 'all'")
    by_lower = {name.lower(): name for name in benchmark.actions}
    missing = [n for n in names if n.lower() not in by_lower]
    if missing:
        raise ActionBenchError(f"unknown action '{missing[0]}' in benchmark {benchmark.name}",
                               f"choose one of {', '.join(sorted(benchmark.actions))}, or 'all'")
    chosen = [benchmark.actions[name] for name in dict.fromkeys(by_lower[n.lower()] for n in names)]
    for action in chosen:
        check_domain(benchmark, action)
    return chosen


__all__ = ["Action", "Benchmark", "Exemplar", "Protocol", "Subject", "BENCHMARKS", "get_benchmark",
           "resolve_actions", "custom_actions", "fill_action"]
