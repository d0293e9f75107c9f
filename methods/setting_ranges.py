"""The values a method setting may take, checked when a run is planned, before any work starts.

Types are checked where settings are read (``actionbench.config``); a value of the right type can
still be meaningless (a negative learning rate, a batch of 0, a mask fraction of 1.5), and without
this check it would fail inside a training, after the run had started, as a failed unit. The table
is by setting name, so it covers every method whose config has that field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from actionbench.errors import ActionBenchError


@dataclass(frozen=True)
class Range:
    low: float
    high: float | None = None
    low_allowed: bool = True  # False: the value must be above ``low``

    def holds(self, value: float) -> bool:
        above = value >= self.low if self.low_allowed else value > self.low
        return above and (self.high is None or value <= self.high)

    def phrase(self, whole: bool) -> str:
        kind = "a whole number" if whole else "a number"
        if self.high is not None:
            return f"{kind} from {_number(self.low)} to {_number(self.high)}"
        return f"{kind} {'>=' if self.low_allowed else '>'} {_number(self.low)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


POSITIVE = Range(0, low_allowed=False)
AT_LEAST_ONE = Range(1)
NOT_NEGATIVE = Range(0)
FRACTION = Range(0, 1)

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


def check_setting_values(method: str, config: Any) -> None:
    """Refuse, in one line naming the setting, a value outside its range (None means "the default")."""
    for config_field in fields(config):
        allowed = SETTING_RANGES.get(config_field.name)
        value = getattr(config, config_field.name)
        if allowed is None or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not allowed.holds(value):
            raise ActionBenchError(f"settings for method {method}.{config_field.name} is {value!r}",
                                   f"it must be {allowed.phrase(isinstance(value, int))}")
