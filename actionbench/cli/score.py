"""``actionbench score``: score images made anywhere against an action, one row per image.

For a method the suite does not run (another codebase, a paper's released samples, a folder of
photos): every metric and the judge's Action / Subject / Total, with the same models and the same
calibrated threshold as the leaderboard. Metrics that compare with a reference method's images
(``leakage``: the plain prompt's images) need ``--references DIR`` (the reference image of
``x.png`` is ``DIR/x.png``); without it they are skipped with a note.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

from actionbench.config import from_dict, parse_assignment
from actionbench.csvcells import RAW_CSV_HELP, rows_csv
from actionbench.errors import ActionBenchError
from actionbench.perception.settings import ScorerConfig

METHOD = "external"  # the method name written into the records of images made elsewhere


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "score", help="score images made anywhere against an action (every metric and the judge)",
        description="Score image files or folders of images against a registered or custom action: every "
                    "metric and the judge's Action / Subject / Total, one row per image.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders of images (searched recursively)")
    parser.add_argument("--action", required=True,
                        help="the action: a name in the benchmark (see: actionbench list actions), or a folder holding action.toml")
    parser.add_argument("--benchmark", default="mini", help="benchmark name or folder (default: mini)")
    parser.add_argument("--subject", help="what the images should show doing the action, e.g. \"a cat\" "
                                          "(default: none; subject and total judgements are left blank)")
    parser.add_argument("--metrics", default="all", help="comma-separated metric names, or 'all' (default)")
    parser.add_argument("--references", metavar="DIR",
                        help="images of the plain prompt, same file names, for metrics that need them (leakage)")
    parser.add_argument("--out", metavar="FILE.csv", help="also write the rows to this CSV file")
    parser.add_argument("--raw-csv", dest="raw_csv", action="store_true", help=RAW_CSV_HELP)
    add_settings_argument(parser)
    parser.set_defaults(func=main)


def add_settings_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="scorers.KEY=VALUE (e.g. scorers.clip_model=ViT-B-32) or METRIC.KEY=VALUE "
                             "(e.g. judge.pose_threshold=0.6); repeatable")


def scorers_and_settings(assignments: list[str], benchmark_defaults: dict[str, Any]) -> tuple[ScorerConfig, dict]:
    """The scorer config (--set scorers.* < the benchmark's defaults for what is unset) and per-metric settings."""
    from actionbench.metrics import METRICS

    scorers: dict[str, Any] = {}
    settings: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        path, value = parse_assignment(assignment)
        if path[0] == "scorers" and len(path) == 2:
            scorers[path[1]] = value
        elif path[0] in METRICS.names() and len(path) == 2:
            settings.setdefault(path[0], {})[path[1]] = value
        else:
            raise ActionBenchError(f"--set {assignment} names no scorer or metric setting",
                                   "write scorers.KEY=VALUE or METRIC.KEY=VALUE, e.g. judge.pose_threshold=0.6")
    for key, value in benchmark_defaults.get("scorers", {}).items():
        scorers.setdefault(key, value)
    return from_dict(ScorerConfig, scorers, "scorers"), settings


def resolve_action(benchmark, spec: str):
    """A benchmark's action by name, or an action folder (``action.toml``) joined to the benchmark."""
    from actionbench.data import load_action, resolve_actions
    from actionbench.data.folder import ACTION_FILE

    folder = Path(spec).expanduser()
    if (folder / ACTION_FILE).is_file():
        action = load_action(folder, source="custom")
        from actionbench.data.domains import check_domain

        check_domain(benchmark, action)
        return benchmark.with_actions({action.name: action}), action
    return benchmark, resolve_actions(benchmark, [spec])[0]


def image_paths(paths: list[str]) -> list[Path]:
    """Files as given (even when not images: they are reported as unreadable), folders searched."""
    from actionbench.imageio import IMAGE_SUFFIXES

    found: list[Path] = []
    for text in paths:
        path = Path(text).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            found.append(path)
        else:  # a typo, not an image to report as unreadable among the others
            raise ActionBenchError(f"{text} does not exist", "check the path (image files or folders of images)")
    if not found:
        raise ActionBenchError(f"no images found in {', '.join(paths)}", "pass image files or folders that hold images")
    return list(dict.fromkeys(found))


def subject_for(benchmark, text: str | None):
    """The protocol's subject with this text or name, or a new one; None without ``--subject``."""
    from actionbench.data import Subject

    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        raise ActionBenchError("--subject is empty", "name what the images should show, e.g. --subject \"a cat\"")
    for subject in benchmark.protocol.subjects:
        if text.lower() in (subject.text.lower(), subject.name.lower()):
            return subject
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64]  # a plain name (actionbench/names.py)
    return Subject(name=slug or "subject", text=text, kind="other")


def main(args: argparse.Namespace) -> int:
    from actionbench.data import Subject, get_benchmark
    from actionbench.imageio import open_rgb
    from actionbench.metrics import METRICS
    from actionbench.metrics.base import ImageRecord, ScoringContext, score_safely
    from actionbench.plan import metric_config, resolve_device

    benchmark, action = resolve_action(get_benchmark(args.benchmark), args.action)
    scorers, settings = scorers_and_settings(args.assignments, benchmark.defaults)
    paths = image_paths(args.paths)
    subject = subject_for(benchmark, args.subject)
    metrics = METRICS.resolve(args.metrics)
    typed = {name: metric_config(name, benchmark, settings.get(name, {}))  # checked as a run's are
             for name in dict.fromkeys([*settings, *metrics])}
    if subject is None:
        metrics = _without_subject(metrics)
    for name in list(metrics):
        reference = METRICS.get(name).reference_method
        if reference and not args.references:
            print(f"actionbench: note: metric {name} is skipped: it compares with the '{reference}' method's "
                  "images of the same prompt; pass --references DIR holding them under the same file names",
                  file=sys.stderr)
            metrics.remove(name)

    unreadable = 0
    for path in paths:
        try:
            open_rgb(path)
        except ActionBenchError as error:
            unreadable += 1
            print(f"actionbench: unreadable: {error}", file=sys.stderr)
    record_subject = subject or Subject(name="none", text="", kind="other")
    references = Path(args.references).expanduser() if args.references else None
    records = [ImageRecord(image_id=_image_id(path, paths), path=path, method=METHOD, action=action.name,
                           subject=record_subject, seed=0, prompt=benchmark.protocol.prompt(record_subject),
                           reference_path=references / path.name if references else None) for path in paths]

    shared: dict = {}
    columns: list[str] = []  # every metric's scores, then the words metrics show beside them (labels)
    labels: list[str] = []
    summaries: list[str] = []
    rows = [{"image": str(r.path), "image_id": r.image_id} for r in records]
    failures: list[list[str]] = [[] for _ in records]
    for name in metrics:
        metric = METRICS.get(name)()
        context = ScoringContext(benchmark=benchmark, action=action, scorers=scorers,
                                 device=resolve_device(scorers.device), settings=typed[name], shared=shared)
        results = score_safely(metric, records, context)
        columns += [info.name for info in metric.scores]
        for row, fails, result in zip(rows, failures, results):
            row.update({info.name: result.values.get(info.name, math.nan) for info in metric.scores})
            words = metric.labels(result.values)
            row.update(words)
            labels += [column for column in words if column not in labels]
            if result.failure and f"{name}: {result.failure}" not in fails:
                fails.append(f"{name}: {result.failure}")
        summaries += metric.summary(results, context)
    for row, fails in zip(rows, failures):
        row["failures"] = "; ".join(fails)
    header = ["image", "image_id"] + columns + labels + ["failures"]

    print(_table(rows, ["image_id"] + columns + labels))
    _print_summary(rows, unreadable, action, benchmark, summaries)
    if args.out:
        from actionbench.fileio import atomic_write_text

        atomic_write_text(Path(args.out), _csv(rows, header, args.raw_csv))
        print(f"rows written to {args.out}")
    return 1 if unreadable == len(rows) else 0  # nothing scored is a failure a script must see


def _image_id(path: Path, paths: list[Path]) -> str:
    """The file name, or the path when two files share a name."""
    clash = sum(p.name == path.name for p in paths) > 1
    return str(path) if clash else path.name


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _table(rows: list[dict], columns: list[str]) -> str:
    cells = [columns] + [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(line[k]) for line in cells) for k in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells)


def _csv(rows: list[dict], header: list[str], raw: bool = False) -> str:
    blank_nan = [{k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]
    return rows_csv(header, blank_nan, raw, extrasaction="ignore")


def _without_subject(metrics: list[str]) -> list[str]:
    """The metrics that can score images asked for no particular subject, with one note saying what
    is skipped (``Metric.needs_subject``) and what is left blank (``Metric.without_subject``)."""
    from actionbench.metrics import METRICS

    classes = {name: METRICS.get(name) for name in metrics}
    skipped = [f"metric {name} is skipped" for name, cls in classes.items() if cls.needs_subject]
    blank = [f"the {name}'s {cls.without_subject} are left blank" for name, cls in classes.items()
             if cls.without_subject and not cls.needs_subject]
    if skipped or blank:
        print(f"actionbench: note: {' and '.join(skipped + blank)}: no --subject given", file=sys.stderr)
    return [name for name, cls in classes.items() if not cls.needs_subject]


def _print_summary(rows: list[dict], unreadable: int, action, benchmark, summaries: list[str]) -> None:
    """The count of images, then each metric's own summary lines (``Metric.summary``)."""
    scored = len(rows) - unreadable
    print(f"{len(rows)} image(s) scored against action {action.name} of {benchmark.name}; {unreadable} unreadable")
    for line in summaries:
        print(line)
    if scored == 0:
        print("actionbench: note: no image could be read", file=sys.stderr)
