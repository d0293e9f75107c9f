"""Seconds to generate one mini unit's images under variants of the sampling loop, and whether the
pixels stay exactly those of the loop in use (a speed-up may only land if they do).

    OMP_NUM_THREADS=1 python benchmarks/generation_speed.py [--images 30] [--repeats 3]

The workload is one unit of the mini protocol: ``--images`` prompts ("a blue cat <words> on a
beach" over the protocol's subjects) with their own seeds, DDIM 25 steps, guidance 5, through
``methods.generation.sample_images`` on the shipped mini pipeline. Variants: the sampler as it is;
wrapped in ``torch.inference_mode`` (the pipeline itself runs under ``no_grad``); all images in one
batch instead of the default 8; a channels-last UNet. Prints the median seconds of ``--repeats``
runs and "identical" when every image is byte-equal to the current sampler's.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from types import SimpleNamespace

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30, help="images per unit (mini protocol: 10 subjects x 3 seeds)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from actionbench.methods.generation import sample_images

    from actionbench.base_models import resolve_base_model
    from actionbench.mini.benchmark import PROTOCOL, SUBJECTS, subject_entry

    pipe = resolve_base_model("mini").load()
    subjects = [subject_entry(*s)["text"] for s in SUBJECTS]
    prompts = [f"{subjects[i % len(subjects)]} raising both arms" for i in range(args.images)]
    seeds = [1000 + i for i in range(args.images)]

    def config(batch: int):
        return SimpleNamespace(num_inference_steps=PROTOCOL["num_inference_steps"],
                               guidance_scale=PROTOCOL["guidance_scale"], generation_batch_size=batch)

    def run(batch: int, context) -> tuple[float, list[np.ndarray]]:
        times, images = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            with context():
                images = sample_images(pipe, prompts, seeds, config(batch))
            times.append(time.perf_counter() - started)
        return statistics.median(times), [np.asarray(image) for image in images]

    run(8, contextlib.nullcontext)  # warm-up: first-call allocations and lazy imports
    reference_seconds, reference = run(8, contextlib.nullcontext)
    rows = [("as is (no_grad, batch 8)", reference_seconds, True)]
    for name, batch, context in (("inference_mode, batch 8", 8, torch.inference_mode),
                                 (f"no_grad, batch {args.images}", args.images, contextlib.nullcontext)):
        seconds, images = run(batch, context)
        rows.append((name, seconds, all(np.array_equal(a, b) for a, b in zip(images, reference))))
    pipe.unet.to(memory_format=torch.channels_last)
    seconds, images = run(8, contextlib.nullcontext)
    rows.append(("channels-last UNet, batch 8", seconds, all(np.array_equal(a, b) for a, b in zip(images, reference))))

    print(f"mini generation: {args.images} images, DDIM {PROTOCOL['num_inference_steps']} steps, "
          f"{torch.get_num_threads()} thread(s), median of {args.repeats}")
    print(f"{'variant':<30} {'seconds':>8} {'vs as is':>9} {'pixels':>10}")
    for name, seconds, same in rows:
        print(f"{name:<30} {seconds:>8.2f} {reference_seconds / seconds:>8.2f}x {'identical' if same else 'differ':>10}")


if __name__ == "__main__":
    main()
