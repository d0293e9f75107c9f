"""The values a method setting may take (``actionbench.ranges``), by setting name, so the table
covers every method whose config has that field; checked through ``Method.check_config``."""

from __future__ import annotations

from actionbench.ranges import AT_LEAST_ONE, FRACTION, NOT_NEGATIVE, POSITIVE, Range

SETTING_RANGES: dict[str, Range] = {
    "learning_rate": POSITIVE,
    "subject_lora_learning_rate": POSITIVE,
    "temperature": POSITIVE,
    "max_grad_norm": POSITIVE,
    "steps": AT_LEAST_ONE,
    "subject_lora_steps": AT_LEAST_ONE,
    "train_batch_size": AT_LEAST_ONE,
    "gradient_accumulation_steps": AT_LEAST_ONE,
    "generation_batch_size": AT_LEAST_ONE,
    "num_inference_steps": AT_LEAST_ONE,
    "rank": AT_LEAST_ONE,
    "subject_lora_rank": AT_LEAST_ONE,
    "action_different_per_exemplar": AT_LEAST_ONE,
    "num_positives": AT_LEAST_ONE,
    "resolution": Range(8),
    "num_class_images": NOT_NEGATIVE,
    "guidance_scale": NOT_NEGATIVE,
    "weight_decay": NOT_NEGATIVE,
    "prior_loss_weight": NOT_NEGATIVE,
    "steer_loss_weight": NOT_NEGATIVE,
    "conditioning_scale": NOT_NEGATIVE,
    "beta": FRACTION,
    "min_visibility": FRACTION,
    "scaled_cosine_alpha": FRACTION,
    "seed": Range(0, 2**32 - 1),
    "grey": Range(0, 255),
}

