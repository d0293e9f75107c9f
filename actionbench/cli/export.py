"""``actionbench export``: a trained unit of a run as a folder for a model hub (artifact, model card, samples)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a trained method and action of a run as a model-hub folder with a model card",
        description="Write DIR: the unit's artifact, README.md (a model card with the hub's YAML metadata, the "
                    "loading snippet, samples, the unit's scores with 95% CIs, its settings and the exemplars' "
                    "licence), example.py (the snippet as a script: stock diffusers, no actionbench import), "
                    "samples/ (images with sidecars, a grid) and actionbench_export.json. DIR must be new or empty.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'actionbench run'")
    parser.add_argument("out_dir", metavar="DIR", help="the folder to write (new or empty)")
    parser.add_argument("--method", required=True, help="a method of the run")
    parser.add_argument("--action", required=True, help="an action the method was trained on in the run")
    parser.add_argument("--prompt", help="the samples' prompt, with {action} (default: the protocol's first)")
    parser.add_argument("--seeds", default="0,1,2,3", help="the samples' seeds (default: 0,1,2,3)")
    parser.add_argument("--device", help="'cpu', 'cuda' or 'auto' for the samples (default: the run's)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from actionbench.cli.generate import parse_seeds
    from actionbench.errors import ActionBenchError
    from actionbench.export import export_unit
    from actionbench.samples import open_trained_unit, resolve_request

    seeds = parse_seeds(args.seeds)
    if not seeds:
        raise ActionBenchError("no seed given", "pass --seeds 0 or a comma-separated list such as 0,1,2,3")
    trained = open_trained_unit(args.run_dir, args.method, args.action)
    if trained.unit.action is None:  # its card would name the action "_shared" and an empty placeholder
        raise ActionBenchError(f"{args.method} is the run's reference (the subject alone, one unit for every "
                               "action): it learned no action to export", "export a method trained on the action")
    if args.prompt is not None:
        resolve_request(trained, args.prompt, seeds, None, None)  # the prompt's own checks
    written = export_unit(trained, Path(args.out_dir), prompt=args.prompt, seeds=tuple(seeds), device=args.device)
    print(f"exported: {written.folder}")
    print(f"model card: {written.card}")
    print(f"loading script: {written.example}")
    return 0
