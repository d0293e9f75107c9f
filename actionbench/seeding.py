"""One seeding rule for the suite: Python's, NumPy's and torch's global generators from one integer.

The stages call it before each unit; a training calls it again with its own seed and keeps the
returned CPU generator for the method's own draws (exemplar order, noise, timesteps), so a unit's
result depends on its seed alone, not on what ran before it in the process.
"""

from __future__ import annotations

import random


def seed_all(seed: int):
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same way."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
