"""Train mini-CLIP contrastively on scorer renders (and their reconstructions) with captions in words.

Captions name each factor or leave it out (more often than the text-to-image captions do, so short
zero-shot prompts such as "a photo of a cat" are in distribution), and name every action, held-out
ones by their descriptions. Identical captions in a batch count as positives of each other (soft
targets), since the world repeats captions often.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.mini.datasets import POSE_NAMES, SCENE_NAMES, SPECIES_NAMES, facts_of
from actionbench.mini.train.augment import batch_images, scorer_data
from actionbench.mini.train.loop import Trainer, TrainSettings, default_workdir
from actionbench.mini.world import (GENERIC_NOUN, HELD_IN_ACTIONS, HELD_OUT_ACTIONS, PREFIXES, SCENE_PHRASES,
                                    arm_phrase, article)

DEFAULTS = TrainSettings(steps=10000, batch_size=128, lr=1e-3, warmup=200, save_every=500, log_every=100,
                         weight_decay=0.1)


def clip_caption(data, i: int, rng: np.random.Generator) -> str:
    facts = facts_of(data, i)
    pose = POSE_NAMES[int(data.pose[i])]
    scene = SCENE_PHRASES[facts.scene] if rng.random() >= 0.3 else None
    if pose == "none":
        text = f"an empty scene {SCENE_PHRASES[facts.scene]}"
    else:
        noun = facts.species if rng.random() >= 0.1 else GENERIC_NOUN
        colour = facts.colour if rng.random() >= 0.3 else None
        first = colour or noun
        subject = f"{article(first)} {colour + ' ' if colour else ''}{noun}"
        action = None
        if rng.random() >= 0.3:
            if pose in HELD_IN_ACTIONS:
                action = HELD_IN_ACTIONS[pose][0]
            elif pose in HELD_OUT_ACTIONS:
                action = HELD_OUT_ACTIONS[pose].description
            else:
                parts = [facts.orientation] if facts.orientation != "upright" else []
                parts.append(arm_phrase(*facts.arms))
                action = " ".join(parts)
        text = " ".join(w for w in (subject, action, scene) if w)
    if rng.random() < 0.2:
        text = PREFIXES[int(rng.integers(len(PREFIXES)))] + text
    return text


def normalize(x: torch.Tensor, model) -> torch.Tensor:
    """[-1, 1] pixels -> the model's input normalization (open_clip's preprocess does the same)."""
    mean = torch.tensor(model.visual.image_mean or (0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.image_std or (0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std


def train(settings: TrainSettings = DEFAULTS, workdir: Path | None = None) -> Path:
    from actionbench.mini.clip import create_model

    workdir = Path(workdir or default_workdir("clip"))
    data, evaluation, recon = scorer_data()
    torch.manual_seed(settings.seed)
    model, preprocess, tokenizer = create_model("none")
    trainer = Trainer(workdir, {"clip": model}, settings)
    memo: dict[str, torch.Tensor] = {}

    def tokens(captions: list[str]) -> torch.Tensor:
        missing = [c for c in dict.fromkeys(captions) if c not in memo]
        if missing:
            memo.update(zip(missing, tokenizer(missing)))
        return torch.stack([memo[c] for c in captions])

    def step(t: Trainer) -> dict[str, float]:
        rng = t.rng()
        index = rng.integers(0, len(data), settings.batch_size)
        captions = [clip_caption(data, int(i), rng) for i in index]
        images = normalize(batch_images(data.images, recon, index, rng, t.torch_generator()), model)
        image_features = F.normalize(model.encode_image(images), dim=-1)
        text_features = F.normalize(model.encode_text(tokens(captions)), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * image_features @ text_features.T
        same = torch.tensor([[a == b for b in captions] for a in captions], dtype=torch.float32)
        targets = same / same.sum(dim=1, keepdim=True)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets.T)) / 2
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t.optimizer.step()
        return {"loss": loss.item()}

    def evaluate(t: Trainer) -> dict[str, float]:
        return zero_shot_accuracy(model, tokenizer, evaluation)

    trainer.run(step, evaluate)
    if trainer.done:
        export(model, workdir / "export")
    return workdir


def species_prompt(species: str) -> str:
    return f"a photo of {article(species)} {species}"


def scene_prompt(scene: str) -> str:
    return f"a photo of a {GENERIC_NOUN} {SCENE_PHRASES[scene]}"


@torch.no_grad()
def zero_shot_accuracy(model, tokenizer, data) -> dict[str, float]:
    """Zero-shot species and scene accuracy on renders with a figure (prompts: :func:`species_prompt`...)."""
    from actionbench.mini.train.loop import to_unit_range

    model.eval()
    figure = data.figure
    images = normalize(to_unit_range(data.images[figure]), model)
    features = F.normalize(torch.cat([model.encode_image(c) for c in images.split(256)]), dim=-1)
    result = {}
    for name, labels, prompts in (("species", data.species[figure], [species_prompt(s) for s in SPECIES_NAMES]),
                                  ("scene", data.scene[figure], [scene_prompt(s) for s in SCENE_NAMES])):
        text = F.normalize(model.encode_text(tokenizer(prompts)), dim=-1)
        result[f"zero_shot_{name}"] = float(((features @ text.T).argmax(-1).numpy() == labels).mean())
    return result


def export(model, folder: Path) -> Path:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.half().contiguous() if v.is_floating_point() else v.contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder
