"""Human ratings beside the judge: people's Action / Subject / Total, their agreement with the judge and
with each other. Read from the run store only (``RUN_DIR/ratings/``, written by ``actionbench rate``).

Choices (``docs/ratings.md``):
- A rater's latest judgement of an image counts; "skip" answers count nowhere. Total is "yes" when a
  rater said yes to both questions (only judgements that answer both count for Total).
- A method's human rate is the mean over its rated images of the share of raters who said yes; the
  95% CI bootstraps the images (``actionbench.stats.bootstrap_ci``), so several raters of one image
  are not counted as independent evidence.
- The judge is every binary score with role "action", "subject" or "total"; a metric that declares
  exactly one binary action and one binary subject score also gives a Total judge (both yes).
- Judge vs humans compares the judge's decision on an image with the raters' majority on it (ties
  left out): accuracy with a bootstrap CI, and Cohen's kappa. With one rater, that rater is the
  majority.
- Inter-rater agreement is Krippendorff's alpha (nominal) over the images two or more raters judged;
  it is reported only when there are two raters or more.
- Methods are rows; "all" pools every method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from actionbench.agreement import cohen_kappa, krippendorff_alpha_nominal
from actionbench.fileio import atomic_write_text
from actionbench.rating.store import QUESTIONS, RatingsStore
from actionbench.rating.study import read_settings, run_images
from actionbench.reports.leaderboard import PAPER_JUDGEMENTS, judgement_role
from actionbench.reports.load import RunData
from actionbench.stats import bootstrap_ci
from actionbench.store import RunStore

ALL_METHODS = "all"
HUMAN_QUESTIONS = ("action", "subject", "total")
KEY = ["run", "method", "action", "image_id"]
CSV_COLUMNS = ["benchmark", "method", "question", "human_mean", "human_ci_low", "human_ci_high", "images",
               "judgements", "raters", "alpha", "alpha_images", "judge", "judge_mean", "agreement_images",
               "accuracy", "accuracy_ci_low", "accuracy_ci_high", "kappa"]


@dataclass
class HumanRatings:
    """Every counted answer, one row per (image, rater, question); answer 1.0 for yes, 0.0 for no."""

    answers: pd.DataFrame  # run, method, action, image_id, rater, question, answer
    judgements: int  # latest judgements of images still in the run
    stale: int = 0  # judgements of images no longer in the run: regenerated, or their method left (left out)
    raters: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.answers.empty


def load_ratings(run_dirs: Sequence[str | Path]) -> HumanRatings | None:
    """The ratings of every run that has a study; None when no run has any."""
    rows, judgements, stale, raters, found = [], 0, 0, set(), False
    for run_dir in run_dirs:
        settings = read_settings(run_dir)
        if settings is None:
            continue
        found = True
        store = RunStore(run_dir)
        run = str(store.root)
        images = {image.id: image for image in run_images(store, settings["salt"])}
        for (rater, image_id), judgement in RatingsStore(run_dir).latest().items():
            image = images.get(image_id)
            if image is None:
                stale += 1
                continue
            judgements += 1
            raters.add(rater)
            base = {"run": run, "method": image.method, "action": image.action, "image_id": image.image_id,
                    "rater": rater}
            answers = {q: judgement.answer(q) for q in QUESTIONS}
            for question, answer in answers.items():
                if answer != "skip":
                    rows.append({**base, "question": question, "answer": float(answer == "yes")})
            if "skip" not in answers.values():
                rows.append({**base, "question": "total", "answer": float(all(a == "yes" for a in answers.values()))})
    if not found:
        return None
    frame = pd.DataFrame(rows, columns=KEY + ["rater", "question", "answer"])
    return HumanRatings(answers=frame, judgements=judgements, stale=stale, raters=sorted(raters))


def judge_decisions(data: RunData) -> pd.DataFrame:
    """The judge's 0/1 decision per image: run, method, action, image_id, question, judge, value."""
    columns = KEY + ["question", "judge", "value"]
    scores = data.scores[data.scores["failure"].isna() & data.scores["value"].notna()]
    frames = []
    roles = {s: judgement_role(s, data.infos.get(s, {})) for s in scores["score"].unique()}
    for score, role in sorted(roles.items()):
        if role is not None:
            part = scores[scores["score"] == score]
            frames.append(part[KEY].assign(question=role, judge=score, value=(part["value"] > 0.5).astype(float)))
    by_metric: dict[str, dict[str, list[str]]] = {}
    for score, role in roles.items():
        if role in ("action", "subject"):
            metric = data.infos.get(score, {}).get("metric", score)
            by_metric.setdefault(metric, {}).setdefault(role, []).append(score)
    for metric, found in sorted(by_metric.items()):
        if len(found.get("action", [])) == 1 and len(found.get("subject", [])) == 1:
            action, subject = found["action"][0], found["subject"][0]
            both = scores[scores["score"].isin([action, subject])].pivot_table(
                index=KEY, columns="score", values="value", aggfunc="first").dropna()
            if both.empty:
                continue
            value = ((both[action] > 0.5) & (both[subject] > 0.5)).astype(float)
            frames.append(value.rename("value").reset_index().assign(question="total", judge=f"{action} & {subject}"))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _with_all(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    methods = sorted(frame["method"].unique())
    return [(m, frame[frame["method"] == m]) for m in methods] + [(ALL_METHODS, frame)]


def _nan_estimate() -> dict[str, float]:
    return {"mean": math.nan, "low": math.nan, "high": math.nan}


def human_summary(ratings: HumanRatings, data: RunData) -> pd.DataFrame:
    """One row per (method or "all", question, judge): the columns of ``human.csv`` (without benchmark)."""
    answers = ratings.answers
    judge = judge_decisions(data)
    rows = []
    if answers.empty:
        return pd.DataFrame(columns=CSV_COLUMNS[1:])
    several = len(ratings.raters) >= 2
    for method, part in _with_all(answers):
        for question in HUMAN_QUESTIONS:
            rated = part[part["question"] == question]
            if rated.empty:
                continue
            per_image = rated.groupby(KEY)["answer"].mean()
            estimate = bootstrap_ci(per_image.to_numpy())
            units = rated.groupby(KEY)["answer"].apply(list)
            pairable = units[units.map(len) >= 2]
            alpha = krippendorff_alpha_nominal(pairable.tolist()) if several else math.nan
            base = {"method": method, "question": question, "human_mean": estimate.mean,
                    "human_ci_low": estimate.low, "human_ci_high": estimate.high, "images": estimate.n,
                    "judgements": int(len(rated)), "raters": int(rated["rater"].nunique()),
                    "alpha": alpha, "alpha_images": int(len(pairable)) if several else 0}
            majority = per_image[per_image != 0.5].gt(0.5).astype(float).rename("human")
            decisions = judge[judge["question"] == question]
            if method != ALL_METHODS:
                decisions = decisions[decisions["method"] == method]
            judges = sorted(decisions["judge"].unique())
            if not judges:
                rows.append({**base, "judge": "", "judge_mean": math.nan, "agreement_images": 0,
                             "accuracy": math.nan, "accuracy_ci_low": math.nan, "accuracy_ci_high": math.nan,
                             "kappa": math.nan})
            for name in judges:
                decided = decisions[decisions["judge"] == name].set_index(KEY)["value"]
                paired = pd.concat([decided.rename("judge"), majority], axis=1, join="inner")
                agree = (paired["judge"] == paired["human"]).astype(float).to_numpy()
                accuracy = bootstrap_ci(agree)
                rows.append({**base, "judge": name,
                             "judge_mean": float(paired["judge"].mean()) if len(paired) else math.nan,
                             "agreement_images": int(len(paired)), "accuracy": accuracy.mean,
                             "accuracy_ci_low": accuracy.low, "accuracy_ci_high": accuracy.high,
                             "kappa": cohen_kappa(paired["judge"].tolist(), paired["human"].tolist())})
    return pd.DataFrame(rows, columns=CSV_COLUMNS[1:])


def write_human_csv(summary: pd.DataFrame, path: Path, benchmark_label: str, raw: bool = False) -> Path:
    from actionbench.csvcells import frame_csv

    table = summary.copy()
    table.insert(0, "benchmark", benchmark_label)
    atomic_write_text(path, frame_csv(table, raw))
    return path


def percent(mean: float, low: float | None = None, high: float | None = None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{mean * 100:.1f}"
    return f"{mean * 100:.1f} [{low * 100:.1f}, {high * 100:.1f}]"


def number(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def display(summary: pd.DataFrame, ratings: HumanRatings) -> dict:
    """The human section of the board, as display strings (the template escapes them)."""
    if summary.empty:
        return {}
    methods = list(dict.fromkeys(summary["method"]))
    first = summary.drop_duplicates(["method", "question"]).set_index(["method", "question"])
    questions = [q for q in HUMAN_QUESTIONS if q in set(summary["question"])]
    rates = []
    for method in methods:
        cells = []
        for question in questions:
            row = first.loc[(method, question)] if (method, question) in first.index else None
            cells.append({"human": "–" if row is None else percent(row.human_mean, row.human_ci_low, row.human_ci_high),
                          "value": "" if row is None or np.isnan(row.human_mean) else repr(float(row.human_mean)),
                          "judge": "–" if row is None else percent(row.judge_mean),
                          "judge_value": "" if row is None or np.isnan(row.judge_mean) else repr(float(row.judge_mean)),
                          "images": 0 if row is None else int(row.images)})
        rates.append({"method": method, "cells": cells})
    agreement = [{"method": r.method, "question": PAPER_JUDGEMENTS[r.question], "judge": r.judge,
                  "images": int(r.agreement_images), "accuracy": percent(r.accuracy, r.accuracy_ci_low, r.accuracy_ci_high),
                  "kappa": number(r.kappa)} for r in summary.itertuples() if r.judge]
    alpha = [{"method": r.method, "question": PAPER_JUDGEMENTS[r.question], "alpha": number(r.alpha),
              "images": int(r.alpha_images)} for r in summary.drop_duplicates(["method", "question"]).itertuples()]
    # the judge column shows each question's first judge (the rows of ``first``); the header names it
    judges = [first.loc[(ALL_METHODS, q)].judge if (ALL_METHODS, q) in first.index else "" for q in questions]
    return {"questions": [PAPER_JUDGEMENTS[q] for q in questions], "rates": rates, "agreement": agreement,
            "alpha": alpha if len(ratings.raters) >= 2 else [], "raters": ratings.raters,
            "judgements": ratings.judgements, "judges": [f"judge: {j}" if j else "no judge" for j in judges]}


def format_table(summary: pd.DataFrame) -> str:
    """The human numbers for the terminal: per method and question, human vs judge and agreement."""
    header = f"{'method':<14} {'question':<8} {'human % [95% CI]':<24} {'judge':<22} {'judge %':>8} {'acc %':>7} {'kappa':>6} {'alpha':>6}"
    lines = ["human ratings (judge on the same images; agreement with the raters' majority)", header]
    for r in summary.itertuples():
        lines.append(f"{r.method[:14]:<14} {r.question:<8} {percent(r.human_mean, r.human_ci_low, r.human_ci_high):<24} "
                     f"{(r.judge or '–')[:22]:<22} {percent(r.judge_mean):>8} {percent(r.accuracy):>7} "
                     f"{number(r.kappa):>6} {number(r.alpha):>6}")
    return "\n".join(lines)
