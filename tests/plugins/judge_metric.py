"""A stand-in judge for the human-rating tests: binary Action and Subject decisions of known value.

It says the action is shown exactly when the subject is a human, and the subject is shown exactly
for seed 0; so a test can write human ratings that agree or disagree with it by known amounts.
"""

from actionbench.metrics import METRICS
from actionbench.metrics.base import Metric, MetricResult, ScoreInfo


@METRICS.register("fixed_judge")
class FixedJudge(Metric):
    """Binary judgements from the request alone (action: a human subject; subject: seed 0)."""

    name = "fixed_judge"
    scores = (ScoreInfo("judge_action", "1 when the subject is a human", True, kind="binary", role="action"),
              ScoreInfo("judge_subject", "1 for seed 0", True, kind="binary", role="subject"))

    def score(self, records, context):
        return [MetricResult({"judge_action": float(r.subject.kind == "human"), "judge_subject": float(r.seed == 0)})
                for r in records]
