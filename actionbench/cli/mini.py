"""``actionbench mini``: render, train, export and check ActionBench-Mini's world and models.

    actionbench mini render --count 16 --out sheet.png   # look at the world
    actionbench mini train --component vae|unet|clip|keypoints|judge [--steps N] [--minutes M]
    actionbench mini train --component keypoints --init actionbench/mini/weights/keypoints  # fine-tune
    actionbench mini train --component unet --init actionbench/mini/weights/pipeline --device cuda
    actionbench mini export                               # finished trainings -> shipped weights
    actionbench mini quality                              # the quality bars, as a table
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.ranges import AT_LEAST_ONE, POSITIVE, Range
from actionbench.seeding import check_seeds

COMPONENTS = ("vae", "unet", "clip", "keypoints", "judge")
QUALITY_CHECKS = ("scorers", "base", "held-out", "legibility")
# each subcommand's numeric flags and their ranges, checked before any work (--seed: check_seeds)
TRAIN_RANGES = {"steps": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "lr": POSITIVE, "minutes": POSITIVE,
                "threads": AT_LEAST_ONE}
RENDER_RANGES = {"count": AT_LEAST_ONE}
QUALITY_RANGES = {"images": AT_LEAST_ONE, "threads": AT_LEAST_ONE}


@dataclass(frozen=True)
class InitFolder:
    """What a component's exported folder holds (so --init can be checked before training starts),
    and the shipped folder of that kind, named in the error."""

    files: tuple[str, ...]
    shipped: str


INIT_FOLDERS = {
    "keypoints": InitFolder(("config.json", "model.safetensors"), "keypoints"),
    "unet": InitFolder(("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                        "text_encoder/config.json", "text_encoder/model.safetensors"), "pipeline"),
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("mini", help="ActionBench-Mini: render the world, train and check its models",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="mini_command", metavar="ACTION", required=True)

    render = commands.add_parser("render", help="render a contact sheet of the world (one row per action)")
    render.add_argument("--count", type=int, default=10, help="images per row (default: 10)")
    render.add_argument("--out", default="mini-world.png", help="PNG file to write")
    render.add_argument("--seed", type=int, default=0)
    render.set_defaults(func=render_main)

    train = commands.add_parser("train", help="train one component (resumes from its last checkpoint)")
    train.add_argument("--component", required=True, choices=COMPONENTS)
    train.add_argument("--steps", type=int, help="total steps (default: the component's)")
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--minutes", type=float, help="stop after this many minutes; re-run to resume")
    train.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    train.add_argument("--init", help="keypoints and unet: start from these exported weights (a folder; for unet "
                       "an exported pipeline, e.g. actionbench/mini/weights/pipeline), a fine-tuning")
    train.add_argument("--device", help="unet only: train on this torch device, e.g. cuda (default: cpu)")
    train.add_argument("--workdir", help="checkpoints and logs (default: $ACTIONBENCH_HOME/cache/mini/train/COMPONENT)")
    train.set_defaults(func=train_main)

    export = commands.add_parser("export", help="write finished trainings into the package's weights folder")
    export.add_argument("--components", default=",".join(COMPONENTS), help="comma-separated (default: all)")
    export.add_argument("--train-root", dest="train_root", help="folder holding each component's work folder")
    export.set_defaults(func=export_main)

    quality = commands.add_parser("quality", help="measure the quality bars of the shipped models")
    quality.add_argument("--images", type=int, default=200, help="generated images per check (default: 200)")
    quality.add_argument("--seed", type=int, default=0)
    quality.add_argument("--threads", type=int)
    quality.add_argument("--skip", default="", help=f"comma-separated checks to skip ({', '.join(QUALITY_CHECKS)})")
    quality.set_defaults(func=quality_main)


def check_flags(args: argparse.Namespace, ranges: dict[str, Range]) -> None:
    """Refuse, in one line naming the flag, a value outside its range (nan and infinity included); a
    flag left out (None) takes its default and is not checked."""
    for name, allowed in ranges.items():
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and allowed.holds(value)):
            infinite = "" if math.isfinite(value) else ", not a finite number"
            raise ActionBenchError(f"--{name.replace('_', '-')} is {value}{infinite}",
                                   f"give {allowed.phrase(isinstance(value, int))}")
    check_seeds([args.seed], "--seed")


def render_main(args: argparse.Namespace) -> int:
    from actionbench.mini.sheet import contact_sheet

    check_flags(args, RENDER_RANGES)
    if not args.out.strip() or Path(args.out).suffix.lower() != ".png" or Path(args.out).is_dir():
        raise ActionBenchError(f"--out {args.out!r} is not a .png file to write", "give a file name ending in .png")
    path = contact_sheet(Path(args.out), args.count, args.seed)
    print(f"contact sheet: {path}")
    return 0


def _module(component: str):
    import importlib

    name = {"unet": "diffusion"}.get(component, component)
    return importlib.import_module(f"actionbench.mini.train.{name}")


def train_main(args: argparse.Namespace) -> int:
    import dataclasses

    from actionbench.mini.train.loop import check_workdir, default_workdir

    check_flags(args, TRAIN_RANGES)
    module = _module(args.component)
    overrides = {k: getattr(args, k) for k in ("steps", "batch_size", "lr", "minutes", "threads", "init", "device")
                 if getattr(args, k) is not None}
    if "init" in overrides and args.component not in INIT_FOLDERS:
        raise ActionBenchError(f"--init is not supported for --component {args.component}",
                               "leave --init out (only keypoints and unet start from exported weights)")
    init = INIT_FOLDERS.get(args.component)
    if "init" in overrides and init:
        lacking = [name for name in init.files if not (Path(overrides["init"]) / name).is_file()]
        if lacking:
            raise ActionBenchError(f"--init {overrides['init']} holds no exported weights (no {lacking[0]})",
                                   f"give a folder written by export, e.g. actionbench/mini/weights/{init.shipped}")
    if "device" in overrides:
        check_device(args.component, overrides["device"])
    settings = dataclasses.replace(module.DEFAULTS, seed=args.seed, **overrides)
    workdir = Path(args.workdir) if args.workdir else default_workdir(args.component)
    check_workdir(workdir, args.component, settings)
    workdir = module.train(settings, workdir)
    print(f"work folder: {workdir}")
    return 0


def check_device(component: str, device: str) -> None:
    """Only the text-to-image model's training moves to another device (the other components are small
    enough for a CPU); a device torch cannot use is refused before any data is rendered."""
    import torch

    if component != "unet":
        raise ActionBenchError(f"--device is not supported for --component {component}",
                               "leave --device out (only unet trains on another device)")
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as error:
        raise ActionBenchError(f"--device {device} cannot be used here ({str(error).splitlines()[0]})",
                               "give a device this machine has (cpu, or cuda on a GPU machine)") from error


def export_main(args: argparse.Namespace) -> int:
    from actionbench.mini.train.export import export_all

    components = [c.strip() for c in args.components.split(",") if c.strip()]
    if not components:
        raise ActionBenchError(f"--components {args.components!r} names no component",
                               f"give one or more of {', '.join(COMPONENTS)}, comma-separated (or leave it out for all)")
    for line in export_all(components, Path(args.train_root) if args.train_root else None):
        print(line)
    return 0


def quality_main(args: argparse.Namespace) -> int:
    check_flags(args, QUALITY_RANGES)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = sorted(skip - set(QUALITY_CHECKS))
    if unknown:
        raise ActionBenchError(f"--skip names an unknown check '{unknown[0]}'",
                               f"choose from {', '.join(QUALITY_CHECKS)}")
    from actionbench.mini.quality import run_quality

    return run_quality(images=args.images, seed=args.seed, threads=args.threads, skip=skip)
