"""Metrics: action fidelity, context disentanglement and the action judge (:mod:`.base`).

Built-in metrics are declared here lazily (name, module, one line); each module registers its class
with ``@METRICS.register(name)``. Third-party metrics use the entry-point group
``actionbench.metrics`` or ``actionbench run --plugins my_metric.py``.
"""

from actionbench.registry import Registry

METRICS = Registry("metric")

_BUILTIN: list[tuple[str, str, str]] = [
]
for _name, _module, _description in _BUILTIN:
    METRICS.lazy(_name, f"actionbench.metrics.{_module}", _description)
