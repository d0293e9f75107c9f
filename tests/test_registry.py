import dataclasses

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


# -- a typed registry and variants as data ------------------------------------------------------


@dataclasses.dataclass
class WidgetConfig:
    speed: int = 1
    colours: list = dataclasses.field(default_factory=lambda: ["red"])


class Widget:
    """The base class of the typed test registry."""

    name = "widget"
    config_cls = WidgetConfig


def typed_registry() -> Registry:
    registry = Registry("widget", base="test_registry:Widget")

    @registry.register("spinner")
    class Spinner(Widget):
        """Spins."""

        name = "spinner"

    return registry


def test_a_typed_registry_refuses_what_does_not_subclass_its_base():
    registry = typed_registry()
    with pytest.raises(ActionBenchError) as error:
        registry.register("teapot", "")(dict)
    assert str(error.value) == ("widget 'teapot' is dict, not a subclass of Widget: "
                                "derive it from test_registry.Widget.")


def test_a_variant_is_its_parent_with_other_defaults_and_built_on_first_use():
    registry = typed_registry()
    registry.variant("spinner-fast", parent="spinner", fixes={"speed": 9, "colours": ["blue"]},
                     description="spinner, but fast")
    assert registry.describe()[-1] == ("spinner-fast", "spinner, but fast")
    assert registry.entries["spinner-fast"].obj is None  # nothing built until used
    fast = registry.get("spinner-fast")
    assert issubclass(fast, registry.get("spinner")) and fast.name == "spinner-fast"
    assert (fast.config_cls().speed, fast.config_cls().colours) == (9, ["blue"])
    assert fast.config_cls().colours is not fast.config_cls().colours  # a fresh list per config
    assert fast.config_cls(speed=2).speed == 2  # still a setting the user may change
    assert registry.get("spinner").config_cls().speed == 1  # the parent is untouched


def test_a_variant_may_fix_only_its_parents_settings():
    registry = typed_registry()
    registry.variant("spinner-odd", parent="spinner", fixes={"sped": 9}, description="a typo")
    with pytest.raises(ActionBenchError) as error:
        registry.get("spinner-odd")
    assert str(error.value) == ("variant 'spinner-odd' fixes 'sped', which is not a setting of spinner: "
                                "fix one of spinner's settings (WidgetConfig).")
    with pytest.raises(ActionBenchError) as error:
        registry.variant("spinner-same", parent="spinner", fixes={}, description="nothing")
    assert str(error.value) == "widget variant 'spinner-same' fixes no setting: name the settings it changes in spinner."


def test_the_adi_ablations_are_variants_of_adi():
    from actionbench.methods import METHODS
    from actionbench.methods.adi import ADIMethod
    from actionbench.methods.base import Method

    no_mask = METHODS.get("adi-no-mask")
    assert issubclass(no_mask, ADIMethod) and no_mask.name == "adi-no-mask"
    config = no_mask.config_cls()
    assert (config.context_mask, config.action_mask, config.beta) == (False, False, 0.5)
    assert METHODS.get("adi-renderer-samples").config_cls().action_different_source == "renderer"
    with pytest.raises(ActionBenchError, match="method 'teapot' is dict, not a subclass of Method"):
        METHODS.register("teapot", "")(dict)
    assert all(issubclass(METHODS.get(name), Method) for name in METHODS.names() if name.startswith("adi"))
