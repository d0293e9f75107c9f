"""Tiny random CLIP models for tests: a Hugging Face CLIPModel folder (what torchmetrics loads)."""

from __future__ import annotations

from pathlib import Path


def save_tiny_hf_clip(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-px CLIPModel with seeded random weights and its CLIPProcessor, saved to ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from actionbench.tokenizer import clip_tokenizer

    layers = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    config = CLIPConfig(text_config=dict(layers, vocab_size=49408, max_position_embeddings=77),
                        vision_config=dict(layers, image_size=32, patch_size=8), projection_dim=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}),
                              tokenizer=clip_tokenizer(folder.parent / f"{folder.name}-vocab"))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
