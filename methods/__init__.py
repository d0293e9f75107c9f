"""Methods behind one train/generate interface (:mod:`actionbench.methods.base`).

Each method is one file. Built-in methods are declared here lazily (name, module, one line) so that
listing and validating names never imports torch; a method's module registers its class with
``@METHODS.register(name)`` when imported. Third-party methods use the entry-point group
``actionbench.methods`` or ``actionbench run --plugins my_method.py``.
"""

from actionbench.registry import Registry

METHODS = Registry("method")

_BUILTIN = [
    ("text", "text", "no training: the action written out in words (the paper's Stable Diffusion row)"),
    ("plain", "text", "no training and no action: the subject alone; the reference for appearance leakage"),
]
for _name, _module, _description in _BUILTIN:
    METHODS.lazy(_name, f"actionbench.methods.{_module}", _description)
