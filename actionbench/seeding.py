"""One seeding rule for the suite: Python's, NumPy's and torch's global generators from one integer.

The stages call it before each unit; a training calls it again with its own seed and keeps the
returned CPU generator for the method's own draws (exemplar order, noise, timesteps), so a unit's
result depends on its seed alone, not on what ran before it in the process.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from actionbench.errors import ActionBenchError

SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1: NumPy's range, which every generator here accepts


def check_seeds(seeds: Iterable[int], where: str) -> list[int]:
    """``seeds`` once each, in order; a seed out of range is refused in one line. A seed given twice
    would draw the same images twice and count them twice (too narrow an interval), so it is kept once."""
    seeds = list(seeds)
    for seed in seeds:
        if not 0 <= seed < SEED_LIMIT:
            raise ActionBenchError(f"seed {seed} in {where} is out of range", f"give seeds from 0 to {SEED_LIMIT - 1}")
    return list(dict.fromkeys(seeds))


def seed_all(seed: int):
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same way."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
