"""Registries: methods, metrics, benchmarks and base models are found by name.

Modelled on lm-evaluation-harness' ``lm_eval/api/registry.py``: an entry is either registered with
a decorator when its module is imported, or declared lazily as ``"module:attribute"`` so that
``actionbench list`` and name checks never import torch or diffusers. Third-party packages add
entries through the entry-point group ``actionbench.<kind>s`` (for example ``actionbench.methods``).
Every name, built-in or from a plugin, passes :func:`actionbench.names.check_name` when it is
registered: method names become folders of every run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from actionbench.errors import ActionBenchError, unknown_name
from actionbench.names import check_name

T = TypeVar("T")


@dataclass
class Entry:
    name: str
    description: str
    target: str | None = None  # "module:attribute", imported on first use
    obj: Any = None

    def load(self) -> Any:
        """Import the target; a module registers its entries with the decorator as it is imported."""
        if self.obj is None:
            assert self.target is not None  # an entry holds its object or the target to import it from
            module_name, _, attribute = self.target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                raise ActionBenchError(
                    f"'{self.name}' needs a package that is not installed ({error.name})",
                    "install the project with its dependencies: pip install -e .",
                ) from error
            if self.obj is None and attribute:
                self.obj = getattr(module, attribute)
            if self.obj is None:
                raise RuntimeError(f"{module_name} was imported but did not register '{self.name}'")
        return self.obj


@dataclass
class Registry(Generic[T]):
    """Named entries of one kind ("method", "metric", ...)."""

    kind: str
    entries: dict[str, Entry] = field(default_factory=dict)
    _plugins_loaded: bool = False

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator: ``@METHODS.register("adi", "one line")`` on a class or factory."""

        def decorate(obj: T) -> T:
            text = description or _first_line(getattr(obj, "__doc__", None))
            existing = self.entries.get(name)
            if existing is None:
                self._check_new(name, f"the registration of {getattr(obj, '__qualname__', obj)!r}")
                self.entries[name] = Entry(name, text, None, obj)
            elif existing.obj is not None and existing.obj is not obj:
                raise ActionBenchError(f"{self.kind} '{name}' is registered twice", "rename one of them")
            else:  # a lazy declaration being fulfilled by its module
                existing.obj = obj
            return obj

        return decorate

    def lazy(self, name: str, target: str, description: str) -> None:
        """Declare an entry imported only when used: ``"module"`` (which registers ``name`` with the
        decorator) or ``"module:attribute"``."""
        if name not in self.entries:
            self._check_new(name, f"the declaration of {target}")
            self.entries[name] = Entry(name, description, target)

    def _check_new(self, name: str, where: str) -> None:
        """A new name is a plain name and differs from every registered one by more than case."""
        check_name(self.kind, name, where)
        clash = next((other for other in self.entries if other.lower() == name.lower()), None)
        if clash is not None:
            raise ActionBenchError(f"the {self.kind}s '{clash}' and '{name}' differ only by case",
                                   f"rename one of them ({self.kind} names compare case-insensitively)")

    def get(self, name: str) -> T:
        self._load_plugins()
        entry = self.entries.get(name)
        if entry is None:
            raise unknown_name(self.kind, name, list(self.entries))
        return entry.load()

    def names(self) -> list[str]:
        self._load_plugins()
        return list(self.entries)

    def describe(self) -> list[tuple[str, str]]:
        self._load_plugins()
        return [(entry.name, entry.description) for entry in self.entries.values()]

    def resolve(self, spec: str | list[str]) -> list[str]:
        """Turn ``"a,b"``, ``"all"`` or a list into validated names, in the order given."""
        names = spec.split(",") if isinstance(spec, str) else list(spec)
        names = [n.strip() for n in names if n.strip()]
        if names == ["all"]:
            return self.names()
        valid = self.names()
        for name in names:
            if name not in valid:
                raise unknown_name(self.kind, name, valid)
        if not names:
            raise ActionBenchError(f"no {self.kind} given", "name at least one, or 'all'")
        return list(dict.fromkeys(names))

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        group = f"actionbench.{self.kind}s"
        for point in metadata.entry_points(group=group):
            if point.name not in self.entries:
                self._check_new(point.name, f"entry point group {group} ({point.value})")
                self.entries[point.name] = Entry(point.name, f"plugin ({point.value})", point.value)
        self._plugins_loaded = True


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if (doc or "").strip() else ""
