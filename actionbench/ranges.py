"""Value ranges for settings, checked when a run is planned, before any work starts.

Types are checked where settings are read (``actionbench.config``); a value of the right type can
still be meaningless (a negative learning rate, a batch of 0, a mask fraction of 1.5, a judge
tolerance of 0), and without this check it would fail inside a training or a scoring, after the run
had started, or give numbers that mean nothing. Methods (``methods/setting_ranges.py``) and metrics
(``Metric.setting_ranges``) declare their ranges by setting name.
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


def check_ranges(where: str, config: Any, ranges: dict[str, Range]) -> None:
    """Refuse, in one line naming the setting (``where.name``), a value outside its range; None means
    "the default" and is not checked."""
    for config_field in fields(config):
        allowed = ranges.get(config_field.name)
        value = getattr(config, config_field.name)
        if allowed is None or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not allowed.holds(value):
            raise ActionBenchError(f"{where}.{config_field.name} is {value!r}",
                                   f"it must be {allowed.phrase(isinstance(value, int))}")
