"""Time exemplar preprocessing with and without the cache; prints a Markdown table.

    OMP_NUM_THREADS=1 python benchmarks/exemplar_cache.py

Rows: the official ActionBench photos (240 px tall JPEGs; skipped when the data is absent, see
docs/data-format.md) and five synthetic 4000 x 3000 JPEGs (a phone photo). Columns: milliseconds per
image for the policy computed from the file, the first cached call (compute and write), and a
cached read. Runs in a temporary ACTIONBENCH_HOME, so the user's cache is untouched.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ["ACTIONBENCH_HOME"] = tempfile.mkdtemp(prefix="actionbench-bench-")

from actionbench.data.model import Exemplar  # noqa: E402  (after ACTIONBENCH_HOME is set)
from actionbench.data.preprocess import exemplar_image, square_image  # noqa: E402
from actionbench.errors import ActionBenchError  # noqa: E402
from actionbench.imageio import open_rgb  # noqa: E402


def official_exemplars() -> list[Exemplar]:
    from actionbench.data.official import load_official_benchmark

    try:
        benchmark = load_official_benchmark()
    except ActionBenchError as error:
        print(f"(official ActionBench skipped: {error})")
        return []
    return [e for action in benchmark.actions.values() for e in action.exemplars]


def phone_photos(folder: Path, count: int = 5) -> list[Exemplar]:
    rng = np.random.default_rng(0)
    exemplars = []
    for i in range(count):
        pixels = rng.random((3000, 4000, 3)) * 40 + np.linspace(0, 200, 4000)[None, :, None]
        path = folder / f"photo_{i}.jpg"
        Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)
        exemplars.append(Exemplar(image_path=path, sha256=""))
    return exemplars


def per_image_ms(function, exemplars: list[Exemplar]) -> float:
    start = time.perf_counter()
    for exemplar in exemplars:
        function(exemplar)
    return (time.perf_counter() - start) * 1000 / len(exemplars)


def main() -> None:
    rows = [("official ActionBench (80 JPEGs, 240 px tall)", official_exemplars()),
            ("4000 x 3000 JPEG (5)", phone_photos(Path(tempfile.mkdtemp(prefix="actionbench-photos-"))))]
    print("| photos | size | no cache, ms/img | first cached call, ms/img | cached read, ms/img |")
    print("|---|---|---|---|---|")
    for name, exemplars in rows:
        if not exemplars:
            continue
        for size in (512, 768):
            raw = per_image_ms(lambda e: square_image(open_rgb(e.image_path), size), exemplars)
            first = per_image_ms(lambda e: exemplar_image(e, size), exemplars)
            cached = per_image_ms(lambda e: exemplar_image(e, size), exemplars)
            print(f"| {name} | {size} | {raw:.1f} | {first:.1f} | {cached:.1f} |")


if __name__ == "__main__":
    main()
