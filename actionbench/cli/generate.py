"""``actionbench generate``: draw new images from a trained unit of a run (any prompt, seeds, steps, guidance)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.seeding import check_seeds


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="draw new images with a trained method and action of a run",
        description="Draw images from a trained unit of a run: the method's settings and base model are read "
                    "from the run's manifest, the artifact from units/METHOD/ACTION/artifact. Each image is "
                    "written with a JSON sidecar holding everything needed to draw it again; several seeds also "
                    "give a grid. Example: actionbench generate runs/latest --method adi --action cheer "
                    "--prompt \"a corgi {action} on the moon\" --seeds 0,1,2")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'actionbench run'")
    parser.add_argument("--method", required=True, help="a method of the run")
    parser.add_argument("--action", required=True, help="an action the method was trained on in the run")
    parser.add_argument("--prompt", required=True,
                        help='the prompt, with {action} where the action goes: "a corgi {action} on the moon"')
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, one image each (default: 0)")
    parser.add_argument("--steps", type=int, help="sampling steps (default: the run's)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the run's)")
    parser.add_argument("--out", help="output folder (default: RUN_DIR/samples/METHOD/ACTION)")
    parser.add_argument("--device", help="'cpu', 'cuda', 'cuda:1' or 'auto' (default: the run's)")
    parser.set_defaults(func=main)


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ActionBenchError(f"--seeds {text!r} is not a list of whole numbers",
                               "pass comma-separated seeds such as 0,1,2") from error
    return check_seeds(seeds, "--seeds")


def main(args: argparse.Namespace) -> int:
    from actionbench.samples import (
        SAMPLES_FOLDER, check_out_dir, generate_samples, open_trained_unit, refuse_clashes, resolve_request,
        write_samples)

    seeds = parse_seeds(args.seeds)
    trained = open_trained_unit(args.run_dir, args.method, args.action)
    if trained.unit.action is None:
        print(f"actionbench: note: {args.method} is the run's reference: it draws the subject alone, the same "
              f"for every action ({args.action} included)", file=sys.stderr)
    request = resolve_request(trained, args.prompt, seeds, args.steps, args.guidance)
    default = Path(args.run_dir) / SAMPLES_FOLDER / trained.unit.method / trained.action_name
    out_dir = check_out_dir(Path(args.out) if args.out else default, Path(args.run_dir))
    refuse_clashes(trained, request, out_dir)
    images = generate_samples(trained, request, args.device)
    written = write_samples(trained, request, images, out_dir)
    for path in written.images:
        print(f"image: {path}")
    if written.grid:
        print(f"grid: {written.grid}")
    return 0
