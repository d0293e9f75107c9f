"""Methods behind one train/generate interface (:mod:`actionbench.methods.base`).

Each method is one file. Built-in methods are declared here lazily (name, module, one line) so that
listing and validating names never imports torch; a method's module registers its class with
``@METHODS.register(name)`` when imported; the registry refuses a class that does not subclass
:class:`~actionbench.methods.base.Method`. A variant (an ablation) is data: a name, its parent and the
settings it fixes, one line each below, built from its parent on first use. Third-party methods use
the entry-point group ``actionbench.methods`` or ``actionbench run --plugins my_method.py``.
"""

from typing import TYPE_CHECKING

from actionbench.registry import Registry

if TYPE_CHECKING:  # at run time the registry checks the base itself, lazily (listing imports no torch)
    from actionbench.methods.base import Method

METHODS: "Registry[type[Method]]" = Registry("method", base="actionbench.methods.base:Method")

_BUILTIN = [
    ("text", "text", "no training: the action written out in words (the paper's Stable Diffusion row)"),
    ("plain", "text", "no training and no action: the subject alone; the reference for appearance leakage"),
    ("textual_inversion", "textual_inversion", "one new token embedding learned from the exemplars (Gal et al., ICLR 2023)"),
    ("dreambooth", "dreambooth", "UNet fine-tuning with a rare-token identifier and prior preservation (Ruiz et al., CVPR 2023)"),
    ("dreambooth_lora", "dreambooth_lora", "DreamBooth with LoRA adapters through peft (Ruiz et al., CVPR 2023; Hu et al., ICLR 2022)"),
    ("custom_diffusion", "custom_diffusion", "cross-attention K/V fine-tuning plus a new token (Kumari et al., CVPR 2023)"),
    ("reversion", "reversion", "relation inversion: preposition steering loss, noisy-timestep focus (Huang et al., 2023)"),
    ("controlnet_pose", "controlnet_pose", "oracle: ControlNet-OpenPose on an exemplar's pose; needs your weights (Zhang et al., ICCV 2023)"),
    ("p_plus", "p_plus", "P+ / extended textual inversion: one token embedding per cross-attention layer (Voynov et al., 2023)"),
    ("adi", "adi", "ADI: layer-wise identifiers, gradient masked by context-/action-different triples (Huang et al., CVPR 2024)"),
]
for _name, _module, _description in _BUILTIN:
    METHODS.lazy(_name, f"actionbench.methods.{_module}", _description)

# ADI's ablations and variant (methods/adi.py's docstring explains each).
METHODS.variant("adi-single-token", parent="adi", fixes={"layerwise": False},
                description="ADI ablation: one identifier shared by all layers")
METHODS.variant("adi-no-context-mask", parent="adi", fixes={"context_mask": False},
                description="ADI ablation: action mask only (no context-different pair)")
METHODS.variant("adi-no-action-mask", parent="adi", fixes={"action_mask": False},
                description="ADI ablation: context mask only (no action-different samples)")
METHODS.variant("adi-no-mask", parent="adi", fixes={"context_mask": False, "action_mask": False},
                description="ADI ablation: no gradient mask (P+ with ADI's settings)")
METHODS.variant("adi-random-mask", parent="adi", fixes={"random_mask": True},
                description="ADI ablation: random mask keeping as many channels as ADI's")
METHODS.variant("adi-renderer-samples", parent="adi", fixes={"action_different_source": "renderer"},
                description="ADI variant, ActionBench-Mini only: the world's renderer draws the anchor's figure "
                            "in other actions")

_CONTROLS = [
    ("copy_exemplar", "controls", "control: an exemplar photo itself (action perfect, subject wrong, leakage maximal)"),
    ("blank", "controls", "control: a flat grey image (nothing shown, every score at its floor)"),
    ("oracle", "controls_mini", "control, mini world only: the prompted subject rendered doing the action, through the autoencoder"),
    ("wrong_action", "controls_mini", "control, mini world only: the prompted subject rendered doing another action"),
]
for _name, _module, _description in _CONTROLS:
    METHODS.lazy(_name, f"actionbench.methods.{_module}", _description)
