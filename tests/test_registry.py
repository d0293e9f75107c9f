import pytest

from actionbench.errors import ActionBenchError
from actionbench.registry import Registry


def test_decorator_registers_and_describes():
    registry = Registry("widget")

    @registry.register("spinner")
    class Spinner:
        """Spins once."""

    assert registry.get("spinner") is Spinner
    assert registry.describe() == [("spinner", "Spins once.")]


def test_unknown_name_lists_the_valid_ones():
    registry = Registry("widget")
    registry.register("b", "")(object)
    registry.register("a", "")(int)
    with pytest.raises(ActionBenchError) as error:
        registry.get("zzz")
    assert str(error.value) == "unknown widget 'zzz': choose one of a, b."


def test_lazy_entry_imports_only_when_used(tmp_path, monkeypatch):
    module = tmp_path / "lazy_widget_module.py"
    module.write_text("from test_registry import LAZY\n@LAZY.register('late')\nclass Late:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    LAZY.lazy("late", "lazy_widget_module", "declared before import")
    import sys

    assert "lazy_widget_module" not in sys.modules
    assert LAZY.describe() == [("late", "declared before import")]
    assert LAZY.get("late").__name__ == "Late"


LAZY = Registry("lazy widget")


def test_resolve_all_and_lists():
    registry = Registry("widget")
    for name in ("x", "y", "z"):
        registry.register(name, "")(type(name, (), {}))
    assert registry.resolve("all") == ["x", "y", "z"]
    assert registry.resolve("z, x,z") == ["z", "x"]
    with pytest.raises(ActionBenchError, match="unknown widget 'w': choose one of x, y, z"):
        registry.resolve("x,w")
    with pytest.raises(ActionBenchError, match="no widget given"):
        registry.resolve(" , ")


def test_registering_a_different_object_twice_is_refused():
    registry = Registry("widget")
    registry.register("one", "")(int)
    with pytest.raises(ActionBenchError, match="widget 'one' is registered twice"):
        registry.register("one", "")(float)


def test_builtin_registries_list_without_importing_torch_models():
    from actionbench.methods import METHODS
    from actionbench.metrics import METRICS

    assert {"text", "plain"} <= set(METHODS.names())
    assert all(description for _, description in METHODS.describe())
    assert all(description for _, description in METRICS.describe())
