"""``actionbench validate-judge``: how often the judge is right on the actions' own exemplars.

Leave-one-out (``actionbench.metrics.judge_validation``): each exemplar is judged as if generated,
against every chosen action, with itself removed from its own action's exemplars. Prints detection
rate, top-1 accuracy, recall per action, the confusion matrix, the ROC AUC of same-action versus
different-action similarity and the rates of the calibrated yes/no judgement; ``--json`` writes
``{"accuracy", "detection_rate", "auc", "per_action": {name: recall}, ...}``. On a benchmark whose
world can draw its truth (``WORLD_TRUTHS``: mini), also the judge against renders of every subject
doing every action at several image qualities (``"world_truth"`` in the JSON; docs/judge.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from actionbench.cli.score import add_settings_argument, scorers_and_settings
from actionbench.errors import ActionBenchError
from actionbench.fileio import nearest_existing


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate-judge", help="measure the action judge on the exemplars (leave-one-out)",
        description="Judge each exemplar of the chosen actions as if it were generated, with itself left out of "
                    "its action's exemplars; print accuracy, detection rate, recall per action, the confusion "
                    "matrix and the ROC AUC.")
    parser.add_argument("--actions", required=True, help="comma-separated action names, or 'all'")
    parser.add_argument("--benchmark", default="mini", help="benchmark name or folder (default: mini)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to this JSON file")
    add_settings_argument(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from actionbench.data import get_benchmark, resolve_actions
    from actionbench.data.domains import foreign_actions, left_out_notice
    from actionbench.fileio import atomic_write_json
    from actionbench.metrics.judge_validation import judge_settings_from, validate_judge
    from actionbench.plan import check_exemplars_readable, resolve_device

    started = time.perf_counter()
    check_json_path(args.json)
    benchmark = get_benchmark(args.benchmark)
    actions = resolve_actions(benchmark, args.actions)
    for action in actions:  # as `run` does: a figure computed without a damaged exemplar would mislead
        check_exemplars_readable(action)
    if args.actions.strip() == "all":
        for action in foreign_actions(benchmark):
            print(f"actionbench: note: {left_out_notice(action, benchmark)}", file=sys.stderr)
    scorers, settings = scorers_and_settings(args.assignments, benchmark.defaults)
    judge_settings = judge_settings_from(settings.get("judge", {}))
    device = resolve_device(scorers.device)
    shared: dict = {}
    result = validate_judge(benchmark, actions, scorers, judge_settings, device=device, shared=shared)
    for note in result.notes:
        print(f"actionbench: note: {note}", file=sys.stderr)
    print(report(result, time.perf_counter() - started))
    figures = result.to_json()
    truth = world_truth(benchmark, actions, scorers, judge_settings, device, shared)
    if truth is not None:
        print("")
        print(truth_report(truth))
        figures["world_truth"] = [level.to_json() for level in truth]
    if args.json is not None:
        atomic_write_json(Path(args.json), figures)
        print(f"figures written to {args.json}")
    return 0


def check_json_path(text: str | None) -> None:
    """``--json``'s file can be written, checked before the minutes of judging that precede it."""
    if text is None:
        return
    path = Path(text)
    if not text.strip():
        raise ActionBenchError("--json is empty", "give a file to write the figures to, e.g. --json judge.json")
    if path.is_dir():
        raise ActionBenchError(f"--json {text} is a folder", f"give a file, e.g. --json {path / 'judge.json'}")
    existing = nearest_existing(path.parent)
    if not existing.is_dir():
        raise ActionBenchError(f"--json {text} is inside {existing}, which is a file, not a folder",
                               "give a path in a folder")


def report(result, seconds: float) -> str:
    """The printed table (see the module docstring)."""
    judgements = result.judgements
    n = len(judgements)
    by_pose = sum(j.judged_by == "pose" for j in judgements)
    by_clip = sum(j.judged_by == "clip" for j in judgements)
    same, different = result.auc_pairs
    binary = result.binary
    lines = [
        f"validate-judge: {len(result.actions)} actions of {result.benchmark} (version {result.benchmark_version}), "
        f"{n} exemplars, leave-one-out, {seconds:.1f} s",
        f"detection rate   {result.detection_rate:.3f}  ({sum(j.detected for j in judgements)}/{n} with a comparable person)",
        f"top-1 accuracy   {result.accuracy:.3f}  ({sum(j.predicted == j.action for j in judgements)}/{n}; "
        f"{by_pose} judged by pose, {by_clip} by CLIP, {n - by_pose - by_clip} not judged)",
        f"ROC AUC          {result.auc:.3f}  (similarity of same-action vs different-action exemplar pairs, "
        f"{same} vs {different})",
        f"yes/no judgement own action accepted {binary.accepted_own:.3f}, other actions accepted "
        f"{binary.accepted_other:.3f}, balanced accuracy {binary.balanced_accuracy:.3f} "
        f"(threshold re-fitted without the exemplar judged)",
        f"calibration      {result.calibration.summary()}",
    ]
    if result.clip_only:
        lines.append(f"judged by CLIP only (fewer than 2 exemplar poses): {', '.join(result.clip_only)}")
    names = result.actions
    short = [name[:7] for name in names] + ["none"]
    width = max(len(name) for name in names + ["action"])
    lines.append("")
    lines.append(f"{'action'.ljust(width)}   n  found  recall  | predicted: " + " ".join(s.rjust(7) for s in short))
    matrix = result.confusion()
    for k, name in enumerate(names):
        mine = [j for j in judgements if j.action == name]
        mark = " (CLIP only)" if name in result.clip_only else ""
        lines.append(f"{name.ljust(width)} {len(mine):3d}  {sum(j.detected for j in mine):5d}  "
                     f"{result.recall(name):6.3f}  | {'':10} " + " ".join(f"{c:7d}" for c in matrix[k]) + mark)
    return "\n".join(lines)


def world_truth(benchmark, actions, scorers, settings, device: str, shared: dict):
    """The judge against images whose action the benchmark's world knows (None: it registers none)."""
    from actionbench.metrics.judge_validation import WORLD_TRUTHS, judge_against_truth

    from actionbench.data.domains import benchmark_domain

    # a world's truth is drawn by its renderer: only for the benchmark of that name and of its domain
    if benchmark.name not in WORLD_TRUTHS.names() or benchmark_domain(benchmark) != actions[0].domain:
        return None
    levels = WORLD_TRUTHS.get(benchmark.name)(benchmark, [a.name for a in actions])
    return judge_against_truth(benchmark, actions, levels, scorers, settings, device=device, shared=shared)


def truth_report(results) -> str:
    """Per degradation level: its measured distance, the judge's rates, the worst action, the curve."""
    from actionbench.metrics.judge_validation import CURVE_THRESHOLDS

    first = results[0]
    per_action = len(first.labels) // max(len(first.actions), 1)
    name_width = max([8] + [len(name) for name in first.actions])  # action names are never cut short
    lines = [f"against the world's truth: {per_action} renders of each of {len(first.actions)} actions (the protocol's "
             f"subjects), judged against every action with the board's threshold {first.threshold:.3f}; positives: "
             f"the action's own renders (the oracle control), negatives: other actions' (the wrong_action control)",
             f"{'level':28} {'distance':>8} {'sharp':>6} {'found':>6} {'own':>6} {'other':>6} {'bal.acc':>7}  "
             f"{'worst own':>{name_width + 6}} {'worst other':>{name_width + 6}}  best threshold (bal.acc)",
             ]
    for result in results:
        own, other, balanced = result.rates()
        per = result.per_action()
        worst_own = min(per, key=lambda a: per[a][0])
        worst_other = max(per, key=lambda a: per[a][1])
        best_t, best_b = result.best()
        lines.append(f"{result.level.name:28} {result.level.distance:8.1f} {result.level.sharpness:6.1f} "
                     f"{result.detection_rate:6.3f} {own:6.3f} {other:6.3f} {balanced:7.3f}  "
                     f"{worst_own:>{name_width}} {per[worst_own][0]:5.2f} {worst_other:>{name_width}} "
                     f"{per[worst_other][1]:5.2f}  "
                     f"{best_t:.3f} ({best_b:.3f})")
    lines.append("distance: mean absolute difference from the renders (0-255); sharp: mean gradient magnitude; "
                 "own: renders accepted as their own action; other: accepted as another")
    lines.append("balanced accuracy by threshold: " + " ".join(f"{t:.2f}" for t in CURVE_THRESHOLDS))
    for result in results:
        lines.append(f"  {result.level.name:28} " + " ".join(f"{result.rates(t)[2]:.2f}" for t in CURVE_THRESHOLDS))
    return "\n".join(lines)

