"""The mini world's text-to-image model: small diffusers components, and the shipped pipeline's folder.

The shipped weights live in ``actionbench/mini/weights/pipeline``, a complete ``save_pretrained``
folder: ``StableDiffusionPipeline.from_pretrained`` on it, without the suite, gives the suite's
images. Its ``tokenizer/`` is CLIP's real BPE vocabulary in the slow-tokenizer files every
transformers version reads (``vocab.json``, ``merges.txt``: 1.5 MB), written offline from
open_clip's BPE file by :func:`write_tokenizer_folder`. :func:`mini_pipeline_path` returns the
folder, so ``BASE_MODELS["mini"]`` is "just another" diffusers Stable Diffusion pipeline.

Sizes are chosen for training on a 2-core CPU at 32 px (see ``shared/references/environment.md``):
images 32x32 -> latents 8x8x4 (a 0.7M-parameter autoencoder); a 4.2M-parameter UNet (0.08 GFLOP a
sample) and a 4-layer, 64-wide text encoder whose
tokenizer pads to 32 tokens (SD's 77 would double the text encoder's cost for nothing).
"""

from __future__ import annotations

from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_json, file_sha256
from actionbench.paths import cache_dir

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PIPELINE_DIR = WEIGHTS_DIR / "pipeline"
IMAGE_SIZE = 32
TEXT_WIDTH = 64  # CLIP's 49,408-token vocabulary makes the embedding table most of the text encoder
# Prompts are padded to this many tokens (SD: 77). The world's longest caption is about 26 tokens.
MAX_TOKENS = 32


def weights_version(path: Path) -> str:
    """A shipped weights file's version, for score keys and caches: ``mini-`` and the first 12 hex
    digits of its SHA-256, so runs re-score when the file is retrained."""
    return f"mini-{file_sha256(path)[:12]}"


def vae_config() -> dict:
    return dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32, 64),
                down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                layers_per_block=1, norm_num_groups=8, sample_size=IMAGE_SIZE)


def unet_config(cross_attention_dim: int = TEXT_WIDTH) -> dict:
    return dict(sample_size=IMAGE_SIZE // 4, in_channels=4, out_channels=4, layers_per_block=1,
                block_out_channels=(32, 64, 128), down_block_types=("CrossAttnDownBlock2D",) * 3,
                up_block_types=("CrossAttnUpBlock2D",) * 3, cross_attention_dim=cross_attention_dim,
                attention_head_dim=8, norm_num_groups=16)


def text_encoder_config(tokenizer) -> dict:
    return dict(vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH, num_hidden_layers=4,
                num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def scheduler_config() -> dict:
    """Stable Diffusion's noise schedule and DDIM sampler settings."""
    return dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                set_alpha_to_one=False, steps_offset=1, num_train_timesteps=1000)


def load_tokenizer():
    """CLIP's real BPE tokenizer, padding to :data:`MAX_TOKENS`."""
    from actionbench.tokenizer import clip_tokenizer

    tokenizer = clip_tokenizer(cache_dir("tokenizers", "clip"))
    tokenizer.model_max_length = MAX_TOKENS
    return tokenizer


# The files of a pipeline's tokenizer/ folder; CLIPTokenizer.from_pretrained reads them in transformers 4 and 5.
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
SPECIAL_TOKENS = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                  "pad_token": "<|endoftext|>"}  # CLIP's (SD 1.x pads with the end-of-text token)


def write_tokenizer_folder(folder: Path) -> Path:
    """Write the mini pipeline's ``tokenizer/`` folder: CLIP's BPE files and a config padding to 32 tokens."""
    from actionbench.tokenizer import write_clip_vocab

    folder = Path(folder)
    for name in ("vocab.json", "merges.txt"):  # write_clip_vocab keeps files that exist: start clean
        (folder / name).unlink(missing_ok=True)
    write_clip_vocab(folder)
    atomic_write_json(folder / "special_tokens_map.json", SPECIAL_TOKENS)
    atomic_write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_TOKENS, "do_lower_case": True,
        "errors": "replace", **SPECIAL_TOKENS})
    return folder


def mini_pipeline_path() -> Path:
    """The shipped pipeline's folder (weights and tokenizer), as ``from_pretrained`` reads it."""
    index = PIPELINE_DIR / "model_index.json"
    if not index.is_file():
        raise ActionBenchError(
            f"ActionBench-Mini's weights are missing ({PIPELINE_DIR})",
            "reinstall the package, or train them: actionbench mini train --component vae|unet, then "
            "actionbench mini export")
    missing = [name for name in TOKENIZER_FILES if not (PIPELINE_DIR / "tokenizer" / name).is_file()]
    if missing:
        raise ActionBenchError(f"ActionBench-Mini's pipeline has no tokenizer/{missing[0]} ({PIPELINE_DIR})",
                               "reinstall the package, or re-export the pipeline: actionbench mini export")
    return PIPELINE_DIR
