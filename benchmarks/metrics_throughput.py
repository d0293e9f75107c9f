"""Images scored per second per metric on this machine's CPU, at 512 x 512, batched.

    python benchmarks/metrics_throughput.py [--images 32] [--metrics pose,leakage,clip,subject,judge]

Half the images show a person (the scikit-image astronaut, flipped, cropped and shifted), half do not
(other scikit-image photos): mediapipe takes about three times longer when it finds someone. CLIP is
a ViT-B-32 with random weights (same cost as trained ones; no download needed). Each metric gets a
fresh process-wide cache and one warm-up call (models and the action's exemplar features load
there, once per process in a real run), then scores all images in one call, as the runner does
per (method, action) unit. Targets (issue 4, 2-core CPU): pose >= 10/s, leakage and CLIP >= 5/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps
from skimage import data

from actionbench.data import Action, Benchmark, Exemplar, Protocol, Subject
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, ScoringContext
from actionbench.perception.settings import ScorerConfig

SIZE = 512
TARGETS = {"pose": 10.0, "leakage": 5.0, "clip": 5.0}
SUBJECTS = (Subject("man", "a man"), Subject("woman", "a woman"), Subject("cat", "a cat", "animal"),
            Subject("dog", "a dog", "animal"))


def make_images(folder: Path, count: int) -> list[Path]:
    """``count`` 512 x 512 PNGs, alternately with and without a person."""
    astronaut = Image.fromarray(data.astronaut())
    others = [Image.fromarray(f()).convert("RGB") for f in (data.coffee, data.chelsea, data.rocket, data.cat)]
    paths = []
    for i in range(count):
        if i % 2 == 0:
            k = i // 2
            image = astronaut.crop((k % 5 * 8, k % 3 * 8, 512 - k % 4 * 8, 512 - k % 2 * 8))
            image = ImageOps.mirror(image) if k % 2 else image
        else:
            image = others[(i // 2) % len(others)]
        path = folder / f"image{i:03d}.png"
        image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC).save(path)
        paths.append(path)
    return paths


def make_action(folder: Path) -> Action:
    """Ten exemplar photos: the astronaut, shifted and flipped (the exemplar cost is paid at warm-up)."""
    astronaut = Image.fromarray(data.astronaut())
    exemplars = []
    for i in range(10):
        image = astronaut.crop((i * 6, i * 4, 512 - i * 3, 512))
        path = folder / f"exemplar{i}.png"
        (ImageOps.mirror(image) if i % 2 else image).save(path)
        exemplars.append(Exemplar(image_path=path, sha256=f"exemplar{i}"))
    return Action(name="astronaut_pose", description="holding a helmet at the side", exemplars=tuple(exemplars))


def measure(name: str, action: Action, benchmark: Benchmark, scorers: ScorerConfig, warmup: list[Path],
            paths: list[Path]) -> tuple[float, float, float]:
    """(wall seconds of the warm-up call, wall and CPU seconds to score ``paths``) for metric ``name``."""
    def records(batch: list[Path], offset: int) -> list[ImageRecord]:
        return [ImageRecord(image_id=p.stem, path=p, method="bench", action=action.name,
                            subject=SUBJECTS[(offset + i) % len(SUBJECTS)], seed=i, prompt="{subject} {action}",
                            reference_path=paths[(offset + i + 1) % len(paths)])
                for i, p in enumerate(batch)]

    metric = METRICS.get(name)()
    context = ScoringContext(benchmark=benchmark, action=action, scorers=scorers, shared={})
    started = time.perf_counter()
    metric.score(records(warmup, 0), context)
    warm = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    results = metric.score(records(paths, 0), context)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert len(results) == len(paths)
    return warm, elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--metrics", default="pose,leakage,clip,subject,judge")
    parser.add_argument("--clip-model", default="ViT-B-32")
    parser.add_argument("--clip-pretrained", default="none", help="'none': random weights of the same size")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    scorers = ScorerConfig(clip_model=args.clip_model, clip_pretrained=args.clip_pretrained,
                           pose_backend="mediapipe", batch_size=args.batch_size, device="cpu")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        action = make_action(folder)
        benchmark = Benchmark(name="throughput", actions={action.name: action}, protocol=Protocol(subjects=SUBJECTS))
        (folder / "warmup").mkdir()
        warmup = make_images(folder / "warmup", 2)
        paths = make_images(folder, args.images)
        rows = []
        for name in [m.strip() for m in args.metrics.split(",") if m.strip()]:
            warm, elapsed, cpu = measure(name, action, benchmark, scorers, warmup, paths)
            rows.append((name, warm, elapsed, args.images / elapsed, args.images / cpu, TARGETS.get(name)))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"CPU ({os.cpu_count()} cores, load average {load}), {torch.get_num_threads()} torch threads, "
          f"{args.images} images of {SIZE}x{SIZE} (half with a person), CLIP {args.clip_model}/{args.clip_pretrained}, "
          f"batch {args.batch_size}")
    print("images/s is wall-clock; images/CPU-s divides by this process's CPU time (all its threads), which other "
          "jobs on a busy machine do not inflate")
    print(f"{'metric':<10}{'warm-up s':>11}{'score s':>10}{'images/s':>10}{'images/CPU-s':>14}{'target':>9}  ok")
    for name, warm, elapsed, rate, cpu_rate, target in rows:
        ok = "" if target is None else ("yes" if rate >= target else "NO")
        wanted = "" if target is None else f">= {target:g}"
        print(f"{name:<10}{warm:>11.2f}{elapsed:>10.2f}{rate:>10.1f}{cpu_rate:>14.1f}{wanted:>9}  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
