"""Registries: methods, metrics, benchmarks and base models are found by name.

Modelled on lm-evaluation-harness' ``lm_eval/api/registry.py``: an entry is either registered with
a decorator when its module is imported, or declared lazily as ``"module:attribute"`` so that
``actionbench list`` and name checks never import torch or diffusers. Third-party packages add
entries through the entry-point group ``actionbench.<kind>s`` (for example ``actionbench.methods``).
Every name, built-in or from a plugin, passes :func:`actionbench.names.check_name` when it is
registered: method names become folders of every run. A registry may name its base class
(``"module:Class"``, imported only when something registers): what is registered must subclass it.
A *variant* is data, declared in one line: a name, the entry it derives from and the settings it
fixes (``METHODS.variant("adi-no-mask", parent="adi", fixes={...}, description=...)``); it is built
on first use, and its fixed settings must be fields of the parent's config.
"""

from __future__ import annotations

import copy
import dataclasses
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
    build: Callable[[], Any] | None = None  # a variant: made from its parent on first use

    def load(self) -> Any:
        """Import the target; a module registers its entries with the decorator as it is imported."""
        if self.obj is None and self.build is not None:
            self.obj = self.build()
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
    base: str | None = None  # "module:Class" every registered object must subclass (imported when checked)
    entries: dict[str, Entry] = field(default_factory=dict)
    _plugins_loaded: bool = False

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator: ``@METHODS.register("adi", "one line")`` on a class or factory."""

        def decorate(obj: T) -> T:
            existing = self.entries.get(name)
            if existing is None:  # the name first: it becomes a path; then what is registered under it
                self._check_new(name, f"the registration of {getattr(obj, '__qualname__', obj)!r}")
            self._check_base(name, obj)
            text = description or _first_line(getattr(obj, "__doc__", None))
            if existing is None:
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

    def variant(self, name: str, *, parent: str, fixes: dict[str, Any], description: str) -> None:
        """Declare ``name`` as ``parent`` with other defaults: a subclass whose config class fixes
        ``fixes``. Nothing is imported until the variant is used."""
        if not fixes:
            raise ActionBenchError(f"{self.kind} variant '{name}' fixes no setting",
                                   f"name the settings it changes in {parent}")
        self._check_new(name, f"the variant of {parent}")
        self.entries[name] = Entry(name, description, build=lambda: make_variant(name, parent, self.get(parent),
                                                                                 dict(fixes), description))

    def _check_base(self, name: str, obj: Any) -> None:
        """What is registered subclasses the registry's base (a method must be a ``Method``)."""
        if self.base is None:
            return
        module_name, _, attribute = self.base.partition(":")
        base = getattr(importlib.import_module(module_name), attribute)
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise ActionBenchError(f"{self.kind} '{name}' is {getattr(obj, '__qualname__', repr(obj))}, "
                                   f"not a subclass of {base.__name__}",
                                   f"derive it from {module_name}.{base.__name__}")

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
        obj = entry.load()
        if entry.target and ":" in entry.target:  # "module:attribute" entries skip the decorator's check
            self._check_base(name, obj)
        return obj

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


def make_variant(name: str, parent_name: str, parent: Any, fixes: dict[str, Any], description: str) -> Any:
    """``parent`` with its config's defaults replaced by ``fixes``, under the name ``name``.

    The variant is an ordinary subclass (so ``isinstance`` and every override still hold) whose
    ``config_cls`` is a dataclass subclass of the parent's with the fixed fields' new defaults; a
    user may still set them, exactly as for the parent's own defaults.
    """
    import typing

    config_cls = parent.config_cls
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = [key for key in fixes if key not in fields]
    if unknown:
        raise ActionBenchError(f"variant '{name}' fixes '{unknown[0]}', which is not a setting of {parent_name}",
                               f"fix one of {parent_name}'s settings ({config_cls.__name__})")
    hints = typing.get_type_hints(config_cls)

    def default(value: Any) -> Any:  # lists and dicts: a fresh copy per config, as default_factory does
        if isinstance(value, (list, dict, set)):
            return field(default_factory=lambda: copy.deepcopy(value))
        return field(default=value)

    stem = "".join(part.capitalize() for part in name.replace("_", "-").split("-"))
    variant_config = dataclasses.make_dataclass(
        f"{stem}Config", [(key, hints[key], default(value)) for key, value in fixes.items()], bases=(config_cls,))
    variant_config.__module__ = config_cls.__module__
    variant_config.__doc__ = f"{parent_name}'s settings with {', '.join(f'{k}={v!r}' for k, v in fixes.items())}."
    return type(stem, (parent,), {"name": name, "config_cls": variant_config, "variant_of": parent_name,
                                  "fixes": dict(fixes), "__doc__": description, "__module__": parent.__module__})


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if (doc or "").strip() else ""
