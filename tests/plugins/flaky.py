"""Test plugins for the executors: a method that fails or waits on cue, and a metric with a reference.

``flaky`` is the text method plus two switches. ``failures``: the first N training attempts on
``fail_action`` raise (a large N: always); attempts are counted in ``state_dir/<action>.attempts``,
a file every process sees, so retries in worker processes count too. ``hold_action``: training on
that action waits while ``state_dir/hold`` exists (after writing its process id to ``state_dir/<action>.waiting``), so
a test can kill the driver mid-run at a known point.

``gap_to_flaky`` compares each image with the ``flaky`` reference unit's image for the same subject
and seed (mean absolute pixel difference), so scoring depends on another unit's generation.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionbench.imageio import open_rgb
from actionbench.methods import METHODS
from actionbench.methods.base import MethodConfig
from actionbench.methods.text import TextMethod
from actionbench.metrics import METRICS
from actionbench.metrics.base import Metric, MetricResult, ScoreInfo


@dataclass
class FlakyConfig(MethodConfig):
    state_dir: str = ""
    fail_action: str = ""
    failures: int = 0
    hold_action: str = ""


@METHODS.register("flaky")
class FlakyMethod(TextMethod):
    """The text method, failing or waiting on cue (tests only)."""

    name = "flaky"
    config_cls = FlakyConfig

    def train(self, base, action, config, out_dir):
        state = Path(config.state_dir)
        if action.name == config.hold_action:
            (state / f"{action.name}.waiting").write_text(str(os.getpid()))
            while (state / "hold").exists():
                time.sleep(0.05)
        if action.name == config.fail_action:
            counter = state / f"{action.name}.attempts"
            attempt = int(counter.read_text()) + 1 if counter.is_file() else 1
            counter.write_text(str(attempt))
            if attempt <= config.failures:
                raise RuntimeError(f"flaky failure on attempt {attempt}")
        return super().train(base, action, config, out_dir)


@METRICS.register("gap_to_flaky")
class GapToFlaky(Metric):
    """Mean absolute pixel difference to the flaky reference unit's image (tests only)."""

    name = "gap_to_flaky"
    scores = (ScoreInfo("gap_to_flaky", "mean absolute pixel difference to flaky's image", False, role="subject"),)
    reference_method = "flaky"

    def score(self, records, context):
        return [MetricResult({"gap_to_flaky": float(np.abs(
            np.asarray(open_rgb(r.path), dtype=np.float64) - np.asarray(open_rgb(r.reference_path), dtype=np.float64)
        ).mean() / 255.0)}) for r in records]
