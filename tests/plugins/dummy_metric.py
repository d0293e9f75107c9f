"""A dummy metric for tests (as lm-evaluation-harness ships a dummy model): mean brightness."""

import numpy as np

from actionbench.imageio import open_rgb
from actionbench.metrics import METRICS
from actionbench.metrics.base import Metric, MetricResult, ScoreInfo


@METRICS.register("brightness")
class Brightness(Metric):
    """Mean pixel value in [0, 1]; a stand-in with a known answer."""

    name = "brightness"
    scores = (ScoreInfo("brightness", "mean pixel value in [0, 1]", True, role="action"),
              ScoreInfo("is_dark", "1 when the mean pixel value is below 0.5", True, kind="binary", role="subject"))

    def score(self, records, context):
        results = []
        for record in records:
            value = float(np.asarray(open_rgb(record.path), dtype=np.float64).mean() / 255.0)
            results.append(MetricResult({"brightness": value, "is_dark": float(value < 0.5)}))
        return results
