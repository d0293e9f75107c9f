"""CLIP's tokenizer without the Hugging Face hub, built from the BPE file that open_clip's wheel ships.

The 49,408-token vocabulary is: the 256 byte characters, the same with ``</w>``, the merged pairs of
the first 48,894 merges, then ``<|startoftext|>`` and ``<|endoftext|>``; its ids match OpenAI's.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from actionbench.fileio import atomic_write_text

NUM_MERGES = 49152 - 256 - 2


def _bpe_file() -> Path:
    import open_clip

    return Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"


def write_clip_vocab(folder: Path) -> Path:
    """Write ``vocab.json`` and ``merges.txt`` into ``folder`` (once) and return the folder."""
    from open_clip.tokenizer import bytes_to_unicode

    folder = Path(folder)
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return folder
    lines = gzip.open(_bpe_file()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:NUM_MERGES + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(pair) for pair in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    atomic_write_text(folder / "vocab.json", json.dumps({token: i for i, token in enumerate(vocab)}))
    atomic_write_text(folder / "merges.txt", "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return folder


def clip_tokenizer(folder: Path):
    """A ``transformers.CLIPTokenizer`` over the vocabulary written by :func:`write_clip_vocab`."""
    from transformers import CLIPTokenizer

    folder = write_clip_vocab(folder)
    # transformers 5 silently ignores vocab_file=/merges_file=; from_pretrained reads both versions.
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)
