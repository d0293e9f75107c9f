"""Metrics: action fidelity, context disentanglement and the action judge (:mod:`.base`).

Built-in metrics are declared here lazily (name, module, one line); each module registers its class
with ``@METRICS.register(name)``. Third-party metrics use the entry-point group
``actionbench.metrics`` or ``actionbench run --plugins my_metric.py``.
"""

from typing import Any

from actionbench.registry import Registry

METRICS: Registry[Any] = Registry("metric")

_BUILTIN: list[tuple[str, str, str]] = [
    ("pose", "pose", "pose agreement: torso-scaled OKS to the nearest exemplar pose (no person = 0), detection rate"),
    ("clip", "clip_score", "CLIP-T (raw cosine, image vs the prompt with the action in words), CLIPScore (0-100) "
                           "and CLIP-I (image vs exemplars)"),
    ("subject", "subject", "subject fidelity: CLIP zero-shot among the protocol's subjects picks the prompted one"),
    ("leakage", "leakage", "appearance leakage: colour similarity to exemplars outside the person, vs plain prompt"),
    ("judge", "judge", "the paper's Action / Subject / Total per image, automated (body and hand pose vs the "
                        "exemplars at a calibrated threshold, else CLIP)"),
]
for _name, _module, _description in _BUILTIN:
    METRICS.lazy(_name, f"actionbench.metrics.{_module}", _description)
