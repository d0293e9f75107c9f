"""``subject``: is the prompted subject what the image shows? CLIP zero-shot among the protocol's subjects.

With unit-length CLIP embeddings, the image x is classified among the protocol's subjects s_1..s_m
(the prompted subject added when a custom prompt names another) with the texts
"a photo of {s_k.text}"::

    p_k(x)           = softmax_k(100 * cos(E_I(x), E_T("a photo of " + s_k.text)))
    subject_top1     = 1 if argmax_k p_k(x) is the prompted subject, else 0
    subject_prob     = p_prompted(x)

100 is CLIP's logit scale (OpenAI's trained value, fixed here so that every CLIP model is read the
same way). A method that copies the exemplars' human appearance instead of drawing "a cat" loses
here: the paper's low Subject scores of Custom Diffusion and P+. (The ``judge`` reports the same
decision as ``subject_correct``; score names are unique across metrics, so the board never counts
an image twice.)
"""

from __future__ import annotations

import numpy as np

from actionbench.data import Subject
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.features import clip_results, image_features, open_images, text_features

LOGIT_SCALE = 100.0
TEMPLATE = "a photo of {}"


def zero_shot_probabilities(image_features: np.ndarray, class_features: np.ndarray,
                            logit_scale: float = LOGIT_SCALE) -> np.ndarray:
    """Functional zero-shot classification: softmax over classes of ``logit_scale`` x cosine,
    images (N, D) x classes (K, D) -> (N, K); rows of NaN for non-finite images."""
    images = np.asarray(image_features, dtype=np.float64)
    classes = np.asarray(class_features, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        images = images / np.linalg.norm(images, axis=-1, keepdims=True)
        classes = classes / np.linalg.norm(classes, axis=-1, keepdims=True)
    logits = logit_scale * images @ classes.T
    logits = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def candidate_subjects(context: ScoringContext, records: list[ImageRecord]) -> list[Subject]:
    """The protocol's subjects, plus any prompted subject the protocol lacks, without duplicates."""
    subjects = {s.text: s for s in context.benchmark.protocol.subjects}
    for record in records:
        subjects.setdefault(record.subject.text, record.subject)
    return list(subjects.values())


def subject_judgements(context: ScoringContext, records: list[ImageRecord],
                       features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top-1 correct, probability of the prompted subject) per record, from the CLIP embeddings ``features``."""
    subjects = candidate_subjects(context, records)
    texts = text_features(context, [TEMPLATE.format(s.text) for s in subjects])
    probabilities = zero_shot_probabilities(features, texts)
    index = {s.text: k for k, s in enumerate(subjects)}
    wanted = np.array([index[r.subject.text] for r in records])
    rows = np.arange(len(records))
    correct = np.where(np.isfinite(probabilities).all(axis=1),
                       (np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1) == wanted).astype(float), np.nan)
    return correct, probabilities[rows, wanted]


@METRICS.register("subject")
class SubjectFidelity(Metric):
    """Subject fidelity: CLIP zero-shot classification among the protocol's subjects picks the prompted one."""

    name = "subject"
    needs_subject = True
    scores = (
        ScoreInfo("subject_top1", "1 when CLIP zero-shot classification among the protocol's subjects picks "
                  "the prompted subject", True, kind="binary", role="subject", label="Subject top-1"),
        ScoreInfo("subject_prob", "CLIP zero-shot probability of the prompted subject among the protocol's subjects",
                  True, role="subject", label="Subject prob.", scale="0–1"),
    )

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        if all(image is None for image in images):
            return [self.failed(failure) for failure in failures]
        features = image_features(context, paths, images)
        correct, probability = subject_judgements(context, records, features)
        return clip_results(self, images, failures, features,
                            lambda i: {"subject_top1": float(correct[i]), "subject_prob": float(probability[i])})
