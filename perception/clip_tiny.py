"""``tiny-random``: a small open_clip model with seeded random weights, built offline from a config.

For tests and smoke runs only: its numbers mean nothing. It exercises the real open_clip code path
(``open_clip.add_model_config`` + ``create_model_and_transforms(name, pretrained=None)``, open_clip's
own tokenizer from the BPE file its wheel ships), and it is the same model in every process: the
weights come from a fixed seed, drawn without touching the global random state.
"""

from __future__ import annotations

from pathlib import Path

from actionbench.perception import CLIP_MODELS
from actionbench.perception.clip_models import ClipBundle, quiet_open_clip

CONFIG_FILE = Path(__file__).with_name("actionbench-tiny-random-clip.json")
OPEN_CLIP_NAME = CONFIG_FILE.stem  # open_clip names a config file's model after the file
SEED = 0


@CLIP_MODELS.register("tiny-random")
def tiny_random_clip(pretrained: str | None = None, device: str = "cpu") -> ClipBundle:
    """A 32-px, 2-layer open_clip model with seeded random weights (tests; numbers mean nothing)."""
    import open_clip
    import torch

    if OPEN_CLIP_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_FILE)
    with torch.random.fork_rng(devices=[]), quiet_open_clip():
        torch.manual_seed(SEED)
        model, _, preprocess = open_clip.create_model_and_transforms(OPEN_CLIP_NAME, pretrained=None)
    model = model.to(device).eval()
    return ClipBundle(model=model, preprocess=preprocess, tokenizer=open_clip.get_tokenizer(OPEN_CLIP_NAME),
                      name="tiny-random")
