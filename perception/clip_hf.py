"""A Hugging Face ``transformers.CLIPModel`` folder as a CLIP scorer, behind open_clip's interface.

This is the model family torchmetrics' ``CLIPScore`` uses, so the suite's CLIP-T can be checked
against torchmetrics on the very same weights; users with a ``save_pretrained`` CLIP folder (for
example ``openai/clip-vit-large-patch14``) can score with it offline. The folder needs the model
(``config.json`` + weights) and its processor (``preprocessor_config.json`` and the tokenizer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actionbench.errors import ActionBenchError
from actionbench.perception.clip_models import ClipBundle


class HFClipAdapter:
    """``encode_image`` / ``encode_text`` over a ``CLIPModel``: the projected embeddings, as open_clip's."""

    def __init__(self, model: Any):
        self.model = model

    def encode_image(self, pixel_values):
        return _projected(self.model.get_image_features(pixel_values=pixel_values))

    def encode_text(self, tokens):
        return _projected(self.model.get_text_features(input_ids=tokens["input_ids"],
                                                       attention_mask=tokens["attention_mask"]))

    def to(self, device):
        self.model.to(device)
        return self

    def eval(self):
        self.model.eval()
        return self

    def parameters(self):
        return self.model.parameters()


def _projected(output: Any):
    # transformers >= 5 returns a ModelOutput whose pooler_output holds the projection; 4.x a tensor.
    return getattr(output, "pooler_output", output)


def load_hf_clip(folder: Path, device: str = "cpu") -> ClipBundle:
    import transformers
    from transformers import CLIPModel, CLIPProcessor

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    try:
        model = CLIPModel.from_pretrained(str(folder), local_files_only=True)
        processor = CLIPProcessor.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())[:160]
        raise ActionBenchError(f"CLIP model folder {folder} cannot be loaded ({reason})",
                               "save both the CLIPModel and its CLIPProcessor there with save_pretrained") from error
    image_processor, tokenizer = processor.image_processor, processor.tokenizer

    def preprocess(image):
        return image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def tokenize(texts: list[str]):
        return tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")

    return ClipBundle(model=HFClipAdapter(model).to(device).eval(), preprocess=preprocess, tokenizer=tokenize,
                      name=f"hf:{folder}")
