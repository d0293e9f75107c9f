"""Who may import whom (docs/architecture.md, "Layers"), read from the source with ``ast``.

perception is below metrics and methods and names neither them nor any world; a method never
scores, so it imports no metric; the core reaches methods and metrics only through their registries
and interfaces; reports read the run store only. A rule broken here is a cycle or a hidden coupling
that the import order happens to hide today.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Where each installed package's source lives (pyproject.toml's package-dir).
SOURCES = {"actionbench": "actionbench", "actionbench.methods": "methods", "actionbench.metrics": "metrics",
           "actionbench.perception": "perception", "actionbench.reports": "reports"}
METRICS, METHODS = "actionbench.metrics", "actionbench.methods"
MINI, REPORTS = "actionbench.mini", "actionbench.reports"
# The registry and the interface of a plug-in layer: what the core may import of it.
INTERFACES = {METRICS, f"{METRICS}.base", METHODS, f"{METHODS}.base"}
# Imports of a metric module by the core that are the rule's documented exceptions, with why.
CORE_EXCEPTIONS = {
    # the judge's own command: the leave-one-out validation is the judge's public API
    ("actionbench.cli.validate_judge", f"{METRICS}.judge_validation"),
}
# The mini world's modules that measure the suite's metrics on the world (its quality bars and its truth).
MINI_MEASURES_METRICS = {f"{MINI}.quality", f"{MINI}.truth"}
TARGET = re.compile(r"actionbench(\.\w+)+(:\w+)?")  # a lazy registry target written as a string


def modules() -> dict[str, Path]:
    """Every module of the installed packages, by dotted name."""
    found = {}
    for package, folder in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = modules()


def imports(module: str) -> set[str]:
    """The modules ``module`` imports (at the top, in functions, under TYPE_CHECKING alike)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


def named_targets(module: str) -> set[str]:
    """Modules named in strings as lazy targets (``"actionbench.mini.clip"``, ``"pkg.mod:attr"``)."""
    tree = ast.parse(MODULES[module].read_text())
    return {node.value.partition(":")[0] for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.fullmatch(node.value)}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layer(prefix: str) -> list[str]:
    return [m for m in MODULES if within(m, prefix)]


def core() -> list[str]:
    """``actionbench`` itself, without the mini world (a world, not the core)."""
    return [m for m in layer("actionbench") if not any(within(m, p) for p in (*SOURCES.keys() - {"actionbench"}, MINI))]


def test_the_layers_are_found():
    assert {"actionbench.perception", "actionbench.perception.clip_models", "actionbench.perception.pose_backends",
            "actionbench.perception.hand_backends", "actionbench.perception.settings"} <= set(MODULES)
    assert "actionbench.config" in core() and "actionbench.cli.score" in core() and f"{MINI}.clip" not in core()
    # the exceptions name modules that exist and still need them (an exception never outlives its reason)
    assert all(name in imports(module) for module, name in CORE_EXCEPTIONS)
    assert all(any(within(name, METRICS) for name in imports(module)) for module in MINI_MEASURES_METRICS)
    # the reader sees imports at the top and inside functions, and lazy targets written as strings
    assert imports("actionbench.mini.clip") >= {"actionbench.perception", "actionbench.perception.clip_models"}
    assert f"{METRICS}.judge_validation" in imports("actionbench.cli.validate_judge")
    assert named_targets("actionbench.mini") == {"actionbench.mini.clip", "actionbench.mini.keypoints"}


@pytest.mark.parametrize("module", layer("actionbench.perception"))
def test_perception_imports_no_metric_method_world_or_report(module):
    """Metrics, methods and worlds register into perception; it never reaches back (no cycle)."""
    bad = sorted(name for name in imports(module) | named_targets(module)
                 if any(within(name, p) for p in (METRICS, METHODS, MINI, REPORTS)))
    assert bad == [], f"{module} names {bad}"


@pytest.mark.parametrize("module", layer(METHODS))
def test_methods_import_no_metric(module):
    bad = sorted(name for name in imports(module) if within(name, METRICS))
    assert bad == [], f"{module} imports {bad}: a method reads images through actionbench.perception"


@pytest.mark.parametrize("module", core())
def test_the_core_reaches_methods_and_metrics_only_through_registries_and_interfaces(module):
    bad = sorted(name for name in imports(module)
                 if (within(name, METRICS) or within(name, METHODS)) and name not in INTERFACES
                 and (module, name) not in CORE_EXCEPTIONS)
    assert bad == [], f"{module} imports {bad}: use the registry (METRICS, METHODS) and the base interface"


@pytest.mark.parametrize("module", layer(REPORTS))
def test_reports_import_no_metric_or_method(module):
    bad = sorted(name for name in imports(module) if within(name, METRICS) or within(name, METHODS))
    assert bad == [], f"{module} imports {bad}: reports read the run store (scores.json declares the scores)"


@pytest.mark.parametrize("module", [m for m in layer(MINI) if m not in MINI_MEASURES_METRICS])
def test_the_mini_world_imports_metrics_only_where_it_measures_them(module):
    bad = sorted(name for name in imports(module) if within(name, METRICS))
    assert bad == [], f"{module} imports {bad}: the world's models register into actionbench.perception"


def test_the_rules_catch_what_they_forbid(tmp_path, monkeypatch):
    """A perception module that names the mini world, and a method that imports a metric, are caught."""
    offender = tmp_path / "offender.py"
    offender.write_text('from actionbench.metrics.features import open_images\n'
                        'X.lazy("mini", "actionbench.mini.clip", "...")\n')
    monkeypatch.setitem(MODULES, "actionbench.perception.offender", offender)
    monkeypatch.setitem(MODULES, "actionbench.methods.offender", offender)
    with pytest.raises(AssertionError, match=r"names \['actionbench.metrics.features', 'actionbench.mini.clip'\]"):
        test_perception_imports_no_metric_method_world_or_report("actionbench.perception.offender")
    with pytest.raises(AssertionError, match="imports"):
        test_methods_import_no_metric("actionbench.methods.offender")
