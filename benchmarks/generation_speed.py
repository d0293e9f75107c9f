"""Seconds to generate one mini unit's images under variants of the sampling loop, and how far their
pixels are from the default loop's (a speed-up that moves pixels changes boards within rounding).

    OMP_NUM_THREADS=1 python benchmarks/generation_speed.py [--images 30] [--batches 8,16,30] [--repeats 3]

The workload is one unit of the mini protocol: ``--images`` prompts ("a blue cat <words> on a
beach" over the protocol's subjects) with their own seeds, DDIM 25 steps, guidance 5, through
``methods.generation.sample_images`` (under ``torch.inference_mode``) on the shipped mini pipeline.
Variants: each batch size of ``--batches``, and a channels-last UNet at the default batch. Prints the
median seconds of ``--repeats`` runs and the largest pixel difference (0-255) from the default batch
size's images ("identical" when every image is byte-equal).
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30, help="images per unit (mini protocol: 10 subjects x 3 seeds)")
    parser.add_argument("--batches", default="8,16,30", help="generation batch sizes to compare")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from actionbench.base_models import resolve_base_model
    from actionbench.methods.base import MethodConfig
    from actionbench.methods.generation import sample_images
    from actionbench.mini.benchmark import PROTOCOL, SUBJECTS, subject_entry

    pipe = resolve_base_model("mini").load()
    subjects = [subject_entry(*s)["text"] for s in SUBJECTS]
    prompts = [f"{subjects[i % len(subjects)]} raising both arms" for i in range(args.images)]
    seeds = [1000 + i for i in range(args.images)]
    default_batch = MethodConfig().generation_batch_size

    def run(batch: int) -> tuple[float, np.ndarray]:
        times, images = [], []
        config = SimpleNamespace(num_inference_steps=PROTOCOL["num_inference_steps"],
                                 guidance_scale=PROTOCOL["guidance_scale"], generation_batch_size=batch)
        for _ in range(args.repeats):
            started = time.perf_counter()
            images = sample_images(pipe, prompts, seeds, config)
            times.append(time.perf_counter() - started)
        return statistics.median(times), np.stack([np.asarray(image, dtype=np.int16) for image in images])

    run(default_batch)  # warm-up: first-call allocations and lazy imports
    reference_seconds, reference = run(default_batch)
    rows = [(f"batch {default_batch} (default)", reference_seconds, reference)]
    for batch in (int(b) for b in args.batches.split(",")):
        if batch != default_batch:
            rows.append((f"batch {batch}", *run(batch)))
    pipe.unet.to(memory_format=torch.channels_last)
    rows.append((f"channels-last UNet, batch {default_batch}", *run(default_batch)))

    print(f"mini generation: {args.images} images, DDIM {PROTOCOL['num_inference_steps']} steps, "
          f"{torch.get_num_threads()} thread(s), median of {args.repeats}")
    print(f"{'variant':<32} {'seconds':>8} {'speed-up':>9} {'max |diff|':>11}")
    for name, seconds, images in rows:
        largest = int(np.abs(images - reference).max())
        print(f"{name:<32} {seconds:>8.2f} {reference_seconds / seconds:>8.2f}x "
              f"{'identical' if largest == 0 else f'{largest}/255':>11}")


if __name__ == "__main__":
    main()
