"""ReVersion: textual inversion of a relation, steered towards prepositions and focused on noisy timesteps.

Huang et al., "ReVersion: Diffusion-Based Relation Inversion from Images", arXiv 2303.13495 (2023),
as its repository (github.com/ziqihuangg/ReVersion, ``train.py``) trains it; defaults are its
README's command. On top of textual inversion (:mod:`actionbench.methods.textual_inversion`):

- **Relation-steering contrastive loss** (``calculate_steer_loss``): the token's embedding ``<R>`` is
  pulled towards ``num_positives`` words drawn from a basis of 56 prepositions and pushed from the
  other content words of the training prompt (its tokens that are not stop words, prepositions,
  special tokens or ``<R>``); cosine similarity of L2-normalised input embeddings over a
  temperature, loss ``logsumexp(all) - logsumexp(positives)``; only ``<R>`` gets gradient.
- **Relation-focal importance sampling**: timesteps drawn with probability proportional to
  ``1 - alpha cos(pi t / T)``, favouring noisy steps where layout is decided.

Artifact: textual-inversion format (``pipe.load_textual_inversion(artifact)``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from actionbench.data import Action
from actionbench.methods import METHODS
from actionbench.methods.base import MethodConfig
from actionbench.methods.textual_inversion import TokenMethod, train_token_inversion

# ReVersion's templates/relation_words.py: the basis of 56 prepositions.
RELATION_WORDS = (
    "aboard", "about", "above", "across", "after", "against", "along", "alongside", "amid", "amidst", "among",
    "amongst", "anti", "around", "astride", "at", "atop", "before", "behind", "below", "beneath", "beside",
    "between", "beyond", "by", "down", "following", "from", "in", "including", "inside", "into", "near", "of",
    "off", "on", "onto", "opposite", "out", "outside", "over", "past", "regarding", "round", "through",
    "throughout", "to", "toward", "towards", "under", "underneath", "up", "upon", "versus", "with", "within")

# ReVersion's templates/stop_words.py (NLTK's English stop-word list).
STOP_WORDS = (
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
    "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they",
    "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these", "those",
    "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did",
    "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by",
    "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above",
    "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then",
    "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most",
    "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t",
    "can", "will", "just", "don", "should", "now")


@dataclass
class ReVersionConfig(MethodConfig):
    # ReVersion README's training command, unless noted.
    steps: int = 3000  # --max_train_steps 3000
    learning_rate: float = 2.5e-4  # --learning_rate 2.5e-04
    scale_lr: bool = True  # --scale_lr: x batch 2 x accumulation 4 = 2e-3 effective
    train_batch_size: int = 2  # --train_batch_size 2
    gradient_accumulation_steps: int = 4  # --gradient_accumulation_steps 4
    placeholder_token: str = "<R>"  # --placeholder_token <R>
    initializer_token: str = "and"  # --initializer_token "and"
    steer_loss_weight: float = 0.01  # --steer_loss_weight 0.01
    num_positives: int = 4  # --num_positives 4
    temperature: float = 0.07  # --temperature 0.07
    importance_sampling: bool = True  # --importance_sampling
    scaled_cosine_alpha: float = 0.5  # train.py's --scaled_cosine_alpha default


def importance_weights(num_timesteps: int, alpha: float) -> torch.Tensor:
    """ReVersion's f(t) = (1 - alpha cos(pi t / T)) / T for t = 0 .. T-1 (unnormalised weights)."""
    t = torch.arange(num_timesteps, dtype=torch.float64)
    return (1.0 - alpha * torch.cos(math.pi * t / num_timesteps)) / num_timesteps


class SteeringLoss:
    """ReVersion's multi-instance InfoNCE on input token embeddings; gradient reaches ``<R>`` only."""

    def __init__(self, pipe, token: str, num_positives: int, temperature: float, rng: random.Random):
        self.pipe = pipe
        self.tokenizer = pipe.tokenizer
        self.token = token  # added to the tokenizer by the time the loss is first called
        self.num_positives = num_positives
        self.temperature = temperature
        self.rng = rng
        self.special = {self.tokenizer.bos_token_id, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        words = self.tokenizer(list(STOP_WORDS + RELATION_WORDS), add_special_tokens=False).input_ids
        self.excluded = torch.tensor(sorted({i for ids in words for i in ids} | self.special))

    def positive_ids(self, count: int) -> list[int]:
        ids = []
        for _ in range(count):
            words = self.rng.sample(RELATION_WORDS, k=self.num_positives)
            ids.extend(self.tokenizer(" ".join(words), add_special_tokens=False).input_ids)
        return ids

    def negative_ids(self, prompts: list[str]) -> torch.Tensor:
        """The prompts' content tokens: not stop words, prepositions, special tokens or the token itself."""
        token_id = self.tokenizer.convert_tokens_to_ids(self.token)
        prompt_ids = self.tokenizer(prompts, padding="max_length", truncation=True,
                                    max_length=self.tokenizer.model_max_length, return_tensors="pt").input_ids
        return prompt_ids[~torch.isin(prompt_ids, self.excluded) & (prompt_ids != token_id)]

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        embedding = self.pipe.text_encoder.get_input_embeddings()
        device = embedding.weight.device
        token_id = self.tokenizer.convert_tokens_to_ids(self.token)
        with torch.no_grad():
            negatives = embedding(self.negative_ids(prompts).to(device))
            positives = embedding(torch.tensor(self.positive_ids(len(prompts)), device=device))
            candidates = F.normalize(torch.cat([positives, negatives]).float(), dim=1)
        # Through the module, not ``embedding.weight``: while training, the token's row is learned apart
        # from the table (:mod:`~actionbench.methods.token_rows`).
        relation = F.normalize(embedding(torch.tensor([token_id], device=device)).float(), dim=1)
        logits = relation @ candidates.T / self.temperature
        return (torch.logsumexp(logits, dim=1) - torch.logsumexp(logits[:, :positives.shape[0]], dim=1)).mean()


@METHODS.register("reversion")
class ReVersion(TokenMethod):
    """Relation inversion: steering loss towards prepositions and relation-focal timestep sampling."""

    name = "reversion"
    paper = "Huang et al., ReVersion: Diffusion-Based Relation Inversion from Images, arXiv 2303.13495, 2023"
    config_cls = ReVersionConfig

    def train(self, base, action: Action, config: ReVersionConfig, out_dir: Path) -> Path:
        extra_loss = None
        if config.steer_loss_weight > 0:
            steer = SteeringLoss(base, config.placeholder_token, config.num_positives, config.temperature,
                                 random.Random(config.seed))

            def weighted_steering(prompts: list[str]) -> torch.Tensor:
                return config.steer_loss_weight * steer(prompts)

            extra_loss = weighted_steering
        weights = None
        if config.importance_sampling:
            weights = importance_weights(base.scheduler.config.num_train_timesteps, config.scaled_cosine_alpha)
        return train_token_inversion(self.name, base, action, config, out_dir, token=config.placeholder_token,
                                     initializer=config.initializer_token, extra_loss=extra_loss,
                                     timestep_weights=weights)
