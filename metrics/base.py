"""The interface every metric implements, and the records it scores.

A metric turns a batch of generated images (with what was asked for: action, subject, prompt) into
named per-image scores. It declares those scores up front (:class:`ScoreInfo`), so reports know
each score's meaning and direction without importing the metric. An image that cannot be scored
(unreadable, nothing to compare with) gets NaN values and a ``failure`` reason, never an exception
that stops the run; NaN means undefined and is left out of means. Where the reason is the method's
own failure (no person drawn), the metric scores it as such (``pose_oks`` = 0) and still gives the
reason.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from actionbench.config import ScorerConfig
from actionbench.data import Action, Benchmark, Subject
from actionbench.ranges import Range, check_ranges


ROLES = ("", "action", "subject", "total", "diagnostic")
KINDS = ("continuous", "binary")


@dataclass(frozen=True)
class ScoreInfo:
    """What a score means, declared by its metric and written to the run's ``scores.json``.

    ``role``: "action" and "subject" are the candidate axes of the board's trade-off plot (and, for a
    binary score, the paper's Action and Subject columns; "total" is its Total); "diagnostic" is a
    number that explains the others (detection rates, which path decided, a threshold) rather than
    ranks methods: the board folds it away, the CSV keeps it. ``label`` is the column's short title
    and ``scale`` its unit or range, both shown in the board's header (the name when empty).
    """

    name: str  # column name in the run store and on the board, e.g. "pose_oks"
    description: str
    higher_is_better: bool = True
    kind: str = "continuous"  # "continuous", or "binary" for per-image 0/1 judgements (shown as %)
    role: str = ""  # one of ROLES
    label: str = ""  # the board's column title, e.g. "Pose OKS"; "" for the name
    scale: str = ""  # the unit or range shown under the title, e.g. "0–1" or "0–100"

    def __post_init__(self) -> None:
        if self.role not in ROLES:  # a typo ("diagnostics") would put the score in the wrong place silently
            raise ValueError(f"score {self.name}: role {self.role!r} is not one of {', '.join(map(repr, ROLES))}")
        if self.kind not in KINDS:
            raise ValueError(f"score {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class ImageRecord:
    """One generated image and what it was asked to show."""

    image_id: str
    path: Path
    method: str
    action: str
    subject: Subject
    seed: int
    prompt: str  # the protocol prompt, with ``{action}`` where the method put its identifier
    reference_path: Path | None = None  # the reference method's image for the same subject and seed


@dataclass(frozen=True)
class NoSettings:
    """The settings of a metric that takes none: any key given for it is refused at plan time."""


@dataclass
class ScoringContext:
    """What a metric may look at besides the images: the benchmark, the action, shared models."""

    benchmark: Benchmark
    action: Action
    scorers: ScorerConfig
    device: str = "cpu"
    # this metric's settings, resolved at plan time into its ``settings_cls``; None: its defaults
    settings: Any = None
    shared: dict[str, Any] = field(default_factory=dict)  # process-wide cache: loaded models, features


@dataclass
class MetricResult:
    values: dict[str, float]  # score name -> value (NaN where undefined)
    failure: str | None = None  # why the image could not be scored, when it could not


class Metric(ABC):
    """Subclass, declare ``scores``, implement ``score``, register with ``@METRICS.register``.

    A metric with settings declares their dataclass as ``settings_cls`` (defaults with their
    source, ``Literal`` for choices); the plan resolves ``metric_settings[name]`` into it before any
    work starts, so a misspelt key stops the run at once, and the score key hashes the resolved
    values. ``score`` reads them with :meth:`settings_in`.
    """

    name: ClassVar[str] = ""
    scores: ClassVar[tuple[ScoreInfo, ...]] = ()
    settings_cls: ClassVar[type] = NoSettings
    # A method whose images for the same subject and seed this metric compares against ("plain").
    reference_method: ClassVar[str | None] = None
    # Raised when what the metric computes changes: the score key hashes it, so stored scores are
    # recomputed on the next ``run`` instead of read back under the new rule.
    version: ClassVar[int] = 1
    # The values each numeric setting may take (actionbench.ranges), checked when a run is planned.
    setting_ranges: ClassVar[dict[str, Range]] = {}

    @classmethod
    def check_settings(cls, settings: Any) -> None:
        """Refuse settings outside ``setting_ranges`` in one line, before any work."""
        if dataclasses.is_dataclass(settings):
            check_ranges(f"settings for metric {cls.name}", settings, cls.setting_ranges)

    @abstractmethod
    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        """One result per record, in order."""

    def settings_in(self, context: ScoringContext) -> Any:
        """``context.settings`` as this metric's ``settings_cls`` (its defaults when the context carries none)."""
        settings = context.settings
        if settings is None:
            return self.settings_cls()
        if not isinstance(settings, self.settings_cls):  # a raw dict or another metric's settings: a caller's bug
            raise TypeError(f"metric {self.name} was given {type(settings).__name__} settings, not "
                            f"{self.settings_cls.__name__}; resolve them with actionbench.plan.metric_config")
        return settings

    def failed(self, reason: str) -> MetricResult:
        return MetricResult({info.name: float("nan") for info in self.scores}, failure=reason)

    # -- for a person reading ``actionbench score``: the command shows any metric through these, by no name

    # Without ``--subject`` an image asks for no particular subject: a metric that judges only the
    # subject cannot score it (``needs_subject``: the command skips the metric), one that judges it
    # among other things says what it leaves blank (``without_subject``, e.g. "subject and total").
    needs_subject: ClassVar[bool] = False
    without_subject: ClassVar[str] = ""

    def labels(self, values: dict[str, float]) -> dict[str, str]:
        """Words shown beside one image's scores (column -> text), e.g. which path decided a judgement."""
        return {}

    def summary(self, results: list[MetricResult], context: ScoringContext) -> list[str]:
        """Lines printed under the table of a scored batch (``results``, one per image, scored in
        ``context``): rates, the calibration used. None by default: the table says it all."""
        return []


def score_safely(metric: Metric, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
    """``metric.score`` on a batch; when it raises, score image by image, so one bad image costs only
    its own result (a failure with the error's one line). When every image fails, the problem is not
    the images (a bug, or missing weights: one message for all) and the first error is raised."""
    from actionbench.errors import ActionBenchError

    try:
        results = metric.score(records, context)
    except Exception:  # noqa: BLE001  retried one image at a time below
        results = None
    if results is not None:
        if len(results) != len(records):
            raise RuntimeError(f"metric {metric.name} returned {len(results)} results for {len(records)} images")
        return results
    results, errors = [], []
    for record in records:
        try:
            results.extend(metric.score([record], context))
        except Exception as error:  # noqa: BLE001  recorded per image, with its reason
            errors.append(error)
            results.append(metric.failed(" ".join(f"{type(error).__name__}: {error}".split())[:300]
                                         if not isinstance(error, ActionBenchError) else str(error)))
    bug = any(not isinstance(e, ActionBenchError) for e in errors)
    if errors and len(errors) == len(records) and (bug or len({str(e) for e in errors}) == 1):
        raise next((e for e in errors if not isinstance(e, ActionBenchError)), errors[0])
    return results
