"""Seconds per optimiser update with an update's micro-batches run as one batch (``fuse_micro_steps``,
the default) and one pass per micro-step, and how far the trained parameters end up apart.

    OMP_NUM_THREADS=1 python benchmarks/fused_training.py [--updates 8] [--methods textual_inversion,p_plus,adi,dreambooth]
    python benchmarks/fused_training.py --base tiny --updates 2     # the table's shape (its test)

Each method trains on the mini world's action "cheer" with its paper's settings (batch,
accumulation, learning rate; not the mini world's budget) on ``--base`` (the shipped mini model by default); every update is
timed inside the loop (``training_loop.update``), the first left out as warm-up; the median and the
fastest update are printed (on a shared machine the fastest is the least disturbed). ADI draws its
action-different samples from the base ("base"; the source changes what is drawn, not the step's
cost). ``max |diff|`` is the largest difference between the two runs' trained parameters
(DreamBooth: the whole UNet; its AdamW steps are lr x sign(g) where a gradient entry is near zero,
so the bound there is lr per update), ``rel`` the same over the largest entry.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

METHODS_TIMED = ("textual_inversion", "p_plus", "adi", "dreambooth")
EXTRA = {  # what keeps the set-up short without changing an update's work
    "adi": {"action_different_source": "base", "action_different_per_exemplar": 1},
    "dreambooth": {"num_class_images": 4},
}


def run(name: str, base: str, updates: int, fuse: bool, cache: Path) -> tuple[list[float], torch.Tensor]:
    from actionbench.base_models import resolve_base_model
    from actionbench.data import get_benchmark
    from actionbench.methods import METHODS, training_loop
    from actionbench.mini.benchmark import PROTOCOL

    action = get_benchmark("mini", with_custom=False).actions["cheer"]
    method_cls = METHODS.get(name)
    config = method_cls.config_cls(steps=updates + 1, fuse_micro_steps=fuse,
                                   num_inference_steps=PROTOCOL["num_inference_steps"],
                                   guidance_scale=PROTOCOL["guidance_scale"], **EXTRA.get(name, {}))
    seconds: list[float] = []
    real_update = training_loop.update

    def timed(*args, **kwargs):
        started = time.perf_counter()
        step = real_update(*args, **kwargs)
        seconds.append(time.perf_counter() - started)
        return step

    training_loop.update = timed
    pipe = resolve_base_model(base).load("cpu")
    try:
        with tempfile.TemporaryDirectory() as folder:
            artifact = method_cls(cache_dir=cache).train(pipe, action, config, Path(folder))
            if name in ("p_plus", "adi"):
                from actionbench.methods.layerwise import load_identifiers

                trained = load_identifiers(artifact).vectors.flatten()
            elif name == "textual_inversion":
                from safetensors.torch import load_file

                trained = next(iter(load_file(str(artifact / "learned_embeds.safetensors")).values()))
            else:
                trained = torch.cat([p.detach().flatten() for p in pipe.unet.parameters()])
    finally:
        training_loop.update = real_update
    return seconds[1:], trained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=8, help="timed updates per run (after one warm-up)")
    parser.add_argument("--methods", default=",".join(METHODS_TIMED))
    parser.add_argument("--base", default="mini", help="base model name (mini, or tiny for the table's shape)")
    args = parser.parse_args(argv)
    names = args.methods.split(",")
    unknown = [n for n in names if n not in METHODS_TIMED]
    if unknown:
        print(f"error: unknown method(s) {', '.join(unknown)}: choose from {', '.join(METHODS_TIMED)}", file=sys.stderr)
        return 2
    print(f"seconds per update, median and fastest of {args.updates} (base {args.base}, "
          f"{torch.get_num_threads()} thread(s))")
    print(f"{'method':18s} {'unfused':>8s} {'fused':>8s} {'speed-up':>8s} {'fastest:':>9s} {'unfused':>8s} {'fused':>8s} "
          f"{'speed-up':>8s} {'max |diff|':>11s} {'rel':>9s}")
    with tempfile.TemporaryDirectory() as cache:
        for name in names:
            plain, plain_params = run(name, args.base, args.updates, False, Path(cache))
            fused, fused_params = run(name, args.base, args.updates, True, Path(cache))
            slow, fast = statistics.median(plain), statistics.median(fused)
            slow_best, fast_best = min(plain), min(fused)
            diff = float((fused_params - plain_params).abs().max())
            rel = diff / max(float(plain_params.abs().max()), 1e-12)
            print(f"{name:18s} {slow:8.3f} {fast:8.3f} {slow / fast:7.2f}x {'':9s} {slow_best:8.3f} {fast_best:8.3f} "
                  f"{slow_best / fast_best:7.2f}x {diff:11.2e} {rel:9.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
