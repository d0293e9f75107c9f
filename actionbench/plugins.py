"""Plugins: modules or ``.py`` files that register extra methods or metrics when imported.

The driver loads them from ``--plugins`` (or ``$ACTIONBENCH_PLUGINS``); every plugin loaded in a
process is remembered, so executors can load the same plugins in their workers before they build
the plan (a worker in another process or on another machine starts with the built-ins only).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.fileio import stable_hash

_LOADED: list[str] = []  # specs loaded in this process, files as absolute paths, in load order


def load_plugins(specs: list[str] | tuple[str, ...]) -> None:
    """Import plugin modules (a dotted name or a ``.py`` file) so their registrations take effect."""
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        if spec.endswith(".py"):
            path = Path(spec).expanduser().resolve()
            _load_file(spec, path)
            _remember(str(path))
        else:
            try:
                importlib.import_module(spec)
            except ImportError as error:
                raise ActionBenchError(f"plugin '{spec}' cannot be imported ({error})",
                                       "check the module name given to --plugins") from error
            _remember(spec)


def loaded_plugins() -> tuple[str, ...]:
    """Every plugin loaded in this process, as specs another process can load (absolute file paths)."""
    return tuple(_LOADED)


def _load_file(spec: str, path: Path) -> None:
    # The module name depends only on the path, so every process gives a plugin the same name
    # (objects defined in it pickle by reference) and a second load is a no-op.
    name = f"actionbench_plugin_{path.stem}_{stable_hash(str(path), 10)}"
    if name in sys.modules:
        return
    if not path.is_file():
        raise ActionBenchError(f"plugin file {spec} not found", "check the path given to --plugins")
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ActionBenchError(f"plugin file {spec} cannot be loaded", "give a Python file ending in .py")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except ImportError as error:
        del sys.modules[name]
        raise ActionBenchError(f"plugin '{spec}' cannot be imported ({error})",
                               "check the module name given to --plugins") from error
    except BaseException:
        del sys.modules[name]
        raise


def _remember(spec: str) -> None:
    if spec not in _LOADED:
        _LOADED.append(spec)
