"""ActionBench-Mini's CLIP: a small open_clip model trained contrastively on the world's renders.

Its architecture is an ordinary open_clip config (``weights/clip/actionbench-mini-clip.json``: a
ViT on 4-pixel patches of 32x32 images, a 3-layer text transformer over CLIP's real vocabulary),
registered with ``open_clip.add_model_config``, so the CLIP metrics run on it through the same
open_clip calls as on ViT-B-32. Like CLIP on photos, it has seen every action of its world named,
the held-out ones included (only the text-to-image model's captions leave those out).
"""

from __future__ import annotations

from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.perception import CLIP_MODELS
from actionbench.perception.clip_models import ClipBundle

WEIGHTS = Path(__file__).resolve().parent / "weights" / "clip"
MODEL_NAME = "actionbench-mini-clip"
WEIGHTS_FILE = WEIGHTS / "open_clip_model.safetensors"


def register_config() -> None:
    import open_clip

    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(WEIGHTS / f"{MODEL_NAME}.json")


def create_model(pretrained: str | None = None, device: str = "cpu"):
    """(model, preprocess, tokenizer) of the mini CLIP; random weights when ``pretrained`` is "none"."""
    import open_clip

    register_config()
    weights = None if pretrained == "none" else str(pretrained or WEIGHTS_FILE)
    if weights is not None and not Path(weights).is_file():
        raise ActionBenchError(f"the mini CLIP's weights are missing ({weights})",
                               "reinstall the package, or train them: actionbench mini train --component clip")
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=weights, device=device)
    return model.eval(), preprocess, open_clip.get_tokenizer(MODEL_NAME)


@CLIP_MODELS.register("mini")
def load_mini_clip(pretrained: str | None = None, device: str = "cpu") -> ClipBundle:
    """ActionBench-Mini's CLIP, trained contrastively on the rendered world's images and captions."""
    model, preprocess, tokenizer = create_model(pretrained, device)
    return ClipBundle(model=model, preprocess=preprocess, tokenizer=tokenizer, name="mini")


def mini_clip_version() -> str:
    """The shipped weights' hash: runs re-score when the mini CLIP is retrained."""
    from actionbench.mini.models import weights_version

    return weights_version(WEIGHTS_FILE)


load_mini_clip.model_version = mini_clip_version  # type: ignore[attr-defined]  # read by clip_model_version
