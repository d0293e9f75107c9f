"""``actionbench run``: train, generate and score every method on every action; resumable."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from actionbench.config import RunConfig, deep_update, from_dict, parse_assignment, read_config_file
from actionbench.errors import ActionBenchError, first_few
from actionbench.store import RunStore

RUN_SETTINGS = {f.name for f in dataclasses.fields(RunConfig)}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="train, generate and score methods on actions (resumes an interrupted run)",
        description="For every (method, action): train once, generate the protocol's prompts over the seeds, "
                    "score every image with every metric. Re-running the same command resumes.")
    parser.add_argument("--methods", help="comma-separated method names, or 'all' (see: actionbench list methods)")
    parser.add_argument("--actions", help="comma-separated action names, or 'all' (see: actionbench list actions)")
    parser.add_argument("--benchmark", help="benchmark name or folder (default: mini)")
    parser.add_argument("--base-model", dest="base_model",
                        help="base model: a registered name (mini, tiny), a local diffusers folder or a Hugging Face id")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the benchmark protocol's)")
    parser.add_argument("--metrics", help="comma-separated metric names, or 'all' (default: all)")
    parser.add_argument("--out", help="run directory (default: runs/latest)")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--executor", help="local (default), ray or slurm")
    parser.add_argument("--workers", type=int,
                        help="local: N worker processes on this node, one GPU each where there are GPUs; "
                             "ray: the size of a local cluster (default: 1)")
    parser.add_argument("--ray-address", dest="ray_address",
                        help="join a running Ray cluster: auto or HOST:PORT (implies --executor ray)")
    parser.add_argument("--retries", type=int, help="extra attempts for a unit that fails (default: 0)")
    parser.add_argument("--config", help="a TOML or YAML file of settings (see README)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting: METHOD.key=value, METRIC.key=value or a run setting "
                             "(e.g. --set adi.steps=100 --set scorers.clip_model=ViT-B-32); repeatable")
    parser.add_argument("--no-report", action="store_true", help="do not write the leaderboard at the end")
    parser.add_argument("--replace", action="store_true",
                        help="discard finished trainings and images that changed settings make stale, and redo "
                             "them (without it such a run is refused: use a new --out to keep both)")
    parser.add_argument("--force", action="store_true",
                        help="write the run into a non-empty --out folder that is not a run directory "
                             "(its other files are left alone)")
    parser.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults < --config file < flags < --set assignments."""
    from actionbench.methods import METHODS
    from actionbench.metrics import METRICS

    settings: dict[str, Any] = read_config_file(args.config) if args.config else {}
    for flag in ("methods", "actions", "benchmark", "base_model", "seeds", "metrics", "out", "device",
                 "executor", "workers", "retries"):
        value = getattr(args, flag, None)
        if value is not None:
            settings[flag] = value
    if getattr(args, "ray_address", None):
        settings.setdefault("executor_settings", {}).setdefault("ray", {})["address"] = args.ray_address
        if args.executor is None:
            settings["executor"] = "ray"
    for assignment in args.assignments:
        path, value = parse_assignment(assignment)
        if path[0] in METHODS.names() and len(path) > 1:
            path = ["method_settings"] + path
        elif path[0] in METRICS.names() and len(path) > 1:
            path = ["metric_settings"] + path
        elif len(path) > 1 and path[0] not in RUN_SETTINGS:  # a misspelt method or metric, most likely
            raise ActionBenchError(f"--set {assignment}: '{path[0]}' is not a method, a metric or a run setting",
                                   f"methods: {', '.join(METHODS.names())}; metrics: {', '.join(METRICS.names())}; "
                                   "run settings such as scorers.clip_model")
        deep_update(settings, path, value)
    return from_dict(RunConfig, settings, "the run configuration")


def check_out_folder(out: Path, force: bool) -> None:
    """``--out`` is a new or empty folder, or a run directory (which resumes); anything else is
    someone's folder, and a run written into it unasked would mix with their files."""
    if out.exists() and not out.is_dir():
        raise ActionBenchError(f"--out {out} is a file, not a folder", "choose a folder for the run")
    foreign = RunStore(out).foreign_entries()
    if foreign and not force:
        shown = first_few(foreign, 3)
        raise ActionBenchError(f"--out {out} is not empty and is not a run directory (it holds {shown})",
                               "choose a new or empty folder, or pass --force to write the run beside those files")


def main(args: argparse.Namespace) -> int:
    from actionbench.reports import make_report
    from actionbench.runner import run

    config = config_from_args(args)
    check_out_folder(Path(config.out), force=args.force)
    summary = run(config, replace=args.replace)
    for notice in summary.notices:
        print(f"actionbench: note: {notice}", file=sys.stderr)
    print(f"run directory: {summary.run_dir} ({len(summary.units)} units)")
    for unit, (stage, error) in summary.failures.items():
        print(f"actionbench: unit {unit.label} failed in {stage}: {error}", file=sys.stderr)
    if not args.no_report:
        try:
            paths = make_report([summary.run_dir], summary.run_dir)
            print(f"leaderboard: {paths.html}")
            print(f"leaderboard (CSV): {paths.csv}")
            for note in paths.notes:
                print(f"actionbench: note: {note}", file=sys.stderr)
        except Exception as error:  # the run's results are safe; only the board could not be drawn
            print(f"actionbench: the leaderboard could not be written ({error}); "
                  f"run 'actionbench report {summary.run_dir}'", file=sys.stderr)
    from actionbench.reports.timing import report_timing  # per stage and method; also timing.csv

    try:
        timing = report_timing(summary.run_dir, this_invocation=True)
    except ActionBenchError as error:  # a full disk: the results are safe, the failures below still count
        print(f"actionbench: the timing table could not be written ({error.problem})", file=sys.stderr)
        timing = ""
    if timing:  # empty when no stage has finished
        print(timing)
    if summary.failures:
        print(f"actionbench: {len(summary.failures)} unit(s) failed; their finished stages are kept. "
              f"Fix the cause and re-run the same command to resume.", file=sys.stderr)
        return 1
    return 0
